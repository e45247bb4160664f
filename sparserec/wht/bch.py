"""Binary primitive narrow-sense BCH codes, with a decoder vectorised over many words.

SPRIGHT's sample-optimal design reads the index of a single-ton bin from the signs of its
observations across delays; choosing the delays from an error-correcting code turns that
read-out into decoding, so a few sign flips caused by noise are corrected. The code here
is the textbook one (e.g. Lin & Costello, *Error Control Coding*, ch. 6): length
``n = 2**m − 1``, designed distance ``2t + 1``, generator polynomial the least common
multiple of the minimal polynomials of ``α, α², …, α^{2t}``; decoding by syndromes,
Berlekamp–Massey and a Chien search, all as array operations over a batch of words.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["BCHCode"]

# primitive polynomials over GF(2), bit i = coefficient of x**i
_PRIMITIVE = {3: 0b1011, 4: 0b10011, 5: 0b100101, 6: 0b1000011, 7: 0b10001001,
              8: 0b100011101, 9: 0b1000010001, 10: 0b10000001001}


@functools.cache
def _field(m: int) -> tuple[np.ndarray, np.ndarray]:
    """``exp`` (length ``2n``, so sums of two logs need no reduction) and ``log`` tables."""
    n = (1 << m) - 1
    exp = np.zeros(2 * n, dtype=np.int64)
    log = np.zeros(n + 1, dtype=np.int64)
    a = 1
    for i in range(n):
        exp[i] = a
        log[a] = i
        a <<= 1
        if a >> m:
            a ^= _PRIMITIVE[m]
    if len(set(exp[:n].tolist())) != n:  # pragma: no cover - guards the table above
        raise RuntimeError(f"the polynomial for m={m} is not primitive")
    exp[n:] = exp[:n]
    return exp, log


def _poly_mul_gf2(a: list[int], b: list[int]) -> list[int]:
    out = [0] * (len(a) + len(b) - 1)
    for i, ai in enumerate(a):
        if ai:
            for j, bj in enumerate(b):
                out[i + j] ^= bj
    return out


class BCHCode:
    """A binary BCH code of length ``2**m − 1`` correcting ``t`` errors.

    Parameters
    ----------
    m : int
        Field degree, 3 to 10.
    t : int
        Designed error-correcting capability (designed distance ``2t + 1``).

    Attributes
    ----------
    n : int
        Code length ``2**m − 1``.
    k : int
        Dimension (number of message bits).
    generator : ndarray of uint8
        Coefficients of the generator polynomial, constant term first.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.wht import BCHCode
    >>> code = BCHCode(5, 2)
    >>> code.n, code.k
    (31, 21)
    >>> word = code.encode(np.ones(21, dtype=np.uint8))
    >>> noisy = word.copy(); noisy[[3, 17]] ^= 1
    >>> decoded, ok = code.decode(noisy)
    >>> bool(ok) and bool(np.array_equal(decoded, word))
    True
    """

    def __init__(self, m: int, t: int):
        if m not in _PRIMITIVE:
            raise ValueError(f"m must be an integer in [3, 10], got {m!r}")
        n = (1 << m) - 1
        if not isinstance(t, (int, np.integer)) or not 1 <= t <= n // 2:
            raise ValueError(f"t must be an integer in [1, {n // 2}] for m={m}, got {t!r}")
        self.m, self.t, self.n = int(m), int(t), n
        self._exp, self._log = _field(m)
        done: set[int] = set()
        g = [1]
        for i in range(1, 2 * t + 1):
            if i in done:
                continue
            coset = []
            c = i
            while c not in coset:
                coset.append(c)
                c = 2 * c % n
            done.update(coset)
            g = _poly_mul_gf2(g, self._minimal_polynomial(coset))
        self.generator = np.array(g, dtype=np.uint8)
        self.k = n - (len(g) - 1)
        if self.k < 1:
            raise ValueError(f"BCH code with m={m}, t={t} has no message bits")

    def _minimal_polynomial(self, coset: list[int]) -> list[int]:
        """``∏ (x − α^c)`` over a cyclotomic coset; its coefficients lie in GF(2)."""
        poly = [1]  # GF(2^m) elements, constant term first
        for c in coset:
            root = int(self._exp[c])
            shifted = [0] + poly  # x * poly
            for i, coef in enumerate(poly):
                shifted[i] ^= self._mul(coef, root)
            poly = shifted
        if any(c not in (0, 1) for c in poly):  # pragma: no cover - algebraic invariant
            raise RuntimeError("minimal polynomial with coefficients outside GF(2)")
        return poly

    def _mul(self, a: int, b: int) -> int:
        if a == 0 or b == 0:
            return 0
        return int(self._exp[self._log[a] + self._log[b]])

    @functools.cached_property
    def generator_matrix(self) -> np.ndarray:
        """The ``k × n`` generator matrix whose row ``i`` is ``x**i g(x)`` (uint8)."""
        G = np.zeros((self.k, self.n), dtype=np.uint8)
        for i in range(self.k):
            G[i, i:i + self.generator.size] = self.generator
        return G

    def encode(self, messages) -> np.ndarray:
        """Codewords ``u G`` of messages ``u`` of shape ``(..., k)`` (bits 0/1)."""
        u = np.asarray(messages)
        if u.shape[-1:] != (self.k,):
            raise ValueError(f"messages must have {self.k} bits in their last axis, "
                             f"got shape {u.shape}")
        return ((u.astype(np.int64) @ self.generator_matrix) & 1).astype(np.uint8)

    # ---------------------------------------------------------------- decoding
    def _gf_mul(self, a, b):
        prod = self._exp[self._log[a] + self._log[b]]
        return np.where((a != 0) & (b != 0), prod, 0)

    def _gf_div(self, a, b):
        """``a / b`` for ``b != 0`` (entries where ``b == 0`` give 0)."""
        q = self._exp[(self._log[a] - self._log[b]) % self.n]
        return np.where((a != 0) & (b != 0), q, 0)

    def _to_bits(self, values):
        """GF(2^m) elements ``(...,)`` → their ``m`` bits ``(..., m)`` as float64."""
        return ((values[..., None] >> np.arange(self.m)) & 1).astype(np.float64)

    @functools.cached_property
    def _syndrome_matrix(self) -> np.ndarray:
        """Bits of ``α^{jp}``: a received word (as a row of 0/1) times this matrix, mod 2,
        gives the bits of its syndromes ``S_1..S_2t`` (evaluation is GF(2)-linear)."""
        powers = self._exp[np.outer(np.arange(self.n), np.arange(1, 2 * self.t + 1)) % self.n]
        return self._to_bits(powers).reshape(self.n, -1)

    @functools.cached_property
    def _chien_matrix(self) -> np.ndarray:
        """Bits of ``β α^{−ip}`` for each bit ``β = 2^b`` of each coefficient ``Λ_i``:
        the bits of ``Λ(α^{−p})`` for all ``p`` are a GF(2)-linear function of Λ's bits."""
        i = np.arange(self.t + 1)[:, None, None]
        beta = (1 << np.arange(self.m))[None, :, None]
        p = np.arange(self.n)[None, None, :]
        prod = self._gf_mul(np.broadcast_to(beta, (self.t + 1, self.m, self.n)),
                            self._exp[(-i * p) % self.n])
        return self._to_bits(prod).reshape((self.t + 1) * self.m, self.n * self.m)

    def _pack(self, bits):
        """Bits ``(..., m)`` (any integer-valued floats) → GF(2^m) elements ``(...,)``."""
        return (bits.astype(np.int64) & 1) @ (1 << np.arange(self.m))

    def syndromes(self, words) -> np.ndarray:
        """``S_j = r(α^j)`` for ``j = 1..2t`` of received words ``(batch, n)``."""
        r = np.asarray(words, dtype=np.float64)
        bits = r @ self._syndrome_matrix
        return self._pack(bits.reshape(r.shape[0], 2 * self.t, self.m))

    def _berlekamp_massey(self, S):
        """Error-locator polynomials (constant term first) and their degrees."""
        batch, two_t = S.shape
        size = two_t + 1
        lam = np.zeros((batch, size), dtype=np.int64)
        lam[:, 0] = 1
        prev = lam.copy()
        degree = np.zeros(batch, dtype=np.int64)
        shift = np.ones(batch, dtype=np.int64)
        b = np.ones(batch, dtype=np.int64)
        cols = np.arange(size)
        rows = np.arange(batch)[:, None]
        for r in range(two_t):
            if r % 2:  # binary code: S_2j = S_j², so every second discrepancy is zero
                shift += 1
                continue
            # discrepancy d = S_r + Σ_{i>=1} Λ_i S_{r−i}
            terms = self._gf_mul(lam[:, 1:r + 1], S[:, r - 1::-1] if r else S[:, :0])
            d = S[:, r] ^ np.bitwise_xor.reduce(terms, axis=1) if r else S[:, r].copy()
            src = cols[None, :] - shift[:, None]
            shifted = np.where(src >= 0, prev[rows, np.clip(src, 0, None)], 0)
            update = lam ^ self._gf_mul(self._gf_div(d, b)[:, None], shifted)
            nonzero = d != 0
            grow = nonzero & (2 * degree <= r)
            prev = np.where(grow[:, None], lam, prev)
            lam = np.where(nonzero[:, None], update, lam)
            degree = np.where(grow, r + 1 - degree, degree)
            b = np.where(grow, d, b)
            shift = np.where(grow, 1, shift + 1)
        return lam[:, :self.t + 1], degree, lam[:, self.t + 1:].any(axis=1)

    def decode(self, words):
        """Correct up to ``t`` bit errors in each received word.

        Parameters
        ----------
        words : array of 0/1, shape ``(n,)`` or ``(batch, n)``

        Returns
        -------
        codewords : ndarray of uint8, same shape
            The corrected words (the input where decoding failed).
        ok : ndarray of bool, shape ``()`` or ``(batch,)``
            False where more errors than the code can correct were detected.
        """
        r = np.asarray(words)
        single = r.ndim == 1
        r = np.atleast_2d(r).astype(np.uint8)
        if r.ndim != 2 or r.shape[1] != self.n:
            raise ValueError(f"words must have {self.n} bits in their last axis, "
                             f"got shape {np.shape(words)}")
        S = self.syndromes(r)
        lam, degree, too_long = self._berlekamp_massey(S)
        # Chien search: position p is in error when Λ(α^{−p}) = 0
        values = self._to_bits(lam).reshape(r.shape[0], -1) @ self._chien_matrix
        errors = ~(values.astype(np.int64) & 1).reshape(r.shape[0], self.n, self.m).any(axis=2)
        ok = (errors.sum(axis=1) == degree) & (degree <= self.t) & ~too_long
        corrected = np.where(ok[:, None], r ^ errors.astype(np.uint8), r)
        if single:
            return corrected[0], ok[0]
        return corrected, ok
