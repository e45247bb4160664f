"""Image files in and out of the pipelines: FITS (astropy) and PNG/JPEG/TIFF (imageio).

Writing is safe by construction: the data go to a temporary file beside the target, which
is renamed over it only once complete (an interrupted run leaves no half-written file),
an input file is never a valid output, and an existing output is replaced only with
``overwrite=True``.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

__all__ = ["read_image", "write_image", "atomic_output", "check_output_path", "FitsBlocks",
           "create_fits", "FITS_SUFFIXES", "RASTER_SUFFIXES"]

FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz")
RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
# header cards that describe the data layout: written anew, never copied from a template
_FITS_STRUCTURE = ("SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "EXTEND",
                   "BSCALE", "BZERO", "XTENSION", "PCOUNT", "GCOUNT", "END")


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


# --------------------------------------------------------------------- FITS by blocks
class FitsBlocks:
    """A FITS file's 2-D image as a lazily sliced array (one memory-mapped read per slice).

    Only the path travels when the object is pickled (to Dask workers), never the data.
    Integer images are read raw and scaled by ``BSCALE``/``BZERO`` slice by slice
    (astropy would scale, and so load, the whole image).

    Parameters
    ----------
    path : str or Path
        A FITS file; its first HDU holding an image of at least two axes is used, and
        after dropping length-1 axes it must be 2-D.

    Attributes
    ----------
    shape, ndim, dtype : the 2-D shape, 2, and float64 (what slicing returns).
    stored_dtype : numpy.dtype
        The dtype stored in the file (native byte order).
    header : astropy.io.fits.Header
        A copy of the HDU's header.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from astropy.io import fits
    >>> from sparserec.io import FitsBlocks
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.fits"
    >>> fits.PrimaryHDU(np.arange(12, dtype=np.int16).reshape(3, 4)).writeto(path)
    >>> blocks = FitsBlocks(path)
    >>> blocks.shape, blocks[1:, 2:].tolist()
    ((3, 4), [[6.0, 7.0], [10.0, 11.0]])
    """

    def __init__(self, path):
        fits = _astropy_fits()
        self.path = str(path)
        with fits.open(self.path, memmap=True, do_not_scale_image_data=True) as hdul:
            index = next((i for i, h in enumerate(hdul) if h.is_image
                          and h.header.get("NAXIS", 0) >= 2), None)
            if index is None:
                raise ValueError(f"FITS file {self.path!r} holds no image data")
            header = hdul[index].header
            full = tuple(header[f"NAXIS{a}"] for a in range(header["NAXIS"], 0, -1))
            self.header = header.copy()
            stored = hdul[index].data.dtype
        shape = tuple(n for n in full if n != 1)
        if len(shape) != 2:
            raise ValueError(f"expected a 2-D image in {self.path!r}, got shape {full}")
        if stored.kind == "c":
            raise TypeError(f"FITS file {self.path!r} holds complex data")
        self.scale = (float(self.header.get("BSCALE", 1.0)), float(self.header.get("BZERO", 0.0)))
        self.index, self.shape, self.ndim = index, shape, 2
        self.dtype = np.dtype(np.float64)
        self.stored_dtype = np.dtype(stored.newbyteorder("="))

    def __getitem__(self, key):
        fits = _astropy_fits()
        with fits.open(self.path, memmap=True, do_not_scale_image_data=True) as hdul:
            block = np.array(hdul[self.index].data.reshape(self.shape)[key], dtype=np.float64)
        bscale, bzero = self.scale
        return block * bscale + bzero if (bscale, bzero) != (1.0, 0.0) else block


class _FitsBlockWriter:
    """Slice assignment into the data unit of a pre-sized FITS file (memory map, ``r+``)."""

    def __init__(self, path, offset: int, shape, dtype):
        self.path, self.offset, self.shape = str(path), int(offset), tuple(shape)
        self.dtype = np.dtype(dtype).newbyteorder(">")

    def __setitem__(self, key, value):
        data = np.memmap(self.path, dtype=self.dtype, mode="r+", offset=self.offset,
                         shape=self.shape)
        data[key] = value
        data.flush()
        del data


def create_fits(path, shape, dtype, *, header=None, history=()):
    """Write the header of a 2-D FITS image and size the file; return a block writer.

    The data unit is left zero-filled (sparse on most file systems), to be filled by
    slice assignment on the returned object (``writer[r0:r1, c0:c1] = block``), from any
    process that can open ``path`` (what :func:`dask.array.store` does). Write it to a
    temporary path (:func:`atomic_output`) and rename it when complete.

    Parameters
    ----------
    path : str or Path
        The file to create (replaced if it exists: give a temporary path).
    shape : (int, int)
        Rows and columns.
    dtype : dtype
        A float or integer dtype FITS can store.
    header : astropy.io.fits.Header, optional
        A template whose cards are copied (its layout cards excepted).
    history : sequence of str
        Lines added as ``HISTORY`` cards.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from astropy.io import fits
    >>> from sparserec.io import create_fits
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "b.fits"
    >>> writer = create_fits(path, (2, 3), np.float32, history=["made by a test"])
    >>> writer[1, :] = [1.0, 2.0, 3.0]
    >>> fits.getdata(path).tolist()
    [[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]]
    """
    fits = _astropy_fits()
    hdu = fits.PrimaryHDU(np.zeros((1, 1), dtype=dtype))
    hdr = hdu.header
    hdr["NAXIS1"], hdr["NAXIS2"] = int(shape[1]), int(shape[0])
    if header is not None:
        for card in header.cards:
            if card.keyword not in _FITS_STRUCTURE and card.keyword not in ("", "HISTORY"):
                hdr.append(card, end=True)
            elif card.keyword == "HISTORY":
                hdr.add_history(str(card.value))
    for line in history:
        hdr.add_history(line)
    text = hdr.tostring().encode("ascii")
    n_bytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    total = len(text) + 2880 * math.ceil(n_bytes / 2880)
    with open(path, "wb") as f:
        f.write(text)
        f.truncate(total)
    return _FitsBlockWriter(path, len(text), shape, dtype)
