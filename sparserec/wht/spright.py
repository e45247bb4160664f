"""SparseWHT: the K-sparse Walsh–Hadamard spectrum of a signal from few samples (SPRIGHT)."""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
from scipy.sparse import issparse
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import Bunch, check_random_state, check_scalar
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._config import check_dense_size
from ..backend import array_namespace, to_host
from ..base import COMMON_PARAMETER_CONSTRAINTS, SparseEstimatorMixin, pow2_scale
from ..operators import walsh_eval
from ..utils.threads import blas_limits
from .designs import DESIGNS, make_delays, random_hashing, span
from .fwht import fwht
from .peeling import PeelingDecoder, estimate_bin_noise

__all__ = ["SparseWHT", "default_b"]

# 2-core (peelability) thresholds of random C-uniform hypergraphs: peeling K coefficients
# hashed into C groups of B bins succeeds with high probability when K < c*_C · C · B.
_CORE_THRESHOLD = {2: 0.5, 3: 0.818, 4: 0.772, 5: 0.702, 6: 0.637, 7: 0.582, 8: 0.535}


def default_b(sparsity: int, n_groups: int, n_bits: int) -> int:
    """The default ``b`` of :class:`SparseWHT`: failure rates of peeling below ~0.5 %.

    The smallest ``b`` with a load ``K / B <= 0.8`` (below the peeling threshold
    ``c*_C · C``), and an expected number of coefficient pairs sharing a bin in every group
    (a stopping set peeling cannot undo) ``K² / (2 B^C) <= 2e-3``. When the hashes leave
    fewer than 6 bits out (``n − b < 6``), linear hashing has small kernels and more
    structured collisions, so the load is kept below 0.4. At most ``n``.
    """
    K, C = sparsity, n_groups
    b = max(1, math.ceil(math.log2(K / 0.8)), math.ceil(math.log2(K**2 / 4e-3) / C))
    if n_bits - b < 6:
        b = max(b, math.ceil(math.log2(K / 0.4)))
    return min(n_bits, b)


def _supported_sparsity(b: int, n_groups: int, n_bits: int) -> int:
    """The largest sparsity whose :func:`default_b` is at most ``b``."""
    lo, hi = 1, 2**b  # default_b(2**b) > b (load 0.8) and default_b is non-decreasing in K
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if default_b(mid, n_groups, n_bits) <= b else (lo, mid)
    return lo


_MAX_BITS = 62


