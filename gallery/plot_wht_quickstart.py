"""
Sparse Walsh-Hadamard transform: quick start
============================================

A signal of length ``N = 2**n`` whose Walsh-Hadamard spectrum has only ``K`` nonzero
coefficients can be analysed from ``O(K log N)`` of its samples instead of all ``N``.
:class:`sparserec.SparseWHT` implements SPRIGHT (Li, Bradley, Pawar & Ramchandran,
arXiv 1508.06336); :func:`sparserec.wht.fwht` is the dense fast transform it is checked
against.
"""

# %%
# The dense transform and its orderings
# -------------------------------------
# ``fwht`` computes ``y[k] = Σ_m x[m] (−1)^{⟨k, m⟩}`` (the rows of
# :func:`scipy.linalg.hadamard`), in natural, sequency (Walsh) or dyadic (Paley) row
# order. Rows in sequency order change sign 0, 1, 2, … times.
import time

import numpy as np

from sparserec import SparseWHT
from sparserec.datasets import make_sparse_walsh
from sparserec.metrics import nmse_db
from sparserec.plotting import plot_image_panels, plot_stems
from sparserec.wht import fwht

eye = np.eye(16)
fig = plot_image_panels(
    {ordering: fwht(eye, axis=0, ordering=ordering)
     for ordering in ("natural", "sequency", "dyadic")},
    suptitle="16-point Walsh-Hadamard matrices", cmap="gray", ncols=3)

# %%
# A signal with a sparse Walsh spectrum
# -------------------------------------
# ``N = 2**22`` samples, ``K = 40`` coefficients of magnitude 1 and white noise at 10 dB
# SNR. The convention of :func:`sparserec.datasets.make_sparse_walsh` is
# ``x[m] = Σ_k X[k] (−1)^{⟨k, m⟩}``, so ``fwht(x) / N`` gives ``X`` back.
n_bits, K = 22, 40
p = make_sparse_walsh(n_bits, K, snr_db=10, values="sign", random_state=0)
N = 2**n_bits

start = time.perf_counter()
dense = fwht(p.signal) / N
print(f"dense FWHT of all {N} samples: {time.perf_counter() - start:.3f} s")

# %%
# SPRIGHT reads a small fraction of the samples
# ---------------------------------------------
# The default ``design="coded"`` reads each bin's index from the signs of its
# observations across delays chosen from a BCH code, so a few sign flips caused by noise
# are corrected. ``sparsity`` sets the number of bins; it may overestimate ``K``.
est = SparseWHT(sparsity=K, random_state=0)
start = time.perf_counter()
est.fit(p.signal)
print(f"SparseWHT: {time.perf_counter() - start:.3f} s, {est.n_samples_used_} samples "
      f"({100 * est.n_samples_used_ / N:.2f} % of N), {est.n_iter_} peeling rounds")
print(f"exact support: {np.array_equal(est.support_, p.support)}, noise sigma estimated "
      f"{est.noise_sigma_:.3f} (true {np.sqrt(p.noise_var):.3f})")
print(f"coefficient NMSE: SPRIGHT {nmse_db(p.coef, est.coef_):.1f} dB, dense FWHT "
      f"{nmse_db(p.coef, dense[p.support.astype(int)]):.1f} dB")

# %%
# The recovered function can be evaluated anywhere
# ------------------------------------------------
# ``predict`` evaluates ``Σ_k X̂[k] (−1)^{⟨k, m⟩}`` at any indices; ``inverse`` returns the
# whole denoised signal when ``N`` is small enough to hold.
m = np.arange(64)
fig = plot_stems(p.signal[m], est.predict(m), labels=("noisy samples x[m]", "predict(m)"),
                 title="First 64 samples and the recovered sparse model")
