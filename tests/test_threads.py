"""Thread control: ``set_config(n_threads=...)``, its scope and restoration, Dask tasks on one
thread, and a numba threading layer that survives ``fork`` and concurrent threads."""

import os
import subprocess
import sys
import textwrap
import threading
import warnings

import numpy as np
import pytest
import scipy.fft
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_info, threadpool_limits

import sparserec
from sparserec import all_estimators, config_context, get_config, set_config
from sparserec.base import ConvergenceWarning, SparseEstimatorMixin
from sparserec.utils.threads import blas_limits, fft_workers, thread_limits

numba = pytest.importorskip("numba")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(sparserec.__file__)))


def _blas_threads():
    counts = {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}
    if not counts:
        pytest.skip("no BLAS library seen by threadpoolctl")
    return min(counts)


def _settings():
    return {"numba": numba.get_num_threads(), "fft": scipy.fft.get_workers(),
            "blas": _blas_threads(), "fft_workers": fft_workers(),
            "n_threads": get_config()["n_threads"]}


class _Probe(SparseEstimatorMixin, BaseEstimator):
    """Records the thread settings its fit and predict run under."""

    def fit(self, X=None, y=None):
        self.fit_settings_ = _settings()
        return self

    def predict(self, X=None):
        return _settings()


@pytest.fixture(autouse=True)
def _default_config():
    yield
    set_config(n_threads=None)


@pytest.mark.parametrize("n", [1, 2])
def test_n_threads_sets_all_three_pools_and_restores(n):
    if n > (os.cpu_count() or 1):
        pytest.skip("BLAS libraries cap their threads at the number of CPUs")
    with threadpool_limits(3, user_api="blas"):
        with threadpool_limits(n, user_api="blas"):  # the reference: threadpoolctl itself
            blas_n = _blas_threads()
        before = _settings()
        set_config(n_threads=n)
        est = _Probe().fit()
        inside = est.fit_settings_
        assert inside["numba"] == min(n, numba.config.NUMBA_NUM_THREADS)
        assert inside["fft"] == n and inside["fft_workers"] == n
        assert inside["blas"] == blas_n
        assert est.predict() == inside
        set_config(n_threads=None)
        assert _settings() == before  # every pool restored


def test_default_respects_the_callers_settings():
    numba_before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with scipy.fft.set_workers(3), threadpool_limits(2, user_api="blas"):
            blas = _blas_threads()
            inside = _Probe().fit().fit_settings_
    finally:
        numba.set_num_threads(numba_before)
    assert inside == {"numba": 1, "fft": 3, "blas": blas, "fft_workers": None,
                      "n_threads": None}


def test_thread_limits_nests_and_restores_numba_per_thread():
    before = numba.get_num_threads()
    with config_context(n_threads=1), thread_limits():
        assert numba.get_num_threads() == 1
        with config_context(n_threads=2), thread_limits():
            assert numba.get_num_threads() == min(2, numba.config.NUMBA_NUM_THREADS)
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True, np.float64(2.0)])
def test_bad_n_threads_refused_naming_it(bad):
    with pytest.raises((TypeError, ValueError), match="n_threads"):
        set_config(n_threads=bad)
    with pytest.raises((TypeError, ValueError), match="n_threads"):
        with config_context(n_threads=bad):
            pass
    assert get_config()["n_threads"] is None


def test_numpy_integer_accepted_and_none_resets():
    set_config(n_threads=np.int64(2))
    assert get_config()["n_threads"] == 2 and type(get_config()["n_threads"]) is int
    set_config(max_dense_bytes=2 * 1024**3)  # leaves n_threads alone
    assert get_config()["n_threads"] == 2
    set_config(n_threads=None)
    assert get_config()["n_threads"] is None


def test_config_context_is_per_thread_and_set_config_global():
    seen = {}

    def worker():
        seen["before"] = get_config()["n_threads"]
        with config_context(n_threads=1):
            started.set()
            release.wait(10)
        seen["after"] = get_config()["n_threads"]

    started, release = threading.Event(), threading.Event()
    set_config(n_threads=2)
    t = threading.Thread(target=worker)
    t.start()
    started.wait(10)
    assert get_config()["n_threads"] == 2  # the other thread's context is not seen here
    release.set()
    t.join()
    assert seen == {"before": 2, "after": 2}


class _FakeBlas:
    """Stands for threadpoolctl's controller: one process-wide BLAS thread count."""

    def __init__(self, n):
        self.n = n

    def limit(self, limits, user_api):
        assert user_api == "blas"
        original, fake = self.n, self

        class Restore:
            def restore_original_limits(self):
                fake.n = original

        self.n = limits
        return Restore()


