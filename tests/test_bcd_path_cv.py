"""bcd_path, BCDRegressorCV and BCDClassifierCV against scikit-learn's path and CV tools."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_diabetes
from sklearn.linear_model import ElasticNetCV, LassoCV, enet_path
from sklearn.model_selection import KFold

from sparserec import BCDClassifier, BCDClassifierCV, BCDRegressor, BCDRegressorCV, bcd_path


def _data(seed=0, n=60, p=40):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    w = np.zeros(p)
    w[:5] = 2 * rng.standard_normal(5)
    return X, X @ w + 0.5 * rng.standard_normal(n)


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
@pytest.mark.parametrize("sparse", [False, True])
def test_path_equals_sklearn_enet_path(l1_ratio, sparse):
    X, y = _data()
    Xc = X - X.mean(axis=0)  # enet_path fits no intercept
    Xin = sp.csc_matrix(Xc) if sparse else Xc
    alphas, coefs, gaps = bcd_path(Xin, y, l1_ratio=l1_ratio, alphas=20, tol=1e-12)
    ref_alphas, ref_coefs, _ = enet_path(Xc, y, l1_ratio=l1_ratio, alphas=alphas, tol=1e-14,
                                         max_iter=100000)
    np.testing.assert_allclose(alphas, ref_alphas)
    np.testing.assert_allclose(coefs, ref_coefs, atol=1e-5)
    n = len(y)

    def objective(c, a):
        r = y - Xc @ c
        return r @ r / (2 * n) + a * l1_ratio * np.abs(c).sum() + 0.5 * a * (1 - l1_ratio) * c @ c

    for i, a in enumerate(alphas):  # within the certified gap of scikit-learn's optimum
        excess = objective(coefs[:, i], a) - objective(ref_coefs[:, i], a)
        assert excess <= gaps[i] + 1e-14 and gaps[i] <= 1e-12 * (y @ y) / n
    assert coefs.shape == (X.shape[1], 20) and np.all(gaps >= 0)
    assert np.all(coefs[:, 0] == 0)  # alpha_max: the all-zero solution


def test_path_with_intercept_equals_estimator_fits():
    X, y = _data(1)
    rng = np.random.default_rng(1)
    sw = rng.uniform(0.5, 2, len(y))
    alphas, coefs, _, n_iter, b = bcd_path(X, y, alphas=[0.3, 0.1, 0.03], fit_intercept=True,
                                            sample_weight=sw, positive=True, tol=1e-12,
                                            return_n_iter=True, return_intercept=True)
    for i, a in enumerate(alphas):
        est = BCDRegressor(alpha=a, positive=True, tol=1e-12).fit(X, y, sample_weight=sw)
        np.testing.assert_allclose(coefs[:, i], est.coef_, atol=1e-8)
        assert b[i] == pytest.approx(est.intercept_, abs=1e-8)
    assert n_iter.shape == (3,)


def test_path_refuses_ridge_grid():
    X, y = _data()
    with pytest.raises(ValueError, match="l1_ratio"):
        bcd_path(X, y, l1_ratio=0.0)


def test_regressor_cv_chooses_lassocv_alpha():
    X, y = load_diabetes(return_X_y=True)
    cv = KFold(5, shuffle=True, random_state=0)
    ours = BCDRegressorCV(cv=cv, tol=1e-8).fit(X, y)
    ref = LassoCV(cv=cv, tol=1e-10, max_iter=100000).fit(X, y)
    np.testing.assert_allclose(ours.alphas_, ref.alphas_)
    np.testing.assert_allclose(ours.mse_path_, ref.mse_path_, rtol=1e-5)
    assert ours.alpha_ == pytest.approx(ref.alpha_)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-4)
    assert ours.mse_path_.shape == (100, 5)


def test_regressor_cv_l1_ratio_list_like_elasticnetcv():
    X, y = _data(2)
    cv = KFold(3)
    ours = BCDRegressorCV(l1_ratio=[0.3, 1.0], alphas=10, cv=cv, tol=1e-13).fit(X, y)
    ref = ElasticNetCV(l1_ratio=[0.3, 1.0], alphas=10, cv=cv, tol=1e-12,
                       max_iter=100000).fit(X, y)
    assert ours.alphas_.shape == ref.alphas_.shape == (2, 10)
    assert ours.mse_path_.shape == ref.mse_path_.shape == (2, 10, 3)
    np.testing.assert_allclose(ours.mse_path_, ref.mse_path_, rtol=1e-4)
    assert (ours.alpha_, ours.l1_ratio_) == pytest.approx((ref.alpha_, ref.l1_ratio_))


def test_regressor_cv_parallel_equals_serial_and_sparse():
    X, y = _data(3)
    a = BCDRegressorCV(alphas=8, cv=3).fit(X, y)
    b = BCDRegressorCV(alphas=8, cv=3, n_jobs=2).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(a.mse_path_, b.mse_path_, rtol=1e-6)
    assert a.alpha_ == b.alpha_


def test_regressor_cv_multi_task():
    X, y = _data(4)
    Y = np.column_stack([y, -y + 0.1 * X[:, 7]])
    reg = BCDRegressorCV(alphas=6, cv=3, multi_task=True).fit(X, Y)
    assert reg.coef_.shape == (2, X.shape[1]) and reg.predict(X).shape == Y.shape
    assert np.array_equal(reg.coef_[0] != 0, reg.coef_[1] != 0)


def test_classifier_cv_picks_best_mean_score():
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    clf = BCDClassifierCV(Cs=[0.01, 0.1, 1.0], penalty="l1", cv=cv).fit(X, y)
    assert clf.scores_[1].shape == (3, 3) and clf.C_.shape == (1,)
    means = clf.scores_[1].mean(axis=0)
    assert clf.C_[0] == clf.Cs_[np.argmax(means)]
    # an independent reference for one grid point: cross_val_score of BCDClassifier
    ref = cross_val_score(BCDClassifier(C=0.1, penalty="l1"), X, y, cv=cv)
    np.testing.assert_allclose(clf.scores_[1][:, 1], ref, atol=1e-12)
