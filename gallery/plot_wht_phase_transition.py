"""
SPRIGHT phase transition: success versus samples and SNR
========================================================

The probability that :class:`sparserec.SparseWHT` finds the exact support of a K-sparse
Walsh spectrum, as a function of the number of samples it reads and of the SNR, for
SPRIGHT's two noise-robust delay designs (the phase-transition figures of Li, Bradley,
Pawar & Ramchandran, arXiv 1508.06336):

* ``design="coded"``: the delays are taken from a BCH code; more delays give a longer
  code that corrects more sign errors (sample-optimal, ``O(K log N)`` samples);
* ``design="random"``: random offsets each followed by the ``n + 1`` noiseless delays, the
  index bits decided by majority vote over the chains (``O(K log² N)`` samples).

The signal has ``N = 2**20`` samples and ``K = 20`` coefficients ``±1`` and is given as a
function of the index (noise is drawn afresh at every query), so only the samples that are
read are ever computed.
"""

# %%
# Success rate on a grid of delays and SNR
# ----------------------------------------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sparserec import SparseWHT
from sparserec.datasets import make_sparse_walsh
from sparserec.plotting import plot_phase_transition

n_bits, K, trials = 20, 20, 10
snrs = [-5.0, -2.5, 0.0, 2.5, 5.0, 10.0]
designs = {"coded": [31, 63, 127, 255], "random": [21, 63, 105, 189]}


def success_rate(design, n_delays, snr):
    """Fraction of exact support recoveries, and the samples read."""
    hits = 0
    for seed in range(trials):
        p = make_sparse_walsh(n_bits, K, snr_db=snr, values="sign", as_callable=True,
                              random_state=seed)
        est = SparseWHT(sparsity=K, n_bits=n_bits, design=design, n_delays=n_delays,
                        random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(p.signal)
        hits += est.support_.size == K and np.array_equal(est.support_, p.support)
    return hits / trials, est.n_samples_used_


fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
for ax, (design, delays) in zip(axes, designs.items(), strict=True):
    rates = np.zeros((len(snrs), len(delays)))
    samples = []
    for j, n_delays in enumerate(delays):
        for i, snr in enumerate(snrs):
            rates[i, j], used = success_rate(design, n_delays, snr)
        samples.append(round(100 * used / 2**n_bits, 2))
        print(f"{design:6s} {n_delays:3d} delays, {used:6d} samples: "
              + " ".join(f"{r:.1f}" for r in rates[:, j]))
    plot_phase_transition(rates, samples, snrs, xlabel="samples read (% of N)",
                          ylabel="SNR (dB)", title=f'design="{design}"', ax=ax)
fig.suptitle(f"P(exact support), N = 2^{n_bits}, K = {K}, {trials} trials per cell")
fig.tight_layout()

# %%
# The coded design reaches a given SNR with fewer samples: its code corrects sign
# errors jointly, while each bit of the random design is voted on separately. In both,
# more delays buy robustness at a fixed cost in bins (``B = 2**b`` set by ``sparsity``),
# so the number of samples grows only linearly with the number of delays.
