"""Global settings, in the style of :func:`sklearn.set_config`.

:func:`set_config` changes the process-wide defaults (seen by every thread);
:func:`config_context` overrides them for the calling thread only, until its ``with``
block ends, so that Dask worker threads (or any other threads) can each run under their
own settings without racing on shared state.
"""

from __future__ import annotations

import contextlib
import numbers
import threading

_global_config = {
    # An operation that would materialise a dense array larger than this many
    # bytes (an operator's todense(), a full Kronecker matrix) is refused.
    "max_dense_bytes": 2 * 1024**3,
    # Threads of sparserec's work (numba, scipy.fft, BLAS); None: the caller's settings.
    "n_threads": None,
}
_local = threading.local()  # .overrides: this thread's config_context values


class _Unchanged:
    def __repr__(self) -> str:
        return "<unchanged>"


_UNCHANGED = _Unchanged()


def _overrides() -> dict:
    return getattr(_local, "overrides", {})


def get_config() -> dict:
    """Return a copy of the current settings (this thread's :func:`config_context` included).

    Examples
    --------
    >>> from sparserec import get_config
    >>> get_config()["max_dense_bytes"]
    2147483648
    >>> get_config()["n_threads"] is None
    True
    """
    return {**_global_config, **_overrides()}


def _checked(max_dense_bytes, n_threads) -> dict:
    changes = {}
    if max_dense_bytes is not None:
        if (not isinstance(max_dense_bytes, numbers.Integral) or isinstance(max_dense_bytes, bool)
                or max_dense_bytes <= 0):
            raise ValueError(
                f"max_dense_bytes must be a positive integer, got {max_dense_bytes!r}"
            )
        changes["max_dense_bytes"] = int(max_dense_bytes)
    if n_threads is not _UNCHANGED:
        if n_threads is not None:
            if not isinstance(n_threads, numbers.Integral) or isinstance(n_threads, bool):
                raise TypeError(f"n_threads must be None or a positive integer, "
                                f"got {n_threads!r} of type {type(n_threads).__name__}")
            if n_threads < 1:
                raise ValueError(f"n_threads must be None or a positive integer, got {n_threads!r}")
            n_threads = int(n_threads)
        changes["n_threads"] = n_threads
    return changes


def set_config(*, max_dense_bytes: int | None = None, n_threads=_UNCHANGED) -> None:
    """Change the process-wide settings; a parameter left out is unchanged.

    Parameters
    ----------
    max_dense_bytes : int, optional
        Largest dense array (in bytes) that an operator may materialise (``None``: unchanged).
    n_threads : int or None, optional
        Threads for sparserec's work: while an estimator's ``fit``, ``partial_fit``,
        ``predict``, ``transform`` (...) or a public function such as
        :func:`~sparserec.wht.fwht` runs, numba's thread count, the workers of
        :mod:`scipy.fft` and the BLAS thread pools (through threadpoolctl) are all set to
        ``n_threads``, and restored afterwards. ``None`` (the default) overrides nothing:
        sparserec follows the caller's own ``numba.set_num_threads``,
        ``scipy.fft.set_workers`` and ``threadpoolctl`` settings. See :doc:`/threads`.

    Raises
    ------
    TypeError, ValueError
        For a value that is not ``None`` or a positive integer, naming the parameter.

    Examples
    --------
    >>> import sparserec
    >>> sparserec.set_config(n_threads=1)
    >>> sparserec.get_config()["n_threads"]
    1
    >>> sparserec.set_config(n_threads=None)
    """
    changes = _checked(max_dense_bytes, n_threads)
    _global_config.update(changes)
    overrides = _overrides()  # also visible at once inside this thread's config_context
    overrides.update({k: v for k, v in changes.items() if k in overrides})


@contextlib.contextmanager
def config_context(*, max_dense_bytes: int | None = None, n_threads=_UNCHANGED):
    """Change settings for the calling thread inside a ``with`` block.

    Takes the parameters of :func:`set_config`. Other threads keep their own settings:
    this is what :mod:`sparserec.distributed`'s tasks use to run with ``n_threads=1``.

    Examples
    --------
    >>> from sparserec import config_context, get_config
    >>> with config_context(max_dense_bytes=1024, n_threads=1):
    ...     get_config()["max_dense_bytes"], get_config()["n_threads"]
    (1024, 1)
    >>> get_config()["n_threads"] is None
    True
    """
    changes = _checked(max_dense_bytes, n_threads)
    old = _overrides()
    _local.overrides = {**old, **changes}
    try:
        yield
    finally:
        _local.overrides = old


def check_dense_size(shape, dtype, what: str) -> None:
    """Refuse to allocate a dense array above ``max_dense_bytes``.

    Raises
    ------
    MemoryError
        Naming ``what``, the size it would take and the current limit.
    """
    import numpy as np

    n_bytes = int(np.prod([int(s) for s in shape], dtype=object)) * np.dtype(dtype).itemsize
    limit = get_config()["max_dense_bytes"]
    if n_bytes > limit:
        raise MemoryError(
            f"{what} would need a dense array of shape {tuple(shape)} "
            f"({n_bytes / 1024**3:.2f} GiB), above the limit of {limit / 1024**3:.2f} GiB; "
            "use the matrix-free operator, or raise the limit with "
            "sparserec.set_config(max_dense_bytes=...)"
        )
