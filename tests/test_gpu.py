"""The CuPy backend of every family.

Three layers:

* unmarked tests run here, on the CPU: the pieces of the GPU code paths that are
  namespace-generic run with ``xp = numpy`` (the fwht pass plan through a NumPy emulation
  of the ``gpu/fwht.cu`` indexing, the starlet gathers of ``gpu/starlet.cu``, the device
  losses of BCD, the lazy data term), and every case of ``gpu/check.py`` runs with NumPy
  standing in for CuPy (``backend="cupy"`` then takes every GPU branch of the estimators
  except the compiled kernels, which are replaced by their NumPy emulations);
* ``@pytest.mark.gpu`` tests (skipped without a GPU, see ``conftest.py``): the same
  agreement cases of ``gpu/check.py`` with real CuPy, and the raw kernels against their
  emulations.
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from sparserec import backend
from sparserec.deconv import _kernels as deconv_kernels
from sparserec.operators import fwht_reference
from sparserec.wht import _cuda
from sparserec.wht._cuda import emulate_plan, fwht_plan
from sparserec.wht.fwht import _fwht_rows_xp, fwht

ROOT = Path(__file__).resolve().parents[1]


def _load_check():
    spec = importlib.util.spec_from_file_location("sparserec_gpu_check", ROOT / "gpu" / "check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHECK = _load_check()
CASE_IDS = [f"{c[0]}: {c[1]}" for c in CHECK.CASES]


def _emulated_rows(rows, scale=1.0, plan=None, **_):
    n_bits = rows.shape[-1].bit_length() - 1
    plan = plan or fwht_plan(n_bits, rows.dtype.itemsize)
    emulate_plan(rows.reshape(-1), plan, scale)
    return rows


# --------------------------------------------------------------------------- fwht plan
@pytest.mark.parametrize("itemsize", [4, 8])
@pytest.mark.parametrize("run_bytes", [16, 32, 128, 4096])
def test_fwht_plan_covers_every_bit_once(itemsize, run_bytes):
    log_tile = (_cuda.TILE_BYTES // itemsize).bit_length() - 1
    for n_bits in range(0, 41):
        plan = fwht_plan(n_bits, itemsize, run_bytes=run_bytes)
        lo = 0
        for i, step in enumerate(plan):
            assert step.lo == lo and (step.log_cols < 0) == (i == 0)
            if i:  # strided passes fill a tile with rows of >= run_bytes
                assert step.log_cols + step.n_bits == log_tile
                assert (1 << step.log_cols) * itemsize >= max(run_bytes, 16)
                assert step.log_cols <= step.lo  # columns are already transformed bits
            lo += step.n_bits
        assert lo == n_bits
        # the fewest passes the run length allows, spread evenly
        log_run = max((16 // itemsize).bit_length(), (run_bytes // itemsize).bit_length()) - 1
        per = log_tile - log_run
        assert len(plan) == 1 + -(-max(n_bits - log_tile, 0) // per)
        sizes = [p.n_bits for p in plan[1:]]
        assert not sizes or max(sizes) - min(sizes) <= 1


def test_fwht_plan_at_the_target_size():
    # 2^26 float32: the low 13 bits, then 13 bits in two passes of rows >= 32 bytes
    assert [tuple(p) for p in fwht_plan(26, 4)] == [(0, 13, -1), (13, 7, 6), (20, 6, 7)]
    assert len(fwht_plan(26, 8)) == 3 and len(fwht_plan(20, 8)) == 2


def test_fwht_plan_refuses_runs_as_long_as_a_tile():
    with pytest.raises(ValueError, match="run_bytes"):
        fwht_plan(30, 4, run_bytes=_cuda.TILE_BYTES)


@pytest.mark.parametrize("n_bits", [0, 1, 3, 7, 12, 13, 14, 20])
@pytest.mark.parametrize("run_bytes", [16, 32, 128])
def test_emulated_kernels_match_the_reference(n_bits, run_bytes, rng):
    x = rng.standard_normal((3, 1 << n_bits))
    plan = fwht_plan(n_bits, 8, run_bytes=run_bytes)
    y = emulate_plan(x.copy().ravel(), plan, 0.25).reshape(x.shape)
    np.testing.assert_allclose(y, 0.25 * fwht_reference(x), rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("ordering", ["natural", "sequency", "dyadic"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_device_fwht_driver_on_numpy(ordering, dtype, rng):
    x = rng.standard_normal((5, 64, 3))
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(x.shape)
    x = x.astype(dtype)
    y = _fwht_rows_xp(np, x, 1, np.dtype(dtype), 0.125, 6, ordering, None, _emulated_rows)
    ref = fwht(x, axis=1, normalize=True, ordering=ordering, backend="numpy")
    assert y.dtype == dtype
    tol = 1e-5 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-12
    np.testing.assert_allclose(y, ref, rtol=tol, atol=tol)


def test_device_fwht_driver_in_place_and_out(rng):
    x = rng.standard_normal((4, 32))
    ref = fwht(x, backend="numpy")
    assert _fwht_rows_xp(np, x, 1, x.dtype, 1.0, 5, "natural", x, _emulated_rows) is x
    np.testing.assert_allclose(x, ref, atol=1e-12)
    z = rng.standard_normal((32, 4))
    out = np.empty_like(z)
    res = _fwht_rows_xp(np, z, 0, z.dtype, 1.0, 5, "dyadic", out, _emulated_rows)
    assert res is out
    np.testing.assert_allclose(out, fwht(z, axis=0, ordering="dyadic", backend="numpy"),
                               atol=1e-12)


# --------------------------------------------------------------------------- starlet
@pytest.mark.parametrize("shape", [(7, 5), (33, 64), (16, 20)])
def test_starlet_gather_is_the_smoothing(shape, rng):
    from sparserec.deconv import _kernels
    from sparserec.deconv.starlet import smooth_axis_gather

    x = rng.random(shape)
    out, tmp = np.empty_like(x), np.empty_like(x)
    for step in (1, 2, 4, 8):  # holes larger than the short sides: multiple folds
        gathered = smooth_axis_gather(smooth_axis_gather(x, step, 1), step, 0)
        _kernels.get("numpy").smooth(x, out, step, tmp)
        np.testing.assert_allclose(gathered, out, atol=1e-14)


def test_lazy_data_term_equals_the_float(rng):
    from sparserec.deconv.forward import BlurModel, object_grid

    y = rng.random((20, 24))
    psf = np.outer([1, 2, 1], [1, 2, 1]) / 16.0
    shape, offset = object_grid(y.shape, [psf.shape])
    model = BlurModel([y], [psf], [1], [1.0], shape, offset, dtype=np.float64)
    x = rng.random(shape)
    value, grad = model.value_and_gradient(x)
    lazy, grad2 = model.value_and_gradient(x, lazy=True)
    assert isinstance(lazy, np.generic | np.ndarray) and float(lazy) == pytest.approx(value)
    np.testing.assert_array_equal(grad, grad2)


# --------------------------------------------------------------------------- bcd
@pytest.mark.parametrize("rule, partition, update", [("gsl", "variable", "newton"),
                                                     ("gs", "fixed", "gradient"),
                                                     ("cyclic", "sorted", "matrix")])
def test_device_squared_loss_reproduces_the_host_loss(rule, partition, update, rng):
    from sparserec.bcd import _kernels
    from sparserec.bcd.device import DeviceSquaredLoss
    from sparserec.bcd.losses import Penalty, SquaredLoss
    from sparserec.bcd.solver import bcd

    k = _kernels.get("numba")
    X = rng.standard_normal((120, 50))
    y = X[:, :4] @ np.ones(4) + 0.1 * rng.standard_normal(120)
    pen = Penalty(np.full(50, 0.05), np.zeros(50))
    kw = dict(rule=rule, partition=partition, update=update, iterations=range(200),
              kernels=k, tol=1e-8)
    host = bcd(SquaredLoss(X, y, True, k), pen, np.zeros((50, 1)), **kw)
    dev = bcd(DeviceSquaredLoss(X, y, True, k, np), pen, np.zeros((50, 1)), **kw)
    assert host.n_iter == dev.n_iter
    np.testing.assert_allclose(dev.W, host.W, atol=1e-12)


def test_device_quadratic_loss_reproduces_the_host_loss(rng):
    from sparserec.bcd import _kernels
    from sparserec.bcd.device import DeviceQuadraticLoss
    from sparserec.bcd.losses import Penalty, QuadraticLoss
    from sparserec.bcd.solver import bcd

    k = _kernels.get("numba")
    W = sp.random(60, 60, density=0.1, random_state=0)
    W = (W + W.T).tocsr()
    A = (sp.diags(np.asarray(W.sum(axis=1)).ravel() + 0.5) - W).tocsr()
    B = rng.random((60, 3))
    pen = Penalty(np.zeros(60), np.zeros(60))
    for rule, partition, update in [("gsl", "forest", "message-passing"),
                                    ("gs", "variable", "newton")]:
        kw = dict(rule=rule, partition=partition, update=update, iterations=range(300),
                  kernels=k, tol=1e-8)
        host = bcd(QuadraticLoss(A, B, k), pen, np.zeros((60, 3)), **kw)
        dev = bcd(DeviceQuadraticLoss(A, B, k, np), pen, np.zeros((60, 3)), **kw)
        assert host.n_iter == dev.n_iter
        np.testing.assert_allclose(dev.W, host.W, atol=1e-12)


# --------------------------------------------------------------------------- stand-in
@pytest.fixture
def numpy_as_cupy(monkeypatch):
    """``backend="cupy"`` with NumPy in CuPy's place and the kernels emulated."""
    monkeypatch.setitem(sys.modules, "cupy", np)
    monkeypatch.setattr(backend, "_cupy_status", lambda: (True, "NumPy standing in"))
    monkeypatch.setattr(_cuda, "fwht_rows", _emulated_rows)
    monkeypatch.setattr(deconv_kernels, "_smooth_cuda", _emulated_smoothing)
    # the fused CuPy updates: their array twins (compared on a GPU below)
    monkeypatch.setattr(deconv_kernels, "_primal_step_cuda", deconv_kernels.primal_step)
    monkeypatch.setattr(deconv_kernels, "_dual_step_cuda", deconv_kernels.dual_step)
    monkeypatch.setattr(deconv_kernels, "_blend_cuda", deconv_kernels.blend)


