"""Greedy block coordinate descent: estimators against scikit-learn / closed forms, and the
building blocks (rules × partitions × updates, message passing) against dense references."""

import itertools
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from scipy.sparse.linalg import spsolve
from scipy.special import log_softmax
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet, LogisticRegression
from sklearn.utils.fixes import parse_version

from sparserec import BCDClassifier, BCDLabelPropagation, BCDRegressor
from sparserec.bcd import PARTITIONS, RULES, UPDATES, _kernels
from sparserec.bcd.losses import Penalty, QuadraticLoss, SquaredLoss
from sparserec.bcd.solver import bcd
from sparserec.bcd.updates import solve_quadratic_l1, tree_solve
from sparserec.datasets import make_sparse_regression

K = _kernels.get("numba")


def enet_objective(X, y, w, b, alpha, rho):
    r = y - X @ w - b
    return r @ r / (2 * len(y)) + alpha * rho * np.abs(w).sum() + 0.5 * alpha * (1 - rho) * w @ w


def logistic_objective(X, y, coef, intercept, C, rho, classes):
    if len(classes) == 2:
        z = X @ coef[0] + intercept[0]
        t = (y == classes[1]).astype(float)
        loss = np.sum(np.logaddexp(0, z) - t * z)
    else:
        Y = (y[:, None] == classes[None]).astype(float)
        loss = -np.sum(Y * log_softmax(X @ coef.T + intercept, axis=1))
    return C * loss + rho * np.abs(coef).sum() + 0.5 * (1 - rho) * np.sum(coef**2)


def _regression(kind):
    if kind == "correlated":
        p = make_sparse_regression(60, 150, 6, correlation=0.7, snr_db=20, random_state=1)
        return p.X, p.y + 3.0
    if kind == "sparse":
        rng = np.random.RandomState(2)
        X = sp.random(120, 90, density=0.1, random_state=rng, format="csr")
        return X, X @ rng.standard_normal(90) + 0.1 * rng.standard_normal(120) - 2.0
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    return X, y / 100


# ------------------------------------------------------------------ estimators vs sklearn
@pytest.mark.parametrize("data", ["correlated", "sparse", "diabetes"])
@pytest.mark.parametrize("penalty, rho", [("l1", 1.0), ("elasticnet", 0.4), ("l2", 0.0)])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_regressor_matches_sklearn_objective(data, penalty, rho, fit_intercept):
    X, y = _regression(data)
    Xd = X.toarray() if sp.issparse(X) else X
    alpha = 0.02 * np.abs(Xd.T @ (y - y.mean())).max() / len(y)
    ref = ElasticNet(alpha=alpha, l1_ratio=rho, fit_intercept=fit_intercept, tol=1e-13,
                     max_iter=200_000).fit(X, y)
    est = BCDRegressor(penalty=penalty, alpha=alpha, l1_ratio=0.4, tol=1e-12,
                       fit_intercept=fit_intercept).fit(X, y)
    assert est.converged_
    ours = enet_objective(Xd, y, est.coef_, est.intercept_, alpha, rho)
    theirs = enet_objective(Xd, y, ref.coef_, ref.intercept_, alpha, rho)
    assert ours <= theirs * (1 + 1e-7)
    assert abs(ours - theirs) <= 1e-7 * theirs
    if penalty == "l1":
        np.testing.assert_array_equal(est.active_set_, np.flatnonzero(est.coef_))
        np.testing.assert_allclose(est.predict(X), Xd @ est.coef_ + est.intercept_)


def test_dense_and_sparse_give_the_same_fit():
    X, y = _regression("sparse")
    a = BCDRegressor(alpha=0.01, tol=1e-12).fit(X, y)
    b = BCDRegressor(alpha=0.01, tol=1e-12).fit(X.toarray(), y)
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-9)
    assert a.intercept_ == pytest.approx(b.intercept_, abs=1e-9)


