import numpy as np
import pytest

import sparserec
from sparserec import backend


def test_numpy_always_available():
    assert backend.backend_status()["numpy"][0]
    assert backend.resolve_backend("numpy") == "numpy"


def test_auto_prefers_numba_on_host_arrays():
    expected = "numba" if backend.backend_status()["numba"][0] else "numpy"
    assert backend.resolve_backend("auto", np.zeros(3)) == expected


@pytest.mark.parametrize("bad", ["gpu", "", None, 3, "NUMPY"])
def test_unknown_backend_names_the_parameter(bad):
    with pytest.raises(ValueError, match="backend must be one of"):
        backend.resolve_backend(bad)


def test_cupy_unavailable_raises_with_reason():
    ok, reason = backend.backend_status()["cupy"]
    if ok:
        pytest.skip("a GPU is available here")
    with pytest.raises(sparserec.BackendUnavailableError, match="backend='cupy' is unavailable"):
        backend.resolve_backend("cupy")
    assert reason and "\n" not in reason


def test_error_is_exported_at_top_level():
    assert sparserec.BackendUnavailableError is backend.BackendUnavailableError


def test_host_round_trip():
    x = np.arange(4.0)
    assert backend.to_host(backend.to_device(x, "numpy")) is not None
    np.testing.assert_array_equal(backend.to_device(x, "numpy", dtype=np.float32), x)
    assert not backend.is_cupy_array(x)
    assert backend.array_namespace(x) is np
    assert backend.scipy_namespace(np, "fft").__name__ == "scipy.fft"


@pytest.mark.gpu
def test_cupy_round_trip():
    import cupy

    x = cupy.arange(5.0)
    assert backend.is_cupy_array(x)
    assert backend.resolve_backend("auto", x) == "cupy"
    np.testing.assert_array_equal(backend.to_host(x), np.arange(5.0))
