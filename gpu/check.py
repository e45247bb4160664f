"""Agreement of every family's CuPy backend with NumPy/numba, at small sizes.

Run on a machine with an NVIDIA GPU and CuPy::

    python gpu/check.py            # prints a table; exit status 1 on any disagreement

Each case fits (or transforms) the same problem on the CPU backend and with
``backend="cupy"``, and compares the results by the relative error
``‖gpu − cpu‖ / ‖cpu‖`` (or an exact comparison where the result is discrete) against
the documented tolerance of the case. ``tests/test_gpu.py`` runs the same cases. Nothing
here needs PyWavelets.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from sparserec.backend import backend_status, to_host  # noqa: E402

CPU = "numba" if backend_status()["numba"][0] else "numpy"


def rel_error(gpu, cpu) -> float:
    gpu, cpu = np.asarray(to_host(gpu)), np.asarray(to_host(cpu))
    if gpu.shape != cpu.shape:
        return float("inf")
    den = float(np.linalg.norm(cpu))
    return float(np.linalg.norm(gpu - cpu)) / (den if den > 0 else 1.0)


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


# --------------------------------------------------------------------------- cases
# Each case: () -> (cpu_result, gpu_result, host_kind_ok) where host_kind_ok says that the
# GPU run with NumPy input returned NumPy and with CuPy input returned CuPy.

def case_fwht(dtype):
    import cupy

    from sparserec.wht import fwht

    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 2**16)).astype(dtype)
    cpu = fwht(x, normalize=True, ordering="sequency", backend=CPU)
    gpu = fwht(x, normalize=True, ordering="sequency", backend="cupy")
    on_dev = cupy.asarray(x)
    gpu_dev = fwht(on_dev, normalize=True, ordering="sequency")
    inplace = cupy.array(x[0])  # a copy
    fwht(inplace, out=inplace, backend="cupy")
    ok = isinstance(gpu, np.ndarray) and isinstance(gpu_dev, cupy.ndarray) \
        and gpu.dtype == dtype and rel_error(inplace, fwht(x[0], backend=CPU)) < 1e-5
    return cpu, gpu_dev, ok


def case_fwht_big_axis0():
    import cupy

    from sparserec.wht import fwht

    rng = np.random.default_rng(1)
    x = (rng.standard_normal((2**20, 3)) + 1j * rng.standard_normal((2**20, 3)))
    cpu = fwht(x, axis=0, backend=CPU)
    gpu = fwht(cupy.asarray(x), axis=0, backend="cupy")
    return cpu, gpu, isinstance(gpu, cupy.ndarray) and gpu.dtype == np.complex128


def case_sparse_wht():
    from sparserec import SparseWHT
    from sparserec.datasets import make_sparse_walsh

    prob = make_sparse_walsh(14, 12, random_state=0, as_callable=False)
    cpu = _quiet(lambda: SparseWHT(sparsity=12, random_state=0, backend=CPU).fit(prob.signal))
    gpu = _quiet(lambda: SparseWHT(sparsity=12, random_state=0, backend="cupy").fit(
        prob.signal))
    same_support = np.array_equal(np.sort(to_host(cpu.support_)), np.sort(to_host(gpu.support_)))
    order_c, order_g = np.argsort(to_host(cpu.support_)), np.argsort(to_host(gpu.support_))
    return (to_host(cpu.coef_)[order_c], to_host(gpu.coef_)[order_g], same_support)


def case_kronecker_sbl(on_gpu_input: bool, shapes=((12, 24), (10, 20)), n_targets=1,
                       **params):
    """The device EM loop (AM) against the host loop: same iterations, support, history."""
    import cupy

    from sparserec import KroneckerSBL
    from sparserec.datasets import make_kronecker_problem
    from sparserec.operators import Kronecker

    p = make_kronecker_problem(list(shapes), 2, snr_db=30, n_targets=n_targets,
                               random_state=0)
    y = p.y + (1.0 if params.get("fit_intercept") else 0.0)
    cpu = _quiet(lambda: KroneckerSBL(backend=CPU, **params).fit(Kronecker(*p.factors), y))
    factors = [cupy.asarray(A) for A in p.factors] if on_gpu_input else p.factors
    y_in = cupy.asarray(y) if on_gpu_input else y
    gpu = _quiet(lambda: KroneckerSBL(backend="cupy", **params).fit(Kronecker(*factors), y_in))
    kind = cupy.ndarray if on_gpu_input else np.ndarray
    ok = isinstance(gpu.coef_, kind) and gpu.n_iter_ == cpu.n_iter_ \
        and np.array_equal(to_host(gpu.gamma_) > 0, to_host(cpu.gamma_) > 0) \
        and rel_error(np.asarray(gpu.history_), np.asarray(cpu.history_)) < 1e-8
    return cpu.coef_, gpu.coef_, ok


def case_bcd_lasso():
    import cupy

    from sparserec import BCDRegressor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 150))
    y = X[:, :8] @ rng.standard_normal(8) + 0.1 * rng.standard_normal(400)
    kw = dict(alpha=0.05, tol=1e-10, max_iter=3000, partition="variable", rule="gsl")
    cpu = _quiet(lambda: BCDRegressor(backend=CPU, **kw).fit(X, y))
    gpu = _quiet(lambda: BCDRegressor(backend="cupy", **kw).fit(cupy.asarray(X),
                                                                cupy.asarray(y)))
    pred = gpu.predict(cupy.asarray(X))
    ok = isinstance(gpu.coef_, cupy.ndarray) and isinstance(pred, cupy.ndarray) \
        and abs(gpu.intercept_ - cpu.intercept_) < 1e-6
    return cpu.coef_, gpu.coef_, ok


def case_label_propagation():
    import scipy.sparse as sp

    from sparserec import BCDLabelPropagation

    rng = np.random.default_rng(0)
    n = 300
    W = sp.random(n, n, density=0.03, random_state=0)
    W = (W + W.T).tocsr()
    W.setdiag(0)
    W.eliminate_zeros()
    y = np.full(n, -1)
    y[rng.choice(n, 30, replace=False)] = rng.integers(0, 3, 30)
    cpu = _quiet(lambda: BCDLabelPropagation(backend=CPU).fit(W, y))
    gpu = _quiet(lambda: BCDLabelPropagation(backend="cupy").fit(W, y))
    ok = isinstance(gpu.label_distributions_, np.ndarray) \
        and np.array_equal(cpu.transduction_, gpu.transduction_)
    return cpu.label_distributions_, gpu.label_distributions_, ok


def case_dictionary(n_features=16, n_samples=4000, batch_size=256):
    """Newton-Schulz polar factors on the device against the host's SVDs."""
    import cupy

    from sparserec import OnlineOrthogonalDictionary
    from sparserec.datasets import make_dictionary_data

    data = make_dictionary_data(n_features, n_samples, random_state=0)
    kw = dict(batch_size=batch_size, max_iter=3, random_state=0)
    cpu = _quiet(lambda: OnlineOrthogonalDictionary(backend=CPU, **kw).fit(data.X))
    gpu = _quiet(lambda: OnlineOrthogonalDictionary(backend="cupy", **kw).fit(data.X))
    codes = gpu.transform(data.X[:10])
    codes_dev = gpu.transform(cupy.asarray(data.X[:10]))
    ok = isinstance(gpu.components_, np.ndarray) and isinstance(codes, np.ndarray) \
        and isinstance(codes_dev, cupy.ndarray)
    return cpu.components_, gpu.components_, ok


