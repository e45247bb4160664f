"""Sparse deconvolution of 3-D stacks (microscopy z-stacks) within a few copies of the stack.

A 512×512×64 stack extended by its PSF is about 1.4 stacks per array; the analysis
solver of the 2-D images (Condat–Vũ) would hold three coefficient arrays of
``n_scales`` such arrays each. Stacks are therefore solved by accelerated iterative
soft thresholding in the starlet domain (Starck, Murtagh & Fadili 2015, §7.4; the
"thresholded Landweber" iteration of Daubechies, Defrise & De Mol 2004 with a redundant
frame), in which the starlet planes are made, thresholded and summed back one scale at
a time and never stored:

    v = x_k + β_k (x_k − x_{k−1}),
    x_{k+1} = P₊( R S_{τλ}( Φ (v − τ ∇f(v)) ) ),

``τ = 1 / L``, ``S`` the soft threshold of each detail plane at ``τ λ_j``
(``λ_j = k_sigma · σ_j``, ``σ_j`` the noise that ``Hᵀ`` carries into plane ``j``, the
coarse plane free), ``R`` the sum of the planes (the starlet's left inverse), ``P₊`` the
positivity projection, and the FISTA momentum ``β_k`` (Beck & Teboulle 2009). ``R S Φ``
is the classical approximation of the prox of ``‖λ ⊙ Φ x‖₁`` (the prox itself would
need the coefficients stored).

Memory: the iterate, the previous iterate, the PSF's transfer function (half of an
array when the PSF is centrosymmetric: it is then real), the data, and two scratch
arrays of the object grid — about 5 arrays of the extended grid, 7–8 copies of the
stack for a PSF ~25 planes tall (a noise map adds one).
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.utils import Bunch

from .forward import BlurModel, object_grid
from .starlet import Starlet, smooth_nd, starlet_steps

__all__ = ["deconvolve_stack", "plane_noise_std"]


def plane_noise_std(psf, steps, n_scales: int) -> np.ndarray:
    """``‖H Φ_jᵀ e‖`` for each detail plane ``j``: the noise level that ``Hᵀ`` and the
    starlet give a unit white noise, on a grid just large enough to hold the atoms
    blurred (exact away from the boundaries, independent of the stack's size)."""
    from scipy.signal import fftconvolve

    reach = [sum(2 * s[a] for s in steps) for a in range(len(psf.shape))]
    shape = tuple(2 * r + 1 for r in reach)
    phi = Starlet(shape, n_scales, dtype=np.float64)
    phi.steps = steps
    levels = []
    for j in range(n_scales - 1):
        e = np.zeros(phi.coeff_shape)
        e[(j,) + tuple(reach)] = 1.0
        blurred = fftconvolve(phi.adjoint(e), psf, mode="full")
        levels.append(float(np.sqrt((blurred**2).sum())))
    return np.asarray(levels)


def _each_plane(*arrays):
    """The leading-axis planes of several arrays, side by side (bounded temporaries)."""
    return zip(*arrays, strict=True)


def _shrink_sum(z, out, steps, thresholds):
    """``out = R S_t Φ z`` one scale at a time (``z`` is overwritten, one scratch array)."""
    other = np.empty_like(z)
    c = z
    for j, t in enumerate(thresholds):
        smooth_nd(c, other, steps[j])
        for co, no, oo in _each_plane(c, other, out):
            w = co - no
            w -= np.clip(w, -t, t)
            if j == 0:
                oo[...] = w
            else:
                oo += w
        c, other = other, c
    out += c


def _real_if_symmetric(model):
    """Keep a real transfer function for a centrosymmetric PSF (half the memory)."""
    spec = model.spectra[0]
    imag = np.abs(spec.imag).max()
    if imag <= 1e-6 * np.abs(spec).max():
        model.spectra[0] = np.ascontiguousarray(spec.real)


def deconvolve_stack(image, psf, *, sigma: float, k_sigma, n_scales: int, sampling,
                     positivity: bool, max_iter: int, tol: float, background: float = 0.0,
                     pixel_weights=None, iterations=None) -> Bunch:
    """Deconvolve a 3-D stack (NaN voxels masked) with a 3-D PSF (see the module notes).

    Parameters
    ----------
    image : 3-D array
    psf : 3-D array
        Normalised, centred at ``k // 2``.
    sigma : float
        Noise level of a unit-weight voxel.
    k_sigma : sequence of float
        Threshold per detail scale, in units of its noise level.
    pixel_weights : 3-D array, optional
        Inverse-variance weights ``σ² / σ_i²`` (0: masked).
    iterations : iterable, optional
        Iteration indices (a progress bar); by default ``range(max_iter)``.

    Returns
    -------
    result : Bunch
        ``image`` (float64, the frame), ``model`` (the stack predicted), ``n_iter``,
        ``converged``, ``history`` (the data term at each iteration).
    """
    frame = tuple(image.shape)
    y = np.asarray(image, dtype=np.float32) - np.float32(background)
    scale = float(np.nanmax(np.abs(y)))
    scale = scale if scale > 0 else 1.0
    y /= np.float32(scale)
    shape, offset = object_grid(frame, [psf.shape])
    model = BlurModel([y], [psf], [1], [1.0], shape, offset, dtype=np.float32,
                      pixel_weights=None if pixel_weights is None else [pixel_weights])
    del y
    _real_if_symmetric(model)
    steps = starlet_steps(shape, n_scales, sampling)
    tau = 1.0 / model.lipschitz
    levels = plane_noise_std(psf, steps, n_scales)
    thresholds = [np.float32(tau * k * sigma / scale * s)
                  for k, s in zip(np.broadcast_to(k_sigma, levels.shape), levels, strict=True)]
    data = model.data[0]
    fill = float(np.nanmedian(data)) if np.isnan(image).any() else None
    x = model.embed_frame(data if fill is None else np.where(model.masks[0] > 0, data, fill))
    if positivity:
        np.maximum(x, 0, out=x)
    prev = x.copy()
    t = 1.0
    history, n_done, converged = [], 0, False
    for _ in (range(max_iter) if iterations is None else iterations):
        t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
        beta = np.float32((t - 1) / t_next)
        for vp, xp_ in _each_plane(prev, x):  # prev ← v = x + β (x − prev)
            vp *= -beta
            vp += (1 + beta) * xp_
        value, z = model.lean_value_and_gradient(prev)
        history.append(value)
        z *= np.float32(-tau)
        z += prev
        _shrink_sum(z, prev, steps, thresholds)
        del z
        if positivity:
            np.maximum(prev, 0, out=prev)
        step2 = norm2 = 0.0
        for new, old in _each_plane(prev, x):
            d = new - old
            step2 += float(np.vdot(d, d))
            norm2 += float(np.vdot(new, new))
        x, prev = prev, x
        n_done += 1
        t = t_next
        if math.sqrt(step2) <= tol * math.sqrt(norm2):
            converged = True
            break
    del prev
    out = model.frame(x).astype(np.float64) * scale + background
    fit = model.apply(x)[0].astype(np.float64) * scale + background
    return Bunch(image=out, model=fit, n_iter=n_done, converged=converged,
                 history=[v * scale**2 for v in history])
