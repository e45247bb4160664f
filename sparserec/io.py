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
import shutil
import stat
import tempfile
import warnings
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

__all__ = ["read_image", "write_image", "image_format", "check_image_output",
           "check_output_path", "atomic_output", "atomic_outputs", "FitsBlocks", "create_fits",
           "FITS_SUFFIXES", "RASTER_SUFFIXES"]

FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz")
RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
# header cards that describe the data layout: written anew, never copied from a template
_FITS_STRUCTURE = ("SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "EXTEND",
                   "BSCALE", "BZERO", "XTENSION", "PCOUNT", "GCOUNT", "END")


def image_format(path) -> str:
    """``"fits"`` or ``"raster"``, from the suffix of ``path``; ValueError for another one.

    Examples
    --------
    >>> from sparserec.io import image_format
    >>> image_format("sky.fits.gz"), image_format("photo.TIF")
    ('fits', 'raster')
    """
    name = Path(path).name.lower()
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


def _complex_message(path, dtype) -> str:
    return (f"image {str(path)!r} holds complex data ({dtype}); sparserec deconvolves real "
            "images: split it into its real and imaginary parts (or take its modulus) and "
            "process each")


def _drop_degenerate_axes(data):
    """Length-1 axes before the image's two go (the Stokes and frequency axes of a radio
    image); the image's own stay, so that a 1 x N image or a 1 x 1 PSF is still 2-D."""
    return data.reshape([n for n in data.shape[:-2] if n != 1] + list(data.shape[-2:]))


def read_image(path) -> Bunch:
    """Read an image file as float64.

    Parameters
    ----------
    path : str or Path
        A FITS file (the first HDU that holds image data is used) or a PNG/JPEG/TIFF file.

    Returns
    -------
    image : Bunch
        ``data`` (float64; integer rasters divided by their dtype's maximum, so unsigned
        ones lie in ``[0, 1]`` and signed ones in ``[-1, 1]``; colour rasters are
        ``(rows, columns, channels)``, FITS cubes ``(planes, rows, columns)``),
        ``header`` (the FITS header, or ``None``), ``dtype`` (the stored dtype, reused
        when writing back), ``path``, ``format`` (``"fits"`` or ``"raster"``),
        ``hdu_index`` and ``n_hdus`` (the HDU read and how many the file has: a
        multi-extension file is written back whole, its image HDU replaced).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        For an unsupported, unreadable or truncated file, one without image data, or one
        holding complex data; the message is one line naming the file.
    """
    path = Path(path)
    kind = image_format(path)
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
                index = next((i for i, h in enumerate(hdul)
                              if h.data is not None and h.data.ndim >= 2), None)
                if index is None:
                    raise ValueError("it holds no image data (no HDU with a 2-D array)")
                hdu, n_hdus = hdul[index], len(hdul)
                stored, header = hdu.data.dtype, hdu.header.copy()
                data = None if stored.kind == "c" else _drop_degenerate_axes(
                    np.asarray(hdu.data, dtype=np.float64))
        else:
            import imageio.v3 as iio

            raw = iio.imread(path)
            stored, header, index, n_hdus = raw.dtype, None, 0, 1
            scale = float(np.iinfo(stored).max) if stored.kind in "ui" else 1.0
            data = None if stored.kind == "c" else raw.astype(np.float64) / scale
    except (OSError, ValueError, TypeError, EOFError, IndexError, KeyError, Warning) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"cannot read image {str(path)!r}: {reason}") from exc
    if data is None:  # never cast away an imaginary part
        raise ValueError(_complex_message(path, stored))
    if data.ndim < 2:
        raise ValueError(f"cannot read image {str(path)!r}: expected a 2-D image, "
                         f"got shape {data.shape}")
    return Bunch(data=data, header=header, dtype=np.dtype(stored), path=path, format=kind,
                 hdu_index=index, n_hdus=n_hdus)


