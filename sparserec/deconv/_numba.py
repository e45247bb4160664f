"""numba kernels of the deconvolution family (imported only when the numba backend runs;
:func:`sparserec.deconv._kernels.get` hands them out with their NumPy/CuPy twins).

The starlet smoothing is a sparse 1-D matrix (five taps plus the mirror-boundary folds)
applied along one image axis; the same kernels apply it or its transpose, given the
matrix in CSR form. The solver updates are fused element-wise loops. Reductions are
written per row and summed in a fixed order, so results do not depend on the threads.
"""

from __future__ import annotations

from numba import njit, prange

from ..utils.threads import configure_numba_threading

configure_numba_threading()  # a fork-safe threading layer before any parallel kernel runs


@njit(parallel=True, cache=True)
def csr_axis0(indptr, indices, data, x, out):
    """``out = A @ x`` (A acts on the rows of the image ``x``)."""
    n0, n1 = out.shape
    for i in prange(n0):
        start, stop = indptr[i], indptr[i + 1]
        r, v = indices[start], data[start]
        for c in range(n1):
            out[i, c] = v * x[r, c]
        for e in range(start + 1, stop):
            r, v = indices[e], data[e]
            for c in range(n1):
                out[i, c] += v * x[r, c]


@njit(cache=True, inline="always")
def _csr_row_dot(indptr, indices, data, x, i, p):
    start, stop = indptr[p], indptr[p + 1]
    acc = data[start] * x[i, indices[start]]
    for e in range(start + 1, stop):
        acc += data[e] * x[i, indices[e]]
    return acc


@njit(parallel=True, cache=True)
def csr_axis1(indptr, indices, data, taps, step, x, out):
    """``out = x @ A.T`` (A acts along each row of the image ``x``).

    Away from the edges ``A`` is the five-tap stencil ``taps`` with holes ``step``,
    applied directly on five shifted views of the row (unit-stride loads from index 0,
    which the compiler vectorises); its CSR rows serve the edge columns.
    """
    n0, n1 = out.shape
    lo = min(2 * step, n1)
    hi = max(n1 - 2 * step, lo)
    m = hi - lo
    t0, t1, t2, t3, t4 = taps[0], taps[1], taps[2], taps[3], taps[4]
    for i in prange(n0):
        for p in range(lo):
            out[i, p] = _csr_row_dot(indptr, indices, data, x, i, p)
        a, b, c = x[i, 0:m], x[i, step:step + m], x[i, 2 * step:2 * step + m]
        d, e = x[i, 3 * step:3 * step + m], x[i, 4 * step:4 * step + m]
        o = out[i, lo:hi]
        for q in range(m):
            o[q] = t0 * a[q] + t1 * b[q] + t2 * c[q] + t3 * d[q] + t4 * e[q]
        for p in range(hi, n1):
            out[i, p] = _csr_row_dot(indptr, indices, data, x, i, p)


@njit(parallel=True, cache=True)
def subtract_into(a, b):
    """``a -= b`` for images."""
    n0, n1 = a.shape
    for i in prange(n0):
        for c in range(n1):
            a[i, c] -= b[i, c]


@njit(parallel=True, cache=True)
def horner_step(w, b, t):
    """``t = b - w`` (first half of one step of the starlet adjoint)."""
    n0, n1 = w.shape
    for i in prange(n0):
        for c in range(n1):
            t[i, c] = b[i, c] - w[i, c]


@njit(parallel=True, cache=True)
def add_into(a, b, out):
    """``out = a + b`` for images."""
    n0, n1 = a.shape
    for i in prange(n0):
        for c in range(n1):
            out[i, c] = a[i, c] + b[i, c]


@njit(parallel=True, cache=True, fastmath=True)
def blend(a, b, weight, out):
    """``out = a + weight (b - a)`` on flat arrays."""
    for i in prange(out.size):
        out[i] = a[i] + weight * (b[i] - a[i])


@njit(parallel=True, cache=True, fastmath=True)
def primal_step(x, grad, phit_u, eta, positivity, out, x_ag, weight, partial):
    """Accelerated primal–dual primal update.

    ``out = P(x - eta (grad + phit_u))`` with ``P`` the projection on ``x >= 0`` when
    ``positivity``; ``x_ag += weight (out - x_ag)`` in place; ``partial[i] = (Σ (out -
    x)², Σ out²)`` over row ``i``. Row views and ``fastmath`` (the inputs are finite)
    let the row loops vectorise.
    """
    n0, n1 = x.shape
    for i in prange(n0):
        xr, gr, pr, orow, ar = x[i], grad[i], phit_u[i], out[i], x_ag[i]
        dx2 = 0.0
        xx2 = 0.0
        for c in range(n1):
            old = xr[c]
            new = old - eta * (gr[c] + pr[c])
            if positivity:
                new = max(new, 0)
            orow[c] = new
            ar[c] += weight * (new - ar[c])
            dx2 += (new - old) * (new - old)
            xx2 += new * new
        partial[i, 0] = dx2
        partial[i, 1] = xx2


