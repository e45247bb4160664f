"""Loop kernels of the BCD family, compiled with numba.

Written in the subset of Python that numba compiles; :func:`get` returns the compiled
functions for ``backend="numba"`` and the same functions uncompiled (``py_func``) for
``backend="numpy"`` (slow, used for checking). Sparse matrices enter as their CSC/CSR
arrays ``(indptr, indices, data)``; a column index equal to the number of columns of the
matrix stands for an implicit column of ones (the intercept).
"""

from __future__ import annotations

import numpy as np

try:
    from numba import njit
except ImportError:  # pragma: no cover - numpy backend without numba
    def njit(*args, **kwargs):
        def wrap(f):
            f.py_func = f
            return f
        return wrap if not args or not callable(args[0]) else wrap(args[0])


@njit(cache=True)
def csc_cols_matvec(indptr, indices, data, n_cols, cols, D, out):
    """``out += X[:, cols] @ D`` for a CSC ``X`` (``out`` is (n, m), ``D`` is (len(cols), m))."""
    m = D.shape[1]
    for t in range(cols.size):
        j = cols[t]
        if j == n_cols:
            for i in range(out.shape[0]):
                for k in range(m):
                    out[i, k] += D[t, k]
            continue
        for q in range(indptr[j], indptr[j + 1]):
            i = indices[q]
            v = data[q]
            for k in range(m):
                out[i, k] += v * D[t, k]


@njit(cache=True, fastmath=True)
def csc_cols_rmatvec(indptr, indices, data, n_cols, cols, R, out):
    """``out = X[:, cols].T @ R`` for a CSC ``X``; cost O(nnz of those columns)."""
    m = R.shape[1]
    if m == 1:  # one sparse dot product per column
        for t in range(cols.size):
            j = cols[t]
            acc = 0.0
            if j == n_cols:
                for i in range(R.shape[0]):
                    acc += R[i, 0]
            else:
                for q in range(indptr[j], indptr[j + 1]):
                    acc += data[q] * R[indices[q], 0]
            out[t, 0] = acc
        return
    for t in range(cols.size):
        j = cols[t]
        for k in range(m):
            out[t, k] = 0.0
        if j == n_cols:
            for i in range(R.shape[0]):
                for k in range(m):
                    out[t, k] += R[i, k]
            continue
        for q in range(indptr[j], indptr[j + 1]):
            i = indices[q]
            v = data[q]
            for k in range(m):
                out[t, k] += v * R[i, k]


@njit(cache=True)
def csc_residual_update(indptr, indices, data, cols, delta, r):
    """``r -= X[:, cols] @ delta`` (1-D), returning the changes of ``sum(r)`` and ``r @ r``.

    Cost O(nnz of the columns): the squared norm is updated over the touched rows only.
    """
    d_sum = 0.0
    d_sq = 0.0
    for t in range(cols.size):
        j = cols[t]
        a = delta[t]
        if a == 0.0:
            continue
        for q in range(indptr[j], indptr[j + 1]):
            i = indices[q]
            old = r[i]
            new = old - data[q] * a
            r[i] = new
            d_sum += new - old
            d_sq += new * new - old * old
    return d_sum, d_sq


@njit(cache=True)
def quadratic_l1_cd(H, c, w, l1, l2, max_sweeps, tol, stable_sweeps):
    """Coordinate descent on ``½ wᵀHw − cᵀw + Σ l1_j |w_j| + ½ Σ l2_j w_j²`` (in place).

    Keeps ``q = H w`` up to date (O(len(w)) per coordinate). Stops when the largest
    optimality violation is ``<= tol`` (returns status 0), when the sign pattern has not
    changed for ``stable_sweeps`` sweeps (status 1: the caller may try a Newton step on the
    active set), or after ``max_sweeps`` (status 2). Returns ``(status, sweeps, violation)``.
    """
    n = w.size
    q = H @ w
    unchanged = 0
    viol = np.inf
    for sweep in range(max_sweeps):
        changed = False
        for j in range(n):
            hjj = H[j, j] + l2[j]
            if hjj <= 0.0:
                continue
            old = w[j]
            z = hjj * old - (q[j] + l2[j] * old - c[j])
            if z > l1[j]:
                new = (z - l1[j]) / hjj
            elif z < -l1[j]:
                new = (z + l1[j]) / hjj
            else:
                new = 0.0
            if new != old:
                if (new == 0.0) != (old == 0.0) or (new > 0.0) != (old > 0.0):
                    changed = True
                diff = new - old
                w[j] = new
                for i in range(n):
                    q[i] += H[i, j] * diff
        viol = 0.0
        for j in range(n):
            g = q[j] + l2[j] * w[j] - c[j]
            if w[j] > 0.0:
                v = abs(g + l1[j])
            elif w[j] < 0.0:
                v = abs(g - l1[j])
            else:
                v = max(abs(g) - l1[j], 0.0)
            viol = max(viol, v)
        if viol <= tol:
            return 0, sweep + 1, viol
        unchanged = 0 if changed else unchanged + 1
        if unchanged >= stable_sweeps:
            return 1, sweep + 1, viol
    return 2, max_sweeps, viol


