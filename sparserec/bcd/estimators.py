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
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ..backend import array_namespace, get_namespace, is_cupy_array, to_host
from ..base import (
    COMMON_PARAMETER_CONSTRAINTS,
    SparseEstimatorMixin,
    external_stacklevel,
    pow2_scale,
    validate_data,
    validate_xy,
)
from .blocks import PARTITIONS
from .cd import Problem, check_sample_weight
from .rules import RULES
from .updates import UPDATES

__all__ = ["BCDRegressor", "BCDClassifier", "BCDLabelPropagation"]

def _check_y(check, y, **kwargs):
    """``check(y, **kwargs)`` (a scikit-learn check of ``y``), with errors that name ``y``."""
    try:
        return check(y, **kwargs)
    except ValueError as exc:
        raise ValueError(f"y: {exc}") from exc


class _Count(Interval):
    """An integer interval that refuses booleans (``True`` is not a count)."""

    def is_satisfied_by(self, val):
        return not isinstance(val, (bool, np.bool_)) and super().is_satisfied_by(val)


_COMMON = ("max_iter", "tol", "backend", "random_state", "verbose")
#: constraints of the block parameters of every BCD estimator (the paper's three blocks)
_BLOCK_CONSTRAINTS = {
    "rule": [StrOptions(set(RULES))],
    "partition": [StrOptions(set(PARTITIONS))],
    "update": [StrOptions(set(UPDATES))],
    "block_size": [_Count(numbers.Integral, 1, None, closed="left"), None],
    **{k: COMMON_PARAMETER_CONSTRAINTS[k] for k in _COMMON},
}
_PENALTY_CONSTRAINTS = {
    "penalty": [StrOptions({"l1", "l2", "elasticnet"}), None],
    "l1_ratio": [Interval(numbers.Real, 0, 1, closed="both")],
    "fit_intercept": ["boolean"],
}


