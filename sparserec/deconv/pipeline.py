"""The file-to-file deconvolution pipeline behind ``sparserec deconvolve``.

:func:`deconvolve_file` reads an image (FITS with its header, or PNG/JPEG/TIFF), a PSF
(a file, or a Gaussian/Moffat/Airy model of a given FWHM), deconvolves every plane (a
colour raster channel by channel, a FITS cube plane by plane), writes the result
atomically next to nothing it read (never over the input; an existing output only with
``overwrite``), keeps the FITS header and adds ``HISTORY`` cards naming the method and
its parameters, and optionally writes a PNG report (observed, deconvolved, residual,
PSF panels). :func:`deconvolve_array` is the same on arrays, for other pipelines (the
Dask tiling reuses it).
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ..utils.threads import thread_limited

__all__ = ["METHODS", "deconvolve_array", "deconvolve_file", "load_psf"]

METHODS = ("starlet", "wavelet", "tikhonov", "wiener", "richardson-lucy")
_PYWT_WAVELET = "sym4"


def load_psf(psf=None, *, psf_model: str | None = None, fwhm: float | None = None,
             size: int | None = None) -> tuple[np.ndarray, str]:
    """The PSF array and a one-line description, from a file/array or a model.

    Exactly one of ``psf`` (path or 2-D array) and ``psf_model`` (with ``fwhm``) is given.
    """
    from ..io import read_image
    from .psf import psf_model as make_model

    if (psf is None) == (psf_model is None):
        raise ValueError("give exactly one of --psf FILE and --psf-model NAME (with --fwhm)")
    if psf_model is not None:
        if fwhm is None:
            raise ValueError(f"--psf-model {psf_model} needs --fwhm (in pixels)")
        return make_model(psf_model, fwhm, size), f"{psf_model} fwhm={fwhm:g}px"
    if isinstance(psf, (str, Path)):
        data = read_image(psf).data
        if data.ndim != 2:
            raise ValueError(f"PSF file {str(psf)!r} must hold a 2-D image, got shape "
                             f"{data.shape}")
        return data, Path(psf).name
    return np.asarray(psf, dtype=np.float64), "array"


def _nan_message(plane, what: str) -> str:
    bad = np.argwhere(np.isnan(plane))
    where = ", ".join(f"(row {r}, col {c})" for r, c in bad[:3])
    return f"{what} has {len(bad)} NaN pixel(s), e.g. at {where}{' ...' if len(bad) > 3 else ''}"


@thread_limited  # the n_threads setting (sparserec.set_config)
def deconvolve_array(image, psf, *, method: str = "starlet", n_scales: int = 4,
                     k_sigma: float = 3.0, max_iter: int | None = None, background=0.0,
                     noise_sigma: float | None = None, tol: float = 1e-4,
                     backend: str = "auto", verbose: bool = False) -> Bunch:
    """Deconvolve one 2-D image with one of :data:`METHODS`.

    The sparse methods mask NaN pixels; the baselines refuse them (with their count and
    positions). ``max_iter`` defaults to 200 for the sparse methods and 50 for
    Richardson–Lucy. ``noise_sigma`` (estimated from ``image`` by default) and ``tol``
    go to :class:`~sparserec.WaveletDeconvolution`; a tiled run
    (:func:`sparserec.distributed.deconvolve_tiled`) passes the whole image's noise
    level so that every tile uses the same thresholds.

    Returns
    -------
    result : Bunch
        ``image`` (deconvolved), ``model`` (it, blurred again: the residual is
        ``image - model``), ``noise_sigma``, ``background``, ``n_iter``, ``params``
        (what the FITS history records).
    """
    from ..base import check_option
    from ..datasets import make_blurred_image
    from .baselines import (
        richardson_lucy_deconvolution,
        tikhonov_deconvolution,
        wiener_deconvolution,
    )
    from .estimators import WaveletDeconvolution
    from .psf import check_psf

    check_option(method, "method", METHODS)
    image = np.asarray(image, dtype=np.float64)
    if method in ("starlet", "wavelet"):
        extra = {} if method == "starlet" else {"wavelet": _PYWT_WAVELET, "solver": "fista"}
        est = WaveletDeconvolution(psf, n_scales=n_scales, k_sigma=k_sigma,
                                   max_iter=200 if max_iter is None else max_iter,
                                   background=background, noise_sigma=noise_sigma,
                                   tol=tol, backend=backend, verbose=int(verbose), **extra)
        est.fit(image)
        params = {"method": method, "wavelet": est.wavelet, "solver": est.solver,
                  "n_scales": n_scales, "k_sigma": k_sigma, "max_iter": est.max_iter,
                  "n_iter": est.n_iter_}
        return Bunch(image=est.image_, model=est.model_, noise_sigma=est.noise_sigma_,
                     background=est.background_, n_iter=est.n_iter_, params=params)
    if np.isnan(image).any():
        raise ValueError(_nan_message(image, "image") + f"; --method {method} cannot mask "
                         "them (the sparse methods starlet and wavelet can)")
    psf = check_psf(psf, image.shape)
    if method == "tikhonov":
        out, params = tikhonov_deconvolution(image, psf), {"reg": 9e-3}
    elif method == "wiener":
        out, params = wiener_deconvolution(image, psf), {"balance": 0.01}
    else:
        n_iter = 50 if max_iter is None else max_iter
        out, params = richardson_lucy_deconvolution(image, psf, n_iter), {"n_iter": n_iter}
    model = make_blurred_image(out, psf, noise_sigma=0.0).blurred
    from .noise import estimate_noise_sigma

    sigma = estimate_noise_sigma(image) if noise_sigma is None else float(noise_sigma)
    return Bunch(image=out, model=model, noise_sigma=sigma,
                 background=0.0, n_iter=params.get("n_iter", 1),
                 params={"method": method, **params})


def _planes(data, kind: str):
    """The 2-D planes of an image and how to put them back together."""
    if data.ndim == 2:
        return [data], lambda planes: planes[0]
    if data.ndim == 3 and kind == "raster" and data.shape[-1] in (3, 4):
        return [data[..., c] for c in range(data.shape[-1])], \
            lambda planes: np.stack(planes, axis=-1)
    if data.ndim == 3 and kind == "fits":
        return list(data), np.stack
    raise ValueError(f"expected a 2-D image, an RGB(A) raster or a FITS cube, got shape "
                     f"{data.shape}")


def deconvolve_file(input_path, output_path, *, psf=None, psf_model: str | None = None,
                    fwhm: float | None = None, psf_size: int | None = None,
                    method: str = "starlet", n_scales: int = 4, k_sigma: float = 3.0,
                    max_iter: int | None = None, background=0.0, overwrite: bool = False,
                    report=None, backend: str = "auto", verbose: bool = False) -> Bunch:
    """Deconvolve an image file into another, atomically.

    Parameters
    ----------
    input_path, output_path : str or Path
        FITS (``.fits``, ``.fit``, ``.fts``, optionally ``.gz``) or PNG/JPEG/TIFF. The
        output is written to a temporary file and renamed; it may not be the input, and
        an existing output is replaced only with ``overwrite``.
    psf : str, Path or 2-D array, optional
        The PSF (a file read like the input, or an array).
    psf_model : {"gaussian", "moffat", "airy"}, optional
        A PSF model instead, of full width at half maximum ``fwhm`` pixels (array side
        ``psf_size``, automatic by default).
    method : {"starlet", "wavelet", "tikhonov", "wiener", "richardson-lucy"}
        ``"starlet"``: :class:`~sparserec.WaveletDeconvolution` (Condat–Vũ, starlet);
        ``"wavelet"``: the same with a stationary ``sym4`` wavelet by FISTA; the others
        are the baselines of :mod:`sparserec.deconv.baselines`.
    n_scales, k_sigma, max_iter, background, backend :
        Passed to :class:`~sparserec.WaveletDeconvolution` (``max_iter`` is the
        iteration count of Richardson–Lucy).
    report : str or Path, optional
        A PNG with observed / deconvolved / residual / PSF panels.
    verbose : bool
        Progress bars.

    Returns
    -------
    result : Bunch
        ``output`` (path), ``report`` (path or None), ``image`` (the deconvolved
        data), ``noise_sigma`` (per plane), ``seconds``, ``history`` (the FITS lines).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from astropy.io import fits
    >>> from sparserec.deconv.pipeline import deconvolve_file
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> fits.PrimaryHDU(np.random.default_rng(0).random((48, 48)),
    ...                 header=fits.Header({"OBJECT": "test"})).writeto(folder / "in.fits")
    >>> res = deconvolve_file(folder / "in.fits", folder / "out.fits",
    ...                       psf_model="gaussian", fwhm=2.0, max_iter=20)
    >>> fits.getheader(res.output)["OBJECT"]
    'test'
    """
    from .. import __version__
    from ..io import FITS_SUFFIXES, atomic_output, check_output_path, read_image, write_image

    start = time.perf_counter()
    input_path, output_path = Path(input_path), Path(output_path)
    psf_file = psf if isinstance(psf, (str, Path)) else None
    inputs = [input_path] + ([Path(psf_file)] if psf_file is not None else [])
    for path in [output_path] + ([Path(report)] if report is not None else []):
        check_output_path(path, overwrite=overwrite, inputs=inputs)  # before the work
    if report is not None and Path(report).resolve() == output_path.resolve():
        raise ValueError("--report must differ from the output file")
    psf_array, psf_desc = load_psf(psf, psf_model=psf_model, fwhm=fwhm, size=psf_size)
    src = read_image(input_path)
    planes, assemble = _planes(src.data, src.format)
    results = [deconvolve_array(p, psf_array, method=method, n_scales=n_scales,
                                k_sigma=k_sigma, max_iter=max_iter, background=background,
                                backend=backend, verbose=verbose) for p in planes]
    out = assemble([r.image for r in results])
    params = results[0].params
    lines = [f"sparserec {__version__} deconvolve: method={method}",
             f"input={input_path.name} psf={psf_desc}",
             " ".join(f"{k}={v}" for k, v in params.items() if k != "method"),
             "noise_sigma=" + ",".join(f"{r.noise_sigma:.4g}" for r in results)
             + " background=" + ",".join(f"{r.background:.4g}" for r in results)]
    # a HISTORY card holds 72 characters: break between words, never inside one
    history = [part for line in lines for part in
               textwrap.wrap(line, 72, break_long_words=False, break_on_hyphens=False)]
    written = out
    if not output_path.name.lower().endswith(FITS_SUFFIXES) and src.format == "fits":
        lo, hi = float(np.min(out)), float(np.max(out))
        written = (out - lo) / (hi - lo) if hi > lo else np.zeros_like(out)
    write_image(output_path, written, like=src, history=history, overwrite=overwrite,
                inputs=inputs)
    report_path = None
    if report is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from ..plotting import plot_image_panels

        first = results[0]
        observed = planes[0]
        fig = plot_image_panels(
            {"observed": observed, "deconvolved": first.image,
             "residual (observed − model)": observed - first.model, "PSF": psf_array},
            suptitle=f"{input_path.name}: {method} deconvolution",
            stretch="asinh" if src.format == "fits" else "linear", ncols=4)
        with atomic_output(report, overwrite=overwrite, inputs=inputs) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
        plt.close(fig)
        report_path = Path(report)
    return Bunch(output=output_path, report=report_path, image=out,
                 noise_sigma=[r.noise_sigma for r in results],
                 seconds=time.perf_counter() - start, history=history)