@njit(cache=True)
def _find(parent, i):
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:  # path compression
        nxt = parent[i]
        parent[i] = root
        i = nxt
    return root


@njit(cache=True)
def grow_forest(indptr, indices, order, max_size):
    """Greedily add nodes, in ``order``, to a set that induces a forest in the graph.

    A node joins when its neighbours already in the set lie in pairwise different trees
    (so no cycle is closed); union–find keeps the trees. Cost O(nnz) up to the inverse
    Ackermann factor. Returns the chosen nodes in the order they were added.
    """
    n = indptr.size - 1
    parent = np.arange(n)
    inside = np.zeros(n, dtype=np.bool_)
    chosen = np.empty(min(order.size, max_size), dtype=np.int64)
    roots = np.empty(n, dtype=np.int64)
    count = 0
    for t in range(order.size):
        if count >= max_size:
            break
        v = order[t]
        n_roots = 0
        ok = True
        for q in range(indptr[v], indptr[v + 1]):
            u = indices[q]
            if u == v or not inside[u]:
                continue
            ru = _find(parent, u)
            for s in range(n_roots):
                if roots[s] == ru:
                    ok = False
                    break
            if not ok:
                break
            roots[n_roots] = ru
            n_roots += 1
        if not ok:
            continue
        inside[v] = True
        for s in range(n_roots):
            parent[roots[s]] = v
        chosen[count] = v
        count += 1
    return chosen[:count]


@njit(cache=True)
def greedy_coloring(indptr, indices, order):
    """Greedy graph colouring in ``order``: each node takes the smallest colour unused
    by its neighbours. Returns one colour per node (independent sets = diagonal blocks)."""
    n = indptr.size - 1
    color = -np.ones(n, dtype=np.int64)
    mark = -np.ones(n + 1, dtype=np.int64)
    for t in range(order.size):
        v = order[t]
        for q in range(indptr[v], indptr[v + 1]):
            u = indices[q]
            if u != v and color[u] >= 0:
                mark[color[u]] = v
        c = 0
        while mark[c] == v:
            c += 1
        color[v] = c
    return color


@njit(cache=True)
def tree_factor(indptr, indices, data, nodes, local):
    """Gaussian elimination of ``A[nodes][:, nodes]`` along its forest, for
    :func:`tree_substitute`.

    ``A`` is a symmetric CSR matrix; ``local`` is an int64 work array of length ``n``
    filled with -1 (restored on exit). A breadth-first search orders each tree from its
    root; eliminating the leaves into their parents (the "messages") gives the pivots.
    Cost O(nnz of the block's rows). Returns ``(order, parent, w_up, pivots, ok)``;
    ``ok`` is False when the block has a cycle or a non-positive pivot.
    """
    b = nodes.size
    for t in range(b):
        local[nodes[t]] = t
    piv = np.zeros(b)
    parent = -np.ones(b, dtype=np.int64)
    w_up = np.zeros(b)  # A[t, parent[t]]
    visited = np.zeros(b, dtype=np.bool_)
    order = np.empty(b, dtype=np.int64)
    n_edges = 0
    for t in range(b):
        v = nodes[t]
        for q in range(indptr[v], indptr[v + 1]):
            s = local[indices[q]]
            if s == t:
                piv[t] += data[q]
            elif s >= 0:
                n_edges += 1
    head = 0
    tail = 0
    n_trees = 0
    for start in range(b):
        if visited[start]:
            continue
        n_trees += 1
        visited[start] = True
        order[tail] = start
        tail += 1
        while head < tail:
            t = order[head]
            head += 1
            v = nodes[t]
            for q in range(indptr[v], indptr[v + 1]):
                s = local[indices[q]]
                if s < 0 or s == t or visited[s]:
                    continue
                visited[s] = True
                parent[s] = t
                w_up[s] = data[q]
                order[tail] = s
                tail += 1
    for t in range(b):
        local[nodes[t]] = -1
    if n_edges != 2 * (b - n_trees):  # each undirected edge is stored twice
        return order, parent, w_up, piv, False
    for h in range(b - 1, -1, -1):  # leaves first
        t = order[h]
        if piv[t] <= 0.0:
            return order, parent, w_up, piv, False
        if parent[t] >= 0:
            piv[parent[t]] -= w_up[t] * w_up[t] / piv[t]
    return order, parent, w_up, piv, True


