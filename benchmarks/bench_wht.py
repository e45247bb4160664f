"""Walsh–Hadamard benchmark: dense FWHT throughput, SPRIGHT scaling, phase transition.

Run ``python benchmarks/bench_wht.py`` (full) or ``--quick`` (a smoke run under 60 s);
``--part a`` (or ``b``, ``c``, ``d``) runs one part only.

(a) Dense FWHT of one float64 vector of N = 2**n points, in one process: the copy of the
    array into a preallocated one (``np.copyto``: the memory-bandwidth reference, one read
    and one write of every value), :func:`sparserec.wht.fwht` with the numba backend in
    place (``out=x``) and out of place (a new array), the numpy backend (vectorised
    butterflies, out of place) and, when importable, ``fht_cpu`` (PyPI ``fht-cpu``, SIMD C,
    in place; install it with ``pip install --target /work/extra/wht fht-cpu``; its folder
    is searched after the environment's own packages). CuPy rows are added when a GPU
    backend is available (``fwht(..., backend="cupy")`` on a device array, synchronised).
    Times are the best of several runs (wall clock); ``x copy`` is time / copy time.
(b) SPRIGHT (:class:`sparserec.SparseWHT`, coded design) on K = 100 coefficients of
    magnitude 1 at SNR 10 dB, versus N: samples read, samples / (K log2 N) (flat for
    O(K log N) samples), fit time, time / (K log2² N), exact support, and the numba dense
    FWHT of the whole vector where the vector fits in memory (2**12..2**24, as arrays);
    larger N (2**28..2**40) through a callable (the signal never exists). At N = 2**24 all
    three delay designs are compared.
(c) Success probability (exact support) versus samples and SNR, n = 20 (a callable),
    K = 20: the noiseless design (SparseFHT's n + 1 delays, in noise), the coded design
    with 31..255 delays and the random design with 1..9 chains (the paper's phase
    transition figure).

(d) Spectra denser than ``sparsity`` (issues 21/22): the noiseless design with
    ``sparsity=10`` on K = 10 .. 2**20 coefficients, n = 20: how often the fixed-``b``
    fit reports ``converged_=False`` (it must, for K far above 10), and ``adaptive=True``:
    exact recovery, samples read (all attempts) and time, against the dense FWHT.

The machine is shared (2 cores, other jobs running): timings are noisy; compare ratios
taken within one run.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings

import numba
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sparserec import SparseWHT
from sparserec.backend import backend_status
from sparserec.datasets import make_sparse_walsh
from sparserec.utils.table import format_table
from sparserec.wht import fwht

FHT_CPU_PATH = "/work/extra/wht"


def best_time(run, reps, setup=None):
    """Best wall time of ``run()`` over ``reps`` calls (``setup()`` untimed before each)."""
    best = math.inf
    for _ in range(reps):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return best


def _fht_cpu():
    if FHT_CPU_PATH not in sys.path:
        sys.path.append(FHT_CPU_PATH)  # after the environment: its own numpy is ignored
    try:
        import fht_cpu
    except ImportError:
        return None
    return fht_cpu


def _cupy_rows(x, reps):
    """CuPy timing hook (GPU phase): fwht on a device array, synchronised."""
    if not backend_status()["cupy"][0]:
        return {}
    import cupy

    xd = cupy.asarray(x)
    fwht(xd, backend="cupy")
    cupy.cuda.Device().synchronize()

    def run():
        fwht(xd, backend="cupy")
        cupy.cuda.Device().synchronize()

    return {"cupy (ms)": 1e3 * best_time(run, reps)}


# ----------------------------------------------------------------------------- (a)
def _dense_row(n, x, reps, fht_cpu):
    y = np.empty_like(x)

    def reset():
        np.copyto(y, x)

    fwht(y[:1024], out=y[:1024])  # compile / load the numba kernels
    fwht(x[:2**16])
    copy = best_time(reset, reps)
    row = {"n": n, "N": 2**n, "copy (ms)": 1e3 * copy}
    threads = numba.get_num_threads()
    try:
        for k in (1, 2):  # the thread counts of the figures (benchmark only)
            numba.set_num_threads(min(k, numba.config.NUMBA_NUM_THREADS))
            fwht(y[:2**21], out=y[:2**21])  # compile the parallel twins
            t = best_time(lambda: fwht(y, out=y), reps, reset)
            row[f"{k} thread (ms)"] = 1e3 * t
            row[f"{k} thread x copy"] = t / copy
        numba.set_num_threads(threads)
        inplace = best_time(lambda: fwht(y, out=y), reps, reset)
        outplace = best_time(lambda: fwht(x), reps)
    finally:
        numba.set_num_threads(threads)
    row.update({"numba in-place (ms)": 1e3 * inplace, "x copy": inplace / copy,
                "GB/s": 2 * 8 * 2**n / inplace / 1e9, "numba new array (ms)": 1e3 * outplace,
                "2 / 1 thread": row["2 thread (ms)"] / row["1 thread (ms)"]})
    if n <= 24:
        row["numpy (ms)"] = 1e3 * best_time(lambda: fwht(x, backend="numpy"),
                                            max(1, reps // 2))
        row["numpy / numba"] = row["numpy (ms)"] / row["numba in-place (ms)"]
    if fht_cpu is not None:
        t = best_time(lambda: fht_cpu.fht_1d_f64(y), reps, reset)
        row["fht-cpu (ms)"] = 1e3 * t
        row["fht-cpu x copy"] = t / copy
        row["numba / fht-cpu"] = inplace / t
        row["1 thread / fht-cpu"] = row["1 thread (ms)"] / row["fht-cpu (ms)"]
    row.update(_cupy_rows(x, reps))
    return row


def dense_throughput(exponents, reps):
    fht_cpu = _fht_cpu()
    rng = np.random.default_rng(0)
    rows = [_dense_row(n, rng.standard_normal(2**n), max(3, reps if n <= 22 else reps // 2),
                       fht_cpu) for n in exponents]
    columns = ["n", "copy (ms)", "1 thread (ms)", "1 thread x copy", "2 thread (ms)",
               "2 thread x copy", "2 / 1 thread", "numba in-place (ms)", "x copy", "GB/s",
               "numba new array (ms)", "numpy (ms)", "numpy / numba"]
    if fht_cpu is not None:
        columns += ["fht-cpu (ms)", "fht-cpu x copy", "1 thread / fht-cpu", "numba / fht-cpu"]
    else:
        print("  (fht_cpu not importable: pip install --target /work/extra/wht fht-cpu)")
    if any("cupy (ms)" in r for r in rows):
        columns.append("cupy (ms)")
    print(f"(a) dense FWHT of one float64 vector in place (best wall time; copy = np.copyto; "
          f"numba with 1 and 2 threads, and with its default {numba.get_num_threads()}, "
          "threads from 2**21 values)")
    print(format_table(rows, columns, indent=2) + "\n", flush=True)
    x = rng.standard_normal(2**24).astype(np.float32)
    y = np.empty_like(x)
    copy32 = best_time(lambda: np.copyto(y, x), 3)
    t32 = best_time(lambda: fwht(y, out=y), 3, lambda: np.copyto(y, x))
    print(f"  float32, n = 24: copy {1e3 * copy32:.1f} ms, numba in-place {1e3 * t32:.1f} ms "
          f"({t32 / copy32:.2f} x copy)\n")
    return rows


# ----------------------------------------------------------------------------- (b)
def _signal_array(n_bits, K, snr_db, seed):
    """A make_sparse_walsh problem materialised with the numba FWHT (fast for 2**24)."""
    p = make_sparse_walsh(n_bits, K, snr_db=snr_db, values="sign", as_callable=True,
                          random_state=seed)
    spectrum = np.zeros(2**n_bits)
    spectrum[p.support.astype(np.intp)] = p.coef
    x = fwht(spectrum, out=spectrum)
    x += np.sqrt(p.noise_var) * np.random.default_rng(seed).standard_normal(x.size)
    return p, x


def _fit(design, K, signal, n_bits, seed):
    est = SparseWHT(sparsity=K, design=design, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        est.fit(signal, n_bits=n_bits)
        return est, time.perf_counter() - t0


def spright_scaling(array_bits, callable_bits, K, snr_db, reps):
    rows = []
    for n in array_bits + callable_bits:
        as_array = n in array_bits
        if as_array:
            p, x = _signal_array(n, K, snr_db, seed=n)
        else:
            p = make_sparse_walsh(n, K, snr_db=snr_db, values="sign", random_state=n)
            x = p.signal
        designs = ("coded", "random", "noiseless") if n == 24 else ("coded",)
        for design in designs:
            _fit(design, K, x, n, 0)  # warm-up (numba, BCH tables)
            fits = [_fit(design, K, x, n, seed) for seed in range(reps)]
            est, seconds = fits[0][0], min(t for _, t in fits)
            exact = np.mean([e.support_.size == K and np.array_equal(e.support_, p.support)
                             for e, _ in fits])
            row = {"n": n, "design": design, "input": "array" if as_array else "callable",
                   "samples": est.n_samples_used_, "% of N": 100 * est.n_samples_used_ / 2**n,
                   "samples/(K n)": est.n_samples_used_ / (K * n),
                   "time (ms)": 1e3 * seconds, "us/(K n^2)": 1e6 * seconds / (K * n * n),
                   "rounds": est.n_iter_, "exact support": exact}
            if as_array:
                y = np.empty_like(x)
                dense = best_time(lambda y=y: fwht(y, out=y), max(2, reps),
                                  lambda y=y, x=x: np.copyto(y, x))
                row["dense numba (ms)"] = 1e3 * dense
                row["dense / SPRIGHT"] = dense / seconds
            rows.append(row)
    print(f"(b) SPRIGHT, K = {K}, |X[k]| = 1, SNR {snr_db} dB (best of {reps} fits; exact "
          "support = fraction of fits)")
    columns = ["n", "design", "input", "samples", "% of N", "samples/(K n)", "time (ms)",
               "us/(K n^2)", "rounds", "exact support", "dense numba (ms)", "dense / SPRIGHT"]
    print(format_table(rows, columns, indent=2) + "\n", flush=True)
    return rows


# ----------------------------------------------------------------------------- (c)
def phase_transition(n_bits, K, snrs, trials):
    configs = [("noiseless", n_bits + 1)]  # SparseFHT's delays, in noise
    configs += [("coded", P) for P in (31, 63, 127, 255)]
    configs += [("random", q * (n_bits + 1)) for q in (1, 3, 5, 9)]  # odd: no tied votes
    rows = []
    for design, n_delays in configs:
        row = {"design": design, "delays": n_delays}
        for snr in snrs:
            ok = 0
            for seed in range(trials):
                p = make_sparse_walsh(n_bits, K, snr_db=snr, values="sign", as_callable=True,
                                      random_state=seed)
                est = SparseWHT(sparsity=K, design=design, n_delays=n_delays,
                                random_state=seed)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    est.fit(p.signal, n_bits=n_bits)
                ok += est.support_.size == K and np.array_equal(est.support_, p.support)
            row[f"{snr:g} dB"] = ok / trials
        row["samples"] = est.n_samples_used_
        row["% of N"] = 100 * est.n_samples_used_ / 2**n_bits
        rows.append(row)
    print(f"(c) P(exact support), n = {n_bits} (callable), K = {K}, |X[k]| = 1, {trials} "
          "trials per cell")
    columns = ["design", "delays", "samples", "% of N"] + [f"{s:g} dB" for s in snrs]
    print(format_table(rows, columns, indent=2) + "\n", flush=True)
    return rows


# ----------------------------------------------------------------------------- (d)
def dense_spectra(n_bits, sparsity, n_nonzeros, seeds):
    """SPRIGHT's stop rule on spectra denser than ``sparsity`` (issues 21/22)."""
    rows = []
    for K in n_nonzeros:
        flagged = exact_fixed = exact_adaptive = 0
        samples, t_adaptive, t_dense = [], [], []
        for seed in seeds:
            p = make_sparse_walsh(n_bits, K, random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                fixed = SparseWHT(sparsity=sparsity, design="noiseless",
                                  random_state=seed).fit(p.signal)
                t0 = time.perf_counter()
                adaptive = SparseWHT(sparsity=sparsity, design="noiseless", adaptive=True,
                                     random_state=seed).fit(p.signal)
                t_adaptive.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            fwht(p.signal)
            t_dense.append(time.perf_counter() - t0)
            flagged += not fixed.converged_
            exact_fixed += np.array_equal(fixed.support_, p.support)
            exact_adaptive += adaptive.converged_ and np.array_equal(adaptive.support_,
                                                                     p.support)
            samples.append(adaptive.n_samples_used_)
        rows.append({"K": K, "sparsity": sparsity,
                     "fixed b: not converged": flagged / len(seeds),
                     "fixed b: exact": exact_fixed / len(seeds),
                     "adaptive: exact": exact_adaptive / len(seeds),
                     "adaptive samples": float(np.median(samples)),
                     "% of N": 100 * float(np.median(samples)) / 2**n_bits,
                     "adaptive (ms)": 1e3 * float(np.median(t_adaptive)),
                     "dense numba (ms)": 1e3 * float(np.median(t_dense))})
    print(f"(d) spectra denser than sparsity = {sparsity}, noiseless design, n = {n_bits}, "
          f"{len(seeds)} seeds (fraction of seeds; the fixed-b fit must report "
          "converged_=False; adaptive=True grows b until peeling resolves)")
    columns = ["K", "sparsity", "fixed b: not converged", "fixed b: exact",
               "adaptive: exact", "adaptive samples", "% of N", "adaptive (ms)",
               "dense numba (ms)"]
    print(format_table(rows, columns, indent=2) + "\n", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run under 60 s")
    parser.add_argument("--part", choices=["a", "b", "c", "d"], action="append",
                        help="run only these parts (repeatable)")
    args = parser.parse_args(argv)
    parts = set(args.part or "abcd")
    quick = args.quick
    if "a" in parts:
        dense_throughput(range(10, 23, 4) if quick else range(10, 27, 2), 3 if quick else 7)
    if "b" in parts:
        if quick:
            spright_scaling([12, 16, 20], [32], K=100, snr_db=10, reps=2)
        else:
            spright_scaling([12, 16, 20, 22, 24], [28, 32, 36, 40], K=100, snr_db=10, reps=5)
    if "c" in parts:
        if quick:
            phase_transition(16, 20, [0, 10], trials=3)
        else:
            phase_transition(20, 20, [-7.5, -5, -2.5, 0, 2.5, 5, 10], trials=20)
    if "d" in parts:
        if quick:
            dense_spectra(16, 10, [100, 1000], range(3))
        else:
            dense_spectra(20, 10, [10, 100, 1000, 4000, 2**20], range(10))


if __name__ == "__main__":
    main()
