"""Self-calibration (Ling & Strohmer) benchmark: speed, accuracy, phase transitions.

Run ``python benchmarks/bench_selfcal.py`` (full) or ``--quick`` (a smoke run under 60 s).
``--threads N`` limits BLAS threads (default: the library's own setting; 1 with ``--quick``).
On a machine shared with other jobs, multithreaded BLAS can be 10-100x slower on small
products than one thread: compare timings taken with the same ``--threads``.

1. Target problem (model 1, m = 4096, n = 256, p = 8, real, noiseless): matrix-free least
   squares (LSQR, LSMR), the spectral method (LOBPCG), and alternating least squares (ALS)
   on the bilinear problem, timed to the same error. Also LSQR without the column
   equilibration, to show what the preconditioner buys.
2. Time versus problem size: matrix-free LSQR / LOBPCG against dense ``lstsq`` / SVD of the
   stacked matrix, and ALS.
3. Phase transitions (the paper's experiment): empirical recovery rate over (m, p) for the
   three models, both methods, with the counting bound.
4. Stability: relative error versus SNR, and the fitted slope of log(error) on log(noise).
5. Refinement: the linear solution, SelfCalibration's refined solution (ALS sweeps, then
   Gauss-Newton steps at high SNR, from the linear start) and ALS from d = 1, side by
   side at 10, 20, 30 dB and noiseless, for the four models (``subspace``:
   y = diag(B h) A x, Ling & Strohmer 2015, by lifting); and
   the target size at 20 dB, timed to the same error.

All methods run in this one process, one after another; times are wall-clock medians.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
from scipy.sparse.linalg import LinearOperator, lsqr
from threadpoolctl import threadpool_info, threadpool_limits

from sparserec import SelfCalibration
from sparserec.datasets import make_selfcal_problem
from sparserec.demos.selfcal_applications import error_vs_snr, phase_transition
from sparserec.metrics import relative_error_up_to_scale
from sparserec.selfcal import alternating_least_squares, make_model
from sparserec.utils.table import format_table


def timed(fn, repeat=3):
    """Median wall time of ``fn()`` over ``repeat`` runs, and its last result."""
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


def joint_error(prob, d, x):
    return max(relative_error_up_to_scale(prob.calibration, d),
               relative_error_up_to_scale(prob.signal, x))


class _Reached(Exception):
    """Stops ALS once the target error is met."""


def als_time_to(prob, target, max_iter=200):
    """ALS wall time until its error reaches ``target`` (error evaluation excluded).

    Returns ``{"seconds", "sweeps", "error", "reached"}``.
    """
    state = {"seconds": 0.0, "sweeps": 0, "error": np.inf, "reached": False,
             "mark": time.perf_counter()}

    def callback(it, d, x):
        state["seconds"] += time.perf_counter() - state["mark"]
        state["sweeps"], state["error"] = it, joint_error(prob, d, x)
        if state["error"] <= target:
            state["reached"] = True
            raise _Reached
        state["mark"] = time.perf_counter()

    state["mark"] = time.perf_counter()
    try:
        alternating_least_squares(prob.A, prob.y, prob.model, max_iter=max_iter, tol=0.0,
                                  callback=callback)
    except _Reached:
        pass
    return state


def lsqr_without_equilibration(prob, tol):
    """Plain LSQR on [A_0; e_1*] (no column scaling): iterations and time."""
    model = make_model(prob.model, prob.A, prob.y)
    op = model.operator()
    rows, cols = op.shape
    aug = LinearOperator(
        (rows + 1, cols), dtype=op.dtype,
        matvec=lambda z: np.concatenate([op.matvec(z), z[:1]]),
        rmatvec=lambda r: op.rmatvec(r[:rows]) + np.concatenate([r[rows:], np.zeros(cols - 1)]))
    b = np.zeros(rows + 1)
    b[-1] = 1.0
    start = time.perf_counter()
    out = lsqr(aug, b, atol=tol, btol=tol, iter_lim=20000)
    seconds = time.perf_counter() - start
    h, x = model.split(out[0])
    return seconds, int(out[2]), joint_error(prob, 1 / h, x)


# --------------------------------------------------------------------------- sections
def target(quick):
    m, n, p = (1024, 64, 8) if quick else (4096, 256, 8)
    print(f"\n== 1. Target: model 1 (repeated), m = {m}, n = {n}, p = {p}, real, noiseless ==")
    prob = make_selfcal_problem("repeated", m, n, p, random_state=0)
    SelfCalibration().fit(prob.A, prob.y)  # warm-up (imports, first-touch)
    rows = []
    ref = None
    for label, params in [("SelfCalibration lsq (LSQR)", {"solver": "lsqr"}),
                          ("SelfCalibration lsq (LSMR)", {"solver": "lsmr"}),
                          ("SelfCalibration spectral (LOBPCG)",
                           {"method": "spectral", "solver": "lobpcg", "random_state": 0})]:
        sec, est = timed(lambda params=params: SelfCalibration(**params).fit(prob.A, prob.y))
        err = joint_error(prob, est.calibration_, est.signal_)
        rows.append({"method": label, "time (s)": sec, "iterations": est.n_iter_,
                     "rel. error": err})
        ref = ref or (sec, err)
    sec, it, err = lsqr_without_equilibration(prob, 1e-10)
    rows.append({"method": "LSQR, no column equilibration", "time (s)": sec,
                 "iterations": it, "rel. error": err})
    for goal in (ref[1], 1e-8):
        als = als_time_to(prob, goal)
        label = f"ALS to error ≤ {goal:.1e}" if als["reached"] else \
            f"ALS (not ≤ {goal:.1e} in 200 sweeps)"
        rows.append({"method": label, "time (s)": als["seconds"], "iterations": als["sweeps"],
                     "rel. error": als["error"]})
    als_sec = rows[-2]["time (s)"]
    for r in rows:
        r["time / LSQR"] = r["time (s)"] / ref[0]
    columns = ["method", "time (s)", "time / LSQR", "iterations", "rel. error"]
    print(format_table(rows, columns, indent=2) + "\n", flush=True)
    verdict = "" if quick else " (issue targets: < 2 s, < 1e-8, >= 5x)"
    print(f"  LSQR {ref[0]:.2f} s to error {ref[1]:.1e}; ALS / LSQR to the same error = "
          f"{als_sec / ref[0]:.1f}x{verdict}")


def scaling(quick):
    sizes = [256, 512, 1024] if quick else [256, 512, 1024, 2048, 4096]
    dense_max = 512 if quick else 2048
    print("\n== 2. Time versus size: model 1, n = m/16, p = 8, real, noiseless ==")
    rows = []
    for m in sizes:
        prob = make_selfcal_problem("repeated", m, m // 16, 8, random_state=1)
        row = {"m": m, "unknowns": m + m // 16}
        runs = [("LSQR", "lsq", "lsqr"), ("LOBPCG", "spectral", "lobpcg")]
        if m <= dense_max:
            runs += [("dense lstsq", "lsq", "dense"), ("dense SVD", "spectral", "dense")]
        for label, method, solver in runs:
            sec, est = timed(lambda method=method, solver=solver, prob=prob: SelfCalibration(
                method=method, solver=solver, random_state=0).fit(prob.A, prob.y),
                repeat=1 if solver == "dense" else 3)
            row[f"{label} (s)"] = sec
            row[f"{label} err"] = joint_error(prob, est.calibration_, est.signal_)
        sec, res = timed(lambda prob=prob: alternating_least_squares(
            prob.A, prob.y, "repeated", max_iter=200, tol=1e-12), repeat=1)
        row["ALS (s)"], row["ALS err"] = sec, joint_error(prob, res.calibration, res.signal)
        if "dense lstsq (s)" in row:
            row["dense/LSQR"] = row["dense lstsq (s)"] / row["LSQR (s)"]
        row["ALS/LSQR"] = row["ALS (s)"] / row["LSQR (s)"]
        rows.append(row)
    columns = ["m", "unknowns", "LSQR (s)", "LSQR err", "LOBPCG (s)", "dense lstsq (s)",
               "dense SVD (s)", "ALS (s)", "ALS err", "dense/LSQR", "ALS/LSQR"]
    print(format_table(rows, columns, indent=2) + "\n", flush=True)


def transitions(quick):
    trials = 3 if quick else 10
    print(f"\n== 3. Phase transitions: recovery rate over (m, p), noiseless, {trials} "
          "trials per cell ==")
    grids = {
        "repeated": (32, [4, 6, 8, 12, 16, 24, 32, 48], list(range(1, 11)),
                     lambda m, n: 1 + (n - 1) / m),
        "diverse": (8, [9, 10, 12, 16, 24], list(range(1, 9)),
                    lambda m, n: (m - 1) / (m - n)),
        "snapshots": (8, [9, 10, 12, 16, 24], list(range(1, 9)),
                      lambda m, n: (m - 1) / (m - n)),
    }
    if quick:
        grids = {"repeated": grids["repeated"]}
    for model, (n, ms, ps, bound) in grids.items():
        for method in ("lsq", "spectral"):
            rate = phase_transition(model, n, ms, ps, method=method, n_trials=trials,
                                    random_state=0)
            print(f"\n  {model}, n = {n}, method = {method}  (rows p, columns m; "
                  "* marks the cells below the counting bound)")
            print("    p\\m " + "".join(f"{m:>6d}" for m in ms))
            for i, p in enumerate(ps):
                cells = "".join(f"{rate[i, j]:>5.1f}{'*' if p < bound(m, n) else ' '}"
                                for j, m in enumerate(ms))
                print(f"    {p:>3d} " + cells)
            above = [rate[i, j] for i, p in enumerate(ps) for j, m in enumerate(ms)
                     if p >= bound(m, n)]
            below = [rate[i, j] for i, p in enumerate(ps) for j, m in enumerate(ms)
                     if p < bound(m, n)]
            print(f"    mean success: {np.mean(above):.3f} at or above the bound, "
                  f"{np.mean(below):.3f} below")


def stability(quick):
    m, n, p = (128, 16, 4)
    snrs = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0])
    trials = 2 if quick else 10
    print(f"\n== 4. Stability: model 1, m = {m}, n = {n}, p = {p}, complex, {trials} trials ==")
    res = error_vs_snr("repeated", m, n, p, snrs, methods=("lsq", "spectral", "als"),
                       n_trials=trials, is_complex=True, random_state=0,
                       params={"als": {"max_iter": 300}})
    rows = [{"SNR (dB)": float(s), "lsq": res["lsq"][k], "spectral": res["spectral"][k],
             "ALS": res["als"][k]} for k, s in enumerate(snrs)]
    print(format_table(rows, ["SNR (dB)", "lsq", "spectral", "ALS"], indent=2) + "\n", flush=True)
    sigma = 10 ** (-snrs[2:] / 20)
    for name in ("lsq", "spectral", "als"):
        slope = np.polyfit(np.log10(sigma), np.log10(res[name][2:]), 1)[0]
        print(f"  {name:8s} slope of log(error) on log(noise), 30-60 dB: {slope:.3f}; "
              f"mean time per fit {res['time'][name] * 1e3:.1f} ms")


def refinement(quick):
    """The linear solution, the refined one (SelfCalibration's default) and ALS by SNR."""
    cases = {"repeated": (64, 16, 4, None), "diverse": (64, 12, 8, None),
             "snapshots": (64, 12, 8, None), "subspace": (128, 12, 1, 6)}
    trials = 2 if quick else 10
    print(f"\n== 5. Refinement vs ALS by SNR: complex, {trials} trials, joint error "
          "max(err d, err x), medians; 'worst ratio' = max over trials of refined / ALS ==")
    rows = []
    for name, (m, n, p, k) in cases.items():
        for snr in (10, 20, 30, None):
            err = {"linear": [], "refined": [], "ALS": []}
            sec = {key: [] for key in err}
            steps = []
            for seed in range(trials):
                prob = make_selfcal_problem(name, m, n, p, k=k, snr_db=snr, is_complex=True,
                                            random_state=seed)
                extra = {"B": prob.B} if name == "subspace" else {}
                for key, refine in (("linear", 0), ("refined", 100)):
                    def fit(refine=refine, extra=extra, prob=prob, name=name):
                        return SelfCalibration(model=name, refine_iter=refine).fit(
                            prob.A, prob.y, **extra)

                    t, est = timed(fit, repeat=1)
                    sec[key].append(t)
                    err[key].append(joint_error(prob, est.calibration_, est.signal_))
                steps.append(len(est.refinement_history_))
                t, res = timed(lambda extra=extra, prob=prob, name=name: alternating_least_squares(
                    prob.A, prob.y, name, max_iter=300, **extra), repeat=1)
                sec["ALS"].append(t)
                err["ALS"].append(joint_error(prob, res.calibration, res.signal))
            rows.append({
                "model": name, "SNR (dB)": "inf" if snr is None else snr,
                "linear err": np.median(err["linear"]), "refined err": np.median(err["refined"]),
                "ALS err": np.median(err["ALS"]),
                "worst ratio": max(np.array(err["refined"]) / np.array(err["ALS"])),
                "refine its": np.median(steps), "refined ms": 1e3 * np.median(sec["refined"]),
                "linear ms": 1e3 * np.median(sec["linear"]), "ALS ms": 1e3 * np.median(sec["ALS"])})
    columns = ["model", "SNR (dB)", "linear err", "refined err", "ALS err", "worst ratio",
               "refine its", "linear ms", "refined ms", "ALS ms"]
    print(format_table(rows, columns, indent=2) + "\n", flush=True)
    m, n, p = (1024, 64, 8) if quick else (4096, 256, 8)
    prob = make_selfcal_problem("repeated", m, n, p, snr_db=20, random_state=0)
    t_ref, est = timed(lambda: SelfCalibration().fit(prob.A, prob.y), repeat=1)
    goal = joint_error(prob, est.calibration_, est.signal_)
    als = als_time_to(prob, goal * (1 + 1e-6), max_iter=300)
    print(f"  target size m = {m}, n = {n}, p = {p}, 20 dB: refined SelfCalibration "
          f"{t_ref:.2f} s ({len(est.refinement_history_)} refinement iterations) to error "
          f"{goal:.3e}; ALS "
          f"{als['seconds']:.2f} s ({als['sweeps']} sweeps) to error {als['error']:.3e}; "
          f"ALS / SelfCalibration = {als['seconds'] / t_ref:.1f}x", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under 60 s")
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS threads (default: the library's setting; 1 with --quick, "
                             "so that the smoke run stays short on a shared machine)")
    args = parser.parse_args(argv)
    if args.threads is None and args.quick:
        args.threads = 1
    blas = [f"{i['internal_api']} {i['num_threads']} threads" for i in threadpool_info()]
    print(f"sparserec self-calibration benchmark ({'quick' if args.quick else 'full'}); "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; BLAS: "
          f"{', '.join(blas)}" + (f"; limited to {args.threads}" if args.threads else ""))
    start = time.perf_counter()
    with threadpool_limits(args.threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        target(args.quick)
        scaling(args.quick)
        transitions(args.quick)
        stability(args.quick)
        refinement(args.quick)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