@njit(cache=True)
def tree_substitute(order, parent, w_up, piv, rhs):
    """Solve with a :func:`tree_factor`: messages from the leaves up, values from the
    roots down. O(size × columns)."""
    x = rhs.copy()
    m = x.shape[1]
    b = order.size
    for h in range(b - 1, -1, -1):
        t = order[h]
        p = parent[t]
        if p >= 0:
            f = w_up[t] / piv[t]
            for k in range(m):
                x[p, k] -= f * x[t, k]
    for h in range(b):
        t = order[h]
        p = parent[t]
        for k in range(m):
            if p >= 0:
                x[t, k] = (x[t, k] - w_up[t] * x[p, k]) / piv[t]
            else:
                x[t, k] = x[t, k] / piv[t]
    return x


# ----------------------------------------------------------------- coordinate descent
# Elastic-net least squares  ½‖r‖² + l1 Σ|w_j| + ½ l2 ‖w‖²  with r = y − X_c w, in "n units"
# (the objective times n). Sparse X_c = X − s x̄ᵀ is never formed: the residual is kept as
# r = r̃ + c·s, with T = sᵀr̃ carried along; x_jᵀ r = Σ_nnz x_ij r̃_i − x̄_j T and
# cs_j = sᵀx_j (:mod:`sparserec.bcd.cd` derives it).


@njit(cache=True, fastmath=True)
def cd_epoch_dense(X, r, w, ws, sq, l1, l2, positive):
    """One coordinate-descent pass over ``ws`` (dense, Fortran-ordered ``X``; ``r`` updated
    in place). Cost O(n) per coordinate. Returns the largest ``|Δw_j| (sq_j + l2)``."""
    n = X.shape[0]
    worst = 0.0
    for t in range(ws.size):
        j = ws[t]
        h = sq[j] + l2
        if h <= 0.0:
            continue
        old = w[j]
        g = 0.0
        for i in range(n):
            g += X[i, j] * r[i]
        z = sq[j] * old + g
        if z > l1:
            new = (z - l1) / h
        elif z < -l1 and not positive:
            new = (z + l1) / h
        else:
            new = 0.0
        if new != old:
            d = new - old
            for i in range(n):
                r[i] -= X[i, j] * d
            w[j] = new
            worst = max(worst, abs(d) * h)
    return worst


@njit(cache=True, fastmath=True)
def cd_epoch_sparse(indptr, indices, data, xm, cs, r, w, ws, sq, l1, l2, positive, state):
    """:func:`cd_epoch_dense` for a CSC ``X``, centred implicitly; ``state = [T, c]``.
    Cost O(nnz of the column) per coordinate."""
    T = state[0]
    c = state[1]
    worst = 0.0
    for t in range(ws.size):
        j = ws[t]
        h = sq[j] + l2
        if h <= 0.0:
            continue
        old = w[j]
        g = -xm[j] * T
        for q in range(indptr[j], indptr[j + 1]):
            g += data[q] * r[indices[q]]
        z = sq[j] * old + g
        if z > l1:
            new = (z - l1) / h
        elif z < -l1 and not positive:
            new = (z + l1) / h
        else:
            new = 0.0
        if new != old:
            d = new - old
            for q in range(indptr[j], indptr[j + 1]):
                r[indices[q]] -= data[q] * d
            T -= cs[j] * d
            c += xm[j] * d
            w[j] = new
            worst = max(worst, abs(d) * h)
    state[0] = T
    state[1] = c
    return worst


