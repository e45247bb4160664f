"""The CuPy fast Walsh–Hadamard transform: a plan of passes and the ``gpu/fwht.cu`` kernels.

A transform of ``2**n`` values runs as a few passes over memory (:func:`fwht_plan`): the
first does the butterflies of the low ``log_shared`` index bits in shared memory (tiles of
contiguous values); each further pass does the next bits in shared memory too, on tiles
of ``2**log_rows`` strided rows of ``2**log_cols`` contiguous values (coalesced loads).
Memory traffic is one read and one write of the data per pass; inside a tile the kernel
(``fwht_tile``) does the stages four bits at a time in registers, with one shared-memory
round trip per four stages.

:func:`emulate_plan` runs the kernels' index arithmetic with NumPy, so the plan and the
tiling that the GPU executes are checked by the CPU test suite; only the launch itself
(:func:`fwht_rows`) needs a GPU.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..backend import cuda_module

__all__ = ["Pass", "fwht_plan", "emulate_plan", "fwht_rows"]

SHARED_BYTES = 32 * 1024  # shared memory per thread block (below the 48 KiB default cap)
COALESCE_BYTES = 128  # one row of a strided tile: a full 128-byte line per warp


class Pass(NamedTuple):
    """Butterflies of the index bits ``[lo, lo + n_bits)``; ``log_cols`` < 0: shared pass."""

    lo: int
    n_bits: int
    log_cols: int


def fwht_plan(n_bits: int, itemsize: int, *, shared_bytes: int = SHARED_BYTES,
              coalesce_bytes: int = COALESCE_BYTES) -> list[Pass]:
    """Passes of a ``2**n_bits``-point transform of ``itemsize``-byte values.

    Examples
    --------
    >>> from sparserec.wht._cuda import fwht_plan
    >>> [tuple(p) for p in fwht_plan(26, 4)]
    [(0, 13, -1), (13, 8, 5), (21, 5, 5)]
    """
    log_shared = int(shared_bytes // itemsize).bit_length() - 1
    log_line = max(0, int(coalesce_bytes // itemsize).bit_length() - 1)
    if log_shared < 1:
        raise ValueError(f"shared_bytes={shared_bytes} holds fewer than 2 values")
    first = min(n_bits, log_shared)
    plan = [Pass(0, first, -1)]
    lo = first
    log_sector = max(0, int(32 // itemsize).bit_length() - 1)  # a 32-byte DRAM sector
    while lo < n_bits:
        # the widest row segments (up to one line) among those finishing in fewest passes
        widest = min(log_line, lo, log_shared - 1)
        log_cols = min(range(min(log_sector, widest), widest + 1),
                       key=lambda c: (-(-(n_bits - lo) // (log_shared - c)), -c))
        step = min(n_bits - lo, log_shared - log_cols)
        plan.append(Pass(lo, step, log_cols))
        lo += step
    return plan


def _butterflies(s, axis: int, n_stages: int):
    """The stages of a shared-memory loop on ``s`` (tiles along axis 0), pair by pair."""
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

    Mirrors ``fwht_shared`` and ``fwht_strided`` of ``gpu/fwht.cu`` tile by tile (all tiles
    at once): the tile bases, the strided addresses and the butterfly pairs.
    """
    total = data.size
    for n, step in enumerate(plan):
        last = n == len(plan) - 1
        if step.log_cols < 0:  # fwht_shared: contiguous tiles of 2**n_bits
            block = 1 << step.n_bits
            base = np.arange(total // block)[:, None] << step.n_bits
            addr = base + np.arange(block)[None, :]
            tile_axis = 1
        else:  # fwht_strided
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


RADIX_BITS = 4  # row bits done per register round of gpu/fwht.cu (16 values per thread)
_NAMES = tuple(f"fwht_tile<{t}, {RADIX_BITS}>" for t in ("float", "double"))


def _pad_shift(log_cols: int) -> int:
    """One padding slot every ``2**shift`` shared values (see ``gpu/fwht.cu``): contiguous
    tiles gather groups 16 apart (a pad every 8 spreads them over the 32 banks); tiles of
    row segments already spread across banks by their columns."""
    return 3 if log_cols == 0 else 5


def fwht_rows(rows, scale: float = 1.0, plan=None, *, shared_bytes: int = SHARED_BYTES):
    """Transform every row of the C-contiguous real CuPy array ``rows`` in place.

    The default tile (32 KiB) was the fastest of ``gpu/bench.py``'s plan sweep on an H200:
    128 KiB tiles save a pass but run at one block per SM and were 1.2-2x slower.
    """
    if rows.dtype not in (np.float32, np.float64) or not rows.flags.c_contiguous:
        raise TypeError("fwht_rows needs a C-contiguous float32 or float64 CuPy array")
    n_bits = rows.shape[-1].bit_length() - 1
    itemsize = rows.dtype.itemsize
    if plan is None:
        plan = fwht_plan(n_bits, itemsize, shared_bytes=shared_bytes)
    ctype = "float" if rows.dtype == np.float32 else "double"
    kernel = cuda_module("fwht.cu", _NAMES).get_function(f"fwht_tile<{ctype}, {RADIX_BITS}>")
    total = rows.size
    flat = rows.reshape(-1)
    aligned = rows.data.ptr % 16 == 0  # 16-byte vector loads need 16-byte alignment
    for n, step in enumerate(plan):
        s = rows.dtype.type(scale if n == len(plan) - 1 else 1.0)
        log_cols = max(step.log_cols, 0)  # the first pass: one contiguous row (lo = 0)
        pad = _pad_shift(log_cols)
        n_values = 1 << (step.n_bits + log_cols)
        # 256 threads (the kernel's launch bound): several blocks per SM overlap one
        # block's loads with another's butterflies
        threads = max(32, min(256, n_values >> RADIX_BITS))
        n_bytes = (n_values + (n_values >> pad)) * itemsize
        if n_bytes > 48 * 1024:
            kernel.max_dynamic_shared_size_bytes = n_bytes
        kernel((total // n_values,), (threads,),
               (flat, np.int32(step.lo), np.int32(step.n_bits), np.int32(log_cols),
                np.int32(pad), np.int32(aligned), s), shared_mem=n_bytes)
    return rows