def case_selfcal(method: str):
    import cupy

    from sparserec import SelfCalibration
    from sparserec.datasets import make_selfcal_problem

    prob = make_selfcal_problem("diverse", 64, 16, 4, snr_db=40, random_state=0)
    kw = dict(model="diverse", method=method, random_state=0, tol=1e-12, max_iter=2000)
    solver = {"lsq": "lsmr", "spectral": "lobpcg"}[method]
    cpu = _quiet(lambda: SelfCalibration(backend=CPU, solver=solver, **kw).fit(prob.A, prob.y))
    gpu = _quiet(lambda: SelfCalibration(backend="cupy", solver=solver, **kw).fit(
        cupy.asarray(prob.A), cupy.asarray(prob.y)))
    ok = isinstance(gpu.calibration_, cupy.ndarray)
    cal_c, cal_g = to_host(cpu.calibration_), to_host(gpu.calibration_)
    phase = np.vdot(cal_g, cal_c) / abs(np.vdot(cal_g, cal_c))  # spectral: sign/phase free
    return cal_c, cal_g * (phase if method == "spectral" else 1.0), ok


def _deconv_problem(dtype, side=128, noise_sigma=0.01):
    from sparserec.datasets import make_blurred_image, make_sky_field
    from sparserec.deconv.psf import gaussian_psf

    sky = make_sky_field((side, side), random_state=0).image
    psf = gaussian_psf(fwhm=3.0)
    y = make_blurred_image(sky / sky.max(), psf, noise_sigma=noise_sigma, random_state=0).noisy
    return y.astype(dtype), psf


