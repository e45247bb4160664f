"""Block update rules (Nutini, Laradji & Schmidt, arXiv 1712.08859, sections 4–6).

Each update returns the step ``D`` for the rows of a block, minimising a model of
``F = f + pen`` around the current point:

================  ==========================================================================
update            model of ``f`` on the block
================  ==========================================================================
gradient          ``⟨g_b, d⟩ + (L_b/2)‖d‖²`` with ``L_b`` the block Lipschitz constant
backtracking      the same, with ``L_b`` found by doubling from a small estimate until
                  ``f(x⁺) ≤ f(x) + ⟨g_b, d⟩ + (L_b/2)‖d‖²`` (``= f(x) − ‖g_b‖²/(2L_b)`` when
                  smooth)
matrix            ``⟨g_b, d⟩ + ½ dᵀ M_b d`` with ``M_b ≽ ∇²_bb f`` a fixed upper bound
newton            ``⟨g_b, d⟩ + ½ dᵀ ∇²_bb f d``, then an Armijo backtracking line search
message-passing   the Newton model, solved in linear time by Gaussian elimination along
                  the forest the block induces in the dependency graph
================  ==========================================================================

With an L1 penalty the matrix and Newton models are minimised by
:func:`solve_quadratic_l1` (coordinate descent that switches to a Newton solve on the
active set once the signs settle), i.e. proximal Newton. :data:`UPDATES` maps the names
to classes.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

__all__ = ["UPDATES", "Update", "make_update", "solve_quadratic_l1", "tree_factor", "tree_solve"]


class Update:
    needs_forest = False

    def __init__(self, state):
        self.state = state

    def step(self, rows):  # pragma: no cover - abstract
        raise NotImplementedError


class Gradient(Update):
    """Proximal gradient step with the block Lipschitz constant ``L_b``."""

    def step(self, rows, key=None):
        st = self.state
        Lb = st.block_lipschitz(rows, key=key)
        W, G = st.W[rows], st.block_gradient(rows)
        return st.penalty.prox(W, G, Lb, rows) - W


class Backtracking(Update):
    """Proximal gradient step whose ``L_b`` is found by doubling (kept per coordinate and
    halved at the next visit, so it can also decrease)."""

    def __init__(self, state):
        super().__init__(state)
        self.L = state.lipschitz.copy()

    def step(self, rows, key=None):
        st = self.state
        W, G = st.W[rows], st.block_gradient(rows)
        Lb = max(float(self.L[rows].max()) / 2, np.finfo(float).tiny)
        for _ in range(200):
            D = st.penalty.prox(W, G, Lb, rows) - W
            if not np.any(D):
                break
            if st.loss.line(rows, D)(1.0) <= float(np.sum(G * D)) + 0.5 * Lb * np.sum(D * D):
                break
            Lb *= 2.0
        self.L[rows] = Lb
        return D


class Matrix(Update):
    """Minimise the block model with the fixed curvature bound ``M_b`` (no line search)."""

    curvature = "bound"
    line_search = False

    def step(self, rows, key=None):
        st = self.state
        M = st.block_bound(rows) if self.curvature == "bound" else st.loss.block_hessian(rows)
        D = _model_step(st, rows, M)
        if self.line_search and not st.loss.is_quadratic:
            D = _armijo(st, rows, D)
        return D


class Newton(Matrix):
    """Minimise the block model with the exact Hessian, then an Armijo line search."""

    curvature = "hessian"
    line_search = True


class MessagePassing(Update):
    """Newton step on a forest block, solved by Gaussian elimination along the trees
    (the authors use Gaussian belief propagation, the same on a forest); linear time."""

    needs_forest = True

    def step(self, rows, key=None):
        st = self.state
        l2 = st.penalty.l2[rows]
        rhs = -(st.block_gradient(rows) + l2[:, None] * st.W[rows])
        if st.loss.is_quadratic:  # a constant Hessian: factor each fixed block once
            factor = st.cached(None if key is None else ("forest", key),
                               lambda: st.loss.forest_factor(rows, l2))
        else:
            factor = st.loss.forest_factor(rows, l2)
        D = tree_solve(None, rhs, st.kernels, factor)
        if not st.loss.is_quadratic:
            D = _armijo(st, rows, D)
        return D


def tree_solve(H, rhs, kernels, factor=None):
    """Solve ``H x = rhs`` for a symmetric positive definite ``H`` whose graph is a forest,
    in O(size) operations (elimination from the leaves up, substitution from the roots).

    ``factor`` (from :func:`tree_factor`) skips the elimination.

    Raises
    ------
    ValueError
        If the graph of ``H`` has a cycle (the block is not a forest) or a pivot is not
        positive.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from sparserec.bcd import _kernels
    >>> from sparserec.bcd.updates import tree_solve
    >>> H = sp.diags([[-1.0] * 3, [3.0] * 4, [-1.0] * 3], [-1, 0, 1]).tocsr()  # a path
    >>> x = tree_solve(H, np.ones((4, 1)), _kernels.get("numpy"))
    >>> bool(np.allclose(H @ x, 1.0))
    True
    """
    if factor is None:
        H = sp.csr_matrix(H)
        H.sum_duplicates()
        factor = tree_factor(H, np.arange(H.shape[0]), kernels)
    return kernels.tree_substitute(*factor, np.ascontiguousarray(rhs, dtype=float))


def tree_factor(A, nodes, kernels, local=None):
    """Elimination structure of ``A[nodes][:, nodes]`` (a forest) for :func:`tree_solve`."""
    local = -np.ones(A.shape[0], dtype=np.int64) if local is None else local
    *factor, ok = kernels.tree_factor(A.indptr, A.indices, A.data,
                                      np.asarray(nodes, dtype=np.int64), local)
    if not ok:
        raise _forest_error()
    return factor


def _forest_error():
    return ValueError("the block is not a forest of the dependency graph (or its matrix is "
                      "not positive definite): message passing needs partition='tree', "
                      "'forest' or 'red-black'")


def _model_step(st, rows, M):
    """argmin_d ⟨G, d⟩ + ½ dᵀ M d + pen(W + d) on the rows of a block."""
    W, G = st.W[rows], st.block_gradient(rows)
    b, m = W.shape
    shared = M.shape[0] == b and m > 1  # the same (b × b) matrix acts on each column
    if st.penalty.smooth:
        l2 = st.penalty.l2[rows]
        if not shared:
            l2 = np.repeat(l2, m)
        A = M + np.diag(l2)
        rhs = -(G + st.penalty.l2[rows, None] * W)
        rhs = rhs if shared else rhs.reshape(-1, 1)
        return _spd_solve(A, rhs).reshape(b, m)
    if shared:
        M = np.kron(M, np.eye(m))
    w, g = W.reshape(-1), G.reshape(-1)
    l1 = np.repeat(st.penalty.l1[rows], m)
    l2 = np.repeat(st.penalty.l2[rows], m)
    v = solve_quadratic_l1(M, M @ w - g, w.copy(), l1, l2, st.kernels,
                           tol=st.inner_tol(rows))
    return (v - w).reshape(b, m)


def _spd_solve(A, rhs):
    try:
        return sla.cho_solve(sla.cho_factor(A), rhs)
    except (np.linalg.LinAlgError, ValueError):  # singular: least-squares step
        return sla.lstsq(A, rhs, cond=1e-12)[0]


def _armijo(st, rows, D, sigma=1e-4, max_halvings=30):
    """Backtracking on ``F(W + aD) ≤ F(W) + σ a Δ``, ``Δ = ⟨g, D⟩ + pen(W+D) − pen(W)``."""
    W, G = st.W[rows], st.block_gradient(rows)
    pen = st.penalty
    p0 = pen.value(W, rows)
    delta = float(np.sum(G * D)) + pen.value(W + D, rows) - p0
    if delta >= 0:
        return np.zeros_like(D)
    change = st.loss.line(rows, D)
    a = 1.0
    for _ in range(max_halvings):
        if change(a) + pen.value(W + a * D, rows) - p0 <= sigma * a * delta:
            return a * D
        a *= 0.5
    return np.zeros_like(D)


def solve_quadratic_l1(H, c, w, l1, l2, kernels, tol=1e-10, max_sweeps=500):
    """Minimise ``½ wᵀHw − cᵀw + Σ l1_i|w_i| + ½ Σ l2_i w_i²`` (``H`` positive semidefinite).

    Coordinate descent until the signs settle, then a Newton step on the active set
    (``w_A = (H_AA + diag l2_A)⁻¹ (c_A − l1_A sign w_A)``), kept when it preserves the
    signs and satisfies the optimality conditions of the zeros: once the active set is
    identified this ends in one step (finite termination on the active manifold).

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.bcd import _kernels
    >>> from sparserec.bcd.updates import solve_quadratic_l1
    >>> H = np.array([[2.0, 0.5], [0.5, 1.0]]); c = np.array([3.0, 0.1])
    >>> w = solve_quadratic_l1(H, c, np.zeros(2), np.full(2, 0.5), np.zeros(2),
    ...                        _kernels.get("numpy"))
    >>> np.round(w, 4).tolist()  # optimality: H w − c = (−0.5, 0.5) = −l1 · sign(w)
    [1.2571, -0.0286]
    """
    H = np.ascontiguousarray(H, dtype=float)
    c = np.asarray(c, dtype=float)
    w = np.ascontiguousarray(w, dtype=float)
    sweeps = 0
    while sweeps < max_sweeps:
        status, done, _ = kernels.quadratic_l1_cd(H, c, w, l1, l2, max_sweeps - sweeps,
                                                  tol, 2)
        sweeps += done
        if status != 1:
            break
        A = np.flatnonzero((w != 0) | (l1 == 0))  # unpenalised coordinates are always free
        if A.size == 0:
            continue
        s = np.sign(w[A])
        try:
            wA = sla.cho_solve(sla.cho_factor(H[np.ix_(A, A)] + np.diag(l2[A])),
                               c[A] - l1[A] * s)
        except (np.linalg.LinAlgError, ValueError):
            continue
        flip = (np.sign(wA) != s) & (l1[A] > 0)
        if not flip.any():
            trial = np.zeros_like(w)
            trial[A] = wA
            g = H @ trial - c + l2 * trial
            zero = np.ones(w.size, dtype=bool)
            zero[A] = False
            if np.all(np.abs(g[zero]) <= l1[zero] + tol):
                return trial
            w[A] = wA  # the minimiser on this orthant face: better, go on with CD
            continue
        # move towards the face's minimiser until the first sign change (an active-set
        # step: the objective is a convex quadratic on the face, so it decreases)
        t = w[A][flip] / (w[A][flip] - wA[flip])
        k = int(np.argmin(t))
        w[A] += t[k] * (wA - w[A])
        w[A[np.flatnonzero(flip)[k]]] = 0.0
    return w


UPDATES = {
    "gradient": Gradient,
    "backtracking": Backtracking,
    "matrix": Matrix,
    "newton": Newton,
    "message-passing": MessagePassing,
}


def make_update(name: str, state) -> Update:
    """Instantiate the update called ``name`` (a key of :data:`UPDATES`)."""
    return UPDATES[name](state)
