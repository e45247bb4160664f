"""``sparserec demo --family kronecker_sbl``: IRS-MIMO channel estimation (see sparserec.cli)."""

from __future__ import annotations

import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..metrics import nmse_db, support_f1
from ..operators import Kronecker
from ..sbl.classic import SparseBayesianLearning
from ..sbl.irs import cascaded_channels, make_irs_channel
from ..sbl.komp import kronecker_omp
from ..sbl.kronecker import KroneckerSBL
from ..utils.threads import blas_limits


def warm() -> None:
    """Call every timed method once on a tiny problem (numba compilation, first imports)."""
    op = Kronecker(np.eye(2), np.eye(3))
    y = np.arange(1.0, 7.0)
    with warnings.catch_warnings(), blas_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        KroneckerSBL("am", max_iter=2).fit(op, y)
        KroneckerSBL("svd", max_iter=2).fit(op, y)
        SparseBayesianLearning(max_iter=2).fit(op.todense(), y)
        kronecker_omp(op, y, 1)


def run(quick: bool = False, random_state: int = 0) -> dict:
    """Estimate one IRS-aided MIMO channel with KroSBL and its baselines."""
    size = ({"n_bs": 8, "n_irs": 32, "n_grid": 8, "n_pilots": 4} if quick else
            {"n_bs": 16, "n_irs": 64, "n_grid": (16, 8, 12), "n_pilots": 3})
    p = make_irs_channel(n_ms=4, n_patterns=8, n_paths=2, snr_db=15,
                         random_state=random_state, **size)
    op = Kronecker(*p.factors)
    dense = op.todense()
    methods = {
        "KroSBL-AM": lambda: KroneckerSBL("am").fit(op, p.y).coef_,
        "KroSBL-SVD": lambda: KroneckerSBL("svd").fit(op, p.y).coef_,
        "classical SBL": lambda: SparseBayesianLearning().fit(dense, p.y).coef_,
        "Kronecker OMP (true K)": lambda: kronecker_omp(
            op, p.y, [len(s) for s in p.factor_supports]),
    }
    rows, estimates = [], {}
    # small matrices: threaded BLAS only adds overhead (much of it on a busy machine)
    with warnings.catch_warnings(), blas_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, fit in methods.items():
            start = time.perf_counter()
            coef = fit()
            seconds = time.perf_counter() - start
            estimates[name] = coef
            support = np.abs(coef) > 1e-3 * np.abs(coef).max()
            rows.append({"method": name,
                         "channel NMSE (dB)": nmse_db(p.channels, cascaded_channels(p, coef)),
                         "support F1": support_f1(p.support, np.flatnonzero(support)),
                         "time (s)": seconds})
    m, n = op.shape
    return {
        "title": "Kronecker-structured sparse Bayesian learning (He & Joseph 2024): "
                 "IRS-aided MIMO uplink channel estimation",
        "data": f"generated IRS channel (make_irs_channel): {p.pilots.shape[0]} MS antennas, "
                f"{p.irs_phases.shape[1]} IRS elements, {p.bs_steering.shape[0]} BS antennas, "
                f"2 paths per link, SNR 15 dB; M = {m} measurements, N = {n} angular "
                f"coefficients ({p.support.size} nonzero); single-threaded BLAS",
        "rows": rows,
        "notes": [
            "Kronecker OMP is Caiafa & Cichocki's greedy N-way OMP, the greedy reference of "
            "He & Joseph's comparison, given the true number of indices per factor (an "
            "oracle). It picks one index per factor by correlation with the residual; here "
            f"the MS factor has {p.pilots.shape[1]} pilot rows for "
            f"{p.ms_steering.shape[1]} MS angles (underdetermined and coherent), and its "
            "picks go wrong: on the full demo's channel (3 pilots, 8 MS angles) it reached "
            "-0.5 to -6 dB channel NMSE (support F1 0 to 0.5) for seeds 0-3 and for 3 to 8 "
            "pilots (measured), while the SBL estimators, which weigh all factors jointly, "
            "recover the support.",
        ],
        "figure": {"kind": "stems", "truth": np.abs(p.coef),
                   "estimate": np.abs(estimates["KroSBL-AM"]),
                   "title": "angular-domain cascaded channel |x|: truth and KroSBL-AM",
                   "labels": ("true", "KroSBL-AM")},
    }
