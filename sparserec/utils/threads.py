"""Thread control: what ``sparserec.set_config(n_threads=...)`` sets, in one place.

sparserec's work runs on three thread pools: numba's parallel kernels, :mod:`scipy.fft`
workers and the BLAS behind NumPy/SciPy. :func:`thread_limits` is the one context every
estimator method (through :class:`sparserec.base.SparseEstimatorMixin`) and public
function runs under:

* ``n_threads=None`` (default): nothing is overridden; the caller's
  ``numba.set_num_threads``, ``scipy.fft.set_workers`` and threadpoolctl settings hold;
* ``n_threads=k``: numba's thread count (thread-local state in numba, restored on exit),
  ``scipy.fft.set_workers(k)`` (thread-local in SciPy) and the BLAS pools
  (:func:`blas_limits`, process-wide) are set to ``k`` for the duration.

:func:`fft_workers` is the ``workers=`` argument of sparserec's FFT calls, and
:func:`blas_limits` is also the helper a family uses to run a loop of small matrix
products on one BLAS thread.

Fork and thread safety of numba's threading layer: :func:`configure_numba_threading`
(see :doc:`/threads`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading

from .._config import get_config

__all__ = ["blas_limits", "configure_numba_threading", "fft_workers", "numba_threads",
           "parallel_map", "thread_limited", "thread_limits"]


def fft_workers() -> int | None:
    """The ``workers=`` argument for :mod:`scipy.fft` calls in sparserec.

    ``n_threads`` when it is set, else ``None``: SciPy's current default (1, or what
    the caller set with ``scipy.fft.set_workers``).

    Examples
    --------
    >>> import sparserec
    >>> from sparserec.utils.threads import fft_workers
    >>> fft_workers() is None
    True
    >>> with sparserec.config_context(n_threads=2):
    ...     fft_workers()
    2
    """
    return get_config()["n_threads"]


def parallel_map(func, items) -> list:
    """``[func(x) for x in items]`` on up to ``n_threads`` threads (all cores when unset).

    For a few independent calls that release the GIL (LAPACK through NumPy/SciPy), such
    as the eigendecompositions of a Kronecker model's factors; each runs under the
    caller's BLAS limit, so the threads in use stay within ``n_threads``.

    Examples
    --------
    >>> from sparserec.utils.threads import parallel_map
    >>> parallel_map(abs, [-1, 2, -3])
    [1, 2, 3]
    """
    items = list(items)
    workers = min(len(items), get_config()["n_threads"] or os.cpu_count() or 1)
    if workers < 2:
        return [func(x) for x in items]
    return list(_executor(workers).map(func, items))


@functools.cache
def _executor(workers: int):
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(workers, thread_name_prefix="sparserec")


# ---------------------------------------------------------------------- BLAS
# threadpoolctl changes process-wide state (OpenBLAS/MKL have one thread count per
# process), so concurrent limits from several threads are counted: the first one in
# records the original settings, the strictest active limit applies, the last one out
# restores. A plain threadpool_limits per thread would restore in the wrong order (thread A
# leaves, restoring 2 threads while B still asks for 1; B leaves, "restoring" 1 for good).
_blas_lock = threading.Lock()
_blas_active: list[int] = []
_blas_restore = None  # threadpoolctl limiter holding the settings before the first limit


@functools.cache
def _blas_controller():
    import scipy.linalg  # noqa: F401  (SciPy's own BLAS, if any, is loaded before the scan)
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextlib.contextmanager
def blas_limits(n_threads: int):
    """Limit the BLAS thread pools to ``n_threads`` inside a ``with`` block.

    The limit is process-wide (BLAS libraries have one thread count per process); nested
    or concurrent limits from several threads combine (the smallest applies) and the
    original setting comes back when the last one ends.

    Families use ``blas_limits(1)`` around loops of many small matrix products, where
    BLAS threads cost more in start-up and synchronisation than they save (as
    scikit-learn's KMeans does).

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.utils.threads import blas_limits
    >>> with blas_limits(1):
    ...     float(np.ones((3, 3)) @ np.ones(3) @ np.ones(3))
    9.0
    """
    global _blas_restore
    n_threads = int(n_threads)
    controller = _blas_controller()
    with _blas_lock:
        if not _blas_active:
            _blas_restore = controller.limit(limits=n_threads, user_api="blas")
        elif n_threads < min(_blas_active):
            controller.limit(limits=n_threads, user_api="blas")
        _blas_active.append(n_threads)
    try:
        yield
    finally:
        with _blas_lock:
            if n_threads in _blas_active:  # (not after a fork that reset the state)
                _blas_active.remove(n_threads)
                if not _blas_active:
                    _blas_restore.restore_original_limits()
                    _blas_restore = None
                elif n_threads < min(_blas_active):
                    controller.limit(limits=min(_blas_active), user_api="blas")


# ---------------------------------------------------------------------- numba
# numba's "workqueue" layer is not thread-safe: two parallel regions launched at once from
# two Python threads abort the process. When it is the layer in use, sparserec's calls
# take this lock, so they run one at a time (reentrant: a fit calls transform, fwht...).
_launch_lock = threading.RLock()


def _reset_after_fork():
    global _launch_lock, _blas_lock, _blas_restore
    _launch_lock = threading.RLock()  # a lock held by a thread the child does not have
    _blas_lock = threading.Lock()
    _blas_active.clear()  # the child keeps the current BLAS setting
    _blas_restore = None
    _executor.cache_clear()  # the parent's pool threads do not exist in the child


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _preload_pip_tbb() -> None:
    """Make a pip-installed TBB findable by numba.

    The ``tbb`` wheel puts ``libtbb`` in ``<prefix>/lib``, which the dynamic loader does
    not search in a virtual environment (numba issues #6108, #7148): numba's TBB layer
    then stays unavailable. Loading it by path first makes numba's own ``dlopen`` of
    ``libtbb.so.12`` find the loaded copy.
    """
    import ctypes
    import importlib.metadata
    import sys

    names = {"linux": "libtbb.so.12", "darwin": "libtbb.12.dylib", "win32": "tbb12.dll"}
    name = names.get(sys.platform)
    if name is None:
        return
    try:
        files = importlib.metadata.distribution("tbb").files or []
    except importlib.metadata.PackageNotFoundError:
        return
    for f in files:
        if f.name == name:
            try:
                ctypes.CDLL(str(f.locate()), mode=getattr(ctypes, "RTLD_GLOBAL", 0))
            except OSError:
                pass
            return


_layer_lock = threading.Lock()


@functools.cache
def configure_numba_threading():
    """Choose a fork-safe numba threading layer; return :mod:`numba`, or ``None``.

    Called once, before sparserec launches its first parallel kernel. Unless the user
    chose a layer (``NUMBA_THREADING_LAYER`` or ``numba.config.THREADING_LAYER``), the
    layer becomes ``"forksafe"``: TBB when it can be loaded (fork- and thread-safe; a
    dependency on the platforms that have wheels), else OpenMP only when it is not GNU
    OpenMP, else ``"workqueue"`` (fork-safe; sparserec then serialises its own parallel
    calls, see :func:`thread_limits`). The default choice, GNU OpenMP on Linux, kills a
    child process forked after any parallel region ("fork() called from a process
    already using GNU OpenMP"), which multiprocessing, joblib and Dask users do.

    It has no effect when numba already launched its threads (by other code run
    earlier in the process): the layer is fixed by then.

    Returns ``None`` when numba cannot be imported.

    Examples
    --------
    >>> from sparserec.utils.threads import configure_numba_threading
    >>> numba = configure_numba_threading()
    >>> numba is None or numba.threading_layer() in ("tbb", "omp", "workqueue")
    True
    """
    with _layer_lock:
        try:
            import numba
        except ImportError:
            return None
        if "NUMBA_THREADING_LAYER" not in os.environ and numba.config.THREADING_LAYER == "default":
            _preload_pip_tbb()
            numba.config.THREADING_LAYER = "forksafe"
        numba.get_num_threads()  # launches the pool: the layer is now chosen
        return numba


@functools.cache
def _needs_launch_lock() -> bool:
    numba = configure_numba_threading()
    return numba is not None and numba.threading_layer() == "workqueue"


_state = threading.local()  # .n_threads: the setting this thread's thread_limits applied
_OUTSIDE = object()


@contextlib.contextmanager
def numba_threads(n_threads: int):
    """Run numba's parallel kernels on ``n_threads`` threads inside a ``with`` block.

    At most ``NUMBA_NUM_THREADS``; numba's thread count is per-thread state, restored on
    exit. Nothing happens when numba cannot be imported. Kernels that are faster on one
    thread below some size use it (rather than calling ``numba.set_num_threads``).

    Examples
    --------
    >>> from sparserec.utils.threads import numba_threads
    >>> with numba_threads(1):
    ...     import numba
    ...     numba.get_num_threads()
    1
    """
    numba = configure_numba_threading()
    if numba is None:
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(n_threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(before)


@contextlib.contextmanager
def thread_limits():
    """Run sparserec's work under the ``n_threads`` setting (see :func:`sparserec.set_config`).

    With ``n_threads=k``: numba's thread count (at most ``NUMBA_NUM_THREADS``),
    ``scipy.fft.set_workers`` and the BLAS pools (:func:`blas_limits`) are ``k`` inside
    the block and restored after. With ``None``: nothing is changed. Either way numba's
    threading layer is made fork-safe first (:func:`configure_numba_threading`), and when
    that layer is ``"workqueue"`` (not thread-safe) calls from several threads run one at
    a time. :func:`thread_limited` is the decorator form; a nested call under the same
    setting (``fit`` calling ``transform``) changes nothing and costs a few microseconds.

    Thread safety: the numba and FFT settings are per thread; the BLAS limit is
    process-wide (combined across threads by :func:`blas_limits`).

    Examples
    --------
    >>> import sparserec
    >>> from sparserec.utils.threads import thread_limits
    >>> with sparserec.config_context(n_threads=1), thread_limits():
    ...     import scipy.fft
    ...     scipy.fft.get_workers()
    1
    """
    n_threads = get_config()["n_threads"]
    outer = getattr(_state, "n_threads", _OUTSIDE)
    if outer == n_threads:  # nested (fit -> transform -> fwht): all set already
        yield
        return
    numba = configure_numba_threading()
    with contextlib.ExitStack() as stack:
        if outer is _OUTSIDE and _needs_launch_lock():
            stack.enter_context(_launch_lock)
        if n_threads is not None:
            import scipy.fft

            stack.enter_context(scipy.fft.set_workers(n_threads))
            stack.enter_context(blas_limits(n_threads))
            if numba is not None:
                stack.enter_context(numba_threads(n_threads))
        _state.n_threads = n_threads
        try:
            yield
        finally:
            _state.n_threads = outer


def thread_limited(func):
    """Decorator: ``func`` runs under :func:`thread_limits`.

    What :class:`sparserec.base.SparseEstimatorMixin` applies to estimator methods, and
    public functions such as :func:`sparserec.wht.fwht` use. (A wrapper defined in
    sparserec, so that :func:`sparserec.base.external_stacklevel` sees through it.)

    Examples
    --------
    >>> import sparserec, scipy.fft
    >>> from sparserec.utils.threads import thread_limited
    >>> @thread_limited
    ... def workers():
    ...     return scipy.fft.get_workers()
    >>> with sparserec.config_context(n_threads=2):
    ...     workers()
    2
    """
    if getattr(func, "_sparserec_threaded", False):
        return func

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with thread_limits():
            return func(*args, **kwargs)

    wrapper._sparserec_threaded = True
    return wrapper
