"""SPRIGHT's sampling front end: sub-sampling (hashing) matrices and delay designs.

Indices are n-bit integers held in ``uint64``; ``⟨k, m⟩`` is the parity of ``k & m``.
A group ``c`` with hashing columns ``M_c = (col_1 … col_b)`` and a delay ``d`` reads the
``B = 2**b`` samples ``x(M_c l ⊕ d)``; their ``B``-point WHT divided by ``B`` is, in bin
``j``, ``Σ_{k: h_c(k) = j} X[k] (−1)^{⟨k, d⟩}`` with ``h_c(k)_i = ⟨k, col_i⟩``. A bin holding
one coefficient (a single-ton) therefore shows the sign pattern ``(−1)^{⟨k, d_p⟩}`` across
the delays ``d_1 … d_P``, from which a delay design reads ``k``:

* :class:`NoiselessDelays`: ``{0, e_1, …, e_n}`` (SparseFHT); bit ``i`` is the sign change
  between delays ``0`` and ``e_i``.
* :class:`RandomDelays`: ``Q`` random offsets ``r``, each with ``{r, r ⊕ e_1, …}``
  (SPRIGHT's near-sample-optimal design); every bit by majority vote over the ``Q`` chains.
* :class:`CodedDelays`: the delays are the columns of ``n`` random codewords of a BCH code,
  which with the all-ones word span a subcode (SPRIGHT's sample-optimal design): the sign
  pattern is a codeword carrying ``k`` and the sign of ``X[k]``, and sign flips caused by
  noise are corrected by decoding.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.stats import binom

from ..operators import parity
from .bch import BCHCode

__all__ = ["DESIGNS", "parity", "hash_bins", "signatures", "random_hashing", "span",
           "NoiselessDelays", "RandomDelays", "CodedDelays", "make_delays"]

DESIGNS = ("coded", "random", "noiseless")


def hash_bins(k, columns) -> np.ndarray:
    """Bin ``h(k) = Σ_i ⟨k, col_i⟩ 2**i`` of each index ``k`` (int64 array)."""
    k = np.asarray(k, dtype=np.uint64)
    bins = np.zeros(k.shape, dtype=np.int64)
    for i, col in enumerate(columns):
        bins |= parity(k & col).astype(np.int64) << i
    return bins


def signatures(k, delays) -> np.ndarray:
    """``(−1)^{⟨k, d_p⟩}`` of shape ``(len(k), P)`` as float64."""
    k = np.asarray(k, dtype=np.uint64)
    return 1.0 - 2.0 * parity(k[:, None] & delays[None, :])


def _independent(vectors) -> list[int]:
    """Positions of a maximal GF(2)-independent subset of bit vectors, chosen greedily."""
    basis: dict[int, int] = {}  # leading bit -> reduced vector
    picked = []
    for pos, v in enumerate(vectors):
        v = int(v)
        while v:
            top = v.bit_length() - 1
            if top not in basis:
                basis[top] = v
                picked.append(pos)
                break
            v ^= basis[top]
    return picked


def _draw(n_bits: int, size: int, rng) -> np.ndarray:
    """``size`` uniform random n-bit integers (uint64)."""
    words = [rng.randint(0, 2**31) | (rng.randint(0, 2**31) << 31) for _ in range(size)]
    return np.array(words, dtype=np.uint64) & np.uint64((1 << n_bits) - 1)


def _coset_representatives(vectors, columns) -> np.ndarray:
    """Canonical representative of each vector modulo the span of ``columns`` (GF(2))."""
    basis: dict[int, int] = {}
    for v in columns:  # fully reduced echelon basis: leading bit -> vector
        v = int(v)
        for top in sorted(basis, reverse=True):
            if v >> top & 1:
                v ^= basis[top]
        if v:
            top = v.bit_length() - 1
            for other in basis:
                if basis[other] >> top & 1:
                    basis[other] ^= v
            basis[top] = v
    reps = np.asarray(vectors, dtype=np.uint64).copy()
    for top, v in basis.items():
        reps ^= np.where((reps >> np.uint64(top)) & np.uint64(1), np.uint64(v), np.uint64(0))
    return reps


def random_hashing(n_bits: int, b: int, delays, rng, max_draws: int = 200) -> np.ndarray:
    """``b`` random independent n-bit columns (uint64): a hash of indices onto ``2**b`` bins.

    The group then reads ``x(M l ⊕ d)``; two delays whose difference lies in the span of
    ``M`` read the same samples (wasted queries, and noise shared between delays, which the
    chi-square tests do not expect). When there is room (``4 · 2**(n−b) >= P²`` and
    distinct delays), matrices are drawn until the delays are distinct modulo the span;
    if none is found in ``max_draws`` draws, the last full-rank one is kept.
    """
    separable = (len(delays) ** 2 <= 4 * 2.0 ** (n_bits - b)
                 and np.unique(delays).size == len(delays))
    last = None
    for _ in range(max_draws):
        cols = _draw(n_bits, b, rng)
        if len(_independent(cols)) < b:
            continue
        last = cols
        if not separable or np.unique(_coset_representatives(delays, cols)).size == len(delays):
            return cols
    if last is None:  # pragma: no cover - a random n×b matrix has full rank w.p. > 0.28
        raise RuntimeError(f"no full-rank {n_bits}×{b} hashing matrix in {max_draws} draws")
    return last


def span(columns) -> np.ndarray:
    """All ``2**b`` XOR combinations ``M l`` (index ``l`` selects the columns by its bits)."""
    out = np.zeros(1, dtype=np.uint64)
    for col in columns:
        out = np.concatenate([out, out ^ col])
    return out


def _signs(obs) -> np.ndarray:
    """1 where an observation is negative (the bit of its sign), as uint8."""
    return (np.asarray(obs) < 0).astype(np.uint8)


def _bits_to_index(bits) -> np.ndarray:
    """Rows of 0/1 (bit ``i`` in column ``i``) → uint64 integers."""
    weights = np.uint64(1) << np.arange(bits.shape[1], dtype=np.uint64)
    return (bits.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)


class NoiselessDelays:
    """Delays ``{0, e_1, …, e_n}``: ``n + 1`` per bin (SparseFHT, exact without noise)."""

    def __init__(self, n_bits: int):
        self.n_bits = n_bits
        self.delays = np.concatenate([np.zeros(1, dtype=np.uint64),
                                      np.uint64(1) << np.arange(n_bits, dtype=np.uint64)])

    def decode(self, obs):
        """Index of each bin from its observations ``(n_bins, P)``; all reads succeed."""
        bits = _signs(obs)
        k = _bits_to_index(bits[:, 1:] ^ bits[:, :1])
        return k, np.ones(len(k), dtype=bool)

    def read_probability(self, q: float) -> float:
        """Probability of reading a single-ton's index when each sign flips w.p. ``q``.

        The bits are the sign changes from delay 0: right when no sign flips, or all do.
        """
        return (1 - q) ** (self.n_bits + 1) + q ** (self.n_bits + 1)


class RandomDelays:
    """``n_chains`` random offsets, each XOR-ed with ``{0, e_1, …, e_n}``.

    Bit ``i`` is read in every chain from the sign change between ``r`` and ``r ⊕ e_i``
    and decided by majority; a tie fails the read (the bin counts as a multi-ton).
    """

    def __init__(self, n_bits: int, n_chains: int, rng):
        self.n_bits, self.n_chains = n_bits, n_chains
        base = NoiselessDelays(n_bits).delays
        distinct = 2.0**n_bits >= 4 * (n_chains * (n_bits + 1)) ** 2
        for _ in range(200):  # distinct delays when there is room
            self.delays = (_draw(n_bits, n_chains, rng)[:, None] ^ base[None, :]).ravel()
            if not distinct or np.unique(self.delays).size == self.delays.size:
                break

    def decode(self, obs):
        bits = _signs(obs).reshape(len(obs), self.n_chains, self.n_bits + 1)
        votes = (bits[:, :, 1:] ^ bits[:, :, :1]).sum(axis=1, dtype=np.int64)
        k = _bits_to_index((2 * votes > self.n_chains).astype(np.uint8))
        return k, ~(2 * votes == self.n_chains).any(axis=1)

    def read_probability(self, q: float) -> float:
        """Probability of reading a single-ton's index when each sign flips w.p. ``q``.

        Given the ``m`` chains whose reference sign flipped, the wrong votes on a bit are
        ``Binomial(Q − m, q) + Binomial(m, 1 − q)``, independently for each bit; a bit is
        right with a strict majority of right votes.
        """
        Q = self.n_chains
        total = 0.0
        for m in range(Q + 1):
            wrong = np.convolve(binom.pmf(np.arange(Q - m + 1), Q - m, q),
                                binom.pmf(np.arange(m + 1), m, 1 - q))
            bit = wrong[:(Q + 1) // 2].sum()  # fewer than Q/2 wrong votes
            total += binom.pmf(m, Q, q) * bit**self.n_bits
        return float(total)


@functools.cache
def bch_code(m: int, t: int) -> BCHCode:
    """The BCH code of length ``2**m − 1`` correcting ``t`` errors (built once)."""
    return BCHCode(m, t)


@functools.cache
def coded_parameters(n_bits: int, n_delays: int | None) -> tuple[int, int]:
    """``(m, t)`` of the BCH code for :class:`CodedDelays`.

    The length ``2**m − 1`` is the smallest that is at least ``n_delays`` (default
    ``2 (n_bits + 1)``) and whose code carries ``n_bits + 1`` message bits; ``t`` is then
    the largest error-correcting capability that still carries them.
    """
    target = 2 * (n_bits + 1) if n_delays is None else n_delays
    for m in range(3, 11):
        if (1 << m) - 1 < target or bch_code(m, 1).k < n_bits + 1:
            continue
        t = 1
        while t + 1 <= ((1 << m) - 1) // 2 and bch_code(m, t + 1).k >= n_bits + 1:
            t += 1
        return m, t
    raise ValueError(f"n_delays must be at most 1023 for the coded design, got {n_delays}")


class CodedDelays:
    """Delays from a BCH code (SPRIGHT's sample-optimal design).

    ``n`` random codewords and the all-ones word (a codeword of every narrow-sense BCH
    code) span a subcode of dimension ``n + 1``; delay ``p`` is column ``p`` of the ``n``
    random codewords read as an n-bit integer (drawn again until the delays are distinct,
    when ``2**n`` leaves room). The sign bits of a single-ton are then the codeword of the
    message ``(k, sign of X[k])``: the decoder corrects up to ``t`` flipped signs and rejects
    words outside the subcode.
    """

    def __init__(self, n_bits: int, n_delays: int | None, rng, max_draws: int = 200):
        self.n_bits = n_bits
        self.code = bch_code(*coded_parameters(n_bits, n_delays))
        G = self.code.generator_matrix.astype(np.int64)
        distinct = 2.0**n_bits >= 4 * self.code.n**2
        for _ in range(max_draws):
            mix = rng.randint(0, 2, size=(n_bits, self.code.k))
            rows = np.vstack([(mix @ G) & 1, np.ones((1, self.code.n), dtype=np.int64)])
            columns = _bits_to_index(rows.T)
            self.delays = _bits_to_index(rows[:n_bits].T)
            if len(_independent(columns)) == n_bits + 1 and (
                    not distinct or np.unique(self.delays).size == self.code.n):
                break
        else:  # pragma: no cover - a random square GF(2) matrix is invertible w.p. > 0.28
            raise RuntimeError("no full-rank BCH subcode found")
        self._rows = rows.astype(np.float64)
        # n + 1 positions where the subcode is systematic, and the inverse there
        self._positions = np.array(_independent(columns)[:n_bits + 1])
        self._inverse = _gf2_inverse(rows[:, self._positions]).astype(np.float64)

    @property
    def t(self) -> int:
        """Number of sign errors corrected per bin."""
        return self.code.t

    def read_probability(self, q: float) -> float:
        """Probability of reading a single-ton's index when each sign flips w.p. ``q``
        (at most ``t`` of the ``P`` signs flipped, or all but at most ``t``)."""
        n = self.code.n
        return float(binom.cdf(self.t, n, q) + binom.sf(n - self.t - 1, n, q))

    def decode(self, obs):
        words, ok = self.code.decode(_signs(obs))
        message = (words[:, self._positions] @ self._inverse).astype(np.int64) & 1
        ok &= (((message @ self._rows).astype(np.int64) & 1) == words).all(axis=1)
        return _bits_to_index(message[:, :self.n_bits]), ok


def _gf2_inverse(A) -> np.ndarray:
    """Inverse of a square 0/1 matrix over GF(2) (Gauss–Jordan)."""
    n = A.shape[0]
    aug = np.hstack([np.asarray(A, dtype=np.uint8) & 1, np.eye(n, dtype=np.uint8)])
    for col in range(n):
        pivot = col + int(np.argmax(aug[col:, col]))
        if not aug[pivot, col]:
            raise ValueError("matrix is singular over GF(2)")
        aug[[col, pivot]] = aug[[pivot, col]]
        others = aug[:, col].astype(bool)
        others[col] = False
        aug[others] ^= aug[col]
    return aug[:, n:]


def make_delays(design: str, n_bits: int, n_delays: int | None, rng):
    """The delay design named ``design`` (see :data:`DESIGNS`)."""
    if design == "noiseless":
        if n_delays is not None and n_delays != n_bits + 1:
            raise ValueError(f"n_delays must be None or n_bits + 1 = {n_bits + 1} for the "
                             f"noiseless design, got {n_delays}")
        return NoiselessDelays(n_bits)
    if design == "random":
        if n_delays is None:
            n_chains = max(3, -(-n_bits // 4)) | 1  # O(n) chains, odd: no tied votes
        else:
            n_chains = n_delays // (n_bits + 1)
            if n_chains < 1:
                raise ValueError(f"n_delays must be at least n_bits + 1 = {n_bits + 1} for "
                                 f"the random design, got {n_delays}")
        return RandomDelays(n_bits, n_chains, rng)
    return CodedDelays(n_bits, n_delays, rng)
