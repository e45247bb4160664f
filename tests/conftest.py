"""Shared test set-up: headless matplotlib, GPU tests skipped without a GPU."""

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")


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
