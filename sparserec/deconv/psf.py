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

__all__ = ["gaussian_psf", "moffat_psf", "airy_psf", "check_psf", "psf_model", "PSF_MODELS",
           "psf_from_star", "fit_psf", "resample_psf", "radial_profile_psf"]

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


def _profile(name: str, r, fwhm: float, beta: float = 4.765):
    """The unnormalised circular profile ``name`` of a given FWHM at radii ``r``."""
    if name == "gaussian":
        return np.exp(-0.5 * (r * (2 * math.sqrt(2 * math.log(2))) / fwhm) ** 2)
    if name == "moffat":
        alpha = fwhm / (2 * math.sqrt(2 ** (1 / beta) - 1))
        return (1 + (r / alpha) ** 2) ** (-beta)
    from scipy.special import j1

    x = 2 * _AIRY_HALF_MAX * r / fwhm
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x > 0, (2 * j1(x) / np.where(x > 0, x, 1)) ** 2, 1.0)


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
    psf = _profile("gaussian", _radius(shape), s * 2 * math.sqrt(2 * math.log(2)))
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
    shape = _shape(shape, 4 * fwhm)
    psf = _profile("moffat", _radius(shape), fwhm, beta)
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
    if (fwhm is None) == (first_zero is None):
        raise ValueError("give exactly one of first_zero and fwhm")
    if first_zero is None:
        first_zero = _positive(fwhm, "fwhm") * _J1_FIRST_ZERO / (2 * _AIRY_HALF_MAX)
    r0 = _positive(first_zero, "first_zero")
    shape = _shape(shape, 4 * r0)
    psf = _profile("airy", _radius(shape), r0 * 2 * _AIRY_HALF_MAX / _J1_FIRST_ZERO)
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
        if len(image_shape) != 2:
            raise ValueError(f"{name} of shape {tuple(psf_shape)} is larger than {image_name} "
                             f"of shape {tuple(image_shape)}; crop the PSF to at most the "
                             "image size")
        h, w = image_shape
        raise ValueError(f"{name} of shape {tuple(psf_shape)} is larger than {image_name} of "
                         f"shape {tuple(image_shape)} ({h} rows: n_samples = {h}, {w} columns: "
                         f"n_features = {w}); crop the PSF to at most the image size")


