"""Smooth losses and separable penalties that block coordinate descent minimises.

The problem is ``F(W) = f(W) + Σ_j pen_j(W_j)`` with ``W`` of shape ``(p, m)``: a
*coordinate* is a row ``W_j`` (``m = 1`` for regression and binary logistic; ``m`` = number
of classes for multinomial logistic and label propagation). A loss keeps the state it needs
(residual, linear predictor, or gradient) and updates it in O(nnz of the touched columns)
when a block changes. Every loss offers the same small interface used by the selection
rules (:mod:`.rules`), partitions (:mod:`.blocks`) and updates (:mod:`.updates`):

``gradient()`` (full, one pass over the data), ``block_gradient(b)``, ``lipschitz``
(coordinate constants ``L_j``), ``diag_majorant`` (``d_j`` with ``∇²f ≼ diag(d)``, for GSD),
``block_bound(b)`` (a block Hessian upper bound, the *matrix* update) and
``block_hessian(b)`` (the *Newton* update), ``line(b, D)`` (the change of ``f`` along a
block direction, computed without cancellation, for line searches), ``apply(b, D)`` and ``value()``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, logsumexp, softmax, xlogy


# --------------------------------------------------------------------------- penalty
class Penalty:
    """``pen_j(v) = l1_j ‖v‖₁ + ½ l2_j ‖v‖²`` per row (``l1``, ``l2`` of shape (p,)).

    Rows with zero weights (an intercept) are unpenalised. Methods take the rows ``W``
    and ``G`` of the coordinates ``rows`` (all of them by default).
    """

    def __init__(self, l1, l2):
        self.l1 = np.asarray(l1, dtype=float)
        self.l2 = np.asarray(l2, dtype=float)
        self.smooth = not np.any(self.l1 > 0)

    def _w(self, rows):
        return self.l1[rows, None], self.l2[rows, None]

    def value(self, W, rows=slice(None)):
        l1, l2 = self._w(rows)
        return float(np.sum(l1 * np.abs(W) + 0.5 * l2 * W * W))

    def prox(self, W, G, L, rows=slice(None)):
        """``argmin_V ⟨G, V − W⟩ + (L/2)‖V − W‖² + pen(V)`` (``L`` scalar or per row)."""
        l1, l2 = self._w(rows)
        Z = _col(L) * W - G
        return np.sign(Z) * np.maximum(np.abs(Z) - l1, 0.0) / (_col(L) + l2)

    def subgradient(self, W, G, rows=slice(None)):
        """The minimum-norm element of ``G + ∂pen(W)``."""
        l1, l2 = self._w(rows)
        out = G + l2 * W
        return np.where(W != 0, out + l1 * np.sign(W),
                        np.sign(out) * np.maximum(np.abs(out) - l1, 0.0))

    def model_decrease(self, W, G, L, rows=slice(None)):
        """Decrease of the separable proximal model with curvature ``L`` (GS-q), per row."""
        D = self.prox(W, G, L, rows) - W
        l1, l2 = self._w(rows)
        V = W + D
        change = l1 * (np.abs(V) - np.abs(W)) + 0.5 * l2 * (V * V - W * W)
        return -(G * D + 0.5 * _col(L) * D * D + change).sum(axis=1)


def _col(L):
    L = np.asarray(L, dtype=float)
    return L.reshape(-1, 1) if L.ndim else L


# --------------------------------------------------------------------------- design
class Design:
    """A dense (either memory order) or CSC design matrix, with an optional implicit column
    of ones appended (index ``p``, the intercept)."""

    def __init__(self, X, intercept: bool, kernels):
        self.sparse = sp.issparse(X)
        self.X = sp.csc_matrix(X, dtype=float) if self.sparse else np.asarray(X, dtype=float)
        if self.sparse:
            self.X.sum_duplicates()
            self.Xt = self.X.T.tocsr()  # the same arrays read row-wise: fast full gradients
        self.n, self.p = X.shape
        self.intercept = intercept
        self.k = kernels

    @property
    def n_coef(self):
        return self.p + int(self.intercept)

    def _split(self, cols):
        cols = np.asarray(cols, dtype=np.int64)
        if not self.intercept:
            return cols, False
        return cols[cols < self.p], bool(np.any(cols == self.p))

    def matvec(self, W):
        out = self.X @ W[: self.p]
        return out + W[self.p] if self.intercept else out

    def rmatvec(self, R):
        top = self.Xt @ R if self.sparse else self.X.T @ R
        return np.vstack([top, R.sum(axis=0, keepdims=True)]) if self.intercept else top

    def cols_matvec(self, cols, D):
        """``X[:, cols] @ D`` as an (n, m) array."""
        cols = np.asarray(cols, dtype=np.int64)
        if self.sparse:
            out = np.zeros((self.n, D.shape[1]))
            self.k.csc_cols_matvec(self.X.indptr, self.X.indices, self.X.data, self.p,
                                   cols, np.ascontiguousarray(D), out)
            return out
        real = cols < self.p
        out = self.X[:, cols[real]] @ D[real]
        if not real.all():
            out += D[~real].sum(axis=0)
        return out

    def cols_rmatvec(self, cols, R):
        """``X[:, cols].T @ R``: cost O(nnz of the columns)."""
        cols = np.asarray(cols, dtype=np.int64)
        if self.sparse:
            out = np.empty((cols.size, R.shape[1]))
            self.k.csc_cols_rmatvec(self.X.indptr, self.X.indices, self.X.data, self.p,
                                    cols, np.ascontiguousarray(R), out)
            return out
        out = np.empty((cols.size, R.shape[1]))
        real = cols < self.p
        out[real] = self.X[:, cols[real]].T @ R
        out[~real] = R.sum(axis=0)
        return out

    def columns(self, cols):
        """``X[:, cols]`` as a dense (n, len(cols)) array (ones for the intercept)."""
        cols = np.asarray(cols, dtype=np.int64)
        real = cols < self.p
        out = np.ones((self.n, cols.size))
        sub = self.X[:, cols[real]]
        out[:, real] = sub.toarray() if self.sparse else sub
        return out

    def cross_gram(self, rows, cols):
        """``X[:, rows]ᵀ X[:, cols]`` (dense ``X``)."""
        return self.X[:, rows].T @ self.X[:, cols]

    def weighted_gram(self, cols, weights):
        """``X_bᵀ diag(weights) X_b``."""
        cols = np.asarray(cols, dtype=np.int64)
        if self.sparse and not (self.intercept and np.any(cols == self.p)):
            sub = self.X[:, cols]
            return (sub.T @ sp.diags(weights) @ sub).toarray()
        Xb = self.columns(cols)
        return Xb.T @ (weights[:, None] * Xb)

    def col_sqnorms(self):
        if self.sparse:
            X = self.X
            sq = np.zeros(self.p)
            nnz_cols = np.flatnonzero(np.diff(X.indptr))
            sq[nnz_cols] = np.add.reduceat(X.data**2, X.indptr[nnz_cols])
        else:
            sq = np.einsum("ij,ij->j", self.X, self.X)
        return np.append(sq, self.n) if self.intercept else sq

    def abs_gram_rowsums(self):
        """``|X|ᵀ |X| 1``: an upper bound of the row sums of ``|XᵀX|`` (Gershgorin)."""
        absX = abs(self.X)
        s = np.asarray(absX.sum(axis=1)).ravel() + (1.0 if self.intercept else 0.0)
        top = np.asarray(absX.T @ s).ravel()
        return np.append(top, s.sum()) if self.intercept else top

    def gram_pattern(self):
        """Sparsity pattern of ``XᵀX`` (the dependency graph of the coordinates)."""
        Xs = sp.csc_matrix(self.X)
        if self.intercept:
            Xs = sp.hstack([Xs, np.ones((self.n, 1))], format="csc")
        G = (abs(Xs).T @ abs(Xs)).tocsr()
        G.data[:] = 1.0
        return G


# --------------------------------------------------------------------------- losses
class _Loss:
    """Shared parts; subclasses set ``n_coef``, ``n_cols``, ``lipschitz``, ``is_quadratic``."""

    is_quadratic = False

    def kkt_norm(self, E):
        """Size of the optimality violation ``E`` when there is no duality gap."""
        return float(np.abs(E).max(initial=0.0))

    def kkt_scale(self):
        """Absolute scale of :meth:`kkt_norm` (``None``: relative to the start)."""
        return None

    def block_lipschitz(self, rows):
        """``λ_max`` of the block bound (dense eigvalsh up to 256 rows, Gershgorin above)."""
        M = self.block_bound(rows)
        if sp.issparse(M):
            return float(abs(M).sum(axis=1).max())
        if M.shape[0] > 256:
            return float(np.abs(M).sum(axis=1).max())
        return float(np.linalg.eigvalsh(M)[-1])

    def block_hessian_sparse(self, rows):
        return sp.csr_matrix(self.block_hessian(rows))

    def forest_factor(self, rows, l2):
        """Message-passing elimination of ``∇²_bb f + diag(l2)`` on a forest block."""
        from .updates import tree_factor

        H = sp.csr_matrix(self.block_hessian_sparse(rows) + sp.diags(l2))
        H.sum_duplicates()
        return tree_factor(H, np.arange(len(rows)), self.k)


class SquaredLoss(_Loss):
    """``f(w) = ‖y − X_c w‖² / (2n)``, with ``X_c``/``y`` centred when ``fit_intercept``.

    Dense ``X`` is centred once (a copy, as scikit-learn does). Sparse ``X`` is never
    densified: the residual is kept as ``r = r̃ + s·1`` with ``r̃ = y_c − X w`` updated in
    O(nnz of the changed columns) and the scalar ``s = x̄ᵀw``.
    """

    is_quadratic = True

    def __init__(self, X, y, fit_intercept, kernels):
        self.k = kernels
        n, p = X.shape
        self.n = n
        y = np.asarray(y, dtype=float)
        self.y_mean = float(y.mean()) if fit_intercept else 0.0
        self.y = y - self.y_mean
        if sp.issparse(X):
            self.x_mean = (np.asarray(X.mean(axis=0)).ravel() if fit_intercept
                           else np.zeros(p))
            self.design = Design(X, False, kernels)
        else:
            X = np.asarray(X, dtype=float)
            Xc = np.empty_like(X)  # one pass, in the memory order of X
            np.subtract(X, X.mean(axis=0) if fit_intercept else 0.0, out=Xc)
            self.design = Design(Xc, False, kernels)
            self.x_mean = np.zeros(p)  # already centred
        self.centred_sparse = bool(np.any(self.x_mean))
        self.colsum = self.n * self.x_mean
        self.n_coef, self.n_cols = p, 1
        sq = self.design.col_sqnorms() - self.n * self.x_mean**2
        self.lipschitz = np.maximum(sq, 0.0) / n
        self._gram_cache = _GramCache(self)

    # state ------------------------------------------------------------------
    def init(self, W):
        w = W[:, 0]
        self.r = self.y - self.design.matvec(W)[:, 0]  # r̃ (uncentred part for sparse X)
        self.s = float(self.x_mean @ w)
        self.rsum = float(self.r.sum())
        self.rsq = float(self.r @ self.r)

    def residual(self):
        return self.r + self.s if self.centred_sparse else self.r

    def value(self):
        sq = self.rsq + 2 * self.s * self.rsum + self.n * self.s**2
        return sq / (2 * self.n)

    def gradient(self):
        g = self.design.rmatvec(self.r[:, None])[:, 0]
        if self.centred_sparse:
            g = g - self.x_mean * self.rsum
        return (-g / self.n)[:, None]

    def block_gradient(self, rows):
        g = self.design.cols_rmatvec(rows, self.r[:, None])[:, 0]
        if self.centred_sparse:
            g = g - self.x_mean[rows] * self.rsum
        return (-g / self.n)[:, None]

    def apply(self, rows, D):
        d = D[:, 0]
        moved = d != 0  # block solves leave many coordinates where they were
        rows, d = np.asarray(rows, dtype=np.int64)[moved], d[moved]
        if self.design.sparse:
            X = self.design.X
            d_sum, d_sq = self.k.csc_residual_update(X.indptr, X.indices, X.data, rows,
                                                     np.ascontiguousarray(d), self.r)
            self.rsum += d_sum
            self.rsq += d_sq
            self.s += float(self.x_mean[rows] @ d)
        else:
            self.r -= self.design.X[:, rows] @ d
            self.rsum = float(self.r.sum())
            self.rsq = float(self.r @ self.r)

    def line(self, rows, D):
        u = self.design.cols_matvec(rows, D)[:, 0] - float(self.x_mean[rows] @ D[:, 0])
        ru, uu = float(self.residual() @ u), float(u @ u)
        return lambda a: (a * a * uu - 2 * a * ru) / (2 * self.n)

    # curvature --------------------------------------------------------------
    def block_bound(self, rows):
        return self._gram_cache.get(np.asarray(rows, dtype=np.int64))

    block_hessian = block_bound

    def hessian_matvec(self, V):
        u = self.design.matvec(V)[:, 0] - float(self.x_mean @ V[:, 0])  # X_c v, centred
        return (self.design.rmatvec(u[:, None])[:, 0] / self.n)[:, None]

    @property
    def diag_majorant(self):
        d = self.design.abs_gram_rowsums() / self.n
        return np.maximum(d, self.lipschitz)

    def dependency_graph(self):
        return self.design.gram_pattern()

    def dual_gap(self, W, penalty, G):
        """scikit-learn's duality gap (``sklearn.linear_model._cd_fast.gap_enet``, divided
        by ``n``) from the current gradient ``G``, or ``None`` without a penalty."""
        w = W[:, 0]
        n = self.n
        alpha = float(penalty.l1[0]) * n if penalty.l1.size else 0.0
        beta = float(penalty.l2[0]) * n if penalty.l2.size else 0.0
        R = self.residual()
        R_norm2 = float(R @ R)
        Ry = float(R @ self.y)
        XtR = -G[:, 0] * n
        w2 = float(w @ w)
        if alpha == 0.0:
            if beta == 0.0:
                return None
            return (R_norm2 + 0.5 * beta * w2 - Ry + float(XtR @ XtR) / (2 * beta)) / n
        XtA = XtR - beta * w
        dual_norm = float(np.max(np.abs(XtA))) if XtA.size else 0.0
        primal = 0.5 * (R_norm2 + beta * w2) + alpha * float(np.abs(w).sum())
        scale = alpha / dual_norm if dual_norm > alpha else 1.0
        dual = -0.5 * scale**2 * (R_norm2 + beta * w2) + scale * Ry
        return (primal - dual) / n

    def gap_scale(self):
        """The gap is compared with ``tol · ‖y_c‖² / n`` (as scikit-learn does)."""
        return float(self.y @ self.y) / self.n


class _GramCache:
    """Gram submatrices ``X_bᵀX_b / n`` with a cache of the last columns seen: successive
    variable blocks overlap (the active set stays in), so only new pairs are computed."""

    def __init__(self, loss, capacity=2048):
        self.loss = loss
        self.capacity = capacity
        self.idx = np.empty(0, dtype=np.int64)
        self.G = np.empty((0, 0))
        self.pos = -np.ones(loss.n_coef, dtype=np.int64)

    def get(self, rows):
        new = rows[self.pos[rows] < 0]
        if new.size:
            if self.idx.size + new.size > self.capacity:  # start over with this block
                self.pos[self.idx] = -1
                self.idx = np.empty(0, dtype=np.int64)
                self.G = np.empty((0, 0))
                new = rows
            old = self.idx
            both = np.concatenate([old, new])
            cross = self._cross(new, both)
            G = np.empty((both.size, both.size))
            G[: old.size, : old.size] = self.G
            G[old.size:, :] = cross
            G[: old.size, old.size:] = cross[:, : old.size].T
            self.idx, self.G = both, G
            self.pos[new] = np.arange(old.size, both.size)
        p = self.pos[rows]
        return self.G[np.ix_(p, p)]

    def _cross(self, new, both):
        loss = self.loss
        d = loss.design
        if d.sparse:
            C = (d.X[:, new].T @ d.X[:, both]).toarray()
        else:
            C = d.cross_gram(new, both)
        if loss.centred_sparse:
            C -= loss.n * np.outer(loss.x_mean[new], loss.x_mean[both])
        return C / loss.n


class LogisticLoss(_Loss):
    """Binary ``f(w) = (1/n) Σ log(1 + exp(z_i)) − y_i z_i`` with ``z = Xw (+ b)``, y in {0, 1}.

    The intercept, when fitted, is the last coordinate (an implicit column of ones).
    """

    def __init__(self, X, y01, fit_intercept, kernels):
        self.design = Design(X, fit_intercept, kernels)
        self.k = kernels
        self.y = np.asarray(y01, dtype=float)
        self.n = self.design.n
        self.col_means = self.design.rmatvec(np.ones((self.n, 1)))[:, 0] / self.n
        self.n_coef, self.n_cols = self.design.n_coef, 1
        self.lipschitz = self.design.col_sqnorms() / (4 * self.n)

    def init(self, W):
        self.z = self.design.matvec(W)[:, 0]

    def _pointwise(self, z):
        return np.logaddexp(0.0, z) - self.y * z

    def value(self):
        return float(self._pointwise(self.z).mean())

    def _residual(self):
        return (expit(self.z) - self.y)[:, None] / self.n

    def gradient(self):
        return self.design.rmatvec(self._residual())

    def block_gradient(self, rows):
        return self.design.cols_rmatvec(rows, self._residual())

    def apply(self, rows, D):
        self.z += self.design.cols_matvec(rows, D)[:, 0]

    def line(self, rows, D):
        u = self.design.cols_matvec(rows, D)[:, 0]
        z, y = self.z, self.y
        return lambda a: float(np.mean(np.logaddexp(0.0, z + a * u) - np.logaddexp(0.0, z)
                                       - a * y * u))

    def block_bound(self, rows):
        return self.design.weighted_gram(rows, np.full(self.n, 0.25 / self.n))

    def block_hessian(self, rows):
        s = expit(self.z)
        return self.design.weighted_gram(rows, s * (1 - s) / self.n)

    def hessian_matvec(self, V):
        u = self.design.matvec(V)
        return self.design.rmatvec(u * 0.25 / self.n)

    @property
    def diag_majorant(self):
        return np.maximum(self.design.abs_gram_rowsums() / (4 * self.n), self.lipschitz)

    def dependency_graph(self):
        return self.design.gram_pattern()

    def dual_gap(self, W, penalty, G):
        """Fenchel duality gap with ``θ = y − σ(z)`` (made dual-feasible: centred when an
        intercept is fitted, rescaled onto ``‖Xᵀθ/n‖∞ ≤ λ₁`` for a pure L1 penalty)."""
        theta = self.y - expit(self.z)
        return _glm_gap(self, W, penalty, G, theta[:, None], _binary_conj(self.y))

    def gap_scale(self):
        return float(np.log(2.0))


def _binary_conj(y):
    def conj(theta):  # Σ ℓ*(−θ_i)/n with ℓ*(−θ) = H(y − θ), H the negative entropy
        q = y - theta[:, 0]
        if np.any(q < -1e-12) or np.any(q > 1 + 1e-12):
            return np.inf
        q = np.clip(q, 0.0, 1.0)
        return float((xlogy(q, q) + xlogy(1 - q, 1 - q)).mean())
    return conj


def _glm_gap(loss, W, penalty, G, theta, conj):
    """``P(W) − D(θ)`` for a GLM loss; ``Xᵀθ/n = −G`` reuses the gradient."""
    d = loss.design
    v = -G
    if d.intercept:  # make 1ᵀθ = 0 (the intercept's dual constraint)
        shift = theta.mean(axis=0)
        theta = theta - shift
        v = v - np.outer(loss.col_means, shift)
    pen_rows = penalty.l1 + penalty.l2 > 0
    v = v[pen_rows]
    l1 = penalty.l1[pen_rows, None]
    l2 = penalty.l2[pen_rows, None]
    if np.all(l2 == 0) and np.all(l1 == 0):
        return None
    if np.all(l2 == 0):
        ratio = float(np.max(np.abs(v) / l1)) if v.size else 0.0
        if ratio > 1.0:
            theta, v = theta / ratio, v / ratio
        pen_conj = 0.0
    else:
        st = np.maximum(np.abs(v) - l1, 0.0)
        pen_conj = float((st**2 / (2 * l2)).sum())
    dual = -conj(theta) - pen_conj
    return loss.value() + penalty.value(W) - dual


class MultinomialLoss(_Loss):
    """``f(W) = (1/n) Σ logsumexp(z_i) − y_iᵀ z_i`` with ``Z = XW (+ b)``, one-hot ``Y``.

    A coordinate is a feature's row of ``K`` class coefficients (the intercept row last).
    """

    def __init__(self, X, Y, fit_intercept, kernels):
        self.design = Design(X, fit_intercept, kernels)
        self.k = kernels
        self.Y = np.asarray(Y, dtype=float)
        self.n = self.design.n
        self.col_means = self.design.rmatvec(np.ones((self.n, 1)))[:, 0] / self.n
        self.n_coef, self.n_cols = self.design.n_coef, self.Y.shape[1]
        # Böhning: softmax Hessian ≼ ½ (I − 11ᵀ/K) ≼ ½ I
        self.lipschitz = self.design.col_sqnorms() / (2 * self.n)

    def init(self, W):
        self.Z = self.design.matvec(W)

    def _pointwise(self, Z):
        return logsumexp(Z, axis=1) - (self.Y * Z).sum(axis=1)

    def value(self):
        return float(self._pointwise(self.Z).mean())

    def _residual(self):
        return (softmax(self.Z, axis=1) - self.Y) / self.n

    def gradient(self):
        return self.design.rmatvec(self._residual())

    def block_gradient(self, rows):
        return self.design.cols_rmatvec(rows, self._residual())

    def apply(self, rows, D):
        self.Z += self.design.cols_matvec(rows, D)

    def line(self, rows, D):
        U = self.design.cols_matvec(rows, D)
        Z, lse = self.Z, logsumexp(self.Z, axis=1)
        YU = (self.Y * U).sum(axis=1)
        return lambda a: float(np.mean(logsumexp(Z + a * U, axis=1) - lse - a * YU))

    def block_bound(self, rows):
        K = self.n_cols
        G = self.design.weighted_gram(rows, np.full(self.n, 1.0 / self.n))
        return np.kron(G, 0.5 * (np.eye(K) - 1.0 / K))

    def block_hessian(self, rows):
        P = softmax(self.Z, axis=1)
        K = self.n_cols
        b = len(rows)
        H = np.empty((b, K, b, K))
        for k in range(K):
            for l in range(k, K):
                wt = P[:, k] * ((k == l) - P[:, l]) / self.n
                H[:, k, :, l] = self.design.weighted_gram(rows, wt)
                H[:, l, :, k] = H[:, k, :, l].T if k != l else H[:, k, :, l]
        return H.reshape(b * K, b * K)

    def hessian_matvec(self, V):
        U = self.design.matvec(V)
        return self.design.rmatvec(0.5 * (U - U.mean(axis=1, keepdims=True)) / self.n)

    @property
    def diag_majorant(self):
        return np.maximum(self.design.abs_gram_rowsums() / (2 * self.n), self.lipschitz)

    def dependency_graph(self):
        return self.design.gram_pattern()

    def dual_gap(self, W, penalty, G):
        theta = self.Y - softmax(self.Z, axis=1)
        Y = self.Y

        def conj(theta):
            Q = Y - theta
            if np.any(Q < -1e-12):
                return np.inf
            Q = np.clip(Q, 0.0, 1.0)
            return float(xlogy(Q, Q).sum(axis=1).mean())

        return _glm_gap(self, W, penalty, G, theta, conj)

    def gap_scale(self):
        return float(np.log(self.n_cols))


class QuadraticLoss(_Loss):
    """``f(X) = ½ tr(Xᵀ A X) − tr(Bᵀ X)`` with a sparse symmetric positive definite ``A``.

    The gradient ``A X − B`` itself is the state, updated in O(nnz of the changed
    columns of A) per block: greedy rules cost nothing extra here (the sparse
    dependency graph of the paper). Label propagation is this problem with
    ``A = L_uu`` and ``B = W_ul Y_l``.
    """

    is_quadratic = True

    def __init__(self, A, B, kernels):
        self.A = sp.csr_matrix(A, dtype=float)
        self.A.sum_duplicates()
        self.A.sort_indices()
        self.k = kernels
        self._local = -np.ones(self.A.shape[0], dtype=np.int64)
        self.B = np.asarray(B, dtype=float)
        self.n_coef, self.n_cols = self.B.shape
        self.lipschitz = self.A.diagonal().copy()
        self.n = self.n_coef

    def init(self, W):
        self.W = W  # shares the solver's array: value() needs it
        self.G = self.A @ W - self.B

    def value(self):
        return float(0.5 * np.sum(self.W * (self.G - self.B)))

    def gradient(self):
        return self.G

    def block_gradient(self, rows):
        return self.G[rows]

    def apply(self, rows, D):  # A is symmetric: its CSR arrays are those of a CSC copy
        A = self.A
        self.k.csc_cols_matvec(A.indptr, A.indices, A.data, -1, np.asarray(rows, np.int64),
                               np.ascontiguousarray(D), self.G)

    def line(self, rows, D):
        g = self.G[rows]
        AD = self.A[rows][:, rows] @ D
        lin, quad = float(np.sum(g * D)), float(np.sum(D * AD))
        return lambda a: a * lin + 0.5 * a * a * quad

    def block_bound(self, rows):
        return self.A[rows][:, rows].toarray()

    block_hessian = block_bound

    def block_hessian_sparse(self, rows):
        return self.A[rows][:, rows]

    def forest_factor(self, rows, l2):
        if np.any(l2):
            return super().forest_factor(rows, l2)
        from .updates import tree_factor

        return tree_factor(self.A, rows, self.k, self._local)  # no copy of the block

    def block_lipschitz(self, rows):
        sub = self.A[rows][:, rows]
        return float(abs(sub).sum(axis=1).max()) if len(rows) > 256 else \
            float(np.linalg.eigvalsh(sub.toarray())[-1])

    def hessian_matvec(self, V):
        return self.A @ V

    @property
    def diag_majorant(self):
        return np.asarray(abs(self.A).sum(axis=1)).ravel()

    def dependency_graph(self):
        return self.A

    def dual_gap(self, W, penalty, G):
        return None

    def gap_scale(self):
        return 1.0

    def kkt_norm(self, E):
        return float(np.sqrt(np.einsum("ij,ij->", E, E)))

    def kkt_scale(self):
        """``‖A X − B‖_F ≤ tol ‖B‖_F``: the relative residual of the linear system."""
        return float(np.sqrt(np.einsum("ij,ij->", self.B, self.B))) or 1.0
