"""The CuPy fast Walsh–Hadamard transform: a plan of passes and the ``gpu/fwht.cu`` kernel.

A transform of ``2**n`` values runs as a few passes over memory (:func:`fwht_plan`), each
one read and one write of the data: the first does the low index bits on contiguous
tiles of 32 KiB; each further pass does the next bits on tiles of strided rows of
contiguous values (runs of at least one 32-byte DRAM sector). Inside a tile the kernel
(``fwht_pass``) keeps every value in registers: butterflies in registers and by warp
shuffles, with one transposition through shared memory (see ``gpu/fwht.cu``).

:func:`emulate_plan` runs the kernel's tile addressing with NumPy, so the plan and the
tiling that the GPU executes are checked by the CPU test suite; only the launch itself
(:func:`fwht_rows`) needs a GPU.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..backend import cuda_module
from ..operators import fwht_reference

__all__ = ["Pass", "fwht_plan", "emulate_plan", "fwht_rows"]

TILE_BYTES = 32 * 1024  # gpu/fwht.cu: 256 threads x 8 registers of 16-byte vectors
VECTOR_BYTES = 16
SECTOR_BYTES = 32  # a DRAM sector: the shortest run worth reading


def _log2(n: int) -> int:
    return int(n).bit_length() - 1


class Pass(NamedTuple):
    """Butterflies of the index bits ``[lo, lo + n_bits)``; ``log_cols`` < 0: the first pass."""

    lo: int
    n_bits: int
    log_cols: int


def fwht_plan(n_bits: int, itemsize: int, *, run_bytes: int = SECTOR_BYTES) -> list[Pass]:
    """Passes of a ``2**n_bits``-point transform of ``itemsize``-byte values.

    Every pass after the first moves whole tiles of ``2**log_tile`` values (``TILE_BYTES``)
    made of rows of at least ``run_bytes`` contiguous bytes; the remaining bits are
    spread evenly over the fewest such passes (so the rows come out wider than the
    minimum).

    Examples
    --------
    >>> from sparserec.wht._cuda import fwht_plan
    >>> [tuple(p) for p in fwht_plan(26, 4)]
    [(0, 13, -1), (13, 7, 6), (20, 6, 7)]
    """
    log_tile = _log2(TILE_BYTES // itemsize)
    log_run = max(_log2(VECTOR_BYTES // itemsize), _log2(max(run_bytes, 1) // itemsize))
    if log_run >= log_tile:
        raise ValueError(f"run_bytes={run_bytes} must be below the tile ({TILE_BYTES} bytes)")
    first = min(n_bits, log_tile)
    plan = [Pass(0, first, -1)]
    rest = n_bits - first
    if rest:
        n_pass = -(-rest // (log_tile - log_run))
        lo = first
        for i in range(n_pass):
            step = rest // n_pass + (i < rest % n_pass)
            plan.append(Pass(lo, step, log_tile - step))
            lo += step
    return plan


def _butterflies(s, axis: int, n_stages: int):
    """The butterfly stages of ``s`` (tiles along axis 0), pair by pair."""
    half = 1 << (n_stages - 1) if n_stages else 0
    p = np.arange(half)
    for st in range(n_stages):
        h = 1 << st
        i = ((p >> st) << (st + 1)) | (p & (h - 1))
        a = np.take(s, i, axis=axis)
        b = np.take(s, i + h, axis=axis)
        idx = [slice(None)] * s.ndim
        idx[axis] = i
        s[tuple(idx)] = a + b
        idx[axis] = i + h
        s[tuple(idx)] = a - b


def emulate_plan(data: np.ndarray, plan, scale: float = 1.0) -> np.ndarray:
    """Run ``plan`` on the flat array ``data`` (in place) with the kernels' index arithmetic.

    Mirrors the tiles of ``fwht_pass`` in ``gpu/fwht.cu`` (all tiles at once): the tile
    bases, the strided addresses and the butterfly pairs.
    """
    total = data.size
    for n, step in enumerate(plan):
        last = n == len(plan) - 1
        if step.log_cols < 0:  # contiguous tiles of 2**n_bits
            block = 1 << step.n_bits
            base = np.arange(total // block)[:, None] << step.n_bits
            addr = base + np.arange(block)[None, :]
            tile_axis = 1
        else:  # strided rows
            cols, rows = 1 << step.log_cols, 1 << step.n_bits
            stride = 1 << step.lo
            low_tiles = stride >> step.log_cols
            tile = np.arange(total // (rows * cols))
            hi, lb = tile // low_tiles, tile % low_tiles
            base = (hi << (step.lo + step.n_bits)) + (lb << step.log_cols)
            k, j = np.arange(rows), np.arange(cols)
            addr = base[:, None, None] + k[None, :, None] * stride + j[None, None, :]
            tile_axis = 1
        s = data[addr]
        _butterflies(s, tile_axis, step.n_bits)
        data[addr] = s * scale if last else s
    return data


_NAMES = ("fwht_pass<float>", "fwht_pass<double>")


def fwht_rows(rows, scale: float = 1.0, plan=None, *, run_bytes: int = SECTOR_BYTES):
    """Transform every row of the C-contiguous real CuPy array ``rows`` in place."""
    if rows.dtype not in (np.float32, np.float64) or not rows.flags.c_contiguous:
        raise TypeError("fwht_rows needs a C-contiguous float32 or float64 CuPy array")
    itemsize = rows.dtype.itemsize
    n_bits = _log2(rows.shape[-1])
    if rows.size == 0:
        return rows
    if n_bits < _log2(VECTOR_BYTES // itemsize):  # rows shorter than one vector
        rows[...] = fwht_reference(rows) * rows.dtype.type(scale)
        return rows
    if rows.data.ptr % VECTOR_BYTES:  # a view off the vector alignment: work on a copy
        work = rows.copy()
        fwht_rows(work, scale, plan, run_bytes=run_bytes)
        rows[...] = work
        return rows
    if plan is None:
        plan = fwht_plan(n_bits, itemsize, run_bytes=run_bytes)
    ctype = "float" if rows.dtype == np.float32 else "double"
    kernel = cuda_module("fwht.cu", _NAMES).get_function(f"fwht_pass<{ctype}>")
    log_tile = _log2(TILE_BYTES // itemsize)
    total = rows.size
    flat = rows.reshape(-1)
    grid = (-(-total >> log_tile),)
    for n, step in enumerate(plan):
        s = rows.dtype.type(scale if n == len(plan) - 1 else 1.0)
        if step.log_cols < 0:  # contiguous tiles; whole rows when the rows are shorter
            lo = lc = log_tile
            blo, bhi = 0, step.n_bits
        else:
            lo, lc = step.lo, step.log_cols
            blo, bhi = lc, lc + step.n_bits
            if bhi != log_tile:
                raise ValueError(f"pass {step} does not fill a tile of 2**{log_tile} values")
        kernel(grid, (256,), (flat, np.int64(total), np.int32(lo), np.int32(lc),
                              np.int32(blo), np.int32(bhi), s))
    return rows