def check_psf(psf, image_shape=None, *, name: str = "psf", rtol: float = 1e-3,
              ndim=2) -> np.ndarray:
    """Validate a PSF and return it as float64 normalised to sum 1.

    A PSF whose sum differs from 1 by more than ``rtol`` (relative) is normalised with a
    warning, so that the deconvolution conserves flux; one whose centroid lies more
    than one pixel from the centre ``k // 2`` gives a warning (the result would be
    shifted).

    Raises
    ------
    ValueError
        If the PSF is not an array of ``ndim`` dimensions (2, or 3 for a z-stack) of
        finite numbers with a positive sum, or is larger than the image along an axis.

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
    psf = np.array(to_host(check_finite_array(psf, name, ndim=ndim)), dtype=np.float64)
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
                         for a in range(psf.ndim)])
    if np.any(np.abs(centroid - centre) > 1):
        where = tuple(round(float(c), 2) for c in centroid)  # plain numbers, no np.float64(…)
        warnings.warn(f"{name} centroid {where} is more than one pixel from the centre "
                      f"{tuple(k // 2 for k in psf.shape)} (index k // 2); the deconvolved "
                      "image will be shifted accordingly", UserWarning,
                      stacklevel=external_stacklevel())
    return psf


# ------------------------------------------------------------------ PSF tools
def _centroid(img):
    total = img.sum()
    rows, cols = np.indices(img.shape)
    return float((rows * img).sum() / total), float((cols * img).sum() / total)


def psf_from_star(image, *, size: int, center=None) -> np.ndarray:
    """A PSF from the image of an isolated star (or a PSF file's array).

    Cuts a ``size × size`` stamp (``size`` odd) around ``center`` (default: the brightest
    pixel), subtracts the sky (the median of the stamp's border), moves the star's
    centroid to the stamp's centre ``size // 2`` by a sub-pixel Fourier shift, clips the
    negative noise to zero and normalises to sum 1.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.ndimage import shift
    >>> from sparserec.deconv import gaussian_psf
    >>> from sparserec.deconv.psf import psf_from_star
    >>> field = np.zeros((64, 64)); field[20:35, 30:45] = gaussian_psf(15, sigma=2.0)
    >>> psf = psf_from_star(shift(field, (0.3, -0.4)), size=15)
    >>> psf.shape, bool(np.unravel_index(psf.argmax(), psf.shape) == (7, 7))
    ((15, 15), True)
    """
    from scipy.ndimage import fourier_shift

    from ..base import check_finite_array

    image = np.asarray(check_finite_array(image, "image", ndim=2), dtype=np.float64)
    if not isinstance(size, numbers.Integral) or size < 3 or size % 2 == 0:
        raise ValueError(f"size must be an odd integer >= 3, got {size!r}")
    if size > min(image.shape):
        raise ValueError(f"size={size} is larger than the image {image.shape}")
    if center is None:
        center = np.unravel_index(int(np.argmax(image)), image.shape)
    half = size // 2
    r0, c0 = (min(max(int(round(c)), half), n - 1 - half)
              for c, n in zip(center, image.shape, strict=True))
    stamp = image[r0 - half:r0 + half + 1, c0 - half:c0 + half + 1].copy()
    border = np.concatenate([stamp[0], stamp[-1], stamp[1:-1, 0], stamp[1:-1, -1]])
    stamp -= np.median(border)
    if not stamp.sum() > 0:
        raise ValueError("image has no star above the sky in the stamp: give center")
    cy, cx = _centroid(np.clip(stamp, 0, None))
    stamp = np.fft.ifft2(fourier_shift(np.fft.fft2(stamp), (half - cy, half - cx))).real
    stamp = np.clip(stamp, 0, None)
    return stamp / stamp.sum()


def fit_psf(star, model: str = "moffat"):
    """Fit a circular Gaussian, Moffat or Airy model to the image of a star.

    Least squares (:func:`scipy.optimize.least_squares`) over the amplitude, the sub-pixel
    centre, the FWHM, a constant sky and (Moffat) the exponent ``β``.

    Returns
    -------
    psf : ndarray
        The fitted model, centred at ``k // 2`` of the star's shape, normalised to sum 1.
    params : dict
        ``fwhm``, ``center`` (row, col), ``sky``, ``amplitude`` and, for Moffat, ``beta``.

    Examples
    --------
    >>> from sparserec.deconv import moffat_psf
    >>> from sparserec.deconv.psf import fit_psf
    >>> psf, params = fit_psf(moffat_psf(25, fwhm=4.0, beta=3.0), "moffat")
    >>> round(params["fwhm"], 3), round(params["beta"], 3)
    (4.0, 3.0)
    """
    from scipy.optimize import least_squares

    from ..base import check_finite_array, check_option

    check_option(model, "model", PSF_MODELS)
    star = np.asarray(check_finite_array(star, "star", ndim=2), dtype=np.float64)
    rows, cols = np.indices(star.shape, dtype=np.float64)
    peak = float(star.max())
    cy, cx = np.unravel_index(int(np.argmax(star)), star.shape)
    half_max = star > star.min() + 0.5 * (peak - star.min())
    fwhm0 = max(2 * math.sqrt(half_max.sum() / math.pi), 1.0)

    def profile(p):
        r = np.hypot(rows - p[1], cols - p[2])
        beta = p[5] if model == "moffat" else 4.765
        return p[0] * _profile(model, r, p[3], beta) + p[4]

    start = [peak, cy, cx, fwhm0, float(np.median(star))] + ([3.0] if model == "moffat" else [])
    lower = [0, -np.inf, -np.inf, 1e-3, -np.inf] + ([0.5] if model == "moffat" else [])
    fit = least_squares(lambda p: (profile(p) - star).ravel(), start,
                        bounds=(lower, [np.inf] * len(start)), x_scale="jac")
    p = fit.x
    params = {"amplitude": float(p[0]), "center": (float(p[1]), float(p[2])),
              "fwhm": float(p[3]), "sky": float(p[4])}
    if model == "moffat":
        params["beta"] = float(p[5])
    psf = _profile(model, _radius(star.shape), p[3], params.get("beta", 4.765))
    return psf / psf.sum(), params


def resample_psf(psf, factor: float) -> np.ndarray:
    """A PSF sampled ``factor`` times finer (``factor > 1``) or coarser, to the data's
    pixel scale (``factor = psf pixel size / data pixel size``), flux kept.

    Cubic-spline interpolation (:func:`scipy.ndimage.zoom`) about the centre; the
    result has an odd shape centred at ``k // 2`` and sums to 1.

    Examples
    --------
    >>> from sparserec.deconv import gaussian_psf
    >>> from sparserec.deconv.psf import fit_psf, resample_psf
    >>> fine = resample_psf(gaussian_psf(21, fwhm=3.0), 2.0)
    >>> round(fit_psf(fine, "gaussian")[1]["fwhm"], 1)
    6.0
    """
    from scipy.ndimage import map_coordinates

    psf = check_psf(psf, rtol=np.inf)  # any normalisation: the result sums to 1
    factor = _positive(factor, "factor")
    side = [2 * int(math.floor((k // 2) * factor)) + 1 for k in psf.shape]
    grid = [(np.arange(n) - n // 2) / factor + k // 2 for n, k in zip(side, psf.shape,
                                                                      strict=True)]
    rows, cols = np.meshgrid(*grid, indexing="ij")
    out = np.clip(map_coordinates(psf, [rows, cols], order=3, mode="constant"), 0, None)
    return out / out.sum()


def radial_profile_psf(psf) -> np.ndarray:
    """The rotational average of a PSF about its centre ``k // 2``: a circular PSF.

    The PSF is averaged over one-pixel-wide annuli; each pixel gets that profile
    interpolated linearly (between the annuli's mean radii) at its radius; normalised to
    sum 1.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.deconv.psf import radial_profile_psf
    >>> rows, cols = np.indices((15, 15)) - 7
    >>> elliptic = np.exp(-(rows / 3.0) ** 2 - (cols / 1.5) ** 2)
    >>> round_psf = radial_profile_psf(elliptic)
    >>> bool(np.allclose(round_psf, round_psf.T))
    True
    """
    psf = check_psf(psf, rtol=np.inf)  # any normalisation: the result sums to 1
    r = _radius(psf.shape)
    ring = np.floor(r + 0.5).astype(int).ravel()
    counts = np.bincount(ring)
    filled = counts > 0
    radius = np.bincount(ring, r.ravel())[filled] / counts[filled]  # each annulus' mean radius
    mean = np.bincount(ring, psf.ravel())[filled] / counts[filled]
    out = np.interp(r, radius, mean)
    return out / out.sum()
