"""What the two sparse Bayesian learning estimators share: targets, noise, EM bookkeeping.

Both estimators fit the model ``y = A x + n`` with ``x_n ~ N(0, γ_n)`` (circular complex
Gaussian for complex data), ``n ~ N(0, σ² I)``, by expectation–maximisation on the
hyperparameters ``γ`` and ``σ²``. They differ in how ``γ`` is structured and in how the
E-step is computed; the rest lives here.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import NamedTuple

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils._param_validation import Interval, InvalidParameterError
from sklearn.utils.validation import check_is_fitted

from ..backend import array_namespace, to_host
from ..base import COMMON_PARAMETER_CONSTRAINTS, SparseEstimatorMixin, rms, validate_xy
from ..operators import mode_products

# The learned noise variance never goes below this fraction of the mean power of y: in a
# noiseless problem the EM update drives σ² to 0, where the marginal likelihood is unbounded.
NOISE_FLOOR = 1e-12


class Posterior(NamedTuple):
    """What an E-step returns (see ``kronecker_posterior`` and ``dense_posterior``)."""

    mean: np.ndarray  # posterior mean of x, one column (or leading index) per target
    sigma_diag: np.ndarray  # diagonal of the posterior covariance Σ
    cost: float  # L log|Σ_y| + Σ_l y_lᴴ Σ_y⁻¹ y_l
    resid_sq: float  # ‖Y − A μ‖²
    dof: float  # Σ_n (1 − Σ_nn / γ_n)


#: ``prune_tol`` values: a real in ``[0, 1)`` (NaN and infinity refused)
PRUNE_TOL_INTERVAL = Interval(numbers.Real, 0, 1, closed="left")

#: the constraints shared by both SBL estimators (scikit-learn's ``_parameter_constraints``)
SBL_PARAMETER_CONSTRAINTS = {
    **COMMON_PARAMETER_CONSTRAINTS,
    "noise_var": [Interval(numbers.Real, 0, None, closed="neither"), None],
    "fit_intercept": ["boolean"],
}


def check_prune_tol(prune_tol, name: str = "prune_tol") -> float:
    """A real in ``[0, 1)``, with scikit-learn's message (used for per-factor entries)."""
    if isinstance(prune_tol, bool) or prune_tol not in PRUNE_TOL_INTERVAL:
        raise InvalidParameterError(f"The {name!r} parameter of the SBL estimators must be "
                                    f"{PRUNE_TOL_INTERVAL}. Got {prune_tol!r} instead.")
    return float(prune_tol)


def keep_after_pruning(scores, prune_tol: float, relevant):
    """Entries to keep: those the evidence wants, and those above ``prune_tol · max score``.

    ``score_j`` is the largest variance ``γ_n ‖a_n‖²`` that entry ``j`` (a column, or a
    slice of columns for a Kronecker factor) adds to the measurements — invariant to the
    scaling of the columns. ``relevant_j`` says that the marginal likelihood, maximised
    over ``γ_j`` with the others fixed, puts ``γ_j > 0`` with a significant gain. The
    reference code prunes on the relative score alone, which dropped true coefficients
    1/12–1/37 of the largest on noiseless data (their score falls below 1e-3 of the
    largest, yet the evidence for them is overwhelming); an entry is now pruned only when
    its score is small *and* the evidence does not want it.
    """
    top = float(scores.max()) if scores.size else 0.0
    return (scores >= prune_tol * top) | relevant


def evidence_ratio(mean_sq, sigma_diag, gamma):
    """``r_n = |q_n|² / s_n`` of Tipping & Faul (2003) from the posterior of ``γ_n > 0``.

    With ``s_n = aᴴ Σ_{y,−n}⁻¹ a`` and ``q_n = aᴴ Σ_{y,−n}⁻¹ y`` (``Σ_y`` without column
    ``n``), the marginal likelihood is maximised over ``γ_n`` at ``(|q_n|² − s_n)/s_n²`` if
    ``r_n > 1``, else at 0. From the posterior: ``q_n = μ_n / Σ_nn`` and ``s_n = (γ_n −
    Σ_nn) / (γ_n Σ_nn)``, so ``r_n = |μ_n|² γ_n / (Σ_nn (γ_n − Σ_nn))`` (``|μ_n|²``
    averaged over the measurement vectors).
    """
    xp = array_namespace(mean_sq)
    tiny = np.finfo(float).tiny
    return mean_sq * gamma / xp.maximum(sigma_diag * (gamma - sigma_diag), tiny)


