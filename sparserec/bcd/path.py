"""Regularisation paths: :func:`bcd_path`, the counterpart of scikit-learn's ``enet_path``.

The data are prepared once (:class:`sparserec.bcd.cd.Problem`); each ``alpha`` of the
decreasing grid starts from the previous solution (warm start), so its working set starts
from the previous support, and the gap-safe test screens coordinates at every outer
iteration (pure L1 penalties).
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .cd import Problem, check_sample_weight

__all__ = ["alpha_grid", "bcd_path"]


def alpha_grid(prob, l1_ratio, eps, n_alphas, group=False):
    """``n_alphas`` values from ``alpha_max`` down to ``eps · alpha_max``, log-spaced
    (scikit-learn's grid; ``alpha_max`` is the smallest ``alpha`` with a zero solution)."""
    if l1_ratio <= 0:
        raise ValueError("l1_ratio: an automatic alpha grid needs l1_ratio > 0 (the "
                         "all-zero solution of a ridge problem needs alpha = inf); pass "
                         "alphas explicitly")
    top = prob.alpha_max(l1_ratio, group)
    if top <= 0:  # y is constant (after centring): every alpha gives zero
        top = np.finfo(float).resolution
    return np.geomspace(top, top * eps, num=n_alphas)


def _kernels(backend):
    from ..backend import host_backend, resolve_backend
    from . import _kernels

    return _kernels.get(host_backend(resolve_backend(backend)))


def bcd_path(X, y, *, l1_ratio=1.0, eps=1e-3, alphas=100, sample_weight=None,
             fit_intercept=False, positive=False, multi_task=False, coef_init=None,
             tol=1e-4, max_iter=1000, return_n_iter=False, return_intercept=False,
             backend="auto"):
    """Elastic-net (Lasso for ``l1_ratio=1``) regularisation path by working-set
    coordinate descent with warm starts and gap-safe screening.

    Minimises, for each ``alpha`` (as ``sklearn.linear_model.enet_path``)::

        (1 / (2 n)) Σ_i s_i (y_i − x_iᵀ w − b)² + α ρ ‖w‖₁ + ½ α (1 − ρ) ‖w‖²

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Never densified when sparse.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
    l1_ratio : float in [0, 1], default=1.0
        ``ρ``.
    eps : float, default=1e-3
        ``alpha_min / alpha_max`` of the automatic grid.
    alphas : int or array-like, default=100
        Number of log-spaced values of the automatic grid, or the values themselves
        (solved in decreasing order).
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative; rescaled to sum to ``n_samples``.
    fit_intercept : bool, default=False
        Centre ``X`` and ``y`` (weighted) first; ``enet_path`` leaves that to the caller.
    positive : bool, default=False
        Non-negative coefficients.
    multi_task : bool, default=False
        Row-group penalty for a 2-D ``y`` (``MultiTaskElasticNet``).
    coef_init : array-like of shape (n_features,) or (n_targets, n_features), default=None
        Start of the first ``alpha``.
    tol : float, default=1e-4
        Duality gap ``≤ tol · Σ s_i (y_i − ȳ)² / n`` at every ``alpha`` (scikit-learn's test).
    max_iter : int, default=1000
        Coordinate-descent epochs per ``alpha``.
    return_n_iter : bool, default=False
        Also return the epochs used per ``alpha``.
    return_intercept : bool, default=False
        Also return the intercepts (zero without ``fit_intercept``).
    backend : {"auto", "numpy", "numba"}, default="auto"

    Returns
    -------
    alphas : ndarray of shape (n_alphas,)
    coefs : ndarray of shape (n_features, n_alphas) or (n_targets, n_features, n_alphas)
    dual_gaps : ndarray of shape (n_alphas,)
        Duality gaps in objective units (summed over independent targets).
    n_iters : ndarray of int, shape (n_alphas,)
        Only with ``return_n_iter``.
    intercepts : ndarray of shape (n_alphas,) or (n_targets, n_alphas)
        Only with ``return_intercept``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.bcd import bcd_path
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((40, 10)); y = X[:, 0] - 2 * X[:, 3]
    >>> alphas, coefs, gaps = bcd_path(X, y, alphas=5)
    >>> coefs.shape, int((coefs[:, 0] != 0).sum()), int((coefs[:, -1] != 0).sum())
    ((10, 5), 0, 2)
    """
    from sklearn.utils.validation import check_array, check_X_y

    X, y = check_X_y(X, y, accept_sparse=("csr", "csc", "coo"), multi_output=True,
                     y_numeric=True, dtype=[np.float64, np.float32])
    if not (isinstance(l1_ratio, numbers.Real) and 0 <= l1_ratio <= 1):
        raise ValueError(f"l1_ratio must be a number in [0, 1], got {l1_ratio!r}")
    if not (isinstance(eps, numbers.Real) and 0 < eps < np.inf):
        raise ValueError(f"eps must be a positive number, got {eps!r}")
    n, p = X.shape
    one_target = y.ndim == 1
    Y = y.reshape(n, -1).astype(float)
    if multi_task and one_target:
        raise ValueError("multi_task=True needs a 2-D y (n_samples, n_targets)")
    if multi_task and positive:
        raise ValueError("positive=True cannot be combined with multi_task=True")
    sw = check_sample_weight(sample_weight, X)
    prob = Problem(X, Y, sw, fit_intercept, _kernels(backend))
    prob.design.precompute_gram()  # many fits: one Gram matrix when n ≥ p (dense)
    if isinstance(alphas, numbers.Integral) and not isinstance(alphas, bool):
        if alphas < 1:
            raise ValueError(f"alphas must be a positive count or an array, got {alphas}")
        grid = alpha_grid(prob, float(l1_ratio), float(eps), int(alphas), multi_task)
    else:
        grid = np.sort(check_array(alphas, ensure_2d=False, input_name="alphas")
                       .ravel().astype(float))[::-1]
        if grid.size == 0 or grid.min() < 0:
            raise ValueError("alphas must be non-negative and not empty")
    m = Y.shape[1]
    W = None if coef_init is None else prob.internal(coef_init)
    coefs = np.empty((m, p, grid.size))
    intercepts = np.empty((m, grid.size))
    gaps = np.empty(grid.size)
    n_iters = np.empty(grid.size, dtype=int)
    res = None
    for i, alpha in enumerate(grid):
        W, res = prob.fit(float(alpha), float(l1_ratio), W, group=bool(multi_task),
                          positive=bool(positive), tol=float(tol), max_iter=int(max_iter),
                          previous=res)
        coef = prob.coef(W)
        coefs[:, :, i] = coef
        intercepts[:, i] = prob.intercept(coef)
        gaps[i] = sum(prob.gaps(res, 1))
        n_iters[i] = max(r.n_iter for r in res)
        if not all(r.converged for r in res):
            warnings.warn(f"bcd_path did not converge at alpha={alpha:.3g} in max_iter="
                          f"{max_iter} epochs (duality gap {gaps[i]:.3g}); increase max_iter "
                          "or tol", ConvergenceWarning, stacklevel=2)
    dtype = X.dtype if X.dtype == np.float32 else np.float64
    coefs = coefs.astype(dtype, copy=False)
    out = [grid, coefs[0] if one_target else coefs, gaps]
    if return_n_iter:
        out.append(n_iters)
    if return_intercept:
        out.append(intercepts[0] if one_target else intercepts)
    return tuple(out)
