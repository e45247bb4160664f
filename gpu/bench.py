"""CPU (numba) against GPU (CuPy) time per family, at the sizes of issue 9's targets.

Run on the GPU machine::

    python gpu/bench.py              # full sizes (a few minutes)
    python gpu/bench.py --quick      # small sizes, a smoke run
    python gpu/bench.py --only sbl dictionary   # some families

Targets (issue 17): fwht of 2^26 float32 and float64 values, one row and batched, in at
most 4x the time of a device-to-device copy of the same bytes; WaveletDeconvolution of a
4096 x 4096 float32 image, 5 scales, 200 iterations in < 2 s; every family >= 5x numba on
all cores at the large size. Each family runs at a small and a large size (the small one
shows where the CPU still wins: the crossover of docs/backends.rst); speed-up = numba
time / GPU time. Iterative fits run a fixed number of iterations on both (tol=0). GPU
times are wall times after a warm-up run, with the device synchronised. Peak bandwidth
comes from the device attributes (memory clock x bus width x 2); "effective" bandwidth
counts one read and one write of the data, "actual" counts every pass of the kernel
plan. Nothing here needs PyWavelets.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sparserec.backend import backend_status  # noqa: E402


def _sync():
    import cupy

    cupy.cuda.get_current_stream().synchronize()


def gpu_time(fn, repeat: int = 3) -> float:
    fn()
    _sync()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        _sync()
        best = min(best, time.perf_counter() - start)
    return best


def cpu_time(fn, repeat: int = 1) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def peak_bandwidth() -> tuple[str, float]:
    """Device name and theoretical memory bandwidth in GB/s."""
    import cupy

    rt = cupy.cuda.runtime
    dev = cupy.cuda.Device().id
    props = rt.getDeviceProperties(dev)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    clock_khz = props.get("memoryClockRate") or rt.deviceGetAttribute(36, dev)  # MemoryClockRate
    bus_bits = props.get("memoryBusWidth") or rt.deviceGetAttribute(37, dev)  # GlobalMemoryBusWidth
    return name, 2.0 * clock_khz * 1e3 * bus_bits / 8 / 1e9


def copy_time(n_bytes: int) -> float:
    """Seconds of a device-to-device copy of ``n_bytes`` (the floor a pass can reach)."""
    import cupy

    a = cupy.empty(n_bytes // 4, dtype=cupy.float32)
    b = cupy.empty_like(a)
    return gpu_time(lambda: b.__setitem__(Ellipsis, a), repeat=10)


FWHT_RUNS = [16, 32, 64, 128]  # shortest contiguous row of a strided pass, bytes


def bench_fwht(n_bits: int, rows: list, quick: bool):
    """fwht against a copy of the same bytes, float32 and float64, one and many rows."""
    import cupy

    from sparserec.wht import fwht
    from sparserec.wht._cuda import fwht_plan, fwht_rows

    name, peak = peak_bandwidth()
    print(f"device: {name}, peak {peak:.0f} GB/s")
    rng = np.random.default_rng(0)
    shapes = [(1, 1 << n_bits), (64, 1 << (n_bits - 6))]
    for dtype in (np.float32, np.float64):
        for shape in shapes:
            x = rng.standard_normal(shape).astype(dtype)
            dev = cupy.asarray(x)
            t_copy = copy_time(x.nbytes)
            best = None
            for line in FWHT_RUNS:
                plan = fwht_plan(shape[1].bit_length() - 1, x.itemsize, run_bytes=line)
                try:
                    t = gpu_time(lambda plan=plan, dev=dev: fwht_rows(dev, 1.0, plan), repeat=10)
                except Exception as exc:
                    print(f"  plan run={line}: {type(exc).__name__}: {exc}")
                    continue
                print(f"  {np.dtype(dtype).name} {shape}: rows >= {line} B, "
                      f"{[tuple(p) for p in plan]}: {t * 1e3:.3f} ms = "
                      f"{t / t_copy:.2f}x a copy ({t_copy * 1e3:.3f} ms)")
                if best is None or t < best[0]:
                    best = (t, line, len(plan))
            t_default = gpu_time(lambda dev=dev: fwht(dev, out=dev), repeat=10)
            t_cpu = cpu_time(lambda x=x: fwht(x, out=x, backend="numba"))
            t, line, passes = best
            rows.append(("fwht", f"{shape[0]}x2^{shape[1].bit_length() - 1} "
                         f"{np.dtype(dtype).name} (default plan)", t_cpu, t_default,
                         f"{t_default / t_copy:.2f}x a copy; best plan rows >= "
                         f"{line} B, {passes} passes: {t / t_copy:.2f}x (target <= 4x)"))
            if quick:
                break


def bench_deconv(side: int, n_iter: int, cpu_iter: int, default_side: int, rows: list):
    """Iteration throughput (fixed starlet thresholds, the target) and a default fit
    (noise estimate, SURE choice of wavelet and threshold, stopping rule) on a blurred
    scene of blobs with 1 % noise."""
    import cupy

    from sparserec import WaveletDeconvolution
    from sparserec.deconv.psf import gaussian_psf
    from sparserec.operators import mirror_blur

    rng = np.random.default_rng(0)
    psf = gaussian_psf(fwhm=3.0).astype(np.float32)

    def scene(n):
        truth = np.zeros((n, n))
        truth[tuple(rng.integers(0, n, (2, n)))] = rng.random(n)
        yy, xx = np.mgrid[:n, :n] / n
        truth += 0.2 * (1 + np.sin(6 * xx) * np.cos(4 * yy))
        blurred = mirror_blur(truth, gaussian_psf(fwhm=3.0))
        return (blurred + 0.01 * rng.standard_normal((n, n))).astype(np.float32)

    def fit(backend, data, **kw):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return WaveletDeconvolution(psf, backend=backend, n_scales=5, **kw).fit(data)

    image = scene(side)
    dev = cupy.asarray(image)
    fixed = dict(wavelet="starlet", k_sigma=3.0, noise_sigma=0.01, tol=0.0)
    t_gpu = gpu_time(lambda: fit("cupy", dev, max_iter=n_iter, **fixed), repeat=2)
    t_cpu = cpu_time(lambda: fit("numba", image, max_iter=cpu_iter, **fixed)) \
        * n_iter / cpu_iter
    rows.append(("deconv", f"{side}^2 float32, 5 scales, {n_iter} it "
                 f"(CPU: {cpu_iter} it, scaled)", t_cpu, t_gpu,
                 f"{t_gpu / n_iter * 1e3:.2f} ms/iteration (target < 2 s in all)"))
    image = scene(default_side)
    dev = cupy.asarray(image)
    t_gpu = gpu_time(lambda: fit("cupy", dev), repeat=1)
    t_cpu = cpu_time(lambda: fit("numba", image))
    est = fit("cupy", dev)
    rows.append(("deconv", f"{default_side}^2 float32, defaults", t_cpu, t_gpu,
                 f"wavelet_={est.wavelet_}, n_iter_={est.n_iter_}, "
                 f"noise_sigma_={est.noise_sigma_:.4f} (truth 0.01)"))


def _eigh_times(m: int) -> str:
    """Device (cuSOLVER) and host (LAPACK) time of one ``m x m`` eigh: the E-step's floor."""
    import cupy

    rng = np.random.default_rng(0)
    B = rng.standard_normal((m, 2 * m))
    B = B @ B.T
    dev = cupy.asarray(B)
    t_dev = gpu_time(lambda: cupy.linalg.eigh(dev), repeat=5)
    t_host = cpu_time(lambda: np.linalg.eigh(B), repeat=5)
    return f"eigh {m}^2: device {t_dev * 1e3:.2f} ms, LAPACK {t_host * 1e3:.2f} ms"


