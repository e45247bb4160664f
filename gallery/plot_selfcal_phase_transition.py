"""
Phase transitions and stability of self-calibration by least squares
====================================================================

Ling & Strohmer's experiments on Gaussian sensing matrices: how many snapshots ``p`` and
sensors ``m`` does exact recovery need, and how does the error grow with noise?

``A_0 z = 0`` has ``p m`` equations; the unknowns ``z = (d⁻¹, x)`` are defined up to one
scale, so a one-dimensional null space needs ``p m ≥ (number of unknowns) − 1``. The paper
proves recovery with ``p m`` above that count by poly-logarithmic factors. Empirically
both the least-squares and the spectral method succeed right at the counting bound (the
red line).
"""

# %%
# Success rate over (m, p): model 1 and model 3
# ---------------------------------------------
# ``repeated`` (``y_l = D A_l x``, n = 32): unknowns ``m + n``, bound ``p ≥ 1 + (n−1)/m``.
# ``snapshots`` (``y_l = D A x_l``, n = 8): unknowns ``m + p n``, bound
# ``p ≥ (m−1)/(m−n)``. Five noiseless trials per cell; success means a joint relative error
# below 1e-6.
import matplotlib.pyplot as plt
import numpy as np

from sparserec.demos.selfcal_applications import error_vs_snr, phase_transition
from sparserec.plotting import plot_curves, plot_phase_transition

settings = {
    "repeated": (32, [4, 6, 8, 12, 16, 24, 32, 48], np.arange(1, 11),
                 lambda m, n: 1 + (n - 1) / m),
    "snapshots": (8, [9, 10, 11, 12, 14, 16, 20, 24], np.arange(1, 11),
                  lambda m, n: (m - 1) / (m - n)),
}
fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
for row, (model, (n, ms, ps, bound)) in enumerate(settings.items()):
    for col, method in enumerate(("lsq", "spectral")):
        rate = phase_transition(model, n, ms, ps, method=method, n_trials=5, random_state=0)
        ax = axes[row, col]
        plot_phase_transition(rate, ms, ps, xlabel="m (sensors)", ylabel="p (snapshots)",
                              title=f"{model}, n = {n}: {method}", ax=ax)
        # the counting bound, in the axes' cell coordinates (p = ps[0] + index)
        ax.plot(range(len(ms)), [bound(m, n) - ps[0] for m in ms], "r-", linewidth=1.5)
fig.tight_layout()

# %%
# Stability: relative error versus SNR
# ------------------------------------
# Model 1 with m = 128, n = 16, p = 4 (complex Gaussian); the error of both linear methods
# grows linearly with the noise level (a slope of −1 decade per 20 dB), as the paper's
# stability bounds say. Alternating least squares on the bilinear problem is shown for
# reference.
snrs = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0])
res = error_vs_snr("repeated", 128, 16, 4, snrs, methods=("lsq", "spectral", "als"),
                   n_trials=5, is_complex=True, random_state=0,
                   params={"als": {"max_iter": 300}})
fig = plot_curves(snrs, {"least squares": res["lsq"], "spectral": res["spectral"],
                         "alternating LS": res["als"]},
                  xlabel="SNR (dB)", ylabel="relative error of (1/d, x)", logy=True,
                  title="model 1, m = 128, n = 16, p = 4")
print("mean seconds per fit:", {k: round(v, 4) for k, v in res["time"].items()})
