"""Image files in and out of the pipelines: FITS (astropy) and PNG/JPEG/TIFF (imageio).

Writing is safe by construction: the data go to a temporary file beside the target, which
is renamed over it only once complete (an interrupted run leaves no half-written file),
an input file is never a valid output, and an existing output is replaced only with
``overwrite=True``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

__all__ = ["read_image", "write_image", "atomic_output", "FITS_SUFFIXES", "RASTER_SUFFIXES"]

FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz")
RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(FITS_SUFFIXES):
        return "fits"
    if name.endswith(RASTER_SUFFIXES):
        return "raster"
    raise ValueError(f"unsupported image format for {str(path)!r}: expected one of "
                     f"{FITS_SUFFIXES + RASTER_SUFFIXES}")


def _astropy_fits():
    try:
        from astropy.io import fits
    except ImportError as exc:
        raise ImportError("FITS files need astropy: pip install 'sparserec[astro]'") from exc
    return fits


def read_image(path) -> Bunch:
    """Read an image file as float64.

    Parameters
    ----------
    path : str or Path
        A FITS file (the first HDU that holds image data is used) or a PNG/JPEG/TIFF file.

    Returns
    -------
    image : Bunch
        ``data`` (float64; integer rasters scaled to ``[0, 1]``), ``header`` (the FITS
        header, or ``None``), ``dtype`` (the stored dtype, reused when writing back),
        ``path``, ``format`` (``"fits"`` or ``"raster"``).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        For an unsupported, unreadable or truncated file, or one without image data;
        the message is one line naming the file.
    """
    path = Path(path)
    kind = _kind(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such image file: {str(path)!r}")
    try:
        if kind == "fits":
            fits = _astropy_fits()
            from astropy.utils.exceptions import AstropyUserWarning

            with warnings.catch_warnings():  # a truncated file is an error, not a warning
                warnings.simplefilter("error", AstropyUserWarning)
                hdul = fits.open(path, memmap=False)
            with hdul:
                hdu = next((h for h in hdul if h.data is not None and h.data.ndim >= 2), None)
                if hdu is None:
                    raise ValueError("it holds no image data (no HDU with a 2-D array)")
                stored = hdu.data.dtype
                data = np.squeeze(np.asarray(hdu.data, dtype=np.float64))
                header = hdu.header.copy()
            scale = 1.0
        else:
            import imageio.v3 as iio

            raw = iio.imread(path)
            stored, header = raw.dtype, None
            scale = float(np.iinfo(stored).max) if stored.kind in "ui" else 1.0
            data = raw.astype(np.float64) / scale
    except (OSError, ValueError, TypeError, EOFError, IndexError, KeyError, Warning) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"cannot read image {str(path)!r}: {reason}") from exc
    if data.ndim < 2:
        raise ValueError(f"cannot read image {str(path)!r}: expected a 2-D image, "
                         f"got shape {data.shape}")
    return Bunch(data=data, header=header, dtype=np.dtype(stored), path=path, format=kind)


def check_output_path(path, *, overwrite: bool = False, inputs=()) -> Path:
    """Refuse an output that is one of ``inputs`` (also through a link or another path
    to the same file) or that exists without ``overwrite``; return it as a Path.

    Raises
    ------
    ValueError
        If ``path`` is one of ``inputs`` (an input is never overwritten).
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.
    """
    path = Path(path)
    for src in map(Path, inputs):
        same = path.resolve() == src.resolve() or (
            path.exists() and src.exists() and os.path.samefile(src, path)
        )
        if same:
            raise ValueError(f"refusing to write the output over the input file {str(src)!r}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"output {str(path)!r} exists; pass overwrite=True to "
                              "replace it")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"output folder {str(path.parent)!r} does not exist")
    return path


@contextlib.contextmanager
def atomic_output(path, *, overwrite: bool = False, inputs=()):
    """Yield a temporary path that is renamed to ``path`` only if the block succeeds.

    The path is first checked by :func:`check_output_path`.
    """
    path = check_output_path(path, overwrite=overwrite, inputs=inputs)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:  # also on KeyboardInterrupt: no partial output is left behind
        tmp.unlink(missing_ok=True)


def write_image(path, data, *, like: Bunch | None = None, history=(), overwrite: bool = False,
                inputs=()) -> Path:
    """Write an image atomically, in the format given by the suffix of ``path``.

    Parameters
    ----------
    path : str or Path
        Output file (``.fits``, ``.png``, ``.tif``, ...).
    data : 2-D array
        The image (float).
    like : Bunch, optional
        What :func:`read_image` returned for the input: its FITS header is copied, and a
        raster is written back in the input's integer dtype (``uint8``/``uint16``).
    history : sequence of str
        Lines added as FITS ``HISTORY`` cards (ignored for rasters).
    overwrite : bool
        Replace an existing output.
    inputs : sequence of paths
        Files that must not be overwritten (the pipeline's inputs).

    Returns
    -------
    path : Path
    """
    path = Path(path)
    kind = _kind(path)
    data = np.asarray(data)
    if not np.isfinite(data).all():
        raise ValueError("refusing to write an image with NaN or infinite pixels")
    with atomic_output(path, overwrite=overwrite, inputs=inputs) as tmp:
        if kind == "fits":
            fits = _astropy_fits()
            header = like.header.copy() if like is not None and like.header is not None else None
            stored = like.dtype if like is not None and like.dtype.kind == "f" else np.float64
            hdu = fits.PrimaryHDU(data.astype(stored), header=header)
            for line in history:  # FITS cards are ASCII: escape the rest (file names)
                hdu.header.add_history(line.encode("ascii", "backslashreplace").decode())
            hdu.writeto(tmp, overwrite=True, output_verify="silentfix")
        else:
            import imageio.v3 as iio

            dtype = like.dtype if like is not None else np.dtype(np.uint8)
            if path.suffix.lower() in (".png", ".jpg", ".jpeg") and dtype.kind == "f":
                dtype = np.dtype(np.uint16)
            if dtype.kind in "ui":
                top = np.iinfo(dtype).max
                out = np.clip(np.rint(data * top), 0, top).astype(dtype)
            else:
                out = data.astype(dtype)
            extension = ".tif" if path.suffix.lower() in (".tif", ".tiff") else path.suffix
            iio.imwrite(tmp, out, extension=extension.lower())
    return path