def case_joint_noise_maps():
    """JointWaveletDeconvolution with a noise map on its sharp band (the right half 8
    times noisier) beside a band of one level: per-position thresholds and the SURE
    probe of that band on the device."""
    import cupy

    from sparserec import JointWaveletDeconvolution
    from sparserec.datasets import make_blurred_image, make_sky_field
    from sparserec.deconv.psf import gaussian_psf

    sky = make_sky_field((96, 96), n_stars=10, n_galaxies=6, random_state=0).image
    sky = sky / sky.max()
    psfs = [gaussian_psf(9, fwhm=2.0), gaussian_psf(15, fwhm=4.0)]
    noise = np.full(sky.shape, 0.01)
    noise[:, 48:] = 0.08
    a = make_blurred_image(sky, psfs[0], noise_sigma=0.0).noisy \
        + np.random.default_rng(0).normal(size=sky.shape) * noise
    b = make_blurred_image(sky, psfs[1], noise_sigma=0.01, random_state=1).noisy
    cpu = _quiet(lambda: JointWaveletDeconvolution(psfs, backend=CPU).fit(
        [a, b], noise_maps=[noise, None]))
    gpu = _quiet(lambda: JointWaveletDeconvolution(psfs, backend="cupy").fit(
        [cupy.asarray(a), cupy.asarray(b)], noise_maps=[cupy.asarray(noise), None]))
    ok = isinstance(gpu.image_, cupy.ndarray) and cpu.wavelet_ == gpu.wavelet_
    return cpu.image_, gpu.image_, ok


def case_tiled_cupy_chunks(k_sigma=3.0):
    """deconvolve_tiled on a Dask array of CuPy chunks: tiles solved on the GPU, CuPy out
    (``k_sigma="sure"``: the path chosen once on the central crop, on the GPU too)."""
    import cupy

    try:
        import dask.array as da
    except ImportError as exc:
        raise Skipped("dask is not installed") from exc
    from sparserec.distributed import deconvolve_tiled

    y, psf = _deconv_problem(np.float64, side=192, noise_sigma=0.002)  # stars above noise
    kw = dict(tile=96, client="sync", max_iter=40, tol=0.0, noise_sigma=0.002,
              k_sigma=k_sigma)
    cpu = _quiet(lambda: deconvolve_tiled(y, psf, backend=CPU, **kw).image)
    chunks = da.from_array(cupy.asarray(y), chunks=96, asarray=False)
    gpu = _quiet(lambda: deconvolve_tiled(chunks, psf, **kw).image)
    lazy = _quiet(lambda: deconvolve_tiled(chunks, psf, compute=False, **kw).image)
    ok = isinstance(gpu, cupy.ndarray) and isinstance(lazy._meta, cupy.ndarray) \
        and isinstance(lazy.blocks[0, 0].compute(scheduler="sync"), cupy.ndarray)
    return cpu, gpu, ok


