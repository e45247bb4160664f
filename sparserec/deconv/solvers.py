"""Solvers of the sparse deconvolution problems.

- :func:`condat_vu`: the analysis problem
  ``min_x f(x) + ‖λ ⊙ Φ x‖₁ + ι_{x ≥ 0}(x)`` by the accelerated primal–dual (APD)
  method of Chen, Lan & Ouyang (2014), the Condat (2013) – Vũ (2013) splitting with
  Nesterov's acceleration on ``f``: a gradient step on ``f`` and the positivity
  projection on the primal, the prox of the conjugate of the weighted l1 norm (a box
  projection, Moreau) on the dual ``u``.
- :func:`fista`: the synthesis problem ``min_α f(Ψ α) + ‖λ ⊙ α‖₁`` by FISTA (Beck &
  Teboulle 2009), step ``1 / (L ‖Ψ‖²)``.
- :func:`support_debias`: the multi-resolution-support flux correction (the amplitudes
  of the sparse solution's sources refitted to the data by least squares).
- :func:`richardson_lucy`: Biggs–Andrews accelerated Richardson–Lucy steps on the same
  forward model (the Richardson–Lucy candidate of the SURE choice, and
  :func:`~sparserec.deconv.accelerated_richardson_lucy`).
- :func:`wiener_hunt`: the Wiener–Hunt (Laplacian-regularised) filter on the model's
  object grid, the data mirrored into its margins (the linear candidate of the SURE
  choice).

``f`` is a :class:`~sparserec.deconv.forward.BlurModel`'s data term. The loops take an
iterator of iteration indices (the estimator's progress bar) and a ``record`` callback
that receives each iteration's objective. The element-wise updates come from the
family's kernel namespace (:func:`sparserec.deconv._kernels.get`): fused numba kernels
(one pass over memory each) or NumPy/CuPy array expressions, behind one loop body.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

__all__ = ["condat_vu", "fista", "support_debias", "richardson_lucy", "richardson_lucy_norm",
           "wiener_hunt", "SolverState", "RLState"]

class _Iterates:
    """A dataclass of iterates whose :meth:`copy` copies its arrays too."""

    def copy(self):
        """A copy whose arrays are copies (the original goes on)."""
        out = replace(self)
        for item in fields(self):
            value = getattr(self, item.name)
            if hasattr(value, "copy"):  # an array or list (counters are plain numbers)
                setattr(out, item.name, value.copy())
        return out


@dataclass
class SolverState(_Iterates):
    """Iterates carried from one call to the next (warm start)."""

    x: Any  # primal image (object grid); Condat–Vũ: the averaged iterate x_ag
    u: Any = None  # Condat–Vũ dual variable
    wx: Any = None  # Condat–Vũ: Φ x
    xt: Any = None  # Condat–Vũ: the primal sequence x_t, x_{t−1} and their Φ
    xt_prev: Any = None
    wt: Any = None
    wt_prev: Any = None
    step: int = 0  # Condat–Vũ: iterations since the last restart + 1 (0: restart)
    ratio: float = 0.0  # Condat–Vũ: D_Y / D_X of the current run
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


def _restart(state: SolverState, lam, xp, primal_scale) -> None:
    """Start a run of the accelerated method from ``x_ag``, the dual kept, with the ratio
    ``r = ‖λ‖ / ‖x‖`` of the dual's and the primal's distances to the solution (``‖x‖ =
    √n · primal_scale`` when given)."""
    size = float(xp.linalg.norm(state.x.ravel())) if primal_scale is None else \
        primal_scale * math.sqrt(state.x.size)
    state.ratio = float(xp.linalg.norm(lam.ravel())) / (size if size > 0 else 1.0)
    state.step = 1
    state.xt, state.wt = state.x.copy(), state.wx.copy()
    state.xt_prev = state.wt_prev = None


def condat_vu(model, transform, lam, state: SolverState, *, positivity: bool, iterations,
              tol: float, record, kernels, check_every: int = 1,
              primal_scale: float | None = None, restart: bool = True) -> SolverState:
    """Run accelerated primal–dual iterations from ``state`` (updated in place).

    The APD method of Chen, Lan & Ouyang ("Optimal primal-dual methods for a class of
    saddle point problems", SIAM J. Optim. 2014, Algorithm 1) on ``min_x max_{|u| ≤ λ}
    f(x) + ⟨Φx, u⟩ + ι_{x ≥ 0}(x)``: at step ``t`` (``β = (t+1)/2``, ``θ = (t−1)/t``)

        x_md = (1 − 1/β) x_ag + x_t / β,       u ← clip(u + τ Φ(x_t + θ(x_t − x_{t−1})), ±λ),
        x_{t+1} = P(x_t − η_t (∇f(x_md) + Φᵀu)),   x_ag ← (1 − 1/β) x_ag + x_{t+1} / β,

    ``η_t = t / (2L + t ‖Φ‖ r)``, ``τ = r / ‖Φ‖`` (these meet the conditions of their
    convergence theorem: ``β_{t+1} − 1 = β_t θ_{t+1}``, ``1/η_t − L/β_t − ‖Φ‖² τ ≥ 0``,
    ``θ_t ≤ η_{t−1}/η_t``, ``θ_t ≤ τ_{t−1}/τ_t``): Nesterov's acceleration on the smooth
    ``f`` (its error falls as ``L/t²`` where Condat–Vũ's falls as ``L/t``: a blurred point
    source is a direction of small curvature of ``f``, which plain gradient steps are
    slowest to resolve) and the ``O(1/t)`` of a primal–dual method on the bilinear part.
    ``r = D_Y / D_X`` is the ratio of the dual and primal distances to the solution,
    ``D_Y = ‖λ‖`` (the radius of the dual's box about ``u = 0``) and ``D_X = ‖x‖`` at the
    start, or ``√n · primal_scale`` (a scale shared by the tiles of a large image, so
    that they take the whole image's steps). The returned ``state.x`` is ``x_ag`` (a convex
    combination of the iterates: nonnegative with them).

    ``lam`` has the transform's ``coeff_shape`` (zero on unpenalised coefficients);
    ``kernels`` is the namespace of :func:`sparserec.deconv._kernels.get`. With
    ``restart`` (a new ``lam``) the method starts a new run from ``x_ag``, the dual
    kept; without, it goes on (a continuation path's stages at one threshold).
    Stops when the relative changes of ``x_t`` and of the objective fall below ``tol``
    (:class:`_Stopping`, tested every ``check_every`` iterations) or when ``iterations``
    runs out. ``record`` receives each iteration's objective at ``x_md`` as a 0-d array of
    the model's array module.
    """
    k, xp = kernels, model.xp
    L, norm = model.lipschitz, math.sqrt(transform.norm2)
    dt = model.dtype.type
    if state.wx is None:
        state.wx = transform.forward(state.x)
    if state.u is None:
        state.u = xp.zeros(transform.coeff_shape, dtype=model.dtype)
    if restart or state.step == 0:
        _restart(state, lam, xp, primal_scale)
    x_md = xp.empty_like(state.x)
    phit_u = xp.empty_like(state.x)
    rows_x = k.partials(xp, state.x.shape[0], 2)
    rows_w = k.partials(xp, state.wx.shape[0], state.wx.shape[1])
    converged = False
    stop = _Stopping(tol, check_every)
    tau = state.ratio / norm
    for _ in iterations:
        t = state.step
        weight, theta = 2 / (t + 1), (t - 1) / t
        eta = t / (2 * L + t * norm * state.ratio)
        w_prev = state.wt if state.wt_prev is None else state.wt_prev
        k.dual_step(state.u, state.wt, w_prev, state.wx, lam, dt(tau), dt(theta), dt(weight),
                    rows_w)
        k.blend(state.x, state.xt, dt(weight), x_md)
        value, grad = model.value_and_gradient(x_md, lazy=True)
        objective = value + rows_w.sum()  # at x_md
        record(objective)
        transform.adjoint(state.u, out=phit_u)
        new = xp.empty_like(state.x) if state.xt_prev is None else state.xt_prev
        k.primal_step(state.xt, grad, phit_u, dt(eta), positivity, new, state.x, dt(weight),
                      rows_x)
        wnew = xp.empty_like(state.wx) if state.wt_prev is None else state.wt_prev
        transform.forward(new, out=wnew)
        k.blend(state.wx, wnew, dt(weight), state.wx)
        state.xt_prev, state.xt = state.xt, new
        state.wt_prev, state.wt = state.wt, wnew
        state.step += 1
        state.n_iter += 1
        if stop(rows_x, objective):
            converged = True
            break
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


def support_debias(model, support, x):
    """Flux debiasing of the sources on the multi-resolution support of the observation.

    The sources are the connected groups of positive pixels of the solution that lie in
    the multi-resolution support of the observation (its significant starlet detail
    coefficients, :func:`~sparserec.deconv.noise.multiresolution_support`). Their shapes
    are kept and their amplitudes refitted to the data by weighted least squares with
    the rest of the solution ``x₀`` held (the least-squares refit on the lasso's
    support, Belloni & Chernozhukov 2013, with one amplitude per source),

        a = argmin_a Σ_b w_b ‖√W_b ⊙ (A_b (x₀ + Σ_k a_k x_k) − y_b)‖²,

    by :func:`scipy.sparse.linalg.lsmr` on an operator (one blur and one adjoint per
    product), from ``a = 1``; a negative amplitude (a source the data do not support) is
    set to 0. A fitted amplitude has the variance of a fit of the source's own profile,
    ``σ² / ‖A x_k‖²``, the Cramér–Rao bound of its flux when the profile is right; the
    flux that the l1 penalty took is restored, the zeros and positivity kept.

    Returns
    -------
    x : array
        The corrected object.
    factors : ndarray
        Each source's amplitude (1: unchanged).
    """
    from scipy import ndimage
    from scipy.sparse.linalg import LinearOperator, lsmr

    from ..backend import to_host

    xp = model.xp
    r0 = model.ratios[0]
    significant = np.asarray(support)
    if r0 > 1:
        significant = np.kron(significant, np.ones((r0, r0), dtype=bool))
    inside = to_host(model.frame(x)).astype(np.float64)
    sources, n_sources = ndimage.label((inside > 0) & significant,
                                       structure=np.ones((3, 3), dtype=bool))
    if n_sources == 0:
        return x, np.ones(0)
    index = np.arange(1, n_sources + 1)
    profile = np.where(sources > 0, inside, 0.0)  # Σ_k x_k, in the frame
    rest = x.copy()
    rest[model.crop] = xp.asarray(np.where(sources > 0, 0.0, inside), dtype=model.dtype)
    roots = [math.sqrt(w) for w in model.weights]
    sizes = [int(np.prod(d.shape)) for d in model.data]

    def weighted(residuals):  # √w_b √W_b r_b of every band, flattened and joined
        return np.concatenate([root * to_host(r).ravel().astype(np.float64)
                               for root, r in zip(roots, residuals, strict=True)])

    def matvec(a):
        z = xp.zeros(model.object_shape, dtype=model.dtype)
        z[model.crop] = xp.asarray(profile * np.concatenate([[0.0], np.ravel(a)])[sources],
                                   dtype=model.dtype)
        preds = model.apply(z)
        return weighted([p if m is None else p * m for p, m in
                         zip(preds, model.masks, strict=True)])

    def rmatvec(r):
        parts = np.split(np.ravel(r), np.cumsum(sizes)[:-1])
        residuals = [xp.asarray((part / root if root > 0 else 0 * part).reshape(d.shape),
                                dtype=model.dtype)
                     for part, root, d in zip(parts, roots, model.data, strict=True)]
        grad = to_host(model.frame(model.adjoint(residuals))).astype(np.float64)
        return ndimage.sum_labels(grad * profile, sources, index)

    n = sum(sizes)
    op = LinearOperator((n, n_sources), matvec=matvec, rmatvec=rmatvec, dtype=np.float64)
    target = -weighted(model.residuals(rest))
    ones = np.ones(n_sources)
    factors = np.maximum(ones + lsmr(op, target - op.matvec(ones), atol=1e-6, btol=1e-6)[0], 0)
    x = rest
    x[model.crop] += xp.asarray(profile * np.concatenate([[0.0], factors])[sources],
                                dtype=model.dtype)
    return x, factors


@dataclass
class RLState(_Iterates):
    """Iterates of :func:`richardson_lucy` (the same interface as :class:`SolverState`)."""

    x: Any  # object grid, >= 0
    prev: Any = None  # the previous iterate and the last two steps (Biggs–Andrews)
    g1: Any = None
    g2: Any = None
    n_iter: int = 0
    converged: bool = False
    # the extrapolation factors taken; ``replay``: those to take instead of computing
    # them (a path chosen on a crop, run again on the whole image or on its tiles)
    alphas: list = field(default_factory=list)
    replay: Any = None


def richardson_lucy_norm(model):
    """``(norm, seen)`` of :func:`richardson_lucy` on band 0 of ``model``: ``Hᵀ W 1`` (the
    boundary normalisation of Bertero & Boccacci, with the pixel weights ``W``; 1 where
    the frame does not see the object) and where the frame sees it (above 1e-3 of the
    peak)."""
    xp = model.xp
    weight = model.masks[0]
    norm = model.adjoint([xp.ones_like(model.data[0]) if weight is None else weight])
    seen = norm > 1e-3 * float(norm.max())
    return xp.where(seen, norm, 1), seen


def richardson_lucy(model, state: RLState, *, iterations, offset: float, norm, seen,
                    tv_weight: float = 0.0, tv_divergence=None, record=None) -> RLState:
    """Biggs–Andrews accelerated Richardson–Lucy steps on band 0 of ``model``.

    ``x ← v / (Hᵀ1 · (1 − λ_TV div(∇v/|∇v|))) · Hᵀ[(y + b) / (H v + b)]`` from the
    extrapolated ``v = x_k + α (x_k − x_{k−1})``, ``α = ⟨g₁, g₂⟩ / ⟨g₂, g₂⟩ ∈ [0, 1]``
    (``g`` the last two steps; Biggs & Andrews 1997; ``state.replay`` gives them instead,
    for a path run again elsewhere), with ``b = offset`` (RL needs
    non-negative data), ``norm = Hᵀ1`` (the boundary normalisation of Bertero &
    Boccacci 2005) and the object kept at 0 where the frame does not see it (``seen``
    false). ``record`` receives each step's data misfit ``½‖y − C H v‖²`` (at the
    extrapolated point, which the step blurs anyway) as a 0-d array of the model's array
    module, like :func:`condat_vu`'s objective (no device sync; the history is stacked).
    """
    xp = model.xp
    data = model.data[0] + offset
    for _ in iterations:
        x, prev = state.x, state.x if state.prev is None else state.prev
        alpha = 0.0
        if state.replay is not None and state.n_iter < len(state.replay):
            alpha = state.replay[state.n_iter]
        elif state.g2 is not None:
            alpha = float(xp.vdot(state.g1, state.g2)) / \
                max(float(xp.vdot(state.g2, state.g2)), 1e-300)
            alpha = min(max(alpha, 0.0), 1.0)
        state.alphas.append(alpha)
        v = xp.maximum(x + alpha * (x - prev), 0)
        blurred = model.apply(v)[0]
        ratio = data / (blurred + offset)
        update = model.adjoint([ratio if model.masks[0] is None else ratio * model.masks[0]])
        update /= norm
        if tv_weight > 0:
            update = update / xp.maximum(1 - tv_weight * tv_divergence(v), 0.5)
        new = xp.where(seen, v * update, 0).astype(x.dtype, copy=False)
        state.g2, state.g1 = state.g1, new - v
        state.prev, state.x = x, new
        state.n_iter += 1
        if record is not None:  # the misfit of the extrapolated point (no extra blur)
            residual = model.data[0] - blurred
            if model.masks[0] is not None:  # √W: masked pixels out, as in the objective
                residual = residual * model.masks[0]
            record(0.5 * xp.vdot(residual, residual))
    return state


def wiener_hunt(model, balance: float, laplacian2):
    """The Wiener–Hunt deconvolution of band 0 of ``model`` on its object grid:
    ``x̂ = F⁻¹[conj(ĥ) Ŷ / (|ĥ|² + balance |l̂|²)]`` (``laplacian2 = |l̂|²``, the
    Laplacian's squared transfer function on the grid's real-FFT half), with ``Y`` the
    data mirrored into the grid's margins (:func:`skimage.restoration.wiener` on a
    mirrored image, as the benchmark's baseline, but on the model's grid and FFTs).
    Linear in the data; ``balance`` is its regularisation."""
    xp = model.xp
    data = model.data[0]
    pads = [(o, n - f - o) for o, n, f in zip(model.offset, model.object_shape, data.shape,
                                               strict=True)]
    extended = xp.pad(data, pads, mode="symmetric")
    spectrum = model.spectra[0]
    filtered = model._forward_fft(extended) * spectrum.conj() / (
        xp.abs(spectrum) ** 2 + model.dtype.type(balance) * laplacian2)
    return model._inverse_fft(filtered).astype(model.dtype, copy=False)