@pytest.mark.parametrize("dataset, penalty, rho", [
    ("breast_cancer", "l2", 0.0), ("iris", "l2", 0.0), ("iris", "l1", 1.0),
    pytest.param("breast_cancer", "l1", 1.0, marks=pytest.mark.slow),  # saga: ~15 s
])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_classifier_matches_sklearn_objective(dataset, penalty, rho, fit_intercept):
    from sklearn import datasets
    from sklearn.preprocessing import StandardScaler

    X, y = getattr(datasets, f"load_{dataset}")(return_X_y=True)
    X = StandardScaler().fit_transform(X)[::2]
    y = y[::2]
    C = 0.3
    # before scikit-learn 1.8, l1_ratio counts only with penalty="elasticnet"
    old = rho and parse_version(sklearn.__version__) < parse_version("1.8")
    ref = LogisticRegression(C=C, l1_ratio=rho, solver="saga" if rho else "lbfgs", tol=1e-12,
                             max_iter=100_000, fit_intercept=fit_intercept,
                             **({"penalty": "elasticnet"} if old else {}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref.fit(X, y)
    # tol 1e-9: with NumPy 1.26 / SciPy 1.11 (the declared floors) the duality gap of the
    # three-class L1 fit stalls at 3e-10 at the optimum (its rounding floor)
    est = BCDClassifier(C=C, penalty=penalty, tol=1e-9, fit_intercept=fit_intercept).fit(X, y)
    assert est.converged_
    ours = logistic_objective(X, y, est.coef_, est.intercept_, C, rho, est.classes_)
    theirs = logistic_objective(X, y, ref.coef_, ref.intercept_, C, rho, ref.classes_)
    assert ours <= theirs * (1 + 1e-7)
    assert abs(ours - theirs) <= 1e-7 * theirs
    np.testing.assert_allclose(est.predict_proba(X).sum(axis=1), 1.0)
    assert est.score(X, y) > 0.8


def test_classifier_sparse_input_and_string_labels():
    rng = np.random.RandomState(0)
    X = sp.random(80, 30, density=0.3, random_state=rng, format="csr")
    y = np.where(X @ rng.standard_normal(30) > 0, "yes", "no")
    dense = BCDClassifier(C=2.0, tol=1e-10).fit(X.toarray(), y)
    sparse = BCDClassifier(C=2.0, tol=1e-10).fit(X, y)
    np.testing.assert_allclose(dense.coef_, sparse.coef_, atol=1e-7)
    assert set(sparse.predict(X)) <= {"yes", "no"}


# ------------------------------------------------------------------ label propagation
def _graph_problem(n=300, frac=0.1, seed=0):
    from sklearn.datasets import make_blobs
    from sklearn.neighbors import kneighbors_graph

    X, truth = make_blobs(n, centers=3, cluster_std=2.0, random_state=seed)
    W = kneighbors_graph(X, 6, include_self=False)
    W = W.maximum(W.T).tocsr()
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < frac, truth, -1)
    y[np.unique(truth, return_index=True)[1]] = truth[np.unique(truth, return_index=True)[1]]
    return W, y, truth


def harmonic_solution(W, y):
    """Closed form: ``L_uu F_u = W_ul Y_l`` by a sparse direct solve."""
    lab, unl = y != -1, y == -1
    classes = np.unique(y[lab])
    Y = (y[lab][:, None] == classes[None]).astype(float)
    L = (sp.diags(np.asarray(W.sum(axis=1)).ravel()) - W).tocsc()
    F = np.zeros((y.size, classes.size))
    F[lab] = Y
    F[unl] = spsolve(L[unl][:, unl], W[unl][:, lab] @ Y).reshape(-1, classes.size)
    return F / F.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("rule, partition, update", [
    ("gsl", "forest", "message-passing"),
    ("gs", "tree", "message-passing"),
    ("cyclic", "red-black", "message-passing"),
    ("gsl", "variable", "newton"),
])
def test_label_propagation_equals_harmonic_solution(rule, partition, update):
    W, y, truth = _graph_problem()
    lp = BCDLabelPropagation(rule=rule, partition=partition, update=update, tol=1e-10,
                             max_iter=20_000).fit(W, y)
    assert lp.converged_
    np.testing.assert_allclose(lp.label_distributions_, harmonic_solution(W, y), atol=1e-7)
    np.testing.assert_array_equal(lp.transduction_[y != -1], y[y != -1])
    assert np.mean(lp.transduction_ == truth) > 0.6  # well above chance (1/3)


def test_label_propagation_disconnected_component_gets_uniform():
    W, y, _ = _graph_problem(60)
    island = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float))
    W2 = sp.block_diag([W, island]).tocsr()
    y2 = np.append(y, [-1, -1, -1])
    with pytest.warns(UserWarning, match="without any labelled node"):
        lp = BCDLabelPropagation(tol=1e-10).fit(W2, y2)
    np.testing.assert_allclose(lp.label_distributions_[-3:], 1 / 3)
    np.testing.assert_allclose(lp.label_distributions_[:-3], harmonic_solution(W, y), atol=1e-7)