def case_tiled_noise_map():
    """deconvolve_tiled of CuPy chunks with a (host) noise map, the right half 8 times
    noisier: each tile's window of the map on the GPU, the SURE choice on the crop."""
    import cupy

    try:
        import dask.array as da
    except ImportError as exc:
        raise Skipped("dask is not installed") from exc
    from sparserec.distributed import deconvolve_tiled

    y, psf = _deconv_problem(np.float64, side=192, noise_sigma=0.0)
    noise = np.full(y.shape, 0.002)
    noise[:, 96:] = 0.016
    y = y + np.random.default_rng(3).standard_normal(y.shape) * noise
    kw = dict(tile=96, client="sync", noise_map=noise)
    cpu = _quiet(lambda: deconvolve_tiled(y, psf, backend=CPU, **kw).image)
    chunks = da.from_array(cupy.asarray(y), chunks=96, asarray=False)
    gpu = _quiet(lambda: deconvolve_tiled(chunks, psf, **kw).image)
    return cpu, gpu, isinstance(gpu, cupy.ndarray)


class Skipped(Exception):
    """A case whose optional dependency is missing (reported, not a disagreement)."""


def case_starlet(dtype):
    import cupy

    from sparserec.deconv import starlet_adjoint, starlet_transform

    x = np.random.default_rng(0).random((96, 80)).astype(dtype)
    cpu = starlet_transform(x, 5, backend=CPU)
    gpu = starlet_transform(cupy.asarray(x), 5, backend="cupy")
    adj = starlet_adjoint(gpu, backend="cupy")
    ok = isinstance(gpu, cupy.ndarray) and gpu.dtype == dtype \
        and rel_error(adj, starlet_adjoint(cpu, backend=CPU)) < (1e-5 if dtype == np.float32
                                                                  else 1e-12)
    return cpu, gpu, ok


def case_deconvolution(dtype):
    import cupy

    from sparserec import WaveletDeconvolution

    y, psf = _deconv_problem(dtype)
    kw = dict(n_scales=4, max_iter=60, tol=0.0)
    cpu = _quiet(lambda: WaveletDeconvolution(psf, backend=CPU, **kw).fit(y))
    gpu = _quiet(lambda: WaveletDeconvolution(psf, backend="cupy", **kw).fit(y))
    gpu_dev = _quiet(lambda: WaveletDeconvolution(psf, backend="cupy", **kw).fit(
        cupy.asarray(y)))
    ok = isinstance(gpu.image_, np.ndarray) and isinstance(gpu_dev.image_, cupy.ndarray) \
        and rel_error(gpu.image_, gpu_dev.image_) < 1e-6
    return cpu.image_, gpu.image_, ok


def case_deconvolution_rl_main():
    """Defaults on a star field whose mixture gives Richardson–Lucy the largest weight:
    the fit's history is then the RL path's (stacked on the device)."""
    from sparserec import WaveletDeconvolution
    from sparserec.datasets import make_blurred_image, make_sky_field
    from sparserec.deconv.psf import moffat_psf

    sky = make_sky_field((128, 128), n_galaxies=0, random_state=0).image
    psf = moffat_psf(fwhm=3.0, beta=2.5)
    y = make_blurred_image(sky / sky.max(), psf, noise_sigma=0.005, random_state=0).noisy
    cpu = _quiet(lambda: WaveletDeconvolution(psf, backend=CPU).fit(y))
    gpu = _quiet(lambda: WaveletDeconvolution(psf, backend="cupy").fit(y))
    weights = gpu.wavelet_weights_
    ok = max(weights, key=weights.get) == "richardson-lucy" \
        and cpu.wavelet_ == gpu.wavelet_ and np.isfinite(gpu.history_).all()
    return cpu.image_, gpu.image_, ok