def _emulated_smoothing(x, out, step, tmp):
    """``gpu/starlet.cu`` as its NumPy reference computes it (one gather pass per axis)."""
    from sparserec.deconv.starlet import smooth_axis_gather

    out[...] = smooth_axis_gather(smooth_axis_gather(x, step, 1), step, 0)


@pytest.mark.parametrize("case", CHECK.CASES, ids=CASE_IDS)
def test_gpu_branches_with_numpy_standing_in(case, numpy_as_cupy):
    family, name, err, tol, status, _ = CHECK.run_case(case)
    if status.startswith("skipped"):
        pytest.skip(status)
    assert status == "ok", (name, err, tol, status)


def test_cupy_without_a_gpu_names_the_reason():
    if backend.backend_status()["cupy"][0]:
        pytest.skip("a GPU is available here")
    from sparserec import BackendUnavailableError, BCDRegressor

    with pytest.raises(BackendUnavailableError, match="backend='cupy' is unavailable"):
        BCDRegressor(backend="cupy").fit(np.ones((4, 2)), np.ones(4))
    with pytest.raises(BackendUnavailableError, match="backend='cupy' is unavailable"):
        fwht(np.ones(8), backend="cupy")


# --------------------------------------------------------------------------- on a GPU
@pytest.mark.gpu
@pytest.mark.parametrize("case", CHECK.CASES, ids=CASE_IDS)
def test_gpu_agrees_with_cpu(case):
    family, name, err, tol, status, _ = CHECK.run_case(case)
    if status.startswith("skipped"):
        pytest.skip(status)
    assert status == "ok", (name, err, tol, status)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("run_bytes", [16, 32, 128])
