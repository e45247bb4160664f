"""numba kernels of the Kronecker SBL family (imported only when the numba backend runs).

The AM M-step of :class:`sparserec.KroneckerSBL` repeats cheap ``O(I N)`` passes over the
tensor ``d`` until the factors settle; in NumPy each pass is a chain of small
``tensordot`` calls dominated by call overhead. Here a whole inner loop is one compiled
call, for any number of factors.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _am_loop(d, dims, offsets, g, tol, max_iter):
    """Cyclic factor updates on the flat C-order tensor ``d``; ``g`` holds the factors
    end to end (factor ``i`` at ``g[offsets[i]:offsets[i + 1]]``) and is updated in place."""
    n_factors = dims.size
    size = d.size
    tiny = np.finfo(np.float64).tiny
    idx = np.zeros(n_factors, dtype=np.int64)
    inv = np.empty_like(g)
    old = np.empty_like(g)
    for _ in range(max_iter):
        old[:] = g
        for i in range(n_factors):
            for k in range(g.size):
                inv[k] = 1.0 / max(g[k], tiny)
            acc = np.zeros(dims[i])
            idx[:] = 0
            for n in range(size):
                w = d[n]
                for j in range(n_factors):
                    if j != i:
                        w *= inv[offsets[j] + idx[j]]
                acc[idx[i]] += w
                j = n_factors - 1  # advance the multi-index, last axis fastest
                while j >= 0:
                    idx[j] += 1
                    if idx[j] < dims[j]:
                        break
                    idx[j] = 0
                    j -= 1
            for k in range(dims[i]):
                g[offsets[i] + k] = acc[k] * dims[i] / size
        scale = 1.0  # unit-norm factors 1 … I−1, the scale in the last one
        for i in range(n_factors - 1):
            norm = np.sqrt(np.sum(g[offsets[i]:offsets[i + 1]] ** 2))
            g[offsets[i]:offsets[i + 1]] /= norm
            scale *= norm
        g[offsets[n_factors - 1]:] *= scale
        nn, oo, no = 1.0, 1.0, 1.0  # ‖⊗new − ⊗old‖² / ‖⊗old‖² from factor inner products
        for i in range(n_factors):
            a, b = g[offsets[i]:offsets[i + 1]], old[offsets[i]:offsets[i + 1]]
            nn *= np.sum(a * a)
            oo *= np.sum(b * b)
            no *= np.sum(a * b)
        if np.sqrt(max(nn + oo - 2.0 * no, 0.0) / oo) < tol:
            break


def am_step(D, gammas, tol: float, max_iter: int):
    """The AM M-step of :func:`sparserec.sbl.kronecker._am_step` (uncoupled factors)."""
    dims = np.array(D.shape, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(dims)]).astype(np.int64)
    g = np.concatenate(gammas).astype(np.float64)
    _am_loop(np.ascontiguousarray(D, dtype=np.float64).ravel(), dims, offsets, g,
             float(tol), int(max_iter))
    return [g[offsets[i]:offsets[i + 1]].copy() for i in range(dims.size)]
