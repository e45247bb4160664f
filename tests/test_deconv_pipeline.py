"""The file pipeline behind ``sparserec deconvolve``: FITS and PNG in and out, end to end."""

import warnings

import numpy as np
import pytest

from sparserec.cli import main
from sparserec.datasets import make_blurred_image, make_sky_field
from sparserec.deconv import WaveletDeconvolution, gaussian_psf
from sparserec.deconv.pipeline import deconvolve_array, deconvolve_file
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
    assert "method=starlet" in history and "psf.fits" in history and "noise_sigma=" in history
    assert {"max_iter=50", "n_iter=50"} <= set(history.split())  # cards break between words
    data = fits.getdata(out)
    expected = WaveletDeconvolution(PSF, max_iter=50, k_sigma=3.0).fit(y).image_
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


def test_cli_reports_non_convergence_in_one_line(field, tmp_path, capsys):
    _, _, path, psf_path = field
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # over this module's filter
        assert main(["deconvolve", str(path), "--psf", str(psf_path), "-o",
                     str(tmp_path / "o.fits"), "--max-iter", "3", "--quiet"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["sparserec: warning: WaveletDeconvolution did not converge in max_iter=3 "
                   "iterations (tol=0.0001); the last iterate is returned. Increase max_iter "
                   "or tol."]
