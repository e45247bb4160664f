import os
import stat

import numpy as np
import pytest

from sparserec.io import atomic_output, read_image, write_image

fits = pytest.importorskip("astropy.io.fits")


def _fits_file(path, data, **cards):
    hdu = fits.PrimaryHDU(data)
    for k, v in cards.items():
        hdu.header[k] = v
    hdu.writeto(path)
    return path


def test_fits_round_trip_keeps_header(tmp_path, rng):
    src = _fits_file(tmp_path / "in.fits", rng.random((8, 6)).astype(np.float32),
                     TELESCOP="HST", EXPTIME=1200.0)
    img = read_image(src)
    assert img.data.dtype == np.float64 and img.format == "fits"
    out = write_image(tmp_path / "out.fits", img.data * 2, like=img,
                      history=["sparserec deconvolve: test"], inputs=[src])
    with fits.open(out) as hdul:
        assert hdul[0].header["TELESCOP"] == "HST" and hdul[0].header["EXPTIME"] == 1200.0
        assert "sparserec deconvolve: test" in str(hdul[0].header["HISTORY"])
        assert hdul[0].data.dtype.kind == "f" and hdul[0].data.dtype.itemsize == 4
        np.testing.assert_allclose(hdul[0].data, img.data * 2, rtol=1e-6)


def test_fits_first_image_hdu_is_used(tmp_path):
    path = tmp_path / "ext.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((4, 5)))]).writeto(path)
    assert read_image(path).data.shape == (4, 5)


@pytest.mark.parametrize("stored, read", [((1, 64), (1, 64)), ((64, 1), (64, 1)),
                                          ((1, 1), (1, 1)), ((1, 1, 4, 5), (4, 5)),
                                          ((3, 1, 4, 5), (3, 4, 5))])
def test_fits_degenerate_axes(tmp_path, stored, read):
    """Leading length-1 axes (Stokes, frequency) go; the image's own two stay: a 1 x N
    image and a 1 x 1 PSF are 2-D (squeezed, they were refused as 1-D and 0-D)."""
    data = np.arange(np.prod(stored), dtype=float).reshape(stored)
    img = read_image(_fits_file(tmp_path / "in.fits", data))
    assert img.data.shape == read
    np.testing.assert_array_equal(img.data.ravel(), data.ravel())


def test_fits_without_image(tmp_path):
    path = tmp_path / "empty.fits"
    fits.PrimaryHDU().writeto(path)
    with pytest.raises(ValueError, match="no image data"):
        read_image(path)


@pytest.mark.parametrize("name", ["trunc.fits", "trunc.png"])
def test_corrupted_files_give_one_line_errors(tmp_path, name, rng):
    good = tmp_path / f"good{name[5:]}"
    if name.endswith(".fits"):
        _fits_file(good, rng.random((64, 64)))
    else:
        write_image(good, rng.random((64, 64)))
    bad = tmp_path / name
    bad.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 3])
    with pytest.raises(ValueError, match="cannot read image") as info:
        read_image(bad)
    assert "\n" not in str(info.value)


def test_png_round_trip_in_input_dtype(tmp_path, rng):
    data = (rng.random((5, 7)) * 65535).astype(np.uint16)
    import imageio.v3 as iio

    iio.imwrite(tmp_path / "in.png", data)
    img = read_image(tmp_path / "in.png")
    assert img.dtype == np.uint16 and img.data.max() <= 1
    write_image(tmp_path / "out.png", img.data, like=img)
    np.testing.assert_array_equal(iio.imread(tmp_path / "out.png"), data)


def test_tiff_float_round_trip(tmp_path, rng):
    data = rng.standard_normal((6, 4)).astype(np.float32)
    write_image(tmp_path / "a.tif", data, like=None)
    assert read_image(tmp_path / "a.tif").data.shape == (6, 4)


