"""The file-to-file deconvolution pipeline behind ``sparserec deconvolve``.

:func:`deconvolve_file` reads an image (FITS with its header, or PNG/JPEG/TIFF), a PSF
(a file, or a Gaussian/Moffat/Airy model of a given FWHM), deconvolves every plane (a
colour raster channel by channel, a FITS cube plane by plane) with
:func:`sparserec.deconv.methods.deconvolve_array`, writes the result atomically next to
nothing it read (never over the input; an existing output only with ``overwrite``), keeps
the FITS header and adds ``HISTORY`` cards naming the method and its parameters, and
optionally writes a PNG report (observed, deconvolved, residual, PSF panels).

This is application code (DESIGN.md's fourth layer): it joins the deconvolution family
to the file services :mod:`sparserec.io` and :mod:`sparserec.plotting`, which the family
itself never imports.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from .deconv.methods import METHODS, PSF_MODELS, check_noise_map_method, deconvolve_array

__all__ = ["METHODS", "PSF_MODELS", "deconvolve_file", "load_psf"]


def load_psf(psf=None, *, psf_model: str | None = None, fwhm: float | None = None,
             size: int | None = None) -> tuple[np.ndarray, str]:
    """The PSF array and a one-line description, from a file, an array or a model.

    Exactly one of ``psf`` (a path read by :func:`sparserec.io.read_image`, or a 2-D
    array) and ``psf_model`` (one of :data:`PSF_MODELS`, with ``fwhm`` in pixels and an
    optional array side ``size``) is given.

    Examples
    --------
    >>> from sparserec.imaging import load_psf
    >>> psf, desc = load_psf(psf_model="gaussian", fwhm=2.5)
    >>> desc
    'gaussian fwhm=2.5px'
    """
    from .deconv.psf import psf_model as make_model
    from .io import read_image

    if (psf is None) == (psf_model is None):
        raise ValueError("give exactly one of psf (a file or an array) and psf_model "
                         "(with fwhm)")
    if psf_model is not None:
        if fwhm is None:
            raise ValueError(f"psf_model={psf_model!r} needs fwhm (in pixels)")
        return make_model(psf_model, fwhm, size), f"{psf_model} fwhm={fwhm:g}px"
    if isinstance(psf, (str, Path)):
        data = read_image(psf).data
        if data.ndim != 2:
            raise ValueError(f"PSF file {str(psf)!r} must hold a 2-D image, got shape "
                             f"{data.shape}")
        return data, Path(psf).name
    return np.asarray(psf, dtype=np.float64), "array"


def _planes(data, kind: str):
    """The 2-D planes to deconvolve, and how to put the result back together.

    A colour raster is deconvolved channel by channel, except its alpha channel (the
    last of 2 or 4), which is a mask, not light: it is passed through unchanged.
    """
    if data.ndim == 2:
        return [data], lambda planes: planes[0]
    if data.ndim == 3 and kind == "raster" and data.shape[-1] in (1, 2, 3, 4):
        n_colour = data.shape[-1] - (data.shape[-1] in (2, 4))
        alpha = [data[..., n_colour]] if n_colour < data.shape[-1] else []
        return [data[..., c] for c in range(n_colour)], \
            lambda planes: np.stack(list(planes) + alpha, axis=-1)
    if data.ndim == 3 and kind == "fits":
        return list(data), np.stack
    raise ValueError(f"expected a 2-D image, a raster of 1 to 4 channels or a FITS cube, "
                     f"got shape {data.shape}")


def _noise_planes(noise, src, planes):
    """``(noise_sigma, maps, description)`` of ``deconvolve_file``'s ``noise``: one level
    for every plane, or a map per plane (read from a file, or given), whose shape is the
    input's or one plane's."""
    if noise is None:
        return None, [None] * len(planes), "estimated"
    if not isinstance(noise, (str, Path)) and np.ndim(noise) == 0:  # 0-d arrays too
        return float(noise), [None] * len(planes), f"{float(noise):.4g}"
    if isinstance(noise, (str, Path)):
        from .io import read_image

        values, desc = np.asarray(read_image(noise).data, dtype=np.float64), \
            f"map:{Path(noise).name}"
    else:
        values, desc = np.asarray(noise, dtype=np.float64), "map"
    if values.shape == planes[0].shape:
        return None, [values] * len(planes), desc
    if values.shape != src.data.shape:
        raise ValueError(f"noise map has shape {values.shape}; expected the input's "
                         f"{src.data.shape} or one plane's {planes[0].shape}")
    maps, _ = _planes(values, src.format)
    return None, maps, desc


def _sky_wcs(header):
    """The celestial WCS of a FITS header, or None (no header, or no sky axes)."""
    if header is None:
        return None
    import warnings

    from astropy.wcs import WCS, FITSFixedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        try:
            wcs = WCS(header)
        except Exception:  # a header astropy cannot read as a WCS: plain pixel axes
            return None
    return wcs.celestial if wcs.has_celestial else None


def _report_figure(panels: dict, title: str, stretch: str, wcs=None):
    """The report's panels on a :class:`matplotlib.figure.Figure` (no pyplot, no backend
    switch: safe in a notebook and in threads); sky coordinates on the image panels when
    the input has a celestial ``wcs``."""
    from matplotlib.figure import Figure

    from .plotting import plot_image_panels

    projections = {} if wcs is None else {k: wcs for k in panels if k != "PSF"}
    return plot_image_panels(panels, suptitle=title, stretch=stretch, ncols=4,
                             colorbar=True, figure=Figure(), projections=projections)


def deconvolve_file(input_path, output_path, *, psf=None, psf_model: str | None = None,
                    fwhm: float | None = None, psf_size: int | None = None,
                    method: str = "auto", n_scales: int = 4, k_sigma="sure",
                    max_iter: int | None = None, background=0.0, noise=None,
                    overwrite: bool = False, report=None, backend: str = "auto",
                    verbose: bool = False) -> Bunch:
    """Deconvolve an image file into another, atomically.

    Parameters
    ----------
    input_path, output_path : str or Path
        FITS (``.fits``, ``.fit``, ``.fts``, optionally ``.gz``) or PNG/JPEG/TIFF. The
        output is written to a temporary file and renamed; it may not be the input, and
        an existing output is replaced only with ``overwrite``. Every path, format and
        conversion is checked before the deconvolution starts
        (:func:`sparserec.io.check_image_output`): a raster is written in the input's
        dtype where the format allows (float data into an integer raster are mapped
        from their range to the format's), an alpha channel is passed through, and
        complex data are refused.
    psf : str, Path or 2-D array, optional
        The PSF (a file read like the input, or an array).
    psf_model : {"gaussian", "moffat", "airy"}, optional
        A PSF model instead, of full width at half maximum ``fwhm`` pixels (array side
        ``psf_size``, automatic by default).
    method : {"auto", "starlet", "wavelet", "tikhonov", "wiener", "richardson-lucy"}
        ``"auto"`` (default): :class:`~sparserec.WaveletDeconvolution` with its defaults
        (the SURE-weighted mixture of the starlet, Haar, Richardson–Lucy
        and Wiener–Hunt paths);
        ``"starlet"``: the starlet path alone; ``"wavelet"``: a stationary ``sym4``
        wavelet; the others are the baselines of
        :mod:`sparserec.deconv.baselines`.
    k_sigma : "sure" or float
        The sparse methods' threshold: chosen by SURE along the threshold path (the
        library's default, recorded in the FITS history as ``threshold=``), or the
        classical ``k_sigma`` × the noise propagated into each scale.
    n_scales, max_iter, background, backend :
        Passed to :func:`sparserec.deconv.methods.deconvolve_array` (``max_iter`` is the
        iteration count of Richardson–Lucy).
    noise : float, str, Path or array, optional
        The noise standard deviation (estimated from each plane by default), or a map
        of it per pixel (a file read like the input, or an array) of the input's shape
        or one plane's (then shared by the planes): inverse-variance weights for the
        sparse methods, ``inf`` marks an unusable pixel. Recorded in the FITS history.
    report : str or Path, optional
        A PNG with observed / deconvolved / residual / PSF panels (of the first plane),
        with colour bars and, when the FITS header has a celestial WCS, sky coordinates
        on the axes; written together with the output: both or neither.
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
    >>> from sparserec.imaging import deconvolve_file
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> fits.PrimaryHDU(np.random.default_rng(0).random((48, 48)),
    ...                 header=fits.Header({"OBJECT": "test"})).writeto(folder / "in.fits")
    >>> res = deconvolve_file(folder / "in.fits", folder / "out.fits",
    ...                       psf_model="gaussian", fwhm=2.0, max_iter=20)
    >>> fits.getheader(res.output)["OBJECT"]
    'test'
    """
    from . import __version__
    from .io import (
        atomic_outputs,
        check_image_output,
        check_output_path,
        image_format,
        read_image,
        write_image,
    )

    start = time.perf_counter()
    input_path, output_path = Path(input_path), Path(output_path)
    psf_file = psf if isinstance(psf, (str, Path)) else None
    noise_file = noise if isinstance(noise, (str, Path)) else None
    inputs = [input_path] + [Path(f) for f in (psf_file, noise_file) if f is not None]
    # every check before any work: formats, paths, then the conversion the output needs
    image_format(input_path)
    image_format(output_path)
    outputs = [output_path]
    if report is not None:
        if Path(report).suffix.lower() != ".png":
            raise ValueError(f"report must be a .png file, got {str(report)!r}")
        if Path(report).resolve() == output_path.resolve():
            raise ValueError("report must differ from output_path")
        outputs.append(Path(report))
    for path in outputs:
        check_output_path(path, overwrite=overwrite, inputs=inputs)
    if isinstance(noise, (str, Path)) or np.ndim(noise) > 0:  # a map: needs weights
        check_noise_map_method(method)
    psf_array, psf_desc = load_psf(psf, psf_model=psf_model, fwhm=fwhm, size=psf_size)
    src = read_image(input_path)
    stored = check_image_output(output_path, shape=src.data.shape, like=src)
    planes, assemble = _planes(src.data, src.format)
    sigma, maps, noise_desc = _noise_planes(noise, src, planes)
    results = []
    for i, plane in enumerate(planes):
        try:
            results.append(deconvolve_array(plane, psf_array, method=method,
                                            n_scales=n_scales, k_sigma=k_sigma,
                                            max_iter=max_iter, background=background,
                                            noise_sigma=sigma, noise_map=maps[i],
                                            backend=backend, verbose=verbose))
        except (ValueError, TypeError) as exc:  # say which plane of a cube or raster
            if len(planes) == 1:
                raise
            raise type(exc)(f"plane {i} of {len(planes)}: {exc}") from exc
    out = assemble([r.image for r in results])
    params = results[0].params
    lines = [f"sparserec {__version__} deconvolve: method={method}",
             f"input={input_path.name} psf={psf_desc}",
             " ".join(f"{k}={v}" for k, v in params.items() if k != "method"),
             f"noise={noise_desc} noise_sigma="
             + ",".join(f"{r.noise_sigma:.4g}" for r in results)
             + " background=" + ",".join(f"{r.background:.4g}" for r in results)]
    # a HISTORY card holds 72 characters: break between words, never inside one
    history = [part for line in lines for part in
               textwrap.wrap(line, 72, break_long_words=False, break_on_hyphens=False)]
    written = out
    if stored.kind in "ui" and (src.format == "fits" or src.dtype.kind == "f"):
        # physical values (FITS, float TIFF) into an integer raster: map their range to
        # the format's, rather than clip everything outside [0, 1]
        lo, hi = float(np.min(out)), float(np.max(out))
        written = (out - lo) / (hi - lo) if hi > lo else np.zeros_like(out)
    fig = None
    if report is not None:
        first = results[0]
        observed = planes[0]
        fig = _report_figure(
            {"observed": observed, "deconvolved": first.image,
             "residual (observed − model)": observed - first.model, "PSF": psf_array},
            f"{input_path.name}: {method} deconvolution",
            "asinh" if src.format == "fits" else "linear", wcs=_sky_wcs(src.header))
    # all or nothing: both temporary files exist before either is renamed into place
    with atomic_outputs(outputs, overwrite=overwrite, inputs=inputs) as tmps:
        write_image(output_path, written, like=src, history=history, into=tmps[0])
        if fig is not None:
            fig.savefig(tmps[1], format="png", dpi=100)
    report_path = Path(report) if report is not None else None
    return Bunch(output=output_path, report=report_path, image=out,
                 noise_sigma=[r.noise_sigma for r in results],
                 seconds=time.perf_counter() - start, history=history)