def check_output_path(path, *, overwrite: bool = False, inputs=()) -> Path:
    """Refuse an output that is one of ``inputs`` (also through a link or another path
    to the same file) or that exists without ``overwrite``; return it as a Path.

    Raises
    ------
    ValueError
        If ``path`` is one of ``inputs`` (an input is never overwritten).
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.
    FileNotFoundError
        If the folder of ``path`` does not exist.
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


def _umask() -> int:
    """The process umask, read without changing it where the system tells it (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, and put it back at once
    os.umask(mask)
    return mask


def _output_mode(path: Path, directory: bool) -> int:
    """The permission bits a plain ``open`` (``mkdir``) would leave on ``path``: those of
    the file it replaces, else the default under the process umask."""
    if path.exists():
        return stat.S_IMODE(path.stat().st_mode)
    return (0o777 if directory else 0o666) & ~_umask()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_output(path, *, overwrite: bool = False, inputs=(), directory: bool = False):
    """Yield a temporary path that is renamed to ``path`` only if the block succeeds.

    The path is first checked by :func:`check_output_path`. The temporary file (or, with
    ``directory=True``, folder: a Zarr store) lies beside ``path``; once complete it gets
    the permissions a plain ``open`` would give (the umask's, or those of the file it
    replaces) and is renamed over ``path``. On any error, also ``KeyboardInterrupt``, it is
    removed and ``path`` is left as it was.

    Examples
    --------
    >>> import os, tempfile, pathlib
    >>> from sparserec.io import atomic_output
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
    >>> with atomic_output(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text(), oct(target.stat().st_mode & 0o777) == oct(0o666 & ~os.umask(0o22))
    ('done', True)
    """
    path = check_output_path(path, overwrite=overwrite, inputs=inputs)
    mode = _output_mode(path, directory)
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, mode)  # mkstemp/mkdtemp made it private (0600/0700)
        if directory and path.exists():
            _remove(path)  # a folder cannot be renamed over another one
        os.replace(tmp, path)
    finally:  # also on KeyboardInterrupt: no partial output is left behind
        if tmp.exists():
            _remove(tmp)


