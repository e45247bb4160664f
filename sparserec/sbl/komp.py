"""Kronecker orthogonal matching pursuit (N-way OMP), a greedy baseline for KroneckerSBL.

Caiafa & Cichocki's N-way OMP, as used by He & Joseph (arXiv 2307.14719) for comparison:
the support is grown one factor index at a time. Each iteration correlates the residual
with every Kronecker atom (one adjoint Kronecker product), takes the multi-index
``(k_1, …, k_I)`` of the largest correlation, adds each ``k_i`` to factor ``i``'s index set
(until it holds ``n_nonzero_i`` indices), and refits by least squares on the Kronecker
product of the selected columns — which is the Kronecker product of the factors'
pseudo-inverses, so no large system is ever solved.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from sklearn.utils import check_scalar

from ..base import check_finite_array
from ..operators import Kronecker

__all__ = ["kronecker_omp"]


def kronecker_omp(factors, y, n_nonzero, *, tol: float = 1e-6) -> np.ndarray:
    """Greedy recovery of a sparse ``x`` with Kronecker support from ``y = (⊗A_i) x + n``.

    Parameters
    ----------
    factors : sparserec.operators.Kronecker or sequence of 2-D arrays
        The dictionary ``A_1 ⊗ … ⊗ A_I`` (``I ≥ 2``), real or complex.
    y : array of shape (M,) or (M, L)
        Measurements; several columns share the support (correlations are combined by
        their Euclidean norm across columns).
    n_nonzero : int or sequence of int
        Largest number of indices selected per factor (the support of ``x`` then has at
        most ``Π n_nonzero_i`` entries); one int applies to every factor.
    tol : float, default=1e-6
        Stop once ``‖residual‖ ≤ tol · ‖y‖``.

    Returns
    -------
    coef : ndarray of shape (N,) or (N, L)
        The estimate (least squares on the selected support).

    Notes
    -----
    Iterations also stop when every factor holds ``n_nonzero_i`` indices, or when the
    largest correlation adds no new index (as the reference implementation).

    References
    ----------
    C. F. Caiafa and A. Cichocki, "Computing sparse representations of multidimensional
    signals using Kronecker bases", Neural Computation 25(1), 2013.

    Examples
    --------
    >>> from sparserec.datasets import make_kronecker_problem
    >>> from sparserec.metrics import nmse_db
    >>> from sparserec.sbl import kronecker_omp
    >>> p = make_kronecker_problem([(12, 24), (12, 24)], 2, snr_db=40, random_state=0)
    >>> coef = kronecker_omp(p.factors, p.y, 2)
    >>> bool(nmse_db(p.coef, coef) < -30)
    True
    """
    mats = list(factors.factors if isinstance(factors, Kronecker) else factors)
    if len(mats) < 2:
        raise ValueError(f"factors must hold at least 2 matrices, got {len(mats)}")
    mats = [check_finite_array(A, f"factors[{i}]", ndim=2, allow_complex=True)
            for i, A in enumerate(mats)]
    n_factors = len(mats)
    sizes = [n_nonzero] * n_factors if isinstance(n_nonzero, numbers.Integral) \
        else list(n_nonzero)
    if len(sizes) != n_factors:
        raise ValueError(f"n_nonzero must be an int or have one entry per factor "
                         f"({n_factors}), got {n_nonzero!r}")
    for A, s in zip(mats, sizes, strict=True):
        check_scalar(s, "n_nonzero", numbers.Integral, min_val=1, max_val=A.shape[1])
    check_scalar(tol, "tol", numbers.Real, min_val=0)
    y = check_finite_array(y, "y", ndim=(1, 2), allow_complex=True)
    n_meas = math.prod(A.shape[0] for A in mats)
    if y.shape[0] != n_meas:
        raise ValueError(f"y has {y.shape[0]} rows but the Kronecker dictionary has "
                         f"{n_meas}")
    Y = (y[:, None] if y.ndim == 1 else y).T.reshape((-1,) + tuple(A.shape[0] for A in mats))
    op = Kronecker(*mats)
    y_norm = np.linalg.norm(Y)
    selected = [[] for _ in mats]
    resid, coeffs = Y, None
    while y_norm > 0 and np.linalg.norm(resid) > tol * y_norm:
        corr = np.sqrt(np.sum(np.abs(op.adjoint(resid)) ** 2, axis=0))
        best = np.unravel_index(np.argmax(corr), corr.shape)
        grew = False
        for sel, k, s in zip(selected, best, sizes, strict=True):
            if k not in sel and len(sel) < s:
                sel.append(int(k))
                grew = True
        if not grew:
            break
        sub = Kronecker(*(A[:, sel] for A, sel in zip(mats, selected, strict=True)))
        coeffs = Kronecker(*(np.linalg.pinv(A) for A in sub.factors)).apply(Y)
        resid = Y - sub.apply(coeffs)
        if all(len(sel) == s for sel, s in zip(selected, sizes, strict=True)):
            break
    coef = np.zeros((Y.shape[0],) + op.in_shape, dtype=np.result_type(op.dtype, Y.dtype))
    if coeffs is not None:
        coef[(slice(None),) + np.ix_(*selected)] = coeffs
    coef = coef.reshape(Y.shape[0], -1).T
    return coef[:, 0] if y.ndim == 1 else coef
