"""Fit time on a quiet and on a loaded machine, with default threads and with ``n_threads=1``.

Run ``python benchmarks/bench_threads.py`` (about a minute on an idle 2-core machine,
several on a busy one).

Two representative fits: a 256 x 256 :class:`~sparserec.WaveletDeconvolution` (numba
parallel kernels and FFTs, 100 Condat-Vu iterations) and a
:class:`~sparserec.SparseBayesianLearning` fit (BLAS: 300 x 1000, 100 EM iterations).
Each is timed quietly and while ``--load`` CPU-bound processes spin (started here and
stopped after each round, at most ``--max-load-seconds``), in ``--reps`` alternating
rounds (median), with the default settings (``n_threads=None``: numba's, SciPy's and the
BLAS' own thread counts) and with ``sparserec.set_config(n_threads=1)``. The target is loaded/quiet
<= 2: a thread pool that spins while waiting for a core (GNU OpenMP does) turns a busy
machine into a 10-50x slow-down. ``--layer omp`` re-runs everything under numba's GNU
OpenMP layer (numba's own default on Linux, which sparserec replaces: see
docs/threads.rst) for comparison.

The machine is shared: the load average printed at the start says how quiet "quiet" was.
With ``L`` runnable processes on ``C`` cores, a one-thread fit gets ``C / L`` of a core at
best, so the wall-clock ratio also measures the neighbours. The process CPU time (all
threads) does not: a ratio near 1 means no work was wasted in contention, a large one
means threads spun while waiting for a core.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import warnings

SPIN = "import time\nend = time.time() + {s}\nwhile time.time() < end:\n    pass\n"


def _problems():
    from sparserec.datasets import make_blurred_image, make_sky_field, make_sparse_regression
    from sparserec.deconv.psf import gaussian_psf

    psf = gaussian_psf((15, 15), fwhm=3.0)
    sky = make_sky_field((256, 256), random_state=0)
    image = make_blurred_image(getattr(sky, "image", sky), psf, noise_sigma=0.01,
                               random_state=0).blurred
    reg = make_sparse_regression(300, 1000, 20, snr_db=30, random_state=0)
    return psf, image, reg


def _fits():
    from sparserec import SparseBayesianLearning, WaveletDeconvolution

    psf, image, reg = _problems()
    return {
        "WaveletDeconvolution 256x256": lambda: WaveletDeconvolution(
            psf, max_iter=100, tol=0).fit(image),
        "SparseBayesianLearning 300x1000": lambda: SparseBayesianLearning(
            max_iter=100, tol=0).fit(reg.X, reg.y),
    }


def _timed(fit):
    """Wall-clock and process CPU time (all threads) of one fit."""
    w, c = time.perf_counter(), time.process_time()
    fit()
    return time.perf_counter() - w, time.process_time() - c


def _spinners(n, seconds):
    return [subprocess.Popen([sys.executable, "-c", SPIN.format(s=seconds)]) for _ in range(n)]


def run(reps: int, n_load: int, max_load_seconds: float) -> list[dict]:
    """Quiet and loaded runs alternate (``reps`` rounds), so that both see the same
    background load from other users of the machine; medians are reported."""
    import numba

    import sparserec

    fits = _fits()
    for fit in fits.values():  # compile / load the cached kernels outside the timings
        fit()
    rows = []
    for n_threads in (None, 1):
        sparserec.set_config(n_threads=n_threads)
        quiet = {name: [] for name in fits}
        loaded = {name: [] for name in fits}
        for _ in range(reps):
            for name, fit in fits.items():
                quiet[name].append(_timed(fit))
            procs = _spinners(n_load, max_load_seconds)
            try:
                time.sleep(0.3)  # let the spinners start
                for name, fit in fits.items():
                    loaded[name].append(_timed(fit))
            finally:
                for p in procs:
                    p.kill()
                    p.wait()
        for name in fits:
            qw, qc = (statistics.median(t) for t in zip(*quiet[name], strict=True))
            lw, lc = (statistics.median(t) for t in zip(*loaded[name], strict=True))
            rows.append({"fit": name, "n_threads": str(n_threads),
                         "layer": numba.threading_layer(), "quiet (s)": qw, "loaded (s)": lw,
                         "loaded/quiet": lw / qw, "CPU quiet (s)": qc, "CPU loaded (s)": lc,
                         "CPU loaded/quiet": lc / qc})
    sparserec.set_config(n_threads=None)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--load", type=int, default=2, help="CPU-bound processes")
    parser.add_argument("--max-load-seconds", type=float, default=60.0)
    parser.add_argument("--layer", choices=["sparserec", "omp"], default="sparserec",
                        help="numba threading layer: sparserec's choice or GNU OpenMP")
    args = parser.parse_args(argv)
    if args.layer == "omp" and os.environ.get("NUMBA_THREADING_LAYER") != "omp":
        env = {**os.environ, "NUMBA_THREADING_LAYER": "omp"}
        return subprocess.call([sys.executable, __file__, *(argv or sys.argv[1:])], env=env)
    warnings.simplefilter("ignore")  # ConvergenceWarning: the iteration counts are fixed

    from threadpoolctl import threadpool_info

    from sparserec.utils.table import format_table

    blas = ", ".join(f"{i['internal_api']} {i['num_threads']} threads"
                     for i in threadpool_info() if i["user_api"] == "blas")
    print(f"sparserec bench_threads: {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} (1 min) at start; {args.load} CPU-bound processes for "
          f"the loaded runs; median of {args.reps}; BLAS: {blas or 'not loaded yet'}")
    rows = run(args.reps, args.load, args.max_load_seconds)
    print(format_table(rows))
    print(f"load average {os.getloadavg()[0]:.1f} (1 min) at the end; target: loaded/quiet <= 2 "
          "(wall clock)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
