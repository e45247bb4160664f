"""The starlet: isotropic undecimated (à trous) wavelet transform with the B3-spline kernel.

Scale ``j`` smooths the previous approximation with the separable kernel
``[1, 4, 6, 4, 1] / 16`` whose taps are ``2**j`` pixels apart, with mirror boundaries.
Each wavelet plane is the difference of two successive approximations, so the forward
transform ``Φ x = (w_0, …, w_{J-2}, c_{J-1})`` has ``J = n_scales`` planes, the last one
the coarse approximation, and the image is the sum of the planes
(:func:`starlet_reconstruct`).

The sum of the planes is a left inverse of ``Φ``, not its adjoint: the analysis solver
(Condat–Vũ) needs the true adjoint ``Φᵀ`` (:func:`starlet_adjoint`), computed by
Horner's scheme ``b = w_{J-1}``, ``b = w_j + S_j (b − w_j)`` for ``j = J−2, …, 0``.

Boundaries are the half-sample mirror (``scipy.ndimage`` mode ``"reflect"``,
``d c b a | a b c d | d c b a``, as ``numpy.pad(mode="symmetric")``). With it each
smoothing ``S_j`` is diagonalised by the orthonormal DCT-II, hence symmetric
(``S_jᵀ = S_j``) with eigenvalues ``ĥ(2**j ω) ∈ [0, 1]``, and ``‖Φ‖ = 1`` exactly — the
whole-sample mirror (``d c b | a b c d``) makes ``S_j`` non-symmetric and ``‖Φ‖``
up to about 1.1, which would shrink the solver's steps.

3-D stacks (microscopy) use the same transform along all three axes
(:func:`starlet_steps`): the hole of scale ``j`` along an axis is ``2**j`` pixels, or
``2**(j - j0)`` along an axis whose voxels are ``2**j0`` times coarser (``sampling``),
which is then not smoothed at the first ``j0`` scales — every atom keeps about the same
physical width along every axis — and an axis is no longer smoothed once the hole
reaches its length. Each smoothing is still symmetric with eigenvalues in ``[0, 1]``
(skipping an axis is the identity), so ``‖Φ‖ = 1`` holds in 3-D too. The 3-D smoothing
runs :func:`scipy.ndimage.convolve1d` in place along each axis (line-buffered, no
scratch array: the stacks are large) on every backend.

Backends of 2-D images (the kernels of :func:`sparserec.deconv._kernels.get`): ``"numpy"`` runs
:func:`scipy.ndimage.convolve1d`; ``"cupy"`` runs the five-tap kernel of
``gpu/starlet.cu`` once per axis (:func:`smooth_axis_gather` is the same computation in
NumPy); ``"numba"`` applies the 1-D smoothing matrices (five taps with the boundary
folds, in CSR form, :func:`smoothing_csr`) with parallel kernels, several times faster.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..backend import array_namespace, resolve_backend, scipy_namespace

__all__ = [
    "B3_SPLINE",
    "Starlet",
    "starlet_transform",
    "starlet_adjoint",
    "starlet_reconstruct",
    "starlet_noise_levels",
    "max_scales",
    "starlet_steps",
    "smooth_nd",
]

B3_SPLINE = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def max_scales(shape) -> int:
    """Largest useful number of scales for an image of ``shape``.

    The hole size ``2**j`` of the last smoothing stays below the smaller side.

    Examples
    --------
    >>> from sparserec.deconv.starlet import max_scales
    >>> max_scales((64, 100))
    7
    """
    return max(2, int(math.floor(math.log2(max(2, min(shape))))) + 1)


def _mirror_index(q: np.ndarray, n: int) -> np.ndarray:
    """Index of position ``q`` after half-sample mirror extension of a length-``n`` axis."""
    period = 2 * n
    q = np.mod(q, period)
    return np.where(q >= n, period - 1 - q, q)


@functools.lru_cache(maxsize=64)
def smoothing_csr(n: int, step: int, dtype_str: str):
    """The 1-D smoothing with holes ``step`` and mirror boundaries, as CSR arrays."""
    from scipy.sparse import coo_matrix

    rows = np.repeat(np.arange(n), 5)
    cols = _mirror_index(rows + np.tile((np.arange(5) - 2) * step, n), n)
    mat = coo_matrix((np.tile(B3_SPLINE, n), (rows, cols)), shape=(n, n)).tocsr()
    mat.sum_duplicates()
    mat.sort_indices()
    return (mat.indptr.astype(np.int64), mat.indices.astype(np.int64),
            mat.data.astype(np.dtype(dtype_str)))


def smooth_axis_gather(x, step: int, axis: int):
    """One à trous smoothing along ``axis`` as the GPU kernel computes it: five gathers at
    mirrored positions (``xp``-generic; the reference for ``gpu/starlet.cu``)."""
    xp = array_namespace(x)
    n = x.shape[axis]
    pos = np.arange(n)
    out = None
    for m, tap in zip(range(-2, 3), B3_SPLINE, strict=True):
        term = tap * xp.take(x, xp.asarray(_mirror_index(pos + m * step, n)), axis=axis)
        out = term if out is None else out + term
    return out.astype(x.dtype, copy=False)


def dilated_kernel(step: int) -> np.ndarray:
    """The five B3 taps ``step`` pixels apart, as one 1-D convolution kernel."""
    kernel = np.zeros(4 * step + 1)
    kernel[::step] = B3_SPLINE
    return kernel


def starlet_steps(shape, n_scales: int, sampling=None) -> tuple:
    """The hole of each scale's smoothing along each axis (0: that axis is not smoothed).

    Along an axis whose voxel size is ``2**j0`` times the smallest one (``j0`` the
    rounded ``log2`` of the ratio, from ``sampling``), scale ``j`` smooths with the hole
    ``2**(j - j0)`` when ``j >= j0``; a hole of at least the axis's length is dropped.

    Examples
    --------
    >>> from sparserec.deconv.starlet import starlet_steps
    >>> starlet_steps((8, 64, 64), 4, sampling=(0.2, 0.1, 0.1))
    ((0, 1, 1), (1, 2, 2), (2, 4, 4))
    """
    shape = tuple(int(n) for n in shape)
    if sampling is None:
        sampling = (1.0,) * len(shape)
    sampling = np.asarray(sampling, dtype=np.float64)
    if sampling.shape != (len(shape),) or not np.all(np.isfinite(sampling)) \
            or np.any(sampling <= 0):
        raise ValueError(f"sampling must hold one positive voxel size per axis "
                         f"({len(shape)}), got {sampling.tolist()!r}")
    lag = [int(v) for v in np.rint(np.log2(sampling / sampling.min()))]
    steps = []
    for j in range(n_scales - 1):
        steps.append(tuple(2 ** (j - j0) if j >= j0 and 2 ** (j - j0) < n else 0
                           for j0, n in zip(lag, shape, strict=True)))
    return tuple(steps)


def smooth_nd(x, out, steps):
    """One à trous B3 smoothing of an n-D array, ``steps[a]`` the hole along axis ``a``
    (0: not smoothed), half-sample mirror boundaries, into ``out`` (may be ``x``)."""
    xp = array_namespace(x)
    ndimage = scipy_namespace(xp, "ndimage")
    src = x
    for axis, step in enumerate(steps):
        if not step:
            continue
        kernel = xp.asarray(dilated_kernel(step).astype(out.dtype))
        if xp is np:  # line-buffered: in place is exact and needs no scratch
            ndimage.convolve1d(src, kernel, axis=axis, mode="reflect", output=out)
        else:
            out[...] = ndimage.convolve1d(src, kernel, axis=axis, mode="reflect")
        src = out
    if src is not out:
        out[...] = src


class Starlet:
    """The starlet transform of images (2-D) or stacks (3-D) of one shape.

    Parameters
    ----------
    shape : tuple of int
        Image shape ``(H, W)`` or stack shape ``(D, H, W)``.
    n_scales : int
        Number of planes ``J`` (``J - 1`` wavelet planes and the coarse plane), ``>= 2``.
    backend : {"numpy", "numba", "cupy"}
        Concrete backend (see :mod:`sparserec.backend`).
    dtype : dtype
        float32 or float64.
    sampling : sequence of float, optional
        Voxel size along each axis of a 3-D stack (:func:`starlet_steps`).

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.deconv.starlet import Starlet
    >>> x = np.random.default_rng(0).random((16, 20))
    >>> phi = Starlet(x.shape, n_scales=3)
    >>> w = phi.forward(x)
    >>> w.shape, bool(np.allclose(w.sum(axis=0), x))
    ((3, 16, 20), True)
    """

    def __init__(self, shape, n_scales: int, backend: str = "numpy", dtype=np.float64,
                 sampling=None):
        self.shape = tuple(int(s) for s in shape)
        if len(self.shape) not in (2, 3) or min(self.shape) < 1:
            raise ValueError(f"shape must be a 2-D image or 3-D stack shape, got {shape}")
        if not isinstance(n_scales, (int, np.integer)) or n_scales < 2:
            raise ValueError(f"n_scales must be an integer >= 2, got {n_scales!r}")
        self.n_scales = int(n_scales)
        self.backend = backend
        self.dtype = np.dtype(dtype)
        self.coeff_shape = (self.n_scales,) + self.shape
        # 3-D: the holes per scale and axis; 2-D keeps the backend's kernels
        self.steps = None if len(self.shape) == 2 and sampling is None else \
            starlet_steps(self.shape, self.n_scales, sampling)

    @functools.cached_property
    def _kernels(self):
        from . import _kernels

        # the numba kernels are 2-D: stacks take the array expressions
        return _kernels.get("numpy" if self.steps is not None and self.backend == "numba"
                            else self.backend)

    def _smooth(self, j, x, out, tmp):
        if self.steps is None:
            self._kernels.smooth(x, out, 2**j, tmp)
        else:
            smooth_nd(x, out, self.steps[j])

    def _scratch(self, xp):
        """Two image buffers, made once per array module."""
        buffers = self.__dict__.setdefault("_buffers", {})
        if xp.__name__ not in buffers:
            buffers[xp.__name__] = tuple(xp.empty(self.shape, dtype=self.dtype)
                                         for _ in range(2))
        return buffers[xp.__name__]

    def _check(self, x, shape, name):
        if tuple(x.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {tuple(x.shape)}")

    # ------------------------------------------------------------------ public
    def forward(self, x, out=None):
        """``Φ x``: the ``(n_scales, *shape)`` planes of image ``x``."""
        self._check(x, self.shape, "image")
        k, xp = self._kernels, array_namespace(x)
        out = xp.empty(self.coeff_shape, dtype=self.dtype) if out is None else out
        tmp = self._scratch(xp)[0]
        out[0] = x
        for j in range(self.n_scales - 1):
            self._smooth(j, out[j], out[j + 1], tmp)
            k.subtract_into(out[j], out[j + 1])
        return out

    def adjoint(self, w, out=None):
        """``Φᵀ w`` for planes ``w`` of shape ``(n_scales, *shape)``.

        Horner's scheme: ``b = w_{J-1}``, then ``b = w_j + S_j (b - w_j)`` for
        ``j = J-2, …, 0``, where ``S_j = S_jᵀ`` is the smoothing at scale ``j``.
        """
        self._check(w, self.coeff_shape, "coefficients")
        k, xp = self._kernels, array_namespace(w)
        w = xp.asarray(w, dtype=self.dtype)
        out = xp.empty(self.shape, dtype=self.dtype) if out is None else out
        tmp, diff = self._scratch(xp)
        out[...] = w[-1]
        for j in range(self.n_scales - 2, -1, -1):
            k.horner_step(w[j], out, diff)
            self._smooth(j, diff, out, tmp)
            k.add_into(out, w[j], out)
        return out

    norm2 = 1.0
    """``‖Φ‖²``: exactly 1 with half-sample mirror boundaries (see the module notes)."""


@functools.lru_cache(maxsize=16)
def starlet_noise_levels(n_scales: int, ndim: int = 2) -> np.ndarray:
    """Standard deviation of each starlet plane for unit white Gaussian noise.

    Exact, from the filters' energies (the norm of each plane's impulse response),
    away from the boundaries; ``ndim=3`` for the isotropic 3-D starlet.

    Examples
    --------
    >>> from sparserec.deconv.starlet import starlet_noise_levels
    >>> [round(float(s), 4) for s in starlet_noise_levels(3)]
    [0.8908, 0.2007, 0.1235]
    """
    half = 2 * (2 ** (n_scales - 1) - 1)  # support half-width of the widest filter
    size = 2 * half + 1
    delta = np.zeros((size,) * ndim)
    delta[(half,) * ndim] = 1.0
    planes = Starlet(delta.shape, n_scales).forward(delta)
    levels = np.sqrt((planes**2).reshape(n_scales, -1).sum(axis=1))
    levels.setflags(write=False)
    return levels


def _resolve(backend: str, x) -> str:
    return resolve_backend(backend, x)


def starlet_transform(image, n_scales: int = 4, *, backend: str = "auto", sampling=None):
    """Forward starlet transform of a 2-D image or a 3-D stack.

    Parameters
    ----------
    image : 2-D or 3-D array
    n_scales : int
        Number of planes, the last one being the coarse approximation.
    backend : {"auto", "numpy", "numba", "cupy"}
    sampling : sequence of float, optional
        Voxel size per axis of a 3-D stack (anisotropic holes, :func:`starlet_steps`).

    Returns
    -------
    coeffs : array of shape (n_scales, *image.shape)

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.deconv import starlet_transform, starlet_reconstruct
    >>> x = np.random.default_rng(0).random((32, 32))
    >>> w = starlet_transform(x, 4)
    >>> bool(np.allclose(starlet_reconstruct(w), x))
    True
    """
    from ..base import check_finite_array

    image = check_finite_array(image, "image", ndim=(2, 3))
    name = _resolve(backend, image)
    return Starlet(image.shape, n_scales, name, image.dtype, sampling).forward(image)


def starlet_adjoint(coeffs, *, backend: str = "auto", sampling=None):
    """Adjoint ``Φᵀ`` of :func:`starlet_transform` (not its inverse).

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.deconv import starlet_transform, starlet_adjoint
    >>> rng = np.random.default_rng(0)
    >>> x, w = rng.random((24, 24)), rng.random((3, 24, 24))
    >>> lhs = np.vdot(starlet_transform(x, 3), w)
    >>> bool(np.isclose(lhs, np.vdot(x, starlet_adjoint(w))))
    True
    """
    from ..base import check_finite_array

    coeffs = check_finite_array(coeffs, "coeffs", ndim=(3, 4))
    name = _resolve(backend, coeffs)
    return Starlet(coeffs.shape[1:], coeffs.shape[0], name, coeffs.dtype,
                   sampling).adjoint(coeffs)


def starlet_reconstruct(coeffs):
    """The image from its starlet planes: their sum (the transform's left inverse)."""
    xp = array_namespace(coeffs)
    return xp.asarray(coeffs).sum(axis=0)
