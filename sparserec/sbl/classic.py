"""Classical sparse Bayesian learning by EM (Tipping 2001; Wipf & Rao 2004), the baseline.

Model: ``y = A x + n`` with an independent prior variance per coefficient,
``x_n ~ N(0, γ_n)``, and ``n ~ N(0, σ² I)``; several measurement vectors (columns of
``y``) share ``γ`` (M-SBL, Wipf & Rao 2007). EM: the E-step is the Gaussian posterior
of ``x`` on the full matrix ``A``; the M-step is ``γ_n = mean_l |μ_nl|² + Σ_nn``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular

from ..base import rms, validate_xy
from ._common import (
    PRUNE_TOL_INTERVAL,
    SBL_PARAMETER_CONSTRAINTS,
    Posterior,
    SBLRegressorMixin,
    Scaling,
    as_columns,
    evidence_ratio,
    initial_gamma,
    initial_noise_var,
    keep_after_pruning,
    relative_change,
    significant,
    update_noise_var,
    warn_if_noise_unidentified,
)

__all__ = ["SparseBayesianLearning", "dense_posterior", "posterior_covariance"]


def dense_posterior(A, gamma, Y, noise_var: float) -> Posterior:
    """Gaussian posterior of ``x`` for ``y = A x + n``, ``x ~ N(0, diag(γ))``, ``γ > 0``.

    Works in measurement space (Cholesky of ``σ² I + A Γ Aᴴ``, ``O(M² n)``) when
    ``A`` has more columns than rows, in coefficient space (Cholesky of
    ``I + Γ^{1/2} Aᴴ A Γ^{1/2} / σ²``, ``O(M n²)``) otherwise.

    Parameters
    ----------
    A : array of shape (M, n)
    gamma : array of shape (n,)
    Y : array of shape (M, L)
    noise_var : float

    Returns
    -------
    posterior : Posterior
        ``mean`` (n, L), ``sigma_diag`` (n,), ``cost`` (``L log|Σ_y| + Σ_l y_lᴴ Σ_y⁻¹ y_l``),
        ``resid_sq`` (``‖Y − Aμ‖²``) and ``dof`` (``Σ_n (1 − Σ_nn / γ_n)``).

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.sbl.classic import dense_posterior
    >>> rng = np.random.default_rng(0)
    >>> A, g, y = rng.normal(size=(3, 5)), rng.random(5), rng.normal(size=(3, 1))
    >>> post = dense_posterior(A, g, y, 0.1)
    >>> S = np.linalg.inv(A.T @ A / 0.1 + np.diag(1 / g))
    >>> bool(np.allclose(post.sigma_diag, np.diag(S)))
    True
    """
    m, n = A.shape
    n_targets = Y.shape[1]
    if n > m:
        cov_y = A @ (gamma[:, None] * A.conj().T)
        cov_y[np.diag_indices(m)] += noise_var
        try:
            chol = cho_factor(cov_y, lower=True)
        except np.linalg.LinAlgError:  # σ² below the rounding errors of A Γ Aᴴ
            cov_y[np.diag_indices(m)] += np.finfo(float).eps * np.trace(cov_y).real
            chol = cho_factor(cov_y, lower=True)
        logdet = 2.0 * float(np.log(np.diag(chol[0]).real).sum())
        whitened = solve_triangular(chol[0], A, lower=True)  # L⁻¹ A
        sigma_diag = gamma - gamma**2 * np.sum(np.abs(whitened) ** 2, axis=0)
        mean = gamma[:, None] * (A.conj().T @ cho_solve(chol, Y))
    else:
        root = np.sqrt(gamma)
        B = root[:, None] * (A.conj().T @ A) * root / noise_var
        B[np.diag_indices(n)] += 1.0
        chol = cho_factor(B, lower=True)
        logdet = m * math.log(noise_var) + 2.0 * float(np.log(np.diag(chol[0]).real).sum())
        inv_root = solve_triangular(chol[0], np.eye(n), lower=True)  # L⁻¹
        sigma_diag = gamma * np.sum(np.abs(inv_root) ** 2, axis=0)
        mean = root[:, None] * cho_solve(chol, root[:, None] * (A.conj().T @ Y)) / noise_var
    resid = Y - A @ mean
    cost = n_targets * logdet + float(np.vdot(Y, resid).real) / noise_var
    sigma_diag = np.clip(sigma_diag.real, 0.0, None)
    return Posterior(mean=mean, sigma_diag=sigma_diag, cost=cost,
                     resid_sq=float(np.vdot(resid, resid).real),
                     dof=float(n - np.sum(sigma_diag / gamma)))


def posterior_covariance(A, gamma, noise_var: float):
    """``Σ = (Aᴴ A / σ² + Γ⁻¹)⁻¹``, computed as ``Γ^{1/2} (I + Γ^{1/2} Aᴴ A Γ^{1/2} / σ²)⁻¹
    Γ^{1/2}`` (well conditioned for small ``γ``).

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.sbl.classic import posterior_covariance
    >>> rng = np.random.default_rng(0)
    >>> A, g = rng.normal(size=(3, 5)), rng.random(5)
    >>> S = np.linalg.inv(A.T @ A / 0.1 + np.diag(1 / g))
    >>> bool(np.allclose(posterior_covariance(A, g, 0.1), S))
    True
    """
    root = np.sqrt(gamma)
    B = root[:, None] * (A.conj().T @ A) * root / noise_var
    B[np.diag_indices(gamma.size)] += 1.0
    return root[:, None] * cho_solve(cho_factor(B, lower=True), np.diag(root).astype(B.dtype))


def pruned_columns_wanted(A, Y, active, gamma, noise_var: float, candidates):
    """The pruned column whose return raises the evidence most, if significantly, and its ``γ``.

    For a column ``a`` outside the model, ``s = aᴴ Σ_y⁻¹ a`` and ``q = aᴴ Σ_y⁻¹ y`` give
    the best ``γ = (|q|² − s) / s²`` (Tipping & Faul 2003); the column with the largest
    gain comes back when that gain is significant
    (:func:`sparserec.sbl._common.significant`). One at a time, as in Tipping & Faul's
    sequential algorithm: several columns tested alone need not all be wanted together.
    """
    pruned = np.setdiff1d(candidates, active)
    if pruned.size == 0:
        return pruned, np.zeros(0)
    m, n_targets = Y.shape
    cov_y = (A[:, active] * gamma) @ A[:, active].conj().T
    cov_y[np.diag_indices(m)] += noise_var
    chol = cho_factor(cov_y, lower=True)
    W = cho_solve(chol, A[:, pruned])  # Σ_y⁻¹ a for every pruned column
    s = np.sum(A[:, pruned].conj() * W, axis=0).real
    q2 = np.mean(np.abs(W.conj().T @ Y) ** 2, axis=1)
    r = q2 / np.maximum(s, np.finfo(float).tiny)
    is_complex = np.iscomplexobj(A) or np.iscomplexobj(Y)
    best = int(np.argmax(r))
    if not significant(r[best], n_targets, is_complex, A.shape[1]):
        return pruned[:0], np.zeros(0)
    return pruned[best:best + 1], np.atleast_1d((q2[best] - s[best]) / s[best] ** 2)


class SparseBayesianLearning(SBLRegressorMixin):
    """Classical sparse Bayesian learning (EM), real or complex, one or several targets.

    The baseline of :class:`sparserec.KroneckerSBL`: one prior variance ``γ_n`` per
    coefficient, the E-step on the full matrix ``X`` (``O(M² N)`` per iteration), the
    M-step ``γ_n = mean_l |μ_nl|² + Σ_nn``.

    Parameters
    ----------
    fit_intercept : bool, default=True
        Fit an intercept by centring ``X`` and ``y`` (scikit-learn's linear models and
        :class:`~sklearn.linear_model.ARDRegression` do the same); ``False`` for models
        through the origin such as compressed sensing.
    noise_var : float, optional
        Known noise variance ``σ²``; ``None`` (default) learns it by EM, starting from
        ``0.1 var(y)``. A learned value that the data cannot determine (more effective
        coefficients than a sparse solution allows, typically at low SNR with
        ``N > M``) is reported by a warning.
    prune_tol : float, default=1e-3
        A column leaves the computation when ``γ_j ‖a_j‖²`` (the variance it adds to
        ``y``) is below ``prune_tol`` times the largest *and* the evidence does not want
        it (its best ``γ_j`` given the others is 0, or its gain in log marginal
        likelihood is below ``ln N``; Tipping & Faul 2003). At convergence the pruned
        columns are re-tested and the most significant one comes back, one at a time,
        until none is significant. 0 disables pruning. Invariant to the scaling of the
        columns.
    max_iter : int, default=200
        EM iterations.
    tol : float, default=1e-4
        Stop when ``‖γ_new − γ_old‖ / ‖γ_old‖ < tol``.
    backend : {"auto", "numpy", "numba", "cupy"}, default="auto"
        The computation is BLAS/LAPACK-bound and identical for ``"numpy"`` and
        ``"numba"``; ``"cupy"`` is not available yet.
    random_state : None
        Unused (deterministic); kept for the shared API.
    verbose : int, default=0
        Show a progress bar.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        Posterior mean.
    intercept_ : float or ndarray of shape (n_targets,)
        0.0 when ``fit_intercept=False``.
    gamma_ : ndarray of shape (n_features,)
        Prior variances (0 where pruned).
    sigma_ : ndarray of shape (n_active, n_active)
        Posterior covariance of the coefficients with ``gamma_ > 0`` (used by
        ``predict(X, return_std=True)``).
    X_offset_ : ndarray of shape (n_features,)
        Column means of the training ``X`` (0 when ``fit_intercept=False``).
    noise_var_ : float
    history_ : list of float
        SBL cost ``L log|Σ_y| + Σ_l y_lᴴ Σ_y⁻¹ y_l`` before each M-step; EM makes it
        non-increasing (up to pruning).
    n_iter_, converged_ : int, bool
    n_features_in_ : int

    Notes
    -----
    Scale: EM runs on ``y`` scaled to unit RMS and ``X`` to unit mean column norm, and the
    results are scaled back, so that ``y × a`` and ``X × b`` give ``coef_ × a/b`` (the same
    iterations) at any scale. The learned noise variance is floored at
    ``1e-12 · mean|y|²``; when it falls below the rounding errors of ``X Γ Xᴴ`` the
    Cholesky factorisation of ``Σ_y`` is retried with ``eps · trace(Σ_y)`` added to its
    diagonal. ``γ`` starts at all ones, the noise variance at ``0.1 var(y)`` (as the
    KroSBL reference code).

    References
    ----------
    M. E. Tipping, "Sparse Bayesian learning and the relevance vector machine", JMLR 1,
    2001. D. P. Wipf and B. D. Rao, "Sparse Bayesian learning for basis selection",
    IEEE Trans. Signal Process. 52(8), 2004; "An empirical Bayesian strategy for solving
    the simultaneous sparse approximation problem", IEEE Trans. Signal Process. 55(7), 2007.

    Examples
    --------
    >>> from sparserec import SparseBayesianLearning
    >>> from sparserec.datasets import make_sparse_regression
    >>> from sparserec.metrics import nmse_db
    >>> p = make_sparse_regression(40, 100, 4, snr_db=30, random_state=0)
    >>> model = SparseBayesianLearning().fit(p.X, p.y)
    >>> bool(nmse_db(p.coef, model.coef_) < -20)
    True
    """

    _parameter_constraints = {**SBL_PARAMETER_CONSTRAINTS, "prune_tol": [PRUNE_TOL_INTERVAL]}

    def __init__(self, *, fit_intercept: bool = True, noise_var=None, prune_tol: float = 1e-3,
                 max_iter: int = 200, tol: float = 1e-4, backend: str = "auto",
                 random_state=None, verbose: int = 0):
        self.fit_intercept = fit_intercept
        self.noise_var = noise_var
        self.prune_tol = prune_tol
        self.max_iter = max_iter
        self.tol = tol
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y):
        """Fit the SBL model.

        Parameters
        ----------
        X : array of shape (M, N)
            Dictionary (real or complex).
        y : array of shape (M,) or (M, L)
            Measurements; ``L`` columns share the support.

        Returns
        -------
        self
        """
        self._validate_params()
        noise_var, prune_tol = self.noise_var, float(self.prune_tol)
        X, y = validate_xy(self, X, y, allow_complex=True, multi_output=True)
        self._check_common_params(X, y)
        dtype = np.result_type(X.dtype, y.dtype, np.float64)
        X = X.astype(dtype, copy=False)
        Y, one_d = as_columns(y.astype(dtype, copy=False))
        X_offset, y_offset = np.zeros(X.shape[1], dtype), np.zeros(Y.shape[1], dtype)
        if self.fit_intercept:  # centring, as scikit-learn's linear models
            X_offset, y_offset = X.mean(axis=0), Y.mean(axis=0)
            X, Y = X - X_offset, Y - y_offset
        scaling = Scaling.of(rms(X), X.shape[0], Y)
        X, Y = X / scaling.x_scale, Y / scaling.y_scale  # scale-free EM (see Scaling)
        is_complex = np.iscomplexobj(X) or np.iscomplexobj(Y)
        offset = scaling.cost_offset(*Y.shape)
        n_feat = X.shape[1]
        energy = np.sum(np.abs(X) ** 2, axis=0)  # ‖a_j‖²: start and pruning, scale-free
        active = np.flatnonzero(energy > 0)  # an all-zero column explains nothing: x_j = 0
        gamma = initial_gamma(energy)[active]
        sigma2 = (initial_noise_var(Y) if noise_var is None
                  else float(noise_var) / scaling.y_scale / scaling.y_scale)
        full = np.zeros(n_feat)
        full[active] = gamma
        converged = False
        if not np.any(Y):  # y = 0: x = 0, nothing to learn
            active, gamma, full, converged = active[:0], gamma[:0], full * 0, True
        for _ in () if converged else self._iterations():
            post = dense_posterior(X[:, active], gamma, Y, sigma2)
            self._record(post.cost + offset)
            mean_sq = np.mean(np.abs(post.mean) ** 2, axis=1)
            relevant = significant(evidence_ratio(mean_sq, post.sigma_diag, gamma),
                                   Y.shape[1], is_complex, n_feat)
            new = mean_sq + post.sigma_diag
            if noise_var is None:
                sigma2 = update_noise_var(post.resid_sq, post.dof, sigma2, Y)
            old = full
            keep = keep_after_pruning(new * energy[active], prune_tol, relevant)
            active, gamma = active[keep], new[keep]
            full = np.zeros(n_feat)
            full[active] = gamma
            if relative_change(full, old) < self.tol:
                # re-test the pruned columns: continue with those the evidence wants back
                back, gamma_back = pruned_columns_wanted(
                    X, Y, active, gamma, sigma2, np.flatnonzero(energy > 0))
                if back.size == 0:
                    converged = True
                    break
                order = np.argsort(np.concatenate([active, back]))
                active = np.concatenate([active, back])[order]
                gamma = np.concatenate([gamma, gamma_back])[order]
                full[active] = gamma
        coef = np.zeros((n_feat, Y.shape[1]), dtype=dtype)
        if active.size:
            post = dense_posterior(X[:, active], gamma, Y, sigma2)
            coef[active] = post.mean
            sigma = posterior_covariance(X[:, active], gamma, sigma2)
            if noise_var is None:
                warn_if_noise_unidentified(post.dof, X.shape[0], n_feat)
        self.gamma_ = full * scaling.coef * scaling.coef  # (no Python OverflowError)
        self.noise_var_ = float(sigma2 * np.float64(scaling.y_scale) ** 2)
        coef = coef * scaling.coef
        self.sigma_ = (sigma * scaling.coef * scaling.coef if active.size
                       else np.zeros((0, 0), dtype))
        self._set_coef(coef, one_d)
        self._set_intercept(y_offset - X_offset @ coef, one_d)
        self.X_offset_ = X_offset
        self._set_convergence(len(self.history_), converged)
        return self

    def _predictive_variance(self, X):
        active = np.flatnonzero(self.gamma_)
        T = X[:, active] - self.X_offset_[active]
        return np.sum((T @ self.sigma_) * T.conj(), axis=1).real + self.noise_var_
