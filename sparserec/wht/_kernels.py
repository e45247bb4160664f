"""Numba kernels of the Walsh–Hadamard family: the in-place fast WHT and output orderings.

Imported lazily (only when ``backend="numba"`` runs), so ``import sparserec`` stays light.

The dense transform of length ``N = 2**n`` works on a C-contiguous ``(batch, N)`` array
(``H_N = H_R ⊗ H_L``: the row is an ``R × L`` matrix whose rows and then columns are
transformed):

* stages within ``L1`` (``2**_L1_BITS`` values, 32 KiB of float64): an unrolled 8-point
  butterfly on every 8 contiguous values (stages 1, 2, 4), then radix-8 sweeps whose inner
  loops run over contiguous views (LLVM vectorises them), on one L1-sized block at a time;
* rows of up to ``L = 2**_CACHE_BITS`` values (256 KiB, in L2): the L1 blocks, then the
  remaining stages in one radix-8 (or radix-4/2) sweep over the row while it is in L2;
* longer transforms: the ``R`` rows of length ``L`` as above (one sweep over memory), then
  the stages across rows as in-place radix-8 sweeps (radix-4/2 for the last one), each one
  sweep over memory reading eight rows as contiguous streams. The butterfly groups of a
  range of ``_CHUNK`` adjacent columns are independent of the other columns through all
  these stages, so the threads take column ranges (16 of them per transform of
  ``2**24``), each doing every cross-row stage on its range: no barrier between the
  stages, one between the rows and the columns. The normalisation is folded into the
  last sweep. For ``N = 2**24`` this is four sweeps over memory, each in place (a read and
  a write of every value, no read-for-ownership of a second array), against the three
  transfers of a copy.

Threads: from ``2**_PARALLEL_BITS`` values in all, the parallel twins run with numba's
thread count (:func:`numba.get_num_threads`); below that, the serial twins (a parallel
region costs more than it saves, and on a busy machine it waits for its slowest thread).
The parallel loops hand out their iterations dynamically (one long row or column range,
or enough short rows for ``2**_CACHE_BITS`` values, at a time), so a thread that loses its
core delays only its current item.
"""

from __future__ import annotations

import numba
from numba import get_num_threads, njit, prange

from ..utils.threads import configure_numba_threading

configure_numba_threading()  # a fork-safe threading layer before any parallel kernel runs

_L1_BITS = 12  # 2**12 float64 = 32 KiB: the first 12 stages in L1 (48 KiB here)
_CACHE_BITS = 15  # rows of up to 2**15 values (256 KiB of float64) are done in L2 cache
_CHUNK_BITS = 11  # cross-row stages on ranges of 2**11 adjacent columns (16 KiB per row)
_PARALLEL_BITS = 21  # below 2**21 values in all, threads cost more than they save


@njit(cache=True, inline="always")
def _butterfly8(a0, a1, a2, a3, a4, a5, a6, a7, width, scale):
    """The 8-point WHT across eight views of ``width`` values (three stages), times ``scale``."""
    for j in range(width):
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
    if scale != 1.0:  # the last sweep only: a second pass over the views, in cache
        for j in range(width):
            a0[j] *= scale
            a1[j] *= scale
            a2[j] *= scale
            a3[j] *= scale
            a4[j] *= scale
            a5[j] *= scale
            a6[j] *= scale
            a7[j] *= scale


@njit(cache=True, inline="always")
def _butterfly4(a0, a1, a2, a3, width, scale):
    """The 4-point WHT across four views of ``width`` values (two stages), times ``scale``."""
    for j in range(width):
        s01 = a0[j] + a1[j]
        d01 = a0[j] - a1[j]
        s23 = a2[j] + a3[j]
        d23 = a2[j] - a3[j]
        a0[j] = s01 + s23
        a1[j] = d01 + d23
        a2[j] = s01 - s23
        a3[j] = d01 - d23
    if scale != 1.0:
        for j in range(width):
            a0[j] *= scale
            a1[j] *= scale
            a2[j] *= scale
            a3[j] *= scale


@njit(cache=True, inline="always")
def _butterfly2(a0, a1, width, scale):
    """The 2-point WHT across two views of ``width`` values (one stage), times ``scale``."""
    for j in range(width):
        x0 = a0[j]
        a0[j] = x0 + a1[j]
        a1[j] = x0 - a1[j]
    if scale != 1.0:
        for j in range(width):
            a0[j] *= scale
            a1[j] *= scale


@njit(cache=True, inline="always")
def _sweep(a, off, n_rows, row_len, h, radix, w0, w1, scale):
    """Stages ``h`` … ``h·radix/2`` across the rows of ``a[off : off + n_rows*row_len]``.

    Element ``(r, w)`` of the block is ``a[off + r*row_len + w]``; only the columns
    ``w0 <= w < w1`` are touched. Each butterfly group reads ``radix`` rows ``h`` apart as
    contiguous views of ``w1 − w0`` values (of ``h`` whole rows, ``h × row_len`` values,
    when the range is the whole width).
    """
    step = h * row_len
    width = w1 - w0
    rows = h
    if width == row_len:  # whole rows: the h rows of a view are one contiguous run
        width, rows = step, 1
    for g in range(0, n_rows, radix * h):
        for q in range(rows):
            i = off + (g + q) * row_len + w0
            if radix == 8:
                _butterfly8(a[i:i + width], a[i + step:i + step + width],
                            a[i + 2 * step:i + 2 * step + width],
                            a[i + 3 * step:i + 3 * step + width],
                            a[i + 4 * step:i + 4 * step + width],
                            a[i + 5 * step:i + 5 * step + width],
                            a[i + 6 * step:i + 6 * step + width],
                            a[i + 7 * step:i + 7 * step + width], width, scale)
            elif radix == 4:
                _butterfly4(a[i:i + width], a[i + step:i + step + width],
                            a[i + 2 * step:i + 2 * step + width],
                            a[i + 3 * step:i + 3 * step + width], width, scale)
            else:
                _butterfly2(a[i:i + width], a[i + step:i + step + width], width, scale)