def test_refuses_to_overwrite_input_or_existing(tmp_path, rng):
    src = _fits_file(tmp_path / "in.fits", rng.random((4, 4)))
    before = src.read_bytes()
    with pytest.raises(ValueError, match="over the input"):
        write_image(src, np.zeros((4, 4)), inputs=[src], overwrite=True)
    with pytest.raises(FileExistsError, match="overwrite"):
        write_image(src, np.zeros((4, 4)))
    assert src.read_bytes() == before


def test_interrupted_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.fits"
    with pytest.raises(KeyboardInterrupt), atomic_output(target) as tmp:
        tmp.write_bytes(b"partial")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_unicode_and_spaces_in_paths(tmp_path, rng):
    folder = tmp_path / "ciel profond é"
    folder.mkdir()
    out = write_image(folder / "résultat 1.fits", rng.random((3, 3)))
    assert read_image(out).data.shape == (3, 3)


def test_bad_paths(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_image(tmp_path / "nope.fits")
    with pytest.raises(ValueError, match="unsupported image format"):
        read_image(tmp_path / "x.bmp")
    with pytest.raises(ValueError, match="NaN"):
        write_image(tmp_path / "nan.fits", np.full((2, 2), np.nan))


# ------------------------------------------------------------------ format x dtype x layout
def _raw(dtype, shape, rng):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return (rng.standard_normal(shape) * 100).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)


LOSSLESS = [(".png", np.uint8, c) for c in (None, 2, 3, 4)] + [(".png", np.uint16, None)] + [
    (".tif", d, c) for d in (np.uint8, np.uint16, np.int16, np.float32, np.float64)
    for c in (None, 3, 4)]


@pytest.mark.parametrize("suffix,dtype,channels", LOSSLESS,
                         ids=[f"{s[1:]}-{np.dtype(d).name}-{c or 1}ch" for s, d, c in LOSSLESS])
def test_raster_round_trip_is_exact(tmp_path, rng, suffix, dtype, channels):
    """Read, write back in the input's format: every value, sign and channel survives
    (int16 negatives, float TIFF range, alpha)."""
    import imageio.v3 as iio

    raw = _raw(dtype, (9, 7) if channels is None else (9, 7, channels), rng)
    iio.imwrite(tmp_path / f"in{suffix}", raw, extension=suffix)
    img = read_image(tmp_path / f"in{suffix}")
    write_image(tmp_path / f"out{suffix}", img.data, like=img)
    back = iio.imread(tmp_path / f"out{suffix}")
    assert back.dtype == raw.dtype and back.shape == raw.shape
    np.testing.assert_array_equal(back, raw)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.float32, np.float64])
def test_fits_round_trip_keeps_values(tmp_path, rng, dtype):
    raw = _raw(dtype, (5, 6), rng)
    img = read_image(_fits_file(tmp_path / "in.fits", raw))
    write_image(tmp_path / "out.fits", img.data, like=img)
    back = fits.getdata(tmp_path / "out.fits")
    assert back.dtype.kind == "f"
    if np.dtype(dtype).kind == "f":
        assert back.dtype.itemsize == np.dtype(dtype).itemsize
    np.testing.assert_array_equal(back, raw.astype(np.float64))


def test_jpeg_round_trip(tmp_path, rng):
    import imageio.v3 as iio

    ramp = np.add.outer(np.arange(16), np.arange(16)) * 7.0  # smooth: JPEG keeps it
    raw = np.stack([ramp, ramp[::-1], ramp.T], axis=-1).astype(np.uint8)
    iio.imwrite(tmp_path / "in.jpg", raw)
    img = read_image(tmp_path / "in.jpg")
    write_image(tmp_path / "out.jpg", img.data, like=img)
    back = iio.imread(tmp_path / "out.jpg")
    assert back.dtype == np.uint8 and back.shape == raw.shape
    assert np.abs(back.astype(int) - iio.imread(tmp_path / "in.jpg").astype(int)).mean() < 4


