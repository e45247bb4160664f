"""Dask scaling of tiled deconvolution: throughput for 1 and 2 workers, memory per worker.

1. Throughput: ``deconvolve_tiled`` of 2048 x 2048 sky images (tiles of 512, starlet,
   ``--max-iter`` iterations) on a ``distributed.LocalCluster`` of 1 and of 2 worker
   processes (one thread each, each pinned to its own core with ``--pin``, numba at
   one thread), after a warm-up run; images/s, pixels/s and the 2-vs-1 ratio.
2. Memory: the same on a FITS file of 16384 x 16384 float32 pixels (1 GiB) read
   through a memory map and written block by block to another FITS file, on 2 workers;
   the peak resident memory of each worker process (``VmHWM``), next to the same
   run on a 4096 x 4096 file: bounded by the tile size, the two peaks are alike
   although the images differ 16 times in size.

Run: ``python benchmarks/bench_dask.py`` (full; several minutes) or ``--quick`` (a
smoke run under a minute on smaller images). Timings on a shared machine are noisy:
read the ratios, and rerun on a quiet machine for figures to quote.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from sparserec.base import ConvergenceWarning
from sparserec.datasets import make_blurred_image, make_sky_field
from sparserec.deconv import gaussian_psf
from sparserec.distributed import deconvolve_tiled
from sparserec.utils.table import format_table

PSF = gaussian_psf(11, sigma=1.5)
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "MKL_NUM_THREADS": "1"}


def _observation(n: int, seed: int = 0) -> np.ndarray:
    sky = make_sky_field((n, n), n_stars=n // 6, n_galaxies=n // 12, random_state=seed)
    return make_blurred_image(sky.image, PSF, noise_sigma=0.01, random_state=seed).noisy


def _cluster(n_workers: int, pin: bool):
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, env=WORKER_ENV)
    client = Client(cluster)
    if pin and hasattr(os, "sched_setaffinity"):
        addresses = sorted(client.scheduler_info()["workers"])
        cores = sorted(os.sched_getaffinity(0))
        for i, address in enumerate(addresses):
            core = cores[i % len(cores)]
            client.run(os.sched_setaffinity, 0, {core}, workers=[address])
    return cluster, client


def throughput(n: int, tile: int, n_images: int, max_iter: int, pin: bool):
    images = [_observation(n, seed) for seed in range(n_images)]
    rows, rates = [], {}
    for n_workers in (1, 2):
        cluster, client = _cluster(n_workers, pin)
        try:  # warm-up: imports, numba cache loading, FFT plans of this tile size
            deconvolve_tiled(images[0][: 2 * tile, : 2 * tile], PSF, tile=tile,
                             client=client, max_iter=2)
            start = time.perf_counter()
            for img in images:
                deconvolve_tiled(img, PSF, tile=tile, client=client, max_iter=max_iter)
            seconds = time.perf_counter() - start
        finally:
            client.close()
            cluster.close()
        rates[n_workers] = n_images / seconds
        rows.append({"workers": n_workers, "images": n_images, "time (s)": seconds,
                     "images/s": rates[n_workers],
                     "Mpixel/s": rates[n_workers] * n * n / 1e6,
                     "speed-up": rates[n_workers] / rates[1]})
    return rows


def _write_big_fits(path: Path, n: int, block: int = 1024) -> None:
    """A float32 FITS image of n x n: one observed sky block tiled, with fresh noise."""
    from astropy.io import fits

    base = _observation(block, seed=1).astype(np.float32)
    hdr = fits.PrimaryHDU(np.zeros((1, 1), np.float32)).header
    hdr["NAXIS1"] = hdr["NAXIS2"] = n
    text = hdr.tostring().encode("ascii")
    rng = np.random.default_rng(0)
    reps = math.ceil(n / block)
    with open(path, "wb") as f:  # plain writes: no memory map inflates this process
        f.write(text)
        for r in range(reps):
            strip = np.tile(base, (1, reps))[: min(block, n - r * block), :n]
            noise = rng.normal(0, 0.002, strip.shape).astype(np.float32)
            f.write((strip + noise).astype(">f4").tobytes())
        f.truncate(len(text) + 2880 * math.ceil(n * n * 4 / 2880))


def _peak_rss_mib():
    """Peak resident memory of this process image (VmHWM: unlike ``ru_maxrss``, not
    inherited from the parent across fork and exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def memory(sizes, tile: int, max_iter: int, pin: bool, folder: Path):
    rows = []
    for n in sizes:
        src, out = folder / f"in_{n}.fits", folder / f"out_{n}.fits"
        t0 = time.perf_counter()
        _write_big_fits(src, n)
        made = time.perf_counter() - t0
        cluster, client = _cluster(2, pin)
        try:
            deconvolve_tiled(_observation(2 * tile), PSF, tile=tile, client=client,
                             max_iter=1)  # warm-up
            before = client.run(_peak_rss_mib)
            start = time.perf_counter()
            res = deconvolve_tiled(src, PSF, tile=tile, client=client, max_iter=max_iter,
                                   output=out)
            seconds = time.perf_counter() - start
            peaks = client.run(_peak_rss_mib)
        finally:
            client.close()
            cluster.close()
        n_tiles = len(res.tile[0]) * len(res.tile[1])
        rows.append({"image": f"{n}x{n}", "image (MiB, f64)": n * n * 8 / 2**20,
                     "tiles": n_tiles, "tile+halo (MiB, f64)":
                     (max(res.tile[0]) + 2 * res.halo) ** 2 * 8 / 2**20,
                     "peak/worker before (MiB)": max(before.values()),
                     "peak/worker (MiB)": max(peaks.values()),
                     "driver peak (MiB)": _peak_rss_mib(),
                     "time (s)": seconds, "input written (s)": made})
        src.unlink()
        out.unlink()
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (< 1 min)")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="do not pin each worker to its own core")
    parser.add_argument("--folder", default=None, help="scratch folder for the FITS files")
    parser.add_argument("--only", choices=("throughput", "memory"),
                        help="run one of the two parts")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    if args.quick:
        n, tile, n_images, max_iter = 1024, 256, 1, 10
        sizes, mem_tile, mem_iter = (2048, 4096), 256, 1
    else:
        n, tile, n_images, max_iter = 2048, 512, 2, 50
        sizes, mem_tile, mem_iter = (4096, 16384), 1024, 2
    print(f"sparserec bench_dask on {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} (timings are noisy when the machine is shared)\n")
    if args.only != "memory":
        print(f"1. throughput: {n}x{n} images, tiles of {tile}, {max_iter} Condat-Vu "
              f"iterations, pinned={args.pin}")
        print(format_table(throughput(n, tile, n_images, max_iter, args.pin)))
    if args.only == "throughput":
        return 0
    print(f"\n2. memory: FITS input (float32, memory map) -> FITS output, tiles of {mem_tile}, "
          f"{mem_iter} iteration(s), 2 workers")
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        print(format_table(memory(sizes, mem_tile, mem_iter, args.pin, Path(folder))))
    print(f"\nload average now {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
