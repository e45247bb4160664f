"""Wavelet transforms as linear operators for the solvers: the starlet and PyWavelets.

Every transform maps an image of shape ``(H, W)`` to a coefficient array of shape
``coeff_shape = (n_planes, H, W)`` and offers, for the solvers:

- ``forward`` (analysis ``Φ``) and ``adjoint`` (``Φᵀ``), with ``norm2 = ‖Φ‖²``;
- ``synthesis`` (``Ψ``, coefficients → image) and ``synthesis_adjoint`` (``Ψᵀ``), with
  ``synthesis_norm2 = ‖Ψ‖²``;
- ``groups``: an integer label per coefficient (one per scale and orientation), ``-1``
  for the coarse approximation, which is never penalised;
- ``atom(group)``: ``Φᵀ e`` for a unit coefficient ``e`` of a group (a row of ``Φ``, and
  a column of ``Ψ = Φᵀ``), used to propagate noise.

PyWavelets transforms use orthogonal wavelets with periodic boundaries
(``mode="periodization"``), so the decimated DWT (``wavedec2``) is an orthonormal basis
and the stationary SWT (``swt2`` with ``norm=True, trim_approx=True``) a Parseval tight
frame: for both ``Ψ = Φᵀ`` and ``‖Φ‖ = 1``. The periodic wrap only touches the margin of
the extended object grid (see :mod:`sparserec.deconv.forward`). For the starlet, too,
the synthesis is ``Ψ = Φᵀ``, whose atoms are the band-pass starlet functions: its
inverse, the sum of the planes, has a Dirac for every atom, so a synthesis prior
through it would not be multiscale at all.
"""

from __future__ import annotations

import numpy as np

from ..backend import get_namespace
from .starlet import Starlet

__all__ = ["StarletTransform", "StationaryHaar", "PywtTransform", "make_transform"]


class _PlaneGroups:
    """Groups that are whole coefficient planes: one per plane, ``-1`` for the last
    (coarse) plane. Thresholds are then built plane by plane where they are used."""

    @property
    def plane_labels(self) -> np.ndarray:
        """The group of each plane (``-1`` for the coarse approximation)."""
        labels = np.arange(self.coeff_shape[0])
        labels[-1] = -1
        return labels

    @property
    def groups(self) -> np.ndarray:
        return np.broadcast_to(self.plane_labels[:, None, None], self.coeff_shape)

    def per_group(self, values: dict, xp, dtype):
        """A coefficient array holding ``values[group]`` on each group (0 elsewhere)."""
        return _fill_planes(self.plane_labels, values, self.coeff_shape, xp, dtype)


