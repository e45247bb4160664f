"""The file pipeline behind ``sparserec deconvolve``: FITS and PNG in and out, end to end."""

import warnings
from pathlib import Path

import numpy as np
import pytest

from sparserec.cli import main
from sparserec.datasets import make_blurred_image, make_sky_field
from sparserec.deconv import WaveletDeconvolution, gaussian_psf
from sparserec.deconv.methods import deconvolve_array
from sparserec.imaging import deconvolve_file
from sparserec.io import read_image, write_image

fits = pytest.importorskip("astropy.io.fits")

PSF = gaussian_psf(15, sigma=1.5)
pytestmark = pytest.mark.filterwarnings("ignore:.*did not converge")  # short runs on purpose


@pytest.fixture
def field(tmp_path):
    sky = make_sky_field((64, 64), n_stars=6, n_galaxies=3, random_state=0)
    y = make_blurred_image(sky.image, PSF, noise_sigma=0.02, random_state=0).noisy
    header = fits.Header({"OBJECT": "XDF crop", "EXPTIME": 1200.0, "BUNIT": "e-/s"})
    path = tmp_path / "in put é.fits"  # spaces and non-ASCII in the name
    fits.PrimaryHDU(y, header=header).writeto(path)
    psf_path = tmp_path / "psf.fits"
    fits.PrimaryHDU(PSF).writeto(psf_path)
    return sky, y, path, psf_path


def test_fits_round_trip_keeps_header_and_matches_the_estimator(field, tmp_path):
    sky, y, path, psf_path = field
    before = path.read_bytes()
    out = tmp_path / "out.fits"
    res = deconvolve_file(path, out, psf=psf_path, max_iter=50)
    assert path.read_bytes() == before  # the input is untouched
    header = fits.getheader(out)
    assert header["OBJECT"] == "XDF crop" and header["EXPTIME"] == 1200.0
    history = str(header["HISTORY"])
    assert "method=auto" in history and "psf.fits" in history and "noise_sigma=" in history
    assert "wavelet=" in history and "threshold=" in history  # the automatic choices
    words = set(history.split())  # cards break between words
    assert {"max_iter=50", "k_sigma=sure"} <= words
    # the threshold SURE chose is recorded
    est = WaveletDeconvolution(PSF, max_iter=50).fit(y)  # the defaults: method="auto"
    assert f"threshold={est.threshold_}" in words and f"n_iter={est.n_iter_}" in words
    data = fits.getdata(out)
    expected = est.image_
    np.testing.assert_allclose(data, expected, rtol=1e-6, atol=1e-9)
    assert np.linalg.norm(data - sky.image) < np.linalg.norm(y - sky.image)
    assert res.output == out and res.noise_sigma[0] == pytest.approx(0.02, rel=0.15)


def test_cli_fits_with_psf_model_and_report(field, tmp_path, capsys):
    _, _, path, _ = field
    out, report = tmp_path / "out.fits", tmp_path / "report.png"
    code = main(["deconvolve", str(path), "--psf-model", "gaussian", "--fwhm", "3.5",
                 "-o", str(out), "--max-iter", "20", "--report", str(report), "--quiet"])
    assert code == 0 and out.exists() and report.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert fits.getdata(out).shape == (64, 64)
    # an existing output is refused without --overwrite (exit 1, one line), kept intact
    stamp = out.read_bytes()
    code = main(["deconvolve", str(path), "--psf-model", "gaussian", "--fwhm", "3.5",
                 "-o", str(out), "--max-iter", "5", "--quiet"])
    err = capsys.readouterr().err
    assert code != 0 and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert out.read_bytes() == stamp
    assert main(["deconvolve", str(path), "--psf-model", "gaussian", "--fwhm", "3.5",
                 "-o", str(out), "--max-iter", "5", "--quiet", "--overwrite"]) == 0
    assert out.read_bytes() != stamp


def test_cli_refuses_to_write_over_its_input(field, capsys):
    _, _, path, psf_path = field
    before = path.read_bytes()
    code = main(["deconvolve", str(path), "--psf", str(psf_path), "-o", str(path),
                 "--overwrite", "--quiet"])
    assert code != 0 and "input" in capsys.readouterr().err
    assert path.read_bytes() == before


@pytest.mark.parametrize("method", ["tikhonov", "wiener", "richardson-lucy", "wavelet"])
def test_every_method_runs_on_a_png(method, tmp_path):
    img = np.clip(make_sky_field((48, 48), n_stars=4, n_galaxies=2,
                                 random_state=1).image / 20, 0, 1)
    src = tmp_path / "in.png"
    write_image(src, make_blurred_image(img, PSF, noise_sigma=0.01, random_state=0).noisy
                .clip(0, 1))
    out = tmp_path / f"out-{method}.png"
    assert main(["deconvolve", str(src), "--psf-model", "gaussian", "--fwhm", "3.5",
                 "-o", str(out), "--method", method, "--max-iter", "10", "--quiet"]) == 0
    assert read_image(out).data.shape == (48, 48)