@njit(parallel=True, cache=True, fastmath=True)
def dual_step(u, w, w_prev, w_ag, lam, tau, theta, weight, partial):
    """Accelerated primal–dual dual update on the detail planes, in place.

    ``u = clip(u + tau ((1 + theta) w - theta w_prev), -lam, lam)`` (the prox of the
    conjugate of the weighted l1 norm, Moreau, at the extrapolated point) and
    ``partial[j, i] = Σ lam |w_ag + weight (w - w_ag)|`` over row ``i`` of plane ``j``.
    """
    n_planes, n0, n1 = u.shape
    for k in prange(n_planes * n0):
        j = k // n0
        i = k - j * n0
        ur, zr, pr, ar, lr = u[j, i], w[j, i], w_prev[j, i], w_ag[j, i], lam[j, i]
        acc = 0.0
        for c in range(n1):
            lim = lr[c]
            ur[c] = min(max(ur[c] + tau * ((1 + theta) * zr[c] - theta * pr[c]), -lim), lim)
            acc += lim * abs(ar[c] + weight * (zr[c] - ar[c]))
        partial[j, i] = acc


@njit(parallel=True, cache=True)
def fista_step(alpha, grad, step, lam, momentum, prev, partial):
    """FISTA proximal-gradient step on synthesis coefficients, in place.

    ``alpha`` holds the extrapolated point on entry. ``new = soft(alpha - step grad,
    step lam)``; ``alpha = new + momentum (new - prev)`` where ``prev`` holds the previous
    prox point on entry and ``new`` on exit; ``partial[k] = (Σ (new - prev)², Σ new²,
    Σ lam |alpha_in|)`` over row ``k``.
    """
    n_rows, n1 = alpha.shape
    for k in prange(n_rows):
        dx2 = 0.0
        xx2 = 0.0
        l1 = 0.0
        for c in range(n1):
            a = alpha[k, c]
            l1 += lam[k, c] * abs(a)
            v = a - step * grad[k, c]
            t = step * lam[k, c]
            if v > t:
                v = v - t
            elif v < -t:
                v = v + t
            else:
                v = v * 0
            old = prev[k, c]
            dx2 += (v - old) * (v - old)
            xx2 += v * v
            prev[k, c] = v
            alpha[k, c] = v + momentum * (v - old)
        partial[k, 0] = dx2
        partial[k, 1] = xx2
        partial[k, 2] = l1


@njit(inline="always")
def _haar_analysis_stretch(r, q, start, stop, shift, ll, hl, lh, hh):
    for j in range(start, stop):
        a, b, d, e = r[j], r[j + shift], q[j], q[j + shift]
        s1, s2, t1, t2 = a + b, d + e, a - b, d - e
        ll[j] = 0.25 * (s1 + s2)
        hl[j] = 0.25 * (s1 - s2)
        lh[j] = 0.25 * (t1 + t2)
        hh[j] = 0.25 * (t1 - t2)


@njit(parallel=True, cache=True)
def haar_analysis_level(c, lag, ll, hh, hl, lh):
    """One level of the stationary Haar frame (periodic), fused over both axes.

    With ``a, b, d, e = c[i, j], c[i, j+s], c[i+s, j], c[i+s, j+s]`` (indices modulo the
    shape): ``ll = (a+b+d+e)/4``, ``hl = (a+b-d-e)/4``, ``lh = (a-b+d-e)/4``,
    ``hh = (a-b-d+e)/4`` — the four products of the filters ``(δ₀ ± δ_s)/2`` per axis.
    The columns run in two stretches, before and after the wrap, so that neither loop
    branches (and both vectorise: twice as fast as one loop with the wrap inside). No
    ``fastmath`` here or in the synthesis: it let the vectorised body round otherwise
    than the peeled ends, whose extent depends on the arrays' addresses.
    """
    n0, n1 = c.shape
    k0, k1 = lag % n0, lag % n1
    for i in prange(n0):
        i2 = i + k0
        if i2 >= n0:
            i2 -= n0
        _haar_analysis_stretch(c[i], c[i2], 0, n1 - k1, k1, ll[i], hl[i], lh[i], hh[i])
        _haar_analysis_stretch(c[i], c[i2], n1 - k1, n1, k1 - n1, ll[i], hl[i], lh[i],
                               hh[i])


@njit(inline="always")
def _haar_synthesis_stretch(rows, start, stop, shift, o):
    a, b, c, d, e, f, g, h = rows
    for j in range(start, stop):
        m = j + shift
        o[j] = 0.25 * (o[j] + (a[m] + b[m] - c[m] - d[m]) + (e[m] - f[m] - g[m] + h[m]))


@njit(parallel=True, cache=True)
def haar_synthesis_level(ll, hh, hl, lh, lag, out):
    """The adjoint of :func:`haar_analysis_level`: each coefficient at ``p`` returns to
    ``c`` at ``p``, ``p + (0, s)``, ``p + (s, 0)`` and ``p + (s, s)`` with the signs of
    its filter pair (gathered here, so the rows run in parallel; the shifted columns in
    two stretches without a branch, as in the analysis)."""
    n0, n1 = ll.shape
    k0, k1 = lag % n0, lag % n1
    for i in prange(n0):
        i0 = i - k0
        if i0 < 0:
            i0 += n0
        rows = (ll[i], hl[i], lh[i], hh[i], ll[i0], hl[i0], lh[i0], hh[i0])
        a, b, c, d, e, f, g, h = rows
        o = out[i]
        for j in range(n1):  # the coefficients at p and p - (s, 0)
            o[j] = (a[j] + b[j] + c[j] + d[j]) + (e[j] - f[j] + g[j] - h[j])
        _haar_synthesis_stretch(rows, 0, k1, n1 - k1, o)  # at p - (0, s) and p - (s, s)
        _haar_synthesis_stretch(rows, k1, n1, -k1, o)
