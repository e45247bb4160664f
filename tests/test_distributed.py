"""sparserec.distributed on a real two-process distributed.LocalCluster.

References: the untiled solve (:func:`sparserec.deconv.methods.deconvolve_array` on the
whole image with the same noise level), serial fits, serial GridSearchCV.
"""

import os
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
pytest.importorskip("zarr")

from sparserec import BCDRegressor  # noqa: E402
from sparserec.base import ConvergenceWarning  # noqa: E402
from sparserec.datasets import make_blurred_image, make_sky_field  # noqa: E402
from sparserec.deconv import estimate_noise_sigma, gaussian_psf  # noqa: E402
from sparserec.deconv.methods import deconvolve_array  # noqa: E402
from sparserec.distributed import (  # noqa: E402
    _even_chunks,
    deconvolve_tiled,
    default_halo,
    fit_many,
)
from sparserec.metrics import psnr  # noqa: E402

PSF = gaussian_psf(11, sigma=1.5)


@pytest.fixture(scope="module")
def client():
    """One two-worker, one-thread-per-worker process cluster for the whole module."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def _sky(n, seed=0):
    sky = make_sky_field((n, n), n_stars=n // 6, n_galaxies=n // 12, random_state=seed)
    return sky.image, make_blurred_image(sky.image, PSF, noise_sigma=0.01,
                                         random_state=seed).noisy


def _untiled(obs, max_iter):
    """The whole-image solve at the tiled run's threshold (its default k_sigma=3)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return deconvolve_array(obs, PSF, max_iter=max_iter, k_sigma=3.0,
                                noise_sigma=estimate_noise_sigma(obs)).image


def _compare(ref, tiled):
    return float(np.abs(ref - tiled).max()), psnr(ref, tiled)


