"""BCDRegressor as a drop-in for scikit-learn's Lasso / ElasticNet / MultiTaskElasticNet.

Independent references: the toy problems with known coefficients of scikit-learn's own
tests (``sklearn/linear_model/tests/test_coordinate_descent.py``), duplicated rows for
integer sample weights, and scikit-learn's solvers on random problems (objective values
compared, since coefficients of ill-conditioned problems are only determined up to the
objective's curvature).
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import ElasticNet, MultiTaskElasticNet

from sparserec import BCDRegressor

TOY_X = np.array([[-1.0], [0.0], [1.0]])
TOY_Y = np.array([-1.0, 0.0, 1.0])
TOY_T = np.array([[2.0], [3.0], [4.0]])


@pytest.mark.parametrize("alpha, coef, pred", [
    (1e-8, 1.0, [2, 3, 4]),
    (0.1, 0.85, [1.7, 2.55, 3.4]),
    (0.5, 0.25, [0.5, 0.75, 1.0]),
    (1.0, 0.0, [0, 0, 0]),
])
def test_lasso_toy(alpha, coef, pred):
    reg = BCDRegressor(alpha=alpha).fit(TOY_X, TOY_Y)
    np.testing.assert_array_almost_equal(reg.coef_, [coef])
    np.testing.assert_array_almost_equal(reg.predict(TOY_T), pred)
    assert reg.dual_gap_ == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("alpha, l1_ratio, coef, pred", [
    (1e-8, 1.0, 1.0, [2, 3, 4]),
    (0.5, 0.3, 0.50819, [1.0163, 1.5245, 2.0327]),
    (0.5, 0.5, 0.45454, [0.9090, 1.3636, 1.8181]),
])
def test_enet_toy(alpha, l1_ratio, coef, pred):
    reg = BCDRegressor(penalty="elasticnet", alpha=alpha, l1_ratio=l1_ratio,
                       max_iter=100).fit(TOY_X, TOY_Y)
    np.testing.assert_array_almost_equal(reg.coef_, [coef], decimal=3)
    np.testing.assert_array_almost_equal(reg.predict(TOY_T), pred, decimal=3)
    assert reg.dual_gap_ == pytest.approx(0.0, abs=1e-10)


def _problem(seed, n=80, p=120, sparse=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    if sparse:
        X = sp.random(n, p, density=0.15, random_state=seed, format="csc")
    w = np.zeros(p)
    w[:6] = 3 * rng.standard_normal(6)
    y = X @ w + 0.1 * rng.standard_normal(n) + 1.5
    return X, y, rng


def _objective(X, y, coef, b, alpha, rho, sw):
    r = y - X @ coef - b
    sw = sw * len(y) / sw.sum()
    return (sw * r * r).sum() / (2 * len(y)) + alpha * rho * np.abs(coef).sum() \
        + 0.5 * alpha * (1 - rho) * coef @ coef


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("rho", [1.0, 0.4])
@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_objective_equals_sklearn(sparse, rho, positive, weighted):
    X, y, rng = _problem(1, sparse=sparse)
    sw = rng.uniform(0.0, 3.0, len(y)) if weighted else None
    alpha = 0.05
    reg = BCDRegressor(penalty="elasticnet", l1_ratio=rho, alpha=alpha, positive=positive,
                       tol=1e-12).fit(X, y, sample_weight=sw)
    ref = ElasticNet(alpha=alpha, l1_ratio=rho, positive=positive, tol=1e-14,
                     max_iter=100000).fit(X, y, sample_weight=sw)
    ones = np.ones(len(y)) if sw is None else sw
    ours = _objective(X, y, reg.coef_, reg.intercept_, alpha, rho, ones)
    theirs = _objective(X, y, ref.coef_, ref.intercept_, alpha, rho, ones)
    assert ours <= theirs + 1e-10 * theirs
    assert reg.converged_ and reg.solver_ == "cd"
    if positive:
        assert reg.coef_.min() >= 0
    np.testing.assert_allclose(reg.coef_, ref.coef_, atol=1e-4)


@pytest.mark.parametrize("sparse", [False, True])
def test_integer_sample_weight_equals_repeated_rows(sparse):
    X, y, rng = _problem(2, sparse=sparse)
    sw = rng.integers(0, 4, len(y))
    rows = np.repeat(np.arange(len(y)), sw)
    a = BCDRegressor(alpha=0.05, tol=1e-12).fit(X, y, sample_weight=sw)
    b = BCDRegressor(alpha=0.05, tol=1e-12).fit(X[rows], y[rows])
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-8)
    assert a.intercept_ == pytest.approx(b.intercept_, abs=1e-8)


def test_sample_weight_leaves_caller_data_alone():
    X, y, rng = _problem(3, sparse=True)
    data = X.data.copy()
    BCDRegressor(alpha=0.05).fit(X, y, sample_weight=rng.uniform(0.5, 2, len(y)))
    np.testing.assert_array_equal(X.data, data)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("rho", [1.0, 0.5])
def test_multi_task_equals_sklearn(sparse, rho):
    X, y, rng = _problem(4, sparse=sparse)
    Y = np.column_stack([y, 0.5 * y + rng.standard_normal(len(y)), -y])
    reg = BCDRegressor(penalty="elasticnet", l1_ratio=rho, alpha=0.05, multi_task=True,
                       tol=1e-12).fit(X, Y)
    Xd = X.toarray() if sparse else X  # MultiTaskElasticNet takes dense X only
    ref = MultiTaskElasticNet(alpha=0.05, l1_ratio=rho, tol=1e-14, max_iter=100000).fit(Xd, Y)
    np.testing.assert_allclose(reg.coef_, ref.coef_, atol=1e-5)
    np.testing.assert_allclose(reg.intercept_, ref.intercept_, atol=1e-5)
    # the row-group penalty keeps the same rows in every task
    assert np.array_equal(reg.coef_[0] != 0, reg.coef_[2] != 0)


def test_independent_targets_equal_separate_fits():
    X, y, rng = _problem(5)
    Y = np.column_stack([y, rng.standard_normal(len(y))])
    reg = BCDRegressor(alpha=0.05, tol=1e-10).fit(X, Y)
    for k in range(2):
        one = BCDRegressor(alpha=0.05, tol=1e-10).fit(X, Y[:, k])
        np.testing.assert_allclose(reg.coef_[k], one.coef_, atol=1e-12)
        assert reg.intercept_[k] == pytest.approx(one.intercept_)
    assert reg.coef_.shape == (2, X.shape[1]) and reg.predict(X).shape == Y.shape


@pytest.mark.parametrize("sparse", [False, True])
def test_float32_kept(sparse):
    X, y, _ = _problem(6, sparse=sparse)
    X32 = X.astype(np.float32)
    reg = BCDRegressor(alpha=0.05, tol=1e-8).fit(X32, y)
    ref = BCDRegressor(alpha=0.05, tol=1e-8).fit(X, y)
    assert reg.coef_.dtype == np.float32 and reg.predict(X32).dtype == np.float32
    np.testing.assert_allclose(reg.coef_, ref.coef_, atol=1e-4)


def test_warm_start_resumes():
    X, y, _ = _problem(7)
    reg = BCDRegressor(alpha=0.05, tol=1e-10, warm_start=True).fit(X, y)
    first = reg.n_iter_
    reg.fit(X, y)
    assert reg.n_iter_ <= 1 < first
    cold = BCDRegressor(alpha=0.04, tol=1e-10).fit(X, y)
    reg.set_params(alpha=0.04).fit(X, y)
    assert reg.n_iter_ < cold.n_iter_
    np.testing.assert_allclose(reg.coef_, cold.coef_, atol=1e-6)


def test_paper_framework_still_reachable():
    X, y, _ = _problem(8)
    cd = BCDRegressor(alpha=0.05, tol=1e-10).fit(X, y)
    paper = BCDRegressor(alpha=0.05, tol=1e-10, solver="bcd").fit(X, y)
    cyclic = BCDRegressor(alpha=0.05, tol=1e-10, rule="cyclic", partition="fixed",
                          update="gradient", max_iter=100000).fit(X, y)
    assert paper.solver_ == "bcd" and cyclic.solver_ == "bcd" and cd.solver_ == "cd"
    np.testing.assert_allclose(paper.coef_, cd.coef_, atol=1e-6)
    np.testing.assert_allclose(cyclic.coef_, cd.coef_, atol=1e-6)


@pytest.mark.parametrize("kwargs, fit_kw, match", [
    (dict(), dict(sample_weight=-np.ones(80)), "sample_weight"),
    (dict(), dict(sample_weight=np.full(80, np.nan)), "sample_weight"),
    (dict(), dict(sample_weight=np.zeros(80)), "sample_weight"),
    (dict(positive=True, solver="bcd"), dict(), "positive"),
    (dict(solver="bcd"), dict(sample_weight=np.ones(80)), "sample_weight"),
    (dict(multi_task=True), dict(), "multi_task"),
    (dict(solver="cd", rule="cyclic"), dict(), "solver"),
])
def test_bad_input_named(kwargs, fit_kw, match):
    X, y, _ = _problem(9)
    with pytest.raises(ValueError, match=match):
        BCDRegressor(**kwargs).fit(X, y, **fit_kw)


def test_multi_output_nan_in_one_target_named():
    X, y, _ = _problem(9)
    Y = np.column_stack([y, y])
    Y[5, 1] = np.nan
    with pytest.raises(ValueError, match="y"):
        BCDRegressor().fit(X, Y)


@pytest.mark.parametrize("penalty", ["l1", "l2", "elasticnet"])
@pytest.mark.parametrize("sparse", [False, True])
def test_classifier_prox_newton_equals_paper_solver_and_sklearn(penalty, sparse):
    from sklearn.linear_model import LogisticRegression

    from sparserec import BCDClassifier

    X, y, _ = _problem(10, sparse=sparse)
    labels = (y > np.median(y)).astype(int)
    kw = dict(penalty=penalty, C=0.5, l1_ratio=0.5, tol=1e-10)
    cd = BCDClassifier(**kw).fit(X, labels)
    paper = BCDClassifier(solver="bcd", max_iter=20000, **kw).fit(X, labels)
    rho = {"l1": 1.0, "l2": 0.0, "elasticnet": 0.5}[penalty]
    ref = LogisticRegression(C=0.5, l1_ratio=rho, solver="saga", tol=1e-12,
                             max_iter=100000).fit(X, labels)
    assert cd.solver_ == "cd" and paper.solver_ == "bcd" and cd.converged_
    np.testing.assert_allclose(cd.coef_, paper.coef_, atol=1e-4)  # gap 1e-10: ~1e-4 here
    np.testing.assert_allclose(cd.coef_, ref.coef_, atol=1e-4)
    assert np.all(np.diff(cd.history_) <= 1e-12)


def test_classifier_cd_refuses_multinomial():
    from sparserec import BCDClassifier

    X, y, _ = _problem(11)
    with pytest.raises(ValueError, match="solver='cd'"):
        BCDClassifier(solver="cd").fit(X, np.arange(len(y)) % 3)


def test_classifier_warm_start_resumes():
    from sparserec import BCDClassifier

    X, y, _ = _problem(12)
    labels = (y > np.median(y)).astype(int)
    clf = BCDClassifier(penalty="l1", C=0.5, tol=1e-10, warm_start=True).fit(X, labels)
    first = clf.n_iter_
    clf.fit(X, labels)
    assert clf.n_iter_ < first
    cold = BCDClassifier(penalty="l1", C=0.4, tol=1e-10).fit(X, labels)
    clf.set_params(C=0.4).fit(X, labels)
    np.testing.assert_allclose(clf.coef_, cold.coef_, atol=1e-5)