def test_baselines_refuse_nan_pixels_naming_them():
    img = np.ones((32, 32))
    img[3, 4] = np.nan
    with pytest.raises(ValueError, match=r"1 NaN pixel.*row 3, col 4"):
        deconvolve_array(img, PSF, method="wiener")
    # the sparse methods mask them instead
    assert np.isfinite(deconvolve_array(img, PSF, max_iter=5).image).all()


@pytest.mark.parametrize("method, params, name", [
    *[(m, {"noise_sigma": v}, "noise_sigma") for m in ("tikhonov", "wiener", "richardson-lucy")
      for v in (-1.0, np.nan)],
    ("richardson-lucy", {"max_iter": -1}, "max_iter"),
])
def test_baselines_refuse_bad_settings_naming_them(method, params, name):
    """A negative or NaN noise level was returned (and written to the FITS history) as
    is; max_iter=-1 was refused as n_iter, a name the caller never gave."""
    img = np.random.default_rng(0).random((32, 32))
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        deconvolve_array(img, PSF, method=method, **params)


def test_cli_reports_non_convergence_in_one_line(field, tmp_path, capsys):
    _, _, path, psf_path = field
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # over this module's filter
        assert main(["deconvolve", str(path), "--psf", str(psf_path), "-o",
                     str(tmp_path / "o.fits"), "--max-iter", "3", "--quiet"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["sparserec: warning: WaveletDeconvolution's threshold path did not "
                   "converge: the risk estimate (SURE) still decreased at max_iter=3 "
                   "iterations; the iterate of least risk so far is returned. Increase "
                   "max_iter for a sharper image"]
    with warnings.catch_warnings():  # a fixed threshold: the solver's own stopping rule
        warnings.simplefilter("always")
        assert main(["deconvolve", str(path), "--psf", str(psf_path), "-o",
                     str(tmp_path / "p.fits"), "--max-iter", "3", "--k-sigma", "3",
                     "--quiet"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["sparserec: warning: WaveletDeconvolution did not converge in max_iter=3 "
                   "iterations (tol=0.0001); the last iterate is returned. Increase max_iter "
                   "or tol."]


def test_report_leaves_matplotlib_alone(field, tmp_path):
    """The report is drawn on a bare Figure: the caller's backend is not switched and no
    pyplot figure is left open (issue 16: a notebook's backend was switched to Agg)."""
    import matplotlib
    import matplotlib.pyplot as plt

    _, _, path, _ = field
    before_backend, before_figures = matplotlib.get_backend(), plt.get_fignums()
    res = deconvolve_file(path, tmp_path / "o.fits", psf_model="gaussian", fwhm=3.0,
                          max_iter=5, report=tmp_path / "r.png")
    assert res.report.read_bytes()[:4] == b"\x89PNG"
    assert matplotlib.get_backend() == before_backend
    assert plt.get_fignums() == before_figures


def test_library_errors_name_parameters_not_flags(field, tmp_path):
    from sparserec.imaging import load_psf

    _, _, path, _ = field
    img = np.ones((16, 16))
    img[0, 0] = np.nan
    calls = [lambda: load_psf(),
             lambda: load_psf(psf_model="gaussian"),
             lambda: deconvolve_array(img, PSF, method="wiener"),
             lambda: deconvolve_file(path, path.with_name("x.fits"), psf_model="gaussian",
                                     fwhm=2.0, report=path.with_name("x.fits"))]
    for call in calls:
        with pytest.raises(ValueError) as info:
            call()
        assert "--" not in str(info.value), str(info.value)
    (tmp_path / "exists.fits").write_bytes(b"")
    with pytest.raises(FileExistsError, match="overwrite=True") as info:
        deconvolve_file(path, tmp_path / "exists.fits", psf_model="gaussian", fwhm=2.0)
    assert "--" not in str(info.value)


# ------------------------------------------------------------------ no data loss in files
def _blurred_raster(rng, shape=(40, 40)):
    img = np.clip(make_sky_field(shape, n_stars=4, n_galaxies=2, random_state=1).image / 20,
                  0, 1)
    return make_blurred_image(img, PSF, noise_sigma=0.01, random_state=0).noisy


def test_rgba_alpha_is_passed_through(tmp_path, rng):
    import imageio.v3 as iio

    grey = np.clip(_blurred_raster(rng), 0, 1)
    alpha = np.zeros(grey.shape, np.uint8)
    alpha[5:30, 8:35] = 255  # a mask, not light: it must come out unchanged
    alpha[0, 0] = 17
    rgba = np.dstack([(grey * 255).astype(np.uint8)] * 3 + [alpha])
    iio.imwrite(tmp_path / "in.png", rgba)
    res = deconvolve_file(tmp_path / "in.png", tmp_path / "out.png", psf_model="gaussian",
                          fwhm=3.5, method="wiener")
    out = iio.imread(res.output)
    assert out.shape == rgba.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 3], alpha)
    assert len(res.noise_sigma) == 3  # three colour planes deconvolved, not four
    assert not np.array_equal(out[..., 0], rgba[..., 0])


def test_int16_and_float_tiff_keep_sign_and_range(tmp_path, rng):
    """The file result is the array result, in the input's dtype: no clip to [0, 1], no
    loss of sign (reference: deconvolve_array on the same values)."""
    import imageio.v3 as iio

    from sparserec.deconv.psf import psf_model

    psf = psf_model("gaussian", 3.5)
    field = _blurred_raster(rng)
    signed = np.rint((field - 0.3) * 20000).astype(np.int16)  # a bias-subtracted frame
    iio.imwrite(tmp_path / "s.tif", signed, extension=".tif")
    deconvolve_file(tmp_path / "s.tif", tmp_path / "s-out.tif", psf_model="gaussian",
                    fwhm=3.5, method="wiener")
    out = iio.imread(tmp_path / "s-out.tif")
    expected = deconvolve_array(signed / 32767.0, psf, method="wiener").image * 32767
    assert out.dtype == np.int16 and out.min() < -1000
    np.testing.assert_array_equal(out, np.clip(np.rint(expected), -32768, 32767))
    floats = ((field - 0.3) * 1e4).astype(np.float32)
    iio.imwrite(tmp_path / "f.tif", floats, extension=".tif")
    deconvolve_file(tmp_path / "f.tif", tmp_path / "f-out.tif", psf_model="gaussian",
                    fwhm=3.5, method="wiener")
    out = iio.imread(tmp_path / "f-out.tif")
    expected = deconvolve_array(floats, psf, method="wiener").image
    assert out.dtype == np.float32 and out.min() < -1000
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("name,args,match", [
    ("out.npy", [], "unsupported image format"),
    ("out.jpg", [], "no alpha channel"),
    ("out.png", ["--report", "r.jpg"], "report must be a .png"),
])
def test_cli_refuses_bad_outputs_before_any_work(tmp_path, capsys, monkeypatch, name, args,
                                                 match):
    import imageio.v3 as iio

    import sparserec.imaging

    iio.imwrite(tmp_path / "in.png", np.zeros((32, 32, 4), np.uint8))

    def no_work(*a, **k):
        raise AssertionError("the deconvolution started before the output was checked")

    monkeypatch.setattr(sparserec.imaging, "deconvolve_array", no_work)
    monkeypatch.chdir(tmp_path)
    code = main(["deconvolve", "in.png", "--psf-model", "gaussian", "--fwhm", "2", "-o", name,
                 *args])
    err = capsys.readouterr().err
    assert code == 2 and match in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


def test_report_failure_leaves_no_output(field, tmp_path, monkeypatch):
    """All or nothing: a report that cannot be written (here: its folder refuses the
    temporary file, as an unwritable folder does for a non-root user) leaves no output."""
    import tempfile

    _, _, path, _ = field
    (tmp_path / "locked").mkdir()
    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).name == "locked":
            raise PermissionError(13, "Permission denied", str(dir))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    out = tmp_path / "out.fits"
    code = main(["deconvolve", str(path), "--psf-model", "gaussian", "--fwhm", "3", "-o",
                 str(out), "--report", str(tmp_path / "locked" / "r.png"), "--max-iter", "3",
                 "--quiet"])
    assert code == 2 and not out.exists()
    assert not list(tmp_path.glob("**/*.part"))
    monkeypatch.setattr(tempfile, "mkstemp", real)

    def broken_savefig(*args, **kwargs):
        raise OSError(28, "No space left on device")

    from matplotlib.figure import Figure

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="No space"):
        deconvolve_file(path, out, psf_model="gaussian", fwhm=3.0, max_iter=3,
                        report=tmp_path / "r.png")
    assert not out.exists() and not (tmp_path / "r.png").exists()