# ---------------------------------------------------------------------- small pieces
def test_import_is_lazy():
    code = ("import sys, sparserec, sparserec.distributed; "
            "print([m for m in ('dask', 'distributed', 'zarr') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.stdout.strip() == "[]"


def test_chunks_and_halo():
    assert _even_chunks(2048, 1024) == (1024, 1024)
    assert _even_chunks(1000, 300) == (250, 250, 250, 250)
    assert sum(_even_chunks(1001, 256)) == 1001
    # 2 * 5 (PSF half-width) + 2 * (2**3 - 1) (starlet, 4 scales) = 24
    assert default_halo((11, 11), 4) == 24
    assert default_halo((11, 11), 5) == 40


# ---------------------------------------------------------------------- tiled deconvolution
def test_tiled_matches_untiled_on_cluster(client):
    truth, obs = _sky(256)
    ref = _untiled(obs, 20)
    res = deconvolve_tiled(obs, PSF, tile=128, client=client, max_iter=20, k_sigma=3.0)
    assert res.tile == ((128, 128), (128, 128)) and res.halo == 24
    assert res.noise_sigma == pytest.approx(estimate_noise_sigma(obs))
    err, db = _compare(ref, res.image)
    # the tiles reproduce the whole-image solve far below the noise (sigma = 0.01)
    assert err < 1e-3 * np.ptp(ref) and db > 80, (err, db)
    # without a halo the tile borders show: the halo is what makes them agree
    cut = deconvolve_tiled(obs, PSF, tile=128, halo=0, client=client, max_iter=20,
                           k_sigma=3.0).image
    assert _compare(ref, cut)[0] > 10 * err
    assert psnr(truth, res.image) == pytest.approx(psnr(truth, ref), abs=0.1)


def test_tiled_defaults_follow_the_whole_image_sure_choice(tmp_path, monkeypatch):
    """With k_sigma="sure" (the default) the tiles run the path that the in-memory
    estimator chooses for the whole image (on the same central crop: SURE_SIZE made
    small here) instead of one each: the tiled image is the untiled one up to the
    tiles' borders, and the FITS history names the path."""
    fits = pytest.importorskip("astropy.io.fits")
    import sparserec.deconv.estimators as E
    from sparserec import WaveletDeconvolution
    from sparserec.datasets import load_image

    monkeypatch.setattr(E, "SURE_SIZE", 64)
    truth = load_image("camera")[200:336, 100:236].astype(float)
    obs = make_blurred_image(truth, PSF, noise_sigma=0.02, random_state=0).noisy
    sigma = estimate_noise_sigma(obs)
    whole = WaveletDeconvolution(PSF, noise_sigma=sigma).fit(obs)
    res = deconvolve_tiled(obs, PSF, tile=68, client="sync", output=tmp_path / "o.fits")
    tiled = fits.getdata(res.output)
    history = str(fits.getheader(res.output)["HISTORY"])
    for wavelet, _, lengths, _ in whole._chosen_path:
        assert f"SURE path on the central crop: {wavelet}, {sum(lengths)} iterations" \
            in history
    err, db = _compare(whole.image_, tiled)
    fixed = deconvolve_tiled(obs, PSF, tile=68, client="sync", k_sigma=3.0).image
    assert db > 50 and db > _compare(whole.image_, fixed)[1] + 10, db
    assert psnr(truth, tiled) == pytest.approx(psnr(truth, whole.image_), abs=0.1)


def test_the_shared_choice_warns_once_and_the_tiles_stay_quiet():
    _, obs = _sky(64, seed=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deconvolve_tiled(obs, PSF, tile=32, client="sync", max_iter=5)
    assert sum(issubclass(w.category, ConvergenceWarning) for w in caught) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a caller's filter is obeyed (nothing forced)
        warnings.simplefilter("ignore", ConvergenceWarning)
        deconvolve_tiled(obs, PSF, tile=32, client="sync", max_iter=5)


def test_noise_from_sample_blocks_on_a_large_input():
    rng = np.random.default_rng(1)
    image = da.from_array(rng.normal(5.0, 0.02, (1200, 1100)), chunks=300)
    res = deconvolve_tiled(image, PSF, tile=600, client="sync", max_noise_pixels=10_000,
                           background="auto", compute=False, max_iter=1)
    assert isinstance(res.image, da.Array) and res.image.shape == (1200, 1100)
    assert res.noise_sigma == pytest.approx(0.02, rel=0.05)
    assert res.background == pytest.approx(5.0, abs=0.01)


def test_fits_and_zarr_paths_block_by_block(tmp_path, client):
    fits = pytest.importorskip("astropy.io.fits")
    zarr = pytest.importorskip("zarr")
    _, obs = _sky(128, seed=2)
    expected = deconvolve_tiled(obs, PSF, tile=64, client="threads", max_iter=10).image
    src = tmp_path / "in.fits"
    fits.PrimaryHDU(obs.astype(np.float32), header=fits.Header({"OBJECT": "field"})
                    ).writeto(src)
    res = deconvolve_tiled(src, PSF, tile=64, client=client, max_iter=10,
                           output=tmp_path / "out.fits")
    assert res.image is None and res.output == tmp_path / "out.fits"
    with fits.open(res.output) as hdul:
        header, data = hdul[0].header, hdul[0].data
        assert header["OBJECT"] == "field" and "deconvolve_tiled" in str(header["HISTORY"])
        assert data.dtype == np.dtype(">f4")
        # the float32 input rounds the data: compare at float32 precision
        np.testing.assert_allclose(data, expected, atol=2e-3 * np.ptp(expected))
    store = tmp_path / "in.zarr"
    zarr.save_array(str(store), obs)
    out = deconvolve_tiled(store, PSF, tile=64, client=client, max_iter=10,
                           output=tmp_path / "out.zarr").output
    np.testing.assert_allclose(zarr.open_array(str(out), mode="r")[:], expected,
                               rtol=0, atol=1e-12)
    assert not list(tmp_path.glob("*.part"))
    with pytest.raises(FileExistsError, match="overwrite"):
        deconvolve_tiled(store, PSF, tile=80, client="sync", output=out)
    with pytest.raises(ValueError, match="over the input file"):
        deconvolve_tiled(src, PSF, tile=80, client="sync", output=src, overwrite=True)


def test_output_checks_come_before_the_work_and_see_hard_links(tmp_path, monkeypatch):
    """The tiled writer uses io.check_output_path: a hard link to the input is refused
    (it was not), and every output check runs before the noise estimate and the solve."""
    fits = pytest.importorskip("astropy.io.fits")
    import sparserec.distributed as dist

    _, obs = _sky(64, seed=3)
    src = tmp_path / "in.fits"
    fits.PrimaryHDU(obs).writeto(src)
    link = tmp_path / "link.fits"
    os.link(src, link)
    before = src.read_bytes()

    def no_work(*args, **kwargs):
        raise AssertionError("the work started before the output was checked")

    monkeypatch.setattr(dist, "_global_levels", no_work)
    with pytest.raises(ValueError, match="over the input file"):
        deconvolve_tiled(src, PSF, tile=32, client="sync", output=link, overwrite=True)
    assert src.read_bytes() == before
    for bad, error in [(tmp_path / "o.png", ValueError), (tmp_path / "o.fits.gz", ValueError),
                       (tmp_path / "missing" / "o.fits", FileNotFoundError)]:
        with pytest.raises(error):
            deconvolve_tiled(src, PSF, tile=32, client="sync", output=bad)


def test_scaled_integer_fits_read_by_blocks(tmp_path):
    fits = pytest.importorskip("astropy.io.fits")
    from sparserec.io import FitsBlocks

    raw = np.random.default_rng(0).integers(-3000, 3000, (70, 90)).astype(np.int16)
    hdu = fits.PrimaryHDU(raw)
    hdu.header["BSCALE"], hdu.header["BZERO"] = 0.5, 100.0
    hdu.writeto(tmp_path / "int.fits")
    src = FitsBlocks(tmp_path / "int.fits")
    assert src.shape == (70, 90)
    with fits.open(tmp_path / "int.fits") as hdul:  # astropy's own scaling
        np.testing.assert_array_equal(src[10:30, 5:60], hdul[0].data[10:30, 5:60])
    res = deconvolve_tiled(tmp_path / "int.fits", PSF, tile=45, client="sync", max_iter=3)
    assert res.image.shape == (70, 90) and np.isfinite(res.image).all()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"tile": 8}, "tile must be an integer >= 16"),
    ({"tile": 64.0}, "tile must be an integer"),
    ({"halo": -1}, "halo must be an integer >= 0"),
    ({"output": "x.png"}, "must be a FITS file"),
    ({"background": "sky"}, "background must be a number or 'auto'"),
    ({"client": 3}, "client must be None"),
    ({"compute": False, "client": "local"}, "compute=False returns the lazy result"),
])
def test_tiled_bad_input(kwargs, match, tmp_path):
    kwargs = {"tile": 64, "client": "sync", "max_iter": 1, **kwargs}
    if "output" in kwargs:
        kwargs["output"] = tmp_path / kwargs["output"]
    error = TypeError if kwargs["client"] == 3 else ValueError
    with pytest.raises(error, match=match):
        deconvolve_tiled(np.ones((64, 64)), PSF, **kwargs)


