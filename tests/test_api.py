"""Every public estimator passes scikit-learn's estimator checks (minus declared exceptions)."""

import inspect

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import sparserec
from sparserec.utils.estimator_checks import (
    CHECK_PARAMS,
    EXPECTED_FAILED_CHECKS,
    check_instance,
)

ESTIMATORS = sparserec.all_estimators()
SHARED_PARAMS = ("max_iter", "tol", "backend", "verbose")


def _instances():
    return [check_instance(name, cls) for name, cls in ESTIMATORS]


def _expected_failed(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(_instances(), expected_failed_checks=_expected_failed)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("name, cls", ESTIMATORS, ids=[n for n, _ in ESTIMATORS])
def test_shared_parameter_names(name, cls):
    params = inspect.signature(cls).parameters
    missing = [p for p in SHARED_PARAMS if p not in params]
    assert not missing, f"{name} lacks the shared parameters {missing}"
    assert params["backend"].default == "auto"


def test_registries_name_real_estimators():
    names = {name for name, _ in ESTIMATORS}
    for registry in (CHECK_PARAMS, EXPECTED_FAILED_CHECKS):
        assert set(registry) <= set(sparserec._ESTIMATORS), set(registry) - names
    for reasons in EXPECTED_FAILED_CHECKS.values():
        assert all(isinstance(r, str) and len(r) > 10 for r in reasons.values())


def test_all_estimators_lists_public_names():
    for name, cls in ESTIMATORS:
        assert getattr(sparserec, name) is cls
        assert cls.__doc__ and "Examples" in cls.__doc__, f"{name} needs a docstring example"


def test_import_is_light():
    import subprocess
    import sys

    code = ("import sys, sparserec; heavy = [m for m in ('cupy', 'astropy', 'dask', "
            "'matplotlib', 'numba', 'sklearn') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


@pytest.mark.parametrize("name, cls", ESTIMATORS, ids=[n for n, _ in ESTIMATORS])
def test_html_repr_links_to_the_api_page(name, cls):
    from sklearn.utils import estimator_html_repr

    link = f"https://sparserec.readthedocs.io/en/stable/generated/sparserec.{name}.html"
    assert cls()._get_doc_link() == link
    assert link in estimator_html_repr(cls())