def test_complex_input_is_refused_clearly(tmp_path):
    import imageio.v3 as iio

    iio.imwrite(tmp_path / "c.tif", np.ones((16, 16), np.complex64), extension=".tif")
    with pytest.raises(ValueError, match="complex data"):
        deconvolve_file(tmp_path / "c.tif", tmp_path / "o.tif", psf_model="gaussian",
                        fwhm=2.0)
    with pytest.raises(TypeError, match="complex"):
        deconvolve_array(np.ones((16, 16), complex), PSF, method="wiener")


def test_multi_extension_fits_keeps_every_hdu(field, tmp_path):
    _, y, _, psf_path = field
    table = fits.BinTableHDU.from_columns([fits.Column(name="flux", format="D",
                                                       array=np.arange(3.0))], name="CAT")
    source = tmp_path / "mef.fits"
    fits.HDUList([fits.PrimaryHDU(header=fits.Header({"TELESCOP": "HST"})),
                  fits.ImageHDU(y, header=fits.Header({"EXTNAME": "SCI", "GAIN": 2.0})),
                  table]).writeto(source)
    out = tmp_path / "mef_out.fits"
    deconvolve_file(source, out, psf=psf_path, max_iter=20)
    with fits.open(out) as hdul, fits.open(source) as src:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "CAT"]
        assert hdul[0].header["TELESCOP"] == "HST" and hdul["SCI"].header["GAIN"] == 2.0
        assert "method=auto" in str(hdul["SCI"].header["HISTORY"])
        np.testing.assert_array_equal(hdul["CAT"].data["flux"], src["CAT"].data["flux"])
        expected = deconvolve_array(y, PSF, max_iter=20).image  # the file's PSF, read back
        np.testing.assert_allclose(hdul["SCI"].data, expected, rtol=1e-5, atol=1e-8)