def bench_sbl(shapes, n_targets: int, n_iter: int, rows: list):
    """A fixed number of EM iterations on both (tol=0, no pruning): time per fit."""
    import cupy

    from sparserec import KroneckerSBL
    from sparserec.datasets import make_kronecker_problem
    from sparserec.operators import Kronecker

    p = make_kronecker_problem(shapes, 4, snr_db=30, n_targets=n_targets, random_state=0)
    kw = dict(max_iter=n_iter, tol=0.0, prune_tol=0.0)

    def fit(backend, factors, y):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return KroneckerSBL(backend=backend, **kw).fit(Kronecker(*factors), y)

    t_cpu = cpu_time(lambda: fit("numba", p.factors, p.y))
    factors = [cupy.asarray(A) for A in p.factors]
    y = cupy.asarray(p.y)
    t_gpu = gpu_time(lambda: fit("cupy", factors, y), repeat=2)
    n = int(np.prod([s[1] for s in shapes]))
    rows.append(("sbl", f"N={n} {shapes}, L={n_targets}, {n_iter} EM it", t_cpu, t_gpu,
                 f"{t_gpu / n_iter * 1e3:.2f} ms/it on the GPU; "
                 f"{_eigh_times(max(m for m, _ in shapes))}"))


def bench_bcd(n: int, p: int, rows: list):
    import cupy

    from sparserec import BCDRegressor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, p))
    y = X[:, :20] @ rng.standard_normal(20) + 0.1 * rng.standard_normal(n)
    kw = dict(alpha=0.05, max_iter=200, tol=0.0)
    Xd, yd = cupy.asarray(X), cupy.asarray(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_cpu = cpu_time(lambda: BCDRegressor(backend="numba", **kw).fit(X, y))
        t_gpu = gpu_time(lambda: BCDRegressor(backend="cupy", **kw).fit(Xd, yd), repeat=1)
    rows.append(("bcd", f"lasso {n}x{p}, 200 GSL blocks", t_cpu, t_gpu, ""))


def bench_dictionary(n_features: int, n_samples: int, batch: int, rows: list):
    """Three passes (tol=0) with the same mini-batches on both."""
    import cupy

    from sparserec import OnlineOrthogonalDictionary
    from sparserec.datasets import make_dictionary_data

    data = make_dictionary_data(n_features, n_samples, random_state=0)
    Xd = cupy.asarray(data.X)
    kw = dict(batch_size=batch, max_iter=3, tol=0.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_cpu = cpu_time(lambda: OnlineOrthogonalDictionary(backend="numba", **kw).fit(data.X))
        t_gpu = gpu_time(lambda: OnlineOrthogonalDictionary(backend="cupy", **kw).fit(Xd),
                         repeat=1)
    steps = 3 * -(-n_samples // batch)
    rows.append(("dictionary", f"{data.X.shape}, 3 passes, batch {batch}", t_cpu, t_gpu,
                 f"{t_gpu / steps * 1e3:.2f} ms/step on the GPU, "
                 f"{t_cpu / steps * 1e3:.2f} ms/step on the CPU"))


def bench_selfcal(m: int, n: int, p: int, rows: list):
    import cupy

    from sparserec import SelfCalibration
    from sparserec.datasets import make_selfcal_problem

    prob = make_selfcal_problem("diverse", m, n, p, snr_db=30, random_state=0)
    kw = dict(model="diverse", solver="lsmr", random_state=0)
    A, yy = cupy.asarray(prob.A), cupy.asarray(prob.y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_cpu = cpu_time(lambda: SelfCalibration(backend="numba", **kw).fit(prob.A, prob.y))
        t_gpu = gpu_time(lambda: SelfCalibration(backend="cupy", **kw).fit(A, yy), repeat=1)
    rows.append(("selfcal", f"diverse m={m} n={n} p={p}, LSMR", t_cpu, t_gpu, ""))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--only", nargs="*", default=None,
                        help="families to run (fwht deconv sbl bcd dictionary selfcal; "
                             "others = the last three); default all")
    args = parser.parse_args(argv)
    ok, reason = backend_status()["cupy"]
    print(f"CuPy: {reason}; numba: {backend_status()['numba'][1]}")
    if not ok:
        print("no usable GPU: nothing to benchmark")
        return 2
    import numba

    print(f"numba threads: {numba.get_num_threads()}")
    rows: list = []
    quick = args.quick
    # (family, small or large, step): the small size shows where the CPU still wins
    steps = [
        ("fwht", lambda: bench_fwht(20 if quick else 26, rows, quick)),
        ("deconv", lambda: bench_deconv(512 if quick else 4096, 20 if quick else 200,
                                        5, 256 if quick else 1024, rows)),
        ("sbl", lambda: bench_sbl([(32, 64), (32, 64)], 1, 20 if quick else 50, rows)),
        ("sbl", lambda: bench_sbl([(64, 128), (64, 128)] if quick else [(128, 256), (128, 256)],
                                  1, 10 if quick else 20, rows)),
        ("sbl", None if quick else lambda: bench_sbl([(128, 1024), (128, 1024)], 1, 20, rows)),
        ("sbl", None if quick else lambda: bench_sbl([(128, 256), (128, 256)], 16, 20, rows)),
        ("sbl", lambda: bench_sbl([(32, 64), (32, 64)], 256, 10 if quick else 20, rows)),
        ("sbl", lambda: bench_sbl([(16, 16), (16, 16), (8, 16)], 64, 10 if quick else 20,
                                  rows)),
        ("bcd", lambda: bench_bcd(500, 200, rows)),
        ("bcd", lambda: bench_bcd(*((2000, 500) if quick else (20000, 4000)), rows)),
        ("dictionary", lambda: bench_dictionary(64, 20000 if quick else 200000, 4096, rows)),
        ("dictionary", lambda: bench_dictionary(128 if quick else 256,
                                                20000 if quick else 200000, 4096, rows)),
        ("selfcal", lambda: bench_selfcal(512, 64, 8, rows)),
        ("selfcal", None if quick else lambda: bench_selfcal(4096, 256, 16, rows)),
    ]
    families = {"others": {"bcd", "dictionary", "selfcal"}}  # the old name of the three
    wanted = None if args.only is None else set().union(
        *({f} | families.get(f, set()) for f in args.only))
    for family, step in steps:
        if step is None or (wanted is not None and family not in wanted):
            continue
        try:
            step()
        except Exception as exc:  # keep going: one table for all families
            print(f"FAILED: {type(exc).__name__}: {exc}")
    print()
    print(f"{'family':<11}{'case':<58}{'numba (s)':>10}{'GPU (s)':>10}{'speed-up':>10}  note")
    for family, case, t_cpu, t_gpu, note in rows:
        print(f"{family:<11}{case:<58}{t_cpu:>10.3f}{t_gpu:>10.4f}{t_cpu / t_gpu:>9.1f}x  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
