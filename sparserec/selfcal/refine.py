"""Refining a self-calibration estimate on the bilinear objective, and the ALS baseline.

Every model's bilinear least-squares objective is ``Σ_l ‖y_l − diag(d) A_l x_l‖²``
(``d = B h`` for the subspace model). :func:`gauss_newton` refines the linear (or
spectral) solution of :class:`sparserec.SelfCalibration` by Gauss–Newton steps, the
refinement the literature applies after a linear or spectral start (Li, Ling, Strohmer &
Wei 2019 use gradient steps after a spectral start): the linear solution minimises
``‖diag(y) s − A x‖``, whose noise in ``y`` enters the matrix, so in noise it is not the
least-squares estimate of ``(d, x)``; from it, one Gauss–Newton step reaches the
noiseless solution to rounding and a few reach the least-squares estimate in noise, while
the start keeps the linear method's guarantees.

:func:`bilinear_sweeps` alternates the exact signal step (for fixed ``d``, linear least
squares) and calibration step (closed form per ``d_i``; least squares in ``h``), each of
which cannot increase the objective: :func:`sparserec.selfcal.alternating_least_squares`
runs them from ``d = 1``, the classical way to attack the bilinear problem.
"""

from __future__ import annotations

import numpy as np

from ..backend import array_namespace, scipy_namespace
from ..utils.threads import blas_limits

__all__ = ["signal_step", "signal_step_iterative", "calibration_step", "bilinear_sweeps"]

#: the refinement's tolerance, sqrt(eps): the accuracy to which a minimiser can be located
#: (Gill, Murray & Wright, Practical Optimization, §8.2.3); see :func:`bilinear_sweeps`.
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
        with blas_limits(1):
            return xp.linalg.solve(Mh @ M, (Mh @ Y[:, :, None]))[:, :, 0]
    if model.name == "repeated":
        p, m, n = A.shape
        M = (d[:, None] * A).reshape(p * m, n)
        return xp.linalg.solve(M.conj().T @ M, M.conj().T @ Y.reshape(-1))
    M = d[:, None] * A  # one (m, n) matrix: snapshots (p signals) and subspace (one)
    out = xp.linalg.solve(M.conj().T @ M, M.conj().T @ Y.T).T
    return out[0] if model.shared_signal else out


def signal_step_iterative(model, d, x0, tol: float):
    """:func:`signal_step` matrix-free: LSMR on ``x ↦ diag(d) A_l x_l``, warm-started at
    ``x0``, to ``atol = btol = tol``.

    Each iteration costs one product with the sensing matrices (``O(p m n)``) where the
    normal equations cost ``O(p m n²)``; near the solution, with ``diag(d) A`` as well
    conditioned as ``A``, a few iterations reach the exact step.
    """
    xp = array_namespace(model.A, model.y)
    linalg = scipy_namespace(xp, "sparse.linalg")
    p, m = model.y.shape
    shape = x0.shape
    op = linalg.LinearOperator(
        (p * m, x0.size), dtype=np.result_type(model.dtype, d.dtype),
        matvec=lambda v: (d * model.apply_signal(model.A, v.reshape(shape))).reshape(-1),
        rmatvec=lambda r: model.adjoint_signal(
            model.A, d.conj() * r.reshape(p, m)).reshape(-1))
    out = linalg.lsmr(op, model.y.reshape(-1), x0=x0.reshape(-1), atol=tol, btol=tol,
                      maxiter=10 * x0.size)
    return out[0].reshape(shape)


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


