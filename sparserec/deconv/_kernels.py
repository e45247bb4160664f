"""The kernels of the deconvolution family, one namespace per backend.

:func:`get` returns, for a concrete backend, the same set of functions: the starlet's
smoothing and plane arithmetic, and the fused Condat–Vũ / FISTA updates. ``"numba"``
gets the compiled kernels of :mod:`sparserec.deconv._numba`; ``"numpy"`` and ``"cupy"``
get the array-expression twins below, which run on whichever array module their inputs
live in (the starlet smoothing on CuPy is the five-tap kernel of ``gpu/starlet.cu``). The
solvers and the transform have one loop body and call only these names.

Every update writes per-row partial sums into a ``partial`` buffer of the inputs' array
module (from :func:`partials`); the solvers reduce them when they test convergence, so
on the GPU nothing is read back to the host inside the loop.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np

from ..backend import array_namespace, cuda_module, scipy_namespace
from .prox import project_box, project_nonnegative, soft_threshold

__all__ = ["get"]


def partials(xp, n_rows: int, n_cols: int):
    """Buffer for the per-row partial sums of the updates (float64, zero)."""
    return xp.zeros((n_rows, n_cols), dtype=np.float64)


# ---------------------------------------------------------------- array twins (NumPy, CuPy)
def _row_sums(a):
    return a.reshape(a.shape[0], -1).sum(axis=1, dtype=np.float64)


def subtract_into(a, b):
    """``a -= b``."""
    a -= b


def horner_step(w, b, t):
    """``t = b - w``."""
    array_namespace(t).subtract(b, w, out=t)


def add_into(a, b, out):
    """``out = a + b``."""
    array_namespace(out).add(a, b, out=out)


def primal_step(x, grad, phit_u, tau, positivity, z, partial):
    """Condat–Vũ primal update in place: ``x ← P(x − τ(∇f + Φᵀu))``, ``z = 2x_new − x``,
    ``partial[i] = (Σ (x_new − x)², Σ x_new²)`` over row ``i``."""
    xp = array_namespace(x)
    new = grad + phit_u
    new *= -tau
    new += x
    if positivity:
        new = project_nonnegative(new)
    xp.subtract(new, x, out=z)  # z = x_new - x for now
    partial[:, 0] = _row_sums(z * z)
    partial[:, 1] = _row_sums(new * new)
    z += new  # 2 x_new - x
    x[...] = new


def dual_step(u, wz, wx, lam, sigma, partial):
    """Condat–Vũ dual update in place: ``u ← clip(u + σ wz, −λ, λ)``, ``wx ← (wz + wx)/2``,
    ``partial[j, i] = Σ λ|wx|`` over row ``i`` of plane ``j``."""
    xp = array_namespace(u)
    u[...] = project_box(u + sigma * wz, lam)
    wx += wz
    wx *= 0.5
    partial[...] = (lam * xp.abs(wx)).sum(axis=-1, dtype=np.float64)


def fista_step(alpha, grad, step, lam, momentum, prev, partial):
    """FISTA step on 2-D views of the coefficients, in place (see the numba kernel)."""
    xp = array_namespace(alpha)
    partial[:, 2] = (lam * xp.abs(alpha)).sum(axis=1, dtype=np.float64)
    new = soft_threshold(alpha - step * grad, step * lam)
    d = new - prev
    partial[:, 0] = (d * d).sum(axis=1, dtype=np.float64)
    partial[:, 1] = (new * new).sum(axis=1, dtype=np.float64)
    alpha[...] = new + momentum * d
    prev[...] = new


def _smooth_numpy(x, out, step: int, tmp):
    from .starlet import dilated_kernel

    ndimage = scipy_namespace(np, "ndimage")
    kernel = dilated_kernel(step).astype(x.dtype)
    ndimage.convolve1d(x, kernel, axis=1, mode="reflect", output=tmp)
    ndimage.convolve1d(tmp, kernel, axis=0, mode="reflect", output=out)


def _smooth_cuda(x, out, step: int, tmp):
    """``gpu/starlet.cu``: the five-tap kernel once per axis (C-contiguous images)."""
    ctype = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}[x.dtype]
    kernel = cuda_module("starlet.cu", ("atrous_axis<float>", "atrous_axis<double>")) \
        .get_function(f"atrous_axis<{ctype}>")
    n0, n1 = x.shape
    threads = 256
    grid = ((x.size + threads - 1) // threads,)
    for src, dst, axis in ((x, tmp, 1), (tmp, out, 0)):
        kernel(grid, (threads,), (src, dst, np.int32(n0), np.int32(n1), np.int32(step),
                                  np.int32(axis)))


@functools.cache
def _fused_cuda():
    """The Condat–Vũ updates as fused CuPy kernels: one pass over the arrays each, where
    the NumPy-style twins make a temporary per operation (the steps are memory bound)."""
    import cupy

    primal = cupy.ElementwiseKernel(
        "T grad, T phit, T tau, bool positivity", "T x, T z",
        "T n = x - tau * (grad + phit); if (positivity && n < 0) n = 0; z = n - x; x = n;",
        "sparserec_primal_step")
    dual = cupy.ElementwiseKernel(
        "T wz, T lam, T sigma", "T u, T wx",
        "T v = u + sigma * wz; u = v > lam ? lam : (v < -lam ? -lam : v);"
        "wx = (wz + wx) * (T)0.5;", "sparserec_dual_step")
    square = cupy.ReductionKernel("T a", "float64 s", "(double)a * (double)a", "a + b",
                                  "s = a", "0", "sparserec_row_square")
    weighted = cupy.ReductionKernel("T lam, T w", "float64 s", "(double)lam * fabs((double)w)",
                                    "a + b", "s = a", "0", "sparserec_row_weighted_abs")
    return primal, dual, square, weighted


def _primal_step_cuda(x, grad, phit_u, tau, positivity, z, partial):
    """:func:`primal_step` in three CuPy kernels."""
    primal, _, square, _ = _fused_cuda()
    primal(grad, phit_u, tau, bool(positivity), x, z)  # x <- x_new, z <- x_new - x
    partial[:, 0] = square(z, axis=1)
    partial[:, 1] = square(x, axis=1)
    z += x  # 2 x_new - x


def _dual_step_cuda(u, wz, wx, lam, sigma, partial):
    """:func:`dual_step` in two CuPy kernels."""
    _, dual, _, weighted = _fused_cuda()
    dual(wz, lam, sigma, u, wx)
    partial[...] = weighted(lam, wx, axis=wx.ndim - 1)


def _smooth_numba(x, out, step: int, tmp):
    from . import _numba
    from .starlet import B3_SPLINE, smoothing_csr

    key = x.dtype.str
    _numba.csr_axis1(*smoothing_csr(x.shape[1], step, key), B3_SPLINE.astype(x.dtype), step,
                     x, tmp)
    _numba.csr_axis0(*smoothing_csr(x.shape[0], step, key), tmp, out)


_TWINS = ("subtract_into", "horner_step", "add_into", "primal_step", "dual_step", "fista_step")


def get(backend: str) -> SimpleNamespace:
    """The kernels of ``backend`` (``"numpy"``, ``"numba"`` or ``"cupy"``) as a namespace.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.deconv import _kernels
    >>> k = _kernels.get("numpy")
    >>> a = np.ones((2, 3)); k.subtract_into(a, a); float(a.sum())
    0.0
    """
    if backend == "numba":
        from . import _numba

        funcs = {name: getattr(_numba, name) for name in _TWINS}
        funcs["smooth"] = _smooth_numba
    else:
        funcs = {name: globals()[name] for name in _TWINS}
        funcs["smooth"] = _smooth_cuda if backend == "cupy" else _smooth_numpy
        if backend == "cupy":
            funcs.update(primal_step=_primal_step_cuda, dual_step=_dual_step_cuda)
    return SimpleNamespace(backend=backend, partials=partials, **funcs)
