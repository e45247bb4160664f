"""Problem builders for two applications of self-calibration (gallery, demo, benchmark).

* :func:`diverse_inputs_deblurring` — blind deconvolution via diverse inputs (model 2):
  ``p`` coded exposures ``g_l = C_l x_l`` of image tiles ``x_l``, each through a known
  random code ``C_l``, are blurred by one unknown point-spread function ``f`` (circular
  convolution). In the Fourier domain ``ŷ_l = diag(F f) F C_l x_l``: the calibration is the
  transfer function ``d = F f`` and ``A_l = F C_l``.
* :func:`ula_steering` and :func:`music_spectrum` — a uniform linear array with unknown
  per-sensor gains and phases, calibrated from sources at known directions (model 3), then
  used for direction-of-arrival estimation.
* :func:`phase_transition` and :func:`error_vs_snr` — the paper's two kinds of experiment
  (empirical recovery rate over ``(m, p)``; relative error versus noise level), shared by
  the gallery and ``benchmarks/bench_selfcal.py``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from sklearn.utils import Bunch, check_random_state

from ..datasets import make_selfcal_problem
from ..metrics import relative_error_up_to_scale
from ..selfcal.baselines import alternating_least_squares
from ..selfcal.estimators import SelfCalibration
from ..utils.threads import blas_limits

__all__ = ["diverse_inputs_deblurring", "tiles_to_image", "psf_from_calibration",
           "deblurring_panels", "ula_steering", "music_spectrum", "fit_method",
           "phase_transition", "error_vs_snr"]


def _gaussian_psf(shape, sigma, angle):
    """Anisotropic Gaussian PSF of unit sum, centred at index (0, 0) (circular)."""
    rows = np.fft.fftfreq(shape[0]) * shape[0]
    cols = np.fft.fftfreq(shape[1]) * shape[1]
    r, c = np.meshgrid(rows, cols, indexing="ij")
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = cos * r + sin * c, -sin * r + cos * c
    psf = np.exp(-0.5 * ((u / sigma[0]) ** 2 + (v / sigma[1]) ** 2))
    return psf / psf.sum()


def diverse_inputs_deblurring(image, *, tile: int = 16, detector: int = 32,
                              psf_sigma=(1.6, 0.7), psf_angle: float = 0.5,
                              snr_db: float | None = 40.0, random_state=None) -> Bunch:
    """Blind deconvolution via diverse inputs on an image (Ling & Strohmer's model 2).

    The image is cut into ``p`` tiles ``x_l`` of ``tile × tile`` pixels (``n = tile²``).
    Exposure ``l`` records the coded input ``g_l = C_l x_l`` (``C_l``: known Gaussian
    ``m × n`` code, ``m = detector²``) blurred by an unknown PSF ``f``:
    ``y_l = f ⊛ g_l + noise``. The problem returned is in the Fourier domain.

    Parameters
    ----------
    image : 2-D array
        The scene; its sides must be multiples of ``tile``.
    tile, detector : int
        Tile side (``n = tile²``) and detector side (``m = detector²``).
    psf_sigma, psf_angle : (float, float), float
        Widths (pixels) and orientation (radians) of the Gaussian PSF.
    snr_db : float or None
        Noise level of the spatial exposures.

    Returns
    -------
    problem : Bunch
        ``A`` (``(p, m, n)`` complex, ``F C_l``), ``y`` (``(p, m)`` spectra of the
        exposures), ``calibration`` (``F f``), ``signal`` (tiles, ``(p, n)``), ``psf``
        (``detector × detector``, centred at 0), ``codes`` (``C_l``, ``(p, m, n)``),
        ``exposures`` (spatial ``y_l``),
        ``image_shape``, ``tile``, ``detector``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.demos.selfcal_applications import diverse_inputs_deblurring
    >>> prob = diverse_inputs_deblurring(np.ones((16, 32)), tile=8, detector=16,
    ...                                  random_state=0)
    >>> prob.A.shape, prob.y.shape
    ((8, 256, 64), (8, 256))
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2 or image.shape[0] % tile or image.shape[1] % tile:
        raise ValueError(f"image must be 2-D with sides that are multiples of tile={tile}, "
                         f"got shape {image.shape}")
    rng = check_random_state(random_state)
    H, W = image.shape
    tiles = image.reshape(H // tile, tile, W // tile, tile).transpose(0, 2, 1, 3)
    X = tiles.reshape(-1, tile * tile)
    p, n = X.shape
    m = detector * detector
    codes = rng.standard_normal((p, m, n)) / np.sqrt(m)
    psf = _gaussian_psf((detector, detector), psf_sigma, psf_angle)
    transfer = np.fft.fft2(psf)
    inputs = np.einsum("pmn,pn->pm", codes, X).reshape(p, detector, detector)
    exposures = np.fft.ifft2(np.fft.fft2(inputs) * transfer).real
    if snr_db is not None:
        power = np.mean(exposures ** 2)
        exposures = exposures + np.sqrt(power / 10 ** (snr_db / 10)) * rng.standard_normal(
            exposures.shape)
    A = np.fft.fft2(codes.reshape(p, detector, detector, n), axes=(1, 2)).reshape(p, m, n)
    y = np.fft.fft2(exposures).reshape(p, m)
    return Bunch(A=A, y=y, calibration=transfer.ravel(), signal=X, psf=psf, codes=codes,
                 exposures=exposures, image_shape=image.shape, tile=tile, detector=detector)


def tiles_to_image(tiles, image_shape, tile: int):
    """Reassemble ``(p, tile²)`` tiles (real part) into an image of ``image_shape``."""
    H, W = image_shape
    t = np.real(np.asarray(tiles)).reshape(H // tile, W // tile, tile, tile)
    return t.transpose(0, 2, 1, 3).reshape(H, W)


def psf_from_calibration(calibration, detector: int):
    """The PSF (centred for display) from its transfer function ``d = F f``."""
    psf = np.fft.ifft2(np.asarray(calibration).reshape(detector, detector)).real
    return np.fft.fftshift(psf)


def deblurring_panels(problem, estimates: dict) -> dict:
    """Panels for :func:`sparserec.plotting.plot_image_panels` (gallery and demo).

    ``estimates`` maps a method name to ``(calibration, tiles)``; each estimate is scaled
    so that its PSF has unit sum (``d_0 = 1``), the truth's normalisation.
    """
    panels = {"scene": tiles_to_image(problem.signal, problem.image_shape, problem.tile),
              "exposure 1 (coded, blurred)": problem.exposures[0],
              "PSF (true)": np.fft.fftshift(problem.psf)}
    for name, (d, x) in estimates.items():
        scale = d[0]
        panels[f"scene ({name})"] = tiles_to_image(np.asarray(x) * scale, problem.image_shape,
                                                   problem.tile)
        panels[f"PSF ({name})"] = psf_from_calibration(np.asarray(d) / scale, problem.detector)
    return panels


def ula_steering(n_sensors: int, angles_deg, spacing: float = 0.5):
    """Steering vectors ``exp(2πi · spacing · k · sin θ)`` of a uniform linear array.

    Returns an ``(n_sensors, len(angles_deg))`` complex matrix (spacing in wavelengths).

    Examples
    --------
    >>> from sparserec.demos.selfcal_applications import ula_steering
    >>> ula_steering(4, [0.0, 30.0]).shape
    (4, 2)
    """
    theta = np.deg2rad(np.atleast_1d(np.asarray(angles_deg, dtype=np.float64)))
    k = np.arange(n_sensors)[:, None]
    return np.exp(2j * np.pi * spacing * k * np.sin(theta)[None, :])


def music_spectrum(snapshots, n_sources: int, steering):
    """MUSIC pseudo-spectrum (dB, peak at 0) of ``snapshots`` (``(p, m)``, one per row).

    ``steering`` is the ``(m, n_angles)`` matrix of (possibly calibrated) steering
    vectors; ``1 / ‖E_nᴴ a(θ)‖²`` with ``E_n`` the noise subspace of the sample covariance.
    """
    Y = np.asarray(snapshots)
    cov = Y.T @ Y.conj() / Y.shape[0]
    _, vecs = np.linalg.eigh(cov)
    noise = vecs[:, : Y.shape[1] - n_sources]
    a = steering / np.linalg.norm(steering, axis=0)
    power = 1.0 / np.sum(np.abs(noise.conj().T @ a) ** 2, axis=0)
    return 10 * np.log10(power / power.max())


def fit_method(method: str, prob, **params):
    """Fit ``"lsq"``, ``"spectral"`` (:class:`SelfCalibration`) or ``"als"`` on a problem of
    :func:`sparserec.datasets.make_selfcal_problem`; returns ``(d, x, seconds)``.

    Warnings (identifiability, convergence) are silenced: these runs probe the limits.
    """
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == "als":
            res = alternating_least_squares(prob.A, prob.y, prob.model, **params)
            d, x = res.calibration, res.signal
        else:
            est = SelfCalibration(model=prob.model, method=method, **params)
            est.fit(prob.A, prob.y, **({"B": prob.B} if prob.model == "subspace" else {}))
            d, x = est.calibration_, est.signal_
    return d, x, time.perf_counter() - start


def _joint_error(prob, d, x):
    s_true = 1 / prob.calibration
    with np.errstate(divide="ignore"):
        s_est = np.where(d != 0, 1 / np.where(d != 0, d, 1), 0)
    return relative_error_up_to_scale(np.concatenate([s_true, np.ravel(prob.signal)]),
                                      np.concatenate([s_est, np.ravel(x)]))


def phase_transition(model: str, n: int, m_values, p_values, *, method: str = "lsq",
                     n_trials: int = 10, threshold: float = 1e-6, is_complex: bool = False,
                     random_state=None, **params):
    """Empirical rate of exact recovery over a grid of ``(p, m)`` (noiseless, Gaussian A).

    A trial succeeds when the joint relative error of ``z = (d⁻¹, x)`` up to scale is below
    ``threshold``. Returns an array of shape ``(len(p_values), len(m_values))``. BLAS runs
    on one thread here: the problems are tiny.

    Examples
    --------
    >>> from sparserec.demos.selfcal_applications import phase_transition
    >>> phase_transition("repeated", 8, [4, 8], [1, 3], n_trials=2, random_state=0)
    array([[0., 0.],
           [1., 1.]])
    """
    rng = check_random_state(random_state)
    rate = np.zeros((len(p_values), len(m_values)))
    with blas_limits(1):  # many tiny problems: threads only cost
        for i, p in enumerate(p_values):
            for j, m in enumerate(m_values):
                for _ in range(n_trials):
                    prob = make_selfcal_problem(model, m, n, p, is_complex=is_complex,
                                                random_state=rng.randint(2**31 - 1))
                    d, x, _ = fit_method(method, prob, **params)
                    rate[i, j] += _joint_error(prob, d, x) < threshold
    return rate / n_trials


def error_vs_snr(model: str, m: int, n: int, p: int, snrs, *, methods=("lsq", "spectral"),
                 n_trials: int = 5, is_complex: bool = False, random_state=None,
                 params=None) -> dict:
    """Mean joint relative error (up to scale) of each method at each SNR (dB).

    ``params`` maps a method to its keyword arguments. Returns ``{method: errors}``, plus
    ``"time"``: ``{method: mean seconds per fit}``.
    """
    rng = check_random_state(random_state)
    params = params or {}
    errors = {name: np.zeros(len(snrs)) for name in methods}
    seconds = dict.fromkeys(methods, 0.0)
    with blas_limits(1):  # small problems: threads only cost
        for k, snr in enumerate(snrs):
            for _ in range(n_trials):
                prob = make_selfcal_problem(model, m, n, p, snr_db=snr,
                                            is_complex=is_complex,
                                            random_state=rng.randint(2**31 - 1))
                for name in methods:
                    d, x, sec = fit_method(name, prob, **params.get(name, {}))
                    errors[name][k] += _joint_error(prob, d, x) / n_trials
                    seconds[name] += sec / (n_trials * len(snrs))
    return {**errors, "time": seconds}