@contextlib.contextmanager
def atomic_outputs(paths, *, overwrite: bool = False, inputs=()):
    """:func:`atomic_output` for several files written together: yield their temporary
    paths; all are renamed into place only if the block succeeds, none otherwise (every
    temporary file is created, so every folder is known writable, before the block)."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(atomic_output(p, overwrite=overwrite, inputs=inputs))
               for p in paths]


def check_image_output(path, *, shape, like: Bunch | None = None) -> np.dtype:
    """The dtype an image of ``shape`` is stored with in ``path``; refuse, before any work,
    what that format cannot hold.

    FITS keeps a float template's dtype (else float64). A raster keeps the integer dtype
    of a raster template, or is refused when the format cannot store it (never clipped
    or truncated silently); float data (from FITS, a float raster, or without a
    template) become float32 in TIFF, 16 bits in a gray PNG and 8 bits in a colour PNG
    or a JPEG. Colour rasters are ``(rows, columns, channels)`` with 2 to 4 channels
    (2 and 4 have alpha).

    Raises
    ------
    ValueError
        For an unsupported suffix, a FITS cube or a channel count a raster cannot hold,
        an alpha channel in a JPEG, or an integer template the format cannot store.

    Examples
    --------
    >>> from sparserec.io import check_image_output
    >>> check_image_output("out.tif", shape=(64, 64))
    dtype('float32')
    >>> check_image_output("out.jpg", shape=(64, 64, 4))
    Traceback (most recent call last):
    ...
    ValueError: 'out.jpg': JPEG has no alpha channel: write a PNG or TIFF for 4 channels
    """
    kind = image_format(path)
    shape = tuple(shape)
    if kind == "fits":
        if like is not None and like.dtype.kind == "f":
            return np.dtype(like.dtype).newbyteorder("=")
        return np.dtype(np.float64)
    name = f"{str(path)!r}"
    suffix = Path(path).suffix.lower()
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}.get(suffix, "TIFF")
    if like is not None and like.format == "fits" and len(shape) == 3:
        raise ValueError(f"{name}: a FITS cube of {shape[0]} planes cannot be written as "
                         f"{fmt}: write a FITS output")
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[-1] not in (2, 3, 4)):
        raise ValueError(f"{name}: {fmt} holds 2-D images, gray or of 2 to 4 channels "
                         f"(rows, columns, channels), got shape {shape}")
    if fmt == "JPEG" and len(shape) == 3 and shape[-1] in (2, 4):
        raise ValueError(f"{name}: JPEG has no alpha channel: write a PNG or TIFF for "
                         f"{shape[-1]} channels")
    # what each format stores here (TIFF: anything; PNG: 16 bits for gray images only)
    if fmt == "TIFF":
        allowed = None
    elif fmt == "PNG" and len(shape) == 2:
        allowed = (np.dtype(np.uint8), np.dtype(np.uint16))
    else:
        allowed = (np.dtype(np.uint8),)
    template = np.dtype(like.dtype) if like is not None and like.format == "raster" else None
    if template is not None and template.kind in "uib":
        if template.kind == "b":
            template = np.dtype(np.uint8)
        if allowed is not None and template not in allowed:
            what = ("the negative values of" if template.kind == "i"
                    else "the precision of")
            raise ValueError(f"{name}: {fmt} cannot store {what} the {template} input "
                             f"here: write a TIFF or FITS output")
        return template.newbyteorder("=")
    if template is not None and fmt == "TIFF":  # a float TIFF stays float
        return template.newbyteorder("=")
    # float data (from FITS, a float raster or no template)
    return np.dtype(np.float32) if allowed is None else allowed[-1]


def write_image(path, data, *, like: Bunch | None = None, history=(), overwrite: bool = False,
                inputs=(), into=None) -> Path:
    """Write an image atomically, in the format given by the suffix of ``path``.

    Parameters
    ----------
    path : str or Path
        Output file (``.fits``, ``.png``, ``.tif``, ...).
    data : array
        The image (real): 2-D, ``(rows, columns, channels)`` for a colour raster, or
        ``(planes, rows, columns)`` for a FITS cube (a colour raster written to FITS
        becomes one plane per channel).
    like : Bunch, optional
        What :func:`read_image` returned for the input: its FITS header is copied, and a
        raster is written back in the input's dtype (:func:`check_image_output`), scaled
        back by that dtype's maximum and clipped to its range.
    history : sequence of str
        Lines added as FITS ``HISTORY`` cards (ignored for rasters).
    overwrite : bool
        Replace an existing output.
    inputs : sequence of paths
        Files that must not be overwritten (the pipeline's inputs).
    into : Path, optional
        Write into this temporary file (from :func:`atomic_output` or
        :func:`atomic_outputs`, which renames it) instead of writing ``path`` atomically.

    Returns
    -------
    path : Path

    Raises
    ------
    ValueError
        For NaN/infinite pixels, complex data, or what :func:`check_image_output` refuses.
    """
    path = Path(path)
    kind = image_format(path)
    data = np.asarray(data)
    if np.iscomplexobj(data):
        raise ValueError(_complex_message(path, data.dtype))
    if not np.isfinite(data).all():
        raise ValueError("refusing to write an image with NaN or infinite pixels")
    dtype = check_image_output(path, shape=data.shape, like=like)
    if kind == "fits" and like is not None and like.format == "raster" and data.ndim == 3:
        data = np.moveaxis(data, -1, 0)  # FITS planes come first
    if into is None:
        with atomic_output(path, overwrite=overwrite, inputs=inputs) as tmp:
            _store(tmp, path, kind, data, dtype, like, history)
    else:
        _store(Path(into), path, kind, data, dtype, like, history)
    return path


def _store(tmp: Path, path: Path, kind: str, data, dtype, like, history) -> None:
    if kind == "fits":
        fits = _astropy_fits()
        if like is not None and like.format == "fits" and getattr(like, "n_hdus", 1) > 1:
            # a multi-extension file: every HDU kept (primary header, tables, other
            # images), the one that was read replaced by the result
            with fits.open(like.path, memmap=False) as source:
                hdul = fits.HDUList([h.copy() for h in source])
            hdu = hdul[like.hdu_index]
            hdu.data = data.astype(dtype)
        else:
            header = like.header.copy() if like is not None and like.header is not None \
                else None
            hdu = fits.PrimaryHDU(data.astype(dtype), header=header)
            hdul = fits.HDUList([hdu])
        for line in history:  # FITS cards are ASCII: escape the rest (file names)
            hdu.header.add_history(line.encode("ascii", "backslashreplace").decode())
        hdul.writeto(tmp, overwrite=True, output_verify="silentfix")
        return
    import imageio.v3 as iio

    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        scaled = np.rint(data * info.max)
        if n_out := int(((scaled < info.min) | (scaled > info.max)).sum()):
            low = -1 if info.min < 0 else 0
            warnings.warn(f"{n_out} pixel(s) outside [{low}, 1] were clipped when writing "
                          f"{path.name} as {dtype} (write FITS or a float TIFF to keep them)",
                          UserWarning, stacklevel=3)
        out = np.clip(scaled, info.min, info.max).astype(dtype)
    else:
        out = data.astype(dtype)
    suffix = path.suffix.lower()
    iio.imwrite(tmp, out, extension=".tif" if suffix in (".tif", ".tiff") else suffix)


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