@njit(cache=True)
def _group_step(W, j, g, sq, l1, l2, m):
    """Block soft-thresholding of row ``j``; returns the step ``D`` (length ``m``)."""
    h = sq[j] + l2
    nz = 0.0
    for k in range(m):
        g[k] += sq[j] * W[j, k]
        nz += g[k] * g[k]
    nz = np.sqrt(nz)
    shrink = max(1.0 - l1 / nz, 0.0) / h if nz > 0.0 else 0.0
    for k in range(m):
        g[k] = g[k] * shrink - W[j, k]
    return g


@njit(cache=True, fastmath=True)
def cd_epoch_dense_group(X, R, W, ws, sq, l1, l2):
    """:func:`cd_epoch_dense` for multi-task targets ``R`` (n, m) with the row-group
    penalty ``l1 Σ_j ‖W_j‖₂`` (MultiTaskElasticNet)."""
    n, m = R.shape
    worst = 0.0
    g = np.empty(m)
    for t in range(ws.size):
        j = ws[t]
        if sq[j] + l2 <= 0.0:
            continue
        g[:] = 0.0
        for i in range(n):
            x = X[i, j]
            for k in range(m):
                g[k] += x * R[i, k]
        D = _group_step(W, j, g, sq, l1, l2, m)
        dn = 0.0
        for k in range(m):
            dn = max(dn, abs(D[k]))
        if dn == 0.0:
            continue
        for i in range(n):
            x = X[i, j]
            for k in range(m):
                R[i, k] -= x * D[k]
        for k in range(m):
            W[j, k] += D[k]
        worst = max(worst, dn * (sq[j] + l2))
    return worst


@njit(cache=True, fastmath=True)
def cd_epoch_sparse_group(indptr, indices, data, xm, cs, R, W, ws, sq, l1, l2, T, c):
    """:func:`cd_epoch_dense_group` for a CSC ``X`` (``T``, ``c``: one per target)."""
    m = R.shape[1]
    worst = 0.0
    g = np.empty(m)
    for t in range(ws.size):
        j = ws[t]
        if sq[j] + l2 <= 0.0:
            continue
        for k in range(m):
            g[k] = -xm[j] * T[k]
        for q in range(indptr[j], indptr[j + 1]):
            i = indices[q]
            for k in range(m):
                g[k] += data[q] * R[i, k]
        D = _group_step(W, j, g, sq, l1, l2, m)
        dn = 0.0
        for k in range(m):
            dn = max(dn, abs(D[k]))
        if dn == 0.0:
            continue
        for q in range(indptr[j], indptr[j + 1]):
            i = indices[q]
            for k in range(m):
                R[i, k] -= data[q] * D[k]
        for k in range(m):
            T[k] -= cs[j] * D[k]
            c[k] += xm[j] * D[k]
            W[j, k] += D[k]
        worst = max(worst, dn * (sq[j] + l2))
    return worst


@njit(cache=True)
def cd_epochs_group(sparse, X, indptr, indices, data, xm, cs, R, W, ws, sq, l1, l2, T, c,
                    tol, hist):
    """Up to ``hist.shape[0]`` epochs of :func:`cd_epoch_dense_group` /
    :func:`cd_epoch_sparse_group` on ``ws``, storing ``W[ws]`` after each in ``hist``;
    stops once an epoch's largest step is ``<= tol``. Returns ``(epochs, largest step)``:
    one call per Anderson period instead of one per epoch."""
    m = R.shape[1]
    worst = np.inf
    for e in range(hist.shape[0]):
        if sparse:
            worst = cd_epoch_sparse_group(indptr, indices, data, xm, cs, R, W, ws, sq, l1, l2,
                                          T, c)
        else:
            worst = cd_epoch_dense_group(X, R, W, ws, sq, l1, l2)
        for t in range(ws.size):
            for k in range(m):
                hist[e, t * m + k] = W[ws[t], k]
        if worst <= tol:
            return e + 1, worst
    return hist.shape[0], worst


