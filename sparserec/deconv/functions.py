"""The function form of the deconvolution, in the style of :mod:`skimage.restoration`.

:func:`deconvolve` takes an image and a PSF and returns the deconvolved image, of the
input's kind: a NumPy array, a NumPy masked array (the mask kept), an astropy
``NDData``/``CCDData`` (mask, unit, WCS and meta kept, the same class returned) or a
CuPy array; 2-D images or 3-D stacks with a 3-D PSF. Bad pixels (``mask=``, the masked
array's mask, ``NDData.mask``) get no weight in the data term: the sparse prior fills
them in, never the data. A noise map (``noise=`` or ``NDData.uncertainty``) weights the
data term by inverse variance.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..backend import array_namespace, is_cupy_array
from .methods import METHODS, SPARSE_METHODS
from .noise import noise_map_weights

__all__ = ["deconvolve"]


def _unwrap(image):
    """``(data, mask, noise map, rebuild)`` of an array, masked array or NDData."""
    if hasattr(image, "data") and hasattr(image, "uncertainty") and hasattr(image, "wcs"):
        data = np.asarray(image.data)
        mask = None if image.mask is None else np.asarray(image.mask, dtype=bool)
        noise = _uncertainty_std(image.uncertainty)

        def rebuild(out):
            kwargs = {"mask": image.mask, "wcs": image.wcs, "meta": image.meta}
            if getattr(image, "unit", None) is not None:
                kwargs["unit"] = image.unit
            return type(image)(out, **kwargs)

        return data, mask, noise, rebuild
    if isinstance(image, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(image)
        return np.asarray(image.data), mask, None, lambda out: np.ma.MaskedArray(out, mask=mask)
    return image, None, None, lambda out: out


def _uncertainty_std(uncertainty):
    """Standard deviation per pixel of an astropy uncertainty (or ``None``)."""
    if uncertainty is None:
        return None
    values = np.asarray(uncertainty.array, dtype=np.float64)
    kind = type(uncertainty).__name__
    if kind == "VarianceUncertainty":
        return np.sqrt(values)
    if kind == "InverseVariance":
        with np.errstate(divide="ignore"):
            return 1.0 / np.sqrt(values)
    return values  # StdDevUncertainty and unknown kinds: a standard deviation


def _check_mask(mask, shape, name: str = "mask"):
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise TypeError(f"{name} must be a boolean array (True = bad pixel), got dtype "
                        f"{mask.dtype}")
    if mask.shape != tuple(shape):
        raise ValueError(f"{name} must have the image's shape {tuple(shape)}, got "
                         f"{mask.shape}")
    if mask.all():
        raise ValueError(f"{name} hides every pixel: nothing is left to deconvolve")
    return mask


def _noise_level(noise, shape, bad):
    """``(sigma, noise map, bad)``: a scalar noise level, or a per-pixel noise map (its
    zeros, negatives and NaN refused), and the pixels a map marks unusable (infinite
    deviation)."""
    if noise is None:
        return None, None, bad
    if (isinstance(noise, numbers.Real) and not isinstance(noise, bool)) or (
            isinstance(noise, np.ndarray) and noise.shape == () and noise.dtype.kind in "iuf"):
        if not (np.isfinite(noise) and noise >= 0):
            raise ValueError(f"noise must be a finite number >= 0 or a noise map, got {noise!r}")
        return float(noise), None, bad
    noise = np.asarray(noise)  # its dtype is checked with its values (noise_map_weights)
    if noise.shape != tuple(shape):
        raise ValueError(f"noise must be a number or a map of the image's shape "
                         f"{tuple(shape)}, got shape {noise.shape}")
    usable = ~bad if bad is not None else np.ones(shape, dtype=bool)
    sigma, weights = noise_map_weights(noise, usable, "noise map")
    return sigma, noise, weights == 0  # the masked pixels and the infinite deviations


def _deconvolve_plane(plane, psf, method, bad, sigma, noise_map, params):
    from .baselines import (
        richardson_lucy_deconvolution,
        tikhonov_deconvolution,
        wiener_deconvolution,
    )
    from .estimators import WaveletDeconvolution

    if method in SPARSE_METHODS:
        if bad is not None and bad.any():
            xp = array_namespace(plane)
            plane = xp.where(xp.asarray(bad), xp.nan, plane)
        kwargs = {**SPARSE_METHODS[method], **params}
        if noise_map is not None:  # inverse-variance weights (masked pixels are NaN)
            return WaveletDeconvolution(psf, **kwargs).fit(plane, noise_map=noise_map).image_
        if sigma is not None:
            kwargs["noise_sigma"] = sigma
        return WaveletDeconvolution(psf, **kwargs).fit(plane).image_
    if bad is not None and bad.any():
        raise ValueError(f"method={method!r} cannot leave masked pixels out of the data; use "
                         "method='auto', 'starlet' or 'wavelet' with a mask")
    func = {"tikhonov": tikhonov_deconvolution, "wiener": wiener_deconvolution,
            "richardson-lucy": richardson_lucy_deconvolution}[method]
    if plane.ndim == 3 and method != "richardson-lucy":
        raise ValueError(f"method={method!r} deconvolves 2-D images; a 3-D stack takes "
                         "method='auto', 'starlet' or 'richardson-lucy'")
    return func(plane, psf, **params)


def deconvolve(image, psf, *, method: str = "auto", mask=None, noise=None,
               channel_axis: int | None = None, clip: bool = False,
               preserve_range: bool = False, **params):
    """Deconvolve an image with a known PSF, with any of :data:`~.methods.METHODS`.

    Parameters
    ----------
    image : array, masked array, astropy ``NDData``/``CCDData`` or CuPy array
        A 2-D image; a 3-D stack (z, y, x) deconvolved as a volume with a 3-D PSF
        (``method="auto"``, ``"starlet"`` or ``"richardson-lucy"``); or a stack of 2-D planes along
        ``channel_axis`` (colour, bands, or z-planes with a 2-D PSF: deconvolved one by one
        with the same PSF).
    psf : 2-D array, or 3-D for a 3-D stack
        The PSF, centred at ``k // 2``, on the image's pixel grid.
    method : {"auto", "starlet", "wavelet", "tikhonov", "wiener", "richardson-lucy"}
        ``"auto"`` (default): :class:`~sparserec.WaveletDeconvolution` with its defaults
        (the SURE-weighted mixture of the starlet, Haar, Richardson–Lucy
        and Wiener–Hunt paths);
        ``"starlet"``/``"wavelet"``: the same with ``wavelet="starlet"`` or ``"sym4"``
        unless given; the others are the baselines of :mod:`sparserec.deconv.baselines`.
    mask : bool array, optional
        True for bad pixels (cosmic rays, dead columns); merged with the mask of a masked
        array or ``NDData``. Masked pixels have no weight in the data term and are filled
        by the sparse prior (the baselines cannot mask and refuse a mask).
    noise : float or array, optional
        The noise standard deviation, or a map of it per pixel (``NDData.uncertainty``
        gives one). A map weights the sparse methods' data term pixel by pixel by
        ``σ_ref² / σ_i²`` (inverse variance; ``σ_ref`` is the map's median over the
        usable pixels), sets each coefficient's threshold and the risk estimate from
        the noise it carries, and masks the pixels whose deviation is infinite; zeros,
        negatives and NaN are refused. The baselines (Tikhonov, Wiener,
        Richardson–Lucy) have no noise term and ignore it. By default the level is
        estimated.
    channel_axis : int, optional
        The axis of the channels of a multi-channel image.
    clip : bool
        Clip the result to ``[-1, 1]``, as scikit-image's ``clip=True`` does for images
        in its float range.
    preserve_range : bool
        Integer images are scaled to ``[0, 1]`` (``[-1, 1]`` for signed types) as
        :func:`skimage.util.img_as_float` does, unless ``preserve_range``; float images
        are never rescaled (float in, float out).
    **params
        Passed to the method (the estimator's parameters, or the baseline's).

    Returns
    -------
    deconvolved : same kind as ``image``
        A masked array keeps its mask, ``NDData`` its mask, unit, WCS and meta (not its
        uncertainty, which no longer applies), CuPy input gives CuPy output.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.datasets import make_blurred_image, make_sky_field
    >>> from sparserec.deconv import deconvolve, gaussian_psf
    >>> sky = make_sky_field((64, 64), n_stars=5, random_state=0).image
    >>> psf = gaussian_psf(9, sigma=1.5)
    >>> obs = make_blurred_image(sky, psf, noise_sigma=0.01, random_state=0).noisy
    >>> mask = np.zeros(obs.shape, bool); mask[10, 20] = True; obs[10, 20] = 1e3  # a hit
    >>> out = deconvolve(obs, psf, mask=mask, max_iter=100)
    >>> bool(out[10, 20] < 1)  # filled by the prior, not by the masked value
    True
    """
    from ..base import check_option

    check_option(method, "method", METHODS)
    data, own_mask, own_noise, rebuild = _unwrap(image)
    if not is_cupy_array(data):
        data = np.asarray(data)
        if data.dtype.kind in "iu" and not preserve_range:
            from skimage.util import img_as_float

            data = img_as_float(data)
        elif data.dtype.kind == "c":
            raise TypeError("image is complex; deconvolve its real and imaginary parts (or "
                            "its modulus) separately")
    if channel_axis is not None:
        if not isinstance(channel_axis, numbers.Integral) or not \
                -data.ndim <= channel_axis < data.ndim:
            raise ValueError(f"channel_axis must be an axis of the {data.ndim}-D image, got "
                             f"{channel_axis!r}")
        channel_axis = int(channel_axis) % data.ndim
    elif data.ndim == 3:
        if np.ndim(psf) != 3:
            raise ValueError(f"psf is {np.ndim(psf)}-D but image is a 3-D stack {data.shape}: "
                             "pass a 3-D PSF (z, y, x), or channel_axis=0 to deconvolve each "
                             "plane with the 2-D PSF")
    elif data.ndim != 2:
        raise ValueError(f"image must be 2-D or a 3-D stack, or give channel_axis for a "
                         f"multi-channel image; got shape {data.shape}")
    shape = data.shape
    bad = own_mask
    if mask is not None:
        mask = _check_mask(mask, shape)
        bad = mask if bad is None else (bad | mask)
    elif bad is not None:
        bad = _check_mask(bad, shape, "the image's mask")
    sigma, noise_map, bad = _noise_level(own_noise if noise is None else noise, shape, bad)
    if channel_axis is None:
        out = _deconvolve_plane(data, psf, method, bad, sigma, noise_map, params)
    else:
        xp = array_namespace(data)
        planes = []
        for c in range(shape[channel_axis]):
            take = [slice(None)] * data.ndim
            take[channel_axis] = c
            plane_bad = None if bad is None else bad[tuple(take)]
            plane_noise = None if noise_map is None else noise_map[tuple(take)]
            planes.append(_deconvolve_plane(data[tuple(take)], psf, method, plane_bad, sigma,
                                            plane_noise, params))
        out = xp.stack(planes, axis=channel_axis)
    if clip:
        out = array_namespace(out).clip(out, -1, 1)
    return rebuild(out)
