"""The kernels of the deconvolution family, one namespace per backend.

:func:`get` returns, for a concrete backend, the same set of functions: the starlet's
smoothing and plane arithmetic, and the fused primal–dual / FISTA updates. ``"numba"``
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


def blend(a, b, weight, out):
    """``out = a + w (b − a)``, the convex combination ``(1 − w) a + w b``."""
    out[...] = a + weight * (b - a)


def primal_step(x, grad, phit_u, eta, positivity, out, x_ag, weight, partial):
    """Accelerated primal–dual primal update: ``out = P(x − η(∇f + Φᵀu))``, then the
    average ``x_ag ← x_ag + w (out − x_ag)`` in place; ``partial[i] = (Σ (out − x)²,
    Σ out²)`` over row ``i``."""
    new = grad + phit_u
    new *= -eta
    new += x
    if positivity:
        new = project_nonnegative(new)
    out[...] = new
    x_ag += weight * (new - x_ag)
    new -= x
    partial[:, 0] = _row_sums(new * new)
    partial[:, 1] = _row_sums(out * out)


def dual_step(u, w, w_prev, w_ag, lam, tau, theta, weight, partial):
    """Accelerated primal–dual dual update in place: ``u ← clip(u + τ((1 + θ) w − θ
    w_prev), −λ, λ)`` (the dual step at the extrapolated point, ``w = Φx``), and
    ``partial[j, i] = Σ λ|w_ag + ω (w − w_ag)|`` over row ``i`` of plane ``j`` (the
    penalty at the gradient's point)."""
    xp = array_namespace(u)
    u[...] = project_box(u + tau * ((1 + theta) * w - theta * w_prev), lam)
    partial[...] = (lam * xp.abs(w_ag + weight * (w - w_ag))).sum(axis=-1, dtype=np.float64)


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
    """The primal–dual updates as fused CuPy kernels: one pass over the arrays each, where
    the NumPy-style twins make a temporary per operation (the steps are memory bound)."""
    import cupy

    primal = cupy.ElementwiseKernel(
        "T x, T grad, T phit, T eta, bool positivity, T weight", "T out, T x_ag",
        "T n = x - eta * (grad + phit); if (positivity && n < 0) n = 0; out = n;"
        "x_ag = x_ag + weight * (n - x_ag);", "sparserec_primal_step")
    dual = cupy.ElementwiseKernel(
        "T w, T wp, T lam, T tau, T theta", "T u",
        "T v = u + tau * ((1 + theta) * w - theta * wp);"
        "u = v > lam ? lam : (v < -lam ? -lam : v);", "sparserec_dual_step")
    blend = cupy.ElementwiseKernel("T a, T b, T weight", "T out", "out = a + weight * (b - a)",
                                   "sparserec_blend")
    square = cupy.ReductionKernel("T a", "float64 s", "(double)a * (double)a", "a + b",
                                  "s = a", "0", "sparserec_row_square")
    square_diff = cupy.ReductionKernel(
        "T a, T b", "float64 s", "((double)a - (double)b) * ((double)a - (double)b)",
        "a + b", "s = a", "0", "sparserec_row_square_diff")
    weighted = cupy.ReductionKernel(
        "T lam, T wag, T w, T weight", "float64 s",
        "(double)lam * fabs((double)wag + (double)weight * ((double)w - (double)wag))",
        "a + b", "s = a", "0", "sparserec_row_weighted_abs")
    return SimpleNamespace(primal=primal, dual=dual, blend=blend, square=square,
                           square_diff=square_diff, weighted=weighted)


def _primal_step_cuda(x, grad, phit_u, eta, positivity, out, x_ag, weight, partial):
    """:func:`primal_step` in three CuPy kernels."""
    k = _fused_cuda()
    k.primal(x, grad, phit_u, eta, bool(positivity), weight, out, x_ag)
    partial[:, 0] = k.square_diff(out, x, axis=1)
    partial[:, 1] = k.square(out, axis=1)


def _dual_step_cuda(u, w, w_prev, w_ag, lam, tau, theta, weight, partial):
    """:func:`dual_step` in two CuPy kernels."""
    k = _fused_cuda()
    k.dual(w, w_prev, lam, tau, theta, u)
    partial[...] = k.weighted(lam, w_ag, w, weight, axis=w.ndim - 1)


def _blend_cuda(a, b, weight, out):
    """:func:`blend` in one CuPy kernel."""
    _fused_cuda().blend(a, b, weight, out)


def _blend_numba(a, b, weight, out):
    from . import _numba

    _numba.blend(a.reshape(-1), b.reshape(-1), weight, out.reshape(-1))


def _smooth_numba(x, out, step: int, tmp):
    from . import _numba
    from .starlet import B3_SPLINE, smoothing_csr

    key = x.dtype.str
    _numba.csr_axis1(*smoothing_csr(x.shape[1], step, key), B3_SPLINE.astype(x.dtype), step,
                     x, tmp)
    _numba.csr_axis0(*smoothing_csr(x.shape[0], step, key), tmp, out)


_TWINS = ("subtract_into", "horner_step", "add_into", "primal_step", "dual_step",
          "fista_step")


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
        funcs.update(smooth=_smooth_numba, blend=_blend_numba)
    else:
        funcs = {name: globals()[name] for name in _TWINS}
        funcs["smooth"] = _smooth_cuda if backend == "cupy" else _smooth_numpy
        funcs["blend"] = _blend_cuda if backend == "cupy" else blend
        if backend == "cupy":
            funcs.update(primal_step=_primal_step_cuda, dual_step=_dual_step_cuda)
    return SimpleNamespace(backend=backend, partials=partials, **funcs)
