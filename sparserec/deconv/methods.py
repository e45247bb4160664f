"""The deconvolution methods behind ``sparserec deconvolve``, on arrays.

:func:`deconvolve_array` deconvolves one 2-D image with one of :data:`METHODS` (the
sparse estimator or a baseline) and returns the image, its model and the parameters a
file header records. :data:`PSF_MODELS` names the PSF models of
:func:`sparserec.deconv.psf.psf_model`. Files (reading, writing, reports) are the
application layer's: :mod:`sparserec.imaging`.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import Bunch, check_scalar

from ..backend import array_namespace, to_host
from ..utils.threads import thread_limited
from .psf import PSF_MODELS

__all__ = ["METHODS", "PSF_MODELS", "deconvolve_array"]

#: The methods of :func:`deconvolve_array`.
METHODS = ("auto", "starlet", "wavelet", "tikhonov", "wiener", "richardson-lucy")
#: The sparse methods' settings of :class:`~sparserec.WaveletDeconvolution` (``"auto"``:
#: its defaults), shared by every entry point.
SPARSE_METHODS = {"auto": {}, "starlet": {"wavelet": "starlet"}, "wavelet": {"wavelet": "sym4"}}


def check_noise_map_method(method: str) -> None:
    """Refuse a noise map for a baseline ``method``: only the sparse methods have a
    weighted data term (every entry point asks before any work)."""
    if method not in SPARSE_METHODS:
        raise ValueError(f"noise_map weights the sparse methods' data term; method="
                         f"{method!r} has none (use 'auto', 'starlet' or 'wavelet', or give "
                         f"one noise_sigma)")


def _nan_message(plane, what: str) -> str:
    bad = np.argwhere(np.isnan(plane))
    where = ", ".join(f"(row {r}, col {c})" for r, c in bad[:3])
    return f"{what} has {len(bad)} NaN pixel(s), e.g. at {where}{' ...' if len(bad) > 3 else ''}"


@thread_limited  # the n_threads setting (sparserec.set_config)
def deconvolve_array(image, psf, *, method: str = "auto", n_scales: int = 4,
                     k_sigma="sure", max_iter: int | None = None, background=0.0,
                     noise_sigma: float | None = None, noise_map=None, tol: float = 1e-4,
                     backend: str = "auto", verbose: bool = False,
                     primal_scale: float | None = None, path=None) -> Bunch:
    """Deconvolve one 2-D image with one of :data:`METHODS`.

    ``"auto"`` (default) is :class:`~sparserec.WaveletDeconvolution` with its defaults
    (the SURE-weighted mixture of the starlet, Haar, Richardson–Lucy and Wiener–Hunt
    paths),
    ``"starlet"`` the starlet path alone, ``"wavelet"`` the stationary ``sym4`` wavelet
    (both by the estimator's primal–dual solver and SURE threshold). The sparse methods
    mask NaN pixels; the baselines refuse them (with their count and positions).
    ``max_iter`` defaults to the estimator's for the sparse methods and to 50 for
    Richardson–Lucy. ``k_sigma`` (``"sure"``: chosen by SURE, the default; or a number
    of noise deviations), ``noise_sigma`` (estimated from ``image`` by default) and
    ``tol`` go to :class:`~sparserec.WaveletDeconvolution`, and ``noise_map`` (a
    deviation per pixel, sparse methods only) to its ``fit``; a tiled run
    (:func:`sparserec.distributed.deconvolve_tiled`) passes the whole image's noise
    level and a fixed ``k_sigma`` so that every tile uses the same thresholds, and the
    whole image's ``primal_scale`` (the root mean square of the image above its
    background, which sets the ratio of the dual and primal steps; default: this
    image's) so that every tile takes the same steps, and with ``k_sigma="sure"`` the
    ``path`` chosen once for the whole image (``(paths, shift, level)``: the ``path``
    this function returns for a crop of it, and the Richardson–Lucy shift and start level
    in data units), which every tile then follows instead of choosing its own;
    ``path="choose"`` makes that choice on the crop (the mixture an image over 256 px
    runs on its whole: the cheapest within one standard error of the least SURE).

    Returns
    -------
    result : Bunch
        ``image`` (deconvolved), ``model`` (it, blurred again: the residual is
        ``image - model``), ``noise_sigma``, ``background``, ``n_iter``, ``params``
        (what the FITS history records), ``path`` (the sparse methods' choice with
        ``k_sigma="sure"``: for each path of the mixture, its name, weight, stages'
        iterations and, for Richardson–Lucy, its extrapolation factors).
    """
    from ..base import check_option
    from ..operators import mirror_blur
    from .baselines import (
        richardson_lucy_deconvolution,
        tikhonov_deconvolution,
        wiener_deconvolution,
    )
    from .estimators import WaveletDeconvolution
    from .psf import check_psf

    check_option(method, "method", METHODS)
    if np.iscomplexobj(image):
        raise TypeError("image is complex; deconvolve its real and imaginary parts (or "
                        "its modulus) separately")
    xp = array_namespace(image)  # a CuPy image stays on the GPU (sparse methods)
    image = xp.asarray(image, dtype=np.float64)
    if method in SPARSE_METHODS:
        extra = dict(SPARSE_METHODS[method])
        if max_iter is not None:
            extra["max_iter"] = max_iter
        est = WaveletDeconvolution(psf, n_scales=n_scales, k_sigma=k_sigma,
                                   background=background, noise_sigma=noise_sigma,
                                   tol=tol, backend=backend, verbose=int(verbose), **extra)
        est._primal_scale = primal_scale
        est._shared_path, est._replayed = (None, True) if path == "choose" else (path, False)
        est.fit(image, noise_map=noise_map)
        params = {"method": method, "wavelet": est.wavelet_, "solver": est.solver,
                  "n_scales": n_scales, "k_sigma": k_sigma, "threshold": est.threshold_,
                  "max_iter": est.max_iter, "n_iter": est.n_iter_}
        return Bunch(image=est.image_, model=est.model_, noise_sigma=est.noise_sigma_,
                     background=est.background_, n_iter=est.n_iter_, params=params,
                     path=est._chosen_path)
    if noise_map is not None:
        check_noise_map_method(method)
    image = to_host(image)  # the baselines are scikit-image's: on the host
    if np.isnan(image).any():
        raise ValueError(_nan_message(image, "image") + f"; method={method!r} cannot mask "
                         "them (the sparse methods starlet and wavelet can)")
    psf = check_psf(psf, image.shape)
    if noise_sigma is not None:  # recorded in the FITS history: a valid level
        noise_sigma = WaveletDeconvolution._check_sigma(noise_sigma, "noise_sigma")
    if method == "tikhonov":
        out, params = tikhonov_deconvolution(image, psf), {"reg": 9e-3}
    elif method == "wiener":
        out, params = wiener_deconvolution(image, psf), {"balance": 0.01}
    else:
        n_iter = 50 if max_iter is None else max_iter
        check_scalar(n_iter, "max_iter", numbers.Integral, min_val=1)
        out, params = richardson_lucy_deconvolution(image, psf, n_iter), {"n_iter": n_iter}
    model = mirror_blur(out, psf)
    from .noise import estimate_noise_sigma

    sigma = estimate_noise_sigma(image, psf) if noise_sigma is None else noise_sigma
    return Bunch(image=out, model=model, noise_sigma=sigma,
                 background=0.0, n_iter=params.get("n_iter", 1),
                 params={"method": method, **params}, path=None)
