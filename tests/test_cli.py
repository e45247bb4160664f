import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sparserec import __version__
from sparserec.cli import FAMILY_DEMOS, main


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"sparserec {__version__}"


def test_info_lists_backends(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for word in ("numpy", "numba", "cupy", "backends", "solver families"):
        assert word in out


def test_entry_point_installed():
    script = Path(sys.executable).parent / "sparserec"
    for command in ([str(script)], [sys.executable, "-m", "sparserec.cli"],
                    [sys.executable, "-m", "sparserec"]):
        out = subprocess.run([*command, "--version"], capture_output=True, text=True, check=True)
        assert __version__ in out.stdout


def test_demo_quick_writes_report(tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["demo", "--quick", "--quiet", "--out", str(out)])
    report = json.loads((out / "results.json").read_text())
    results = report["families"]
    assert set(results) == set(FAMILY_DEMOS)
    # the report says what ran, on what and how: versions, parameters, seed
    assert report["parameters"]["seed"] == 0 and report["parameters"]["quick"] is True
    assert report["environment"]["sparserec"] == __version__ and report["environment"]["numpy"]
    html = (out / "index.html").read_text()
    assert "seed = 0" in html and "numpy = " in html and "first calls" in html
    failed = {k: v for k, v in results.items() if v["status"] == "failed"}
    assert not failed and code == 0
    for family, res in results.items():
        if res["status"] == "ok":
            assert res["rows"] and "time (s)" in res["rows"][0], family
            assert res["warm_seconds"] >= 0, family
            assert (out / res["figure_file"]).stat().st_size > 1000
    assert (out / "index.html").exists()
    assert not list(out.glob("*.part"))


def test_demo_unknown_family(capsys):
    assert main(["demo", "--family", "nope", "--out", "unused"]) == 2
    assert "--family must be among" in capsys.readouterr().err


def _tiled_input(tmp_path):
    fits = pytest.importorskip("astropy.io.fits")
    from sparserec.datasets import make_blurred_image, make_sky_field
    from sparserec.deconv import gaussian_psf

    sky = make_sky_field((96, 96), n_stars=12, n_galaxies=4, random_state=0)
    obs = make_blurred_image(sky.image, gaussian_psf(9, fwhm=3.0), noise_sigma=0.01,
                             random_state=0).noisy
    fits.PrimaryHDU(obs, header=fits.Header({"OBJECT": "tiles"})).writeto(tmp_path / "in.fits")
    return obs


def test_deconvolve_tiled_flags(tmp_path, capsys):
    pytest.importorskip("dask.array")
    fits = pytest.importorskip("astropy.io.fits")
    import numpy as np

    from sparserec.deconv import gaussian_psf
    from sparserec.distributed import deconvolve_tiled

    obs = _tiled_input(tmp_path)
    args = ["deconvolve", str(tmp_path / "in.fits"), "--psf-model", "gaussian", "--fwhm",
            "3.0", "--psf-size", "9", "--max-iter", "10", "--tile", "48", "--halo", "16",
            "--scheduler", "threads"]
    assert main([*args, "-o", str(tmp_path / "out.fits")]) == 0
    assert "2x2 tiles, halo 16" in capsys.readouterr().out
    expected = deconvolve_tiled(obs, gaussian_psf(9, fwhm=3.0), tile=48, halo=16,
                                client="sync", max_iter=10).image
    with fits.open(tmp_path / "out.fits") as hdul:
        assert hdul[0].header["OBJECT"] == "tiles"
        np.testing.assert_allclose(hdul[0].data, expected, atol=1e-10)
    assert main([*args, "-o", str(tmp_path / "out.zarr"), "--quiet"]) == 0
    assert (tmp_path / "out.zarr").is_dir()
    # an existing output needs --overwrite; a raster output is refused in tiled mode
    assert main([*args, "-o", str(tmp_path / "out.fits"), "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args, "-o", str(tmp_path / "out.png"), "--quiet"]) == 2
    assert "must be a FITS file (.fits) or a Zarr store" in capsys.readouterr().err


def test_deconvolve_tiled_refuses_report(tmp_path, capsys):
    _tiled_input(tmp_path)
    code = main(["deconvolve", str(tmp_path / "in.fits"), "--psf-model", "gaussian",
                 "--fwhm", "3.0", "-o", str(tmp_path / "out.fits"), "--tile", "48",
                 "--report", str(tmp_path / "r.png")])
    assert code == 2
    assert "--report is not available with --tile" in capsys.readouterr().err


def test_deconvolve_noise_map_file(tmp_path, capsys):
    """``--noise FILE`` weights the fit by the map (recorded in the history; closer to the
    truth than the estimated level when half the image is 8 times noisier), also tiled,
    ``--noise SIGMA`` sets the level; a map of another shape or with a baseline method is
    refused."""
    fits = pytest.importorskip("astropy.io.fits")
    import numpy as np

    from sparserec.datasets import make_blurred_image, make_sky_field
    from sparserec.deconv import gaussian_psf

    sky = make_sky_field((96, 96), n_stars=12, n_galaxies=4, random_state=0).image
    sky = sky / sky.max()
    noise = np.full(sky.shape, 0.005)
    noise[:, 48:] = 0.04
    obs = make_blurred_image(sky, gaussian_psf(9, fwhm=3.0), noise_sigma=0.0,
                             random_state=0).noisy
    obs = obs + np.random.default_rng(1).normal(size=obs.shape) * noise
    fits.writeto(tmp_path / "in.fits", obs)
    fits.writeto(tmp_path / "err.fits", noise)
    fits.writeto(tmp_path / "bad.fits", noise[:50])
    args = ["deconvolve", str(tmp_path / "in.fits"), "--psf-model", "gaussian", "--fwhm",
            "3.0", "--psf-size", "9", "--quiet"]
    errors = {}
    for name, extra in (("map", ["--noise", str(tmp_path / "err.fits")]),
                        ("level", ["--noise", "0.02"]), ("estimated", [])):
        assert main([*args, "-o", str(tmp_path / f"{name}.fits"), *extra]) == 0
        with fits.open(tmp_path / f"{name}.fits") as hdul:
            history = " ".join(hdul[0].header["HISTORY"])
            errors[name] = np.linalg.norm(hdul[0].data - sky)
        assert {"map": "noise=map:err.fits", "level": "noise=0.02 noise_sigma=0.02",
                "estimated": "noise=estimated"}[name] in history
    assert errors["map"] < 0.9 * errors["estimated"]
    # tiled: each tile fitted with its window of the map
    if importlib.util.find_spec("dask") is not None:
        assert main([*args, "-o", str(tmp_path / "tiled.fits"), "--tile", "48",
                     "--noise", str(tmp_path / "err.fits")]) == 0
        with fits.open(tmp_path / "tiled.fits") as hdul:
            assert "noise map's median" in " ".join(hdul[0].header["HISTORY"])
            assert np.linalg.norm(hdul[0].data - sky) < 0.9 * errors["estimated"]
    for extra, message in ((["--noise", str(tmp_path / "bad.fits")], "noise map has shape"),
                           (["--noise", "nofile.fits"], "a number or an image file"),
                           (["--noise", str(tmp_path / "err.fits"), "--method", "wiener"],
                            "method='wiener' has none"),
                           (["--noise", str(tmp_path / "err.fits"), "--tile", "48",
                             "--method", "wiener"], "method='wiener' has none")):
        assert main([*args, "-o", str(tmp_path / "x.fits"), *extra]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "x.fits").exists()


def test_parser_imports_no_solver_family():
    """``sparserec --help`` stays light: the deconvolve choices (imported from
    sparserec.deconv.methods, not copied) are read only when that command needs them."""
    code = ("import sys; from sparserec.cli import build_parser; p = build_parser(); "
            "p.parse_args(['info']); light = 'sparserec.deconv' not in sys.modules; "
            "a = p.parse_args(['deconvolve', 'x.fits', '-o', 'y.fits', '--psf-model', "
            "'moffat', '--method', 'wiener']); print(light, a.method, a.psf_model)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["True", "wiener", "moffat"]


def test_deconvolve_choices_come_from_the_library(capsys):
    from sparserec.deconv.methods import METHODS, PSF_MODELS

    with pytest.raises(SystemExit):
        main(["deconvolve", "x.fits", "-o", "y.fits", "--psf-model", "nope"])
    err = capsys.readouterr().err
    assert all(name in err for name in PSF_MODELS)
    with pytest.raises(SystemExit):
        main(["deconvolve", "--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in METHODS)
