"""Working-set coordinate descent for (multi-task) elastic-net least squares.

The default solver of :class:`~sparserec.bcd.BCDRegressor`: the greedy rules of Nutini,
Laradji & Schmidt (arXiv 1712.08859) choose a *working set* — the current non-zeros and
the coordinates with the largest Gauss–Southwell–Lipschitz score (minimum-norm
subgradient over ``√L_j``) — which is then solved by cyclic coordinate descent with
level-1 work only: each coordinate update reads and updates the residual in O(n) (dense)
or O(nnz of the column) (CSC), as in Friedman, Hastie & Tibshirani (2010). The working
set doubles with the number of non-zeros (Massias, Gramfort & Salmon 2018, *celer*;
Bertrand et al. 2022, *skglm*), and the inner iterates are extrapolated every ``K = 5``
epochs by Anderson acceleration (accepted only when the objective decreases; Bertrand &
Massias 2021). Stopping uses the duality gap, relative to ``‖y_c‖²`` exactly as
scikit-learn's ``Lasso`` does (``gap ≤ tol ‖y_c‖²`` in units of ``n`` times the
objective). With a pure L1 penalty the gap-safe sphere test (Ndiaye et al. 2017) removes
coordinates that are zero at the optimum from later working sets.

The problem, for a centred, row-weighted design ``X_c`` (``Y`` of shape (n, m))::

    ½ ‖Y − X_c W‖²_F + l1 Σ_j ‖W_j‖ + ½ l2 ‖W‖²_F

with ``‖W_j‖`` the absolute value per target (independent targets) or the Euclidean norm
of the row (``group=True``, MultiTaskElasticNet). A sparse ``X`` is never densified:
centring is implicit (``r = r̃ + c·s``, see :mod:`._kernels`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..base import pow2_scale

__all__ = ["CDResult", "Design", "Problem", "check_sample_weight", "solve"]

ANDERSON_K = 5  # extrapolation memory (Bertrand & Massias 2021 use 5)
WS_START = 10  # first working-set size (skglm's p0)
INNER_FRACTION = 0.3  # inner solves stop at this fraction of the outer violation (skglm)




def check_sample_weight(sample_weight, X):
    """Validated ``sample_weight`` rescaled to sum to ``n`` (scikit-learn's convention), or
    ``None``; errors name ``sample_weight`` (negative, NaN, all zero, wrong length)."""
    from sklearn.utils.validation import _check_sample_weight

    if sample_weight is None:
        return None
    try:
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    except ValueError as exc:
        msg = str(exc)
        raise ValueError(msg if "sample_weight" in msg else f"sample_weight: {msg}") from exc
    total = float(sw.sum())
    if total <= 0:
        raise ValueError("sample_weight: all weights are zero; at least one sample needs a "
                         "positive weight")
    return sw * (X.shape[0] / total)


@dataclass
class CDResult:
    W: np.ndarray
    n_iter: int  # coordinate-descent epochs (passes over the working set)
    converged: bool
    gap: float  # final duality gap (n units), or the KKT violation without a penalty
    n_outer: int
    state: tuple = None  # (residual, Tsum, c, gradient) at W, for a warm start


class Design:
    """``X_c = diag(s) (X − 1 x̄ᵀ) / scale`` for the solver (``s = √sample_weight``).

    ``scale=None``: a power of two chosen here (:func:`pow2_scale` of the largest column
    RMS of the centred dense ``X``, of ``max |X|`` for a sparse one), kept in ``scale``.

    Dense ``X`` is copied once, centred, weighted and scaled, in Fortran order and its own
    float precision. A CSC ``X`` keeps its pattern: only its values are weighted/scaled
    (copied when that changes them), and centring stays implicit.
    """

    def __init__(self, X, sample_weight, fit_intercept, scale, kernels):
        n, p = X.shape
        self.n, self.p, self.k = n, p, kernels
        self.sparse = sp.issparse(X)
        if scale is None and self.sparse:
            scale = pow2_scale(X)
        dtype = np.dtype(X.dtype if X.dtype in (np.float32, np.float64) else np.float64)
        sw = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        self.s = None if sw is None else np.sqrt(sw)
        if self.sparse:
            Xs = X if X.format == "csc" else X.tocsc()
            if not Xs.has_canonical_format:
                Xs = Xs.copy() if Xs is X else Xs  # never modify the caller's matrix
                Xs.sum_duplicates()
            data = Xs.data
            if self.s is not None or scale != 1.0:  # new values, shared pattern
                data = data * (self.s[Xs.indices] / scale).astype(dtype) \
                    if self.s is not None else data / dtype.type(scale)
                Xs = sp.csc_matrix((data, Xs.indices, Xs.indptr), shape=Xs.shape)
            self.X = Xs
            nz = np.flatnonzero(np.diff(Xs.indptr))
            colsum = np.zeros(p)  # Σ_i s_i x̃_ij = sᵀ x_j (scaled)
            sq = np.zeros(p)
            if nz.size:
                d64 = data.astype(float, copy=False)
                starts = Xs.indptr[nz]
                sq[nz] = np.add.reduceat(d64 * d64, starts)
                s_d = d64 if self.s is None else d64 * self.s[Xs.indices]
                colsum[nz] = np.add.reduceat(s_d, starts)
            # weighted mean of X: Σ sw x_ij / Σ sw = (sᵀ x̃_j) scale / Σ sw
            total = float(n if sw is None else sw.sum())
            xm = colsum * scale / total if fit_intercept else np.zeros(p)
            self.x_mean = xm
            self.xm = xm / scale
            self.cs = colsum
            sq -= 2 * self.xm * self.cs - self.xm**2 * total
        else:
            if fit_intercept:
                xm = X.mean(axis=0) if sw is None else (sw @ X) / sw.sum()
            else:
                xm = np.zeros(p)
            self.x_mean = np.asarray(xm, dtype=float)
            Xc = np.empty((n, p), dtype=dtype, order="F")
            np.subtract(X, xm.astype(dtype), out=Xc, casting="unsafe")  # copy and centre
            if self.s is not None:
                Xc *= self.s[:, None].astype(dtype)
            sq = np.einsum("ij,ij->j", Xc, Xc, dtype=float)
            if scale is None:  # the power of two nearest to the largest column RMS
                scale = pow2_scale(np.sqrt(sq / n))
            if scale != 1.0:
                Xc /= dtype.type(scale)
                sq /= scale * scale
            self.X = Xc
            self.xm = np.zeros(p)
            self.cs = np.zeros(p)
        self.centred_sparse = self.sparse and bool(np.any(self.xm))
        self.sq = np.maximum(sq, 0.0)
        self.scale = float(scale)
        self.full_gram = self.gram_pos = self.gram_cols = self.last_gram = None
        self.total_w = float(n if self.s is None else self.s @ self.s)  # Σ s_i²

    def gram(self, cols):
        """``X_c[:, cols]ᵀ X_c[:, cols]`` (dense). After :meth:`precompute_gram`, read from
        the full Gram matrix (``n ≥ p``) or from a cache of Gram columns ``X_cᵀ x_j`` that
        grows with the working sets (``n < p``): a path reuses them from one ``alpha`` to
        the next instead of recomputing a working-set Gram matrix per fit."""
        last = self.last_gram
        if last is not None and np.array_equal(last[0], cols):  # same working set again
            return last[1]
        H = self._gram(cols)
        if self.full_gram is not None or self.gram_pos is not None:
            self.last_gram = (cols.copy(), H)
        return H

    def _gram(self, cols):
        if self.full_gram is not None:
            return self.full_gram.take(cols, axis=0).take(cols, axis=1)
        if self.gram_pos is None:
            sub = self.X[:, cols]
            return np.asarray(sub.T @ sub, dtype=float)
        missing = cols[self.gram_pos[cols] < 0]
        if missing.size:
            start = self.gram_used
            if start + missing.size > self.gram_cols.shape[1]:  # grow by doubling
                cap = max(2 * self.gram_cols.shape[1], start + missing.size)
                grown = np.empty((self.p, min(cap, self.p)))
                grown[:, :start] = self.gram_cols[:, :start]
                self.gram_cols = grown
            self.gram_cols[:, start:start + missing.size] = self.X.T @ self.X[:, missing]
            self.gram_pos[missing] = start + np.arange(missing.size)
            self.gram_used = start + missing.size
        return self.gram_cols.take(cols, axis=0).take(self.gram_pos[cols], axis=1)

    def gram_cached(self):
        """Whether :meth:`gram` reads a kept Gram matrix (after :meth:`precompute_gram`)."""
        return self.full_gram is not None or self.gram_pos is not None

    def precompute_gram(self):
        """Prepare Gram matrices for many fits (a path): the full ``X_cᵀ X_c`` when
        ``n ≥ p``, else a cache of the Gram columns of the working sets (dense ``X``)."""
        if self.sparse or self.full_gram is not None or self.gram_pos is not None:
            return
        if self.n >= self.p:
            self.full_gram = np.asarray(self.X.T @ self.X, dtype=float)
        else:
            self.gram_pos = np.full(self.p, -1, dtype=np.int64)
            self.gram_cols = np.empty((self.p, 64))
            self.gram_used = 0

    def weight_target(self, Y):
        """``s ⊙ Y`` (``Y`` already centred)."""
        return Y if self.s is None else Y * self.s[:, None]

    def rmatvec(self, R, T, cols=None):
        """``X_c[:, cols]ᵀ R`` (all columns by default) for the stored residual ``R``."""
        cols = np.arange(self.p) if cols is None else cols
        out = np.empty((cols.size, R.shape[1]))
        if self.sparse:
            X = self.X
            self.k.csc_cols_rmatvec(X.indptr, X.indices, X.data, self.p, cols, R, out)
            if self.centred_sparse:
                out -= np.outer(self.xm[cols], T)
        elif cols.size == self.p and self.X.dtype == np.float64:
            out[...] = self.X.T @ R  # BLAS
        else:
            self.k.dense_cols_rmatvec(self.X, cols, R, out)
        return out

    def update(self, R, T, c, cols, D):
        """``R −= X_c[:, cols] D`` (keeping ``T`` and ``c`` of the implicit centring)."""
        if self.sparse:
            X = self.X
            self.k.csc_cols_matvec(X.indptr, X.indices, X.data, self.p, cols,
                                   np.ascontiguousarray(-D), R)
            T -= self.cs[cols] @ D
            c += self.xm[cols] @ D
        else:
            self.k.dense_cols_matvec(self.X, cols, np.ascontiguousarray(-D), R)

    def true_residual(self, R, c):
        if not self.centred_sparse:
            return R
        s = np.ones(self.n) if self.s is None else self.s
        return R + np.outer(s, c)


class Problem:
    """``X`` and ``Y`` (n, m) prepared once for any number of fits (a path, warm starts).

    Both are divided by powers of two (:func:`pow2_scale`), centred and row-weighted
    (``sample_weight`` already validated by :func:`check_sample_weight`). Coefficients
    inside are in those units; :meth:`coef` and :meth:`internal` convert.
    """

    def __init__(self, X, Y, sample_weight, fit_intercept, kernels):
        self.n = n = X.shape[0]
        self.design = Design(X, sample_weight, fit_intercept, None, kernels)
        self.sx, self.sy = self.design.scale, pow2_scale(Y)
        sw = sample_weight
        if fit_intercept:
            self.y_mean = Y.mean(axis=0) if sw is None else (sw @ Y) / n
        else:
            self.y_mean = np.zeros(Y.shape[1])
        self.Y = self.design.weight_target((Y - self.y_mean) / self.sy)

    def penalties(self, alpha, ratio):
        """``(l1, l2)`` in the solver's units (n times the objective, scaled data)."""
        return (self.n * alpha * ratio / (self.sx * self.sy),
                self.n * alpha * (1 - ratio) / self.sx**2)

    def alpha_max(self, ratio, group=False):
        """The smallest ``alpha`` with an all-zero solution (for ``ratio > 0``)."""
        T = self.Y.sum(axis=0) if self.design.s is None else self.design.s @ self.Y
        G = self.design.rmatvec(self.Y, T)
        top = float(_row_norms(G, True).max(initial=0.0) if group else np.abs(G).max(initial=0.0))
        return top * self.sx * self.sy / (self.n * ratio)

    def fit(self, alpha, ratio, W0=None, *, group=False, previous=None, **kw):
        """Solve at ``alpha`` from ``W0`` (internal units), or from the ``previous``
        results (a path: their residuals and gradients are reused); returns
        ``(W, results)``."""
        l1, l2 = self.penalties(alpha, ratio)
        p, m = self.design.p, self.Y.shape[1]
        if previous is not None:
            if group:
                res = [solve(self.design, self.Y, previous[0].W, l1=l1, l2=l2, group=True,
                             state=previous[0].state, **kw)]
                return res[0].W, res
            res = [solve(self.design, self.Y[:, [k]], r.W, l1=l1, l2=l2, state=r.state, **kw)
                   for k, r in enumerate(previous)]
            return np.hstack([r.W for r in res]), res
        W0 = np.zeros((p, m)) if W0 is None else W0
        if group:
            res = [solve(self.design, self.Y, W0, l1=l1, l2=l2, group=True, **kw)]
            return res[0].W, res
        res = [solve(self.design, self.Y[:, [k]], W0[:, [k]], l1=l1, l2=l2, **kw)
               for k in range(m)]
        return np.hstack([r.W for r in res]), res

    def gaps(self, results, m):
        """Duality gaps in objective units of the original data, one per target."""
        g = [r.gap / self.n * self.sy**2 for r in results]
        return g * m if len(g) == 1 and m > 1 else g

    def coef(self, W):
        """``(m, p)`` coefficients in the units of the data."""
        return W.T * (self.sy / self.sx)

    def internal(self, coef):
        return np.asarray(coef, dtype=float).reshape(-1, self.design.p).T * (self.sx / self.sy)

    def intercept(self, coef):
        return self.y_mean - coef @ self.design.x_mean


def _row_norms(A, group):
    return np.sqrt(np.einsum("ij,ij->i", A, A)) if group else np.abs(A[:, 0])


def violation(G, W, l1, l2, positive, group):
    """Per coordinate: the norm of the minimum-norm subgradient (n units)."""
    E = G - l2 * W  # minus the gradient of the smooth part, at W
    if group:
        nrm = _row_norms(W, True)
        on = nrm > 0
        out = np.maximum(_row_norms(E, True) - l1, 0.0)
        if on.any():
            out[on] = _row_norms(E[on] - l1 * W[on] / nrm[on, None], True)
        return out
    w, e = W[:, 0], E[:, 0]
    if positive:
        out = np.maximum(e - l1, 0.0)
    else:
        out = np.maximum(np.abs(e) - l1, 0.0)
    on = w != 0
    out[on] = np.abs(e[on] - l1 * np.sign(w[on]))
    return out


def dual_gap(Rt, Y, G, W, l1, l2, positive, group):
    """Fenchel duality gap of the problem (n units), or ``None`` without a penalty.

    Two dual points are tried, the best is kept: the residual rescaled into the dual
    feasible set (scikit-learn's choice for the Lasso) and, with ``l2 > 0``, the residual
    itself (exact at the optimum of an elastic net).
    """
    if l1 == 0.0 and l2 == 0.0:
        return None
    rr = float(np.vdot(Rt, Rt))
    norms = np.sqrt(np.einsum("ij,ij->i", W, W)) if group else np.abs(W).ravel()
    primal = 0.5 * rr + l1 * float(norms.sum()) + 0.5 * l2 * float(np.vdot(W, W))
    ry = float(np.vdot(Rt, Y))

    def conj_excess(V):  # Σ_j h*(V_j) for h = l1‖·‖ + ½ l2 ‖·‖²
        v = _row_norms(V, True) if group else (V.ravel() if positive else np.abs(V).ravel())
        return float(np.sum(np.maximum(v - l1, 0.0) ** 2)) / (2 * l2)

    best = -np.inf
    if l1 > 0:
        v = _row_norms(G, True) if group else (G.ravel() if positive else np.abs(G).ravel())
        top = float(v.max(initial=0.0))
        a = min(1.0, l1 / top) if top > 0 else 1.0
        best = a * ry - 0.5 * a * a * rr  # h*(a G) = 0 on the feasible set
    if l2 > 0:
        best = max(best, ry - 0.5 * rr - conj_excess(G))
    return max(primal - best, 0.0)


def _anderson(A):
    """Anderson extrapolation from the iterates ``A`` (rows; Bertrand & Massias 2021), or
    ``None`` when the system is singular."""
    U = np.diff(A, axis=0)
    C = U @ U.T
    try:
        z = np.linalg.solve(C, np.ones(C.shape[0]))
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(z)) or z.sum() == 0:
        return None
    return (z / z.sum()) @ A[1:]