def evidence_gain(r, n_targets: int, is_complex: bool):
    """The rise ``c L (r − 1 − ln r)`` of the log marginal likelihood when a column with
    ratio ``r > 1`` (:func:`evidence_ratio`) gets its best ``γ`` (0 for ``r ≤ 1``; ``c =
    1/2`` for real data, 1 for complex; ``L`` measurement vectors), Tipping & Faul (2003)."""
    xp = array_namespace(r)
    half = 1.0 if is_complex else 0.5
    r = xp.maximum(r, 1.0)
    return half * n_targets * (r - 1.0 - xp.log(r))


def significant(r, n_targets: int, is_complex: bool, n_columns: int):
    """Whether a column with ratio ``r`` (:func:`evidence_ratio`) belongs in the model: its
    :func:`evidence_gain` exceeds ``ln N``, a Bayes factor larger than the number of
    columns that could have produced it by chance (noise alone then rarely passes)."""
    return evidence_gain(r, n_targets, is_complex) > math.log(n_columns)


def factor_scores(gammas, energies):
    """For each factor ``i``, ``γ_ik ‖a_ik‖² · Π_{j≠i} max_l γ_jl ‖a_jl‖²``: the largest
    variance a column of slice ``k`` adds to the measurements."""
    per = [g * e for g, e in zip(gammas, energies, strict=True)]
    tops = [float(p.max()) if p.size else 0.0 for p in per]
    return [p * math.prod(t for j, t in enumerate(tops) if j != i) for i, p in enumerate(per)]


def initial_gamma(column_energy):
    """``γ_j = mean ‖a‖² / ‖a_j‖²``: every column starts with the same share of ``y``'s
    variance (all ones for columns of equal norm); zero columns start (and stay) at 0."""
    energy = np.asarray(column_energy, dtype=np.float64)
    positive = energy > 0
    return np.where(positive, energy.mean() / np.where(positive, energy, 1.0), 0.0)


class Scaling(NamedTuple):
    """The units in which an SBL fit runs: ``y / y_scale`` and ``X / x_scale``.

    Both estimators run EM on data normalised to unit RMS ``y`` (per entry) and unit mean
    column norm ``X``; the start (γ = 1, σ² = 0.1 var y), the noise floor and the pruning
    rule are then the same at every scale, and the results are mapped back:
    ``x = (y_scale / x_scale) x̃``, ``γ = (y_scale / x_scale)² γ̃``, ``σ² = y_scale² σ̃²``.
    """

    x_scale: float
    y_scale: float

    @classmethod
    def of(cls, X_rms: float, n_rows: int, Y) -> Scaling:
        """From the RMS of the entries of ``X`` (``n_rows`` rows) and the targets ``Y``."""
        x_scale = X_rms * math.sqrt(n_rows)
        y_scale = rms(Y)
        return cls(x_scale if x_scale > 0 else 1.0, y_scale if y_scale > 0 else 1.0)

    @property
    def coef(self) -> float:
        return self.y_scale / self.x_scale

    def cost_offset(self, n_rows: int, n_targets: int) -> float:
        """``L M log y_scale²``: the SBL cost in the units of the data."""
        return 2.0 * n_targets * n_rows * math.log(self.y_scale)


def as_columns(y):
    """``y`` as an ``(M, L)`` array of measurement vectors, and whether it was 1-D."""
    return (y[:, None], True) if y.ndim == 1 else (y, False)


