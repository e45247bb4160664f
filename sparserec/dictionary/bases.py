"""Fixed orthonormal bases and a sparsity-at-equal-error comparison.

A learned orthogonal dictionary earns its keep if it codes real signals with fewer
coefficients than the classical orthonormal bases — the DCT (fixed) and PCA (fitted to the
second moments) — at the same reconstruction error. For an orthonormal basis the best
approximation of a data set with ``M`` coefficients in total keeps the ``M`` largest
coefficients of all samples (hard thresholding at a common level: the discarded energy is
the sum of the discarded squared coefficients, by Parseval);
:func:`coefficients_for_error` returns the smallest such ``M`` per sample that meets a
relative error.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import check_scalar

from .._config import check_dense_size
from ..base import check_finite_array

__all__ = ["coefficients_for_error", "dct_basis", "pca_basis", "sliding_windows"]


def dct_basis(shape) -> np.ndarray:
    """The orthonormal DCT-II basis, atoms as rows, for vectors or row-major flattened patches.

    Parameters
    ----------
    shape : int or tuple of int
        Length ``n`` of a vector, or the shape ``(h, w)`` of a patch.

    Returns
    -------
    basis : ndarray of shape (N, N)
        ``N = n`` or ``h * w``; ``basis @ x`` gives the DCT coefficients of ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.dictionary import dct_basis
    >>> B = dct_basis((4, 4))
    >>> B.shape, bool(np.allclose(B @ B.T, np.eye(16)))
    ((16, 16), True)
    """
    from scipy.fft import dct

    dims = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    for n in dims:
        check_scalar(n, "shape", numbers.Integral, min_val=1)
    size = int(np.prod(dims, dtype=object))
    check_dense_size((size, size), np.float64, f"dct_basis(shape={shape!r})")
    basis = np.ones((1, 1))
    for n in dims:
        basis = np.kron(basis, dct(np.eye(n), norm="ortho", axis=0))
    return basis


def pca_basis(X) -> np.ndarray:
    """The principal axes of ``X`` (scikit-learn's PCA), atoms as rows, by decreasing variance.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        At least ``n_features`` samples, so that the basis is complete.

    Returns
    -------
    basis : ndarray of shape (n_features, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.dictionary import pca_basis
    >>> X = np.random.default_rng(0).standard_normal((50, 3)) * [3.0, 1.0, 0.1]
    >>> np.round(np.abs(pca_basis(X)), 1)
    array([[1., 0., 0.],
           [0., 1., 0.],
           [0., 0., 1.]])
    """
    from sklearn.decomposition import PCA

    X = check_finite_array(X, "X", ndim=2)
    if X.shape[0] < X.shape[1]:
        raise ValueError(f"X needs at least n_features={X.shape[1]} samples for a complete "
                         f"PCA basis, got {X.shape[0]}")
    return PCA(n_components=X.shape[1], svd_solver="full").fit(X).components_


def sliding_windows(signal, width: int, step: int = 1) -> np.ndarray:
    """Windows ``signal[i : i + width]`` for ``i = 0, step, 2 step, …`` as rows (a copy).

    Examples
    --------
    >>> from sparserec.dictionary import sliding_windows
    >>> sliding_windows([0, 1, 2, 3, 4], 3, step=2)
    array([[0., 1., 2.],
           [2., 3., 4.]])
    """
    signal = check_finite_array(signal, "signal", ndim=1)
    check_scalar(width, "width", numbers.Integral, min_val=1, max_val=signal.shape[0])
    check_scalar(step, "step", numbers.Integral, min_val=1)
    return np.lib.stride_tricks.sliding_window_view(signal, width)[::step].copy()


def coefficients_for_error(X, basis, target_error):
    """Coefficients per sample an orthonormal basis needs to code ``X`` within a relative error.

    Keeps the largest coefficients ``X @ basis.T`` over the whole data set (the optimal
    ``M``-term approximation in an orthonormal basis) until
    ``‖X − X̂‖_F / ‖X‖_F <= target_error``, and returns ``M / n_samples``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Samples as rows.
    basis : array-like of shape (n_features, n_features)
        Orthonormal atoms as rows (e.g. ``components_`` of
        :class:`~sparserec.dictionary.OnlineOrthogonalDictionary`, :func:`dct_basis`,
        :func:`pca_basis`).
    target_error : float or array-like of float
        Relative errors in ``[0, 1]``.

    Returns
    -------
    coefficients : float or ndarray
        Mean number of nonzero coefficients per sample, one per ``target_error``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.dictionary import coefficients_for_error
    >>> X = np.array([[3.0, 0.0, 4.0], [0.0, 5.0, 0.0]])
    >>> coefficients_for_error(X, np.eye(3), [0.0, 0.75])
    array([1.5, 0.5])
    """
    X = check_finite_array(X, "X", ndim=2)
    basis = check_finite_array(basis, "basis", ndim=2)
    n = X.shape[1]
    if basis.shape != (n, n):
        raise ValueError(f"basis must have shape (n_features, n_features) = {(n, n)}, "
                         f"got {basis.shape}")
    if not np.allclose(basis @ basis.T, np.eye(n), atol=1e-8):
        raise ValueError("basis must have orthonormal rows")
    targets = np.asarray(target_error, dtype=np.float64)
    if np.any(~np.isfinite(targets)) or np.any(targets < 0) or np.any(targets > 1):
        raise ValueError(f"target_error must lie in [0, 1], got {target_error!r}")
    energy = np.sort(((X @ basis.T) ** 2).ravel())  # ascending: the discarded come first
    discarded = np.concatenate(([0.0], np.cumsum(energy)))  # energy of the j smallest
    total = discarded[-1]
    # largest number of coefficients that may be dropped: discarded[j] <= target² total
    n_dropped = np.searchsorted(discarded, targets ** 2 * total * (1 + 1e-12), side="right") - 1
    kept = (energy.size - n_dropped) / X.shape[0]
    return float(kept) if kept.ndim == 0 else kept