def test_label_propagation_knn_affinity_predicts_new_points():
    from sklearn.datasets import make_blobs

    X, truth = make_blobs(200, centers=2, random_state=3)
    y = np.where(np.arange(200) % 10 == 0, truth, -1)
    lp = BCDLabelPropagation(affinity="knn", n_neighbors=5, tol=1e-8).fit(X, y)
    assert np.mean(lp.predict(X + 0.01) == truth) > 0.95


# ------------------------------------------------------------------ building blocks
def test_message_passing_equals_dense_block_solve():
    rng = np.random.default_rng(4)
    n = 40
    parent = [rng.integers(0, i) if i and rng.random() > 0.1 else -1 for i in range(n)]
    H = np.zeros((n, n))
    for i, p in enumerate(parent):
        if p >= 0:
            H[i, p] = H[p, i] = rng.uniform(-1, 1)
    H += np.diag(np.abs(H).sum(axis=1) + rng.uniform(0.1, 1, n))
    rhs = rng.standard_normal((n, 3))
    x = tree_solve(sp.csr_matrix(H), rhs, K)
    np.testing.assert_allclose(x, np.linalg.solve(H, rhs), rtol=1e-10, atol=1e-12)
    H[0, 1] = H[1, 0] = H[1, 2] = H[2, 1] = H[0, 2] = H[2, 0] = 0.1  # a triangle: no forest
    with pytest.raises(ValueError, match="not a forest"):
        tree_solve(sp.csr_matrix(H), rhs, K)


def test_quadratic_l1_solver_meets_optimality():
    rng = np.random.default_rng(5)
    A = rng.standard_normal((30, 20))
    H, c = A.T @ A / 30, rng.standard_normal(20)
    l1, l2 = np.full(20, 0.3), np.full(20, 0.05)
    w = solve_quadratic_l1(H, c, np.zeros(20), l1, l2, K, tol=1e-12)
    g = H @ w - c + l2 * w
    nz = w != 0
    np.testing.assert_allclose(g[nz], -l1[nz] * np.sign(w[nz]), atol=1e-10)
    assert np.all(np.abs(g[~nz]) <= l1[~nz] + 1e-10)


