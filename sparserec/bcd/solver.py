"""The block coordinate descent loop: a partition, a selection rule and an update rule.

:func:`bcd` runs ``x ← x + D`` on one block per iteration and is what the estimators
call. The smooth loss keeps its state (residual, linear predictor or gradient) up to date
in O(nnz of the changed columns); the full gradient is formed only when a greedy rule
or the stopping test asks for it (one pass over the data), and reused by both.

Stopping: the duality gap (scikit-learn's definition for least squares, the Fenchel gap
for logistic losses) below ``tol`` times the loss's scale, or, without a gap, the largest
entry of the (sub)gradient below ``tol`` times its value at the start. Greedy rules test
every iteration (they have the gradient anyway); the others once per epoch.

With an L1 penalty and an update other than Newton, once the active set (non-zero rows)
has not changed for an epoch, a proximal Newton step on the active set is taken (and
again after each further epoch; active sets of at most ``MAX_MANIFOLD`` rows): on the
active manifold the problem is smooth and the Newton steps converge superlinearly (paper,
section 6).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .blocks import make_partition
from .rules import make_rule
from .updates import Newton, make_update

__all__ = ["BCDResult", "State", "bcd"]

MAX_MANIFOLD = 2000  # largest active set for the (dense) Newton step on the manifold


@dataclass
class BCDResult:
    W: np.ndarray
    n_iter: int
    converged: bool
    gap: float
    active_set: np.ndarray
    active_set_iter: int


class State:
    """What rules and updates read: the iterate, gradients (cached) and constants."""

    def __init__(self, loss, penalty, W, kernels, always_rows=()):
        self.loss = loss
        self.penalty = penalty
        self.W = W
        self.kernels = kernels
        self.n_coef = W.shape[0]
        tiny = np.finfo(float).tiny
        self.lipschitz = np.maximum(loss.lipschitz, tiny)
        self.fixed_rows = np.asarray(always_rows, dtype=np.int64)
        self.free_rows = np.setdiff1d(np.arange(self.n_coef), self.fixed_rows)
        self.penalized = (penalty.l1 > 0) | (penalty.l2 > 0)
        self._cache = {}
        self._grad = None
        self._eff = None
        loss.init(W)
        self.pen_value = penalty.value(W)

    # cached quantities --------------------------------------------------------
    def cached(self, key, compute):
        if key is None:
            return compute()
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    @property
    def diag_majorant(self):
        return self.cached("diag", lambda: np.maximum(self.loss.diag_majorant + self.penalty.l2,
                                                      np.finfo(float).tiny))

    def hessian_norm(self):
        """``λ_max`` of the Hessian bound (+ l2), by 30 power iterations (+5 % margin)."""
        def power():
            v = np.random.RandomState(0).standard_normal(self.W.shape)
            lam = 1.0
            for _ in range(30):
                u = self.loss.hessian_matvec(v) + self.penalty.l2[:, None] * v
                lam = float(np.linalg.norm(u))
                if lam == 0:
                    return 1.0
                v = u / lam
            return 1.05 * lam
        return self.cached("hessian_norm", power)

    def block_lipschitz(self, rows, key=None):
        return self.cached(("Lb", key) if key is not None else None,
                           lambda: max(self.loss.block_lipschitz(rows), np.finfo(float).tiny))

    def block_bound(self, rows):
        return self.loss.block_bound(rows)

    def gradient(self):
        if self._grad is None:
            self._grad = self.loss.gradient()
        return self._grad

    def block_gradient(self, rows):
        if self._grad is not None:
            return self._grad[rows]
        return self.loss.block_gradient(rows)

    def effective_gradient(self):
        """Minimum-norm subgradient of ``f + pen`` (``∇f + l2 w`` when smooth)."""
        if self._eff is None:
            G = self.gradient()
            if not self.penalty.smooth:
                self._eff = self.penalty.subgradient(self.W, G)
            elif np.any(self.penalty.l2):
                self._eff = G + self.penalty.l2[:, None] * self.W
            else:
                self._eff = G
        return self._eff

    def active_mask(self):
        return np.any(self.W != 0, axis=1) & self.penalized

    def inner_tol(self, rows):
        """Tolerance of an inner L1 block solve: 1 % of the block's optimality violation."""
        G = self.block_gradient(rows)
        viol = np.abs(self.penalty.subgradient(self.W[rows], G, rows)).max(initial=0.0)
        return max(1e-2 * viol, 1e-15)

    # moving -----------------------------------------------------------------
    def apply(self, rows, D):
        """``W[rows] += D``; returns whether the active set changed."""
        old = self.W[rows]
        new = old + D
        self.pen_value += self.penalty.value(new, rows) - self.penalty.value(old, rows)
        changed = bool(np.any((np.any(old != 0, axis=1) != np.any(new != 0, axis=1))
                              & self.penalized[rows]))
        self.W[rows] = new
        self.loss.apply(rows, D)
        self._grad = None
        self._eff = None
        return changed

    def objective(self):
        return self.loss.value() + self.pen_value


