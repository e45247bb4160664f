"""
Kronecker-structured sparse Bayesian learning: quick start
==========================================================

A sparse vector ``x`` with a *Kronecker-structured support* is measured through a
Kronecker-product dictionary, ``y = (A_1 ⊗ A_2) x + n``. :class:`sparserec.KroneckerSBL`
(He & Joseph, arXiv 2307.14719) models the prior variances as ``γ = γ_1 ⊗ γ_2`` and works
with the small factors only: it never forms ``A_1 ⊗ A_2``. Here it is compared with
classical SBL (:class:`sparserec.SparseBayesianLearning`), which needs the full matrix.
"""

# %%
# A problem with a Kronecker-structured support
# ---------------------------------------------
# Two Gaussian factors of 16 × 32 (M = 256 measurements, N = 1024 unknowns); 3 nonzero
# indices per factor, so 9 nonzeros in ``x``; 20 dB SNR.
import time

import numpy as np

from sparserec import KroneckerSBL, SparseBayesianLearning
from sparserec.datasets import make_kronecker_problem
from sparserec.metrics import nmse_db, support_f1
from sparserec.operators import Kronecker
from sparserec.plotting import plot_convergence, plot_stems

p = make_kronecker_problem([(16, 32), (16, 32)], 3, snr_db=20, separable=True,
                           random_state=1)
X = Kronecker(*p.factors)  # a matrix-free operator
print(f"M = {X.shape[0]}, N = {X.shape[1]}, true support {p.support.tolist()}")

# %%
# Fit the two variants and classical SBL
# --------------------------------------
# ``variant="am"`` updates ``γ_1, γ_2`` by alternating closed-form minimisation (the SBL
# cost decreases at every EM iteration, pruning aside); ``variant="svd"`` takes a rank-one
# approximation of the posterior second moments. Both learn the noise variance.
results, models = {}, {}
for name, model, design in [("KroSBL-AM", KroneckerSBL("am"), X),
                            ("KroSBL-SVD", KroneckerSBL("svd"), X),
                            ("classical SBL", SparseBayesianLearning(), X.todense())]:
    start = time.perf_counter()
    model.fit(design, p.y)
    seconds = time.perf_counter() - start
    models[name] = model
    found = np.flatnonzero(model.gamma_)
    print(f"{name:14s} NMSE {nmse_db(p.coef, model.coef_):6.1f} dB, support F1 "
          f"{support_f1(p.support, found):.2f}, {model.n_iter_:3d} iterations, "
          f"{seconds:.3f} s")

# %%
# The estimate
# ------------
# The learned factors ``γ_1`` and ``γ_2`` are nonzero exactly on the two factor supports.
print("γ_1 support:", np.flatnonzero(models["KroSBL-SVD"].gamma_factors_[0]).tolist(),
      " true:", p.factor_supports[0].tolist())
print("γ_2 support:", np.flatnonzero(models["KroSBL-SVD"].gamma_factors_[1]).tolist(),
      " true:", p.factor_supports[1].tolist())
fig = plot_stems(p.coef, models["KroSBL-SVD"].coef_, labels=("true", "KroSBL-SVD"),
                 title="x and its KroSBL-SVD estimate")

# %%
# Convergence
# -----------
# ``history_`` records the SBL cost (negative log marginal likelihood, up to constants)
# before each M-step. For the AM variant EM makes it decrease (pruning, which removes
# hyperparameters for good, could raise it).
fig = plot_convergence({name: m.history_ for name, m in models.items()},
                       ylabel="SBL cost", title="SBL cost per EM iteration")
