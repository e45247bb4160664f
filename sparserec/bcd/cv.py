"""Cross-validated BCD estimators: drop-ins for LassoCV / ElasticNetCV / LogisticRegressionCV.

Every fold runs a warm-started path (:func:`sparserec.bcd.path.bcd_path`'s machinery for
least squares; ``warm_start`` fits along the ``Cs`` for logistic regression), folds and
``l1_ratio`` values in parallel with joblib (``n_jobs``); the chosen model is refitted on
all the data.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import check_cv
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ..base import COMMON_PARAMETER_CONSTRAINTS, SparseEstimatorMixin, validate_data
from .cd import Problem, check_sample_weight
from .estimators import BCDClassifier, BCDRegressor
from .path import alpha_grid

__all__ = ["BCDRegressorCV", "BCDClassifierCV"]

_COMMON = {k: COMMON_PARAMETER_CONSTRAINTS[k] for k in ("max_iter", "tol", "backend",
                                                          "verbose")}


def _kernels(backend):
    from ..backend import host_backend
    from . import _kernels

    return _kernels.get(host_backend(backend))


def _take(A, rows):
    return A[rows] if A is not None else None


def _fold_mse(X, Y, sw, train, test, ratio, grid, params, backend):
    """Mean squared test error (weighted, averaged over targets) along the path."""
    sw_train = check_sample_weight(_take(sw, train), X[train]) if sw is not None else None
    prob = Problem(X[train], Y[train], sw_train, params["fit_intercept"], _kernels(backend))
    prob.design.precompute_gram()
    W = None
    mse = np.empty(grid.size)
    Xt, Yt = X[test], Y[test]
    wt = None if sw is None else sw[test]
    res = None
    for i, alpha in enumerate(grid):
        W, res = prob.fit(float(alpha), ratio, W, group=params["multi_task"],
                          positive=params["positive"], tol=params["tol"],
                          max_iter=params["max_iter"], previous=res)
        coef = prob.coef(W)
        pred = np.asarray(Xt @ coef.T) + prob.intercept(coef)
        err = ((Yt - pred) ** 2).mean(axis=1)
        mse[i] = np.average(err, weights=wt) if wt is not None and wt.sum() > 0 else err.mean()
    return mse


class BCDRegressorCV(SparseEstimatorMixin, RegressorMixin, BaseEstimator):
    """Elastic net / Lasso with the regularisation chosen by cross-validation.

    A drop-in for :class:`sklearn.linear_model.LassoCV` (``l1_ratio=1``) and
    :class:`~sklearn.linear_model.ElasticNetCV` (``l1_ratio`` a float or a list): same
    grid (``alphas`` values from ``alpha_max`` down to ``eps · alpha_max``, computed on all
    the data), same folds (``cv``), same attributes. Each fold solves the path by
    working-set coordinate descent with warm starts (:mod:`sparserec.bcd.cd`).

    Parameters
    ----------
    l1_ratio : float or list of float, default=1.0
        ``ρ`` of :class:`~sparserec.BCDRegressor` (1: Lasso); a list is searched too.
    eps : float, default=1e-3
        Length of the automatic grid, ``alpha_min / alpha_max``.
    alphas : int or array-like, default=100
        Number of grid values, or the values.
    fit_intercept : bool, default=True
    positive : bool, default=False
    multi_task : bool, default=False
        Row-group penalty for a 2-D ``y`` (MultiTaskElasticNetCV).
    cv : int, cross-validation generator or iterable, default=None
        As scikit-learn (``None``: 5-fold).
    n_jobs : int, default=None
        Folds (× ``l1_ratio`` values) run in parallel by joblib.
    max_iter : int, default=1000
        Coordinate-descent epochs per ``alpha``.
    tol : float, default=1e-4
        Duality-gap tolerance, scikit-learn's scaling.
    backend : {"auto", "numpy", "numba"}, default="auto"
    verbose : int, default=0

    Attributes
    ----------
    alpha_, l1_ratio_ : float
        The chosen regularisation.
    coef_, intercept_, dual_gap_, n_iter_, converged_ :
        Of the model refitted on all the data at ``alpha_``.
    alphas_ : ndarray of shape (n_alphas,) or (n_l1_ratio, n_alphas)
    mse_path_ : ndarray of shape (n_alphas, n_folds) or (n_l1_ratio, n_alphas, n_folds)
        Test mean squared error of every fold along the grid.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sparserec import BCDRegressorCV
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = BCDRegressorCV(cv=5).fit(X, y)
    >>> reg.mse_path_.shape, bool(reg.alphas_[0] > reg.alpha_ > reg.alphas_[-1])
    ((100, 5), True)
    """

    _parameter_constraints = {
        "l1_ratio": [Interval(numbers.Real, 0, 1, closed="both"), "array-like"],
        "eps": [Interval(numbers.Real, 0, None, closed="neither")],
        "alphas": [Interval(numbers.Integral, 1, None, closed="left"), "array-like"],
        "fit_intercept": ["boolean"],
        "positive": ["boolean"],
        "multi_task": ["boolean"],
        "cv": ["cv_object"],
        "n_jobs": [numbers.Integral, None],
        **_COMMON,
    }

    def __init__(self, *, l1_ratio=1.0, eps=1e-3, alphas=100, fit_intercept=True,
                 positive=False, multi_task=False, cv=None, n_jobs=None, max_iter=1000,
                 tol=1e-4, backend="auto", verbose=0):
        self.l1_ratio = l1_ratio
        self.eps = eps
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.positive = positive
        self.multi_task = multi_task
        self.cv = cv
        self.n_jobs = n_jobs
        self.max_iter = max_iter
        self.tol = tol
        self.backend = backend
        self.verbose = verbose

    def fit(self, X, y, sample_weight=None):
        """Cross-validate on ``X`` (dense or sparse), ``y`` (1-D or 2-D) and weights."""
        X, y = validate_data(self, X, y, accept_sparse=("csr", "csc"), y_numeric=True,
                             multi_output=True, dtype=[np.float64, np.float32])
        self._check_common_params(X, y)
        ratios = np.atleast_1d(np.asarray(self.l1_ratio, dtype=float)).ravel()
        if ratios.size == 0 or np.any(~np.isfinite(ratios)) or ratios.min() < 0 \
                or ratios.max() > 1:
            raise ValueError(f"l1_ratio must lie in [0, 1], got {self.l1_ratio!r}")
        n = X.shape[0]
        if self.multi_task and y.ndim == 1:
            raise ValueError("multi_task=True needs a 2-D y (n_samples, n_targets)")
        sw = check_sample_weight(sample_weight, X)
        Y = y.reshape(n, -1).astype(float)
        Xrows = X.tocsr() if hasattr(X, "tocsr") else X  # row slicing of the folds
        if isinstance(self.alphas, numbers.Integral) and not isinstance(self.alphas, bool):
            full = Problem(X, Y, sw, self.fit_intercept, _kernels(self.backend_))
            grids = np.array([alpha_grid(full, r, self.eps, int(self.alphas),
                                         bool(self.multi_task)) for r in ratios])
        else:
            grid = np.sort(np.asarray(self.alphas, dtype=float).ravel())[::-1]
            if grid.size == 0 or not np.all(np.isfinite(grid)) or grid.min() < 0:
                raise ValueError("alphas must be finite, non-negative and not empty")
            grids = np.tile(grid, (ratios.size, 1))
        folds = list(check_cv(self.cv).split(X, y))
        params = dict(fit_intercept=self.fit_intercept, multi_task=bool(self.multi_task),
                      positive=bool(self.positive), tol=float(self.tol),
                      max_iter=int(self.max_iter))
        jobs = [(k, f) for k in range(ratios.size) for f in range(len(folds))]
        mses = Parallel(n_jobs=self.n_jobs, verbose=self.verbose)(
            delayed(_fold_mse)(Xrows, Y, sw, folds[f][0], folds[f][1], float(ratios[k]),
                               grids[k], params, self.backend_)
            for k, f in jobs)
        mse = np.empty((ratios.size, grids.shape[1], len(folds)))
        for (k, f), m in zip(jobs, mses, strict=True):
            mse[k, :, f] = m
        mean = mse.mean(axis=2)
        k, i = np.unravel_index(np.argmin(mean), mean.shape)
        self.l1_ratio_ = float(ratios[k])
        self.alpha_ = float(grids[k, i])
        one = np.ndim(self.l1_ratio) == 0
        self.alphas_ = grids[0] if one else grids
        self.mse_path_ = mse[0] if one else mse
        final = BCDRegressor(penalty="elasticnet", alpha=self.alpha_, l1_ratio=self.l1_ratio_,
                             positive=self.positive, multi_task=self.multi_task,
                             fit_intercept=self.fit_intercept, max_iter=self.max_iter,
                             tol=self.tol, backend=self.backend, solver="cd")
        final.fit(X, y, sample_weight=sample_weight)
        for name in ("coef_", "intercept_", "dual_gap_", "n_iter_", "converged_", "history_",
                     "active_set_"):
            setattr(self, name, getattr(final, name))
        return self

    def predict(self, X):
        """Linear prediction of the refitted model."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, accept_sparse=("csr", "csc", "coo"),
                          dtype=[np.float64, np.float32])
        return np.asarray(X @ self.coef_.T) + self.intercept_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        return tags


