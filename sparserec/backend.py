"""Choice of compute backend: ``"auto" | "numpy" | "numba" | "cupy"``.

``"numpy"`` runs everything with NumPy/SciPy, ``"numba"`` sends the heavy loops to
JIT-compiled CPU kernels, ``"cupy"`` runs on an NVIDIA GPU. ``"auto"`` picks CuPy when the
input already lives on the GPU, otherwise numba when it imports, otherwise NumPy.

A backend asked for by name that cannot run here raises :class:`BackendUnavailableError`
with a one-line reason; there is never a silent fallback. CuPy is imported lazily, only
when it is asked for or when a CuPy array is passed in.

Conversions
-----------
Input on the GPU gives output on the GPU. NumPy input with ``backend="cupy"`` is copied to
the GPU once, the whole solve stays there, and the results are copied back to NumPy.
CuPy input with ``backend="numpy"``/``"numba"`` is copied to the host once.
"""

from __future__ import annotations

import contextlib
import functools
from types import ModuleType

import numpy as np

BACKENDS = ("auto", "numpy", "numba", "cupy")


class BackendUnavailableError(RuntimeError):
    """A backend requested by name cannot run on this machine."""


@functools.cache
def _numba_status() -> tuple[bool, str]:
    try:
        import numba
    except Exception as exc:  # ImportError, or a broken llvmlite install
        return False, f"numba cannot be imported: {exc}"
    return True, f"numba {numba.__version__}"


@functools.cache
def _cupy_status() -> tuple[bool, str]:
    try:
        import cupy
    except ImportError:
        return False, "CuPy is not installed (pip install 'sparserec[gpu]')"
    except Exception as exc:
        return False, f"CuPy failed to import: {str(exc).splitlines()[0]}"
    try:
        n_devices = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return False, f"CuPy found no usable CUDA device: {str(exc).splitlines()[0]}"
    if n_devices == 0:
        return False, "CuPy found no CUDA device"
    try:
        int((cupy.arange(4) * 2).sum())  # compiles and launches a kernel
        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
    except Exception as exc:
        return False, f"CuPy cannot run a kernel: {str(exc).splitlines()[0]}"
    if isinstance(name, bytes):
        name = name.decode()
    return True, f"CuPy {cupy.__version__} on {name} ({n_devices} device(s))"


def backend_status() -> dict[str, tuple[bool, str]]:
    """Which backends can run here, and why not.

    Returns
    -------
    status : dict
        ``{name: (available, reason)}`` for ``"numpy"``, ``"numba"`` and ``"cupy"``.

    Examples
    --------
    >>> from sparserec.backend import backend_status
    >>> backend_status()["numpy"][0]
    True
    """
    return {
        "numpy": (True, f"NumPy {np.__version__}"),
        "numba": _numba_status(),
        "cupy": _cupy_status(),
    }


def is_cupy_array(x) -> bool:
    """True for a CuPy array, without importing CuPy."""
    return type(x).__module__.split(".")[0] == "cupy"


def resolve_backend(backend: str, *arrays) -> str:
    """Turn a user's ``backend`` parameter into a concrete backend name.

    Parameters
    ----------
    backend : {"auto", "numpy", "numba", "cupy"}
        The requested backend.
    *arrays
        Inputs of the computation; with ``"auto"``, a CuPy array among them selects CuPy.

    Returns
    -------
    name : {"numpy", "numba", "cupy"}

    Raises
    ------
    ValueError
        If ``backend`` is not one of the names above.
    BackendUnavailableError
        If the named backend cannot run here.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.backend import resolve_backend
    >>> resolve_backend("numpy", np.zeros(3))
    'numpy'
    """
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        if any(is_cupy_array(a) for a in arrays):
            return "cupy"
        return "numba" if _numba_status()[0] else "numpy"
    if backend != "numpy":
        available, reason = _cupy_status() if backend == "cupy" else _numba_status()
        if not available:
            raise BackendUnavailableError(f"backend={backend!r} is unavailable: {reason}")
    return backend


def host_backend(backend: str) -> str:
    """The CPU backend that runs the host-side part of a computation on ``backend``.

    Some steps stay on the host even when the bulk runs on the GPU (greedy selection in
    BCD, the small M-step of Kronecker SBL). They use numba when it imports, otherwise
    NumPy; a concrete CPU backend is returned unchanged.

    Examples
    --------
    >>> from sparserec.backend import host_backend
    >>> host_backend("numpy")
    'numpy'
    """
    if backend in ("numpy", "numba"):
        return backend
    return "numba" if _numba_status()[0] else "numpy"


def get_namespace(backend: str) -> ModuleType:
    """The array module of a concrete backend: :mod:`numpy`, or :mod:`cupy` for ``"cupy"``."""
    if backend == "cupy":
        import cupy

        return cupy
    return np


def array_namespace(*arrays) -> ModuleType:
    """The array module the given arrays live in (CuPy if any of them is a CuPy array)."""
    if any(is_cupy_array(a) for a in arrays):
        import cupy

        return cupy
    return np


def scipy_namespace(xp: ModuleType, submodule: str) -> ModuleType:
    """``scipy.<submodule>`` for NumPy, ``cupyx.scipy.<submodule>`` for CuPy.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.backend import scipy_namespace
    >>> scipy_namespace(np, "fft").__name__
    'scipy.fft'
    """
    import importlib

    root = "cupyx.scipy" if xp.__name__ == "cupy" else "scipy"
    return importlib.import_module(f"{root}.{submodule}")


def to_device(x, backend: str, dtype=None):
    """Put ``x`` where ``backend`` computes (GPU for ``"cupy"``, host otherwise)."""
    if backend == "cupy":
        import cupy

        return cupy.asarray(x, dtype=dtype)
    return np.asarray(to_host(x), dtype=dtype)


def to_host(x) -> np.ndarray:
    """A NumPy copy (or view) of ``x``, wherever it lives."""
    if is_cupy_array(x):
        return x.get()
    return np.asarray(x)


@contextlib.contextmanager
def gpu_memory_guard(what: str, hint: str = "split the work into smaller pieces"):
    """Turn CuPy's out-of-memory error into a :class:`MemoryError` that names the work.

    CuPy reports only the bytes of the allocation that failed; the message adds what was
    being computed and what to do (``hint``), e.g. tiling a large image.
    """
    try:
        yield
    except Exception as exc:
        if type(exc).__name__ != "OutOfMemoryError":
            raise
        raise MemoryError(f"the GPU ran out of memory for {what} ({exc}); {hint}") from exc


@functools.cache
def _gpu_sources():
    """The ``sparserec._gpu`` package: installed, or the ``gpu/`` folder of a checkout.

    Loaded once: every kernel launch goes through :func:`cuda_module`, and a fresh module
    object per call would recompile (or reload) the CUDA module each time.
    """
    import importlib

    try:
        return importlib.import_module("sparserec._gpu")
    except ModuleNotFoundError:
        import importlib.util
        from pathlib import Path

        path = Path(__file__).resolve().parents[1] / "gpu" / "__init__.py"
        spec = importlib.util.spec_from_file_location("sparserec._gpu", path)
        package = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(package)
        return package


def cuda_module(filename: str, name_expressions: tuple[str, ...]):
    """The ``cupy.RawModule`` of ``gpu/<filename>`` with these template instantiations.

    The CUDA sources ship as ``sparserec._gpu``; in a source checkout (not installed)
    they are read from the ``gpu/`` folder beside the package. Compiled once per file and
    set of instantiations.
    """
    return _gpu_sources().load_module(filename, name_expressions)