def test_fwht_kernels_match_their_emulation(dtype, run_bytes):
    import cupy

    rng = np.random.default_rng(0)
    for n_rows, n_bits in [(3, 1), (3, 5), (5, 11), (2, 12), (2, 13), (3, 16), (2, 20),
                           (1, 23)]:
        x = rng.standard_normal((n_rows, 1 << n_bits)).astype(dtype)
        plan = fwht_plan(n_bits, x.dtype.itemsize, run_bytes=run_bytes)
        dev = cupy.asarray(x)
        _cuda.fwht_rows(dev, 0.5, plan)
        ref = emulate_plan(x.astype(np.float64).ravel(), plan, 0.5).reshape(x.shape)
        tol = 1e-4 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(dev.get(), ref, rtol=tol, atol=tol * np.sqrt(x.shape[1]))
    # a view off the 16-byte alignment is transformed through a copy
    x = rng.standard_normal(1 + (1 << 14)).astype(dtype)
    dev = cupy.asarray(x)
    _cuda.fwht_rows(dev[1:], 1.0)
    np.testing.assert_allclose(dev[1:].get(), fwht_reference(x[1:].astype(np.float64)),
                               rtol=1e-4, atol=1e-2 if dtype == np.float32 else 1e-9)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_starlet_kernel_matches_the_gather(dtype):
    import cupy

    from sparserec.deconv import _kernels
    from sparserec.deconv.starlet import smooth_axis_gather

    x = np.random.default_rng(0).random((37, 70)).astype(dtype)
    xg = cupy.asarray(x)
    out, tmp = cupy.empty_like(xg), cupy.empty_like(xg)
    for step in (1, 2, 8, 32):
        _kernels.get("cupy").smooth(xg, out, step, tmp)
        want = smooth_axis_gather(smooth_axis_gather(x, step, 1), step, 0)
        np.testing.assert_allclose(out.get(), want, rtol=1e-6 if dtype == np.float32 else 1e-13)