@njit(cache=True, fastmath=True)
def cd_epochs_gram(H, q, w, sq, l1, l2, positive, tol, hist):
    """Coordinate descent on a working set through its Gram matrix ``H = X_wsᵀ X_ws``:
    ``q = X_wsᵀ r`` is kept up to date in O(|ws|) per moved coordinate, so an epoch costs
    O(|ws|²) whatever ``n`` (the covariance updates of Friedman et al. 2010). Epochs,
    storage and stopping as :func:`cd_epochs_group`."""
    b = w.size
    worst = np.inf
    for e in range(hist.shape[0]):
        worst = 0.0
        for j in range(b):
            h = sq[j] + l2
            if h <= 0.0:
                continue
            old = w[j]
            z = sq[j] * old + q[j]
            if z > l1:
                new = (z - l1) / h
            elif z < -l1 and not positive:
                new = (z + l1) / h
            else:
                new = 0.0
            if new != old:
                d = new - old
                for i in range(b):
                    q[i] -= H[j, i] * d  # H symmetric: row j is contiguous
                w[j] = new
                worst = max(worst, abs(d) * h)
        for j in range(b):
            hist[e, j] = w[j]
        if worst <= tol:
            return e + 1, worst
    return hist.shape[0], worst


@njit(cache=True)
def cd_gram_solve(H, q, w, sq, l1, l2, positive, tol, max_epochs, K):
    """:func:`cd_epochs_gram` until an epoch's largest step is ``<= tol`` or
    ``max_epochs``, with Anderson extrapolation of the last ``K + 1`` iterates every ``K``
    epochs (accepted when the objective decreases; Bertrand & Massias 2021), all compiled.
    ``q`` and ``w`` are updated in place. Returns the epochs done."""
    b = w.size
    A = np.empty((K + 1, b))
    A[0, :] = w
    hist = np.empty((K, b))
    U = np.empty((K, b))
    epochs = 0
    while epochs < max_epochs:
        n_run = min(K, max_epochs - epochs)
        done, worst = cd_epochs_gram(H, q, w, sq, l1, l2, positive, tol, hist[:n_run])
        epochs += done
        if worst <= tol or done < K:
            break
        A[1:, :] = hist
        extra, ok = _anderson_point(A, U, positive)
        if ok:
            D = extra - w
            HD = H @ D
            change = -(D @ q) + 0.5 * (D @ HD) \
                + l1 * (np.abs(extra).sum() - np.abs(w).sum()) \
                + 0.5 * l2 * (extra @ extra - w @ w)
            if change < 0.0:
                w[:] = extra
                q -= HD
        A[0, :] = w
    return epochs


@njit(cache=True)
def _anderson_point(A, U, positive):
    """Anderson extrapolation of the rows of ``A`` (``K + 1`` iterates); ``ok`` False when
    the system is degenerate."""
    K = U.shape[0]
    for k in range(K):
        U[k, :] = A[k + 1] - A[k]
    C = U @ U.T
    scale = 0.0
    for k in range(K):
        scale = max(scale, C[k, k])
    if not (scale > 0.0 and np.isfinite(scale)):
        return A[K].copy(), False
    for k in range(K):
        C[k, k] += 1e-12 * scale  # a tiny ridge keeps the solve defined
    z = np.linalg.solve(C, np.ones(K))
    total = z.sum()
    if not (np.all(np.isfinite(z)) and total != 0.0):
        return A[K].copy(), False
    extra = (z / total) @ A[1:]
    if positive:
        extra = np.maximum(extra, 0.0)
    return extra, True