def _penalty_ratio(est):
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
    __doc__ = f"""L1 / L2 / elastic-net least squares by greedy (block) coordinate descent.

    Minimises, exactly as :class:`sklearn.linear_model.ElasticNet` (and ``Lasso`` for
    ``penalty="l1"``, ``MultiTaskElasticNet`` with ``multi_task=True``)::

        (1 / (2 n)) Σ_i s_i (y_i − x_iᵀ w − b)² + α ρ ‖w‖₁ + ½ α (1 − ρ) ‖w‖²

    with ``ρ = 1`` for ``"l1"``, ``0`` for ``"l2"``, ``l1_ratio`` for ``"elasticnet"`` and
    ``s`` the sample weights rescaled to sum to ``n`` (scikit-learn's convention).

    ``solver="cd"`` (:mod:`sparserec.bcd.cd`): the GSL rule of the paper picks a working
    set (current non-zeros plus the largest subgradient-to-√L ratios), solved by
    coordinate descent with O(n) / O(nnz of the column) residual updates and Anderson
    extrapolation; the gap-safe rule screens out coordinates. ``solver="bcd"``
    (:func:`sparserec.bcd.solver.bcd`): the paper's framework with any ``rule``,
    ``partition`` and ``update`` (and the GPU backend).

    Parameters
    ----------
    loss : {{"squared_error"}}, default="squared_error"
    penalty : {{"l1", "l2", "elasticnet", None}}, default="l1"
    alpha : float, default=1.0
        Regularisation strength ``α ≥ 0`` (finite).
    l1_ratio : float in [0, 1], default=0.5
        ``ρ`` for ``penalty="elasticnet"``.
    positive : bool, default=False
        Constrain the coefficients to be ``≥ 0`` (``solver="cd"``).
    multi_task : bool, default=False
        For a 2-D ``y``: the row-group penalty ``α ρ Σ_j ‖W_j‖₂`` shared by the targets
        (``MultiTaskLasso`` / ``MultiTaskElasticNet``) instead of independent targets.
    solver : {{"auto", "cd", "bcd"}}, default="auto"
        ``"auto"``: ``"cd"`` unless the backend is ``"cupy"`` or ``rule``/``partition``/
        ``update`` ask for the paper's general framework (a rule other than ``"gs"``/
        ``"gsl"``, a partition other than ``"variable"`` or an update other than
        ``"newton"``).
{_BLOCK_DOC.format(rule="gsl", partition="variable", update="newton")}
    fit_intercept : bool, default=True
        Fit ``b`` (unpenalised) by centring ``X`` and ``y``; sparse ``X`` is never densified.
    warm_start : bool, default=False
        Start from the previous ``coef_`` (when its shape fits).
    max_iter : int, default=1000
        ``"cd"``: the most coordinate-descent epochs (passes over the working set, as
        scikit-learn counts); ``"bcd"``: the most block updates.
    tol : float, default=1e-4
        Stop when the duality gap is ``≤ tol · Σ_i s_i (y_i − ȳ)² / n`` — scikit-learn's
        definition and scaling (``sklearn.linear_model.Lasso``). Without a penalty there is
        no gap: the largest gradient entry must fall below ``tol`` times its starting value.
    backend : {{"auto", "numpy", "numba", "cupy"}}, default="auto"
        ``"numba"`` compiles the coordinate loops; ``"numpy"`` runs them interpreted (slow).
        ``"cupy"`` (dense ``X``, ``solver="bcd"``): the centred ``X`` and the residual live
        on the GPU (:mod:`sparserec.bcd.device` says when this pays). CuPy ``X`` gives a
        CuPy ``coef_``.
    random_state : int, RandomState or None, default=None
        For the random rules.
    verbose : int, default=0
        Progress bar over the block updates (``"bcd"``).

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        In the precision of ``X`` (float32 stays float32).
    intercept_ : float or ndarray of shape (n_targets,)
    dual_gap_ : float or ndarray of shape (n_targets,)
        Final duality gap (objective units), or the gradient norm without a penalty.
    active_set_ : ndarray of int
        Indices of the non-zero coefficients (for any target).
    active_set_iter_ : int
        ``"bcd"``: the block update after which the active set no longer changed;
        ``"cd"``: the number of working-set solves.
    solver_ : str
        The solver used.
    n_iter_, converged_, history_ :
        Epochs (``"cd"``) or block updates (``"bcd"``) done, whether ``tol`` was met, the
        objective after each working-set solve (``"cd"``) or block update (``"bcd"``).

    References
    ----------
    J. Nutini, I. Laradji, M. Schmidt, "Let's Make Block Coordinate Descent Converge
    Faster: Faster Greedy Rules, Message-Passing, Active-Set Complexity, and Superlinear
    Convergence", JMLR 23(131), 2022. arXiv:1712.08859.

    Notes
    -----
    The data are divided by powers of two internally (exact), so the fit is equivariant
    to the scale of ``X`` and ``y``. Deviations from the paper: with an L1 penalty,
    variable blocks always contain the current non-zeros and grow with them (as the
    working sets of skglm/celer) — the paper uses a fixed ``τ``; the block L1 subproblem
    of ``"bcd"`` is solved by coordinate descent on the block Gram matrix followed by an
    active-set Newton solve rather than by a generic QP solver.

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

    _parameter_constraints = {
        "loss": [StrOptions({"squared_error"})],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "positive": ["boolean"],
        "multi_task": ["boolean"],
        "solver": [StrOptions({"auto", "cd", "bcd"})],
        "warm_start": ["boolean"],
        **_PENALTY_CONSTRAINTS,
        **_BLOCK_CONSTRAINTS,
    }

    def __init__(self, loss="squared_error", penalty="l1", alpha=1.0, l1_ratio=0.5, *,
                 positive=False, multi_task=False, solver="auto", rule="gsl",
                 partition="variable", update="newton", block_size=None, fit_intercept=True,
                 warm_start=False, max_iter=1000, tol=1e-4, backend="auto",
                 random_state=None, verbose=0):
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.positive = positive
        self.multi_task = multi_task
        self.solver = solver
        self.rule = rule
        self.partition = partition
        self.update = update
        self.block_size = block_size
        self.fit_intercept = fit_intercept
        self.warm_start = warm_start
        self.max_iter = max_iter
        self.tol = tol
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose

    def _resolve_solver(self):
        paper = not (self.rule in ("gs", "gsl") and self.partition == "variable"
                     and self.update == "newton")
        solver = self.solver
        if solver == "auto":
            solver = "bcd" if self.backend_ == "cupy" or paper else "cd"
        if solver == "cd" and paper:
            raise ValueError("solver='cd' selects its working set by rule='gs' or 'gsl' and "
                             "solves it by coordinate descent: it takes partition='variable'"
                             f" and update='newton', got rule={self.rule!r}, partition="
                             f"{self.partition!r}, update={self.update!r}; use "
                             "solver='bcd' for the paper's other blocks")
        if solver == "cd" and self.backend_ == "cupy":
            raise ValueError("backend='cupy' needs solver='bcd' (or 'auto')")
        if solver == "bcd":
            for name in ("positive", "multi_task"):
                if getattr(self, name):
                    raise ValueError(f"{name}=True needs solver='cd' (or 'auto' with the "
                                     "default rule, partition and update)")
        return solver

    def fit(self, X, y, sample_weight=None):
        """Fit on ``X`` (dense or scipy.sparse, n_samples × n_features) and targets ``y``
        (1-D, or 2-D for several targets), with optional non-negative ``sample_weight``."""
        on_gpu = is_cupy_array(X) or is_cupy_array(y)
        if on_gpu:
            X, y = validate_xy(self, X, y)
        else:
            X, y = validate_data(self, X, y, accept_sparse=("csr", "csc", "coo"),
                                 y_numeric=True, multi_output=True,
                                 dtype=[np.float64, np.float32])
        self._check_common_params(X, y)
        self.solver_ = solver = self._resolve_solver()
        n, p = X.shape
        one_target = y.ndim == 1
        if self.multi_task and one_target:
            raise ValueError("multi_task=True needs a 2-D y (n_samples, n_targets), got a "
                             "1-D y")
        if self.multi_task and self.positive:
            raise ValueError("positive=True cannot be combined with multi_task=True (the "
                             "row-group penalty has no sign constraint)")
        sw = check_sample_weight(sample_weight, X)
        if sw is not None and solver == "bcd":
            raise ValueError("sample_weight needs solver='cd' (or 'auto' with the default "
                             "rule, partition and update)")
        ratio = _penalty_ratio(self)
        alpha = 0.0 if ratio is None else float(self.alpha)
        ratio = 0.0 if ratio is None else ratio
        Y = y.reshape(n, -1)
        m = Y.shape[1]
        prev = getattr(self, "coef_", None)
        warm = self.warm_start and prev is not None and np.size(prev) == p * m
        if solver == "cd":
            prob = Problem(X, Y, sw, self.fit_intercept, _kernels(self.backend_))
            W0 = prob.internal(to_host(prev)) if warm else None
            W, results = prob.fit(alpha, ratio, W0, group=bool(self.multi_task),
                                  positive=bool(self.positive), tol=float(self.tol),
                                  max_iter=self.max_iter, rule=self.rule)
            coef = prob.coef(W)
            intercept = prob.intercept(coef)
            gaps = prob.gaps(results, m)
            n_iter = max(r.n_iter for r in results)
            converged = all(r.converged for r in results)
            outer = sum(r.n_outer for r in results)
            for g in gaps:
                self._record(g)
        else:
            coef, intercept, gaps, n_iter, converged, outer = self._fit_bcd(
                X, Y, alpha, ratio, prev if warm else None, on_gpu)
            W = coef.T
        dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
        coef = coef.astype(dtype, copy=False)
        self.coef_ = coef[0] if one_target else coef
        self.intercept_ = float(intercept[0]) if one_target else intercept.astype(dtype)
        if on_gpu:  # GPU input: coef_ on the GPU
            self.coef_ = get_namespace("cupy").asarray(self.coef_)
        self.dual_gap_ = float(gaps[0]) if one_target else np.asarray(gaps)
        self.active_set_ = np.flatnonzero(np.any(W != 0, axis=1))
        self.active_set_iter_ = outer
        self._set_convergence(n_iter, converged)
        return self

    def _fit_bcd(self, X, Y, alpha, ratio, prev, on_gpu):
        from .losses import Penalty, SquaredLoss

        n, p = X.shape
        xp = get_namespace("cupy") if on_gpu else np
        y_mean = Y.mean(axis=0) if self.fit_intercept else xp.zeros(Y.shape[1])
        sx, sy = pow2_scale(X), pow2_scale(Y)  # exact: the fit is scale-equivariant
        Yc = to_host((Y - y_mean) / sy)
        W0 = np.zeros((p, Y.shape[1])) if prev is None else \
            to_host(prev).reshape(-1, p).T * (sx / sy)
        penalty = Penalty(np.full(p, alpha * ratio / (sx * sy)),
                          np.full(p, alpha * (1 - ratio) / sx**2))
        Xs = X / sx if sx != 1.0 else X
        if self.backend_ == "cupy":
            if sp.issparse(X):
                raise TypeError("backend='cupy' needs a dense X (the GPU path keeps the "
                                "centred X on the device); got a sparse matrix")
            from .device import DeviceSquaredLoss

            losses = [DeviceSquaredLoss(Xs, xp.asarray(Yc[:, k]), self.fit_intercept,
                                        _kernels(self.backend_), xp)
                      for k in range(Yc.shape[1])]
        else:
            losses = [SquaredLoss(Xs, Yc[:, k], self.fit_intercept, _kernels(self.backend_))
                      for k in range(Yc.shape[1])]
        results = [_solve(self, loss, penalty, W0[:, [k]]) for k, loss in enumerate(losses)]
        coef = np.hstack([r.W for r in results]).T * (sy / sx)
        x_mean = to_host(X.mean(axis=0)).ravel() if self.fit_intercept else np.zeros(p)
        intercept = to_host(y_mean) - coef @ x_mean
        return (coef, intercept, [r.gap * sy**2 for r in results],
                max(r.n_iter for r in results), all(r.converged for r in results),
                max(r.active_set_iter for r in results))

    def predict(self, X):
        """Linear prediction ``X @ coef_.T + intercept_``."""
        check_is_fitted(self)
        if is_cupy_array(X):
            X = validate_xy(self, X, reset=False)
            return X @ array_namespace(X).asarray(self.coef_).T + self.intercept_
        X = validate_data(self, X, reset=False, accept_sparse=("csr", "csc", "coo"),
                          dtype=[np.float64, np.float32])
        out = np.asarray(X @ to_host(self.coef_).T) + self.intercept_
        return out.astype(X.dtype, copy=False) if X.dtype == np.float32 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        return tags


class BCDClassifier(SparseEstimatorMixin, ClassifierMixin, BaseEstimator):
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
        Inverse regularisation strength (> 0, finite).
    l1_ratio : float in [0, 1], default=0.5
        ``ρ`` for ``penalty="elasticnet"``.
    solver : {{"auto", "cd", "bcd"}}, default="auto"
        ``"cd"`` (two classes with a penalty): proximal Newton whose weighted elastic-net
        subproblems are solved by the working-set coordinate descent of
        :class:`BCDRegressor` (:func:`sparserec.bcd.cd.logistic_prox_newton`).
        ``"bcd"``: the paper's framework with ``rule``/``partition``/``update``.
        ``"auto"``: ``"cd"`` where it applies with the default blocks, else ``"bcd"``.
{_BLOCK_DOC.format(rule="gsl", partition="variable", update="newton")}
    fit_intercept : bool, default=True
        The intercept is a coordinate of every block (not of forest blocks).
    warm_start : bool, default=False
        Start from the previous ``coef_`` and ``intercept_`` (same classes and features).
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
        In the precision of ``X`` (float32 stays float32).
    intercept_ : ndarray of shape (1,) or (n_classes,)
    dual_gap_ : float
    active_set_ : ndarray of int
        Features with a non-zero coefficient (for any class).
    active_set_iter_ : int
    solver_ : str
        The solver used.
    n_iter_, converged_, history_ :
        Proximal Newton steps (``"cd"``) or block updates (``"bcd"``), whether ``tol`` was
        met, the objective after each.

    References
    ----------
    J. Nutini, I. Laradji, M. Schmidt, "Let's Make Block Coordinate Descent Converge
    Faster", JMLR 23(131), 2022. arXiv:1712.08859.
    J. D. Lee, Y. Sun, M. A. Saunders, "Proximal Newton-type methods for minimizing
    composite functions", SIAM J. Optim. 24(3), 2014.

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

    _parameter_constraints = {
        "loss": [StrOptions({"log_loss"})],
        "C": [Interval(numbers.Real, 0, None, closed="neither")],
        "solver": [StrOptions({"auto", "cd", "bcd"})],
        "warm_start": ["boolean"],
        **_PENALTY_CONSTRAINTS,
        **_BLOCK_CONSTRAINTS,
    }

    def __init__(self, loss="log_loss", penalty="l2", C=1.0, l1_ratio=0.5, *, solver="auto",
                 rule="gsl", partition="variable", update="newton", block_size=None,
                 fit_intercept=True, warm_start=False, max_iter=1000, tol=1e-4,
                 backend="auto", random_state=None, verbose=0):
        self.loss = loss
        self.penalty = penalty
        self.C = C
        self.l1_ratio = l1_ratio
        self.solver = solver
        self.rule = rule
        self.partition = partition
        self.update = update
        self.block_size = block_size
        self.fit_intercept = fit_intercept
        self.warm_start = warm_start
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
        self._check_common_params(X)
        ratio = _penalty_ratio(self)
        enc = LabelEncoder().fit(y)
        self.classes_ = enc.classes_
        if self.classes_.size < 2:
            raise ValueError("y must contain samples of at least 2 classes; got only one class "
                             f"({self.classes_[0]!r})")
        codes = enc.transform(y)
        n, p = X.shape
        sx = pow2_scale(X)  # solve on X / sx (exact): coef = W / sx
        if sx != 1.0:
            X = X / sx
        kern = _kernels(self.backend_)
        n_cols = 1 if self.classes_.size == 2 else self.classes_.size
        lam = 0.0 if ratio is None else 1.0 / (float(self.C) * n)
        has_penalty = ratio is not None
        ratio = 0.0 if ratio is None else ratio
        weights = np.append(np.ones(p), [0.0] * int(self.fit_intercept))
        penalty = Penalty(weights * lam * ratio / sx, weights * lam * (1 - ratio) / sx**2)
        always = [p] if self.fit_intercept else []
        W0 = np.zeros((p + int(self.fit_intercept), n_cols))
        prev = getattr(self, "coef_", None)
        if self.warm_start and prev is not None and prev.shape == (n_cols, p):
            W0[:p] = prev.T * sx
            if self.fit_intercept:
                W0[p] = self.intercept_
        default_blocks = (self.rule, self.partition, self.update) == ("gsl", "variable",
                                                                       "newton")
        solver = self.solver
        if solver == "auto":
            solver = "cd" if (self.classes_.size == 2 and has_penalty and default_blocks) \
                else "bcd"
        if solver == "cd" and not (self.classes_.size == 2 and has_penalty):
            raise ValueError("solver='cd' handles two classes with a penalty (proximal "
                             "Newton on the binary loss); use solver='bcd' for "
                             f"{self.classes_.size} classes or penalty=None")
        self.solver_ = solver
        if solver == "cd":
            from .cd import logistic_prox_newton

            W, n_outer, converged, gap = logistic_prox_newton(
                X, codes.astype(float), lam * ratio / sx, lam * (1 - ratio) / sx**2,
                self.fit_intercept, W0, tol=float(self.tol), max_iter=self.max_iter,
                kernels=kern, record=self._record)
            from .solver import BCDResult

            res = BCDResult(W=W, n_iter=n_outer, converged=converged, gap=gap,
                            active_set=np.flatnonzero(W[:p, 0] != 0), active_set_iter=n_outer)
        else:
            if self.classes_.size == 2:
                loss = LogisticLoss(X, codes.astype(float), self.fit_intercept, kern)
            else:
                loss = MultinomialLoss(X, np.eye(self.classes_.size)[codes],
                                       self.fit_intercept, kern)
            res = _solve(self, loss, penalty, W0, always)
        W = res.W
        dtype = X.dtype if X.dtype == np.float32 else np.float64
        self.coef_ = (W[:p].T / sx).astype(dtype, copy=False)
        self.intercept_ = W[p].copy() if self.fit_intercept else np.zeros(n_cols)
        self.dual_gap_ = res.gap
        _set_result(self, res)
        self.active_set_ = self.active_set_[self.active_set_ < p]
        return self

    def decision_function(self, X):
        """Class scores ``X @ coef_.T + intercept_`` (one column for two classes)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, accept_sparse=("csr", "csc", "coo"),
                          dtype=[np.float64, np.float32])
        scores = safe_sparse_dot(X, self.coef_.T, dense_output=True) + self.intercept_
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict(self, X):
        """The class of largest score (of positive score, for two classes)."""
        scores = self.decision_function(X)
        best = (scores > 0).astype(int) if scores.ndim == 1 else scores.argmax(axis=1)
        return self.classes_[best]

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

    _parameter_constraints = {
        "affinity": [StrOptions({"precomputed", "knn"})],
        "n_neighbors": [_Count(numbers.Integral, 1, None, closed="left")],
        **_BLOCK_CONSTRAINTS,
    }

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
                W = W / pow2_scale(W)  # the harmonic solution does not depend on the scale
                if W.nnz and W.data.min() < 0:
                    raise ValueError("W must be non-negative")
                asym = abs(W - W.T)
                if asym.nnz and asym.max() > 1e-10 * max(abs(W).max(), 1.0):
                    raise ValueError("W must be symmetric")
                return W
            W = sp.csr_matrix(validate_data(self, X, accept_sparse=("csr", "csc", "coo"),
                                            dtype=np.float64, reset=False))
            return W / pow2_scale(W)  # predict_proba normalises its rows
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

        self._validate_params()
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