def solve(design, Y, W0, *, l1, l2, positive=False, group=False, tol=1e-4, max_iter=1000,
          rule="gsl", screen=True, state=None):
    """Minimise the problem of this module from ``W0`` (``(p, m)``; ``Y`` is ``(n, m)``,
    centred and weighted). ``l1``/``l2`` are in n units. ``state``: the ``state`` of a
    previous result that ended at ``W0`` (a path: its residual and gradient are reused).
    Returns a :class:`CDResult`."""
    k = design.k
    p, m = design.p, Y.shape[1]
    W = np.array(W0, dtype=float).reshape(p, m)
    sq = design.sq
    if state is not None:
        R, T, c, G_next = (a.copy() for a in state)
    else:
        R = np.array(Y, dtype=float, order="C").reshape(-1, m)
        T = R.sum(axis=0) if design.s is None else design.s @ R  # sᵀ r̃
        c = np.zeros(m)
        G_next = None
        nz0 = np.flatnonzero(np.any(W != 0, axis=1))
        if nz0.size:
            design.update(R, T, c, nz0, W[nz0])
    threshold = tol * float(np.vdot(Y, Y))
    score_scale = 1.0 / np.sqrt(np.where(sq + l2 > 0, sq + l2, np.inf)) if rule == "gsl" \
        else np.ones(p)
    screened = np.zeros(p, dtype=bool)
    col_norm = np.sqrt(sq)
    epochs, outer, gap, converged = 0, 0, np.inf, False
    kkt_ref = None
    ws_size = WS_START
    dummy = np.zeros((1, 1), dtype=design.X.dtype)  # unused arrays of the other layout
    empty_i = np.zeros(1, dtype=np.int32)
    while True:
        Rt = design.true_residual(R, c)
        G = design.rmatvec(R, T) if G_next is None else G_next
        G_next = None
        viol = violation(G, W, l1, l2, positive, group)
        gap = dual_gap(Rt, Y, G, W, l1, l2, positive, group)
        if gap is None:  # no penalty: the KKT violation relative to its start
            gap = float(viol.max(initial=0.0))
            kkt_ref = gap if kkt_ref is None else kkt_ref
            converged = gap <= tol * kkt_ref
        else:
            converged = gap <= threshold
        if converged or epochs >= max_iter:
            break
        outer += 1
        active = np.any(W != 0, axis=1)
        if screen and l1 > 0 and l2 == 0 and not positive:
            # gap-safe sphere: ‖θ* − θ‖ ≤ √(2 gap) for the rescaled residual θ
            v = _row_norms(G, True) if group else np.abs(G[:, 0])
            a = min(1.0, l1 / float(v.max(initial=0.0))) if v.max(initial=0.0) > 0 else 1.0
            screened |= (a * v + col_norm * np.sqrt(2 * gap) < l1) & ~active
        score = viol * score_scale
        score[active] = np.inf
        score[screened] = 0.0
        n_active = int(active.sum())
        # double the working set each outer iteration (celer), at least twice the support
        ws_size = min(p, max(2 * n_active, 2 * ws_size if outer > 1 else WS_START))
        cand = np.flatnonzero(score > 0)
        if cand.size > ws_size:
            cand = cand[np.argpartition(-score[cand], ws_size - 1)[:ws_size]]
        ws = np.sort(cand).astype(np.int64)
        if ws.size == 0:
            break
        inner_tol = INNER_FRACTION * float(viol.max(initial=0.0))
        gram_ok = not design.sparse and not group and design.n >= ws.size
        X = design.X
        if gram_ok and design.gram_cached():
            epochs = _inner_gram(design, R, T, c, W, ws, G[ws, 0], l1, l2, positive,
                                 inner_tol, epochs, max_iter)
            continue
        if not group:
            # Residual epochs cost 2n|ws|; a Gram matrix costs n|ws|² once, then |ws|² per
            # epoch. Not knowing the epochs ahead, run |ws|/2 residual epochs first and
            # form the Gram matrix only if they did not suffice (ski rental: at most twice
            # the cost of the better choice in hindsight).
            cap = max_iter - epochs
            if gram_ok:
                cap = min(cap, max(ANDERSON_K, ws.size // 2))
            state = np.array([T[0], c[0]])
            done, worst = k.cd_residual_solve(
                design.sparse, dummy if design.sparse else X,
                X.indptr if design.sparse else empty_i,
                X.indices if design.sparse else empty_i,
                X.data if design.sparse else dummy[0], design.xm, design.cs, R[:, 0],
                W[:, 0], ws, sq, l1, l2, bool(positive), state, design.total_w, inner_tol,
                cap, ANDERSON_K)
            T[0], c[0] = state
            epochs += done
            if gram_ok and worst > inner_tol and epochs < max_iter:
                viol_ws = design.rmatvec(R, T, ws)
                epochs = _inner_gram(design, R, T, c, W, ws, viol_ws[:, 0], l1, l2,
                                     positive, inner_tol, epochs, max_iter)
            continue
        if design.sparse:
            args = (dummy, X.indptr, X.indices, X.data)
        else:
            args = (X, empty_i, empty_i, dummy[0])
        prev = W[ws].ravel()
        while epochs < max_iter:
            hist = np.empty((min(ANDERSON_K, max_iter - epochs), ws.size * m))
            done, worst = k.cd_epochs_group(design.sparse, *args, design.xm, design.cs, R, W,
                                            ws, sq, l1, l2, T, c, inner_tol, hist)
            epochs += done
            if worst <= inner_tol or done < ANDERSON_K:
                break
            extra = _anderson(np.vstack([prev, hist]))
            prev = hist[-1]
            if extra is not None:
                _try_extrapolation(design, R, T, c, W, ws, extra.reshape(ws.size, m),
                                   l1, l2, positive, group)
                prev = W[ws].ravel()
    return CDResult(W=W, n_iter=epochs, converged=bool(converged), gap=float(gap),
                    n_outer=outer, state=(R, T, c, G))


def _inner_gram(design, R, T, c, W, ws, q, l1, l2, positive, tol, epochs, max_iter):
    """Solve the working set through its Gram matrix (dense ``X``, ``n ≥ |ws|``): an epoch
    costs O(|ws|²) instead of O(n |ws|); the residual is updated once at the end. Every
    ``ANDERSON_K`` epochs the iterates are extrapolated (Anderson)."""
    H = design.gram(ws)
    sqw = np.ascontiguousarray(np.diag(H))
    w0 = W[ws, 0].copy()
    w = w0.copy()
    q = np.array(q, dtype=float)
    epochs += design.k.cd_gram_solve(H, q, w, sqw, l1, l2, bool(positive), tol,
                                     max_iter - epochs, ANDERSON_K)
    D = w - w0
    if np.any(D):
        design.update(R, T, c, ws, D[:, None])
        W[ws, 0] = w
    return epochs


def _objective_ws(Rt, Wws, l1, l2, group):
    norms = np.sqrt(np.einsum("ij,ij->i", Wws, Wws)) if group else np.abs(Wws).ravel()
    return 0.5 * float(np.vdot(Rt, Rt)) + l1 * float(norms.sum()) \
        + 0.5 * l2 * float(np.vdot(Wws, Wws))


def _try_extrapolation(design, R, T, c, W, ws, Wx, l1, l2, positive, group):
    """Move to the extrapolated ``Wx`` (working-set rows) when it lowers the objective."""
    if positive:
        Wx = np.maximum(Wx, 0.0)
    D = Wx - W[ws]
    if not np.any(D):
        return
    before = _objective_ws(design.true_residual(R, c), W[ws], l1, l2, group)
    R2, T2, c2 = R.copy(), T.copy(), c.copy()
    design.update(R2, T2, c2, ws, D)
    after = _objective_ws(design.true_residual(R2, c2), Wx, l1, l2, group)
    if after < before:
        R[...] = R2
        T[...] = T2
        c[...] = c2
        W[ws] = Wx


def logistic_prox_newton(X, y01, l1, l2, fit_intercept, W0, *, tol, max_iter, kernels,
                         record=None):
    """Binary logistic regression ``(1/n) Σ ℓ_i + l1 ‖w‖₁ + ½ l2 ‖w‖²`` by proximal Newton
    (Lee, Sun & Saunders 2014; the glmnet / celer-PN scheme): each outer iteration fits the
    weighted elastic net of the loss's quadratic model — Hessian weights ``p(1 − p)`` and
    the working response, exactly the least-squares problem that :func:`solve` handles
    (working sets, Anderson, gap stopping) — then a backtracking line search (Armijo, as
    Tseng & Yun 2009) on the true objective. Stops on the Fenchel duality gap of
    :class:`sparserec.bcd.losses.LogisticLoss` (``≤ tol · log 2``).

    ``W0``: ``(p + intercept, 1)`` start (intercept last); ``record`` is called with the
    objective after every outer iteration. Returns ``(W, n_outer, converged, gap)``.
    """
    from scipy.special import expit

    from .losses import LogisticLoss, Penalty

    n, p = X.shape
    loss = LogisticLoss(X, y01, fit_intercept, kernels)
    weights = np.append(np.ones(p), [0.0] * int(fit_intercept))
    penalty = Penalty(weights * l1, weights * l2)
    W = np.array(W0, dtype=float)
    loss.init(W)
    scale = loss.gap_scale()

    def objective():
        return loss.value() + penalty.value(W)

    gap, converged, it = np.inf, False, 0
    inner_tol = 1e-3  # relative gap of the first quadratic models, tightened as we go
    while True:
        G = loss.gradient()
        gap = loss.dual_gap(W, penalty, G)
        if gap <= tol * scale:
            converged = True
            break
        if it >= max_iter:
            break
        it += 1
        z = loss.z
        prob = expit(z)
        h = np.maximum(prob * (1 - prob), 1e-12)
        work = z - (prob - y01) / h  # working response: model minimiser without penalty
        intercept = W[p, 0] if fit_intercept else 0.0
        if p <= min(n, GRAM_MAX):
            coef, b_new = _weighted_gram_step(X, h, work, W[:p, 0], l1, l2, fit_intercept,
                                              kernels)
        else:
            sw = h * (n / h.sum())  # solve() weighs rows by sample weights summing to n
            ratio = h.sum() / n  # (1/2n) Σ h r² = ratio (1/2n) Σ sw r²
            prob_ls = Problem(X, work[:, None], sw, fit_intercept, kernels)
            W0_ls = prob_ls.internal(W[:p, 0][None, :])
            Wls, _ = _fit_penalties(prob_ls, W0_ls, l1 / ratio, l2 / ratio, inner_tol)
            coef = prob_ls.coef(Wls)[0]
            b_new = float(prob_ls.intercept(coef[None, :])[0]) if fit_intercept else 0.0
        D = np.zeros_like(W)
        D[:p, 0] = coef - W[:p, 0]
        if fit_intercept:
            D[p, 0] = b_new - intercept
        # Armijo along D: F(W + tD) ≤ F(W) + σ t Δ, Δ = ∇f·D + pen(W + D) − pen(W)
        f0 = objective()
        delta = float(np.vdot(G, D)) + penalty.value(W + D) - penalty.value(W)
        t = 1.0
        z0 = loss.z.copy()
        u = loss.design.matvec(D)[:, 0]
        accepted = False
        for _ in range(30):
            loss.z = z0 + t * u
            Wt = W + t * D
            if loss.value() + penalty.value(Wt) <= f0 + 1e-4 * t * min(delta, 0.0):
                W = Wt
                accepted = True
                break
            t *= 0.5
        if not accepted:
            loss.z = z0
        if record is not None:
            record(objective())
        if not accepted and inner_tol <= tol * 1e-3:
            break  # no progress possible at this precision
        inner_tol = max(min(inner_tol, gap / scale) * 0.1, tol * 1e-3)
    return W, it, converged, float(gap)


GRAM_MAX = 2000  # largest p for the weighted Gram matrix of a proximal Newton step


def _weighted_gram_step(X, h, work, w, l1, l2, fit_intercept, kernels):
    """Minimise ``(1/2n) Σ h_i (work_i − x_iᵀv − b)² + l1‖v‖₁ + ½ l2‖v‖²`` through the
    weighted Gram matrix (``p ≤ n``: an epoch costs O(p²), glmnet's covariance updates),
    from ``v = w``, to 10 % of the starting optimality violation. Returns ``(v, b)``."""
    n, p = X.shape
    hs = float(h.sum())
    xm = np.asarray(h @ X).ravel() / hs if fit_intercept else np.zeros(p)
    wm = float(h @ work) / hs if fit_intercept else 0.0
    if sp.issparse(X):
        HX = sp.csr_matrix(X).multiply(h[:, None]).tocsr()
        H = np.asarray((X.T @ HX).toarray()) - hs * np.outer(xm, xm)
        q = np.asarray(HX.T @ (work - wm)).ravel() - xm * float(h @ (work - wm))
    else:
        Xc = X - xm
        HXc = Xc * h[:, None]
        H = Xc.T @ HXc
        q = HXc.T @ (work - wm)
    H = np.ascontiguousarray(H, dtype=float)
    v = np.array(w, dtype=float)
    q = q - H @ v  # X_cᵀ diag(h) (work_c − X_c v)
    L1, L2 = n * l1, n * l2
    E = q - L2 * v
    viol = np.where(v != 0, np.abs(E - L1 * np.sign(v)), np.maximum(np.abs(E) - L1, 0.0))
    tol = 0.1 * float(viol.max(initial=0.0))
    kernels.cd_gram_solve(H, q, v, np.ascontiguousarray(np.diag(H)), L1, L2, False, tol,
                          10_000, ANDERSON_K)
    return v, wm - float(xm @ v)


def _fit_penalties(prob, W0, l1, l2, tol):
    """``prob.fit`` with explicit per-objective-unit penalties ``l1``/``l2`` (not α, ρ)."""
    n = prob.n
    res = solve(prob.design, prob.Y, W0, l1=n * l1 / (prob.sx * prob.sy),
                l2=n * l2 / prob.sx**2, tol=tol, max_iter=10_000)
    return res.W, [res]