def bilinear_sweeps(model, d, *, max_sweeps: int, rtol: float, x0=None, tol=None,
                    on_step: bool = False, callback=None):
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
        ``rtol`` times its value (the baseline's rule) or, with ``on_step``, when the
        estimated distance of ``d`` to the limit, ``‖Δ_k‖ ρ / (1 − ρ)`` with the observed
        linear rate ``ρ = ‖Δ_k‖ / ‖Δ_{k−1}‖`` of the steps ``Δ``, is at most ``rtol ‖d‖``
        (the misfit is flat at its minimum: a test on it leaves errors ~ ``sqrt(rtol)``).
    x0 : array, optional
        Starting signal(s). With ``tol``, the signal steps are matrix-free LSMR solves
        warm-started from the previous signal (:func:`signal_step_iterative`); otherwise
        exact normal-equation solves (:func:`signal_step`). The subspace model (one small
        matrix) always takes the exact step.
    tol : float, optional
        LSMR's ``atol = btol`` for the iterative signal steps.
    callback : callable, optional
        ``callback(sweep, d, x)`` after each sweep.

    Returns
    -------
    d, x, h : arrays (``h`` is ``None`` except for the subspace model)
    history : list of float
        Relative misfit after each sweep.
    converged : bool
        Whether the ``rtol`` test stopped the sweeps (or the misfit reached ``10 eps``).
    """
    xp = array_namespace(model.A, model.y)
    norm_y = float(xp.linalg.norm(model.y))
    history, steps, x, h = [], [], x0, None
    iterative = x0 is not None and tol is not None and model.name != "subspace"
    tiny = 10 * np.finfo(float).eps
    for sweep in range(1, max_sweeps + 1):
        x = signal_step_iterative(model, d, x, tol) if iterative else signal_step(model, d)
        U = model.apply_signal(model.A, x)
        previous = d
        d, h = calibration_step(model, U)
        steps.append(float(xp.linalg.norm(d - previous)))
        history.append(float(xp.linalg.norm(model.y - d * U)) / norm_y)
        if callback is not None:
            callback(sweep, d, x)
        if history[-1] <= tiny:
            return d, x, h, history, True
        if sweep == 1:
            continue
        if not on_step:
            if history[-2] - history[-1] <= rtol * history[-2]:
                return d, x, h, history, True
            continue
        rate = min(steps[-1] / steps[-2], 1.0) if steps[-2] > 0 else 0.0
        if rate < 1.0 and steps[-1] * rate / (1.0 - rate) <= rtol * float(
                xp.linalg.norm(d)):
            return d, x, h, history, True
    return d, x, h, history, False


def gauss_newton(model, h, x, *, max_steps: int, rtol: float, tol: float):
    """Gauss–Newton steps on ``‖y − diag(C h) A x‖²`` from ``(h, x)`` (``C = I``, or ``B``
    for the subspace model), each step a matrix-free LSMR solve of the linearised problem.

    The Jacobian ``J(δh, δx) = (C δh) ∘ (A x) + (C h) ∘ (A δx)`` has the null direction
    ``(h, −x)`` of the scale ambiguity; LSMR from 0 returns the minimum-norm step, which
    ignores it. A step that does not lower the misfit is halved (at most 30 times). Near a
    solution of small residual the convergence is quadratic: from the linear start, one
    or two steps reach the least-squares estimate where ALS needs tens of sweeps.

    Returns
    -------
    d, x, h : arrays
        The calibration ``C h``, the signal(s) and ``h``.
    history : list of float
        Relative misfit ``‖y − D A x‖ / ‖y‖`` after each step.
    converged : bool
        Whether a step shorter than ``rtol ‖(h, x)‖`` (or a misfit at rounding level, or
        no descent left) stopped the iteration.
    """
    xp = array_namespace(model.A, model.y)
    linalg = scipy_namespace(xp, "sparse.linalg")
    B = getattr(model, "B", None) if model.name == "subspace" else None
    cal = (lambda v: v) if B is None else (lambda v: B @ v)
    cal_adj = (lambda v: v) if B is None else (lambda v: B.conj().T @ v)
    p, m = model.y.shape
    n_h, shape = h.size, x.shape
    dtype = np.result_type(model.dtype, h.dtype, x.dtype)
    norm_y = float(xp.linalg.norm(model.y))
    tiny = 10 * np.finfo(float).eps

    def misfit(h, x):
        return float(xp.linalg.norm(model.y - cal(h) * model.apply_signal(model.A, x))) / norm_y

    history, current, last = [], misfit(h, x), 0.1
    for _ in range(max_steps):
        if current <= tiny:
            return cal(h), x, h, history, True
        d, U = cal(h), model.apply_signal(model.A, x)
        R = model.y - d * U

        def matvec(v, d=d, U=U):
            return (cal(v[:n_h]) * U + d * model.apply_signal(
                model.A, v[n_h:].reshape(shape))).reshape(-1)

        def rmatvec(q, d=d, U=U):
            Q = q.reshape(p, m)
            return xp.concatenate([cal_adj((U.conj() * Q).sum(axis=0)),
                                   model.adjoint_signal(model.A, d.conj() * Q).reshape(-1)])

        J = linalg.LinearOperator((p * m, n_h + x.size), dtype=dtype, matvec=matvec,
                                  rmatvec=rmatvec)
        # inexact Gauss-Newton (Dembo, Eisenstat & Steihaug 1982): solve each linearised
        # problem only as accurately as the last step was long, down to tol
        forcing = max(tol, min(0.1, last))
        step = linalg.lsmr(J, R.reshape(-1), atol=forcing, btol=forcing,
                           maxiter=10 * (n_h + x.size))[0]
        t = 1.0
        for _ in range(30):
            h_new, x_new = h + t * step[:n_h], x + t * step[n_h:].reshape(shape)
            new = misfit(h_new, x_new)
            if new < current:
                break
            t /= 2
        else:  # no descent along the Gauss-Newton direction: a stationary point
            return cal(h), x, h, history, True
        size = t * float(xp.linalg.norm(step))
        h, x, current = h_new, x_new, new
        history.append(current)
        scale = float(xp.sqrt(xp.linalg.norm(h) ** 2 + xp.linalg.norm(x) ** 2))
        last = size / scale
        if size <= rtol * scale and forcing <= rtol:
            return cal(h), x, h, history, True
    return cal(h), x, h, history, False