def test_tiled_cupy_backend_without_a_gpu_fails_before_the_work(monkeypatch):
    from sparserec import BackendUnavailableError, backend

    if backend.backend_status()["cupy"][0]:
        pytest.skip("a GPU is available here")
    monkeypatch.setattr("sparserec.distributed._open_input", lambda *a: pytest.fail("read"))
    with pytest.raises(BackendUnavailableError, match="backend='cupy' is unavailable"):
        deconvolve_tiled(np.ones((64, 64)), PSF, client="sync", backend="cupy")


def test_tiled_bad_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such image"):
        deconvolve_tiled(tmp_path / "missing.fits", PSF)
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(ValueError, match="FITS file .* or a Zarr store"):
        deconvolve_tiled(tmp_path / "a.txt", PSF)
    with pytest.raises(ValueError, match="image must be 2-D"):
        deconvolve_tiled(np.ones((2, 32, 32)), PSF)


@pytest.mark.slow
def test_tiled_2048_matches_untiled(client):
    """The issue's check: 2048 x 2048 in four 1024 tiles against the whole-image solve."""
    truth, obs = _sky(2048, seed=3)
    ref = _untiled(obs, 100)
    res = deconvolve_tiled(obs, PSF, tile=1024, client=client, max_iter=100, k_sigma=3.0)
    err, db = _compare(ref, res.image)
    print(f"2048x2048, tile 1024, halo {res.halo}: max abs {err:.3g} "
          f"({err / np.ptp(ref):.2e} of range), PSNR {db:.1f} dB")
    assert err < 1e-3 * np.ptp(ref) and db > 80


# ---------------------------------------------------------------------- many fits
def _regression_problems(n, bad=()):
    rng = np.random.default_rng(0)
    problems = []
    for i in range(n):
        X = rng.normal(size=(20, 8))
        coef = np.where(rng.random(8) < 0.4, rng.normal(size=8), 0.0)
        y = X @ coef + 0.01 * rng.normal(size=20)
        if i in bad:
            kind = bad.index(i)
            if kind == 0:
                X[3, 2] = np.nan
            elif kind == 1:
                y = y[:-1]
            else:
                X = X[:, :0]
        problems.append((X, y))
    return problems