def _fold_scores(X, y, train, test, Cs, params):
    """Accuracy on the test fold along ``Cs`` (increasing: warm starts from strong
    regularisation), and the iterations."""
    est = BCDClassifier(warm_start=True, **params)
    scores = np.empty(len(Cs))
    for i, C in enumerate(Cs):
        est.set_params(C=float(C))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X[train], y[train])
        if est.classes_.size != np.unique(y).size:
            raise ValueError("a training fold lacks a class; use stratified folds (cv=int "
                             "with a classifier gives StratifiedKFold)")
        scores[i] = est.score(X[test], y[test])
    return scores


class BCDClassifierCV(SparseEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Logistic regression with ``C`` chosen by cross-validation (LogisticRegressionCV).

    For every fold, :class:`~sparserec.BCDClassifier` is fitted along ``Cs`` in increasing
    order, each fit starting from the previous one (``warm_start``); the ``C`` with the
    best mean accuracy is refitted on all the data. Folds run in parallel (``n_jobs``).

    Parameters
    ----------
    Cs : int or array-like, default=10
        Number of values on ``logspace(-4, 4)`` (scikit-learn's grid) or the values.
    penalty : {"l2", "l1", "elasticnet"}, default="l2"
    l1_ratio : float in [0, 1], default=0.5
        For ``penalty="elasticnet"``.
    fit_intercept : bool, default=True
    cv : int, cross-validation generator or iterable, default=None
        ``None``/int: stratified folds (5 by default).
    n_jobs : int, default=None
    max_iter : int, default=1000
    tol : float, default=1e-4
    backend : {"auto", "numpy", "numba"}, default="auto"
    verbose : int, default=0

    Attributes
    ----------
    Cs_ : ndarray of shape (n_Cs,)
    C_ : ndarray of shape (1,) or (n_classes,)
        The chosen ``C`` (one value, repeated per class for a multinomial model).
    scores_ : dict
        Class label → accuracy of every fold and ``C``, shape (n_folds, n_Cs).
    classes_, coef_, intercept_, n_iter_, converged_ :
        Of the refitted model.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sparserec import BCDClassifierCV
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = BCDClassifierCV(Cs=5, penalty="l1").fit(StandardScaler().fit_transform(X), y)
    >>> clf.scores_[1].shape, clf.C_.shape
    ((5, 5), (1,))
    """

    _parameter_constraints = {
        "Cs": [Interval(numbers.Integral, 1, None, closed="left"), "array-like"],
        "penalty": [StrOptions({"l1", "l2", "elasticnet"})],
        "l1_ratio": [Interval(numbers.Real, 0, 1, closed="both")],
        "fit_intercept": ["boolean"],
        "cv": ["cv_object"],
        "n_jobs": [numbers.Integral, None],
        **_COMMON,
    }

    def __init__(self, *, Cs=10, penalty="l2", l1_ratio=0.5, fit_intercept=True, cv=None,
                 n_jobs=None, max_iter=1000, tol=1e-4, backend="auto", verbose=0):
        self.Cs = Cs
        self.penalty = penalty
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.cv = cv
        self.n_jobs = n_jobs
        self.max_iter = max_iter
        self.tol = tol
        self.backend = backend
        self.verbose = verbose

    def fit(self, X, y):
        """Cross-validate on ``X`` (dense or sparse) and class labels ``y``."""
        X, y = validate_data(self, X, y, accept_sparse=("csr", "csc"),
                             dtype=[np.float64, np.float32])
        try:
            check_classification_targets(y)
        except ValueError as exc:
            raise ValueError(f"y: {exc}") from exc
        self._check_common_params(X)
        if isinstance(self.Cs, numbers.Integral) and not isinstance(self.Cs, bool):
            Cs = np.logspace(-4, 4, int(self.Cs))
        else:
            Cs = np.sort(np.asarray(self.Cs, dtype=float).ravel())
            if Cs.size == 0 or not np.all(np.isfinite(Cs)) or Cs.min() <= 0:
                raise ValueError("Cs must be positive, finite and not empty")
        classes = np.unique(y)
        if classes.size < 2:
            raise ValueError("y must contain samples of at least 2 classes; got only one "
                             f"class ({classes[0]!r})")
        folds = list(check_cv(self.cv, y, classifier=True).split(X, y))
        params = dict(penalty=self.penalty, l1_ratio=self.l1_ratio,
                      fit_intercept=self.fit_intercept, max_iter=self.max_iter, tol=self.tol,
                      backend=self.backend)
        Xrows = X.tocsr() if hasattr(X, "tocsr") else X
        scores = np.array(Parallel(n_jobs=self.n_jobs, verbose=self.verbose)(
            delayed(_fold_scores)(Xrows, y, train, test, Cs, params) for train, test in folds))
        best = int(np.argmax(scores.mean(axis=0)))
        self.Cs_ = Cs
        final = BCDClassifier(C=float(Cs[best]), **params).fit(X, y)
        for name in ("classes_", "coef_", "intercept_", "dual_gap_", "n_iter_", "converged_",
                     "history_", "active_set_"):
            setattr(self, name, getattr(final, name))
        n_c = 1 if classes.size == 2 else classes.size
        self.C_ = np.full(n_c, Cs[best])
        self.scores_ = {c: scores for c in (classes[1:] if classes.size == 2 else classes)}
        self._final = final
        return self

    def decision_function(self, X):
        """Class scores of the refitted model."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, accept_sparse=("csr", "csc", "coo"),
                          dtype=[np.float64, np.float32])
        return self._final.decision_function(X)

    def predict(self, X):
        """Class labels of the refitted model."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, accept_sparse=("csr", "csc", "coo"),
                          dtype=[np.float64, np.float32])
        return self._final.predict(X)

    def predict_proba(self, X):
        """Class probabilities of the refitted model."""
        check_is_fitted(self)
        return self._final.predict_proba(X)

    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