@njit(cache=True)
def _wht_columns(a, off, n_rows, row_len, first, w0, w1, scale):
    """WHT of length ``n_rows`` down the columns ``w0 <= w < w1`` of the block at ``off``.

    ``first`` is the first stage still to do (1 = all of them). Radix-8 sweeps (fewest
    passes over the data) where the contiguous runs are long enough (64 values) for eight
    streams to pay, radix-4 otherwise and for the last 16 rows (rather than radix-8 and
    radix-2), radix-2 for a single stage left; ``scale`` is applied by the last sweep.
    """
    h = first
    whole = w1 - w0 == row_len
    while h < n_rows:
        run = h * row_len if whole else w1 - w0  # contiguous values per stream
        if 8 * h <= n_rows and run >= 64 and 16 * h != n_rows:
            radix = 8
        else:
            radix = 4 if 4 * h <= n_rows else 2
        _sweep(a, off, n_rows, row_len, h, radix, w0, w1,
               scale if h * radix >= n_rows else 1.0)
        h *= radix


@njit(cache=True, inline="always")
def _wht_block(a, off, length):
    """In-place unnormalised WHT of the contiguous ``a[off : off + length]`` (L1-sized)."""
    if length < 8:
        _wht_columns(a, off, length, 1, 1, 0, 1, 1.0)
        return
    for i in range(off, off + length, 8):  # stages 1, 2, 4 in registers
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
    _wht_columns(a, off, length, 1, 8, 0, 1, 1.0)


@njit(cache=True)
def _wht_row(a, off, length, scale):
    """In-place WHT of the contiguous ``a[off : off + length]`` (in cache), times ``scale``.

    L1-sized blocks first, then the stages across blocks in sweeps over the row.
    """
    block = 1 << _L1_BITS
    if length <= block:
        _wht_block(a, off, length)
        if scale != 1.0:
            for i in range(off, off + length):
                a[i] *= scale
        return
    for start in range(off, off + length, block):
        _wht_block(a, start, block)
    _wht_columns(a, off, length // block, block, 1, 0, block, scale)


def _rows(flat, n_rows, length, scale):
    """Every row of length ``length <= 2**_CACHE_BITS`` in cache (rows in parallel)."""
    for r in prange(n_rows):
        _wht_row(flat, r * length, length, scale)


def _rows_then_columns(flat, off, n_rows, row_len, chunk, scale):
    """WHT of ``flat[off : off + n_rows*row_len]`` as an ``n_rows × row_len`` matrix.

    The rows in cache, then the stages across rows in place, by ranges of ``chunk``
    adjacent columns (independent of each other through all those stages).
    """
    for r in prange(n_rows):
        _wht_row(flat, off + r * row_len, row_len, 1.0)
    for c in prange(row_len // chunk):
        _wht_columns(flat, off, n_rows, row_len, 1, c * chunk, (c + 1) * chunk, scale)


# one Python body each, compiled serial and parallel (prange runs as range in the former)
_rows_serial = njit(cache=True)(_rows)
_rows_parallel = njit(cache=True, parallel=True)(_rows)
_two_pass_serial = njit(cache=True)(_rows_then_columns)
_two_pass_parallel = njit(cache=True, parallel=True)(_rows_then_columns)


def fwht_inplace(x2d, scale):
    """In-place WHT along the last axis of a C-contiguous 2-D array, times ``scale``.

    Threads (numba's count) are used from ``2**_PARALLEL_BITS`` values on, with the loop
    iterations handed out one at a time (dynamic scheduling).
    """
    n_rows, length = x2d.shape
    flat = x2d.reshape(-1)
    n_bits = length.bit_length() - 1
    parallel = get_num_threads() > 1 and flat.size >= 1 << _PARALLEL_BITS
    # dynamic scheduling, in items of at least 2**_CACHE_BITS values (short rows grouped)
    items = max(1, (1 << _CACHE_BITS) // length)
    previous = numba.set_parallel_chunksize(items) if parallel else None
    try:
        if n_bits <= _CACHE_BITS:
            (_rows_parallel if parallel else _rows_serial)(flat, n_rows, length, scale)
            return
        if parallel:
            numba.set_parallel_chunksize(1)  # one column range or one long row at a time
        row_len = 1 << _CACHE_BITS
        chunk = 1 << _CHUNK_BITS
        kernel = _two_pass_parallel if parallel else _two_pass_serial
        for b in range(n_rows):
            kernel(flat, b * length, length // row_len, row_len, chunk, scale)
    finally:
        if parallel:
            numba.set_parallel_chunksize(previous)


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