def test_fit_many_200_with_3_bad(client):
    bad = (17, 101, 188)
    problems = _regression_problems(200, bad)
    results = fit_many(BCDRegressor(alpha=0.05), problems, client=client)
    assert [r.index for r in results] == list(range(200))
    assert sum(r.ok for r in results) == 197
    failed = [r for r in results if not r.ok]
    assert [r.index for r in failed] == list(bad)
    assert "NaN" in failed[0].error and failed[0].error.startswith("ValueError")
    assert "inconsistent numbers of samples" in failed[1].error
    assert "0 feature" in failed[2].error
    assert all(r.traceback and "Traceback" in r.traceback for r in failed)
    for i in (0, 100, 199):  # the distributed fits are the serial fits
        serial = BCDRegressor(alpha=0.05).fit(*problems[i])
        np.testing.assert_array_equal(results[i].estimator.coef_, serial.coef_)


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_fit_many_without_cluster(scheduler):
    problems = _regression_problems(12, bad=(5,))
    results = fit_many(BCDRegressor(alpha=0.05), problems, client=scheduler, batch_size=4)
    assert [r.ok for r in results] == [i != 5 for i in range(12)]
    serial = BCDRegressor(alpha=0.05).fit(*problems[7])
    np.testing.assert_array_equal(results[7].estimator.coef_, serial.coef_)


def test_fit_many_bad_arguments():
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        fit_many(BCDRegressor(), [], client="sync", batch_size=0)
    with pytest.raises(TypeError, match="estimator must have a fit method"):
        fit_many(object(), [], client="sync")
    assert fit_many(BCDRegressor(), [], client="sync") == []


class _KillOnce(BCDRegressor):
    """Kills its worker process the first time it fits the marked problem."""

    def __init__(self, marker="", alpha=1.0):
        super().__init__(alpha=alpha)
        self.marker = marker

    def fit(self, X, y):
        if X.shape[0] == 21 and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os.kill(os.getpid(), 9)  # SIGKILL: the worker dies mid-task
        return super().fit(X, y)


def test_worker_killed_mid_job(client, tmp_path):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        problems = _regression_problems(30)
        X, y = problems[12]
        problems[12] = (np.vstack([X, X[:1]]), np.append(y, y[0]))  # 21 rows: the trigger
        before = set(client.scheduler_info()["workers"])
        marker = tmp_path / "killed"
        results = fit_many(_KillOnce(str(marker), alpha=0.05), problems, client=client)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert marker.exists()  # a worker did die
    assert all(r.ok for r in results) and [r.index for r in results] == list(range(30))
    client.wait_for_workers(2, timeout=60)
    assert set(client.scheduler_info()["workers"]) != before  # the nanny replaced it


def test_joblib_dask_backend_grid_search(client):
    import joblib
    from sklearn.model_selection import GridSearchCV

    X, y = _regression_problems(1)[0]
    X, y = np.vstack([X] * 3), np.concatenate([y] * 3)
    grid = {"alpha": [0.01, 0.1, 1.0]}
    serial = GridSearchCV(BCDRegressor(), grid, cv=3).fit(X, y)
    with distributed.get_task_stream(client) as stream, joblib.parallel_backend("dask"):
        search = GridSearchCV(BCDRegressor(), grid, cv=3).fit(X, y)
    # the fits ran as tasks on the cluster (joblib may batch several fits per task)
    assert len(stream.data) >= 1
    assert search.best_params_ == serial.best_params_
    np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                               serial.cv_results_["mean_test_score"])


def test_cli_tiled_with_scheduler_address(tmp_path, client):
    fits = pytest.importorskip("astropy.io.fits")
    from sparserec.cli import main

    _, obs = _sky(128, seed=4)
    fits.PrimaryHDU(obs).writeto(tmp_path / "in.fits")
    code = main(["deconvolve", str(tmp_path / "in.fits"), "--psf-model", "gaussian",
                 "--fwhm", "3.5", "--psf-size", "11", "-o", str(tmp_path / "out.fits"),
                 "--tile", "64", "--scheduler", client.scheduler.address, "--max-iter", "10",
                 "--quiet"])
    assert code == 0
    expected = deconvolve_tiled(obs, gaussian_psf(11, fwhm=3.5), tile=64, client="threads",
                                max_iter=10).image
    np.testing.assert_allclose(fits.getdata(tmp_path / "out.fits"), expected, atol=1e-10)