def initial_noise_var(Y) -> float:
    """``0.1 · var(y)`` over all entries, as the reference implementation (|·|² if complex)."""
    xp = array_namespace(Y)
    return max(0.1 * float(xp.mean(xp.abs(Y - Y.mean()) ** 2)), noise_floor(Y))


def noise_floor(Y) -> float:
    """Smallest noise variance the EM update may return (see :data:`NOISE_FLOOR`)."""
    power = float(array_namespace(Y).vdot(Y, Y).real) / Y.size
    return NOISE_FLOOR * power if power > 0 else np.finfo(float).tiny


def update_noise_var(resid_sq: float, dof: float, noise_var: float, Y) -> float:
    """The EM update ``σ² ← (‖Y − Aμ‖² + L σ² Σ_n (1 − Σ_nn/γ_n)) / (M L)``.

    ``dof = Σ_n (1 − Σ_nn/γ_n)`` is the effective number of parameters; ``Y`` is ``(M, L)``.
    """
    m, n_targets = Y.shape
    new = (resid_sq + n_targets * noise_var * dof) / (m * n_targets)
    return max(float(new), noise_floor(Y))


def relative_change(new, old) -> float:
    """``‖new − old‖ / ‖old‖`` (the reference's stopping rule on γ)."""
    den = np.linalg.norm(old)
    return float(np.linalg.norm(new - old) / den) if den > 0 else 0.0


def predictive_variance(test, factors, gammas, noise_var: float):
    """``diag(T Σ Tᴴ) + σ²``: the variance of a new measurement ``T x + n`` under the posterior.

    With ``Σ = Γ − Γ Aᴴ Σ_y⁻¹ A Γ``, ``A = ⊗A_i``, ``Γ = ⊗Γ_i`` and ``A_i Γ_i A_iᴴ =
    U_i Λ_i U_iᴴ``: ``diag(T Σ Tᴴ)_r = Σ_n |T_rn|² γ_n − Σ_k |(T Γ Aᴴ U)_rk|² / (σ² + λ_k)``,
    computed factor by factor (one factor is classical SBL).

    Parameters
    ----------
    test : list of arrays or array
        The factors ``T_i`` (``(M'_i, n_i)``) of a Kronecker test matrix, or a dense test
        matrix of shape ``(M', Π n_i)``; columns restricted to the active ones.
    factors, gammas : lists of arrays
        The active columns ``A_i`` and their prior variances ``γ_i``.
    noise_var : float

    Returns
    -------
    variance : array of shape (M',)

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.sbl._common import predictive_variance
    >>> rng = np.random.default_rng(0)
    >>> A, g, T = rng.normal(size=(4, 6)), rng.random(6), rng.normal(size=(3, 6))
    >>> S = np.linalg.inv(A.T @ A / 0.1 + np.diag(1 / g))
    >>> bool(np.allclose(predictive_variance(T, [A], [g], 0.1), np.diag(T @ S @ T.T) + 0.1))
    True
    """
    xp = array_namespace(*factors)
    spectra, right = [], []
    for A, g in zip(factors, gammas, strict=True):
        W = A * xp.sqrt(g)
        s2, U = xp.linalg.eigh(W @ W.conj().T)
        spectra.append(xp.maximum(s2, 0.0))
        right.append(g[:, None] * (A.conj().T @ U))  # Γ_i A_iᴴ U_i
    inv_denom = 1.0 / (noise_var + outer(spectra))
    if isinstance(test, (list, tuple)):
        first = outer([(xp.abs(T) ** 2) @ g for T, g in zip(test, gammas, strict=True)])
        second = mode_products([xp.abs(T @ R) ** 2 for T, R in zip(test, right, strict=True)],
                               inv_denom)
        return (first - second).reshape(-1) + noise_var
    first = (xp.abs(test) ** 2) @ outer(gammas).reshape(-1)
    tensor = test.reshape((test.shape[0],) + tuple(g.shape[0] for g in gammas))
    G = mode_products([R.T for R in right], tensor)  # (T Γ Aᴴ (⊗U))_rk as a tensor
    second = (xp.abs(G) ** 2 * inv_denom).reshape(test.shape[0], -1).sum(axis=1)
    return first - second + noise_var