def case_deconvolution_noise_map():
    """Defaults with a noise map (the right half 8 times noisier; host arrays, and a CuPy
    map with a CuPy image): per-position thresholds (FFT correlations on the device) and the SURE of
    a probe scaled by the map."""
    import cupy

    from sparserec import WaveletDeconvolution
    from sparserec.datasets import make_blurred_image, make_sky_field
    from sparserec.deconv.psf import gaussian_psf

    sky = make_sky_field((128, 128), n_stars=12, n_galaxies=4, random_state=1).image
    psf = gaussian_psf(fwhm=3.0)
    noise = np.full(sky.shape, 0.005)
    noise[:, 64:] = 0.04
    y = make_blurred_image(sky / sky.max(), psf, noise_sigma=0.0, random_state=0).noisy
    y = y + np.random.default_rng(2).standard_normal(y.shape) * noise
    cpu = _quiet(lambda: WaveletDeconvolution(psf, backend=CPU).fit(y, noise_map=noise))
    gpu = _quiet(lambda: WaveletDeconvolution(psf, backend="cupy").fit(y, noise_map=noise))
    gpu_dev = _quiet(lambda: WaveletDeconvolution(psf, backend="cupy").fit(
        cupy.asarray(y), noise_map=cupy.asarray(noise)))
    ok = cpu.wavelet_ == gpu.wavelet_ and isinstance(gpu_dev.image_, cupy.ndarray) \
        and rel_error(gpu.image_, gpu_dev.image_) < 1e-6
    return cpu.image_, gpu.image_, ok


def case_deconvolution_wiener():
    """Defaults on a smooth, low-contrast scene at 3 % noise, where the mixture weighs
    the Wiener-Hunt candidate (its mirrored margins and filter on the device), and the
    same filter followed as a tiled run's shared path."""
    from scipy import ndimage

    from sparserec import WaveletDeconvolution
    from sparserec.datasets import make_blurred_image
    from sparserec.deconv.psf import gaussian_psf

    rng = np.random.default_rng(0)
    scene = 0.6 + ndimage.gaussian_filter(rng.standard_normal((128, 128)), 4)
    psf = gaussian_psf(fwhm=2.5)
    y = make_blurred_image(scene, psf, noise_sigma=0.03 * np.ptp(scene), random_state=0).noisy
    cpu = _quiet(lambda: WaveletDeconvolution(psf, backend=CPU).fit(y))
    gpu = _quiet(lambda: WaveletDeconvolution(psf, backend="cupy").fit(y))

    def follow(backend):
        est = WaveletDeconvolution(psf, backend=backend)
        est._shared_path = ((("wiener", 1.0, (0,) * 7, ()),), 0.0, 0.0)
        return _quiet(lambda: est.fit(y)).image_

    ok = gpu.wavelet_weights_.get("wiener", 0) > 0 and cpu.wavelet_ == gpu.wavelet_
    return np.stack([cpu.image_, follow(CPU)]), np.stack([gpu.image_, follow("cupy")]), ok


def case_deconvolution_support(dtype):
    """``use_support``: the sources' amplitudes refitted by LSMR through the device model."""
    import cupy

    from sparserec import WaveletDeconvolution

    y, psf = _deconv_problem(dtype, noise_sigma=0.002)
    kw = dict(k_sigma=3.0, max_iter=60, tol=0.0, use_support=True)
    cpu = _quiet(lambda: WaveletDeconvolution(psf, backend=CPU, **kw).fit(y))
    gpu = _quiet(lambda: WaveletDeconvolution(psf, backend="cupy", **kw).fit(cupy.asarray(y)))
    return cpu.image_, gpu.image_, isinstance(gpu.image_, cupy.ndarray)