def test_halo_larger_than_a_tile_is_reported_truthfully(tmp_path):
    fits = pytest.importorskip("astropy.io.fits")
    _, obs = _sky(64, seed=4)
    with pytest.warns(UserWarning, match="halo=40 exceeds the smallest tile"):
        res = deconvolve_tiled(obs, PSF, tile=32, halo=40, client="sync", max_iter=5,
                               output=tmp_path / "o.fits")
    assert res.halo == 32
    assert "halo=32" in str(fits.getheader(tmp_path / "o.fits")["HISTORY"])
    assert deconvolve_tiled(obs, PSF, tile=64, halo=8, client="sync", max_iter=2).halo == 0


@pytest.mark.parametrize("as_file", [False, True])
def test_all_nan_tile_stays_empty(tmp_path, as_file):
    """A mosaic gap (one tile of NaN) stays NaN, whatever its halo holds; its neighbours
    are deconvolved (the sparse methods mask NaN pixels)."""
    fits = pytest.importorskip("astropy.io.fits")
    _, obs = _sky(64, seed=5)
    obs[:32, :32] = np.nan
    source = obs
    if as_file:
        source = tmp_path / "gap.fits"
        fits.PrimaryHDU(obs).writeto(source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        out = deconvolve_tiled(source, PSF, tile=32, halo=8, client="sync", max_iter=5).image
    assert np.isnan(out[:32, :32]).all()
    assert np.isfinite(out[32:, :]).all() and np.isfinite(out[:32, 32:]).all()


class _Sleepy(BCDRegressor):
    """Hangs (sleeps ``seconds``) on the marked problem (21 rows)."""

    def __init__(self, seconds=0.0, alpha=1.0):
        super().__init__(alpha=alpha)
        self.seconds = seconds

    def fit(self, X, y):
        if X.shape[0] == 21:
            import time

            time.sleep(self.seconds)
        return super().fit(X, y)


class _AlwaysKill(BCDRegressor):
    """Kills its worker process whenever it fits the marked problem (21 rows)."""

    def fit(self, X, y):
        if X.shape[0] == 21:
            os.kill(os.getpid(), 9)
        return super().fit(X, y)


def _with_marked(n, marked):
    problems = _regression_problems(n)
    X, y = problems[marked]
    problems[marked] = (np.vstack([X, X[:1]]), np.append(y, y[0]))  # 21 rows
    return problems


class _Hung(BCDRegressor):
    """Hangs on the marked problem (21 rows) until :data:`_RELEASE` is set (at most 60 s)."""

    def fit(self, X, y):
        if X.shape[0] == 21:
            _RELEASE.wait(60.0)
        return super().fit(X, y)


_RELEASE = threading.Event()


def test_fit_many_timeout_on_threads():
    import time

    problems = _with_marked(8, 3)
    start = time.perf_counter()
    _RELEASE.clear()
    try:
        results = fit_many(_Hung(alpha=0.05), problems, client="threads", timeout=3)
    finally:  # let the abandoned fit end: it holds the BLAS limit of its thread
        _RELEASE.set()
        for thread in threading.enumerate():
            if thread.name.startswith("sparserec-fit-"):
                thread.join(30.0)
    assert time.perf_counter() - start < 15  # the hung fit did not block the call
    assert [r.ok for r in results] == [i != 3 for i in range(8)]
    assert results[3].error.startswith("TimeoutError") and "timeout=3" in results[3].error
    with pytest.raises(ValueError, match="timeout must be a positive"):
        fit_many(BCDRegressor(), problems, client="threads", timeout=0)
    with pytest.raises(ValueError, match="timeout needs fits that run beside"):
        fit_many(BCDRegressor(), problems, client="sync", timeout=1)


@pytest.mark.slow  # ~15 s: a hung task holds a worker for its sleep
def test_fit_many_timeout_on_cluster(client):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        fit_many(BCDRegressor(alpha=0.05), _regression_problems(4), client=client)  # compile
        results = fit_many(_Sleepy(12.0, alpha=0.05), _with_marked(10, 4), client=client,
                           timeout=6)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert [r.ok for r in results] == [i != 4 for i in range(10)]
    assert results[4].error.startswith("TimeoutError")


@pytest.mark.slow  # a cluster of its own, and worker restarts: ~15 s
def test_fit_many_isolates_a_fit_that_kills_its_worker():
    """Healthy problems that share a worker with a crasher keep their results (retried
    alone); the crasher is reported, the call returns."""
    import cloudpickle
    import dask

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
                distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True,
                                         dashboard_address=None) as cluster, \
                distributed.Client(cluster) as c:
            results = fit_many(_AlwaysKill(alpha=0.05), _with_marked(24, 7), client=c)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert [r.index for r in results] == list(range(24))
    assert [r.ok for r in results] == [i != 7 for i in range(24)]
    assert "KilledWorker" in results[7].error