@njit(cache=True)
def cd_residual_solve(sparse, X, indptr, indices, data, xm, cs, r, w, ws, sq, l1, l2,
                      positive, state, total_w, tol, max_epochs, K):
    """One target: epochs of :func:`cd_epoch_dense` / :func:`cd_epoch_sparse` on ``ws``
    until an epoch's largest step is ``<= tol`` or ``max_epochs``, with Anderson
    extrapolation every ``K`` epochs, accepted when the objective
    ``½‖r̃ + c s‖² + penalty`` decreases (``‖r̃ + c s‖² = ‖r̃‖² + 2cT + c² Σ s²``, with
    ``state = [T, c]`` and ``total_w = Σ s²``). Returns ``(epochs, last largest step)``."""
    b = ws.size
    A = np.empty((K + 1, b))
    U = np.empty((K, b))
    for t in range(b):
        A[0, t] = w[ws[t]]
    r2 = np.empty_like(r)
    epochs = 0
    worst = np.inf
    while epochs < max_epochs:
        n_run = min(K, max_epochs - epochs)
        done = 0
        for e in range(n_run):
            if sparse:
                worst = cd_epoch_sparse(indptr, indices, data, xm, cs, r, w, ws, sq, l1, l2,
                                        positive, state)
            else:
                worst = cd_epoch_dense(X, r, w, ws, sq, l1, l2, positive)
            done += 1
            for t in range(b):
                A[e + 1, t] = w[ws[t]]
            if worst <= tol:
                break
        epochs += done
        if worst <= tol or done < K:
            break
        extra, ok = _anderson_point(A, U, positive)
        if ok:
            T, c = state[0], state[1]
            T2, c2 = T, c
            r2[:] = r
            pen_old = 0.0
            pen_new = 0.0
            for t in range(b):
                j = ws[t]
                d = extra[t] - w[j]
                pen_old += l1 * abs(w[j]) + 0.5 * l2 * w[j] * w[j]
                pen_new += l1 * abs(extra[t]) + 0.5 * l2 * extra[t] * extra[t]
                if d == 0.0:
                    continue
                if sparse:
                    for q in range(indptr[j], indptr[j + 1]):
                        r2[indices[q]] -= data[q] * d
                    T2 -= cs[j] * d
                    c2 += xm[j] * d
                else:
                    for i in range(r.size):
                        r2[i] -= X[i, j] * d
            old = 0.5 * (r @ r + 2 * c * T + c * c * total_w) + pen_old
            new = 0.5 * (r2 @ r2 + 2 * c2 * T2 + c2 * c2 * total_w) + pen_new
            if new < old:
                r[:] = r2
                state[0] = T2
                state[1] = c2
                for t in range(b):
                    w[ws[t]] = extra[t]
        for t in range(b):
            A[0, t] = w[ws[t]]
    return epochs, worst


@njit(cache=True, fastmath=True)
def dense_cols_rmatvec(X, cols, R, out):
    """``out = X[:, cols].T @ R`` for a dense ``X`` (no copy of the columns)."""
    n, m = R.shape
    if m == 1:  # one dot product per column (vectorised)
        for t in range(cols.size):
            j = cols[t]
            acc = 0.0
            for i in range(n):
                acc += X[i, j] * R[i, 0]
            out[t, 0] = acc
        return
    for t in range(cols.size):
        j = cols[t]
        for k in range(m):
            out[t, k] = 0.0
        for i in range(n):
            x = X[i, j]
            for k in range(m):
                out[t, k] += x * R[i, k]


@njit(cache=True, fastmath=True)
def dense_cols_matvec(X, cols, D, out):
    """``out += X[:, cols] @ D`` for a dense ``X``."""
    n, m = out.shape
    for t in range(cols.size):
        j = cols[t]
        for i in range(n):
            x = X[i, j]
            for k in range(m):
                out[i, k] += x * D[t, k]


def get(backend: str):
    """The kernels as a namespace: compiled for ``"numba"``, interpreted otherwise."""
    from types import SimpleNamespace

    names = ("csc_cols_matvec", "csc_cols_rmatvec", "csc_residual_update", "quadratic_l1_cd",
             "grow_forest", "greedy_coloring", "tree_factor", "tree_substitute",
             "cd_epoch_dense", "cd_epoch_sparse", "cd_epoch_dense_group",
             "cd_epoch_sparse_group", "cd_epochs_group", "cd_epochs_gram", "cd_gram_solve",
             "cd_residual_solve", "dense_cols_rmatvec",
             "dense_cols_matvec")
    funcs = {name: globals()[name] for name in names}
    if backend != "numba":
        funcs = {name: f.py_func for name, f in funcs.items()}
    return SimpleNamespace(**funcs)
