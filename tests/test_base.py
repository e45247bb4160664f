import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning

from sparserec.base import (
    SparseEstimatorMixin,
    check_finite_array,
    check_option,
    validate_xy,
)


class _Toy(SparseEstimatorMixin, BaseEstimator):
    def __init__(self, max_iter=5, tol=1e-3, backend="auto", verbose=0):
        self.max_iter = max_iter
        self.tol = tol
        self.backend = backend
        self.verbose = verbose

    def fit(self, X, y):
        X, y = validate_xy(self, X, y, allow_complex=True)
        self._check_common_params(X)
        value, n_iter = 1.0, 0
        for n_iter in self._iterations():  # noqa: B007 (n_iter is used after the loop)
            value /= 10
            self._record(value)
            if value < self.tol:
                break
        self._set_convergence(n_iter + 1, value < self.tol)
        return self


def test_convergence_record():
    est = _Toy(max_iter=10, tol=2e-3).fit(np.ones((3, 2)), np.ones(3))
    assert est.n_iter_ == 3 and est.converged_ and len(est.history_) == 3


def test_non_convergence_warns_and_keeps_iterate():
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        est = _Toy(max_iter=2).fit(np.ones((3, 2)), np.ones(3))
    assert est.n_iter_ == 2 and not est.converged_


@pytest.mark.parametrize("params, match", [
    ({"max_iter": 0}, "max_iter"),
    ({"max_iter": 2.5}, "max_iter"),
    ({"tol": -1.0}, "tol"),
    ({"tol": float("nan")}, "tol"),
    ({"backend": "tpu"}, "backend"),
    ({"verbose": -1}, "verbose"),
])
def test_bad_shared_params_name_the_parameter(params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        _Toy(**params).fit(np.ones((3, 2)), np.ones(3))


def test_progress_bar_runs(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _Toy(max_iter=3, tol=0.0, verbose=1).fit(np.ones((3, 2)), np.ones(3))


def test_complex_input_validated_and_kept():
    X = np.ones((3, 2)) * (1 + 1j)
    est = _Toy().fit(X, np.ones(3, dtype=complex))
    assert est.n_features_in_ == 2
    X[0, 0] = np.nan * 1j
    with pytest.raises(ValueError, match="NaN"):
        _Toy().fit(X, np.ones(3))


def test_check_finite_array_errors():
    with pytest.raises(ValueError, match="image must be 2-dimensional"):
        check_finite_array(np.ones(3), "image", ndim=2)
    with pytest.raises(ValueError, match="image contains 1 NaN"):
        check_finite_array([[1.0, np.nan]], "image")
    with pytest.raises(TypeError, match="psf must be a numeric array"):
        check_finite_array(np.array([["a"]]), "psf")
    with pytest.raises(TypeError, match="psf must be real-valued"):
        check_finite_array(np.ones(2, complex), "psf")
    with pytest.raises(ValueError, match="at least 1 element"):
        check_finite_array(np.ones((0, 3)), "x")
    assert check_finite_array(np.ones(2, np.float32), "x").dtype == np.float32
    assert check_finite_array(np.ones(2, np.int32), "x").dtype == np.float64


def test_check_option():
    with pytest.raises(ValueError, match=r"solver must be one of \('a', 'b'\), got 'c'"):
        check_option("c", "solver", ("a", "b"))
