"""
Self-calibration by linear least squares: quick start
=====================================================

A sensor with unknown gains measures ``y_l = diag(d) A_l x + ε_l``: the sensing
matrices ``A_l`` are known, the calibration ``d`` and the signal ``x`` are not. The
problem is bilinear in ``(d, x)``, but with ``s = 1/d`` the equations
``diag(y_l) s = A_l x`` are *linear* (Ling & Strohmer, arXiv:1611.04196).
:class:`sparserec.SelfCalibration` solves them by least squares (one extra row fixes the
scale) or by the spectral method, and is compared here with alternating least squares on
the bilinear problem (:func:`sparserec.selfcal.alternating_least_squares`).
"""

# %%
# A calibration problem
# ---------------------
# Model 1 of the paper (``"repeated"``): ``p = 4`` Gaussian sensing matrices of
# ``m = 64`` rows, one unknown signal of ``n = 16`` entries, unknown gains of magnitude
# in [0.5, 1.5], 30 dB SNR. The solution is defined up to one scalar, so errors are
# measured by :func:`sparserec.metrics.relative_error_up_to_scale`.
import time

import numpy as np

from sparserec import SelfCalibration
from sparserec.datasets import make_selfcal_problem
from sparserec.metrics import relative_error_up_to_scale
from sparserec.plotting import plot_curves, plot_stems
from sparserec.selfcal import alternating_least_squares

prob = make_selfcal_problem("repeated", m=64, n=16, p=4, snr_db=30, random_state=0)
print(f"A: {prob.A.shape} (p, m, n), y: {prob.y.shape}")

# %%
# Least squares, spectral method, alternating least squares
# ---------------------------------------------------------
estimates = {}
for method in ("lsq", "spectral"):
    start = time.perf_counter()
    est = SelfCalibration(model="repeated", method=method, random_state=0).fit(prob.A, prob.y)
    estimates[f"SelfCalibration ({method})"] = (est.calibration_, est.signal_,
                                                time.perf_counter() - start)
start = time.perf_counter()
als = alternating_least_squares(prob.A, prob.y, "repeated", max_iter=200, tol=1e-10)
estimates["alternating least squares"] = (als.calibration, als.signal,
                                          time.perf_counter() - start)
for name, (d, x, seconds) in estimates.items():
    print(f"{name:26s} calibration error {relative_error_up_to_scale(prob.calibration, d):.2e}"
          f", signal error {relative_error_up_to_scale(prob.signal, x):.2e}, {seconds:.3f} s")

# %%
# The recovered gains
# -------------------
# Aligned to the truth by the best complex scale, the least-squares gains match the true
# ones up to the noise.
d = estimates["SelfCalibration (lsq)"][0]
scale = np.vdot(d, prob.calibration) / np.vdot(d, d)
fig = plot_stems(np.abs(prob.calibration), np.abs(scale * d),
                 labels=("true |d|", "least squares"), title="sensor gains")

# %%
# Error against noise
# -------------------
# Self-calibration by least squares is stable: the error grows linearly with the noise
# level (a slope of one decade per 20 dB).
snrs = [10, 20, 30, 40, 50, 60]
errors = []
for snr in snrs:
    p = make_selfcal_problem("repeated", m=64, n=16, p=4, snr_db=snr, random_state=1)
    est = SelfCalibration(model="repeated").fit(p.A, p.y)
    errors.append(relative_error_up_to_scale(p.calibration, est.calibration_))
fig = plot_curves(snrs, {"SelfCalibration (lsq)": errors}, xlabel="SNR (dB)",
                  ylabel="relative calibration error", logy=True)