def test_blas_limits_from_interleaved_threads_restore_the_original(monkeypatch):
    """A limits, B limits, A leaves, B leaves: A must not lift B's limit, nor B leave one
    behind (what per-thread threadpool_limits contexts do). A fake controller: OpenBLAS
    0.3.30 ignores a thread count set from another thread once the main thread set one."""
    from sparserec.utils import threads

    fake = _FakeBlas(4)
    monkeypatch.setattr(threads, "_blas_controller", lambda: fake)
    events = [threading.Event() for _ in range(3)]
    seen = {}

    def a():
        with blas_limits(2):
            seen["a_in"] = fake.n
            events[0].set()
            events[1].wait(10)
        seen["after_a"] = fake.n
        events[2].set()

    def b():
        events[0].wait(10)
        with blas_limits(1):
            seen["b_in"] = fake.n
            events[1].set()
            events[2].wait(10)
            seen["b_alone"] = fake.n

    threads_ = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads_:
        t.start()
    for t in threads_:
        t.join()
    assert seen == {"a_in": 2, "b_in": 1, "after_a": 1, "b_alone": 1}
    assert fake.n == 4


def test_every_estimator_method_runs_under_thread_limits():
    for name, cls in all_estimators():
        assert getattr(cls.fit, "_sparserec_threaded", False), name
        assert cls.fit.__name__ == "fit" and cls.fit.__wrapped__  # functools.wraps


def test_convergence_warning_points_at_the_caller():
    X = np.random.default_rng(0).standard_normal((20, 30))
    y = X[:, :3].sum(axis=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sparserec.SparseBayesianLearning(max_iter=1).fit(X, y)
    convergence = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert convergence and all(w.filename == __file__ for w in convergence)


def test_dask_tasks_run_on_one_thread():
    pytest.importorskip("dask")
    from sparserec.distributed import fit_many

    set_config(n_threads=2)
    with threadpool_limits(2, user_api="blas"):
        (result,) = fit_many(_Probe(), [{}], client="sync")
    assert result.ok, result.error
    settings = result.estimator.fit_settings_
    assert settings["n_threads"] == 1 and settings["numba"] == 1
    assert settings["fft"] == 1 and settings["blas"] == 1
    assert get_config()["n_threads"] == 2  # the caller's setting is untouched


def _run_python(code: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("NUMBA_THREADING_LAYER", None)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=timeout)


_DECONV = """
    import warnings
    import numpy as np
    from sparserec import WaveletDeconvolution
    from sparserec.deconv.psf import gaussian_psf

    warnings.simplefilter("ignore")
    psf = gaussian_psf((9, 9), fwhm=2.5)
    image = np.random.default_rng(0).random((64, 64))

    def fit():
        return WaveletDeconvolution(psf, max_iter=5, tol=0).fit(image).image_
"""


def test_fork_after_a_numba_parallel_fit():
    """A child forked after a parallel fit (numba's default GNU OpenMP layer kills it)."""
    result = _run_python(_DECONV + """
    import multiprocessing, os
    import numba
    reference = fit()
    print("layer", numba.threading_layer())

    def child(queue):
        queue.put(float(np.abs(fit() - reference).max()))

    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    p = ctx.Process(target=child, args=(queue,))
    p.start()
    p.join(120)
    assert p.exitcode == 0, p.exitcode  # -15: killed by numba's GNU OpenMP fork check
    assert queue.get(timeout=10) == 0.0
    pid = os.fork()
    if pid == 0:
        fit()
        os._exit(0)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    print("ok")
    """)
    assert result.returncode == 0 and "ok" in result.stdout, result.stdout + result.stderr


def test_concurrent_fits_from_two_python_threads():
    """numba's workqueue layer aborts the process on concurrent parallel launches."""
    result = _run_python(_DECONV + """
    import threading
    from sparserec.wht import fwht
    reference = fit()
    errors = []

    def work():
        try:
            for _ in range(3):
                assert np.array_equal(fit(), reference)
                fwht(np.ones((4, 2**19)))  # 2**21 values: the parallel path
        except Exception as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    print("ok")
    """)
    assert result.returncode == 0 and "ok" in result.stdout, result.stdout + result.stderr


def test_parallel_map_keeps_order_and_the_thread_limit():
    from sparserec.utils.threads import parallel_map

    def where(x):
        return x * x, threading.current_thread().name

    with sparserec.config_context(n_threads=1):
        out = parallel_map(where, range(5))
    assert [v for v, _ in out] == [0, 1, 4, 9, 16]
    assert {name for _, name in out} == {threading.current_thread().name}
    with sparserec.config_context(n_threads=2):
        out = parallel_map(where, range(5))
    assert [v for v, _ in out] == [0, 1, 4, 9, 16]
    assert all(name.startswith("sparserec") for _, name in out)


def test_parallel_map_in_a_forked_child():
    """The pool is made anew in a child forked after the parent used it (the parent's
    threads do not exist there)."""
    result = _run_python("""
    import os, signal
    import sparserec
    from sparserec.utils.threads import parallel_map

    with sparserec.config_context(n_threads=2):
        assert parallel_map(abs, [-1, -2, -3]) == [1, 2, 3]
        pid = os.fork()
        if pid == 0:
            signal.alarm(20)  # a hang fails the test instead of blocking it
            os._exit(0 if parallel_map(abs, [-4, -5, -6]) == [4, 5, 6] else 1)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    print("ok")
    """, timeout=60)
    assert result.returncode == 0 and "ok" in result.stdout, result.stdout + result.stderr