def test_a_tile_of_empty_sky_does_not_warn_that_the_image_holds_no_signal():
    """Tiles of pure noise beside a star field are no sign of an image without signal:
    the per-tile warning (of the tile) is not passed to the caller."""
    obs = np.random.default_rng(0).normal(0, 0.01, (64, 96))
    obs[:, :32] = _sky(64, seed=6)[1][:, :32]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = deconvolve_tiled(obs, PSF, tile=32, halo=8, client="sync", max_iter=5,
                               k_sigma=3.0)
    assert not [w for w in caught if "signal" in str(w.message)]
    assert np.isfinite(res.image).all()


def test_a_mosaic_mostly_gap_is_deconvolved_where_it_has_data():
    """Three quarters NaN (one tile of data): the noise level comes from the data there,
    as the in-memory estimate does, instead of a refusal; the gap tiles stay NaN."""
    _, obs = _sky(64, seed=7)
    gap = np.full(obs.shape, np.nan)
    gap[:32, :32] = obs[:32, :32]
    res = deconvolve_tiled(gap, PSF, tile=32, halo=8, client="sync", max_iter=5,
                           k_sigma=3.0)
    assert res.noise_sigma == pytest.approx(estimate_noise_sigma(gap))
    assert np.isfinite(res.image[:32, :32]).all() and np.isnan(res.image[32:]).all() \
        and np.isnan(res.image[:, 32:]).all()


def test_tiled_noise_map_follows_the_in_memory_fit(tmp_path):
    """Each tile (and the crop that chooses the SURE path) is fitted with its window of
    the map: a 300² field whose right half is 8 times noisier is within 0.1 dB of the
    in-memory fit with the map and far from the tiled fit without it; a FITS map gives
    the same image as the array; the map's median is the reported level."""
    from astropy.io import fits

    from sparserec import WaveletDeconvolution

    sky = make_sky_field((300, 300), n_stars=40, n_galaxies=12, random_state=0).image
    sky = sky / sky.max()
    psf = gaussian_psf(11, fwhm=3.0)
    noise = np.full(sky.shape, 0.005)
    noise[:, 150:] = 0.04
    obs = make_blurred_image(sky, psf, noise_sigma=0.0).noisy \
        + np.random.default_rng(0).normal(size=sky.shape) * noise
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        memory = WaveletDeconvolution(psf).fit(obs, noise_map=noise).image_
        tiled = deconvolve_tiled(obs, psf, tile=160, client="sync", noise_map=noise)
        plain = deconvolve_tiled(obs, psf, tile=160, client="sync").image
        fits.writeto(tmp_path / "obs.fits", obs)
        fits.writeto(tmp_path / "err.fits", noise)
        from_files = deconvolve_tiled(tmp_path / "obs.fits", psf, tile=160, client="sync",
                                      noise_map=tmp_path / "err.fits").image
    assert tiled.noise_sigma == pytest.approx(np.median(noise))
    assert abs(psnr(sky, tiled.image) - psnr(sky, memory)) < 0.1
    assert psnr(sky, tiled.image) > psnr(sky, plain) + 3
    np.testing.assert_array_equal(from_files, tiled.image)
    with pytest.raises(ValueError, match="noise_sigma or noise_map, not both"):
        deconvolve_tiled(obs, psf, tile=160, noise_sigma=0.01, noise_map=noise)
    with pytest.raises(ValueError, match="noise_map must have the image's shape"):
        deconvolve_tiled(obs, psf, tile=160, noise_map=noise[:200])