def _small_quadratic(seed=0, n=24):
    """A sparse SPD system on a ring-with-chords graph (so forests are non-trivial)."""
    rng = np.random.default_rng(seed)
    rows = np.arange(n)
    W = sp.coo_matrix((rng.uniform(0.5, 1.5, n), (rows, (rows + 1) % n)), shape=(n, n))
    W = W + sp.coo_matrix((rng.uniform(0.1, 0.5, n // 3), (rows[::3], (rows[::3] + 7) % n)),
                          shape=(n, n))
    W = (W + W.T).tocsr()
    A = sp.diags(np.asarray(W.sum(axis=1)).ravel() * rng.uniform(1.2, 3.0, n)) - W
    return A.tocsr(), rng.standard_normal((n, 2))


def _combos():
    for rule, partition, update in itertools.product(RULES, PARTITIONS, UPDATES):
        if update == "message-passing" and partition not in ("tree", "forest", "red-black"):
            continue
        yield rule, partition, update


def _covering(combos):
    """A subset that uses every rule, every partition and every update (the default run);
    the whole product runs with ``-m slow``."""
    combos = list(combos)
    seen, fast = set(), []
    for c in combos:
        if not {("r", c[0]), ("p", c[1]), ("u", c[2])} <= seen:
            seen |= {("r", c[0]), ("p", c[1]), ("u", c[2])}
            fast.append(c)
    return [c if c in fast else pytest.param(*c, marks=pytest.mark.slow) for c in combos]


@pytest.mark.parametrize("rule, partition, update", _covering(_combos()))
def test_every_combination_converges_on_a_smooth_problem(rule, partition, update):
    A, B = _small_quadratic()
    n, m = B.shape
    pen = Penalty(np.zeros(n), np.zeros(n))
    hist = []
    res = bcd(QuadraticLoss(A, B, K), pen, np.zeros((n, m)), rule=rule, partition=partition,
              update=update, block_size=4, tol=1e-8, iterations=range(20_000),
              record=hist.append, rng=np.random.RandomState(0), kernels=K)
    assert res.converged
    np.testing.assert_allclose(res.W, np.linalg.solve(A.toarray(), B), atol=1e-6)
    assert np.all(np.diff(hist) <= 1e-12 * abs(hist[0]))  # every update is monotone


@pytest.mark.parametrize("rule, partition, update", _covering(
    c for c in _combos() if c[0] != "gsq" and c[2] != "message-passing"))
def test_every_combination_converges_on_a_lasso(rule, partition, update):
    p = make_sparse_regression(30, 16, 4, snr_db=20, random_state=6)
    alpha = 0.1 * np.abs(p.X.T @ p.y).max() / 30
    pen = Penalty(np.full(16, alpha), np.zeros(16))
    loss = SquaredLoss(p.X, p.y, False, K)
    hist = []
    res = bcd(loss, pen, np.zeros((16, 1)), rule=rule, partition=partition, update=update,
              block_size=3, tol=1e-10, iterations=range(20_000), record=hist.append,
              rng=np.random.RandomState(0), kernels=K)
    assert res.converged
    ref = ElasticNet(alpha=alpha, l1_ratio=1.0, fit_intercept=False, tol=1e-14,
                     max_iter=100_000).fit(p.X, p.y)
    np.testing.assert_allclose(res.W[:, 0], ref.coef_, atol=1e-6)
    assert np.all(np.diff(hist) <= 1e-12 * hist[0])
    np.testing.assert_array_equal(res.active_set, np.flatnonzero(res.W[:, 0]))


def test_gsl_needs_no_more_iterations_than_gs_with_unequal_lipschitz():
    """The paper's claim (section 3): GSL ≥ GS progress when the L_i differ."""
    rng = np.random.default_rng(7)
    n_iters = {"gs": [], "gsl": []}
    for _ in range(5):
        X = rng.standard_normal((100, 40)) * np.logspace(-1.5, 1.5, 40)
        y = X @ rng.standard_normal(40)
        for rule in n_iters:
            res = bcd(SquaredLoss(X, y, False, K), Penalty(np.zeros(40), np.full(40, 1e-2)),
                      np.zeros((40, 1)), rule=rule, partition="variable", update="gradient",
                      block_size=1, tol=1e-8, iterations=range(200_000), kernels=K)
            assert res.converged
            n_iters[rule].append(res.n_iter)
    assert all(a <= b for a, b in zip(n_iters["gsl"], n_iters["gs"], strict=True)), n_iters


def test_gsq_variable_blocks_by_iht():
    A, B = _small_quadratic(1)
    n = A.shape[0]
    res = bcd(QuadraticLoss(A, B, K), Penalty(np.zeros(n), np.zeros(n)), np.zeros(B.shape),
              rule="gsq", partition="variable", update="matrix", block_size=5, tol=1e-9,
              iterations=range(5000), kernels=K)
    assert res.converged


def test_active_set_identified_then_newton_on_manifold():
    p = make_sparse_regression(80, 60, 5, correlation=0.3, snr_db=30, random_state=8)
    est = BCDRegressor(alpha=0.05, rule="gs-q", partition="fixed", update="gradient",
                       block_size=5, tol=1e-12, max_iter=50_000).fit(p.X, p.y)
    assert est.converged_
    np.testing.assert_array_equal(est.active_set_, np.flatnonzero(est.coef_))
    assert 0 < est.active_set_iter_ <= est.n_iter_


def test_numpy_backend_agrees_with_numba():
    X, y = _regression("sparse")
    a = BCDRegressor(alpha=0.02, tol=1e-12, backend="numpy").fit(X, y)
    b = BCDRegressor(alpha=0.02, tol=1e-12, backend="numba").fit(X, y)
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-10)


def test_same_random_state_same_result():
    X, y = _regression("correlated")
    kw = dict(alpha=0.05, rule="random", partition="variable", update="gradient", block_size=5,
              max_iter=300, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a, b = BCDRegressor(**kw).fit(X, y), BCDRegressor(**kw).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)


def test_max_iter_is_honoured_and_warns():
    X, y = _regression("correlated")
    est = BCDRegressor(alpha=0.01, rule="cyclic", partition="fixed", update="gradient",
                       max_iter=7, tol=1e-12)
    with pytest.warns(ConvergenceWarning):
        est.fit(X, y)
    assert est.n_iter_ == 7 and len(est.history_) == 7 and not est.converged_


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("params, match", [
    (dict(alpha=-1.0), "alpha"),
    (dict(penalty="elasticnet", l1_ratio=1.5), "l1_ratio"),
    (dict(l1_ratio=-0.1), "l1_ratio"),
    (dict(penalty="l3"), "penalty"),
    (dict(rule="best"), "rule"),
    (dict(partition="none"), "partition"),
    (dict(update="exact"), "update"),
    (dict(block_size=0), "block_size"),
    (dict(rule="gsq"), "smooth penalty"),
    (dict(update="message-passing", partition="tree"), "smooth penalty"),
    (dict(penalty="l2", update="message-passing"), "forest blocks"),
])
def test_regressor_rejects_bad_parameters(params, match):
    X, y = _regression("correlated")
    with pytest.raises(ValueError, match=match):
        BCDRegressor(**params).fit(X, y)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_is_refused(bad):
    X, y = _regression("correlated")
    X2 = X.copy()
    X2[3, 4] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        BCDRegressor().fit(X2, y)
    y2 = y.copy()
    y2[0] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        BCDRegressor().fit(X, y2)
    with pytest.raises(ValueError, match="NaN|infinity"):
        BCDClassifier().fit(X2, y > 0)


def test_classifier_rejects_single_class_and_bad_c():
    X, _ = _regression("correlated")
    with pytest.raises(ValueError, match="at least 2 classes"):
        BCDClassifier().fit(X, np.ones(len(X)))
    with pytest.raises(ValueError, match="C"):
        BCDClassifier(C=0.0).fit(X, np.arange(len(X)) % 2)


def test_label_propagation_rejects_bad_graphs():
    W, y, _ = _graph_problem(30)
    with pytest.raises(ValueError, match="symmetric"):
        BCDLabelPropagation().fit(sp.triu(W).tocsr(), y)
    with pytest.raises(ValueError, match="square"):
        BCDLabelPropagation().fit(W[:, :20], y)
    with pytest.raises(ValueError, match="non-negative"):
        BCDLabelPropagation().fit(-W, y)
    with pytest.raises(ValueError, match="at least one node"):
        BCDLabelPropagation().fit(W, -np.ones(30, dtype=int))
    Wn = W.toarray()
    Wn[0, 1] = Wn[1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN|infinity"):
        BCDLabelPropagation().fit(Wn, y)
