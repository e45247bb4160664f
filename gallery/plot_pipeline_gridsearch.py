"""
sparserec estimators in scikit-learn pipelines and grid searches
================================================================

Every sparserec solver is a scikit-learn estimator, so it composes with
:class:`~sklearn.pipeline.Pipeline`, :class:`~sklearn.model_selection.GridSearchCV`,
:func:`~sklearn.base.clone` and the rest of scikit-learn. Here the Lasso penalty of
:class:`sparserec.BCDRegressor` (greedy block coordinate descent, GSL rule) is chosen by
5-fold cross-validation inside a pipeline that standardises the features, and the
result is checked against scikit-learn's own :class:`~sklearn.linear_model.LassoCV`,
which solves the same objective.
"""

# %%
# A sparse regression problem
# ---------------------------
# 200 samples, 500 correlated features (Toeplitz correlation 0.5), 10 of them active,
# 20 dB SNR. The features get different scales, which the pipeline's scaler undoes.
import time

import numpy as np
from sklearn.linear_model import LassoCV
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sparserec import BCDRegressor
from sparserec.datasets import make_sparse_regression
from sparserec.metrics import support_f1
from sparserec.plotting import plot_curves, plot_stems

problem = make_sparse_regression(200, 500, 10, correlation=0.5, snr_db=20, random_state=0)
scales = np.random.default_rng(0).uniform(0.5, 5.0, problem.X.shape[1])
X = problem.X * scales
X_train, X_test, y_train, y_test = train_test_split(X, problem.y, test_size=0.25,
                                                    random_state=0)

# %%
# Grid search over the penalty
# ----------------------------
# Parameters of a pipeline step are addressed as ``<step>__<parameter>``; GridSearchCV
# clones the pipeline for every fold and setting, so the estimator must follow
# scikit-learn's contract (it is checked by sparserec's test suite).
pipe = make_pipeline(StandardScaler(), BCDRegressor(alpha=0.1))
alphas = np.geomspace(0.3, 0.003, 12)
search = GridSearchCV(pipe, {"bcdregressor__alpha": alphas}, cv=5,
                      scoring="neg_mean_squared_error")
start = time.perf_counter()
search.fit(X_train, y_train)
seconds = time.perf_counter() - start
best = search.best_estimator_
model = best.named_steps["bcdregressor"]
found = np.flatnonzero(model.coef_)
print(f"best alpha {search.best_params_['bcdregressor__alpha']:.4f} "
      f"({len(alphas)} values x 5 folds in {seconds:.1f} s)")
print(f"test R^2 {best.score(X_test, y_test):.3f}, {found.size} nonzero coefficients, "
      f"support F1 {support_f1(problem.support, found):.2f}")

# %%
# The same with scikit-learn's LassoCV
# ------------------------------------
# Same folds, same alphas, same objective ``(1/2n)‖y − Xw − b‖² + α‖w‖₁``: the
# cross-validation curves should nearly coincide (LassoCV sits after a scaler fitted on
# all the training data, whereas GridSearchCV refits the whole pipeline on every fold).
reference = make_pipeline(StandardScaler(), LassoCV(alphas=alphas, cv=5)).fit(X_train,
                                                                               y_train)
lasso = reference.named_steps["lassocv"]
print(f"LassoCV: best alpha {lasso.alpha_:.4f}, test R^2 "
      f"{reference.score(X_test, y_test):.3f}")

# %%
# Cross-validation curves: mean validation error against the penalty.
mse_bcd = -search.cv_results_["mean_test_score"]
mse_lasso = lasso.mse_path_.mean(axis=1)
fig = plot_curves(alphas, {"GridSearchCV(BCDRegressor)": mse_bcd,
                           "LassoCV": (lasso.alphas_, mse_lasso)},
                  xlabel="alpha", ylabel="validation MSE", logx=True,
                  title="5-fold cross-validation")

# %%
# The selected model's coefficients against the truth, in the original feature units
# (the scaler divides each feature by its standard deviation, so ``coef_`` is rescaled).
coef = model.coef_ / best.named_steps["standardscaler"].scale_
fig = plot_stems(problem.coef / scales, coef, labels=("true", "BCDRegressor"),
                 title="Lasso coefficients chosen by GridSearchCV")
