"""The forward model: an object on an extended grid, blurred, cropped and binned per band.

Real images are not periodic. The unknown object lives on a grid larger than the image
frame by at least the PSF size minus one pixel; each band convolves it with its PSF
(circularly, by real FFT on that grid: the wrap-around only reaches the margin), keeps
the frame — exactly :class:`sparserec.operators.Convolution` in ``mode="valid"`` — and
sums ``r × r`` blocks for a band whose pixels are ``r`` times coarser. Pixels that are
NaN in the data have zero weight. The model's data term and its gradient,

    f(x) = Σ_b (w_b / 2) ‖M_b ⊙ (D_b C H_b x − y_b)‖²,
    ∇f(x) = Σ_b w_b H_bᵀ Cᵀ D_bᵀ (M_b ⊙ (D_b C H_b x − y_b)),

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
    rounded up to a fast real-FFT length that is a multiple of ``multiple``.

    Examples
    --------
    >>> from sparserec.deconv.forward import object_grid
    >>> object_grid((1000, 1000), [(25, 25)])
    ((1024, 1024), (12, 12))
    """
    from scipy.fft import next_fast_len

    shape, offset = [], []
    for axis, n in enumerate(frame_shape):
        k = max(s[axis] for s in psf_shapes)
        p = next_fast_len(n + k - 1, real=True)
        while p % multiple:
            p = next_fast_len(p + 1, real=True)
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
    images : list of 2-D arrays
        Observations ``y_b``; NaN pixels are masked.
    psfs : list of 2-D arrays
        PSFs on the object's pixel grid, centred at ``k // 2``.
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
    """

    def __init__(self, images, psfs, ratios, weights, object_shape, offset, *, xp=np,
                 dtype=np.float32):
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
        self.data, self.masks, self.spectra = [], [], []
        for y, h in zip(images, psfs, strict=True):
            y = xp.asarray(y, dtype=self.dtype)
            bad = xp.isnan(y)
            self.masks.append(None if not bool(bad.any()) else (~bad).astype(self.dtype))
            self.data.append(xp.where(bad, 0, y) if self.masks[-1] is not None else y)
            self.spectra.append(transfer_function(xp.asarray(h, dtype=self.dtype),
                                                  self.object_shape))
        self._embed = [xp.zeros(self.object_shape, dtype=self.dtype) for _ in images]


    @property
    def lipschitz(self) -> float:
        """``L = Σ_b w_b r_b² max|ĥ_b|²``, a bound on the Lipschitz constant of ``∇f``."""
        return float(sum(w * r**2 * float(self.xp.abs(s).max()) ** 2
                         for w, r, s in zip(self.weights, self.ratios, self.spectra,
                                            strict=True)))

    # ------------------------------------------------------------------ building blocks
    def _bin(self, z, r):
        if r == 1:
            return z
        h, w = z.shape[0] // r, z.shape[1] // r
        return z.reshape(h, r, w, r).sum(axis=(1, 3))

    def _blur_frame(self, spectrum_x, b):
        full = self._fft.irfft2(spectrum_x * self.spectra[b], s=self.object_shape, **self._kw)
        return self._bin(full[self.crop], self.ratios[b])

    def _embed_residual(self, b, r):
        """``Cᵀ D_bᵀ r`` into band ``b``'s zero-margined buffer."""
        buf = self._embed[b]
        ratio = self.ratios[b]
        if ratio == 1:
            buf[self.crop] = r
        else:
            h, w = r.shape
            buf[self.crop].reshape(h, ratio, w, ratio)[...] = r[:, None, :, None]
        return buf

    # ------------------------------------------------------------------ public
    def apply(self, x):
        """The noise-free prediction of every band, ``D_b C H_b x``."""
        sx = self._fft.rfft2(x, **self._kw)
        return [self._blur_frame(sx, b) for b in range(len(self.data))]

    def adjoint(self, residuals):
        """``Σ_b w_b H_bᵀ Cᵀ D_bᵀ (M_b ⊙ r_b)`` on the object grid."""
        total = None
        for b, r in enumerate(residuals):
            if self.masks[b] is not None:
                r = r * self.masks[b]
            spec = self._fft.rfft2(self._embed_residual(b, r), **self._kw)
            spec *= self.spectra[b].conj() * self.dtype.type(self.weights[b])
            total = spec if total is None else total + spec
        return self._fft.irfft2(total, s=self.object_shape, **self._kw)

    def residuals(self, x):
        """``M_b ⊙ (D_b C H_b x − y_b)`` for every band."""
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