class SparseWHT(SparseEstimatorMixin, BaseEstimator):
    """The K-sparse Walsh–Hadamard transform from ``O(K log N)`` samples (SPRIGHT).

    Finds the few nonzero coefficients ``X[k]`` of a signal of length ``N = 2**n``,

    .. math:: x[m] = \\sum_k X[k] (-1)^{\\langle k, m \\rangle} + \\text{noise},

    (the convention of :func:`sparserec.datasets.make_sparse_walsh`: ``fwht(x) / N == X``)
    by reading ``x`` only at ``C · P · B`` indices: for each of ``C`` groups, the samples
    ``x(M_c l ⊕ d_p)``, ``l < B = 2**b``, for ``P`` delays ``d_p``. Their small WHTs alias
    the spectrum into ``C·B`` bins; each bin holding a single coefficient reveals its index
    through the signs of its ``P`` observations, and a peeling decoder subtracts every
    coefficient found from its bins in all groups, which frees more single-tons.

    Parameters
    ----------
    sparsity : int
        Expected number ``K`` of nonzero coefficients; sets the default ``b``.
    n_bits : int, optional
        ``n = log2 N``, up to 62. Read from the length of an array input; required (here or
        in :meth:`fit`) for a callable.
    design : {"coded", "random", "noiseless"}
        Delay design. ``"noiseless"``: ``n + 1`` delays (SparseFHT), exact without noise.
        ``"random"``: ``Q`` random offsets each with the ``n + 1`` noiseless delays, bits by
        majority vote (near-sample-optimal SPRIGHT, ``O(n²)`` delays). ``"coded"``: delays
        from a BCH code whose decoder corrects flipped signs (sample-optimal SPRIGHT).
    n_groups : int
        Number ``C`` of sub-sampling groups (at least 2).
    b : int, optional
        ``log2`` of the bins ``B`` per group. Default: the smallest ``b`` (at most ``n``)
        with ``K / B <= 0.8`` (below the peeling threshold) and ``K² / (2 B^C) <= 0.002``
        (rarely two coefficients share a bin in every group, which peeling cannot undo),
        and ``K / B <= 0.4`` when ``n − b < 6`` (see :func:`~sparserec.wht.spright.default_b`).
    n_delays : int, optional
        Delays ``P`` per group. ``"noiseless"``: ``n + 1`` (the only value). ``"random"``:
        rounded down to a multiple of ``n + 1`` (the chains); default
        ``(n + 1) × max(3, ceil(n/4))`` (made odd). ``"coded"``: rounded up to a BCH length
        ``2**m − 1``; default at least ``2 (n + 1)``; the code then corrects as many sign
        errors ``t`` as that length allows.
    noise_sigma : float, optional
        Standard deviation of the noise on each sample. Estimated from the bin energies
        when not given (see Notes: an estimate that leaves the design unable to read the
        coefficients is reported, not trusted).
    max_iter : int
        Maximum number of peeling rounds.
    tol : float
        Relative numerical floor of the bin tests: energies below ``tol`` times the largest
        initial bin energy count as zero (coefficients smaller than about
        ``sqrt(tol)`` times the largest are not resolved).
    backend : {"auto", "numpy", "numba", "cupy"}
        Backend of the small WHTs (:func:`sparserec.wht.fwht`).
    random_state : int, RandomState instance or None
        Draws the hashing matrices and the random delays.
    verbose : int
        Show a progress bar over the peeling rounds.
    adaptive : bool, default=False
        When the spectrum is not resolved (peeling stalls, ``max_iter`` runs out, or the
        noise estimate is not credible), sub-sample again with twice the bins
        (``b + 1``, fresh hashes, the sparsity the default rule gives that ``b``), and
        accept a resolved spectrum only once twice the bins give the same support. It
        stops, with a :class:`~sklearn.exceptions.ConvergenceWarning`, before all the
        attempts together would read more than the ``2**n`` samples of the signal (the
        dense :func:`~sparserec.wht.fwht` is then cheaper and exact).
        ``n_samples_used_`` counts every attempt; ``b_`` is the last ``b``.

    Attributes
    ----------
    support_ : ndarray of uint64
        Indices ``k`` of the recovered coefficients, sorted.
    coef_ : ndarray of float64
        Their values ``X[k]``.
    n_bits_ : int
        ``n``.
    b_ : int
        ``log2`` of the bins per group.
    n_delays_ : int
        Delays per group.
    n_samples_used_ : int
        Number of signal values read, ``C · P · 2**b`` (summed over the attempts of
        ``adaptive=True``).
    noise_sigma_ : float
        Noise standard deviation used for the thresholds (given or estimated).
    n_iter_ : int
        Peeling rounds run.
    converged_ : bool
        True when every bin was explained (all zero-tons) at the end and the noise
        estimate is credible (``read_probability_ >= 1/2``); with ``adaptive=True``, also
        confirmed with twice the bins.
    read_probability_ : float
        With an estimated noise level: the probability that the delay design reads the
        index of a single-ton whose energy is that of an occupied bin if the spectrum had
        ``sparsity`` coefficients, at the estimated noise (1 when ``noise_sigma`` is
        given). Below 1/2 the estimate is not credible (see Notes).
    history_ : list of float
        Energy left in all bins after each round, as a fraction of the energy before peeling.

    References
    ----------
    X. Li, J. K. Bradley, S. Pawar, K. Ramchandran, "SPRIGHT: A Fast and Robust Framework
    for Sparse Walsh-Hadamard Transform", arXiv:1508.06336, 2015.

    R. Scheibler, S. Haghighatshoar, M. Vetterli, "A Fast Hadamard Transform for Signals
    with Sub-linear Sparsity in the Transform Domain", IEEE Trans. Inf. Theory 61(4), 2015,
    arXiv:1310.1803.

    Notes
    -----
    Deviations from the paper and its reference code:

    * Hashing matrices are random full-rank ``n × b`` matrices over GF(2) for every ``b``
      (the paper's very-sparse regime selects disjoint blocks of bits). Random hashes also
      spread structured supports, e.g. the low-degree spectra of pseudo-Boolean functions.
    * Thresholds are chi-square quantiles at a false-alarm rate of ``1e-6`` per test
      rather than the reference code's fixed factors (4, 3, 2, 1.5 by number of delays);
      they agree closely for 10 to 60 delays.
    * The noise level is estimated from a quantile of the sorted bin energies matched to
      the expected fraction of zero-ton bins, ``(1 − 2**-b)**K``, instead of the reference
      code's cut at the first tenfold jump, which needs a gap between noise and signal
      energies that continuous coefficient amplitudes do not leave.
    * The coded design's delays span a BCH subcode that contains the all-ones word, so the
      unknown sign of ``X[k]`` is one more message bit and no reference delay is needed.
    * After each peeling round a Jacobi sweep re-estimates every amplitude found so far
      from all ``C`` of its bins (least squares). This lowers the variance of ``coef_`` by
      about ``C`` and keeps estimation errors from piling up in the bins they were peeled
      from, where they would otherwise look like signal.
    * Only the samples read are checked for NaN or infinity: checking all of an array input
      would cost ``O(N)``.
    * An unresolved spectrum is reported, not returned as "converged". A spectrum much
      denser than ``sparsity`` aliases into every bin, and the sum of many coefficients in
      a bin looks like Gaussian noise: the bin energies then give a noise estimate close
      to the signal's RMS, every bin is a "zero-ton", and peeling returns nothing. No
      statistic of the bins can tell such a spectrum from noise (a dense Gaussian
      spectrum *is* white noise), so the estimate is checked against what the design
      needs: the energy above the estimated noise, spread over the
      ``1 − (1 − 2**-b)**sparsity`` occupied bins that ``sparsity`` implies, gives a
      per-observation SNR ``ρ``, hence the probability ``q = Q(√ρ)`` that a sign flips,
      and the probability that the design reads a single-ton's index at that ``q``
      (noiseless: no sign or all signs flipped; random: a majority in every bit; coded:
      at most ``t`` flips). When that probability is below 1/2, the design could not
      have read the coefficients the estimate attributes to noise:
      ``converged_=False`` with a :class:`~sklearn.exceptions.ConvergenceWarning` that
      says so (denser than ``sparsity``, or noise too strong for the design), and
      ``adaptive=True`` grows the number of bins until peeling resolves.

    Examples
    --------
    >>> from sparserec import SparseWHT
    >>> from sparserec.datasets import make_sparse_walsh
    >>> p = make_sparse_walsh(16, 10, random_state=0)
    >>> est = SparseWHT(sparsity=10, design="noiseless", random_state=0).fit(p.signal)
    >>> bool((est.support_ == p.support).all()), est.n_samples_used_ < 2**16
    (True, True)

    A spectrum 30 times denser than ``sparsity``: ``adaptive=True`` doubles the bins until
    peeling resolves it (and twice the bins agree), reading 77 % of the samples in all.

    >>> dense = make_sparse_walsh(16, 300, random_state=0)
    >>> est = SparseWHT(sparsity=10, design="noiseless", adaptive=True,
    ...                 random_state=0).fit(dense.signal)
    >>> bool((est.support_ == dense.support).all()), est.converged_, est.b_
    (True, True, 9)
    """

    _parameter_constraints: dict = {
        **COMMON_PARAMETER_CONSTRAINTS,
        "sparsity": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_bits": [Interval(numbers.Integral, 1, _MAX_BITS, closed="both"), None],
        "design": [StrOptions(set(DESIGNS))],
        "n_groups": [Interval(numbers.Integral, 2, max(_CORE_THRESHOLD), closed="both")],
        "b": [Interval(numbers.Integral, 1, _MAX_BITS, closed="both"), None],
        "n_delays": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "noise_sigma": [Interval(numbers.Real, 0, np.inf, closed="left"), None],
        "adaptive": ["boolean"],
    }

    def __init__(self, sparsity: int = 10, n_bits: int | None = None, design: str = "coded",
                 n_groups: int = 3, b: int | None = None, n_delays: int | None = None,
                 noise_sigma: float | None = None, max_iter: int = 30, tol: float = 1e-10,
                 backend: str = "auto", random_state=None, verbose: int = 0,
                 adaptive: bool = False):
        self.sparsity = sparsity
        self.n_bits = n_bits
        self.design = design
        self.n_groups = n_groups
        self.b = b
        self.n_delays = n_delays
        self.noise_sigma = noise_sigma
        self.adaptive = adaptive
        self.max_iter = max_iter
        self.tol = tol
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ input
    def _signal(self, x, n_bits):
        """``(query, n_bits)``: a function from uint64 indices to float64 samples."""
        if n_bits is not None:
            check_scalar(n_bits, "n_bits", numbers.Integral, min_val=1, max_val=_MAX_BITS)
        if issparse(x):
            raise TypeError("x must be a dense 1-D signal or a callable; sparse input is not "
                            "supported")
        if callable(x):
            if n_bits is None:
                raise ValueError("n_bits must be given (to SparseWHT or to fit) when x is a "
                                 "callable")

            def query(idx):
                values = x(idx)
                if values is None or np.shape(values) != idx.shape:
                    raise ValueError(f"the signal callable must return an array of shape "
                                     f"{idx.shape} (one value per index), got shape "
                                     f"{np.shape(values)}")
                return self._samples(values, "the signal callable's output")

            return query, int(n_bits)
        xp = array_namespace(x)
        if xp is np:
            x = np.asarray(x)
        if x.dtype == object or x.dtype.kind not in "biuf":
            raise TypeError(f"x must be a real numeric array or a callable, got dtype {x.dtype}")
        if x.ndim != 1:
            raise ValueError(f"x must be a 1-D signal of length 2**n_bits (or a callable), "
                             f"got shape {x.shape}")
        length = x.shape[0]
        n = length.bit_length() - 1
        if length < 2 or length != 1 << n:
            raise ValueError(f"the length of x must be a power of two (at least 2), "
                             f"got {length}")
        if n_bits is not None and n_bits != n:
            raise ValueError(f"n_bits={n_bits} does not match the length of x, 2**{n}")

        def query(idx):
            return self._samples(x[xp.asarray(idx.astype(np.intp))], "x")

        return query, n

    @staticmethod
    def _samples(values, what):
        values = to_host(values)
        values = np.asarray(values)
        if values.dtype == object or values.dtype.kind not in "biuf":
            raise TypeError(f"{what} must be real numbers, got dtype {values.dtype}")
        values = values.astype(np.float64, copy=False)
        if not np.isfinite(values).all():
            raise ValueError(f"{what} contains NaN or infinite values at the sampled indices")
        return values

    def _check_design(self, n_bits):
        """The checks that depend on ``n`` (the table covers the rest); returns ``b``."""
        if self.sparsity > 2**n_bits:
            raise ValueError(f"sparsity must be at most 2**n_bits = {2**n_bits}, "
                             f"got {self.sparsity}")
        if self.b is None:
            b = default_b(self.sparsity, self.n_groups, n_bits)
        else:
            check_scalar(self.b, "b", numbers.Integral, min_val=1, max_val=n_bits)
            b = int(self.b)
        capacity = _CORE_THRESHOLD[self.n_groups] * self.n_groups * 2**b
        if b < n_bits and self.sparsity > capacity:
            raise ValueError(
                f"sparsity={self.sparsity} is more than the design supports: peeling "
                f"{self.n_groups} groups of 2**b = {2**b} bins needs sparsity <= "
                f"{int(capacity)}; increase b or n_groups")
        return b

    # ------------------------------------------------------------------ fit
    def fit(self, x, y=None, *, n_bits: int | None = None):
        """Recover the sparse spectrum of ``x``.

        Parameters
        ----------
        x : array of length ``2**n`` or callable
            The signal, or a function that takes a 1-D ``uint64`` array of indices and
            returns the signal values there (an array of the same shape).
        y : None
            Ignored (scikit-learn API).
        n_bits : int, optional
            ``n``, for a callable (overrides the constructor's ``n_bits``).

        Returns
        -------
        self
        """
        self._validate_params()  # before reading x: scikit-learn's messages for the table
        query, n = self._signal(x, self.n_bits if n_bits is None else n_bits)
        b = self._check_design(n)
        self._check_common_params(None if callable(x) else x)
        rng = check_random_state(self.random_state)
        sparsity, samples, rounds, previous = int(self.sparsity), 0, 0, None
        while True:
            result = self._decode(query, n, b, sparsity, rng)
            samples += result.n_samples
            rounds += result.rounds
            if not self.adaptive:
                break
            # adaptive: accept a resolved spectrum once twice the bins (fresh hashes) give
            # the same support; a spectrum denser than assumed loses its weak coefficients
            # to an inflated noise estimate, and those change with the bins
            if result.converged and previous is not None and previous.converged \
                    and np.array_equal(result.support, previous.support):
                break
            # twice the bins, while all the attempts read fewer samples than the signal has
            # (beyond that the dense transform of all 2**n samples is cheaper and exact)
            if b >= n or samples + 2 * result.n_samples > 2**n:
                if result.converged and not (previous is not None and previous.converged):
                    result.converged, result.unconfirmed = False, True
                break
            previous, b = result, b + 1
            sparsity = max(sparsity, _supported_sparsity(b, self.n_groups, n))
        self.support_, self.coef_ = result.support, result.coef
        self.n_bits_, self.b_, self.n_delays_ = n, b, result.n_delays
        self.n_samples_used_ = samples
        self.noise_sigma_ = result.noise_sigma
        self.read_probability_ = result.read_probability
        self.n_iter_, self.converged_ = rounds, result.converged
        tip = ("; adaptive=True stopped where the design would read more than the 2**n "
               "samples of the signal (use fwht)" if self.adaptive
               else "; adaptive=True grows b until peeling resolves")
        if result.unreliable_noise:
            warnings.warn(
                f"SparseWHT: the estimated noise (noise_sigma_={self.noise_sigma_:.3g}, "
                f"{100 * result.noise_share:.0f}% of the energy of the samples) leaves the "
                f"{self.design} design a {100 * result.read_probability:.0f}% chance to read "
                f"a coefficient of the energy that sparsity={sparsity} implies: the spectrum is "
                "probably denser than sparsity (its aliases look like noise) or the noise too "
                f"strong for the design; {len(self.coef_)} coefficient(s) returned. Increase "
                f"sparsity or b, or give noise_sigma{tip}", ConvergenceWarning, stacklevel=2)
        elif result.stalled and not result.converged:
            warnings.warn(f"SparseWHT: peeling stalled after {result.rounds} round(s) with "
                          f"{result.left} unresolved multi-ton bin(s); the spectrum may have "
                          f"more than sparsity={sparsity} coefficients (increase sparsity, b or "
                          f"n_groups) or the noise is too strong for the design{tip}",
                          ConvergenceWarning, stacklevel=2)
        elif result.get("unconfirmed"):
            warnings.warn("SparseWHT: adaptive=True found a resolved spectrum but could not "
                          "confirm it with twice the bins without reading more than the 2**n "
                          "samples of the signal (use fwht)", ConvergenceWarning, stacklevel=2)
        elif not result.converged:
            self._set_convergence(rounds, False)
        return self

    def _decode(self, query, n, b, sparsity, rng) -> Bunch:
        """One sub-sampling with ``2**b`` bins per group and the peeling of its bins."""
        obs, delays, hashes, scale = self._observe(query, n, b, rng)
        n_bins, n_delays = obs.shape[1:]
        energy = np.einsum("cbp,cbp->cb", obs, obs)
        zero_fraction = (1 - 2.0**-b) ** sparsity
        if self.noise_sigma is None:
            noise_var = estimate_bin_noise(energy, n_delays, zero_fraction=zero_fraction)
        else:
            with np.errstate(over="ignore"):  # noise far above the signal: all zero-tons
                noise_var = float(np.square(np.float64(self.noise_sigma) / scale)) / n_bins
        noise_share, read, unreliable = 0.0, 1.0, False
        total = float(energy.sum())
        if self.noise_sigma is None and total > 0:
            # the SNR per observation of an occupied bin if the spectrum had `sparsity`
            # coefficients: the energy above the noise, over the bins they would occupy
            noise_energy = energy.size * n_delays * noise_var
            noise_share = min(1.0, noise_energy / total)
            if noise_var > 0:
                snr = max(total / noise_energy - 1.0, 0.0) / max(1.0 - zero_fraction, 1e-300)
                read = delays.read_probability(0.5 * math.erfc(math.sqrt(snr / 2)))
                unreliable = read < 0.5
        with blas_limits(1):  # tiny products: BLAS threads cost more than they save
            decoder = PeelingDecoder(obs, hashes, delays, noise_var, self.tol)
            initial_energy = max(decoder.residual_energy, np.finfo(float).tiny)
            rounds, resolved, stalled = 0, decoder.resolved, False
            if not resolved:
                for _ in self._iterations():
                    rounds += 1
                    stalled = decoder.round() == 0
                    self._record(decoder.residual_energy / initial_energy)
                    resolved = decoder.resolved
                    if resolved or stalled:
                        break
        k = np.fromiter(decoder.coef, dtype=np.uint64, count=len(decoder.coef))
        coef = np.fromiter(decoder.coef.values(), dtype=np.float64, count=k.size)
        keep = n_delays * coef**2 > decoder.amplitude_threshold  # drop cancelled entries
        order = np.argsort(k[keep])
        noise_sigma = math.sqrt(noise_var * n_bins) * scale if self.noise_sigma is None \
            else float(self.noise_sigma)
        return Bunch(support=k[keep][order], coef=coef[keep][order] * scale,
                     n_delays=n_delays, n_samples=obs.size, noise_sigma=noise_sigma,
                     rounds=rounds, stalled=stalled, converged=resolved and not unreliable,
                     unreliable_noise=unreliable, noise_share=noise_share,
                     read_probability=read,
                     left=int((decoder.energy > decoder.zero_threshold).sum()))

    def _observe(self, query, n_bits, b, rng):
        """Read the samples and return the bin observations ``(C, B, P)``, delays, hashes
        and the scale of the samples."""
        delays = make_delays(self.design, n_bits, self.n_delays, rng)
        hashes = [random_hashing(n_bits, b, delays.delays, rng) for _ in range(self.n_groups)]
        n_delays, n_bins = len(delays.delays), 2**b
        indices = np.stack([span(cols)[None, :] ^ delays.delays[:, None] for cols in hashes])
        samples = query(indices.reshape(-1)).reshape(self.n_groups * n_delays, n_bins)
        # the samples in units of the power of two nearest their largest magnitude (an exact
        # division): bin energies are squares, which would underflow for a signal of
        # magnitude 1e-170 or overflow for 1e160
        scale = pow2_scale(samples)
        obs = to_host(fwht(samples / scale, backend=self.backend_)) / n_bins
        obs = obs.reshape(self.n_groups, n_delays, n_bins).transpose(0, 2, 1)
        return np.ascontiguousarray(obs), delays, hashes, scale

    # ------------------------------------------------------------------ use
    def predict(self, indices):
        """Evaluate the recovered signal ``Σ_k X[k] (−1)^{⟨k, m⟩}`` at indices ``m``.

        Parameters
        ----------
        indices : array-like of non-negative integers below ``2**n_bits_``

        Returns
        -------
        values : ndarray of float64, same shape as ``indices``
        """
        check_is_fitted(self, "coef_")
        idx = np.asarray(indices)
        if idx.dtype.kind not in "ui":
            raise TypeError(f"indices must be integers, got dtype {idx.dtype}")
        if idx.size and (idx.min() < 0 or idx.astype(np.uint64).max() >> np.uint64(self.n_bits_)):
            raise ValueError(f"indices must lie in [0, 2**n_bits_ = 2**{self.n_bits_})")
        return walsh_eval(idx, self.support_, self.coef_)

    def inverse(self) -> np.ndarray:
        """The recovered signal as a dense array of length ``2**n_bits_`` (small ``n``)."""
        check_is_fitted(self, "coef_")
        check_dense_size((2**self.n_bits_,), np.float64, "SparseWHT.inverse()")
        spectrum = np.zeros(2**self.n_bits_)
        spectrum[self.support_.astype(np.intp)] = self.coef_
        return fwht(spectrum, backend="numpy" if self.backend_ == "cupy" else self.backend_)
