"""Alternating least squares on the bilinear problem: the baseline for SelfCalibration."""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch

from ..base import check_finite_array, check_option
from .models import make_model
from .refine import bilinear_sweeps

__all__ = ["alternating_least_squares"]


def alternating_least_squares(A, y, model: str = "repeated", *, B=None, max_iter: int = 100,
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
    model : {"repeated", "diverse", "snapshots", "subspace"}
        The bilinear models of Ling & Strohmer (``subspace``: ``y = diag(B h) A x``, whose
        calibration step is the least-squares ``h``; started from the projection of
        ``d = 1`` on the span of ``B``).
    B : array of shape (m, k), optional
        The subspace of ``d`` (``model="subspace"`` only).
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
    check_option(model, "model", ("repeated", "diverse", "snapshots", "subspace"))
    A = check_finite_array(A, "A", ndim=(2, 3), allow_complex=True)
    y = check_finite_array(y, "y", ndim=(1, 2), allow_complex=True)
    arrays = [A, y] if B is None else [A, y, check_finite_array(B, "B", ndim=2,
                                                                 allow_complex=True)]
    dtype = np.result_type(*(a.dtype for a in arrays), np.float64)
    system = make_model(model, *(a.astype(dtype) for a in arrays[:1]),
                        np.atleast_2d(y).astype(dtype),
                        *(a.astype(dtype) for a in arrays[2:]))
    d = np.ones(system.n_sensors, dtype=dtype)
    if model == "subspace":  # the point of span(B) nearest to d = 1
        d = system.B @ np.linalg.lstsq(system.B, d, rcond=None)[0]
    d, x, _, history, converged = bilinear_sweeps(system, d, max_sweeps=max_iter, rtol=tol,
                                                  callback=callback)
    return Bunch(calibration=d, signal=x, n_iter=len(history), converged=converged,
                 history=history)
