"""Alternating least squares on the bilinear objective: the baseline, and the refinement.

Every model's bilinear least-squares objective is ``Σ_l ‖y_l − diag(d) A_l x_l‖²``. With
``d`` fixed, the signal step is a linear least-squares problem; with the signals fixed,
every ``d_i`` (or, for the subspace model ``d = B h``, the vector ``h``) has a closed form.
Each step cannot increase the objective.

:func:`sparserec.selfcal.alternating_least_squares` runs these sweeps from ``d = 1`` (the
classical way to attack the bilinear problem); :class:`sparserec.SelfCalibration` runs them
from its linear (or spectral) solution, the refinement the literature applies after a
linear or spectral start (e.g. Li, Ling, Strohmer & Wei 2019; Ling & Strohmer 2018, §5):
the linear solution minimises ``‖diag(y) s − A x‖``, whose errors in ``y`` enter the
matrix, so in noise it is not the least-squares estimate of ``(d, x)``; a few sweeps from
it reach that estimate, while the start keeps the linear method's guarantees.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from ..backend import array_namespace

__all__ = ["signal_step", "calibration_step", "bilinear_sweeps"]

#: refinement stops when a sweep lowers the misfit by less than this fraction of it: the
#: objective's own resolution, sqrt(eps) (Gill, Murray & Wright, Practical Optimization, §8.2)
REFINE_RTOL = float(np.sqrt(np.finfo(float).eps))


def signal_step(model, d):
    """``argmin_x Σ_l ‖y_l − diag(d) A_l x_l‖²`` for fixed ``d`` (normal equations).

    ``model`` is a :class:`~sparserec.selfcal.models.SelfCalModel` or the subspace model
    (``d`` then given as the full calibration vector ``B h``).
    """
    A, Y = model.A, model.y
    xp = array_namespace(A, Y)
    if model.name == "diverse":
        M = d[:, None] * A  # (p, m, n)
        Mh = M.conj().transpose(0, 2, 1)
        # p small products: BLAS threads only add start-up cost per call (10-100x slower
        # on a busy machine), as scikit-learn's KMeans also finds
        with threadpool_limits(1, user_api="blas"):
            return xp.linalg.solve(Mh @ M, (Mh @ Y[:, :, None]))[:, :, 0]
    if model.name == "repeated":
        p, m, n = A.shape
        M = (d[:, None] * A).reshape(p * m, n)
        return xp.linalg.solve(M.conj().T @ M, M.conj().T @ Y.reshape(-1))
    M = d[:, None] * A  # one (m, n) matrix: snapshots (p signals) and subspace (one)
    out = xp.linalg.solve(M.conj().T @ M, M.conj().T @ Y.T).T
    return out[0] if model.shared_signal else out


def calibration_step(model, U):
    """``argmin_d Σ_l ‖y_l − diag(d) u_l‖²`` for the uncalibrated measurements ``U``
    (``(p, m)``): ``d_i = Σ_l conj(u_li) y_li / Σ_l |u_li|²`` (0 where ``u_i = 0``); for the
    subspace model the least-squares ``h`` of ``y = diag(u) B h``, returned as ``B h``."""
    xp = array_namespace(U)
    Y = model.y
    if model.name == "subspace":
        M = U[0][:, None] * model.B
        h = xp.linalg.lstsq(M, Y[0], rcond=None)[0]
        return model.B @ h, h
    energy = (xp.abs(U) ** 2).sum(axis=0)
    safe = xp.where(energy > 0, energy, 1)
    return xp.where(energy > 0, (U.conj() * Y).sum(axis=0) / safe, 0), None


def bilinear_sweeps(model, d, *, max_sweeps: int, rtol: float, callback=None):
    """Alternating (signal, calibration) sweeps from the calibration ``d``.

    Parameters
    ----------
    model : SelfCalModel or Subspace
        Arrays and products of the model.
    d : array of shape (m,)
        Starting calibration (``B h`` for the subspace model).
    max_sweeps : int
        At most this many sweeps.
    rtol : float
        Stop when a sweep lowers the relative misfit ``‖y − D A x‖ / ‖y‖`` by at most
        ``rtol`` times its value.
    callback : callable, optional
        ``callback(sweep, d, x)`` after each sweep.

    Returns
    -------
    d, x, h : arrays (``h`` is ``None`` except for the subspace model)
    history : list of float
        Relative misfit after each sweep.
    converged : bool
        Whether the ``rtol`` test stopped the sweeps.
    """
    xp = array_namespace(model.A, model.y)
    norm_y = float(xp.linalg.norm(model.y))
    history, x, h = [], None, None
    for sweep in range(1, max_sweeps + 1):
        x = signal_step(model, d)
        U = model.apply_signal(model.A, x)
        d, h = calibration_step(model, U)
        history.append(float(xp.linalg.norm(model.y - d * U)) / norm_y)
        if callback is not None:
            callback(sweep, d, x)
        if sweep > 1 and history[-2] - history[-1] <= rtol * history[-2]:
            return d, x, h, history, True
    return d, x, h, history, False
