"""The forward model: an object on an extended grid, blurred, cropped and binned per band.

Real images are not periodic. The unknown object lives on a grid larger than the image
frame by at least the PSF size minus one pixel along every axis (2-D images and 3-D
stacks alike); each band convolves it with its PSF (circularly, by real n-D FFT on that
grid: the wrap-around only reaches the margin), keeps the frame — exactly
:class:`sparserec.operators.Convolution` in ``mode="valid"`` — and sums ``r × r`` blocks
for a band whose pixels are ``r`` times coarser. Each observed pixel ``i`` has a weight
``W_i ≥ 0``: 0 for a NaN (masked) pixel, 1 by default, ``σ_ref² / σ_i²`` for a noise
map (inverse-variance weighting). The model's data term and its gradient,

    f(x) = Σ_b (w_b / 2) Σ_i W_{b,i} (D_b C H_b x − y_b)_i²,
    ∇f(x) = Σ_b w_b H_bᵀ Cᵀ D_bᵀ (W_b ⊙ (D_b C H_b x − y_b)),

cost one forward and one inverse real FFT per band plus one of each for the object,
on the extended grid, whose size is rounded up to a fast FFT length.
"""

from __future__ import annotations

import numpy as np

from ..backend import scipy_namespace
from ..operators import transfer_function
from ..utils.threads import fft_workers

__all__ = ["BlurModel", "object_grid"]


