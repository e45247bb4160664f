"""Noise level, its propagation into the coefficients, and the multi-resolution support.

- :func:`estimate_noise_sigma`: white Gaussian noise level of an image from the median
  absolute deviation (MAD) of its finest starlet plane, which holds little signal.
- :func:`coefficient_noise_std`: standard deviation, per group of coefficients, of the
  noise that the data term's gradient carries into the transform domain; the
  thresholds are ``k_sigma`` times it (Starck, Murtagh & Fadili 2015, ch. 8). Computed
  exactly from the filters' energies: for a coefficient whose atom is ``a``, the
  gradient noise ``Σ_b w_b H_bᵀ D_bᵀ n_b`` has variance ``Σ_b w_b² σ_b² ‖D_b H_b a‖²``,
  averaged over the ``r × r`` phases of a binned band.
- :func:`multiresolution_support`: the significant starlet coefficients of an image.
"""

from __future__ import annotations

import numpy as np

from ..backend import array_namespace, to_host
from .starlet import Starlet, starlet_noise_levels

__all__ = ["mad_std", "estimate_noise_sigma", "estimate_background",
           "coefficient_noise_std", "multiresolution_support"]

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


def estimate_noise_sigma(image) -> float:
    """White Gaussian noise level of ``image`` by MAD on its finest starlet plane.

    NaN pixels are ignored (with the finest-plane coefficients that touch them).

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
    xp = array_namespace(image)
    if xp is not np and not bool(xp.isnan(image).any()):
        # on the GPU: the finest plane and its MAD on the device (scipy.stats runs on the
        # host only); the same statistic as mad_std
        plane = Starlet(image.shape, 2, "cupy", image.dtype).forward(image)[0]
        mad = xp.median(xp.abs(plane - xp.median(plane)))
        return float(mad) / _NORMAL_MAD / float(starlet_noise_levels(2)[0])
    image = np.asarray(to_host(image), dtype=np.float64)
    filled, bad = _fill_nan(image)
    plane = Starlet(image.shape, 2).forward(filled)[0]
    if bad is not None:
        from scipy.ndimage import binary_dilation

        plane = plane[~binary_dilation(bad, np.ones((5, 5), bool))]
        if plane.size == 0:
            raise ValueError("image has too few valid pixels to estimate the noise level")
    return mad_std(plane) / float(starlet_noise_levels(2)[0])


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


def coefficient_noise_std(transform, model, sigmas, *, include_coarse: bool = False) -> dict:
    """Noise standard deviation in each group of coefficients ``Φ ∇f`` of the gradient.

    The same for the analysis (Condat–Vũ) and the synthesis (FISTA, ``Ψ = Φᵀ``).

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
        ``{group: σ_group}`` for every detail group (and ``-1`` with ``include_coarse``).
    """
    from ..backend import to_host

    xp = model.xp
    fft = model._fft
    out = {}
    labels = transform.plane_labels
    groups = set((np.unique(transform.groups) if labels is None else labels).tolist())
    for group in sorted(groups if include_coarse else groups - {-1}):
        atom = xp.asarray(transform.atom(int(group)), dtype=model.dtype)
        spec = fft.rfft2(atom, **model._kw)
        var = 0.0
        for b, sigma in enumerate(sigmas):
            blurred = fft.irfft2(spec * model.spectra[b], s=model.object_shape, **model._kw)
            r = model.ratios[b]
            if r == 1:  # on the device: no copy of the object grid to the host
                energy = float(xp.vdot(blurred, blurred).astype(np.float64))
            else:
                binned = _box_sum(to_host(blurred).astype(np.float64), r)
                energy = float((binned**2).sum())
            var += model.weights[b] ** 2 * sigma**2 * energy / r**2
        out[int(group)] = float(np.sqrt(var))
    return out


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
