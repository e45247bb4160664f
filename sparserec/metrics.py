"""Quality measures used by the tests, the benchmarks and the gallery.

All functions accept NumPy or CuPy arrays (CuPy input is copied to the host) and real or
complex values, and return Python floats.
"""

from __future__ import annotations

import numpy as np

from .backend import to_host

__all__ = [
    "nmse_db",
    "snr_db",
    "support_f1",
    "psnr",
    "ssim",
    "dictionary_recovery",
    "relative_error_up_to_scale",
]


def _pair(x_true, x_est, names=("x_true", "x_est")):
    a, b = np.asarray(to_host(x_true)), np.asarray(to_host(x_est))
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, "
                         f"got {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError(f"{names[0]} is empty")
    return a, b


def nmse_db(x_true, x_est) -> float:
    """Normalised mean squared error ``10 log10(||x̂ − x||² / ||x||²)`` in dB.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.metrics import nmse_db
    >>> round(nmse_db(np.array([1.0, 0.0]), np.array([1.1, 0.0])), 6)
    -20.0
    """
    a, b = _pair(x_true, x_est)
    den = np.vdot(a, a).real
    if den == 0:
        raise ValueError("nmse_db is undefined for x_true == 0")
    num = np.vdot(b - a, b - a).real
    return float(10 * np.log10(num / den)) if num > 0 else -np.inf


def snr_db(signal, noise) -> float:
    """Signal-to-noise ratio ``10 log10(||signal||² / ||noise||²)`` in dB.

    Examples
    --------
    >>> from sparserec.metrics import snr_db
    >>> snr_db([10.0], [1.0])
    20.0
    """
    s, n = np.asarray(to_host(signal)), np.asarray(to_host(noise))
    ps, pn = np.vdot(s, s).real, np.vdot(n, n).real
    if pn == 0:
        return np.inf
    return float(10 * np.log10(ps / pn))


def _as_support(s, n: int | None, tol: float) -> set:
    s = np.asarray(to_host(s))
    if s.dtype == bool:
        return set(np.flatnonzero(s).tolist())
    if n is not None and s.shape == (n,) and s.dtype.kind in "fc":
        return set(np.flatnonzero(np.abs(s) > tol).tolist())
    return set(s.ravel().tolist())


def support_f1(true_support, est_support, *, n: int | None = None, tol: float = 0.0) -> float:
    """F1 score between two supports (1 = identical).

    Each support may be an index array, a boolean mask, or (when ``n`` is given) a
    coefficient vector of length ``n`` whose entries with ``|x| > tol`` form the support.

    Examples
    --------
    >>> from sparserec.metrics import support_f1
    >>> support_f1([1, 4, 7], [1, 4, 8])
    0.6666666666666666
    """
    t, e = _as_support(true_support, n, tol), _as_support(est_support, n, tol)
    if not t and not e:
        return 1.0
    tp = len(t & e)
    return 2 * tp / (len(t) + len(e))


def psnr(image_true, image_test, *, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB (:func:`skimage.metrics.peak_signal_noise_ratio`).

    ``data_range`` defaults to ``max − min`` of ``image_true`` (not of its dtype, which
    would be meaningless for float images with arbitrary flux units).
    """
    from skimage.metrics import peak_signal_noise_ratio

    a, b = _pair(image_true, image_test, ("image_true", "image_test"))
    if data_range is None:
        data_range = float(a.max() - a.min()) or 1.0
    return float(peak_signal_noise_ratio(a, b, data_range=data_range))


def ssim(image_true, image_test, *, data_range: float | None = None) -> float:
    """Structural similarity (:func:`skimage.metrics.structural_similarity`)."""
    from skimage.metrics import structural_similarity

    a, b = _pair(image_true, image_test, ("image_true", "image_test"))
    if data_range is None:
        data_range = float(a.max() - a.min()) or 1.0
    return float(structural_similarity(a, b, data_range=data_range))


def dictionary_recovery(D_est, D_true) -> float:
    """``||D̂ᵀ D₀||₄⁴ / n``: 1 exactly when ``D̂`` equals ``D₀`` up to a signed permutation.

    For orthogonal ``n × n`` dictionaries the value lies in ``[1/n, 1]`` (Zhai et al. 2019).

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.metrics import dictionary_recovery
    >>> P = np.eye(4)[[2, 0, 3, 1]] * np.array([1, -1, 1, -1])
    >>> dictionary_recovery(P, np.eye(4))
    1.0
    """
    a, b = _pair(D_est, D_true, ("D_est", "D_true"))
    if a.ndim != 2:
        raise ValueError(f"D_est must be 2-D, got shape {a.shape}")
    return float(np.sum(np.abs(a.conj().T @ b) ** 4) / a.shape[1])


def relative_error_up_to_scale(x_true, x_est) -> float:
    """``min_c ||c x̂ − x|| / ||x||`` over scalars ``c`` (complex for complex data).

    Self-calibration and other bilinear problems recover their unknowns only up to a
    scalar; this is the error that remains after the best such scalar.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.metrics import relative_error_up_to_scale
    >>> relative_error_up_to_scale(np.array([1.0, 2.0]), np.array([-3.0, -6.0]))
    0.0
    """
    a, b = _pair(x_true, x_est)
    a, b = a.ravel(), b.ravel()
    na = np.linalg.norm(a)
    if na == 0:
        raise ValueError("relative_error_up_to_scale is undefined for x_true == 0")
    bb = np.vdot(b, b).real
    c = np.vdot(b, a) / bb if bb > 0 else 0.0
    return float(np.linalg.norm(c * b - a) / na)
