"""Matrix-free linear operators shared by the solver families.

Every operator is a :class:`scipy.sparse.linalg.LinearOperator` (so LSQR, LSMR, svds and
``@`` work on it) acting on flattened vectors, and also offers :meth:`apply` and
:meth:`adjoint` on arrays in their natural shape (a tensor for :class:`Kronecker`, an
image for :class:`Convolution`), with an optional leading batch axis. Those two methods
run unchanged on CuPy arrays.

Dense materialisation (``todense``) is refused above ``sparserec.get_config()
["max_dense_bytes"]`` (2 GiB by default).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.sparse.linalg import LinearOperator, aslinearoperator

from ._config import check_dense_size
from .backend import array_namespace, scipy_namespace

__all__ = ["Kronecker", "Convolution", "Hadamard", "Stacked", "mode_products",
           "fwht_reference", "parity", "walsh_eval"]


class _NDOperator(LinearOperator):
    """A LinearOperator whose matvec is ``apply`` on the reshaped vector."""

    in_shape: tuple
    out_shape: tuple

    def _matmat(self, X):
        xp = array_namespace(X)
        k = X.shape[1]
        Xt = xp.moveaxis(X.reshape(self.in_shape + (k,)), -1, 0)  # batch first
        Y = self.apply(Xt)
        return xp.moveaxis(Y, 0, -1).reshape(-1, k)

    def _rmatmat(self, Y):
        xp = array_namespace(Y)
        k = Y.shape[1]
        Yt = xp.moveaxis(Y.reshape(self.out_shape + (k,)), -1, 0)
        X = self.adjoint(Yt)
        return xp.moveaxis(X, 0, -1).reshape(-1, k)

    def _matvec(self, x):
        return self.apply(x.reshape(self.in_shape)).reshape(-1)

    def _rmatvec(self, y):
        return self.adjoint(y.reshape(self.out_shape)).reshape(-1)

    def todense(self) -> np.ndarray:
        """The operator as a dense matrix (refused above the configured size)."""
        check_dense_size(self.shape, self.dtype, f"{type(self).__name__}.todense()")
        return self._matmat(np.eye(self.shape[1], dtype=self.dtype))


def mode_products(mats, T):
    """Apply ``mats[i]`` along axis ``i`` of the trailing ``len(mats)`` axes of ``T``.

    This is ``(mats[0] ⊗ mats[1] ⊗ …) vec(T)`` on the tensor ``T`` (leading axes are a
    batch), for any number of factors. Two factors are two batched matrix products; for
    more, each ``tensordot`` contracts the first remaining mode and appends the new one
    last, so the modes come back in order without transposes.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.operators import mode_products
    >>> A, B, C = np.ones((2, 3)), np.eye(4), np.full((1, 5), 2.0)
    >>> mode_products([A, B, C], np.ones((3, 4, 5))).shape
    (2, 4, 1)
    """
    if len(mats) == 2:
        return mats[0] @ T @ mats[1].T
    xp = array_namespace(T, *mats)
    batch = T.ndim - len(mats)
    for A in mats:
        T = xp.tensordot(T, A, axes=([batch], [1]))
    return T


class Kronecker(_NDOperator):
    """The Kronecker product ``A_1 ⊗ A_2 ⊗ … ⊗ A_I`` without forming it.

    With NumPy's row-major ``vec``, ``(A_1 ⊗ A_2) x = vec(A_1 X A_2^T)`` where
    ``X = x.reshape(N_1, N_2)``: each factor acts on one axis of the tensor ``X``, so a
    product costs ``O(N Σ_i M_i)`` instead of ``O(M N)``.

    Parameters
    ----------
    *factors : 2-D arrays
        The factors ``A_i`` of shape ``(M_i, N_i)``; NumPy or CuPy, real or complex.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.operators import Kronecker
    >>> rng = np.random.default_rng(0)
    >>> A1, A2 = rng.normal(size=(3, 4)), rng.normal(size=(2, 5))
    >>> op = Kronecker(A1, A2)
    >>> x = rng.normal(size=20)
    >>> bool(np.allclose(op @ x, np.kron(A1, A2) @ x))
    True
    """

    def __init__(self, *factors):
        if len(factors) < 2:
            raise ValueError(f"Kronecker needs at least 2 factors, got {len(factors)}")
        for i, A in enumerate(factors):
            if getattr(A, "ndim", None) != 2:
                raise ValueError(
                    f"Kronecker factor {i} must be a 2-D array, got "
                    f"{getattr(A, 'shape', type(A).__name__)}"
                )
        self.factors = tuple(factors)
        self.out_shape = tuple(int(A.shape[0]) for A in factors)
        self.in_shape = tuple(int(A.shape[1]) for A in factors)
        dtype = np.result_type(*(A.dtype for A in factors))
        super().__init__(dtype=dtype, shape=(math.prod(self.out_shape), math.prod(self.in_shape)))

    @property
    def factor_shapes(self) -> tuple:
        """``((M_1, N_1), …, (M_I, N_I))``."""
        return tuple(A.shape for A in self.factors)

    def apply(self, X):
        """``(A_1 ⊗ … ⊗ A_I) x`` for a tensor ``X`` of shape ``(..., N_1, …, N_I)``."""
        return mode_products(self.factors, X)

    def adjoint(self, Y):
        """The conjugate-transpose product, for ``Y`` of shape ``(..., M_1, …, M_I)``."""
        return mode_products([A.conj().T for A in self.factors], Y)

    def _adjoint(self):
        return Kronecker(*(A.conj().T for A in self.factors))

    def todense(self) -> np.ndarray:
        check_dense_size(self.shape, self.dtype, "Kronecker.todense()")
        return functools.reduce(np.kron, self.factors)


_MODES = ("circular", "same", "valid")


def transfer_function(kernel, shape, *, real: bool = True):
    """FFT of a kernel centred at ``k // 2`` on each axis, as a circular convolution on a
    grid of ``shape``: the kernel is zero-padded to ``shape`` and its centre moved to
    index 0, so that multiplying a spectrum by it blurs without shifting.

    The one PSF → transfer-function step of sparserec (the deconvolution forward model,
    :class:`Convolution` in ``"circular"`` mode). ``real=True`` gives the half spectrum
    of ``rfftn``. The kernel's array module (NumPy or CuPy) is kept. A kernel larger
    than the grid is folded onto it (the circular convolution of the grid).

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.operators import transfer_function
    >>> h = transfer_function(np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]),
    ...                       (4, 6))
    >>> h.shape, bool(np.allclose(h, 1))
    ((4, 4), True)
    """
    xp = array_namespace(kernel)
    fft = scipy_namespace(xp, "fft")
    shape = tuple(int(n) for n in shape)
    axes = tuple(range(kernel.ndim))
    # a kernel larger than the grid is folded onto it (its periodic summation): the DFT
    # is then the kernel's spectrum sampled at the grid's frequencies, as for a small one
    reps = [-(-k // n) for k, n in zip(kernel.shape, shape, strict=True)]
    padded = xp.zeros(tuple(r * n for r, n in zip(reps, shape, strict=True)),
                      dtype=kernel.dtype)
    padded[tuple(slice(0, k) for k in kernel.shape)] = kernel
    padded = xp.roll(padded, [-(k // 2) for k in kernel.shape], axis=axes)
    if any(r > 1 for r in reps):
        folded = padded.reshape([d for r, n in zip(reps, shape, strict=True) for d in (r, n)])
        padded = folded.sum(axis=tuple(range(0, 2 * len(shape), 2)))
    return (fft.rfftn if real else fft.fftn)(padded, axes=axes)


def mirror_blur(image, psf):
    """Blur ``image`` as a scene that continues past the frame by mirror reflection.

    The image is extended by half-sample mirror reflection (``numpy.pad(mode="symmetric")``)
    by the PSF size and convolved (:class:`Convolution`, ``mode="valid"``), so the result
    has the image's shape and no periodic wrap-around; the PSF's centre is ``k // 2``. It
    is the forward model of the synthetic observations and of the baselines' residuals.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.operators import mirror_blur
    >>> bool(np.allclose(mirror_blur(np.ones((5, 6)), np.ones((3, 3)) / 9), 1))
    True
    """
    xp = array_namespace(image, psf)
    pad = [(k - 1 - k // 2, k // 2) for k in psf.shape]  # PSF centre at k // 2
    padded = xp.pad(image, pad, mode="symmetric")
    return Convolution(psf, padded.shape, mode="valid").apply(padded)


class Convolution(_NDOperator):
    """N-D convolution with a fixed kernel, by FFT (:mod:`scipy.fft`, or cuFFT on CuPy).

    Parameters
    ----------
    kernel : array
        The convolution kernel (a PSF), centred at index ``k // 2`` along each axis (as
        :func:`scipy.ndimage.convolve`; for odd sizes this is also
        :func:`scipy.signal.fftconvolve`'s ``"same"`` alignment).
    shape : tuple of int
        Shape of the input (the object).
    mode : {"circular", "same", "valid"}
        ``"circular"``: periodic boundaries, output of shape ``shape``.
        ``"same"``: zero boundaries, output of shape ``shape`` (as
        ``scipy.signal.fftconvolve(x, kernel, mode="same")``).
        ``"valid"``: only fully-determined outputs, shape ``shape - kernel.shape + 1``. Use it
        with an object larger than the image by the kernel size to model real, non-periodic
        images without edge artefacts.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.signal import fftconvolve
    >>> from sparserec.operators import Convolution
    >>> rng = np.random.default_rng(0)
    >>> x, h = rng.normal(size=(16, 12)), rng.random((5, 3))
    >>> op = Convolution(h, x.shape, mode="same")
    >>> bool(np.allclose(op.apply(x), fftconvolve(x, h, mode="same")))
    True
    """

    def __init__(self, kernel, shape, mode: str = "circular"):
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        shape = tuple(int(s) for s in shape)
        if kernel.ndim != len(shape):
            raise ValueError(
                f"kernel has {kernel.ndim} dimensions but shape {shape} has {len(shape)}"
            )
        if any(k > n for k, n in zip(kernel.shape, shape, strict=True)):
            raise ValueError(
                f"kernel of shape {kernel.shape} is larger than the input shape {shape}"
            )
        self.kernel = kernel
        self.mode = mode
        self.in_shape = shape
        ks = kernel.shape
        if mode == "valid":
            self.out_shape = tuple(n - k + 1 for n, k in zip(shape, ks, strict=True))
        else:
            self.out_shape = shape
        if mode == "circular":
            self._fft_shape = shape
        else:
            from scipy.fft import next_fast_len

            self._fft_shape = tuple(
                next_fast_len(n + k - 1, real=True) for n, k in zip(shape, ks, strict=True)
            )
        # where the output window starts inside the full linear convolution
        start = [k // 2 if mode == "same" else k - 1 for k in ks]
        self._crop = tuple(
            slice(s, s + m) for s, m in zip(start, self.out_shape, strict=True)
        )
        self._spectra = {}
        dtype = np.result_type(kernel.dtype, np.float64)
        super().__init__(dtype=dtype, shape=(math.prod(self.out_shape), math.prod(shape)))

    def _spectrum(self, xp, complex_fft: bool):
        key = (xp.__name__, complex_fft)
        if key not in self._spectra:
            fft = scipy_namespace(xp, "fft")
            kernel = xp.asarray(self.kernel)
            axes = tuple(range(kernel.ndim))
            if self.mode == "circular":
                spectrum = transfer_function(kernel, self._fft_shape, real=not complex_fft)
            else:  # linear convolution: the kernel's corner at index 0, zero padded
                transform = fft.fftn if complex_fft else fft.rfftn
                spectrum = transform(kernel, s=self._fft_shape, axes=axes)
            self._spectra[key] = spectrum
        return self._spectra[key]

    def _filter(self, x, adjoint: bool):
        xp = array_namespace(x)
        fft = scipy_namespace(xp, "fft")
        nd = len(self.in_shape)
        axes = tuple(range(x.ndim - nd, x.ndim))
        complex_fft = xp.iscomplexobj(x) or np.iscomplexobj(self.kernel)
        spectrum = self._spectrum(xp, complex_fft)
        if adjoint:
            spectrum = spectrum.conj()
        if complex_fft:
            out = fft.ifftn(fft.fftn(x, s=self._fft_shape, axes=axes) * spectrum, axes=axes)
        else:
            out = fft.irfftn(fft.rfftn(x, s=self._fft_shape, axes=axes) * spectrum,
                             s=self._fft_shape, axes=axes)
        return out

    def apply(self, x):
        """Convolve ``x`` of shape ``(..., *shape)``."""
        out = self._filter(x, adjoint=False)
        if self.mode == "circular":
            return out
        return out[(Ellipsis,) + self._crop]

    def adjoint(self, y):
        """Correlate ``y`` of shape ``(..., *out_shape)`` (the adjoint of :meth:`apply`)."""
        if self.mode != "circular":
            xp = array_namespace(y)
            full = xp.zeros(y.shape[: y.ndim - len(self.out_shape)] + self._fft_shape,
                            dtype=y.dtype)
            full[(Ellipsis,) + self._crop] = y
            y = full
        out = self._filter(y, adjoint=True)
        return out[(Ellipsis,) + tuple(slice(0, n) for n in self.in_shape)]


def parity(a) -> np.ndarray:
    """Parity (0/1, ``uint8``) of the set bits of each ``uint64``.

    ``np.bitwise_count`` (NumPy 2) where it exists, else the same by folding the word
    onto itself with XOR (NumPy 1.26).

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.operators import parity
    >>> parity(np.array([0, 1, 3, 7, 2**63 + 1], dtype=np.uint64)).tolist()
    [0, 1, 0, 1, 0]
    """
    a = np.asarray(a, dtype=np.uint64)
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(a) & np.uint8(1)
    for shift in (32, 16, 8, 4, 2, 1):
        a = a ^ (a >> np.uint64(shift))
    return (a & np.uint64(1)).astype(np.uint8)


def walsh_eval(indices, support, coef) -> np.ndarray:
    """A sparse Walsh spectrum's signal at some indices: ``x[m] = Σ_k X_k (−1)^{⟨k, m⟩}``.

    Parameters
    ----------
    indices : array of int
        The ``m`` (any shape; the result has that shape).
    support : 1-D array of uint64
        The frequencies ``k`` of the nonzero coefficients.
    coef : 1-D array
        Their values ``X_k``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.linalg import hadamard
    >>> from sparserec.operators import walsh_eval
    >>> spectrum = np.zeros(8); spectrum[[1, 6]] = [2.0, -1.0]
    >>> x = walsh_eval(np.arange(8), np.array([1, 6], dtype=np.uint64), np.array([2.0, -1.0]))
    >>> bool(np.allclose(x, hadamard(8) @ spectrum))
    True
    """
    idx = np.asarray(indices, dtype=np.uint64).ravel()
    support = np.asarray(support, dtype=np.uint64)
    out = np.empty(idx.size)
    for start in range(0, idx.size, 8192):  # bounded memory: chunk × K parity table
        chunk = idx[start:start + 8192]
        signs = 1 - 2 * parity(chunk[:, None] & support[None, :]).astype(np.int8)
        out[start:start + 8192] = signs @ coef
    return out.reshape(np.shape(indices))


def fwht_reference(x, axis: int = -1):
    """Unnormalised Walsh–Hadamard transform in natural (Sylvester) order, by butterflies.

    Viewing the length-``2**n`` axis as ``n`` axes of length 2, the transform is the
    2-point butterfly applied along each of them: ``O(N log N)`` vectorised NumPy/CuPy.
    The reference that the fast kernels of :func:`sparserec.wht.fwht` are tested
    against (and their fallback); use that function for speed.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.linalg import hadamard
    >>> from sparserec.operators import fwht_reference
    >>> x = np.arange(8.0)
    >>> bool(np.allclose(fwht_reference(x), hadamard(8) @ x))
    True
    """
    xp = array_namespace(x)
    x = xp.moveaxis(xp.asarray(x), axis, -1)
    n = x.shape[-1]
    n_bits = n.bit_length() - 1
    if n != 1 << n_bits:
        raise ValueError(f"length along axis must be a power of two, got {n}")
    batch = x.shape[:-1]
    y = x.reshape(batch + (2,) * n_bits)
    for k in range(n_bits):
        ax = len(batch) + k
        a, b = xp.take(y, 0, axis=ax), xp.take(y, 1, axis=ax)
        y = xp.stack((a + b, a - b), axis=ax)
    return xp.moveaxis(y.reshape(batch + (n,)), -1, axis)


class Hadamard(_NDOperator):
    """The ``2**n_bits``-point Walsh–Hadamard matrix (natural order) as an operator.

    Parameters
    ----------
    n_bits : int
        ``log2`` of the size.
    normalize : bool
        Divide by ``sqrt(2**n_bits)`` so that the operator is orthogonal (and its own
        inverse); otherwise entries are ±1 as in :func:`scipy.linalg.hadamard`.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.linalg import hadamard
    >>> from sparserec.operators import Hadamard
    >>> bool(np.array_equal(Hadamard(3, normalize=False).todense(), hadamard(8)))
    True
    """

    def __init__(self, n_bits: int, normalize: bool = True):
        if not isinstance(n_bits, (int, np.integer)) or not 0 <= n_bits <= 40:
            raise ValueError(f"n_bits must be an integer in [0, 40], got {n_bits!r}")
        self.n_bits = int(n_bits)
        self.normalize = normalize
        n = 1 << self.n_bits
        self.in_shape = self.out_shape = (n,)
        super().__init__(dtype=np.dtype(np.float64), shape=(n, n))

    def apply(self, x):
        """The transform of ``x`` along its last axis."""
        y = fwht_reference(x, axis=-1)
        return y / math.sqrt(self.shape[0]) if self.normalize else y

    adjoint = apply  # the Hadamard matrix is symmetric

    def _adjoint(self):
        return self


class Stacked(LinearOperator):
    """Operators stacked vertically (``axis=0``, shared input) or side by side (``axis=1``).

    Vertical stacking models several measurements of one unknown (e.g. one sky seen through
    several PSFs); horizontal stacking models one measurement of several unknowns.

    Parameters
    ----------
    operators : sequence of LinearOperator or 2-D arrays
    axis : {0, 1}

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.operators import Stacked
    >>> A, B = np.ones((2, 3)), 2 * np.ones((1, 3))
    >>> Stacked([A, B]) @ np.ones(3)
    array([3., 3., 6.])
    """

    def __init__(self, operators, axis: int = 0):
        if axis not in (0, 1):
            raise ValueError(f"axis must be 0 or 1, got {axis!r}")
        ops = [aslinearoperator(op) for op in operators]
        if not ops:
            raise ValueError("operators must contain at least one operator")
        shared = 1 - axis
        sizes = {op.shape[shared] for op in ops}
        if len(sizes) != 1:
            what = "columns" if axis == 0 else "rows"
            raise ValueError(f"stacked operators must have the same number of {what}, "
                             f"got shapes {[op.shape for op in ops]}")
        self.operators = ops
        self.axis = axis
        self._splits = np.cumsum([op.shape[axis] for op in ops])[:-1]
        total = int(sum(op.shape[axis] for op in ops))
        shape = (total, ops[0].shape[1]) if axis == 0 else (ops[0].shape[0], total)
        super().__init__(dtype=np.result_type(*(op.dtype for op in ops)), shape=shape)

    def _concat(self, x, transpose: bool):
        return np.concatenate([op.H @ x if transpose else op @ x for op in self.operators])

    def _sum(self, x, transpose: bool):
        parts = np.split(x, self._splits)
        return sum((op.H @ p if transpose else op @ p)
                   for op, p in zip(self.operators, parts, strict=True))

    def _matvec(self, x):
        return self._concat(x, False) if self.axis == 0 else self._sum(x, False)

    def _rmatvec(self, y):
        return self._sum(y, True) if self.axis == 0 else self._concat(y, True)
