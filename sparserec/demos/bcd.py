"""``sparserec demo`` for greedy block coordinate descent (see :mod:`sparserec.cli`).

Lasso on a correlated Gaussian design against scikit-learn's coordinate descent (and
skglm when installed), plus the paper's comparison of selection rules
(:func:`rules_experiment`, also drawn by ``gallery/plot_bcd_rules.py``).
"""

from __future__ import annotations

import time

import numpy as np

RULE_NAMES = ("random", "cyclic", "lipschitz", "gs", "gsd", "gsl")


def rules_experiment(partition: str = "variable", *, n_iter: int = 500, block_size: int = 5,
                     random_state: int = 0) -> dict:
    """Suboptimality after each iteration of every selection rule (paper, figure 4).

    Least squares whose columns have very different norms (so the Lipschitz constants
    ``L_i`` differ), gradient updates with ``1/L_b``, blocks of ``block_size``.

    Returns
    -------
    result : dict
        ``histories`` ({rule: objective per iteration}) and ``optimum`` (``f*``).

    Examples
    --------
    >>> from sparserec.demos.bcd import rules_experiment
    >>> res = rules_experiment(n_iter=20)
    >>> sorted(res["histories"]) == sorted(RULE_NAMES)
    True
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from ..bcd.estimators import BCDRegressor

    rng = np.random.RandomState(random_state)
    n, p = 300, 100
    X = rng.standard_normal((n, p)) * np.exp(rng.standard_normal(p) * 1.2)
    y = X @ rng.standard_normal(p) + rng.standard_normal(n)
    alpha = 1e-3
    w = np.linalg.solve(X.T @ X / n + alpha * np.eye(p), X.T @ y / n)
    optimum = float(np.sum((y - X @ w) ** 2) / (2 * n) + 0.5 * alpha * w @ w)
    histories = {}
    for rule in RULE_NAMES:
        est = BCDRegressor(penalty="l2", alpha=alpha, rule=rule, partition=partition,
                           update="gradient", block_size=block_size, fit_intercept=False,
                           max_iter=n_iter, tol=0.0, random_state=random_state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            histories[rule] = est.fit(X, y).history_
    return {"histories": histories, "optimum": optimum}


def _models(alpha: float) -> dict:
    import importlib.util

    from sklearn.linear_model import Lasso

    from ..bcd.estimators import BCDRegressor

    models = {"BCDRegressor (GSL, variable blocks, Newton)": BCDRegressor(alpha=alpha, tol=1e-6),
              "scikit-learn Lasso (cyclic CD)": Lasso(alpha=alpha, tol=1e-6, max_iter=100_000)}
    if importlib.util.find_spec("skglm") is not None:
        from skglm import Lasso as SkglmLasso

        models["skglm Lasso (working sets)"] = SkglmLasso(alpha=alpha, tol=1e-6)
    return models


def warm() -> None:
    """Call every timed method once on a tiny problem (numba compilation, first imports)."""
    import warnings

    from ..datasets import make_sparse_regression

    prob = make_sparse_regression(20, 30, 3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for model in _models(0.01).values():
            model.fit(prob.X, prob.y)
        rules_experiment(n_iter=2)


def run(quick: bool = False, random_state: int = 0) -> dict:
    """Lasso by greedy BCD vs scikit-learn (and skglm); rule comparison figure."""
    import warnings

    from ..datasets import make_sparse_regression
    from ..metrics import nmse_db, support_f1

    n, p, k = (200, 1000, 10) if quick else (500, 5000, 50)
    prob = make_sparse_regression(n, p, k, correlation=0.6, snr_db=20, random_state=random_state)
    X, y = prob.X, prob.y
    alpha = float(np.abs((X - X.mean(0)).T @ (y - y.mean())).max() / n) / 20
    rows = []
    for name, model in _models(alpha).items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y)
        elapsed = time.perf_counter() - start
        w, b = model.coef_, model.intercept_
        r = y - X @ w - b
        rows.append({"method": name,
                     "objective": float(r @ r / (2 * n) + alpha * np.abs(w).sum()),
                     "NMSE (dB)": nmse_db(prob.coef, w),
                     "support F1": support_f1(prob.support, w, n=p),
                     "time (s)": elapsed})
    exp = rules_experiment(n_iter=100 if quick else 500, random_state=random_state)
    return {
        "title": "Greedy block coordinate descent (Nutini, Laradji & Schmidt 2022): Lasso",
        "data": f"correlated Gaussian design {n}x{p} (rho=0.6), {k} non-zeros, 20 dB SNR; "
                "alpha = alpha_max/20",
        "rows": rows,
        "figure": {"kind": "convergence", "histories": exp["histories"],
                   "optimum": exp["optimum"],
                   "title": "selection rules, variable blocks of 5, gradient updates"},
    }
