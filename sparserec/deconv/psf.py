"""Point-spread functions: Gaussian, Moffat and Airy models, and the check of a given PSF.

Every PSF here is an array centred at index ``k // 2`` along each axis (the convention
of :mod:`scipy.ndimage` and :class:`sparserec.operators.Convolution`) and sums to 1.
Models are sampled at pixel centres; keep the FWHM above about 1.5 pixels for the
sampled profile to match the continuous one.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from .._config import check_dense_size

__all__ = ["gaussian_psf", "moffat_psf", "airy_psf", "check_psf", "psf_model", "PSF_MODELS"]

_J1_FIRST_ZERO = 3.8317059702075125  # first zero of the Bessel function J1
_AIRY_HALF_MAX = 1.616339948310703  # x where (2 J1(x) / x)² = 1/2


def _shape(shape, default: float) -> tuple[int, int]:
    if shape is None:
        side = 2 * math.ceil(default) + 1
        return side, side
    if isinstance(shape, numbers.Integral):
        shape = (shape, shape)
    shape = tuple(shape)
    if len(shape) != 2 or not all(isinstance(s, numbers.Integral) and s >= 1 for s in shape):
        raise ValueError(f"shape (the PSF size) must be a positive int or a pair of them, "
                         f"got {shape!r}")
    check_dense_size(shape, np.float64, "the PSF size (shape)")
    return int(shape[0]), int(shape[1])


def _radius(shape):
    rows, cols = np.indices(shape, dtype=np.float64)
    return np.hypot(rows - shape[0] // 2, cols - shape[1] // 2)


def _positive(value, name):
    if value is None or not isinstance(value, numbers.Real) or not value > 0 \
            or not math.isfinite(value):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def gaussian_psf(shape=None, *, fwhm: float | None = None,
                 sigma: float | None = None) -> np.ndarray:
    """A circular Gaussian PSF, ``exp(-r² / 2σ²)``, normalised to sum 1.

    Parameters
    ----------
    shape : int or (int, int), optional
        Array shape; by default odd and ``≥ 8σ`` wide.
    fwhm, sigma : float
        Width, given either way (``fwhm = 2 √(2 ln 2) σ``).

    Examples
    --------
    >>> from sparserec.deconv import gaussian_psf
    >>> psf = gaussian_psf(15, sigma=2.0)
    >>> psf.shape, round(float(psf.sum()), 6), bool(psf[7, 7] == psf.max())
    ((15, 15), 1.0, True)
    """
    if (fwhm is None) == (sigma is None):
        raise ValueError("give exactly one of fwhm and sigma")
    s = _positive(sigma, "sigma") if sigma is not None else \
        _positive(fwhm, "fwhm") / (2 * math.sqrt(2 * math.log(2)))
    shape = _shape(shape, 4 * s)
    psf = np.exp(-0.5 * (_radius(shape) / s) ** 2)
    return psf / psf.sum()


def moffat_psf(shape=None, *, fwhm: float, beta: float = 4.765) -> np.ndarray:
    """A circular Moffat PSF, ``(1 + r²/α²)^(−β)``, normalised to sum 1.

    ``α = fwhm / (2 √(2^{1/β} − 1))``. The default ``β = 4.765`` is the value that
    turbulence theory predicts for seeing-limited images (Trujillo et al. 2001).

    Examples
    --------
    >>> from sparserec.deconv import moffat_psf
    >>> psf = moffat_psf(21, fwhm=4.0, beta=3.0)
    >>> round(float(psf.sum()), 6), bool((psf == psf.T).all())
    (1.0, True)
    """
    fwhm = _positive(fwhm, "fwhm")
    beta = _positive(beta, "beta")
    alpha = fwhm / (2 * math.sqrt(2 ** (1 / beta) - 1))
    shape = _shape(shape, 4 * fwhm)
    psf = (1 + (_radius(shape) / alpha) ** 2) ** (-beta)
    return psf / psf.sum()


def airy_psf(shape=None, *, first_zero: float | None = None,
             fwhm: float | None = None) -> np.ndarray:
    """The Airy pattern of a circular aperture, ``(2 J₁(x)/x)²``, normalised to sum 1.

    Parameters
    ----------
    shape : int or (int, int), optional
        Array shape; by default odd and four first-dark-ring radii wide on each side.
    first_zero : float
        Radius of the first dark ring in pixels (``1.22 λ/D``), or
    fwhm : float
        The full width at half maximum (``0.8437 ×`` the first-zero radius).

    Examples
    --------
    >>> from sparserec.deconv import airy_psf
    >>> psf = airy_psf(33, first_zero=4.0)
    >>> bool(psf[16, 20] < 1e-3 * psf[16, 16]), round(float(psf.sum()), 6)
    (True, 1.0)
    """
    from scipy.special import j1

    if (fwhm is None) == (first_zero is None):
        raise ValueError("give exactly one of first_zero and fwhm")
    if first_zero is None:
        first_zero = _positive(fwhm, "fwhm") * _J1_FIRST_ZERO / (2 * _AIRY_HALF_MAX)
    r0 = _positive(first_zero, "first_zero")
    shape = _shape(shape, 4 * r0)
    x = _J1_FIRST_ZERO * _radius(shape) / r0
    with np.errstate(invalid="ignore", divide="ignore"):
        psf = np.where(x > 0, (2 * j1(x) / x) ** 2, 1.0)
    return psf / psf.sum()


_MODELS = {"gaussian": gaussian_psf, "moffat": moffat_psf, "airy": airy_psf}
#: The names :func:`psf_model` accepts.
PSF_MODELS = tuple(_MODELS)


def psf_model(name: str, fwhm: float, shape=None) -> np.ndarray:
    """The PSF model ``name`` (``"gaussian"``, ``"moffat"``, ``"airy"``) of a given FWHM.

    Examples
    --------
    >>> from sparserec.deconv.psf import psf_model
    >>> psf_model("moffat", 3.0).shape
    (25, 25)
    """
    from ..base import check_option

    check_option(name, "psf_model", PSF_MODELS)
    return _MODELS[name](shape, fwhm=fwhm)


def check_psf_size(psf_shape, image_shape, name: str = "psf", *,
                   image_name: str = "the image") -> None:
    """Refuse a PSF larger than the image along an axis, naming both shapes."""
    if any(k > n for k, n in zip(psf_shape, image_shape, strict=True)):
        h, w = image_shape
        raise ValueError(f"{name} of shape {tuple(psf_shape)} is larger than {image_name} of "
                         f"shape {tuple(image_shape)} ({h} rows: n_samples = {h}, {w} columns: "
                         f"n_features = {w}); crop the PSF to at most the image size")


def check_psf(psf, image_shape=None, *, name: str = "psf", rtol: float = 1e-3) -> np.ndarray:
    """Validate a PSF and return it as float64 normalised to sum 1.

    A PSF whose sum differs from 1 by more than ``rtol`` (relative) is normalised with a
    warning, so that the deconvolution conserves flux; one whose centroid lies more
    than one pixel from the centre ``k // 2`` gives a warning (the result would be
    shifted).

    Raises
    ------
    ValueError
        If the PSF is not a 2-D array of finite numbers with a positive sum, or is
        larger than the image along an axis.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.deconv.psf import check_psf
    >>> check_psf(np.ones((3, 3)) / 9).sum()
    np.float64(1.0)
    """
    from ..backend import to_host
    from ..base import check_finite_array, external_stacklevel

    if psf is None:
        raise ValueError(f"{name} must be given: a 2-D array centred at k // 2 "
                         "(see sparserec.deconv.gaussian_psf / moffat_psf / airy_psf)")
    psf = np.array(to_host(check_finite_array(psf, name, ndim=2)), dtype=np.float64)
    total = float(psf.sum())
    if not total > 0:
        raise ValueError(f"{name} must have a positive sum, got {total:.6g}")
    if image_shape is not None:
        check_psf_size(psf.shape, image_shape, name)
    if abs(total - 1) > rtol:
        warnings.warn(f"{name} sums to {total:.6g}, not 1; it was normalised to sum 1 "
                      "(the deconvolved image conserves the observed flux)",
                      UserWarning, stacklevel=external_stacklevel())
    psf /= total
    centre = np.array([k // 2 for k in psf.shape], dtype=float)
    weights = np.abs(psf)
    centroid = np.array([(np.indices(psf.shape)[a] * weights).sum() / weights.sum()
                         for a in range(2)])
    if np.any(np.abs(centroid - centre) > 1):
        warnings.warn(f"{name} centroid {tuple(np.round(centroid, 2))} is more than one "
                      f"pixel from the centre {tuple(centre)} (index k // 2); the "
                      "deconvolved image will be shifted accordingly", UserWarning,
                      stacklevel=external_stacklevel())
    return psf