def case_joint_deconvolution():
    """JointWaveletDeconvolution's defaults on two bands (one binned 2 x 2): the SURE
    mixture of the joint paths and of each band deconvolved alone, on the device."""
    import cupy

    from sparserec import JointWaveletDeconvolution
    from sparserec.datasets import make_blurred_image, make_sky_field
    from sparserec.deconv.psf import gaussian_psf

    sky = make_sky_field((64, 64), n_stars=8, n_galaxies=4, random_state=1).image
    psfs = [gaussian_psf(9, sigma=1.0), gaussian_psf(21, sigma=3.0)]
    a = make_blurred_image(sky, psfs[0], noise_sigma=1.0, random_state=1).noisy
    b = make_blurred_image(sky, psfs[1], noise_sigma=0.05, random_state=2).noisy
    bands = [a, b.reshape(32, 2, 32, 2).sum(axis=(1, 3))]
    cpu = _quiet(lambda: JointWaveletDeconvolution(psfs, pixel_ratios=[1, 2],
                                                   backend=CPU).fit(bands))
    gpu = _quiet(lambda: JointWaveletDeconvolution(psfs, pixel_ratios=[1, 2],
                                                   backend="cupy").fit(
        [cupy.asarray(y) for y in bands]))
    ok = isinstance(gpu.image_, cupy.ndarray) and cpu.wavelet_ == gpu.wavelet_
    return cpu.image_, gpu.image_, ok


# (family, case name, callable, tolerance on the relative error, why that tolerance)
CASES = [
    ("wht", "fwht 4x2^16 float32 sequency", lambda: case_fwht(np.float32), 1e-5,
     "float32 sums of 2^16 terms, different order"),
    ("wht", "fwht 4x2^16 float64 sequency", lambda: case_fwht(np.float64), 1e-12, "rounding"),
    ("wht", "fwht 2^20x3 complex128 axis 0", case_fwht_big_axis0, 1e-12, "rounding"),
    ("wht", "SparseWHT 2^14, K=12", case_sparse_wht, 1e-8, "same support; values by LS"),
    ("sbl", "KroneckerSBL 2 factors, NumPy in", lambda: case_kronecker_sbl(False), 1e-6,
     "GPU eigh vs LAPACK in an EM loop"),
    ("sbl", "KroneckerSBL 2 factors, CuPy in", lambda: case_kronecker_sbl(True), 1e-6,
     "GPU eigh vs LAPACK in an EM loop"),
    ("sbl", "KroneckerSBL 3 factors, L=2, intercept", lambda: case_kronecker_sbl(
        True, ((8, 12), (6, 10), (5, 8)), 2, fit_intercept=True), 1e-6,
     "GPU eigh vs LAPACK in an EM loop"),
    ("sbl", "KroneckerSBL 2 x (64, 128), L=1", lambda: case_kronecker_sbl(
        True, ((64, 128), (64, 128)), max_iter=60), 1e-6, "GPU eigh vs LAPACK in an EM loop"),
    ("bcd", "BCDRegressor lasso 400x150", case_bcd_lasso, 1e-6, "both at the optimum (gap 1e-10)"),
    ("bcd", "BCDLabelPropagation 300 nodes", case_label_propagation, 1e-6, "solved to tol"),
    ("dictionary", "OnlineOrthogonalDictionary 16", case_dictionary, 1e-8,
     "Newton-Schulz vs SVD polar factors, rounding over 48 steps"),
    ("dictionary", "OnlineOrthogonalDictionary 128, batch 2048",
     lambda: case_dictionary(128, 20000, 2048), 1e-8,
     "Newton-Schulz vs SVD polar factors, rounding over 30 steps"),
    ("selfcal", "SelfCalibration lsq (LSMR)", lambda: case_selfcal("lsq"), 1e-6,
     "iterative solver to tol 1e-12"),
    ("selfcal", "SelfCalibration spectral (LOBPCG)", lambda: case_selfcal("spectral"), 1e-5,
     "eigenvector to tol, up to phase"),
    ("deconv", "starlet 5 scales float32", lambda: case_starlet(np.float32), 1e-6,
     "float32 rounding"),
    ("deconv", "starlet 5 scales float64", lambda: case_starlet(np.float64), 1e-12, "rounding"),
    ("deconv", "WaveletDeconvolution float32 128^2", lambda: case_deconvolution(np.float32),
     1e-3, "float32 cuFFT vs pocketfft over 60 iterations"),
    ("deconv", "WaveletDeconvolution float64 128^2", lambda: case_deconvolution(np.float64),
     2e-4, "iterations in float32 for both dtypes; the Richardson-Lucy path's Monte-Carlo "
     "divergence (two runs 0.1 sigma = 1e-3 of the peak apart) resolves 1.2e-7 / 1e-3 "
     "(numba vs NumPy: 4e-7; H200: 8.5e-5)"),
    ("deconv", "WaveletDeconvolution defaults, Richardson-Lucy main path",
     case_deconvolution_rl_main, 1e-3, "as float64 above, and mixture weights chosen by "
     "Monte-Carlo SUREs"),
    ("deconv", "WaveletDeconvolution defaults, Wiener-Hunt candidate (and followed)",
     case_deconvolution_wiener, 1e-3, "as the Richardson-Lucy main path case"),
    ("deconv", "WaveletDeconvolution defaults, noise map", case_deconvolution_noise_map, 1e-3,
     "as the Richardson-Lucy main path case"),
    ("deconv", "WaveletDeconvolution use_support float64", lambda: case_deconvolution_support(
        np.float64), 1e-3, "float32 iterations; LSMR to 1e-6 on each side"),
    ("deconv", "JointWaveletDeconvolution defaults, 2 bands", case_joint_deconvolution, 1e-3,
     "as the Richardson-Lucy main path case"),
    ("deconv", "JointWaveletDeconvolution noise map on one band", case_joint_noise_maps,
     1e-3, "as the Richardson-Lucy main path case"),
    ("deconv", "deconvolve_tiled CuPy chunks, noise map", case_tiled_noise_map, 1e-3,
     "as the Richardson-Lucy main path case"),
    ("deconv", "deconvolve_tiled CuPy chunks 192^2, 4 tiles", case_tiled_cupy_chunks, 1e-5,
     "as WaveletDeconvolution float64, per tile"),
    ("deconv", "deconvolve_tiled CuPy chunks, shared SURE path",
     lambda: case_tiled_cupy_chunks("sure"), 1e-3,
     "as the Richardson-Lucy main path case, per tile"),
]