def object_grid(frame_shape, psf_shapes, multiple: int = 1):
    """Shape of the extended object grid and the offset of the image frame in it.

    Each side gets at least ``k - 1`` extra pixels (``k`` the largest PSF side), then is
    rounded up to a fast real-FFT length that is a multiple of ``multiple``. For a 3-D
    stack the leading axes, which the n-D real FFT transforms as complex data after the
    last one, take the (denser) fast complex lengths: a smaller grid, less memory.

    Examples
    --------
    >>> from sparserec.deconv.forward import object_grid
    >>> object_grid((1000, 1000), [(25, 25)])
    ((1024, 1024), (12, 12))
    """
    from scipy.fft import next_fast_len

    shape, offset = [], []
    ndim = len(frame_shape)
    for axis, n in enumerate(frame_shape):
        k = max(s[axis] for s in psf_shapes)
        real = ndim < 3 or axis == ndim - 1
        p = next_fast_len(n + k - 1, real=real)
        while p % multiple:
            p = next_fast_len(p + 1, real=real)
        shape.append(p)
        offset.append((p - n) // 2)
    return tuple(shape), tuple(offset)


def _fft_kwargs(xp):
    # n_threads when set; else None: SciPy's default or the caller's scipy.fft.set_workers
    return {"workers": fft_workers()} if xp is np else {}


class BlurModel:
    """Blur (and binning) of one object into several observed bands.

    Parameters
    ----------
    images : list of arrays
        Observations ``y_b`` (2-D images or 3-D stacks); NaN pixels are masked.
    psfs : list of arrays
        PSFs on the object's pixel grid, of the images' dimension, centred at ``k // 2``.
    ratios : list of int
        Pixel-size ratio ``r_b`` of each band to the object grid.
    weights : list of float
        ``w_b`` (``1 / σ_b²`` up to a common factor).
    object_shape, offset : tuple of int
        From :func:`object_grid`.
    xp : module
        :mod:`numpy` or :mod:`cupy`.
    dtype : dtype
        Working precision.
    pixel_weights : list of (array or None), optional
        Per-pixel weights ``W_b`` (finite, ``≥ 0``, the band's shape), e.g.
        ``σ_ref² / σ_i²`` from a noise map; ``None`` is 1 everywhere.
    """

    def __init__(self, images, psfs, ratios, weights, object_shape, offset, *, xp=np,
                 dtype=np.float32, pixel_weights=None):
        self.xp = xp
        self.dtype = np.dtype(dtype)
        self.object_shape = tuple(object_shape)
        self.offset = tuple(offset)
        self.ratios = [int(r) for r in ratios]
        self.weights = [float(w) for w in weights]
        frame = tuple(s * self.ratios[0] for s in images[0].shape)
        self.frame_shape = frame
        self.crop = tuple(slice(o, o + n) for o, n in zip(self.offset, frame, strict=True))
        self._fft = scipy_namespace(xp, "fft")
        self._kw = _fft_kwargs(xp)
        self._lean = xp is np and len(self.object_shape) >= 3
        self._axes = tuple(range(len(self.object_shape)))
        if pixel_weights is None:
            pixel_weights = [None] * len(images)
        # masks[b]: √W_b (with 0 on NaN pixels), or None for unit weights; the residuals
        # carry one factor, the adjoint the other
        self.data, self.masks, self.spectra, self.max_weights = [], [], [], []
        for y, h, pw in zip(images, psfs, pixel_weights, strict=True):
            y = xp.asarray(y, dtype=self.dtype)
            bad = xp.isnan(y)
            has_bad = bool(bad.any())
            if pw is None:
                root = (~bad).astype(self.dtype) if has_bad else None
            else:
                root = xp.sqrt(xp.asarray(pw, dtype=self.dtype))
                root = xp.where(bad, 0, root) if has_bad else root
            self.masks.append(root)
            self.max_weights.append(1.0 if root is None else float(root.max()) ** 2)
            self.data.append(xp.where(bad, 0, y) if has_bad else y)
            self.spectra.append(transfer_function(xp.asarray(h, dtype=self.dtype),
                                                  self.object_shape))
        self._adjoint_spectra = {}  # b: (spectrum, w_b conj(spectrum))
        self._embed = [] if self._lean else \
            [xp.zeros(self.object_shape, dtype=self.dtype) for _ in images]


    @property
    def lipschitz(self) -> float:
        """``L = Σ_b w_b max W_b r_b² max|ĥ_b|²``, a bound on the Lipschitz constant of
        ``∇f``."""
        return float(sum(w * m * r**2 * float(self.xp.abs(s).max()) ** 2
                         for w, m, r, s in zip(self.weights, self.max_weights, self.ratios,
                                               self.spectra, strict=True)))

    # ------------------------------------------------------------------ building blocks
    def _bin(self, z, r):
        if r == 1:
            return z
        split = [d for n in z.shape for d in (n // r, r)]
        return z.reshape(split).sum(axis=tuple(range(1, 2 * z.ndim, 2)))

    def _forward_fft(self, z):
        return self._fft.rfftn(z, axes=self._axes, **self._kw)

    def _inverse_fft(self, spectrum):
        """``irfftn`` onto the object grid; for a 3-D stack on the CPU, the complex axes
        in place then the real one, which needs no complex copy of the spectrum."""
        if not self._lean:
            return self._fft.irfftn(spectrum, s=self.object_shape, axes=self._axes,
                                    **self._kw)
        spectrum = self._fft.ifftn(spectrum, axes=self._axes[:-1], overwrite_x=True,
                                   **self._kw)
        return self._fft.irfft(spectrum, n=self.object_shape[-1], axis=-1, **self._kw)

    def _blur_frame(self, spectrum_x, b):
        full = self._inverse_fft(spectrum_x * self.spectra[b])
        return self._bin(full[self.crop], self.ratios[b])

    def _embed_residual(self, b, r):
        """``Cᵀ D_bᵀ r`` into band ``b``'s zero-margined buffer."""
        buf = self._embed[b] if self._embed else \
            self.xp.zeros(self.object_shape, dtype=self.dtype)
        ratio = self.ratios[b]
        if ratio == 1:
            buf[self.crop] = r
        else:
            split = [d for n in r.shape for d in (n, ratio)]
            expand = tuple(i for n in r.shape for i in (slice(None), None))
            buf[self.crop].reshape(split)[...] = r[expand]
        return buf

    # ------------------------------------------------------------------ public
    def apply(self, x):
        """The noise-free prediction of every band, ``D_b C H_b x``."""
        sx = self._forward_fft(x)
        return [self._blur_frame(sx, b) for b in range(len(self.data))]

    def adjoint(self, residuals):
        """``Σ_b w_b H_bᵀ Cᵀ D_bᵀ (√W_b ⊙ r_b)`` on the object grid (``r_b`` from
        :meth:`residuals`, which carry the other ``√W_b``)."""
        total = None
        for b, r in enumerate(residuals):
            if self.masks[b] is not None:
                r = r * self.masks[b]
            spec = self._forward_fft(self._embed_residual(b, r))
            spec *= self._adjoint_spectrum(b)
            total = spec if total is None else total + spec
        return self._inverse_fft(total)

    def _adjoint_spectrum(self, b):
        """``w_b conj(ĥ_b)``, made once per spectrum (the solvers' adjoint runs every
        iteration; the 3-D stacks may replace a spectrum, which makes it anew)."""
        spectrum = self.spectra[b]
        cached = self._adjoint_spectra.get(b)
        if cached is None or cached[0] is not spectrum:
            cached = (spectrum, spectrum.conj() * self.dtype.type(self.weights[b]))
            self._adjoint_spectra[b] = cached
        return cached[1]

    # ------------------------------------------------------------------ lean (3-D stacks)
    def _lean_buffer(self, x):
        """A complex half-spectrum buffer whose float view holds ``x`` (padded rows)."""
        n = self.object_shape[-1]
        buf = np.empty(self.object_shape[:-1] + (n // 2 + 1,),
                       dtype=np.result_type(self.dtype, np.complex64))
        real = buf.view(self.dtype)[..., :n]
        real[...] = x
        return buf, real

    def _lean_filter(self, buf, real, conj: bool):
        """``real ← H real`` (or ``Hᵀ real``) in the memory of ``buf``: the real FFT of
        the last axis plane by plane (each plane's spectrum overwrites its own rows), the
        other axes in place, and back — one buffer, where ``rfftn``/``irfftn`` would
        need two or three."""
        fft, kw, n = self._fft, self._kw, self.object_shape[-1]
        lead = self._axes[:-1]
        for p in range(buf.shape[0]):
            buf[p] = fft.rfft(real[p], axis=-1, **kw)
        buf = fft.fftn(buf, axes=lead, overwrite_x=True, **kw)
        spectrum = self.spectra[0]
        for p in range(buf.shape[0]):  # plane by plane: no conjugate copy of H
            buf[p] *= spectrum[p].conj() if conj else spectrum[p]
        buf = fft.ifftn(buf, axes=lead, overwrite_x=True, **kw)
        for p in range(buf.shape[0]):
            real[p] = fft.irfft(buf[p], n=n, axis=-1, **kw)

    def lean_apply(self, x):
        """The prediction ``C H x`` of one unbinned band with one object-grid buffer."""
        buf, real = self._lean_buffer(x)
        self._lean_filter(buf, real, conj=False)
        return real[self.crop].copy()

    def lean_value_and_gradient(self, x):
        """``(f(x), ∇f(x))`` of one unbinned band in one object-grid buffer (the blurred
        object becomes the zero-margined weighted residual, then the gradient, in place;
        the gradient is a view of that buffer): the gradient of the 3-D stacks, whose
        arrays are large."""
        if len(self.data) != 1 or self.ratios[0] != 1 or self.xp is not np:
            raise ValueError("lean_value_and_gradient models one unbinned band on the CPU")
        buf, real = self._lean_buffer(x)
        self._lean_filter(buf, real, conj=False)
        frame = real[self.crop]
        frame -= self.data[0]
        if self.masks[0] is not None:
            frame *= self.masks[0]
        value = 0.5 * self.weights[0] * sum(float(np.vdot(f, f)) for f in frame)
        if self.masks[0] is not None:
            frame *= self.masks[0]
        for axis, (c, n) in enumerate(zip(self.crop, self.object_shape, strict=True)):
            lead = (slice(None),) * axis
            real[lead + (slice(0, c.start),)] = 0
            real[lead + (slice(c.stop, n),)] = 0
        self._lean_filter(buf, real, conj=True)
        if self.weights[0] != 1:
            real *= self.dtype.type(self.weights[0])
        return value, real

    def residuals(self, x):
        """``√W_b ⊙ (D_b C H_b x − y_b)`` for every band."""
        out = []
        for b, pred in enumerate(self.apply(x)):
            r = pred - self.data[b]
            out.append(r if self.masks[b] is None else r * self.masks[b])
        return out

    def value_and_gradient(self, x, *, lazy: bool = False):
        """``(f(x), ∇f(x))``.

        With ``lazy=True`` the value is a 0-d array of ``xp`` (not a float): on the GPU
        nothing is copied to the host and the stream is not synchronised, so a solver can
        keep the values on the device and read them every few iterations.
        """
        res = self.residuals(x)
        if lazy:
            xp = self.xp
            value = sum(xp.float64(0.5 * w) * xp.vdot(r, r).astype(xp.float64)
                        for w, r in zip(self.weights, res, strict=True))
            return value, self.adjoint(res)
        value = 0.5 * sum(w * float(self.xp.vdot(r, r)) for w, r in
                          zip(self.weights, res, strict=True))
        return value, self.adjoint(res)

    def frame(self, x):
        """The image frame of an object-grid array."""
        return x[self.crop]

    def embed_frame(self, image):
        """An object-grid array holding ``image`` in the frame and its mirror outside."""
        pad = [(c.start, p - c.stop) for c, p in zip(self.crop, self.object_shape,
                                                        strict=True)]
        return self.xp.asarray(self.xp.pad(image, pad, mode="symmetric"), dtype=self.dtype)
