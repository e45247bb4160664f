"""Shared test set-up: headless matplotlib, one BLAS thread, GPU tests skipped without a GPU."""

import matplotlib
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

matplotlib.use("Agg")
# Tests solve many tiny problems: one BLAS thread is faster for them and keeps numba's
# parallel kernels from competing with BLAS threads for the two CI cores.
threadpool_limits(1, user_api="blas")


def pytest_collection_modifyitems(config, items):
    if not any(item.get_closest_marker("gpu") for item in items):
        return
    from sparserec.backend import backend_status

    ok, reason = backend_status()["cupy"]
    if ok:
        return
    skip = pytest.mark.skip(reason=f"no usable GPU: {reason}")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
