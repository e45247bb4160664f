"""Global settings, in the style of :func:`sklearn.set_config`."""

from __future__ import annotations

import contextlib

_config = {
    # An operation that would materialise a dense array larger than this many
    # bytes (an operator's todense(), a full Kronecker matrix) is refused.
    "max_dense_bytes": 2 * 1024**3,
}


def get_config() -> dict:
    """Return a copy of the current global settings.

    Examples
    --------
    >>> from sparserec import get_config
    >>> get_config()["max_dense_bytes"]
    2147483648
    """
    return dict(_config)


def set_config(*, max_dense_bytes: int | None = None) -> None:
    """Change global settings; ``None`` leaves a setting unchanged.

    Parameters
    ----------
    max_dense_bytes : int, optional
        Largest dense array (in bytes) that an operator may materialise.
    """
    if max_dense_bytes is not None:
        if not isinstance(max_dense_bytes, int) or max_dense_bytes <= 0:
            raise ValueError(
                f"max_dense_bytes must be a positive integer, got {max_dense_bytes!r}"
            )
        _config["max_dense_bytes"] = max_dense_bytes


@contextlib.contextmanager
def config_context(**changes):
    """Temporarily change settings inside a ``with`` block.

    Examples
    --------
    >>> from sparserec import config_context, get_config
    >>> with config_context(max_dense_bytes=1024):
    ...     get_config()["max_dense_bytes"]
    1024
    """
    old = get_config()
    set_config(**changes)
    try:
        yield
    finally:
        _config.update(old)


def check_dense_size(shape, dtype, what: str) -> None:
    """Refuse to allocate a dense array above ``max_dense_bytes``.

    Raises
    ------
    MemoryError
        Naming ``what``, the size it would take and the current limit.
    """
    import numpy as np

    n_bytes = int(np.prod([int(s) for s in shape], dtype=object)) * np.dtype(dtype).itemsize
    limit = _config["max_dense_bytes"]
    if n_bytes > limit:
        raise MemoryError(
            f"{what} would need a dense array of shape {tuple(shape)} "
            f"({n_bytes / 1024**3:.2f} GiB), above the limit of {limit / 1024**3:.2f} GiB; "
            "use the matrix-free operator, or raise the limit with "
            "sparserec.set_config(max_dense_bytes=...)"
        )