def test_saving_warns_when_it_clips(tmp_path):
    with pytest.warns(UserWarning, match=r"2 pixel\(s\) outside \[0, 1\] were clipped"):
        write_image(tmp_path / "x.png", np.array([[0.5, 1.5], [-0.2, 0.0]]))
    assert not list(tmp_path.glob("*.png.*"))  # no half-written temporary left


def test_report_has_sky_axes_when_the_header_has_a_wcs(tmp_path, monkeypatch):
    """A FITS input with a celestial WCS gets RA/Dec axes on its image panels (WCSAxes),
    the PSF panel and a WCS-less input keep plain, hidden pixel axes."""
    from astropy.io import fits
    from astropy.visualization.wcsaxes import WCSAxes
    from astropy.wcs import WCS
    from scipy.ndimage import gaussian_filter as gaussian_blur

    from sparserec import imaging

    drawn = []
    original = imaging._report_figure
    monkeypatch.setattr(imaging, "_report_figure",
                        lambda *a, **k: drawn.append(original(*a, **k)) or drawn[-1])
    rng = np.random.default_rng(0)
    data = np.zeros((32, 32))
    data[8:24:5, 8:24:5] = 1.0
    data = gaussian_blur(data, 1.0) + 0.01 * rng.standard_normal(data.shape)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval, wcs.wcs.crpix, wcs.wcs.cdelt = [150.0, 2.0], [16, 16], [-1e-4, 1e-4]
    fits.PrimaryHDU(data, header=wcs.to_header()).writeto(tmp_path / "sky.fits")
    fits.PrimaryHDU(data).writeto(tmp_path / "plain.fits")
    for name in ("sky", "plain"):
        deconvolve_file(tmp_path / f"{name}.fits", tmp_path / f"{name}_o.fits",
                        psf_model="gaussian", fwhm=2.0, max_iter=3,
                        report=tmp_path / f"{name}.png")
    sky, plain = ([ax for ax in fig.axes if ax.get_label() != "<colorbar>"] for fig in drawn)
    assert [isinstance(ax, WCSAxes) for ax in sky] == [True, True, True, False]
    assert sky[0].wcs.wcs.ctype[0] == "RA---TAN"
    assert not any(isinstance(ax, WCSAxes) for ax in plain)


@pytest.mark.parametrize("method", ["auto", "starlet", "wavelet"])
def test_sparse_methods_mean_the_same_in_every_entry_point(method):
    """deconvolve and deconvolve_array (the CLI's) share one settings table: the same
    method name gives the same image (they once disagreed on ``"wavelet"``)."""
    from sparserec.deconv import deconvolve

    sky = make_sky_field((48, 48), n_stars=4, n_galaxies=2, random_state=2).image
    y = make_blurred_image(sky / sky.max(), PSF, noise_sigma=0.01, random_state=0).noisy
    a = deconvolve(y, PSF, method=method, max_iter=30)
    b = deconvolve_array(y, PSF, method=method, max_iter=30)
    np.testing.assert_allclose(a, b.image, rtol=1e-12, atol=1e-12)


def test_a_bad_plane_of_a_fits_cube_is_named(tmp_path):
    cube = np.stack([make_blurred_image(np.ones((24, 24)), PSF, noise_sigma=0.01,
                                        random_state=i).noisy for i in range(3)])
    cube[1] = np.nan
    src = tmp_path / "cube.fits"
    fits.PrimaryHDU(cube).writeto(src)
    with pytest.raises(ValueError, match=r"plane 1 of 3: .*no finite value"):
        deconvolve_file(src, tmp_path / "out.fits", psf=PSF, max_iter=10)
    assert not (tmp_path / "out.fits").exists()