def run_case(case):
    family, name, fn, tol, _ = case
    start = time.perf_counter()
    try:
        cpu, gpu, kinds_ok = fn()
        err = rel_error(gpu, cpu)
        status = "ok" if err <= tol and kinds_ok else ("bad types" if err <= tol else "DIFFERS")
    except Skipped as exc:
        err, status = float("nan"), f"skipped: {exc}"
    except Exception as exc:  # report and go on: one table for all families
        err, status = float("nan"), f"ERROR {type(exc).__name__}: {str(exc).splitlines()[0]}"
    return family, name, err, tol, status, time.perf_counter() - start


def main() -> int:
    ok, reason = backend_status()["cupy"]
    print(f"CPU backend: {CPU}; CuPy: {reason}")
    if not ok:
        print("no usable GPU: nothing to check")
        return 2
    rows = [run_case(c) for c in CASES]
    width = max(len(r[1]) for r in rows)
    print(f"{'family':<11}{'case':<{width + 2}}{'rel. error':>11}{'tol':>9}  {'s':>6}  status")
    for family, name, err, tol, status, secs in rows:
        print(f"{family:<11}{name:<{width + 2}}{err:>11.2e}{tol:>9.0e}  {secs:>6.2f}  {status}")
    skipped = [r for r in rows if r[4].startswith("skipped")]
    bad = [r for r in rows if r[4] != "ok" and r not in skipped]
    print(f"{len(rows) - len(bad) - len(skipped)}/{len(rows) - len(skipped)} cases agree"
          + (f" ({len(skipped)} skipped)" if skipped else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
