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