def test_float_tiff_without_template_stays_float(tmp_path, rng):
    data = rng.standard_normal((6, 4)) * 50 - 20  # far outside [0, 1]
    write_image(tmp_path / "a.tif", data)
    img = read_image(tmp_path / "a.tif")
    assert img.dtype == np.float32
    np.testing.assert_allclose(img.data, data, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_raster_is_refused_not_cast(tmp_path, rng, dtype):
    """FITS images cannot be complex; TIFF can (and any array can)."""
    import imageio.v3 as iio

    raw = (rng.standard_normal((4, 4)) + 1j * rng.standard_normal((4, 4))).astype(dtype)
    path = tmp_path / "c.tif"
    iio.imwrite(path, raw, extension=".tif")
    with pytest.raises(ValueError, match="complex data") as info:
        read_image(path)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="complex data"):
        write_image(tmp_path / "o.fits", raw)


@pytest.mark.parametrize("name,shape,like,match", [
    ("out.npy", (4, 4), None, "unsupported image format"),
    ("out.jpg", (4, 4, 4), None, "no alpha channel"),
    ("out.jpg", (4, 4, 2), None, "no alpha channel"),
    ("out.png", (4, 4, 5), None, "2 to 4 channels"),
    ("out.png", (3, 4, 4), "fits", "FITS cube of 3 planes"),
    ("out.png", (4, 4), np.int16, "negative values"),
    ("out.jpg", (4, 4), np.int16, "negative values"),
    ("out.jpg", (4, 4), np.uint16, "precision"),
    ("out.png", (4, 4, 3), np.uint16, "precision"),
])
def test_conversions_a_format_cannot_hold_are_refused(name, shape, like, match):
    from sklearn.utils import Bunch

    from sparserec.io import check_image_output

    if like == "fits":
        like = Bunch(format="fits", dtype=np.dtype(np.float32), header=None)
    elif like is not None:
        like = Bunch(format="raster", dtype=np.dtype(like), header=None)
    with pytest.raises(ValueError, match=match):
        check_image_output(name, shape=shape, like=like)


def test_rgb_raster_to_fits_is_planes_first(tmp_path, rng):
    import imageio.v3 as iio

    raw = _raw(np.uint8, (5, 6, 3), rng)
    iio.imwrite(tmp_path / "in.png", raw)
    img = read_image(tmp_path / "in.png")
    write_image(tmp_path / "out.fits", img.data, like=img)
    np.testing.assert_allclose(fits.getdata(tmp_path / "out.fits"),
                               np.moveaxis(raw, -1, 0) / 255)


# ------------------------------------------------------------------------- permissions
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_outputs_get_the_permissions_of_a_plain_open(tmp_path, rng, umask):
    """atomic_output's temporary file is private (mkstemp): the output is not."""
    old = os.umask(umask)
    try:
        for name in ("a.fits", "a.png", "a.tif"):
            write_image(tmp_path / name, rng.random((4, 4)))
            with open(tmp_path / f"plain-{name}", "w"):
                pass
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == \
                stat.S_IMODE((tmp_path / f"plain-{name}").stat().st_mode) == 0o666 & ~umask
        with atomic_output(tmp_path / "store.zarr", directory=True) as tmp:
            (tmp / "chunk").write_bytes(b"x")
        assert stat.S_IMODE((tmp_path / "store.zarr").stat().st_mode) == 0o777 & ~umask
    finally:
        os.umask(old)


def test_replaced_output_keeps_its_permissions(tmp_path, rng):
    target = tmp_path / "a.fits"
    write_image(target, rng.random((4, 4)))
    os.chmod(target, 0o640)
    write_image(target, rng.random((4, 4)), overwrite=True)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_atomic_outputs_all_or_nothing(tmp_path):
    from sparserec.io import atomic_outputs

    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    with pytest.raises(RuntimeError), atomic_outputs([a, b]) as (ta, tb):
        ta.write_text("a")
        raise RuntimeError("the second file failed")
    assert list(tmp_path.iterdir()) == []
    with atomic_outputs([a, b]) as (ta, tb):
        ta.write_text("a")
        tb.write_text("b")
    assert a.read_text() == "a" and b.read_text() == "b"
