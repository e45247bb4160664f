"""Noise level, its propagation into the coefficients, and the multi-resolution support.

- :func:`estimate_noise_sigma`: white Gaussian noise level of a blurred image from the
  power of its Fourier coefficients at the frequencies the PSF emptied of signal.
- :func:`coefficient_noise_std`: standard deviation, per group of coefficients, of the
  noise that the data term's gradient carries into the transform domain; the
  thresholds are ``k_sigma`` times it (Starck, Murtagh & Fadili 2015, ch. 8). Computed
  exactly from the filters' energies: for a coefficient whose atom is ``a``, the
  gradient noise ``Σ_b w_b H_bᵀ D_bᵀ n_b`` has variance ``Σ_b w_b² σ_b² ‖D_b H_b a‖²``,
  averaged over the ``r × r`` phases of a binned band.
- :func:`multiresolution_support`: the significant starlet coefficients of an image.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import array_namespace, scipy_namespace, to_host
from .starlet import Starlet, starlet_noise_levels

__all__ = ["mad_std", "estimate_noise_sigma", "periodic_component", "estimate_background",
           "coefficient_noise_std", "multiresolution_support"]

# a pixel weight W = σ_ref² / σ² above this (σ a hundredth of the median) shrinks every
# step of the solvers by W (the Lipschitz bound of the weighted data term): reported
_MAX_WEIGHT = 1e4
_NORMAL_MAD = 0.6744897501960817  # Φ⁻¹(3/4): the MAD of a unit Gaussian (scipy's "normal")


def mad_std(x) -> float:
    """Robust standard deviation ``1.4826 · median(|x − median(x)|)``.

    :func:`scipy.stats.median_abs_deviation` with ``scale="normal"`` (the factor
    ``1 / Φ⁻¹(3/4)`` that makes it the standard deviation of Gaussian data).

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.deconv.noise import mad_std
    >>> round(mad_std(np.random.default_rng(0).normal(0, 2, 100_000)), 1)
    2.0
    """
    from scipy.stats import median_abs_deviation

    return float(median_abs_deviation(np.asarray(x, dtype=np.float64), axis=None,
                                      scale="normal"))


def _fill_nan(image):
    bad = np.isnan(image)
    if not bad.any():
        return image, None
    return np.where(bad, np.median(image[~bad]), image), bad


def periodic_component(image):
    """The periodic component ``p = u − s`` of Moisan's periodic-plus-smooth decomposition.

    ``s`` is the smooth image whose Laplacian equals the jumps of ``u`` across its
    periodic borders, so ``p`` has no border discontinuity and its discrete Fourier
    spectrum has no cross of leakage from the edges (L. Moisan, "Periodic plus smooth
    image decomposition", J. Math. Imaging Vis. 39 (2011)). ``s`` is smooth: white noise
    keeps its level at high frequencies.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.deconv.noise import periodic_component
    >>> ramp = np.add.outer(np.arange(8.0), np.arange(8.0))
    >>> p = periodic_component(ramp)
    >>> bool(abs(p[0] - p[-1]).max() < abs(ramp[0] - ramp[-1]).max())
    True
    """
    xp = array_namespace(image)
    fft = scipy_namespace(xp, "fft")
    u = xp.asarray(image, dtype=xp.float64)
    v = xp.zeros_like(u)
    den = xp.zeros([n if a < u.ndim - 1 else n // 2 + 1 for a, n in enumerate(u.shape)])
    for axis, n in enumerate(u.shape):
        first = [slice(None)] * u.ndim
        last = [slice(None)] * u.ndim
        first[axis], last[axis] = 0, -1
        jump = u[tuple(last)] - u[tuple(first)]
        v[tuple(first)] += jump
        v[tuple(last)] -= jump
        freq = xp.arange(den.shape[axis]) / n
        den += xp.expand_dims(2 * xp.cos(2 * np.pi * freq),
                              tuple(a for a in range(u.ndim) if a != axis)) - 2
    den[(0,) * u.ndim] = 1.0
    spec = fft.rfftn(v) / den
    spec[(0,) * u.ndim] = 0.0
    return u - fft.irfftn(spec, s=u.shape)


def _leakage_order(shape, psf, xp=np):
    """Expected blurred-signal power at each frequency of the real half spectrum, up to a
    factor, for two object spectra: ``max_{5×5} |ĥ|² / |ω|²`` (the ``1/|ω|²`` power law
    of natural images, Field 1987) and ``max_{3×3} |ĥ|²`` (the flat spectrum of point
    sources); the maximum over neighbouring frequencies allows for the spectral leakage
    of a finite, non-periodic frame near the PSF's zeros (wider for the photographs,
    whose edges leak more). Any number of axes (3-D stacks: 5×5×5 and 3×3×3)."""
    from ..operators import transfer_function

    maximum_filter = scipy_namespace(xp, "ndimage").maximum_filter
    ndim = len(shape)
    w2 = sum(xp.expand_dims((xp.fft.fftfreq(n) if a < ndim - 1 else xp.fft.rfftfreq(n)) ** 2,
                            tuple(b for b in range(ndim) if b != a))
             for a, n in enumerate(shape))
    w2[(0,) * ndim] = np.inf
    if psf is None:
        return (1.0 / w2,)
    lead = tuple(range(ndim - 1))
    psf = xp.asarray(to_host(psf) if xp is np else psf, dtype=xp.float64)
    h2 = xp.abs(xp.fft.fftshift(transfer_function(psf, shape), axes=lead)) ** 2
    wide = xp.fft.ifftshift(maximum_filter(h2, size=5, mode="nearest"), axes=lead)
    narrow = xp.fft.ifftshift(maximum_filter(h2, size=3, mode="nearest"), axes=lead)
    return wide / w2, narrow + 1e-12 / w2


#: a 3-D stack's noise is estimated on a central block of at most this many voxels
#: (relative standard error ``0.72 / √(fraction · N / 2)`` ≈ 0.2 %): its float64
#: Fourier arithmetic then needs about 3 copies of a 512 × 512 × 64 float32 stack
_MAX_NOISE_VOXELS = 2**20


def _central_block(image):
    """The central block of ``image`` whose largest sides are halved until it holds at
    most :data:`_MAX_NOISE_VOXELS` values (white noise is stationary)."""
    shape = list(image.shape)
    while np.prod(shape) > _MAX_NOISE_VOXELS:
        axis = int(np.argmax(shape))
        shape[axis] = (shape[axis] + 1) // 2
    return image[tuple(slice((n - m) // 2, (n - m) // 2 + m)
                       for n, m in zip(image.shape, shape, strict=True))]


def estimate_noise_sigma(image, psf=None, *, fraction: float = 0.25) -> float:
    """White Gaussian noise level of a blurred image, from the frequencies the blur emptied.

    The image's periodic component (:func:`periodic_component`, no edge leakage) is
    Fourier transformed (unitary); white noise of deviation ``σ`` gives every frequency a
    power ``|ŷ(ω)|²`` exponentially distributed with mean ``σ²``, while the blurred signal
    has the power ``|ĥ(ω)|² |x̂(ω)|²``. The ``fraction`` of the frequencies where the
    signal is expected to be weakest — smallest ``|ĥ|² / |ω|²`` (the PSF's transfer
    function times the ``1/|ω|²`` spectrum of natural images), or smallest ``|ĥ|²``
    (the flat spectrum of point sources) — hold noise only, and
    ``σ² = median |ŷ|² / ln 2`` there (the median of an exponential; robust to the few
    frequencies a bright source or an edge still reaches); of the two, the smaller
    (signal only adds power). Without ``psf``,
    the highest frequencies are used. This replaces the MAD of the finest wavelet scale
    (Donoho & Johnstone 1994), which the signal that a PSF lets through at that scale
    biases upward on natural images (by 10–20 % measured); here the blur's effect is
    taken into account by the choice of frequencies. Images with NaN pixels or a side
    under 8 pixels fall back to that MAD (masked pixels break the Fourier statistics).
    A PSF that empties no band of frequencies (a motion line, a defocus disk) seen on
    bright point sources leaves signal in every frequency (25 % high on a star field at
    0.5 % noise under a motion line, 2.4 to 6.4 times under a disk of radius 3 at 0.3 to
    0.1 %), but in few pixels: the standard deviation of the finest starlet scale after
    3σ clipping (the sources' pixels) is then used where it is lower — not below half
    the Fourier estimate if over 1 % of that scale is exactly 0 (pixels without noise,
    which would lower it).

    3-D stacks are handled alike (n-D FFT, 3-D neighbourhoods), on their central
    block of at most ``2**20`` voxels.

    Parameters
    ----------
    image : 2-D or 3-D array
    psf : array of the same dimension, optional
        The PSF (centred at ``k // 2``) that blurred ``image``.
    fraction : float, default=0.25
        Share of the frequencies used (their count sets the accuracy: about
        ``0.72 / √(fraction · N / 2)`` relative standard error for ``N`` pixels).

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.deconv import estimate_noise_sigma
    >>> rng = np.random.default_rng(0)
    >>> yy, xx = np.mgrid[:256, :256]
    >>> smooth = np.exp(-((yy - 128) ** 2 + (xx - 128) ** 2) / 800)
    >>> round(estimate_noise_sigma(smooth + rng.normal(0, 0.05, smooth.shape)), 3)
    0.05
    """
    if image.ndim >= 3:
        image = _central_block(image)
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    xp = array_namespace(image)  # a CuPy image is measured on its device
    image = xp.asarray(image, dtype=xp.float64)
    # the unit of the data, a power of two (exact): the squared Fourier powers neither
    # overflow nor underflow in extreme units (1e±200), and σ(c·y) = c·σ(y) holds
    peak = float(xp.max(xp.abs(xp.where(xp.isnan(image), 0, image)))) if image.size else 0.0
    unit = math.ldexp(1.0, math.frexp(peak)[1]) if 0 < peak < math.inf else 1.0
    if unit != 1.0:
        return estimate_noise_sigma(image / unit, psf, fraction=fraction) * unit
    if bool(xp.isnan(image).any()) or min(image.shape) < 8:
        # masked pixels break the Fourier statistics, and a side under 8 pixels has too
        # few frequencies: the finest-scale MAD
        return _starlet_mad_sigma(to_host(image))
    spec = scipy_namespace(xp, "fft").rfftn(periodic_component(image), norm="ortho")
    power = xp.abs(spec.ravel()) ** 2
    estimates = []
    for order in _leakage_order(image.shape, psf, xp):
        # the order to 7 digits (log, float32): frequencies that tie in exact arithmetic
        # (symmetric ones) tie in the rounded values too, whatever FFT computed them
        # (cuFFT or pocketfft; unrounded, a last-bit difference moved the estimate by
        # 1e-3); then every frequency up to the k-th smallest, ties included
        with np.errstate(divide="ignore"):
            flat = xp.log(order.ravel()).astype(xp.float32)
        k = min(max(16, int(fraction * flat.size)), flat.size - 1)
        chosen = flat <= xp.partition(flat, k)[k]
        estimates.append(float(xp.median(power[chosen])) / np.log(2))
    # signal only adds power: the prior whose frequencies hold the least is the right one
    sigma = float(np.sqrt(min(estimates)))
    # sparse sources blurred by a PSF that empties no band (a motion line, a defocus
    # disk, whose transfer function has side lobes at every frequency) reach every
    # frequency but few pixels: the clipped finest scale then sees less of them. Where
    # it is lower it is used (the Fourier estimates can only be raised by signal), unless
    # the image has pixels without noise (clipped, padded: finest-scale coefficients that
    # are exactly 0, which Gaussian noise never makes), which would lower it: then not
    # below half the Fourier estimate
    clipped, exact = _starlet_clipped_sigma(to_host(_central_block(image)))
    floor = 0.5 * sigma if exact else 0.0
    return clipped if floor <= clipped < sigma else sigma


def noise_map_weights(noise_map, usable, name: str = "noise_map"):
    """``(σ_ref, W)`` of a per-pixel noise map over the ``usable`` pixels: ``σ_ref`` its
    median where it is finite (the noise of a unit-weight pixel: the thresholds' unit),
    ``W = σ_ref² / σ²`` (0 where the deviation is infinite or the pixel unusable).

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.deconv.noise import noise_map_weights
    >>> sigma, w = noise_map_weights(np.array([1.0, 2.0, 2.0, np.inf]), np.ones(4, bool))
    >>> sigma, w.tolist()
    (2.0, [4.0, 1.0, 1.0, 0.0])
    """
    noise = np.asarray(to_host(noise_map))
    if noise.dtype.kind not in "biuf":  # complex, strings, objects: no standard deviation
        raise TypeError(f"{name} must be a real array of standard deviations, got dtype "
                        f"{noise.dtype}")
    noise = noise.astype(np.float64)
    wrong = usable & (np.isnan(noise) | (noise <= 0))
    if wrong.any():
        raise ValueError(f"{name} has {int(wrong.sum())} NaN, zero or negative value(s) on "
                         "unmasked pixels; a standard deviation must be > 0 (inf marks an "
                         "unusable pixel)")
    usable = usable & np.isfinite(noise)
    if not usable.any():
        raise ValueError(f"{name} is infinite on every usable pixel: nothing is left to "
                         "deconvolve")
    sigma = float(np.median(noise[usable]))
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.where(usable, (sigma / noise) ** 2, 0.0)
    quiet = int(np.count_nonzero(weights > _MAX_WEIGHT))
    if quiet:
        import warnings

        from ..base import external_stacklevel

        warnings.warn(f"{name} has {quiet} pixel(s) more than {math.sqrt(_MAX_WEIGHT):.0f} "
                      f"times quieter than its median ({sigma:.3g}; the least "
                      f"{float(noise[usable].min()):.3g}): the iterations' steps shrink "
                      f"by their weight (up to {float(weights.max()):.3g}), and the fit "
                      "barely moves; check the map (a 0 read as a deviation?)", UserWarning,
                      stacklevel=external_stacklevel())
    return sigma, weights


def _starlet_mad_sigma(image) -> float:
    """MAD of the finest starlet plane; NaN pixels are ignored with the coefficients
    that touch them."""
    filled, bad = _fill_nan(image)
    plane = Starlet(image.shape, 2).forward(filled)[0]
    if bad is not None:
        from scipy.ndimage import binary_dilation

        plane = plane[~binary_dilation(bad, np.ones((5,) * image.ndim, bool))]
        if plane.size == 0:
            raise ValueError("image has too few valid pixels to estimate the noise level")
    return mad_std(plane) / float(starlet_noise_levels(2, image.ndim)[0])


def _starlet_clipped_sigma(image, n_sigma: float = 3.0) -> float:
    """Standard deviation of the finest starlet plane of a (host) image after iterative
    ``n_sigma`` clipping (:func:`scipy.stats.sigmaclip`: sources are the bright
    outliers), corrected for the clipping of a Gaussian and for the plane's gain on
    white noise, and whether over 1 % of the plane is exactly 0 (to 1e-9 of its
    largest value: pixels without noise, constant or linear). The caller passes a
    central block (:func:`_central_block`)."""
    from scipy import stats

    plane = Starlet(image.shape, 2).forward(image)[0]
    kept = stats.sigmaclip(plane, n_sigma, n_sigma).clipped
    size = np.abs(plane)
    exact = bool(np.mean(size <= 1e-9 * size.max()) > 0.01) if size.size else False
    return (float(kept.std() / stats.truncnorm(-n_sigma, n_sigma).std()
                  / starlet_noise_levels(2, image.ndim)[0]), exact)


def estimate_background(image, *, n_sigma: float = 3.0, max_iter: int = 10) -> float:
    """Sky level of an astronomical image: the median of the pixels left after iterative
    ``n_sigma`` clipping (sources are the bright outliers), as in SExtractor-style sky
    estimation. Meaningless for natural images, whose "background" is structure.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.deconv import estimate_background
    >>> rng = np.random.default_rng(0)
    >>> sky = 0.2 + 0.01 * rng.standard_normal((128, 128))
    >>> sky[60:70, 60:70] += 5.0  # a bright source
    >>> round(estimate_background(sky), 2)
    0.2
    """
    values = np.asarray(to_host(image), dtype=np.float64)
    values = values[np.isfinite(values)]
    for _ in range(max_iter):
        med, std = np.median(values), mad_std(values)
        keep = np.abs(values - med) <= n_sigma * std
        if keep.all() or keep.sum() < 10:
            break
        values = values[keep]
    return float(np.median(values))


def _box_sum(z, r: int):
    if r == 1:
        return z
    from scipy.ndimage import uniform_filter

    return uniform_filter(z, size=r, mode="wrap") * r * r


def coefficient_noise_std(transform, model, sigmas, *, include_coarse: bool = False,
                          per_position: bool = False) -> dict:
    """Noise standard deviation in each group of coefficients ``Φ ∇f`` of the gradient.

    The same for the analysis (Condat–Vũ) and the synthesis (FISTA, ``Ψ = Φᵀ``). With
    ``per_position`` (a stationary transform: one plane per group; unbinned bands), the
    deviation of each coefficient under a noise map: the group's, scaled by the mean
    weight of the pixels its atom sees (:func:`observed_energies`), a map per group
    (Starck, Murtagh & Fadili 2015 §8 propagate a noise map into the coefficients); the
    group's value without a map.

    Parameters
    ----------
    transform : StarletTransform or PywtTransform
        On the object grid of ``model``.
    model : BlurModel
        The bands (PSF spectra, ratios, weights).
    sigmas : sequence of float
        Noise standard deviation of each band.
    include_coarse : bool
        Also compute it for the coarse approximation (group ``-1``).

    Returns
    -------
    std : dict
        ``{group: σ_group}`` for every detail group (and ``-1`` with ``include_coarse``):
        floats, or arrays of the object grid's shape with ``per_position`` and a noise
        map.
    """
    out = {}
    labels = transform.plane_labels
    groups = set((np.unique(transform.groups) if labels is None else labels).tolist())
    energies = observed_energies if per_position else atom_energies
    for group in sorted(groups if include_coarse else groups - {-1}):
        var = sum(w**2 * sigma**2 * e for w, sigma, e in
                  zip(model.weights, sigmas, energies(transform, model, group),
                      strict=True))
        out[int(group)] = float(np.sqrt(var)) if np.ndim(var) == 0 else model.xp.sqrt(var)
    return out


def observed_energies(transform, model, group: int) -> list:
    """The blurred energy ``‖H_b a‖²`` of an atom of ``group`` (a stationary transform)
    for every unbinned band ``b``, times the mean pixel weight ``W_b`` of the observed
    pixels it reaches at each position ``p`` (weighted by its squared blurred profile
    there, a correlation by FFT on the object grid): one number per band without a noise
    map, a map per band with one.

    Only the weights' values enter, not where pixels are missing: an atom over a masked
    gap or past the frame's edge keeps the energy of one inside, so that the prior still
    fills where no data are (a threshold falling with the observed pixels, to 0 in a
    gap, left its coefficients free: −0.18 dB over a 50 × 20 NaN gap in 160² images).
    The shift of the centred atom stands for the atom at ``p``: exact for the periodic
    Haar frame; the starlet's mirror boundaries change atoms that reach the grid's edge
    (by up to 10 % of their energy at the coarsest scale of a 40² image)."""
    xp = model.xp
    if any(r != 1 for r in model.ratios):
        raise ValueError("per-position noise levels need unbinned bands (pixel ratios 1)")
    full = atom_energies(transform, model, group)
    spec = None
    centre = tuple(n // 2 for n in model.object_shape)
    energies = []
    for b, root in enumerate(model.masks):
        weights = None if root is None else root * root
        if weights is None or bool(((weights == 0) | (weights == 1)).all()):
            energies.append(full[b])  # unit weights on every observed pixel
            continue
        if spec is None:
            spec = model._forward_fft(xp.asarray(transform.atom(int(group)),
                                                 dtype=model.dtype))
        blurred = model._inverse_fft(spec * model.spectra[b]).astype(np.float64)
        profile = model._forward_fft(blurred * blurred).conj()

        def reach(values, profile=profile):  # Σ_i v_i g(i − p + c)²: correlation at p − c
            grid = xp.zeros(model.object_shape, dtype=np.float64)
            grid[model.crop] = values
            corr = model._inverse_fft(model._forward_fft(grid) * profile)
            return xp.roll(corr, centre, axis=model._axes)

        # in float64: an atom that sees a millionth of its energy still has a mean weight
        # (rounding, 1e-16 of the peak, would make one of a ratio of two noises); one that
        # sees less (far past the frame, where no datum reaches) keeps the group's value
        seen = reach((weights > 0).astype(np.float64))
        floor = 1e-6 * float(seen.max())
        mean = xp.where(seen > floor, reach(weights) / xp.maximum(seen, floor), 1)
        energies.append((full[b] * xp.clip(mean, 0, None)).astype(model.dtype))
    return energies


def atom_energies(transform, model, group: int) -> list:
    """``‖D_b H_b ψ‖² / r_b²`` for every band ``b`` of ``model``: the energy of one atom
    of ``group`` as band ``b`` sees it (blurred, binned), per pixel of the object grid."""
    xp = model.xp
    spec = model._forward_fft(xp.asarray(transform.atom(int(group)), dtype=model.dtype))
    energies = []
    for b, r in enumerate(model.ratios):
        blurred = model._inverse_fft(spec * model.spectra[b])
        if r == 1:  # on the device: no copy of the object grid to the host
            energy = float(xp.vdot(blurred, blurred).astype(np.float64))
        else:
            binned = _box_sum(to_host(blurred).astype(np.float64), r)
            energy = float((binned**2).sum())
        energies.append(energy / r**2)
    return energies


def multiresolution_support(image, sigma: float, n_scales: int, k_sigma: float = 3.0):
    """The significant starlet coefficients of ``image``: ``|w_j| > k_sigma σ_j``.

    ``σ_j`` is the level of white noise of deviation ``sigma`` in plane ``j``. The coarse
    plane is always in the support.

    Returns
    -------
    support : bool array of shape (n_scales, H, W)

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.deconv.noise import multiresolution_support
    >>> image = np.zeros((32, 32)); image[16, 16] = 1.0
    >>> m = multiresolution_support(image, 0.01, 3)
    >>> bool(m[0, 16, 16]), bool(m[0, 0, 0]), bool(m[-1].all())
    (True, False, True)
    """
    image = np.asarray(to_host(image), dtype=np.float64)
    filled, _ = _fill_nan(image)
    planes = Starlet(image.shape, n_scales).forward(filled)
    levels = starlet_noise_levels(n_scales)
    support = np.abs(planes) > k_sigma * sigma * levels[:, None, None]
    support[-1] = True
    return support
