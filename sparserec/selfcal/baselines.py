"""Alternating least squares on the bilinear problem: the baseline for SelfCalibration."""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch

from ..base import check_finite_array, check_option
from ..utils.threads import blas_limits
from .models import make_model

__all__ = ["alternating_least_squares"]


def _signal_step(model, d):
    """``argmin_x Σ_l ‖y_l − diag(d) A_l x_l‖²`` for fixed ``d`` (normal equations)."""
    A, Y = model.A, model.y
    if model.name == "repeated":
        p, m, n = A.shape
        M = (d[:, None] * A).reshape(p * m, n)
        return np.linalg.solve(M.conj().T @ M, M.conj().T @ Y.reshape(-1))
    if model.name == "diverse":
        M = d[:, None] * A  # (p, m, n)
        Mh = M.conj().transpose(0, 2, 1)
        # p small products: BLAS threads only add start-up cost per call (10-100x slower
        # on a busy machine), as scikit-learn's KMeans also finds
        with blas_limits(1):
            return np.linalg.solve(Mh @ M, (Mh @ Y[:, :, None]))[:, :, 0]
    M = d[:, None] * A  # snapshots: one (m, n) matrix
    return np.linalg.solve(M.conj().T @ M, M.conj().T @ Y.T).T


def alternating_least_squares(A, y, model: str = "repeated", *, max_iter: int = 100,
                              tol: float = 1e-12, callback=None) -> Bunch:
    """Minimise ``Σ_l ‖y_l − diag(d) A_l x_l‖²`` by exact alternating minimisation.

    The classical way to attack the bilinear problem directly: for fixed ``d`` the signal
    step is a linear least-squares problem (normal equations: one ``n × n`` Gram matrix
    per step, ``O(p m n²)``), for fixed ``x`` every ``d_i`` has the closed form
    ``Σ_l conj(u_li) y_li / Σ_l |u_li|²`` with ``u_l = A_l x_l``. Started from ``d = 1``
    (an uncalibrated device); each step cannot increase the objective, but the method may
    stall at non-global stationary points and has no recovery guarantee.

    Parameters
    ----------
    A, y : arrays
        As for :meth:`sparserec.SelfCalibration.fit` (``y`` of shape ``(p, m)``).
    model : {"repeated", "diverse", "snapshots"}
        The bilinear models of Ling & Strohmer (``subspace`` has no bilinear ALS here).
    max_iter : int
        Number of (signal step, calibration step) sweeps, at most.
    tol : float
        Stop when a sweep lowers the relative misfit ``‖y − D A x‖/‖y‖`` by less than
        ``tol`` times its value.
    callback : callable, optional
        ``callback(iteration, d, x)`` after every sweep (e.g. to time the error decay).

    Returns
    -------
    result : Bunch
        ``calibration`` (``d``), ``signal``, ``n_iter``, ``converged`` and ``history``
        (relative misfit after each sweep).

    Examples
    --------
    >>> from sparserec.datasets import make_selfcal_problem
    >>> from sparserec.metrics import relative_error_up_to_scale
    >>> from sparserec.selfcal import alternating_least_squares
    >>> prob = make_selfcal_problem("repeated", m=64, n=8, p=4, random_state=0)
    >>> res = alternating_least_squares(prob.A, prob.y, "repeated", max_iter=200)
    >>> relative_error_up_to_scale(prob.calibration, res.calibration) < 1e-6
    True
    """
    check_option(model, "model", ("repeated", "diverse", "snapshots"))
    A = check_finite_array(A, "A", ndim=(2, 3), allow_complex=True)
    y = check_finite_array(y, "y", ndim=(1, 2), allow_complex=True)
    dtype = np.result_type(A.dtype, y.dtype, np.float64)
    system = make_model(model, A.astype(dtype), np.atleast_2d(y).astype(dtype))
    Y = system.y
    norm_y = float(np.linalg.norm(Y))
    d = np.ones(system.n_sensors, dtype=dtype)
    history, converged = [], False
    x = None
    for it in range(1, max_iter + 1):
        x = _signal_step(system, d)
        U = system.apply_signal(system.A, x)
        energy = (np.abs(U) ** 2).sum(axis=0)
        d = np.where(energy > 0, (U.conj() * Y).sum(axis=0) / np.where(energy > 0, energy, 1),
                     0)
        history.append(float(np.linalg.norm(Y - d * U)) / norm_y)
        if callback is not None:
            callback(it, d, x)
        if it > 1 and history[-2] - history[-1] <= tol * history[-2]:
            converged = True
            break
    return Bunch(calibration=d, signal=x, n_iter=len(history), converged=converged,
                 history=history)
