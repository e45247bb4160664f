"""``sparserec demo`` entry for the sparse Walsh–Hadamard transform (SPRIGHT)."""

from __future__ import annotations

import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..datasets import make_sparse_walsh
from ..metrics import nmse_db, support_f1
from ..wht.fwht import fwht
from ..wht.spright import SparseWHT


def _on_union(support_true, coef_true, support_est, coef_est):
    """Both spectra on the union of their supports (sorted), as dense vectors."""
    union = np.union1d(support_true, support_est)
    truth, est = np.zeros(union.size), np.zeros(union.size)
    truth[np.searchsorted(union, support_true)] = coef_true
    est[np.searchsorted(union, support_est)] = coef_est
    return truth, est


def _best_time(fn, repeats: int = 3) -> float:
    """Best wall time of ``fn()`` over ``repeats`` calls (a few milliseconds each)."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def warm() -> None:
    """Call every timed method once on a small signal (numba compilation, BCH tables)."""
    prob = make_sparse_walsh(10, 4, snr_db=10, values="sign", as_callable=False,
                             random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for design in ("coded", "noiseless"):
            SparseWHT(sparsity=4, design=design, random_state=0).fit(prob.signal)
    for backend in ("numba", "numpy"):
        fwht(prob.signal, backend=backend)


def run(quick: bool = False, random_state: int = 0) -> dict:
    """Recover a K-sparse Walsh spectrum at 10 dB SNR from a fraction of the samples.

    Signal of length ``N = 2**16`` (quick) or ``2**22`` with ``K = 50`` or ``100``
    coefficients ``±1`` and white noise at 10 dB SNR (:func:`~sparserec.datasets.
    make_sparse_walsh`). Rows: SPRIGHT's coded design, the noiseless design (SparseFHT's
    delays, in noise), and the dense FWHT of all ``N`` samples keeping the ``K`` largest
    coefficients (numba and numpy backends).
    """
    n_bits, K = (16, 50) if quick else (22, 100)
    N = 2**n_bits
    prob = make_sparse_walsh(n_bits, K, snr_db=10, values="sign", as_callable=False,
                             random_state=random_state)
    rows, estimates = [], {}

    def record(name, support, coef, samples, seconds):
        truth, est = _on_union(prob.support, prob.coef, support, coef)
        rows.append({"method": name, "support F1": support_f1(prob.support, support),
                     "NMSE (dB)": nmse_db(truth, est), "samples (% of N)": 100 * samples / N,
                     "time (s)": seconds})
        estimates[name] = (truth, est)

    for design, label in (("coded", "SparseWHT (SPRIGHT, coded)"),
                          ("noiseless", "SparseWHT (SparseFHT delays)")):
        est = SparseWHT(sparsity=K, design=design, random_state=random_state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            seconds = _best_time(lambda est=est: est.fit(prob.signal))
        record(label, est.support_, est.coef_, est.n_samples_used_, seconds)
    for backend in ("numba", "numpy"):
        def dense(backend=backend):
            spectrum = fwht(prob.signal, backend=backend) / N
            return np.sort(np.argpartition(np.abs(spectrum), N - K)[N - K:]), spectrum

        seconds = _best_time(dense)
        top, spectrum = dense()
        record(f"dense FWHT ({backend}) + top K", top.astype(np.uint64), spectrum[top], N,
               seconds)
    truth, est = estimates["SparseWHT (SPRIGHT, coded)"]
    return {
        "title": "Sparse Walsh-Hadamard transform (SPRIGHT): K-sparse spectrum from few samples",
        "data": f"make_sparse_walsh: N = 2**{n_bits}, K = {K} coefficients ±1, 10 dB SNR",
        "rows": rows,
        "figure": {"kind": "stems", "truth": truth, "estimate": est,
                   "title": "SPRIGHT (coded): Walsh coefficients on the union of supports",
                   "labels": ("true X[k]", "SparseWHT coef_")},
    }
