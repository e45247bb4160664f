"""SPRIGHT's back end: robust bin classification and the peeling decoder.

The observations are an array ``obs`` of shape ``(C, B, P)``: for group ``c``, bin ``j``
and delay ``p``, ``Σ_{k: h_c(k) = j} X[k] (−1)^{⟨k, d_p⟩}`` plus noise of variance
``σ_b² = σ² / B`` (``σ²`` the variance of the noise on each signal sample). A bin is

* a **zero-ton** if its energy ``E = Σ_p obs²`` is within what noise alone gives:
  ``E <= σ_b² χ²_P(1 − α)`` (``χ²_P(1 − α)``: upper quantile of a chi-square with ``P``
  degrees of freedom, false-alarm rate ``α``);
* a **single-ton** if the delay design reads an index ``k`` from its signs (the sign
  consistency test: a BCH word within ``t`` errors, a majority without ties), ``k`` hashes
  to this very bin, the amplitude ``a = ⟨obs, s(k)⟩ / P`` is significant
  (``P a² > σ_b² χ²_1(1 − α)``) and the residual energy ``E − P a²`` is within noise
  (``<= σ_b² χ²_{P−1}(1 − α)``);
* a **multi-ton** otherwise.

Each round classifies the bins that changed since they were last looked at, subtracts
every single-ton found (averaged over the groups that found it in the same round) from
its bin in every group, re-fits the amplitudes found so far by least squares over all
their bins, and repeats until all bins are zero-tons or nothing new is found.
All thresholds also get a numerical floor ``tol × (largest initial bin energy)``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import chdtri  # inverse survival function of the chi-square

from .designs import hash_bins, signatures

__all__ = ["estimate_bin_noise", "PeelingDecoder"]

FALSE_ALARM = 1e-6  # α: probability that a test declares signal in pure noise


def estimate_bin_noise(energies, n_delays: int, zero_fraction: float) -> float:
    """Noise variance ``σ_b²`` of one observation, from the energies of all bins.

    The bins hold ``K`` coefficients hashed into ``B`` bins per group, so a fraction
    ``f0 ≈ (1 − 1/B)^K`` of them are zero-tons whose energies are ``σ_b² χ²_P``. The
    ``f0 / 2`` quantile of all energies is then about the median of the zero-ton energies.
    """
    level = float(np.quantile(np.asarray(energies, dtype=np.float64), 0.5 * zero_fraction))
    return level / chdtri(n_delays, 0.5)


class PeelingDecoder:
    """Iterative peeling over the bins of all groups.

    Parameters
    ----------
    obs : ndarray, shape (C, B, P)
        Bin observations (modified in place as coefficients are peeled off).
    hashes : list of C arrays of uint64
        The hashing columns of each group.
    delays : object
        A delay design (``.delays`` and ``.decode``) from :mod:`sparserec.wht.designs`.
    noise_var : float
        ``σ_b²``, the noise variance of one observation.
    tol : float
        Relative numerical floor of the energy thresholds.
    """

    def __init__(self, obs, hashes, delays, noise_var: float, tol: float):
        self.obs = obs
        self.hashes = hashes
        self.design = delays
        n_groups, n_bins, n_delays = obs.shape
        energy = np.einsum("cbp,cbp->cb", obs, obs)
        floor = tol * float(energy.max(initial=0.0))
        self.zero_threshold = noise_var * chdtri(n_delays, FALSE_ALARM) + floor
        self.single_threshold = noise_var * chdtri(max(n_delays - 1, 1), FALSE_ALARM) + floor
        self.amplitude_threshold = noise_var * chdtri(1, FALSE_ALARM) + floor
        self.dirty = np.ones((n_groups, n_bins), dtype=bool)
        self.coef: dict[int, float] = {}
        self.energy = energy

    @property
    def residual_energy(self) -> float:
        """Energy left in all bins."""
        return float(self.energy.sum())

    @property
    def resolved(self) -> bool:
        """True when every bin is a zero-ton."""
        return bool((self.energy <= self.zero_threshold).all())

    def _singletons(self):
        """Classify the dirty bins; the single-tons as (indices, amplitudes)."""
        groups, bins = np.nonzero(self.dirty & (self.energy > self.zero_threshold))
        self.dirty[:] = False
        if groups.size == 0:
            return np.zeros(0, dtype=np.uint64), np.zeros(0)
        obs = self.obs[groups, bins]
        k, ok = self.design.decode(obs)
        for c, cols in enumerate(self.hashes):
            in_group = groups == c
            ok[in_group] &= hash_bins(k[in_group], cols) == bins[in_group]
        n_delays = obs.shape[1]
        amp = np.einsum("ip,ip->i", obs, signatures(k, self.design.delays)) / n_delays
        fit = n_delays * amp**2
        residual = self.energy[groups, bins] - fit
        single = (ok & (fit > self.amplitude_threshold)
                  & (residual <= self.single_threshold))
        return k[single], amp[single]

    def peel(self, k, amp) -> None:
        """Subtract coefficients ``amp`` at indices ``k`` from all groups."""
        sig = signatures(k, self.design.delays) * amp[:, None]
        for c, cols in enumerate(self.hashes):
            bins = hash_bins(k, cols)
            np.subtract.at(self.obs[c], bins, sig)
            self.energy[c, bins] = np.einsum("bp,bp->b", self.obs[c, bins], self.obs[c, bins])
            self.dirty[c, bins] = True
        for key, value in zip(k.tolist(), amp.tolist(), strict=True):
            self.coef[key] = self.coef.get(key, 0.0) + value

    def round(self) -> int:
        """One peeling round; returns the number of distinct single-tons found.

        After peeling, :meth:`refine` corrects the amplitudes found so far, so that their
        estimation errors do not pile up in the bins they were subtracted from.
        """
        k, amp = self._singletons()
        if k.size == 0:
            return 0
        k, inverse, counts = np.unique(k, return_inverse=True, return_counts=True)
        amp = np.bincount(inverse, weights=amp) / counts
        self.peel(k, amp)
        self.refine()
        return int(k.size)

    def refine(self) -> None:
        """Least-squares polishing of the found amplitudes (one Jacobi sweep).

        Re-estimates every amplitude from the residuals of those of its ``C`` bins that are
        explained (zero-tons now), not only from the bin it was read from, and subtracts
        the correction from all its bins. Bins that still hold unknown coefficients are
        left out: their content would leak into the estimate.
        """
        k = np.fromiter(self.coef, dtype=np.uint64, count=len(self.coef))
        sig = signatures(k, self.design.delays)
        total = np.zeros(k.size)
        count = np.zeros(k.size)
        for c, cols in enumerate(self.hashes):
            bins = hash_bins(k, cols)
            explained = self.energy[c, bins] <= self.zero_threshold
            total += explained * np.einsum("ip,ip->i", self.obs[c, bins], sig)
            count += explained
        self.peel(k, total / (sig.shape[1] * np.maximum(count, 1)))
