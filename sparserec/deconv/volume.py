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

Memory: the iterate, the previous iterate, one scratch array of the object grid (the
FFTs run in place in it, plane by plane along the last axis; the starlet smooths in
place with a rolling cache of planes), the PSF's transfer function (half an array when
the PSF is centrosymmetric: it is then real) and the data — about 6–7 copies of the
stack for a PSF ~25 planes tall (a noise map adds two: the weights and their roots).
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.utils import Bunch

from .forward import BlurModel, object_grid
from .starlet import B3_SPLINE, Starlet, _mirror_index, smooth_nd, starlet_steps

__all__ = ["deconvolve_stack", "plane_noise_std", "plane_weights"]


def _blurred_atoms(psf, steps, n_scales: int):
    """The starlet atom of each detail scale, blurred by ``psf`` (``mode="full"``), on a
    grid just large enough to hold it; its centre plane is ``reach + k // 2``. Yields
    ``(blurred, centre)`` finest first."""
    from scipy.signal import fftconvolve

    reach = [sum(2 * s[a] for s in steps) for a in range(len(psf.shape))]
    phi = Starlet(tuple(2 * r + 1 for r in reach), n_scales, dtype=np.float64)
    phi.steps = steps
    for j in range(n_scales - 1):
        e = np.zeros(phi.coeff_shape)
        e[(j,) + tuple(reach)] = 1.0
        yield fftconvolve(phi.adjoint(e), psf, mode="full"), reach[0] + psf.shape[0] // 2


def plane_noise_std(psf, steps, n_scales: int) -> np.ndarray:
    """``‖H Φ_jᵀ e‖`` for each detail plane ``j``: the noise level that ``Hᵀ`` and the
    starlet give a unit white noise, on a grid just large enough to hold the atoms
    blurred (exact away from the boundaries, independent of the stack's size)."""
    return np.asarray([float(np.sqrt((blurred**2).sum()))
                       for blurred, _ in _blurred_atoms(psf, steps, n_scales)])


def plane_weights(psf, steps, n_scales: int, roots, offset: int, depth: int):
    """Per object plane ``p``, the root of the mean weight ``W`` that the blurred atom of
    each detail scale sees: ``√(Σ_d e_j(d) w̄(p + d) / Σ_d e_j(d) s(p + d))`` with
    ``e_j(d)`` the energy of its blurred profile in the plane ``d`` away, ``w̄`` the
    sum of a frame plane's weights over its pixel count, and ``s`` its observed fraction
    — the z-profile of the noise that the weighted data term gives each coefficient (the
    2-D images' :func:`~sparserec.deconv.noise.observed_energies`, averaged over each
    plane: a noise that changes with depth, as it does through a thick sample, changes
    the thresholds plane by plane). An atom that sees under a millionth of its
    energy's observed planes (past the frame) keeps 1, as in 2-D. ``roots`` is ``√W``
    on the frame (0 where masked, as :class:`~sparserec.deconv.forward.BlurModel` holds
    it). Returns an array of shape ``(n_scales - 1, depth)`` (``depth`` the object grid's
    planes, ``offset`` the frame's first one).

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.deconv.starlet import starlet_steps
    >>> from sparserec.deconv.volume import plane_weights
    >>> psf = np.ones((3, 3, 3)) / 27
    >>> roots = np.ones((8, 16, 16))
    >>> roots[4:] = 0.5  # the deeper half 2 times noisier: a quarter of the weight
    >>> rooted = plane_weights(psf, starlet_steps((12, 16, 16), 3), 3, roots, 2, 12)
    >>> rooted[0, :3].round(2).tolist(), rooted[0, -3:].round(2).tolist()
    ([1.0, 1.0, 1.0], [0.5, 0.5, 0.5])
    """
    w = np.zeros(depth)
    seen = np.zeros(depth)
    for z, plane in enumerate(roots):  # a plane at a time: no copy of the stack
        plane = plane.astype(np.float64)
        w[offset + z] = float(np.mean(plane * plane))
        seen[offset + z] = float(np.mean(plane > 0))
    out = np.ones((n_scales - 1, depth))
    for j, (blurred, centre) in enumerate(_blurred_atoms(psf, steps, n_scales)):
        profile = (blurred**2).sum(axis=tuple(range(1, blurred.ndim)))
        # Σ_d e(d) v(p + d): a correlation with the profile (d from its centre plane)
        pad = (centre, len(profile) - 1 - centre)
        num = np.correlate(np.pad(w, pad), profile, "valid")
        den = np.correlate(np.pad(seen, pad), profile, "valid")
        floor = 1e-6 * profile.sum()
        out[j] = np.where(den > floor, np.sqrt(np.clip(num, 0, None) / np.maximum(den, floor)),
                          1.0)
    return out


