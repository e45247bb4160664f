"""Batch ℓ⁴-norm maximisation over the orthogonal group: the MSP algorithm (Zhai et al.).

Complete (orthogonal) dictionary learning finds ``W`` with orthonormal rows that makes the
codes ``A = X Wᵀ`` of the samples ``X`` (one per row) as sparse as possible, measured by
``f(W) = mean_i ‖W x_i‖₄⁴`` (large ℓ⁴ norm at fixed ℓ² norm means spiky, sparse vectors).
MSP ("matching, stretching, projection") iterates

    W ← polar(∇f(W)),   ∇f(W) ∝ (A^{∘3})ᵀ X,   A = X Wᵀ,

where ``polar(G) = U Vᵀ`` for the thin SVD ``G = U Σ Vᵀ`` is the nearest matrix with
orthonormal rows. This module also holds the pieces shared with the online Frank–Wolfe
method (:class:`~sparserec.dictionary.OnlineOrthogonalDictionary`): the polar factor
(which is also the Frank–Wolfe linear oracle over the spectral-norm ball), the ℓ⁴
gradient and a random orthonormal start.

Convention: rows are atoms (scikit-learn's ``components_``), so ``X ≈ A W`` and
``W = D₀ᵀ`` for the column-atom dictionary ``D₀`` of
:func:`sparserec.datasets.make_dictionary_data`.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import Bunch, check_random_state, check_scalar

from ..backend import array_namespace, to_host
from ..base import check_finite_array, pow2_scale

__all__ = ["l4_msp", "l4_objective", "polar_factor", "polar_newton_schulz"]


def polar_factor(G):
    """The orthonormal polar factor ``U Vᵀ`` of ``G = U Σ Vᵀ`` and the nuclear norm ``Σᵢ σᵢ``.

    For a ``k × n`` matrix with ``k ≤ n`` the factor has orthonormal rows. It is the
    point of the spectral-norm ball ``{S : ‖S‖₂ ≤ 1}`` maximising ``⟨G, S⟩`` (the
    Frank–Wolfe linear oracle), and the maximum is ``‖G‖_*``. Works on NumPy and CuPy.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.dictionary import polar_factor
    >>> P, nuclear = polar_factor(np.diag([3.0, -2.0]))
    >>> P, float(nuclear)
    (array([[ 1.,  0.],
           [ 0., -1.]]), 5.0)
    """
    xp = array_namespace(G)
    U, s, Vt = xp.linalg.svd(G, full_matrices=False)
    return U @ Vt, s.sum()


def _l4_gradient(W, X, read: bool = True):
    """``((X Wᵀ)^{∘3})ᵀ X / p`` and ``mean_i ‖W x_i‖₄⁴`` for the ``p`` rows of ``X``.

    The first is ``∇f(W) / 4`` for ``f(W) = mean_i ‖W x_i‖₄⁴`` (the factor 4 is dropped:
    the polar factor and the Frank–Wolfe oracle do not depend on positive scale). With
    ``read=False`` the value stays a 0-d array where the data are (no host read).
    """
    A = X @ W.T
    A2 = A * A
    p = X.shape[0]
    value = (A2 * A2).sum() / p
    return ((A2 * A).T @ X) / p, float(value) if read else value


#: Newton–Schulz polar factor: iterations between host reads, at most, and the stopping
#: residual ``‖S Sᵀ − I‖_F`` (the next iteration squares it: machine precision)
_NS_CHECK_EVERY = 4
_NS_MAX_ITER = 64
_NS_TOL = 1e-7


def polar_newton_schulz(G):
    """:func:`polar_factor` by the Newton–Schulz iteration, for the GPU.

    ``S ← (3/2 I − 1/2 S Sᵀ) S`` from ``S₀ = G / b``, ``b = ‖G Gᵀ‖₁^{1/2} ≥ ‖G‖₂``,
    converges to the polar factor ``U Vᵀ`` when ``G`` has full row rank (Higham,
    *Functions of Matrices*, 2008, §8.3): two ``k × k``/``k × n`` GEMMs per iteration,
    where cuSOLVER's SVD of a small matrix is a long chain of small kernels. The bound
    is tight for ``G`` near a multiple of an orthonormal matrix (then a few quadratically
    convergent iterations suffice); singular values below ``b`` grow by 3/2 per
    iteration, so ill-conditioned ``G`` take more; after ``_NS_MAX_ITER`` iterations (a
    numerically rank-deficient ``G``, whose polar factor is not unique) the SVD's is
    returned. A non-finite ``G`` gives NaN.
    """
    xp = array_namespace(G)
    bound = xp.sqrt(xp.abs(G @ G.T).sum(axis=0).max())  # ‖G‖₂² = ‖GGᵀ‖₂ ≤ ‖GGᵀ‖₁
    S = G / xp.maximum(bound, np.finfo(float).tiny)
    eye = xp.eye(G.shape[0])
    for _ in range(0, _NS_MAX_ITER, _NS_CHECK_EVERY):
        for _ in range(_NS_CHECK_EVERY):
            P = S @ S.T
            S = (1.5 * eye - 0.5 * P) @ S
        residual = float(xp.linalg.norm(P - eye))  # before the last iteration
        if not residual >= _NS_TOL:  # converged, or NaN (reported by the caller)
            return S, (G * S).sum()
    return polar_factor(G)


def l4_objective(components, X) -> float:
    """``mean_i ‖W x_i‖₄⁴``: the ℓ⁴ objective of a dictionary ``W`` (rows = atoms) on ``X``.

    Larger is sparser (at fixed energy). Compare dictionaries learned from different
    random starts with it: the landscape is non-convex.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.dictionary import l4_objective
    >>> l4_objective(np.eye(2), np.array([[1.0, 0.0], [0.0, 2.0]]))
    8.5
    """
    X = check_finite_array(X, "X", ndim=2)
    W = check_finite_array(components, "components", ndim=2)
    if W.shape[1] != X.shape[1]:
        raise ValueError(f"components must have X.shape[1]={X.shape[1]} columns, got "
                         f"shape {W.shape}")
    A = X @ W.T
    A *= A
    return float((A * A).sum()) / X.shape[0]


def _random_orthonormal(n_components: int, n_features: int, random_state):
    """A Haar-random ``n_components × n_features`` matrix with orthonormal rows (host)."""
    rng = check_random_state(random_state)
    return polar_factor(rng.standard_normal((n_components, n_features)))[0]


def _check_n_components(n_components, n_features: int) -> int:
    """``n_components`` of an orthogonal dictionary: ``None`` → ``n_features``; ≤ ``n_features``."""
    if n_components is None:
        return n_features
    check_scalar(n_components, "n_components", numbers.Integral, min_val=1)
    if n_components > n_features:
        raise ValueError(
            f"n_components={n_components} is larger than n_features={n_features}: an "
            "orthogonal dictionary is square (at most n_features orthonormal atoms); use "
            "n_components=None or a value <= n_features"
        )
    return int(n_components)


def _initial_components(dict_init, n_components: int, n_features: int, random_state):
    """The starting point: the polar factor of ``dict_init``, or a random orthonormal one."""
    if dict_init is None:
        return _random_orthonormal(n_components, n_features, random_state)
    W = check_finite_array(to_host(dict_init), "dict_init", ndim=2).astype(np.float64)
    if W.shape != (n_components, n_features):
        raise ValueError(f"dict_init must have shape (n_components, n_features) = "
                         f"{(n_components, n_features)}, got {W.shape}")
    P, nuclear = polar_factor(W)
    if nuclear == 0:
        raise ValueError("dict_init must not be all zeros")
    return P


def l4_msp(X, n_components: int | None = None, *, max_iter: int = 200, tol: float = 1e-6,
           dict_init=None, random_state=None) -> Bunch:
    """Complete dictionary learning by ℓ⁴ maximisation with MSP (batch, all data in memory).

    Iterates ``W ← polar(((X Wᵀ)^{∘3})ᵀ X)`` (Zhai et al. 2020, Algorithm 1, written for
    samples as rows) from a random orthonormal start. MSP increases the objective
    ``f(W) = mean_i ‖W x_i‖₄⁴`` at every iteration (Zhai et al., Proposition 6); it stops
    when the relative increase ``(f(W_k) − f(W_{k−1})) / f(W_k)`` falls below ``tol``.
    (A criterion on ``W`` itself would never trigger on data of deficient rank, e.g.
    centred windows: atoms in the null space of ``X`` are arbitrary and may flip.)

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Samples as rows (NumPy or CuPy).
    n_components : int, optional
        Number of orthonormal atoms, at most ``n_features`` (default: ``n_features``).
    max_iter : int, default=200
        Iteration limit, honoured exactly.
    tol : float, default=1e-6
        Stop when the objective increases by less than ``tol`` times its value.
    dict_init : array of shape (n_components, n_features), optional
        Starting dictionary (rows = atoms); its polar factor is used.
    random_state : int, RandomState or None
        Seeds the random start when ``dict_init`` is None.

    Returns
    -------
    result : Bunch
        ``components`` (n_components, n_features) with orthonormal rows, ``objective``
        (``mean_i ‖W x_i‖₄⁴`` of the start and of every iterate, for the samples
        divided by ``scale``: ``n_iter + 1`` values), ``n_iter``, ``converged`` and
        ``scale`` (the power of two nearest ``max |X|``: dividing by it makes the fit
        equivariant to the units of ``X``; ``objective × scale**4`` is in those units).

    Warns
    -----
    ConvergenceWarning
        When ``max_iter`` iterations ran without meeting ``tol``.

    References
    ----------
    Y. Zhai, Z. Yang, Z. Liao, J. Wright and Y. Ma, "Complete dictionary learning via
    ℓ⁴-norm maximization over the orthogonal group", JMLR 21(165), 2020. arXiv:1906.02435.

    Examples
    --------
    >>> from sparserec.datasets import make_dictionary_data
    >>> from sparserec.dictionary import l4_msp
    >>> from sparserec.metrics import dictionary_recovery
    >>> data = make_dictionary_data(8, 2000, theta=0.3, random_state=0)
    >>> res = l4_msp(data.X, random_state=0)
    >>> dictionary_recovery(res.components.T, data.dictionary) > 0.99
    True
    """
    X = check_finite_array(X, "X", ndim=2)
    xp = array_namespace(X)
    X = X.astype(xp.float64)
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X must have at least one sample and one feature, got {X.shape}")
    check_scalar(max_iter, "max_iter", numbers.Integral, min_val=1)
    check_scalar(tol, "tol", numbers.Real, min_val=0)
    k = _check_n_components(n_components, X.shape[1])
    scale = pow2_scale(X)
    X = X / scale  # equivariance: the same components for X at any scale
    W = xp.asarray(_initial_components(dict_init, k, X.shape[1], random_state))
    G, value = _l4_gradient(W, X)
    objective, converged, n_iter = [value], False, 0
    while n_iter < max_iter:
        W_new, nuclear = polar_factor(G)
        if float(nuclear) == 0.0:  # X is all zeros: every W is stationary
            converged = True
            break
        W, n_iter = W_new, n_iter + 1
        G, value = _l4_gradient(W, X)  # the next gradient, and f(W) on the way
        objective.append(value)
        if value - objective[-2] <= tol * abs(value):
            converged = True
            break
    if not converged:
        warnings.warn(f"l4_msp did not converge in max_iter={max_iter} iterations "
                      f"(tol={tol}); the last iterate is returned. Increase max_iter or tol.",
                      ConvergenceWarning, stacklevel=2)
    return Bunch(components=W, objective=objective, n_iter=n_iter, converged=converged,
                 scale=scale)