def bcd(loss, penalty, W0, *, rule="gsl", partition="variable", update="newton",
        block_size=None, tol=1e-4, iterations=range(100), record=None, rng=None,
        kernels=None, always_rows=()):
    """Minimise ``loss + penalty`` by block coordinate descent from ``W0`` (not modified).

    Parameters
    ----------
    loss, penalty : objects of :mod:`sparserec.bcd.losses`
    rule, partition, update : str
        Keys of :data:`~sparserec.bcd.rules.RULES`, :data:`~sparserec.bcd.blocks.PARTITIONS`
        and :data:`~sparserec.bcd.updates.UPDATES`.
    block_size : int or None
        Coordinates per block (a cap for ``"tree"``); ``None``: 10 for fixed partitions,
        a growing working set for ``"variable"`` with L1, 256 for smooth ``"variable"``.
    iterations : iterable
        One block update per item (the estimator's ``_iterations()``).
    record : callable, optional
        Called with the objective after every iteration.
    always_rows : sequence of int
        Rows added to every block (an intercept), except in forest blocks.

    Returns
    -------
    BCDResult
    """
    rng = np.random.RandomState(0) if rng is None else rng
    if partition in ("tree", "forest", "red-black"):
        always_rows = ()
    W = np.array(W0, dtype=float)
    st = State(loss, penalty, W, kernels, always_rows)
    rule_ = make_rule(rule, rng)
    if rule_.smooth_only and not penalty.smooth:
        raise ValueError(f"rule={rule!r} needs a smooth penalty (penalty='l2' or None); "
                         "use rule='gs-q' with L1")
    if block_size is None and partition not in ("variable", "tree"):
        block_size = 10
    if block_size is None and partition == "variable" and penalty.smooth:
        block_size = 256
    part = make_partition(partition, block_size)
    part.setup(st)
    upd = make_update(update, st)
    if upd.needs_forest and not penalty.smooth:
        raise ValueError("update='message-passing' needs a smooth penalty (penalty='l2' or "
                         "None); use update='newton' with L1")
    if upd.needs_forest and partition not in ("tree", "forest", "red-black"):
        raise ValueError(f"update='message-passing' needs forest blocks: partition='tree', "
                         f"'forest' or 'red-black', got partition={partition!r}")
    newton = Newton(st)
    manifold_steps = not penalty.smooth and update not in ("newton",)
    epoch = part.epoch or max(1, -(-st.n_coef // (block_size or st.n_coef)))
    check_every = 1 if rule_.greedy else epoch
    patience = max(2, epoch)

    scale = loss.gap_scale()
    threshold = None

    def measure():
        nonlocal threshold
        G = st.gradient()
        gap = loss.dual_gap(st.W, penalty, G)
        if gap is not None:
            return gap, gap <= tol * scale
        kkt = loss.kkt_norm(st.effective_gradient())
        if threshold is None:
            threshold = tol * (loss.kkt_scale() or max(kkt, np.finfo(float).tiny))
        return kkt, kkt <= threshold

    value, converged = measure()
    n_iter, settled, since_change, since_manifold = 0, 0, 0, 0
    if not converged:
        for it in iterations:
            n_iter = it + 1
            if manifold_steps and since_change >= patience and since_manifold >= patience \
                    and 0 < st.active_mask().sum() <= MAX_MANIFOLD:
                rows = np.union1d(np.flatnonzero(st.active_mask()), st.fixed_rows)
                D = newton.step(rows)
                since_manifold = 0
            else:
                rows, key = part.next_block(st, rule_)
                if st.fixed_rows.size:
                    rows = np.union1d(rows, st.fixed_rows)  # small: the intercept
                D = upd.step(rows, key=key)
                since_manifold += 1
            if np.any(D) and st.apply(rows, D):
                settled, since_change = n_iter, 0
            else:
                since_change += 1
            if record is not None:
                record(st.objective())
            if n_iter % check_every == 0:
                value, converged = measure()
                if converged:
                    break
        if not converged and n_iter % check_every:
            value, converged = measure()
    active = np.flatnonzero(st.active_mask())
    return BCDResult(W=st.W, n_iter=n_iter, converged=bool(converged), gap=float(value),
                     active_set=active, active_set_iter=settled)