def test_gpu_out_of_memory_names_the_work():
    class OutOfMemoryError(Exception):  # CuPy's class name; raised here without a GPU
        pass

    with pytest.raises(MemoryError, match=r"a 4096x4096 image .*1024 bytes.*tile by tile"):
        with backend.gpu_memory_guard("a 4096x4096 image", "deconvolve it tile by tile"):
            raise OutOfMemoryError("out of memory allocating 1024 bytes")
    with pytest.raises(ValueError):  # other errors pass through unchanged
        with backend.gpu_memory_guard("x"):
            raise ValueError("not memory")


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_condat_vu_steps_match_the_array_twins(dtype):
    import cupy

    from sparserec.deconv import _kernels

    rng = np.random.default_rng(0)
    host, dev = _kernels.get("numpy"), _kernels.get("cupy")
    x, grad, phit, x_ag = (rng.standard_normal((40, 36)).astype(dtype) for _ in range(4))
    u, w, wp, w_ag = (rng.standard_normal((3, 40, 36)).astype(dtype) for _ in range(4))
    lam = np.abs(rng.standard_normal((3, 40, 36))).astype(dtype)
    for positivity in (True, False):
        outs = []
        for k, conv in ((host, np.asarray), (dev, cupy.asarray)):
            a = [conv(v.copy()) for v in (x, grad, phit, x_ag, u, w, wp, w_ag, lam)]
            out, mid = conv(np.empty_like(x)), conv(np.empty_like(x))
            pz = k.partials(cupy if k is dev else np, 40, 2)
            pw = k.partials(cupy if k is dev else np, 3, 40)
            k.primal_step(a[0], a[1], a[2], dtype(0.3), positivity, out, a[3], dtype(0.4), pz)
            k.dual_step(a[4], a[5], a[6], a[7], a[8], dtype(0.7), dtype(0.5), dtype(0.4), pw)
            k.blend(a[0], a[3], dtype(0.25), mid)
            k.blend(a[7], a[5], dtype(0.25), a[7])
            outs.append([backend.to_host(v) for v in (out, a[3], pz, a[4], pw, mid, a[7])])
        tol = 1e-5 if dtype == np.float32 else 1e-12
        for h, d in zip(*outs, strict=True):
            np.testing.assert_allclose(d, h, rtol=tol, atol=tol * np.abs(h).max())


@pytest.mark.gpu
@pytest.mark.parametrize("dims", [(48, 40), (300, 7), (6, 50, 9)])
def test_fused_am_step_matches_the_host_m_step(dims):
    """``gpu/sbl.cu``'s one-launch M-step on full-size factors with pruned entries =
    the host M-step on the active entries alone."""
    import cupy

    from sparserec.sbl.kronecker import _am_step, _am_step_device

    rng = np.random.default_rng(1)
    masks = [rng.random(n) > 0.2 for n in dims]
    active = np.ix_(*masks)
    D = np.zeros(dims)
    D[active] = rng.gamma(2.0, size=D[active].shape)
    gammas = [np.where(m, rng.random(m.size) + 0.1, 0.0) for m in masks]
    host = _am_step(D[active], [g[m] for g, m in zip(gammas, masks, strict=True)],
                    [None] * len(dims))
    dev, _ = _am_step_device(cupy.asarray(D), [cupy.asarray(g) for g in gammas],
                             [cupy.asarray(m) for m in masks])
    for h, d, m in zip(host, dev, masks, strict=True):
        d = cupy.asnumpy(d)
        np.testing.assert_array_equal(d[~m], 0.0)
        np.testing.assert_allclose(d[m], h, rtol=1e-9)