class StarletTransform(_PlaneGroups, Starlet):
    """The starlet (:class:`~sparserec.deconv.starlet.Starlet`) with the solver interface.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.deconv.wavelets import StarletTransform
    >>> t = StarletTransform((16, 16), 3)
    >>> t.groups[:, 0, 0].tolist(), t.norm2
    ([0, 1, -1], 1.0)
    """

    synthesis_norm2 = 1.0
    synthesis = Starlet.adjoint
    synthesis_adjoint = Starlet.forward

    def atom(self, group: int):
        """``Φᵀ e``: the image of a unit coefficient of plane ``group`` at the centre
        (in the backend's array module: the kernels run where the transform runs)."""
        e = get_namespace(self.backend).zeros(self.coeff_shape, dtype=self.dtype)
        e[(group,) + tuple(s // 2 for s in self.shape)] = 1
        return self.adjoint(e)


class StationaryHaar(_PlaneGroups):
    """The stationary (undecimated) Haar wavelet transform, a Parseval tight frame.

    Level ``j`` filters the approximation ``c_j`` along each axis with
    ``h = (δ₀ + δ_s) / 2`` and ``g = (δ₀ − δ_s) / 2`` at the lag ``s = 2**j`` (the à
    trous algorithm, Holschneider et al. 1989; Mallat 2009 §5.2), periodic
    boundaries. Since ``|ĥ|² + |ĝ|² = 1`` on each axis, the planes ``(g_0 g_1, g_0
    h_1, h_0 g_1)`` of every level and the last approximation ``h_0 h_1`` preserve the
    energy: ``ΦᵀΦ = I``, ``‖Φ‖ = 1``, ``Ψ = Φᵀ``. It is ``pywt.swt2(…, "haar",
    norm=True)`` up to the position of each filter's origin, written with array rolls
    so that it runs on NumPy or CuPy at the cost of a few array passes per level
    (PyWavelets' ``iswt2`` is a Python loop); its box-shaped atoms with three
    orientations suit edges and textures where the isotropic starlet suits point
    sources. Coefficient planes: the ``3 (n_scales − 1)`` detail planes, finest scale
    first (group ``3 j + o``), then the approximation (group ``−1``).

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.deconv.wavelets import StationaryHaar
    >>> x = np.random.default_rng(0).random((12, 10))
    >>> t = StationaryHaar(x.shape, 3)
    >>> w = t.forward(x)
    >>> w.shape, bool(np.allclose(t.adjoint(w), x)), bool(np.isclose((w**2).sum(), (x**2).sum()))
    ((7, 12, 10), True, True)
    """

    norm2 = 1.0
    synthesis_norm2 = 1.0
    decimated = False

    def __init__(self, shape, n_scales: int, dtype=np.float64, xp=np, backend=None):
        self.shape = tuple(int(s) for s in shape)
        self.n_scales = int(n_scales)
        self.level = self.n_scales - 1
        self.dtype = np.dtype(dtype)
        self.xp = xp
        self.coeff_shape = (3 * self.level + 1,) + self.shape
        # numba: one fused pass per level (the rolls cost five array passes and copies)
        self._fused = backend == "numba"

    def scale_of(self, group: int) -> int:
        """Scale index (finest 0) of a detail group."""
        return group // 3

    def _pair(self, x, axis, lag):
        shifted = self.xp.roll(x, -lag, axis=axis)
        return (x + shifted) * 0.5, (x - shifted) * 0.5

    def _pair_adjoint(self, low, high, axis, lag):
        a, b = low + high, low - high
        return (a + self.xp.roll(b, lag, axis=axis)) * 0.5

    def forward(self, x, out=None):
        """``Φ x``."""
        if out is None:
            out = self.xp.empty(self.coeff_shape, dtype=self.dtype)
        if self._fused and self.xp is np:
            return self._forward_fused(np.ascontiguousarray(x, dtype=self.dtype), out)
        c = x
        for j in range(self.level):
            lag = 2**j
            lo, hi = self._pair(c, 1, lag)
            ll, hl = self._pair(lo, 0, lag)
            lh, hh = self._pair(hi, 0, lag)
            out[3 * j], out[3 * j + 1], out[3 * j + 2] = hh, hl, lh
            c = ll
        out[-1] = c
        return out

    def adjoint(self, w, out=None):
        """``Φᵀ w`` (also the inverse: the frame is Parseval)."""
        if self._fused and self.xp is np:
            return self._adjoint_fused(np.ascontiguousarray(w, dtype=self.dtype), out)
        c = w[-1]
        for j in reversed(range(self.level)):
            lag = 2**j
            hh, hl, lh = w[3 * j], w[3 * j + 1], w[3 * j + 2]
            lo = self._pair_adjoint(c, hl, 0, lag)
            hi = self._pair_adjoint(lh, hh, 0, lag)
            c = self._pair_adjoint(lo, hi, 1, lag)
        if out is None:
            return c.astype(self.dtype, copy=False)
        out[...] = c
        return out

    def _forward_fused(self, x, out):
        from . import _numba

        buffers = [np.empty(self.shape, self.dtype) for _ in range(2)]
        c = x
        for j in range(self.level):
            ll = out[-1] if j == self.level - 1 else buffers[j % 2]
            _numba.haar_analysis_level(c, 2**j, ll, out[3 * j], out[3 * j + 1],
                                       out[3 * j + 2])
            c = ll
        return out

    def _adjoint_fused(self, w, out):
        from . import _numba

        buffers = [np.empty(self.shape, self.dtype) for _ in range(2)]
        if out is None:
            out = np.empty(self.shape, self.dtype)
        c = w[-1]
        for j in reversed(range(self.level)):
            dst = out if j == 0 else buffers[j % 2]
            _numba.haar_synthesis_level(c, w[3 * j], w[3 * j + 1], w[3 * j + 2], 2**j, dst)
            c = dst
        return out

    synthesis = adjoint
    synthesis_adjoint = forward

    def atom(self, group: int):
        """``Φᵀ e``: the image of a unit coefficient of ``group`` at the centre."""
        e = np.zeros(self.coeff_shape, dtype=self.dtype)
        e[(group,) + tuple(s // 2 for s in self.shape)] = 1
        xp, self.xp = self.xp, np
        try:
            return self.adjoint(e)
        finally:
            self.xp = xp


class PywtTransform(_PlaneGroups):
    """An orthogonal PyWavelets transform (decimated or stationary) as an operator.

    Parameters
    ----------
    shape : tuple of int
        Image shape; each side must be a multiple of ``2 ** (n_scales - 1)``.
    wavelet : str
        An orthogonal discrete wavelet known to PyWavelets (``"db2"``, ``"sym4"``, …).
    n_scales : int
        Number of scales including the approximation (``level = n_scales - 1``).
    decimated : bool
        ``True``: :func:`pywt.wavedec2` (orthonormal basis, coefficients packed as by
        :func:`pywt.coeffs_to_array` in one plane); ``False``: :func:`pywt.swt2`
        (Parseval frame, ``3 * level`` detail planes then the approximation).
    dtype : dtype

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.deconv.wavelets import PywtTransform
    >>> x = np.random.default_rng(0).random((16, 16))
    >>> t = PywtTransform(x.shape, "db2", 3, decimated=False)
    >>> w = t.forward(x)
    >>> w.shape, bool(np.allclose(t.adjoint(w), x))
    ((7, 16, 16), True)
    """

    norm2 = 1.0
    synthesis_norm2 = 1.0

    def __init__(self, shape, wavelet: str, n_scales: int, decimated: bool = False,
                 dtype=np.float64):
        import pywt

        if wavelet not in pywt.wavelist(kind="discrete"):
            raise ValueError(f"wavelet must be 'starlet' or a discrete PyWavelets wavelet "
                             f"name (pywt.wavelist(kind='discrete')), got {wavelet!r}")
        if not pywt.Wavelet(wavelet).orthogonal:
            raise ValueError(f"wavelet must be orthogonal (e.g. 'db2', 'sym4', 'coif1'); "
                             f"{wavelet!r} is biorthogonal, so its adjoint is not its inverse")
        self.shape = tuple(int(s) for s in shape)
        self.wavelet = wavelet
        self.n_scales = int(n_scales)
        self.level = self.n_scales - 1
        block = 2**self.level
        if any(s % block for s in self.shape):
            raise ValueError(f"image shape {self.shape} must be a multiple of "
                             f"2**(n_scales - 1) = {block} for wavelet {wavelet!r}")
        self.decimated = bool(decimated)
        self.dtype = np.dtype(dtype)
        n_planes = 1 if self.decimated else 3 * self.level + 1
        self.coeff_shape = (n_planes,) + self.shape
        if self.decimated:
            coeffs = pywt.wavedec2(np.zeros(self.shape), wavelet, mode="periodization",
                                   level=self.level)
            _, self._slices = pywt.coeffs_to_array(coeffs)

    @property
    def plane_labels(self) -> np.ndarray | None:
        """The group of each plane of the SWT (``None`` for the DWT, whose groups are
        blocks of one plane)."""
        return None if self.decimated else super().plane_labels

    def per_group(self, values: dict, xp, dtype):
        """A coefficient array holding ``values[group]`` on each group (0 elsewhere)."""
        if not self.decimated:
            return super().per_group(values, xp, dtype)
        out = np.zeros(self.coeff_shape, dtype=dtype)
        groups = self.groups
        for group, value in values.items():
            out[groups == group] = value
        return xp.asarray(out)

    @property
    def groups(self) -> np.ndarray:
        if not self.decimated:
            return super().groups
        labels = np.full(self.shape, -1)
        group = 0
        for details in self._slices[1:]:
            for key in ("ad", "da", "dd"):
                labels[details[key]] = group
                group += 1
        return labels[None]

    def forward(self, x, out=None):
        """``Φ x``."""
        import pywt

        x = np.asarray(x)
        if self.decimated:
            coeffs = pywt.wavedec2(x, self.wavelet, mode="periodization", level=self.level)
            arr = pywt.coeffs_to_array(coeffs)[0][None]
        else:
            coeffs = pywt.swt2(x, self.wavelet, self.level, trim_approx=True, norm=True)
            arr = np.stack([d for details in coeffs[1:] for d in details] + [coeffs[0]])
        if out is None:
            return arr.astype(self.dtype, copy=False)
        out[...] = arr
        return out

    def adjoint(self, w, out=None):
        """``Φᵀ w`` (the inverse transform, the operator being orthogonal or Parseval)."""
        import pywt

        w = np.asarray(w)
        if self.decimated:
            coeffs = pywt.array_to_coeffs(w[0], self._slices, output_format="wavedec2")
            x = pywt.waverec2(coeffs, self.wavelet, mode="periodization")
        else:
            details = [tuple(w[3 * i: 3 * i + 3]) for i in range(self.level)]
            x = pywt.iswt2([w[-1]] + details, self.wavelet, norm=True)
        if out is None:
            return x.astype(self.dtype, copy=False)
        out[...] = x
        return out

    synthesis = adjoint
    synthesis_adjoint = forward

    def atom(self, group: int):
        """``Φᵀ e``: the image of one coefficient of ``group`` near its sub-band's centre."""
        where = np.argwhere(self.groups == group)
        e = np.zeros(self.coeff_shape, dtype=self.dtype)
        e[tuple(where[len(where) // 2])] = 1
        return self.adjoint(e)


def _fill_planes(labels, values: dict, shape, xp, dtype):
    """Plane ``i`` of a new array of ``shape`` filled with ``values.get(labels[i], 0)``,
    made where it is used (no host array of the coefficients' size on the GPU)."""
    out = xp.empty(shape, dtype=dtype)
    for i, label in enumerate(labels):
        out[i] = values.get(int(label), 0)
    return out


def make_transform(wavelet: str, shape, n_scales: int, decimated: bool, backend: str,
                   dtype):
    """The transform named by an estimator's ``wavelet`` parameter."""
    if wavelet == "starlet":
        if decimated:
            raise ValueError("decimated=True needs a PyWavelets wavelet; the starlet is "
                             "undecimated by construction")
        return StarletTransform(shape, n_scales, backend, dtype)
    if wavelet == "haar" and not decimated:
        from ..backend import get_namespace

        return StationaryHaar(shape, n_scales, dtype, get_namespace(backend), backend)
    if backend == "cupy":
        from ..backend import BackendUnavailableError

        raise BackendUnavailableError("PyWavelets transforms run on the CPU only; use "
                                      "wavelet='starlet' with backend='cupy'")
    return PywtTransform(shape, wavelet, n_scales, decimated, dtype)
