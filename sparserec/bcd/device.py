"""Greedy BCD with the data on a device (``backend="cupy"``): where a GPU helps, and where not.

Each BCD iteration (see :mod:`sparserec.bcd.solver`) does three kinds of work:

1. the full gradient ``∇f = −X_cᵀ r / n`` (least squares) or ``A F − B`` (label
   propagation) that greedy rules score every iteration: ``O(n p)`` or ``O(nnz)``, a
   large matrix–vector product — the part a GPU speeds up;
2. the rule's selection, the partition and the block update (a ``b × b`` solve, a
   proximal Newton step, message passing on a tree): work on ``b`` coordinates, a few
   microseconds on the CPU, sequential by nature (each block depends on the previous
   update) and made of many tiny steps — on a GPU, each would cost a kernel launch and
   a synchronisation (~10 µs) and gain nothing;
3. the residual update ``r ← r − X_b d`` (``O(n b)``), cheap either way.

So the losses here keep ``X`` (centred), ``y`` and the residual on the device and run
1 and 3 there, and hand the host the ``p`` gradient values the rule needs, the ``b × b``
Gram blocks and a few scalars; rules, partitions and updates run unchanged on the host.
The GPU pays off when ``n p`` is large (many samples per coordinate) and a greedy rule
asks for the full gradient every iteration; for cyclic or random rules with small blocks,
or sparse ``X``, the CPU (numba) is faster. ``xp`` is NumPy in the CPU tests: the same
classes then reproduce :class:`~sparserec.bcd.losses.SquaredLoss` and
:class:`~sparserec.bcd.losses.QuadraticLoss`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..backend import scipy_namespace, to_host
from .losses import Design, QuadraticLoss, SquaredLoss, _GramCache

__all__ = ["DeviceDesign", "DeviceSquaredLoss", "DeviceQuadraticLoss"]


class DeviceDesign(Design):
    """A dense design matrix on the device of ``xp``: host arrays in, host arrays out."""

    def __init__(self, X, xp, kernels):
        self.xp = xp
        self.sparse = False
        self.X = X
        self.n, self.p = X.shape
        self.intercept = False
        self.k = kernels

    def _cols(self, cols):
        return self.xp.asarray(np.asarray(cols, dtype=np.int64))

    def matvec(self, W):
        return to_host(self.X @ self.xp.asarray(W))

    def rmatvec(self, R):
        return to_host(self.X.T @ self.xp.asarray(R))

    def cols_matvec(self, cols, D):
        return to_host(self.X[:, self._cols(cols)] @ self.xp.asarray(D))

    def cols_rmatvec(self, cols, R):
        return to_host(self.X[:, self._cols(cols)].T @ self.xp.asarray(R))

    def columns(self, cols):
        return to_host(self.X[:, self._cols(cols)])

    def cross_gram(self, rows, cols):
        """``X[:, rows]ᵀ X[:, cols]`` (host)."""
        return to_host(self.X[:, self._cols(rows)].T @ self.X[:, self._cols(cols)])

    def weighted_gram(self, cols, weights):
        Xb = self.X[:, self._cols(cols)]
        return to_host(Xb.T @ (self.xp.asarray(weights)[:, None] * Xb))

    def col_sqnorms(self):
        return to_host((self.X * self.X).sum(axis=0))

    def abs_gram_rowsums(self):
        absX = self.xp.abs(self.X)
        return to_host(absX.T @ absX.sum(axis=1))

    def gram_pattern(self):
        absX = self.xp.abs(self.X)
        return sp.csr_matrix((to_host(absX.T @ absX) != 0).astype(float))


class DeviceSquaredLoss(SquaredLoss):
    """:class:`~sparserec.bcd.losses.SquaredLoss` for dense ``X`` with ``X_c``, ``y_c`` and
    the residual on the device of ``xp`` (float64)."""

    def __init__(self, X, y, fit_intercept, kernels, xp):
        self.k = kernels
        self.xp = xp
        n, p = X.shape
        self.n = n
        X = xp.asarray(X, dtype=xp.float64)
        y = xp.asarray(y, dtype=xp.float64)
        self.y_mean = float(y.mean()) if fit_intercept else 0.0
        self.y_dev = y - self.y_mean
        self.y = to_host(self.y_dev)  # host copy: the duality gap's scale and Rᵀy
        self.design = DeviceDesign(X - X.mean(axis=0) if fit_intercept else X, xp, kernels)
        self.X = self.design.X
        self.x_mean = np.zeros(p)  # already centred
        self.centred_sparse = False
        self.colsum = np.zeros(p)
        self.n_coef, self.n_cols = p, 1
        self.lipschitz = np.maximum(self.design.col_sqnorms(), 0.0) / n
        self._gram_cache = _GramCache(self)

    def _stats(self):
        both = to_host(self.xp.stack([self.r.sum(), self.r @ self.r]))  # one transfer
        self.rsum, self.rsq = float(both[0]), float(both[1])

    def init(self, W):
        self.r = self.y_dev - self.X @ self.xp.asarray(W[:, 0])
        self.s = 0.0
        self._stats()

    def residual(self):
        return to_host(self.r)

    def gradient(self):
        return (-to_host(self.X.T @ self.r) / self.n)[:, None]

    def block_gradient(self, rows):
        return (-self.design.cols_rmatvec(rows, self.r[:, None]) / self.n)

    def apply(self, rows, D):
        d = D[:, 0]
        moved = d != 0
        rows, d = np.asarray(rows, dtype=np.int64)[moved], d[moved]
        self.r -= self.X[:, self.design._cols(rows)] @ self.xp.asarray(d)
        self._stats()

    def line(self, rows, D):
        u = self.X[:, self.design._cols(rows)] @ self.xp.asarray(D[:, 0])
        both = to_host(self.xp.stack([self.r @ u, u @ u]))
        ru, uu = float(both[0]), float(both[1])
        return lambda a: (a * a * uu - 2 * a * ru) / (2 * self.n)

    def hessian_matvec(self, V):
        v = self.xp.asarray(V[:, 0])
        return (to_host(self.X.T @ (self.X @ v)) / self.n)[:, None]


class DeviceQuadraticLoss(QuadraticLoss):
    """:class:`~sparserec.bcd.losses.QuadraticLoss` (label propagation) with ``A``, ``B`` and
    the gradient ``G = A F − B`` on the device of ``xp``.

    The gradient is updated there after each block (``G += A[:, rows] D``, a sparse
    product with the block's columns) and copied to the host when a rule or the stopping
    test reads it; block Hessians, forests and line searches use the host copy of ``A``.
    """

    def __init__(self, A, B, kernels, xp):
        super().__init__(A, B, kernels)
        self.xp = xp
        sparse = scipy_namespace(xp, "sparse")
        self.A_dev = sparse.csr_matrix(self.A) if xp is not np else self.A
        self.B_dev = xp.asarray(self.B)

    def init(self, W):
        self.W = W
        self.G_dev = self.A_dev @ self.xp.asarray(W) - self.B_dev
        self._host = None

    @property
    def G(self):
        if self._host is None:
            self._host = to_host(self.G_dev)
        return self._host

    def apply(self, rows, D):  # A is symmetric: A[:, rows] = A[rows, :]ᵀ
        rows = self.xp.asarray(np.asarray(rows, dtype=np.int64))
        self.G_dev += self.A_dev[rows].T @ self.xp.asarray(D)
        self._host = None
