"""BCD estimators: parameter tables (scikit-learn's messages) and equivariance to scale.

The scale tests are property tests: multiplying the data by any factor from 1e-30 to
1e30 (1e-300 to 1e300 for an affinity) gives the same answer up to that factor, because
each estimator divides its data by a power of two internally (exact) and undoes it.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.utils._param_validation import InvalidParameterError

from sparserec import BCDClassifier, BCDLabelPropagation, BCDRegressor

SCALES = [1e-30, 1e-12, 1e-3, 1.0, 1e3, 1e12, 1e30]


def _data(seed=0, n=60, p=30):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    w = np.zeros(p)
    w[:4] = [2.0, -1.0, 1.5, 3.0]
    return X, X @ w + 0.1 * rng.standard_normal(n) + 1.0


# ------------------------------------------------------------------ parameter tables
@pytest.mark.parametrize("est, param", [
    (BCDRegressor(alpha=np.nan), "alpha"),
    (BCDRegressor(alpha=np.inf), "alpha"),
    (BCDRegressor(alpha=-1.0), "alpha"),
    (BCDRegressor(l1_ratio=np.nan), "l1_ratio"),
    (BCDRegressor(l1_ratio=1.5), "l1_ratio"),
    (BCDRegressor(fit_intercept="no"), "fit_intercept"),
    (BCDRegressor(penalty="l3"), "penalty"),
    (BCDRegressor(block_size=True), "block_size"),
    (BCDRegressor(tol=np.nan), "tol"),
    (BCDClassifier(C=np.nan), "C"),
    (BCDClassifier(C=np.inf), "C"),
    (BCDClassifier(C=0.0), "C"),
    (BCDClassifier(l1_ratio=np.nan), "l1_ratio"),
    (BCDClassifier(fit_intercept="no"), "fit_intercept"),
    (BCDLabelPropagation(affinity="knn", n_neighbors=True), "n_neighbors"),
    (BCDLabelPropagation(affinity="knn", n_neighbors=0), "n_neighbors"),
    (BCDLabelPropagation(affinity="cosine"), "affinity"),
])
def test_bad_parameters_refused_with_sklearn_message(est, param):
    X, y = _data()
    target = (y > 1).astype(int) if not isinstance(est, BCDRegressor) else y
    with pytest.raises(InvalidParameterError, match=f"The '{param}' parameter of "):
        est.fit(X, target)


# ------------------------------------------------------------------ scale
@pytest.mark.parametrize("sx", SCALES)
@pytest.mark.parametrize("sy", [1e-30, 1.0, 1e30])
def test_regressor_lasso_is_scale_equivariant(sx, sy):
    """Lasso: (s X, t y, α s t) has the solution (t / s) w, intercept t b."""
    X, y = _data()
    ref = BCDRegressor(alpha=0.1, tol=1e-12).fit(X, y)
    est = BCDRegressor(alpha=0.1 * sx * sy, tol=1e-12).fit(X * sx, y * sy)
    np.testing.assert_allclose(est.coef_ * sx / sy, ref.coef_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(est.intercept_ / sy, ref.intercept_, rtol=1e-7, atol=1e-9)
    assert est.converged_


@pytest.mark.parametrize("s", SCALES)
def test_regressor_elastic_net_is_scale_equivariant(s):
    """Elastic net: (s X, s y, α s²) has the same coefficients."""
    X, y = _data()
    params = dict(penalty="elasticnet", l1_ratio=0.3, tol=1e-12)
    ref = BCDRegressor(alpha=0.2, **params).fit(X, y)
    est = BCDRegressor(alpha=0.2 * s * s, **params).fit(X * s, y * s)
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("s", SCALES)
@pytest.mark.parametrize("penalty, power", [("l1", 1), ("l2", 2)])
def test_classifier_is_scale_equivariant(s, penalty, power):
    """Logistic: X → s X with C → C / s (L1) or C / s² (L2) gives coef / s."""
    X, y = _data()
    labels = (y > 1).astype(int)
    ref = BCDClassifier(C=1.0, penalty=penalty, tol=1e-10).fit(X, labels)
    est = BCDClassifier(C=1.0 / s**power, penalty=penalty, tol=1e-10).fit(X * s, labels)
    np.testing.assert_allclose(est.coef_ * s, ref.coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(est.intercept_, ref.intercept_, rtol=1e-6, atol=1e-8)
    assert est.converged_


@pytest.mark.parametrize("s", [1e-300, 1e-30, 1.0, 1e30, 1e300])
def test_label_propagation_is_scale_invariant(s):
    A = sp.random(40, 40, density=0.1, random_state=0)
    A = (A + A.T).tocsr()
    labels = -np.ones(40, dtype=int)
    labels[:3], labels[3:6] = 0, 1
    ref = BCDLabelPropagation().fit(A, labels)
    est = BCDLabelPropagation().fit(A * s, labels)
    np.testing.assert_allclose(est.label_distributions_, ref.label_distributions_,
                               atol=1e-12)
    np.testing.assert_allclose(est.predict_proba(A[:5] * s), ref.predict_proba(A[:5]),
                               atol=1e-12)
