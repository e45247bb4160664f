"""Solvers of the sparse deconvolution problems.

- :func:`condat_vu`: the analysis problem
  ``min_x f(x) + ‖λ ⊙ Φ x‖₁ + ι_{x ≥ 0}(x)`` by the primal–dual algorithm of Condat
  (2013) and Vũ (2013): a gradient step on ``f`` and the positivity projection on the
  primal, the prox of the conjugate of the weighted l1 norm (a box projection, Moreau)
  on the dual ``u``, with steps satisfying ``τ (L/2 + σ ‖Φ‖²) ≤ 1``.
- :func:`fista`: the synthesis problem ``min_α f(Ψ α) + ‖λ ⊙ α‖₁`` by FISTA (Beck &
  Teboulle 2009), step ``1 / (L ‖Ψ‖²)``.
- :func:`support_debias`: the multi-resolution-support flux correction (each source of
  the sparse solution rescaled to the observed flux of its cell).

``f`` is a :class:`~sparserec.deconv.forward.BlurModel`'s data term. The loops take an
iterator of iteration indices (the estimator's progress bar) and a ``record`` callback
that receives each iteration's objective. The element-wise updates come from the
family's kernel namespace (:func:`sparserec.deconv._kernels.get`): fused numba kernels
(one pass over memory each) or NumPy/CuPy array expressions, behind one loop body.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["condat_vu", "fista", "support_debias", "SolverState"]

# share of the step budget given to the dual: σ ‖Φ‖² = DUAL_SHARE · L / 2 (the
# convergence condition then fixes τ); chosen on natural and astronomical images
DUAL_SHARE = 1.0


@dataclass
class SolverState:
    """Iterates carried from one reweighting pass to the next (warm start)."""

    x: Any  # primal image (object grid)
    u: Any = None  # Condat–Vũ dual variable
    wx: Any = None  # Condat–Vũ: Φ x
    alpha: Any = None  # FISTA: coefficients (prox point)
    n_iter: int = 0
    converged: bool = False


class _Stopping:
    """The stopping rule: the relative change of the iterate AND of the objective.

    Tested every ``check_every`` iterations (the only point where a GPU loop waits for
    the device): ``‖x_{n+1} − x_n‖ ≤ tol ‖x_{n+1}‖`` (from the per-row sums
    ``(Σ dx², Σ x²)`` of the last update) and ``|F_n − F_{n−m}| ≤ m · tol · |F_n|`` over
    the ``m = check_every`` iterations since the previous test. The iterate alone can
    stall for an iteration while the objective still decreases (and the objective of a
    primal–dual method can stall while the iterate still moves along a flat valley);
    requiring both guards against stopping on either stall.
    """

    def __init__(self, tol: float, check_every: int):
        self.tol, self.every = tol, check_every
        self.count, self.last = 0, None

    def __call__(self, partial, objective) -> bool:
        self.count += 1
        if self.count % self.every:
            return False
        value = float(objective)
        last, self.last = self.last, value
        dx2, xx2 = (float(v) for v in partial[:, :2].sum(axis=0))
        if last is None or math.sqrt(dx2) > self.tol * math.sqrt(xx2):
            return False
        return abs(value - last) <= self.every * self.tol * max(abs(value), 1e-300)


def condat_vu(model, transform, lam, state: SolverState, *, positivity: bool, iterations,
              tol: float, record, kernels, check_every: int = 1) -> SolverState:
    """Run Condat–Vũ iterations from ``state`` (updated in place and returned).

    ``lam`` has the transform's ``coeff_shape`` (zero on unpenalised coefficients);
    ``kernels`` is the namespace of :func:`sparserec.deconv._kernels.get`. Stops when
    the relative changes of the iterate and of the objective fall below ``tol``
    (:class:`_Stopping`, tested every ``check_every`` iterations) or when
    ``iterations`` runs out.
    ``record`` receives each iteration's objective as a 0-d array of the model's array
    module.
    """
    k, xp = kernels, model.xp
    L = model.lipschitz
    sigma = DUAL_SHARE * L / (2 * transform.norm2)
    tau = 0.999 / (L / 2 + sigma * transform.norm2)
    dt = model.dtype.type
    x = state.x
    if state.u is None:
        state.u = xp.zeros(transform.coeff_shape, dtype=model.dtype)
    if state.wx is None:
        state.wx = transform.forward(x)
    u, wx = state.u, state.wx
    wz = xp.empty_like(wx)
    phit_u = xp.empty_like(x)
    z = xp.empty_like(x)
    rows_x = k.partials(xp, x.shape[0], 2)
    rows_w = k.partials(xp, wx.shape[0], wx.shape[1])
    k.dual_step(xp.zeros_like(u), wx, wx, lam, dt(0), rows_w)  # Σ λ|Φx| of x_0
    n_done, converged = 0, False
    stop = _Stopping(tol, check_every)
    for _ in iterations:
        value, grad = model.value_and_gradient(x, lazy=True)
        objective = value + rows_w.sum()
        record(objective)
        transform.adjoint(u, out=phit_u)
        k.primal_step(x, grad, phit_u, dt(tau), positivity, z, rows_x)
        transform.forward(z, out=wz)
        k.dual_step(u, wz, wx, lam, dt(sigma), rows_w)
        n_done += 1
        if stop(rows_x, objective):
            converged = True
            break
    state.n_iter += n_done
    state.converged = converged
    return state


def fista(model, transform, lam, state: SolverState, *, iterations, tol: float, record,
          kernels, check_every: int = 1) -> SolverState:
    """Run FISTA iterations on the synthesis coefficients ``state.alpha`` (in place).

    The image ``state.x = Ψ α`` is updated on return. Stops when the relative changes of
    the coefficients and of the objective are below ``tol`` (:class:`_Stopping`) or
    when ``iterations`` runs out.
    """
    k, xp = kernels, model.xp
    step = 1.0 / (model.lipschitz * transform.synthesis_norm2)
    dt = model.dtype.type
    if state.alpha is None:
        state.alpha = transform.synthesis_adjoint(state.x) / transform.synthesis_norm2
    prev = state.alpha  # prox point α_k
    y = prev.copy()  # extrapolated point y_k
    shape2d = (-1, y.shape[-1])
    t = 1.0
    rows = k.partials(xp, y.size // y.shape[-1], 3)
    n_done, converged = 0, False
    stop = _Stopping(tol, check_every)
    for _ in iterations:
        value, grad = model.value_and_gradient(transform.synthesis(y), lazy=True)
        g = transform.synthesis_adjoint(grad)
        t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
        k.fista_step(y.reshape(shape2d), g.reshape(shape2d), dt(step), lam.reshape(shape2d),
                     dt((t - 1) / t_next), prev.reshape(shape2d), rows)
        objective = value + rows[:, 2].sum()  # where the gradient was taken
        record(objective)
        t = t_next
        n_done += 1
        if stop(rows, objective):
            converged = True
            break
    state.alpha = prev
    state.x = transform.synthesis(prev)
    state.n_iter += n_done
    state.converged = converged
    return state


def support_debias(model, support, x, *, reach: int, n_iter: int = 3):
    """Flux debiasing of the sources on the multi-resolution support of the observation.

    The sources are the connected groups of positive pixels of the solution that lie in
    the multi-resolution support of the observation (its significant starlet detail
    coefficients, :func:`~sparserec.deconv.noise.multiresolution_support`). Every
    observed pixel within ``reach`` (the PSF's radius) of a source is given to the
    nearest one, which partitions the field into cells; each source is then rescaled so
    that its model has the observed flux of its cell,

        x_k ← x_k · Σ_b w_b Σ_{cell_k} y_b / Σ_b w_b Σ_{cell_k} A_b x,

    ``n_iter`` times (the spill of one source's model into its neighbours' cells is
    absorbed by the repetition). The shapes, the zeros and the positivity of the sparse
    solution are kept; the flux that the l1 penalty took from the sources, and that the
    slow convergence of point sources under positivity added, is restored — a
    correction of the solution on the support, not a threshold of it.

    Returns
    -------
    x : array
        The corrected object.
    factors : ndarray
        Each source's total correction factor.
    """
    from scipy import ndimage

    from ..backend import to_host

    xp = model.xp
    frame = model.frame_shape
    r0 = model.ratios[0]
    significant = np.asarray(support)
    if r0 > 1:
        significant = np.kron(significant, np.ones((r0, r0), dtype=bool))
    sources, n_sources = ndimage.label((to_host(model.frame(x)) > 0) & significant,
                                       structure=np.ones((3, 3), dtype=bool))
    if n_sources == 0:
        return x, np.ones(0)
    distance, (rows, cols) = ndimage.distance_transform_edt(sources == 0,
                                                            return_indices=True)
    cells = np.where(distance <= reach, sources[rows, cols], 0)
    band_cells = [cells[r // 2::r, r // 2::r][: frame[0] // r, : frame[1] // r]
                  for r in model.ratios]  # a binned pixel goes to its block centre's cell
    index = np.arange(1, n_sources + 1)
    total = np.ones(n_sources)
    where = xp.asarray(sources)
    for _ in range(n_iter):
        num = np.zeros(n_sources)
        den = np.zeros(n_sources)
        for w, y, pred, lab in zip(model.weights, model.data, model.apply(x), band_cells,
                                   strict=True):
            num += w * ndimage.sum_labels(to_host(y), lab, index)
            den += w * ndimage.sum_labels(to_host(pred), lab, index)
        factors = np.where(den > 0, np.maximum(num, 0) / np.where(den > 0, den, 1), 1.0)
        total *= factors
        scale = xp.asarray(np.concatenate([[1.0], factors]).astype(model.dtype))[where]
        x = x.copy()
        x[model.crop] *= scale
    return x, total
