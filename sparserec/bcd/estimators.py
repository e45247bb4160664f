"""Estimators built on greedy block coordinate descent (:func:`sparserec.bcd.solver.bcd`).

Each estimator exposes the three building blocks of Nutini, Laradji & Schmidt (arXiv
1712.08859) as parameters: ``rule`` (:data:`~sparserec.bcd.rules.RULES`), ``partition``
(:data:`~sparserec.bcd.blocks.PARTITIONS`) and ``update``
(:data:`~sparserec.bcd.updates.UPDATES`).
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state, check_scalar
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ..backend import array_namespace, get_namespace, is_cupy_array, to_host
from ..base import (
    SparseEstimatorMixin,
    check_option,
    external_stacklevel,
    validate_data,
    validate_xy,
)
from .blocks import PARTITIONS
from .rules import RULES
from .updates import UPDATES

__all__ = ["BCDRegressor", "BCDClassifier", "BCDLabelPropagation"]

_PENALTIES = ("l1", "l2", "elasticnet", None)


def _check_y(check, y, **kwargs):
    """``check(y, **kwargs)`` (a scikit-learn check of ``y``), with errors that name ``y``."""
    try:
        return check(y, **kwargs)
    except ValueError as exc:
        raise ValueError(f"y: {exc}") from exc


def _check_blocks(est):
    check_option(est.rule, "rule", tuple(RULES))
    check_option(est.partition, "partition", tuple(PARTITIONS))
    check_option(est.update, "update", tuple(UPDATES))
    if est.block_size is not None:
        check_scalar(est.block_size, "block_size", numbers.Integral, min_val=1)


def _penalty_ratio(est):
    if est.penalty not in _PENALTIES:
        raise ValueError(f"penalty must be one of {_PENALTIES}, got {est.penalty!r}")
    check_scalar(est.l1_ratio, "l1_ratio", numbers.Real, min_val=0.0, max_val=1.0)
    return {"l1": 1.0, "l2": 0.0, "elasticnet": float(est.l1_ratio), None: None}[est.penalty]


def _kernels(backend):
    from ..backend import host_backend
    from . import _kernels

    # rules and block updates run on the host also for "cupy" (see bcd.device)
    return _kernels.get(host_backend(backend))


def _solve(est, loss, penalty, W0, always_rows=()):
    from .solver import bcd

    return bcd(loss, penalty, W0, rule=est.rule, partition=est.partition, update=est.update,
               block_size=est.block_size, tol=est.tol, iterations=est._iterations(),
               record=est._record, rng=check_random_state(est.random_state),
               kernels=_kernels(est.backend_), always_rows=always_rows)


def _set_result(est, res):
    est.active_set_ = res.active_set
    est.active_set_iter_ = res.active_set_iter
    est._set_convergence(res.n_iter, res.converged)


_BLOCK_DOC = """\
    rule : str, default={rule!r}
        Block selection rule: ``"cyclic"``, ``"random"``, ``"lipschitz"`` (sampling ∝ L_b),
        ``"gs"`` (Gauss–Southwell), ``"gsl"`` (GS–Lipschitz), ``"gsd"`` (GS–Diagonal),
        ``"gsq"`` (GS–Quadratic, smooth penalties only) or ``"gs-q"`` (proximal GS).
        With an L1 penalty the greedy rules score the minimum-norm subgradient.
    partition : str, default={partition!r}
        ``"fixed"``, ``"sorted"`` (by Lipschitz constant), ``"avg"`` (mixing large and small
        constants), ``"red-black"`` (graph colouring), ``"forest"`` (forests covering the
        dependency graph), ``"variable"`` (the ``block_size`` best coordinates, chosen anew
        each iteration) or ``"tree"`` (a forest of the dependency graph grown greedily in
        the rule's order, anew each iteration).
    update : str, default={update!r}
        ``"gradient"`` (step ``1/L_b``), ``"backtracking"`` (``L_b`` by doubling),
        ``"matrix"`` (block Hessian upper bound), ``"newton"`` (block Hessian + line search)
        or ``"message-passing"`` (Newton on forest blocks in linear time; smooth penalties).
    block_size : int, default=None
        Coordinates per block. ``None``: 10 for fixed partitions; for ``"variable"`` with an
        L1 penalty a working set of ``max(10, 2 × non-zeros)`` that always holds the
        non-zeros; 256 for smooth ``"variable"``; no cap for ``"tree"``."""


class BCDRegressor(SparseEstimatorMixin, RegressorMixin, BaseEstimator):
    __doc__ = f"""L1 / L2 / elastic-net least squares by greedy block coordinate descent.

    Minimises, exactly as :class:`sklearn.linear_model.ElasticNet` (and ``Lasso`` for
    ``penalty="l1"``)::

        (1 / (2 n)) ‖y − X w − b‖² + α ρ ‖w‖₁ + ½ α (1 − ρ) ‖w‖²

    with ``ρ = 1`` for ``"l1"``, ``0`` for ``"l2"``, ``l1_ratio`` for ``"elasticnet"``.
    The default (GSL rule on variable blocks, Newton updates) selects each iteration the
    coordinates with the largest subgradient-to-√L ratio, always keeping the current
    non-zeros, and solves the block exactly: coordinate descent on the block's Gram
    matrix until the signs settle, then a Newton (linear) solve on the active set.

    Parameters
    ----------
    loss : {{"squared_error"}}, default="squared_error"
    penalty : {{"l1", "l2", "elasticnet", None}}, default="l1"
    alpha : float, default=1.0
        Regularisation strength ``α ≥ 0``.
    l1_ratio : float in [0, 1], default=0.5
        ``ρ`` for ``penalty="elasticnet"``.
{_BLOCK_DOC.format(rule="gsl", partition="variable", update="newton")}
    fit_intercept : bool, default=True
        Fit ``b`` (unpenalised) by centring ``X`` and ``y``; sparse ``X`` is never densified.
    max_iter : int, default=1000
        Maximum number of block updates.
    tol : float, default=1e-4
        Stop when the duality gap is ``≤ tol · ‖y − ȳ‖² / n`` — scikit-learn's definition
        and scaling (``sklearn.linear_model.Lasso``). Without a penalty there is no gap: the
        largest gradient entry must fall below ``tol`` times its starting value.
    backend : {{"auto", "numpy", "numba", "cupy"}}, default="auto"
        ``"numba"`` compiles the coordinate loops; ``"numpy"`` runs them interpreted (slow).
        ``"cupy"`` (dense ``X``): the centred ``X`` and the residual live on the GPU, which
        computes the full gradient and the residual updates; rules and block updates stay
        on the host (:mod:`sparserec.bcd.device` says when this pays). CuPy ``X`` gives a
        CuPy ``coef_``.
    random_state : int, RandomState or None, default=None
        For the random rules.
    verbose : int, default=0
        Progress bar over the block updates.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    dual_gap_ : float
        Final duality gap (objective units), or the gradient norm without a penalty.
    active_set_ : ndarray of int
        Indices of the non-zero coefficients.
    active_set_iter_ : int
        The block update after which the active set no longer changed.
    n_iter_, converged_, history_ :
        Block updates done, whether ``tol`` was met, objective after each update.

    References
    ----------
    J. Nutini, I. Laradji, M. Schmidt, "Let's Make Block Coordinate Descent Converge
    Faster: Faster Greedy Rules, Message-Passing, Active-Set Complexity, and Superlinear
    Convergence", JMLR 23(131), 2022. arXiv:1712.08859.

    Notes
    -----
    Deviations from the paper: with an L1 penalty, variable blocks always contain the
    current non-zeros and grow with them (as the working sets of skglm/celer) — the paper
    uses a fixed ``τ``; the block L1 subproblem is solved by coordinate descent on the
    block Gram matrix followed by an active-set Newton solve rather than by a generic QP
    solver.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec import BCDRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 200)); w = np.zeros(200); w[:3] = [2.0, -3.0, 1.5]
    >>> y = X @ w + 0.01 * rng.standard_normal(50)
    >>> reg = BCDRegressor(alpha=0.05).fit(X, y)
    >>> reg.active_set_.tolist()
    [0, 1, 2]
    """

    def __init__(self, loss="squared_error", penalty="l1", alpha=1.0, l1_ratio=0.5, *,
                 rule="gsl", partition="variable", update="newton", block_size=None,
                 fit_intercept=True, max_iter=1000, tol=1e-4, backend="auto",
                 random_state=None, verbose=0):
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.rule = rule
        self.partition = partition
        self.update = update
        self.block_size = block_size
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y):
        """Fit on ``X`` (dense or scipy.sparse, n_samples × n_features) and targets ``y``."""
        from .losses import Penalty, SquaredLoss

        on_gpu = is_cupy_array(X) or is_cupy_array(y)
        if on_gpu:
            X, y = validate_xy(self, X, y)
        else:
            X, y = validate_data(self, X, y, accept_sparse=("csr", "csc", "coo"),
                                 y_numeric=True, dtype=[np.float64, np.float32])
        check_option(self.loss, "loss", ("squared_error",))
        ratio = _penalty_ratio(self)
        check_scalar(self.alpha, "alpha", numbers.Real, min_val=0.0)
        _check_blocks(self)
        self._check_common_params(X, y)
        p = X.shape[1]
        alpha = 0.0 if ratio is None else float(self.alpha)
        ratio = 0.0 if ratio is None else ratio
        penalty = Penalty(np.full(p, alpha * ratio), np.full(p, alpha * (1 - ratio)))
        if self.backend_ == "cupy":
            if sp.issparse(X):
                raise TypeError("backend='cupy' needs a dense X (the GPU path keeps the "
                                "centred X on the device); got a sparse matrix")
            from .device import DeviceSquaredLoss

            loss = DeviceSquaredLoss(X, y, self.fit_intercept, _kernels(self.backend_),
                                     get_namespace("cupy"))
        else:
            loss = SquaredLoss(X, y, self.fit_intercept, _kernels(self.backend_))
        res = _solve(self, loss, penalty, np.zeros((p, 1)))
        self.coef_ = res.W[:, 0].copy()
        if self.fit_intercept:
            x_mean = to_host(X.mean(axis=0)).ravel() if on_gpu else \
                np.asarray(X.mean(axis=0)).ravel()
            self.intercept_ = float(loss.y_mean - x_mean @ self.coef_)
        else:
            self.intercept_ = 0.0
        if on_gpu:  # GPU input: coef_ on the GPU
            self.coef_ = get_namespace("cupy").asarray(self.coef_)
        self.dual_gap_ = res.gap
        _set_result(self, res)
        return self

    def predict(self, X):
        """Linear prediction ``X @ coef_ + intercept_``."""
        check_is_fitted(self)
        if is_cupy_array(X):
            X = validate_xy(self, X, reset=False)
            return X @ array_namespace(X).asarray(self.coef_) + self.intercept_
        X = validate_data(self, X, reset=False, accept_sparse=("csr", "csc", "coo"),
                          dtype=[np.float64, np.float32])
        return np.asarray(X @ to_host(self.coef_)).ravel() + self.intercept_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class BCDClassifier(SparseEstimatorMixin, LinearClassifierMixin, BaseEstimator):
    __doc__ = f"""Binary and multinomial logistic regression by greedy block coordinate descent.

    Minimises the objective of :class:`sklearn.linear_model.LogisticRegression` (version
    1.9)::

        C Σ_i ℓ(y_i, x_iᵀW + b) + ρ ‖W‖₁ + ½ (1 − ρ) ‖W‖²

    with the binary logistic loss (one coefficient vector) for two classes and the
    multinomial loss (one vector per class) for more; the intercept is unpenalised.
    Internally the objective is divided by ``C n`` (a mean loss plus ``1/(C n)`` times the
    penalty); ``history_`` is in those units.

    Parameters
    ----------
    loss : {{"log_loss"}}, default="log_loss"
    penalty : {{"l2", "l1", "elasticnet", None}}, default="l2"
    C : float, default=1.0
        Inverse regularisation strength (> 0).
    l1_ratio : float in [0, 1], default=0.5
        ``ρ`` for ``penalty="elasticnet"``.
{_BLOCK_DOC.format(rule="gsl", partition="variable", update="newton")}
    fit_intercept : bool, default=True
        The intercept is a coordinate of every block (not of forest blocks).
    max_iter : int, default=1000
        Maximum number of block updates.
    tol : float, default=1e-4
        Stop when the Fenchel duality gap (mean-loss units) is ``≤ tol · log K`` (the loss
        of the zero model, ``K`` classes); without a penalty, when the largest gradient
        entry is below ``tol`` times its starting value.
    backend : {{"auto", "numpy", "numba"}}, default="auto"
    random_state : int, RandomState or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
    intercept_ : ndarray of shape (1,) or (n_classes,)
    dual_gap_ : float
    active_set_ : ndarray of int
        Features with a non-zero coefficient (for any class).
    active_set_iter_ : int
    n_iter_, converged_, history_ :

    References
    ----------
    J. Nutini, I. Laradji, M. Schmidt, "Let's Make Block Coordinate Descent Converge
    Faster", JMLR 23(131), 2022. arXiv:1712.08859.

    Notes
    -----
    A coordinate of the multinomial problem is a feature's row of class coefficients
    (the paper updates (feature, class) pairs). The duality gap uses ``θ = y − p̂``, centred
    when an intercept is fitted and rescaled for dual feasibility with a pure L1 penalty.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sparserec import BCDClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = BCDClassifier(C=1.0).fit(X, y)
    >>> clf.coef_.shape, round(clf.score(X, y), 2)
    ((3, 4), 0.97)
    """

    def __init__(self, loss="log_loss", penalty="l2", C=1.0, l1_ratio=0.5, *, rule="gsl",
                 partition="variable", update="newton", block_size=None, fit_intercept=True,
                 max_iter=1000, tol=1e-4, backend="auto", random_state=None, verbose=0):
        self.loss = loss
        self.penalty = penalty
        self.C = C
        self.l1_ratio = l1_ratio
        self.rule = rule
        self.partition = partition
        self.update = update
        self.block_size = block_size
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y):
        """Fit on ``X`` (dense or scipy.sparse) and class labels ``y``."""
        from .losses import LogisticLoss, MultinomialLoss, Penalty

        X, y = validate_data(self, X, y, accept_sparse=("csr", "csc", "coo"),
                             dtype=[np.float64, np.float32])
        _check_y(check_classification_targets, y)
        check_option(self.loss, "loss", ("log_loss",))
        ratio = _penalty_ratio(self)
        check_scalar(self.C, "C", numbers.Real, min_val=0.0, include_boundaries="neither")
        _check_blocks(self)
        self._check_common_params(X)
        enc = LabelEncoder().fit(y)
        self.classes_ = enc.classes_
        if self.classes_.size < 2:
            raise ValueError("y must contain samples of at least 2 classes; got only one class "
                             f"({self.classes_[0]!r})")
        codes = enc.transform(y)
        n, p = X.shape
        kern = _kernels(self.backend_)
        if self.classes_.size == 2:
            loss = LogisticLoss(X, codes.astype(float), self.fit_intercept, kern)
        else:
            loss = MultinomialLoss(X, np.eye(self.classes_.size)[codes], self.fit_intercept, kern)
        lam = 0.0 if ratio is None else 1.0 / (float(self.C) * n)
        ratio = 0.0 if ratio is None else ratio
        weights = np.append(np.ones(p), [0.0] * int(self.fit_intercept))
        penalty = Penalty(weights * lam * ratio, weights * lam * (1 - ratio))
        always = [p] if self.fit_intercept else []
        res = _solve(self, loss, penalty, np.zeros((loss.n_coef, loss.n_cols)), always)
        W = res.W
        self.coef_ = W[:p].T.copy()
        self.intercept_ = W[p].copy() if self.fit_intercept else np.zeros(loss.n_cols)
        self.dual_gap_ = res.gap
        _set_result(self, res)
        self.active_set_ = self.active_set_[self.active_set_ < p]
        return self

    def decision_function(self, X):
        """Class scores ``X @ coef_.T + intercept_`` (one column for two classes)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, accept_sparse=("csr", "csc", "coo"),
                          dtype=[np.float64, np.float32])
        return super().decision_function(X)

    def predict_proba(self, X):
        """Class probabilities (sigmoid for two classes, softmax for more)."""
        from scipy.special import expit, softmax

        scores = self.decision_function(X)
        if self.classes_.size == 2:
            p1 = expit(scores)
            return np.column_stack([1 - p1, p1])
        return softmax(scores, axis=1)

    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class BCDLabelPropagation(SparseEstimatorMixin, ClassifierMixin, BaseEstimator):
    __doc__ = f"""Graph label propagation (harmonic functions) by block coordinate descent.

    With a symmetric affinity ``W`` and labelled nodes clamped to their one-hot labels, the
    label distributions ``F`` minimise ``Σ_ij w_ij ‖F_i − F_j‖²``, i.e. solve
    ``L_uu F_u = W_ul Y_l`` (``L = D − W`` the graph Laplacian; Zhu, Ghahramani & Lafferty
    2003). The system is solved by BCD: by default the graph is split once into forests,
    the GSL rule picks one each iteration, and message passing solves it exactly in
    linear time (its elimination is computed once per forest).

    Parameters
    ----------
    affinity : {{"precomputed", "knn"}}, default="precomputed"
        ``fit(W, y)`` with a square symmetric non-negative affinity ``W`` (dense or sparse),
        or ``fit(X, y)`` with features from which a symmetric k-nearest-neighbour
        connectivity graph is built.
    n_neighbors : int, default=7
        Neighbours for ``affinity="knn"``.
{_BLOCK_DOC.format(rule="gsl", partition="forest", update="message-passing")}
    max_iter : int, default=1000
        Maximum number of block updates.
    tol : float, default=1e-6
        Stop when the residual ``‖L_uu F_u − W_ul Y_l‖_F ≤ tol ‖W_ul Y_l‖_F``.
    backend : {{"auto", "numpy", "numba", "cupy"}}, default="auto"
        ``"cupy"``: the gradient ``L_uu F_u − W_ul Y_l`` is kept and updated on the GPU
        (cupyx sparse products); the forests and message passing run on the host.
    random_state : int, RandomState or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    label_distributions_ : ndarray of shape (n_nodes, n_classes)
        Rows sum to one; labelled nodes keep their labels.
    transduction_ : ndarray of shape (n_nodes,)
        The label given to every node.
    n_iter_, converged_, history_ :

    References
    ----------
    J. Nutini, I. Laradji, M. Schmidt, "Let's Make Block Coordinate Descent Converge
    Faster", JMLR 23(131), 2022. arXiv:1712.08859 (label propagation, section 5).
    X. Zhu, Z. Ghahramani, J. Lafferty, "Semi-supervised learning using Gaussian fields
    and harmonic functions", ICML 2003.

    Notes
    -----
    Unlabelled nodes in a connected component without any labelled node have no harmonic
    solution (``L_uu`` is singular there): they get the uniform distribution and a
    :class:`UserWarning` is issued. The paper treats one class at a time; here a
    coordinate is a node with its row of class scores, so all classes share each block.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from sparserec import BCDLabelPropagation
    >>> path = sp.diags([np.ones(5), np.ones(5)], [1, -1], shape=(6, 6))  # 0 - 1 - ... - 5
    >>> y = np.array([0, -1, -1, -1, -1, 1])
    >>> lp = BCDLabelPropagation().fit(path, y)
    >>> np.round(lp.label_distributions_[:, 1], 2).tolist()
    [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    """

    def __init__(self, affinity="precomputed", n_neighbors=7, *, rule="gsl", partition="forest",
                 update="message-passing", block_size=None, max_iter=1000, tol=1e-6,
                 backend="auto", random_state=None, verbose=0):
        self.affinity = affinity
        self.n_neighbors = n_neighbors
        self.rule = rule
        self.partition = partition
        self.update = update
        self.block_size = block_size
        self.max_iter = max_iter
        self.tol = tol
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose

    def _affinity(self, X, reset):
        if self.affinity == "precomputed":
            if reset:
                W = validate_data(self, X, accept_sparse=("csr", "csc", "coo"),
                                  dtype=np.float64, reset=True)
                if W.shape[0] != W.shape[1]:
                    raise ValueError(f"W must be a square affinity matrix, got shape {W.shape}")
                W = sp.csr_matrix(W)
                if W.nnz and W.data.min() < 0:
                    raise ValueError("W must be non-negative")
                asym = abs(W - W.T)
                if asym.nnz and asym.max() > 1e-10 * max(abs(W).max(), 1.0):
                    raise ValueError("W must be symmetric")
                return W
            W = validate_data(self, X, accept_sparse=("csr", "csc", "coo"), dtype=np.float64,
                              reset=False)
            return sp.csr_matrix(W)
        from sklearn.neighbors import NearestNeighbors

        X = validate_data(self, X, reset=reset)
        if reset:
            self._nn = NearestNeighbors(n_neighbors=min(self.n_neighbors, X.shape[0] - 1 or 1))
            self._nn.fit(X)
            if X.shape[0] == 1:
                return sp.csr_matrix((1, 1))
            W = self._nn.kneighbors_graph(X, mode="connectivity") - sp.eye(X.shape[0])
            W = W.maximum(W.T).tocsr()
            W.eliminate_zeros()
            return W
        return self._nn.kneighbors_graph(X, n_neighbors=min(self.n_neighbors,
                                                            self._nn.n_samples_fit_))

    def fit(self, X, y):
        """Fit on an affinity ``W`` (or features, ``affinity="knn"``) and labels ``y``
        with ``-1`` marking unlabelled nodes."""
        from scipy.sparse.csgraph import connected_components

        from .losses import Penalty, QuadraticLoss

        check_option(self.affinity, "affinity", ("precomputed", "knn"))
        check_scalar(self.n_neighbors, "n_neighbors", numbers.Integral, min_val=1)
        _check_blocks(self)
        if y is None:
            raise ValueError("requires y to be passed, but the target y is None")
        W = self._affinity(X, reset=True)
        y = _check_y(column_or_1d, y, warn=True)
        if y.shape[0] != W.shape[0]:
            raise ValueError(f"y must be 1-D with one label per node ({W.shape[0]}), "
                             f"got shape {y.shape}")
        _check_y(check_classification_targets, y)
        self._check_common_params(W.data)
        labeled = y != -1
        if not labeled.any():
            raise ValueError("y must label at least one node (-1 marks unlabelled nodes)")
        self.classes_, codes = np.unique(y[labeled], return_inverse=True)
        n, K = y.shape[0], self.classes_.size
        F = np.full((n, K), 1.0 / K)
        F[labeled] = np.eye(K)[codes]
        _, comp = connected_components(W, directed=False)
        has_label = np.zeros(comp.max() + 1, dtype=bool)
        has_label[comp[labeled]] = True
        orphan = ~labeled & ~has_label[comp]
        if orphan.any():
            warnings.warn(f"{int(orphan.sum())} unlabelled node(s) lie in connected components "
                          "without any labelled node; they get the uniform distribution",
                          UserWarning, stacklevel=external_stacklevel())
        u = np.flatnonzero(~labeled & ~orphan)
        lab = np.flatnonzero(labeled)
        self.history_ = []
        if u.size:
            deg = np.asarray(W.sum(axis=1)).ravel()
            L = (sp.diags(deg) - W).tocsr()
            A = L[u][:, u]
            B = W[u][:, lab] @ F[lab]
            penalty = Penalty(np.zeros(u.size), np.zeros(u.size))
            if self.backend_ == "cupy":
                from .device import DeviceQuadraticLoss

                loss = DeviceQuadraticLoss(A, B, _kernels(self.backend_), get_namespace("cupy"))
            else:
                loss = QuadraticLoss(A, B, _kernels(self.backend_))
            res = _solve(self, loss, penalty, np.full((u.size, K), 1.0 / K))
            F[u] = res.W
            self._set_convergence(res.n_iter, res.converged)
        else:
            self._set_convergence(0, True)
        F = np.clip(F, 0.0, None)
        sums = F.sum(axis=1, keepdims=True)
        self.label_distributions_ = np.where(sums > 0, F / np.where(sums > 0, sums, 1), 1.0 / K)
        self.transduction_ = self.classes_[np.argmax(self.label_distributions_, axis=1)]
        return self

    def predict_proba(self, X):
        """Class distributions of new nodes from their affinities to the training nodes
        (``(n_new, n_nodes)`` for ``"precomputed"``; features for ``"knn"``)."""
        check_is_fitted(self)
        A = self._affinity(X, reset=False)
        P = np.asarray(A @ self.label_distributions_)
        sums = P.sum(axis=1, keepdims=True)
        K = self.classes_.size
        return np.where(sums > 0, P / np.where(sums > 0, sums, 1), 1.0 / K)

    def predict(self, X):
        """Most probable class of new nodes."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