def outer(vectors):
    """The tensor ``v_1 ∘ v_2 ∘ …`` (its C-order ravel is ``v_1 ⊗ v_2 ⊗ …``)."""
    out = vectors[0]
    for v in vectors[1:]:
        out = out[..., None] * v
    return out


def warn_if_noise_unidentified(dof: float, n_meas: int, n_feat: int) -> None:
    """Warn when the learned noise variance is not determined by the data.

    The fit uses ``dof = Σ_n (1 − Σ_nn/γ_n)`` effective parameters. A ``dof``-sparse
    vector is recoverable from ``M`` measurements only when ``M ≳ 2 dof log(N / dof)``
    (the ℓ1 / sparse-recovery phase transition at small sparsity, Donoho & Tanner 2009);
    beyond it, coefficients fit the noise and the marginal likelihood grows as ``σ² → 0``
    (measured: at 0 dB with N = 2M the cost of the fit is far below the cost at the true
    σ² and support), so the learned ``σ²`` is meaningless.
    """
    if n_feat <= dof or dof <= 0:
        return
    if n_meas < 2.0 * dof * math.log(n_feat / dof):
        warnings.warn(
            f"the learned noise variance is not identifiable: the posterior uses "
            f"{dof:.1f} effective coefficients, more than a sparse vector recoverable from "
            f"{n_meas} measurements of {n_feat} features (M < 2 dof log(N/dof)); the "
            "coefficients have probably absorbed the noise (low SNR?). Pass noise_var if "
            "it is known.", UserWarning, stacklevel=3)


class SBLRegressorMixin(SparseEstimatorMixin, RegressorMixin, BaseEstimator):
    """``predict``, tags and fitted-attribute layout shared by the SBL estimators.

    ``coef_`` has shape ``(n_features,)`` for 1-D ``y`` and ``(n_targets, n_features)`` for
    several measurement vectors, as in scikit-learn's linear models.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _set_coef(self, coef, one_d: bool) -> None:
        """Store the ``(N, L)`` posterior mean in scikit-learn's layout."""
        xp = array_namespace(coef)
        self.coef_ = coef[:, 0] if one_d else xp.ascontiguousarray(coef.T)

    def _validate_predict_X(self, X):
        return validate_xy(self, X, allow_complex=True, reset=False)

    def _set_intercept(self, intercept, one_d: bool) -> None:
        """``intercept_``: a float for 1-D ``y``, one per target otherwise (0 without)."""
        if not self.fit_intercept:
            self.intercept_ = 0.0
            return
        intercept = np.asarray(to_host(intercept)).reshape(-1)
        self.intercept_ = intercept.item() if one_d else intercept

    def predict(self, X, return_std: bool = False):
        """``X @ coef_ + intercept_``, and optionally the predictive standard deviation.

        Parameters
        ----------
        X : array of shape (M, n_features), or the operator used in ``fit``
        return_std : bool, default=False
            Also return ``sqrt(diag(X Σ Xᴴ) + σ²)``, the standard deviation of a new
            measurement under the posterior ``N(coef_, Σ)`` and the learned noise (as
            :class:`sklearn.linear_model.ARDRegression`).

        Returns
        -------
        y : array of shape (M,) or (M, n_targets)
        y_std : array of shape (M,) or (M, n_targets)
            Only with ``return_std=True``.
        """
        check_is_fitted(self, "coef_")
        X = self._validate_predict_X(X)
        mean = X @ self.coef_.T + self.intercept_
        if not return_std:
            return mean
        xp = array_namespace(mean)
        std = xp.sqrt(xp.maximum(xp.asarray(self._predictive_variance(X)).real, 0.0))
        return mean, (std if mean.ndim == 1 else xp.broadcast_to(std[:, None], mean.shape))
