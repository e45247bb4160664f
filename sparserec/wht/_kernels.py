"""Numba kernels of the Walsh–Hadamard family: the in-place fast WHT and output orderings.

Imported lazily (only when ``backend="numba"`` runs), so ``import sparserec`` stays light.

The dense transform of length ``N = 2**n`` works on a C-contiguous ``(batch, N)`` array:

* ``N <= 2**_CACHE_BITS``: each row is transformed in cache (:func:`_wht_row`): an unrolled
  8-point butterfly on every 8 contiguous values (stages 1, 2, 4), then radix-8/radix-4
  sweeps (three or two stages per sweep, the inner loop over contiguous views so that LLVM
  vectorises it); rows in parallel when there is enough work.
* larger ``N``: the row is viewed as an ``R × L`` matrix (``L <= 2**_CACHE_BITS``), since
  ``H_N = H_R ⊗ H_L``: first every length-``L`` row in cache (parallel over rows), then
  every column of length ``R``, in tiles of ``2**_TILE_BITS`` adjacent columns copied into
  a contiguous buffer (runs of whole cache lines, few pages per tile; parallel over
  tiles). Two sweeps over memory in all.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads, njit, prange

from ..utils.threads import configure_numba_threading, numba_threads

configure_numba_threading()  # a fork-safe threading layer before any parallel kernel runs

_CACHE_BITS = 15  # rows of up to 2**15 values (256 KiB of float64) are done in L2 cache
_TILE_BITS = 6  # the column pass moves runs of 64 adjacent values (8 cache lines of float64)
_PARALLEL_BITS = 21  # below 2**21 values in all, threads cost more than they save


@njit(cache=True, inline="always")
def _radix8_sweep(a, off, length, step):
    """Stages ``h``, ``2h`` and ``4h`` (``step = h × width``) over ``a[off : off + length]``."""
    for i in range(off, off + length, 8 * step):
        a0 = a[i:i + step]
        a1 = a[i + step:i + 2 * step]
        a2 = a[i + 2 * step:i + 3 * step]
        a3 = a[i + 3 * step:i + 4 * step]
        a4 = a[i + 4 * step:i + 5 * step]
        a5 = a[i + 5 * step:i + 6 * step]
        a6 = a[i + 6 * step:i + 7 * step]
        a7 = a[i + 7 * step:i + 8 * step]
        for j in range(step):
            y0 = a0[j] + a1[j]
            y1 = a0[j] - a1[j]
            y2 = a2[j] + a3[j]
            y3 = a2[j] - a3[j]
            y4 = a4[j] + a5[j]
            y5 = a4[j] - a5[j]
            y6 = a6[j] + a7[j]
            y7 = a6[j] - a7[j]
            z0 = y0 + y2
            z1 = y1 + y3
            z2 = y0 - y2
            z3 = y1 - y3
            z4 = y4 + y6
            z5 = y5 + y7
            z6 = y4 - y6
            z7 = y5 - y7
            a0[j] = z0 + z4
            a1[j] = z1 + z5
            a2[j] = z2 + z6
            a3[j] = z3 + z7
            a4[j] = z0 - z4
            a5[j] = z1 - z5
            a6[j] = z2 - z6
            a7[j] = z3 - z7


@njit(cache=True, inline="always")
def _radix4_sweep(a, off, length, step):
    """Stages ``h`` and ``2h`` (``step = h × width``) over ``a[off : off + length]``.

    The four quarter-blocks are taken as views so that LLVM sees independent contiguous
    streams and vectorises the inner loop.
    """
    for i in range(off, off + length, 4 * step):
        a0 = a[i:i + step]
        a1 = a[i + step:i + 2 * step]
        a2 = a[i + 2 * step:i + 3 * step]
        a3 = a[i + 3 * step:i + 4 * step]
        for j in range(step):
            s01 = a0[j] + a1[j]
            d01 = a0[j] - a1[j]
            s23 = a2[j] + a3[j]
            d23 = a2[j] - a3[j]
            a0[j] = s01 + s23
            a1[j] = d01 + d23
            a2[j] = s01 - s23
            a3[j] = d01 - d23


@njit(cache=True, inline="always")
def _radix2_sweep(a, off, length, step):
    """Stage ``h`` (``step = h × width``) over ``a[off : off + length]``."""
    for i in range(off, off + length, 2 * step):
        a0 = a[i:i + step]
        a1 = a[i + step:i + 2 * step]
        for j in range(step):
            x0 = a0[j]
            a0[j] = x0 + a1[j]
            a1[j] = x0 - a1[j]


@njit(cache=True)
def _wht_columns(a, off, length, width, first):
    """WHT of length ``length`` along the rows of ``a[off : off + length*width]``.

    Element ``(r, w)`` of the block is ``a[off + r*width + w]``; each of the ``width``
    columns is transformed. ``first`` is the first stage still to do (1 = all of them).
    Radix-8 sweeps where the contiguous runs are long (fewer loads and stores per
    stage), radix-4 otherwise, one radix-2 sweep if a single stage is left.
    """
    h = first
    while 8 * h <= length and h * width >= 64 and 16 * h != length:
        _radix8_sweep(a, off, length * width, h * width)
        h *= 8
    while 4 * h <= length:
        _radix4_sweep(a, off, length * width, h * width)
        h *= 4
    if h < length:
        _radix2_sweep(a, off, length * width, h * width)


@njit(cache=True)
def _wht_row(a, off, length):
    """In-place unnormalised WHT of the contiguous ``a[off : off + length]``."""
    if length < 8:
        _wht_columns(a, off, length, 1, 1)
        return
    for i in range(off, off + length, 8):  # stages 1, 2, 4 unrolled
        y0 = a[i] + a[i + 1]
        y1 = a[i] - a[i + 1]
        y2 = a[i + 2] + a[i + 3]
        y3 = a[i + 2] - a[i + 3]
        y4 = a[i + 4] + a[i + 5]
        y5 = a[i + 4] - a[i + 5]
        y6 = a[i + 6] + a[i + 7]
        y7 = a[i + 6] - a[i + 7]
        z0 = y0 + y2
        z1 = y1 + y3
        z2 = y0 - y2
        z3 = y1 - y3
        z4 = y4 + y6
        z5 = y5 + y7
        z6 = y4 - y6
        z7 = y5 - y7
        a[i] = z0 + z4
        a[i + 1] = z1 + z5
        a[i + 2] = z2 + z6
        a[i + 3] = z3 + z7
        a[i + 4] = z0 - z4
        a[i + 5] = z1 - z5
        a[i + 6] = z2 - z6
        a[i + 7] = z3 - z7
    _wht_columns(a, off, length, 1, 8)


@njit(cache=True, inline="always")
def _scale(a, off, length, scale):
    if scale != 1.0:
        for i in range(off, off + length):
            a[i] *= scale


@njit(cache=True)
def _rows_serial(flat, n_rows, length, scale):
    for r in range(n_rows):
        _wht_row(flat, r * length, length)
        _scale(flat, r * length, length, scale)


@njit(cache=True, parallel=True)
def _rows_parallel(flat, n_rows, length, scale):
    for r in prange(n_rows):
        _wht_row(flat, r * length, length)
        _scale(flat, r * length, length, scale)


@njit(cache=True, parallel=True)
def _two_pass(flat, off, n_rows, row_len, tile, n_chunks, scale):
    """WHT of ``flat[off : off + n_rows*row_len]``: rows in cache, then tiled columns.

    Each thread owns one buffer of ``n_rows × tile`` values and a contiguous range of
    tiles; the copies are explicit loops (numba's slice assignment checks for overlap and
    may copy through a temporary).
    """
    for r in prange(n_rows):
        _wht_row(flat, off + r * row_len, row_len)
    n_tiles = row_len // tile
    for c in prange(n_chunks):
        buf = np.empty(n_rows * tile, dtype=flat.dtype)
        for t in range(c * n_tiles // n_chunks, (c + 1) * n_tiles // n_chunks):
            col = off + t * tile
            for r in range(n_rows):
                src = flat[col + r * row_len:col + r * row_len + tile]
                dst = buf[r * tile:(r + 1) * tile]
                for w in range(tile):
                    dst[w] = src[w]
            _wht_columns(buf, 0, n_rows, tile, 1)
            for r in range(n_rows):
                dst = flat[col + r * row_len:col + r * row_len + tile]
                src = buf[r * tile:(r + 1) * tile]
                for w in range(tile):
                    dst[w] = src[w] * scale


def fwht_inplace(x2d, scale):
    """In-place WHT along the last axis of a C-contiguous 2-D array, times ``scale``.

    Threads are used from ``2**_PARALLEL_BITS`` values on: below, a parallel region costs
    more than it saves, and on a busy machine a thread waiting for a core stalls the
    whole region.
    """
    n_rows, length = x2d.shape
    flat = x2d.reshape(-1)
    n_bits = length.bit_length() - 1
    threads = get_num_threads() if flat.size >= 1 << _PARALLEL_BITS else 1
    if n_bits <= _CACHE_BITS:
        (_rows_parallel if threads > 1 else _rows_serial)(flat, n_rows, length, scale)
        return
    row_len = 1 << min(_CACHE_BITS, n_bits - _TILE_BITS)
    tile = 1 << _TILE_BITS
    with numba_threads(threads):  # thread-local: this caller's parallel regions only
        for b in range(n_rows):
            _two_pass(flat, b * length, length // row_len, row_len, tile,
                      min(threads, row_len // tile), scale)


@njit(cache=True)
def _natural_index(s, n_bits, sequency):
    """Natural (Sylvester) row of the ``s``-th sequency (Walsh) or dyadic (Paley) row."""
    p = s ^ (s >> 1) if sequency else s  # Gray code: sequency order -> Paley order
    r = 0
    for _ in range(n_bits):  # bit reversal: Paley order -> natural order
        r = (r << 1) | (p & 1)
        p >>= 1
    return r


@njit(cache=True, parallel=True)
def reorder(src, dst, n_bits, sequency):
    """``dst[b, s] = src[b, natural_index(s)]`` for 2-D C-contiguous arrays."""
    n_rows, length = src.shape
    for i in prange(n_rows * length):
        b = i // length
        s = i - b * length
        dst[b, s] = src[b, _natural_index(s, n_bits, sequency)]
