"""The dense fast Walsh–Hadamard transform, its orderings and its operator form.

Convention (shared with :func:`sparserec.datasets.make_sparse_walsh` and
:class:`sparserec.SparseWHT`): for ``N = 2**n``,

.. math:: y[k] = \\sum_{m=0}^{N-1} x[m] (-1)^{\\langle k, m\\rangle},

where ``⟨k, m⟩`` is the parity of ``k & m`` (the natural, Sylvester or Hadamard order,
the rows of :func:`scipy.linalg.hadamard`). The transform is its own inverse up to a
factor ``N``; with ``normalize=True`` it is orthogonal and exactly its own inverse. A
signal ``x[m] = Σ_k X[k] (−1)^{⟨k,m⟩}`` therefore has ``fwht(x) / N == X``.

Orderings of the output rows:

* ``"natural"``: row ``k`` as above;
* ``"dyadic"`` (Paley): row ``p`` is the natural row ``bitreverse(p)``, the product of the
  Rademacher functions picked by the bits of ``p``;
* ``"sequency"`` (Walsh): row ``s`` changes sign exactly ``s`` times; it is the natural
  row ``bitreverse(gray(s))`` with ``gray(s) = s ^ (s >> 1)``.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import array_namespace, is_cupy_array, resolve_backend, to_device, to_host
from ..base import check_option
from ..operators import Hadamard, fwht_reference
from ..utils.threads import thread_limited

__all__ = ["ORDERINGS", "fwht", "natural_index", "WalshHadamard"]

ORDERINGS = ("natural", "sequency", "dyadic")


def natural_index(n_bits: int, ordering: str = "natural") -> np.ndarray:
    """The natural-order row of each row of an ordered Walsh–Hadamard matrix.

    Parameters
    ----------
    n_bits : int
        ``log2`` of the transform length.
    ordering : {"natural", "sequency", "dyadic"}

    Returns
    -------
    rows : ndarray of int64, shape (2**n_bits,)
        ``fwht(x, ordering=ordering) == fwht(x)[rows]``.

    Examples
    --------
    >>> from sparserec.wht import natural_index
    >>> natural_index(3, "sequency")
    array([0, 4, 6, 2, 3, 7, 5, 1])
    """
    check_option(ordering, "ordering", ORDERINGS)
    s = np.arange(1 << n_bits, dtype=np.int64)
    if ordering == "natural":
        return s
    if ordering == "sequency":
        s ^= s >> 1
    rows = np.zeros_like(s)
    for i in range(n_bits):
        rows |= ((s >> i) & 1) << (n_bits - 1 - i)
    return rows


def _work_dtype(x):
    kind = x.dtype.kind
    if kind in "biu":
        return np.dtype(np.float64)
    if kind == "f":
        return x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    if kind == "c":
        return x.dtype if x.dtype in (np.complex64, np.complex128) else np.dtype(np.complex128)
    raise TypeError(f"x must be a numeric array, got dtype {x.dtype}")


@thread_limited  # the n_threads setting (sparserec.set_config)
def fwht(x, axis: int = -1, *, normalize: bool = False, ordering: str = "natural",
         backend: str = "auto", out=None):
    """Fast Walsh–Hadamard transform along one axis, in ``O(N log N)``.

    Parameters
    ----------
    x : array-like
        Real or complex input; its length along ``axis`` must be a power of two. Other
        axes are a batch. Integers are transformed as float64. Like :mod:`numpy.fft`, the
        input is not checked for NaN or infinity: they spread to the outputs they touch.
    axis : int
        The transformed axis.
    normalize : bool
        Multiply by ``1/sqrt(N)`` so that the transform is orthogonal and its own inverse
        ("ortho" scaling). Otherwise the entries of the matrix are ±1 and
        ``fwht(fwht(x)) == N x``.
    ordering : {"natural", "sequency", "dyadic"}
        Row order of the output (see the module docstring).
    backend : {"auto", "numpy", "numba", "cupy"}
        ``"numba"``: in-place cache-blocked butterflies; from ``2**21`` values in all,
        parallel over the batch or within the transform (``sparserec.set_config(n_threads=...)``
        or ``numba.set_num_threads`` sets the threads; one thread can be faster on a busy
        machine). ``"numpy"``: vectorised
        butterflies (:func:`sparserec.operators.fwht_reference`). ``"cupy"``: the
        register kernel of ``gpu/fwht.cu`` (:mod:`sparserec.wht._cuda`; float32 stays
        float32); CuPy input gives CuPy output, NumPy input is copied to the GPU and the
        result back. ``out=x`` with a contiguous CuPy ``x`` transforms in place.
    out : ndarray, optional
        Where to write the result (same shape as ``x``, dtype float64/float32/complex as
        the input). Passing ``x`` itself transforms in place (no extra memory with the
        numba backend and natural ordering).

    Returns
    -------
    y : ndarray
        The transform, ``out`` if given.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.linalg import hadamard
    >>> from sparserec.wht import fwht
    >>> x = np.arange(8.0)
    >>> bool(np.allclose(fwht(x), hadamard(8) @ x))
    True
    >>> bool(np.allclose(fwht(fwht(x, normalize=True), normalize=True), x))
    True
    """
    xp = array_namespace(x)
    if xp is np:
        x = np.asarray(x)
    dtype = _work_dtype(x)
    if x.ndim == 0:
        raise ValueError("x must have at least one dimension, got a scalar")
    axis = int(axis)
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis must be in [-{x.ndim}, {x.ndim - 1}] for x of shape {x.shape}, "
                         f"got {axis}")
    axis %= x.ndim
    length = x.shape[axis]
    n_bits = length.bit_length() - 1
    if length < 1 or length != 1 << n_bits:
        raise ValueError(f"the length of x along axis {axis} must be a power of two, "
                         f"got {length} (shape {x.shape})")
    if not isinstance(normalize, (bool, np.bool_)):
        raise TypeError(f"normalize must be True or False, got {normalize!r}")
    check_option(ordering, "ordering", ORDERINGS)
    backend_ = resolve_backend(backend, x)
    if out is not None:
        _check_out(out, x.shape, dtype, backend_)
    scale = 1.0 / math.sqrt(length) if normalize else 1.0
    if backend_ == "numba":
        return _fwht_numba(to_host(x), axis, dtype, scale, n_bits, ordering, out)
    if backend_ == "cupy":
        import cupy

        from ._cuda import fwht_rows

        y = _fwht_rows_xp(cupy, x, axis, dtype, scale, n_bits, ordering, out, fwht_rows)
        return to_host(y) if out is None and not is_cupy_array(x) else y
    x = to_device(x, backend_, dtype=dtype)
    y = fwht_reference(x, axis=axis)
    if scale != 1.0:
        y *= scale
    if ordering != "natural":
        y = array_namespace(y).take(y, to_device(natural_index(n_bits, ordering), backend_),
                                    axis=axis)
    if out is None:
        return y
    out[...] = y
    return out


def _fwht_rows_xp(xp, x, axis, dtype, scale, n_bits, ordering, out, transform_rows):
    """The transform through ``transform_rows(rows, scale)``, an in-place kernel on the
    C-contiguous real rows of an ``xp`` array (the CuPy path; NumPy in the tests).

    The transformed axis is moved last and copied once (the kernels work in place; with
    ``out is x``, a contiguous real ``x`` and natural order, ``x`` itself is transformed);
    complex input is transformed as its real and imaginary parts.
    """
    length = 1 << n_bits
    last = axis == x.ndim - 1
    if out is x and last and ordering == "natural" and dtype.kind == "f" \
            and x.flags.c_contiguous:
        transform_rows(x.reshape(-1, length), scale)
        return x
    work = xp.moveaxis(xp.asarray(x, dtype=dtype), axis, -1)
    parts = (work.real, work.imag) if dtype.kind == "c" else (work,)
    parts = [xp.array(p, order="C", copy=True) for p in parts]
    for p in parts:
        transform_rows(p.reshape(-1, length), scale)
    work = parts[0] if len(parts) == 1 else (parts[0] + 1j * parts[1]).astype(dtype)
    if ordering != "natural":
        work = xp.take(work, xp.asarray(natural_index(n_bits, ordering)), axis=-1)
    y = work if last else xp.moveaxis(work, -1, axis)
    if out is None:
        return y
    out[...] = y if array_namespace(out) is xp else to_host(y)
    return out


def _check_out(out, shape, dtype, backend_):
    if backend_ != "cupy" and not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a NumPy array, got {type(out).__name__}")
    if out.shape != shape or out.dtype != dtype:
        raise ValueError(f"out must have shape {shape} and dtype {dtype}, got shape "
                         f"{out.shape} and dtype {out.dtype}")
    if isinstance(out, np.ndarray) and not out.flags.writeable:
        raise ValueError("out must be writeable")


def _fwht_numba(x, axis, dtype, scale, n_bits, ordering, out):
    from . import _kernels

    last = axis == x.ndim - 1

    def to_last(a):
        return a if last else np.moveaxis(a, axis, -1)

    moved = to_last(x)
    target = None if out is None else to_last(out)
    if target is not None and target.flags.c_contiguous:
        work = target
        if out is not x:
            np.copyto(work, moved)
    else:
        work = np.array(moved, dtype=dtype, order="C")
    rows = work.reshape(-1, work.shape[-1])
    _kernels.fwht_inplace(rows, scale)
    if ordering != "natural":
        ordered = np.empty_like(rows)
        _kernels.reorder(rows, ordered, n_bits, ordering == "sequency")
        if work is target:
            rows[...] = ordered
        else:
            work = ordered.reshape(work.shape)
    if target is None:
        return work if last else np.moveaxis(work, -1, axis)
    if work is not target:
        target[...] = work
    return out


class WalshHadamard(Hadamard):
    """The ``2**n_bits``-point Walsh–Hadamard transform as a LinearOperator.

    :class:`sparserec.operators.Hadamard` with the row ``ordering`` and the compute
    ``backend`` of :func:`fwht`. In all three orderings the matrix is symmetric, so the
    adjoint is the operator itself.

    Parameters
    ----------
    n_bits : int
        ``log2`` of the size.
    normalize : bool
        Orthogonal scaling ``1/sqrt(2**n_bits)``.
    ordering : {"natural", "sequency", "dyadic"}
    backend : {"auto", "numpy", "numba", "cupy"}

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.sparse.linalg import lsqr
    >>> from sparserec.wht import WalshHadamard
    >>> op = WalshHadamard(4, ordering="sequency")
    >>> x = np.arange(16.0)
    >>> bool(np.allclose(lsqr(op, op @ x, atol=1e-12, btol=1e-12)[0], x))
    True
    """

    def __init__(self, n_bits: int, normalize: bool = True, ordering: str = "natural",
                 backend: str = "auto"):
        super().__init__(n_bits, normalize=normalize)
        self.ordering = check_option(ordering, "ordering", ORDERINGS)
        self.backend = backend

    def apply(self, x):
        """The transform of ``x`` along its last axis."""
        return fwht(x, axis=-1, normalize=self.normalize, ordering=self.ordering,
                    backend=self.backend)

    adjoint = apply  # symmetric in every ordering