def _extrapolate(prev, x, beta):
    """``prev ← x + β (x − prev)`` plane by plane (bounded temporaries)."""
    for v, p in zip(prev, x, strict=True):
        v *= -beta
        v += (1 + beta) * p


def _step_norms(new, old):
    """``(‖new − old‖², ‖new‖²)`` plane by plane."""
    step2 = norm2 = 0.0
    for a, b in zip(new, old, strict=True):
        d = a - b
        step2 += float(np.vdot(d, d))
        norm2 += float(np.vdot(a, a))
    return step2, norm2


def _smooth_in_place(c, steps, visit):
    """``c ← S c`` (one à trous smoothing, ``steps`` the hole per axis) plane by plane in
    place: each plane is smoothed in (y, x), kept in a rolling cache of the planes its
    z-neighbours still need, and combined along z; ``visit(p, old, new)`` sees plane
    ``p`` before and after, just before it is overwritten. The cache holds about
    ``4 × hole + 1`` planes instead of a second copy of the stack."""
    n = c.shape[0]
    step_z, step_xy = steps[0], tuple(steps[1:])

    def plane_xy(q):
        plane = c[q].copy()
        smooth_nd(plane, plane, step_xy)
        return plane

    if not step_z:
        for p in range(n):
            new = plane_xy(p)
            visit(p, c[p], new)
            c[p] = new
        return
    taps = B3_SPLINE.astype(c.dtype)
    windows = [_mirror_index(p + np.arange(-2, 3) * step_z, n) for p in range(n)]
    last_use = np.zeros(n, dtype=int)
    for p, window in enumerate(windows):
        last_use[window] = p
    cache = {}
    for p, window in enumerate(windows):
        for q in window:  # first use is at p <= q: plane q is still the old one
            if q not in cache:
                cache[q] = plane_xy(q)
        new = sum(t * cache[q] for t, q in zip(taps, window, strict=True))
        visit(p, c[p], new)
        c[p] = new
        for q in [q for q in cache if last_use[q] <= p]:
            del cache[q]


def _shrink_sum(z, out, steps, thresholds):
    """``out = R S_t Φ z`` one scale at a time, in place in ``z`` (overwritten);
    ``thresholds[j][p]`` is scale ``j``'s on plane ``p``."""
    for j, t in enumerate(thresholds):
        def visit(p, old, new, t=t, first=j == 0):
            w = old - new
            w -= np.clip(w, -t[p], t[p])
            if first:
                out[p] = w
            else:
                out[p] += w

        _smooth_in_place(z, steps[j], visit)
    out += z


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
        ``image`` (the frame, in the input's float dtype), ``model`` (the stack
        predicted), ``n_iter``, ``converged``, ``history`` (the data term at each
        iteration).
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
    # one threshold per plane and scale under a noise map (the noise it carries there:
    # times the root of the mean weight its atom sees)
    roots = np.ones((n_scales - 1, 1)) if pixel_weights is None else plane_weights(
        psf, steps, n_scales, model.masks[0], offset[0], shape[0])
    thresholds = [np.broadcast_to((tau * k * sigma / scale * s * r).astype(np.float32),
                                  (shape[0],))
                  for k, s, r in zip(np.broadcast_to(k_sigma, levels.shape), levels, roots,
                                     strict=True)]
    data, seen = model.data[0], model.masks[0]
    if seen is not None and not seen.all():  # masked voxels start at the median
        seen = seen > 0
        data = np.where(seen, data, np.float32(np.median(data[seen])))
    x = model.embed_frame(data)
    del data, seen
    if positivity:
        np.maximum(x, 0, out=x)
    prev = x.copy()
    t = 1.0
    history, n_done, converged = [], 0, False
    for _ in (range(max_iter) if iterations is None else iterations):
        t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
        beta = np.float32((t - 1) / t_next)
        _extrapolate(prev, x, beta)
        value, z = model.lean_value_and_gradient(prev)
        history.append(value)
        z *= np.float32(-tau)
        z += prev
        _shrink_sum(z, prev, steps, thresholds)
        del z
        if positivity:
            np.maximum(prev, 0, out=prev)
        step2, norm2 = _step_norms(prev, x)
        x, prev = prev, x
        n_done += 1
        t = t_next
        if math.sqrt(step2) <= tol * math.sqrt(norm2):
            converged = True
            break
    del prev
    dtype = np.dtype(image.dtype if image.dtype in (np.float32, np.float64) else np.float64)
    fit = model.lean_apply(x).astype(dtype, copy=False)
    out = model.frame(x).astype(dtype)
    del x, model
    for a in (fit, out):
        a *= dtype.type(scale)
        a += dtype.type(background)
    return Bunch(image=out, model=fit, n_iter=n_done, converged=converged,
                 history=[v * scale**2 for v in history])
