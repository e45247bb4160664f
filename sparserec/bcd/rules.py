"""Block selection rules (Nutini, Laradji & Schmidt, arXiv 1712.08859, section 3).

A rule answers three questions, one per kind of partition (:mod:`.blocks`):

* ``choose_block(state, blocks)`` — which block of a fixed partition to update;
* ``choose_rows(state, tau)`` — which ``tau`` coordinates form a variable block;
* ``order(state)`` — in which order a forest block is grown (``partition="tree"``).

Greedy rules score with the current gradient ``g`` (for a non-smooth penalty, with the
minimum-norm subgradient ``ĝ`` of ``f + pen``); their variable blocks are the ``tau`` best
coordinates and their fixed blocks the best-scoring block:

======  ============================================  =====================================
rule    block score                                   coordinate score (variable blocks)
======  ============================================  =====================================
gs      ``‖ĝ_b‖``                                     ``‖ĝ_i‖``
gsl     ``‖ĝ_b‖ / √L_b``                              ``‖ĝ_i‖ / √L_i``
gsd     ``‖ĝ_b‖_{D_b⁻¹}``, ``D_b`` diagonal ≽ ``M_b``  ``‖ĝ_i‖ / √d_i``
gsq     ``√(ĝ_bᵀ M_b⁻¹ ĝ_b)`` (smooth problems)       ~10 IHT steps on the quadratic model
gs-q    decrease of the proximal model with ``L_b``   the same with ``L_i`` (any penalty)
======  ============================================  =====================================

``cyclic``, ``random`` and ``lipschitz`` (sampling ∝ ``L_b``) do not look at the gradient.
:data:`RULES` maps each name to its class.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RULES", "Rule", "make_rule"]


class Rule:
    """Base class: greedy rules implement :meth:`coordinate_scores` and :meth:`block_score`."""

    greedy = True
    smooth_only = False

    def __init__(self, rng):
        self.rng = rng
        self.counter = 0

    # greedy interface ---------------------------------------------------------
    def coordinate_scores(self, state):  # pragma: no cover - abstract
        raise NotImplementedError

    def block_score(self, state, index, rows):  # pragma: no cover - abstract
        raise NotImplementedError

    # what partitions call -----------------------------------------------------
    def choose_block(self, state, blocks):
        scores = [self.block_score(state, i, rows) for i, rows in enumerate(blocks)]
        return int(np.argmax(scores))

    def choose_rows(self, state, tau, exclude=None):
        s = self.coordinate_scores(state).copy()
        if exclude is not None:
            s[exclude] = -np.inf
        tau = min(tau, int(np.isfinite(s).sum()))
        return np.sort(np.argpartition(-s, tau - 1)[:tau]) if tau else np.empty(0, np.int64)

    def order(self, state):
        return np.argsort(-self.coordinate_scores(state), kind="stable")


def _row_norms(A):
    return np.sqrt(np.einsum("ij,ij->i", A, A))


def _norm(A):  # no BLAS call: tiny reductions must not wait for BLAS threads
    return float(np.sqrt(np.einsum("ij,ij->", A, A)))


class GS(Rule):
    """Gauss–Southwell: the largest (sub)gradient norm."""

    def coordinate_scores(self, state):
        return _row_norms(state.effective_gradient())

    def block_score(self, state, index, rows):
        return _norm(state.effective_gradient()[rows])


class GSL(Rule):
    """Gauss–Southwell–Lipschitz: the gradient norm scaled by ``1/√L``."""

    def coordinate_scores(self, state):
        return _row_norms(state.effective_gradient()) / np.sqrt(state.lipschitz)

    def block_score(self, state, index, rows):
        Lb = state.block_lipschitz(rows, key=index)
        return _norm(state.effective_gradient()[rows]) / np.sqrt(Lb)


class GSD(Rule):
    """Gauss–Southwell–Diagonal: ``‖ĝ_b‖_{D_b⁻¹}`` with ``D_b = diag(Σ_j |(M_b)_ij|)``
    (within-block Gershgorin bound, ``≽ M_b``); coordinates use the global bound ``d_i``."""

    def coordinate_scores(self, state):
        return _row_norms(state.effective_gradient()) / np.sqrt(state.diag_majorant)

    def block_score(self, state, index, rows):
        d = state.cached(("gsd", index), lambda: _gershgorin(state, rows))
        G = state.effective_gradient()[rows]
        return float(np.sqrt(np.sum(G * G / d[:, None])))


def _gershgorin(state, rows):
    M = state.block_bound(rows)
    m = state.loss.n_cols
    d = np.abs(M).sum(axis=1)
    if M.shape[0] != len(rows):  # (|b| m)-sized: take each row's largest entry
        d = d.reshape(len(rows), m).max(axis=1)
    return np.maximum(d + state.penalty.l2[rows], np.finfo(float).tiny)


class GSQ(Rule):
    """Gauss–Southwell–Quadratic: the largest decrease of the block quadratic bound,
    ``√(ĝ_bᵀ M_b⁻¹ ĝ_b)``. For variable blocks the best ``tau``-sparse step of the model is
    approximated by iterative hard thresholding (10 steps, as in the paper)."""

    smooth_only = True
    iht_steps = 10

    def block_score(self, state, index, rows):
        from scipy.linalg import cho_factor, cho_solve

        def factor():
            M = _with_l2(state, rows, state.block_bound(rows))
            return cho_factor(M + 1e-12 * np.trace(M) / len(M) * np.eye(len(M)))

        chol = state.cached(("gsq", index), factor)
        G = state.effective_gradient()[rows]
        g = G.reshape(-1) if chol[0].shape[0] != len(rows) else G
        return float(np.sqrt(max(np.sum(g * cho_solve(chol, g)), 0.0)))

    def choose_rows(self, state, tau, exclude=None):
        G = state.effective_gradient()
        l2 = state.penalty.l2[:, None]
        mu = 1.0 / state.hessian_norm()
        D = -G / state.lipschitz[:, None]
        for _ in range(self.iht_steps):
            D = _hard_threshold(D, tau, exclude)
            D = D - mu * (G + state.loss.hessian_matvec(D) + l2 * D)
        D = _hard_threshold(D, tau, exclude)
        rows = np.flatnonzero(np.any(D != 0, axis=1))
        if rows.size < tau:  # fill with the largest gradients
            rows = np.union1d(rows, GS.choose_rows(self, state, tau - rows.size, rows))
        return rows

    def coordinate_scores(self, state):  # the tree order: GSL scores
        return GSL.coordinate_scores(self, state)


def _with_l2(state, rows, M):
    m = state.loss.n_cols
    l2 = np.repeat(state.penalty.l2[rows], m if M.shape[0] != len(rows) else 1)
    return M + np.diag(l2)


def _hard_threshold(D, tau, exclude):
    s = (D * D).sum(axis=1)
    if exclude is not None:
        s[exclude] = -1.0
    keep = np.argpartition(-s, tau - 1)[:tau]
    out = np.zeros_like(D)
    out[keep] = D[keep]
    return out


class GSq(Rule):
    """Proximal Gauss–Southwell (GS-q): the largest decrease of the separable proximal
    quadratic model ``⟨g, d⟩ + (L/2)‖d‖² + pen(w + d) − pen(w)``."""

    def coordinate_scores(self, state):
        W, G = state.W, state.gradient()
        return state.penalty.model_decrease(W, G, state.lipschitz)

    def block_score(self, state, index, rows):
        Lb = state.block_lipschitz(rows, key=index)
        W, G = state.W[rows], state.gradient()[rows]
        return float(state.penalty.model_decrease(W, G, Lb, rows).sum())


class Cyclic(Rule):
    """Blocks in turn; variable blocks are consecutive chunks of a fresh random
    permutation each epoch (the authors' code)."""

    greedy = False

    def choose_block(self, state, blocks):
        i = self.counter % len(blocks)
        self.counter += 1
        return i

    def choose_rows(self, state, tau, exclude=None):
        p = state.n_coef
        n_chunks = -(-p // tau)
        if self.counter % n_chunks == 0:
            self.perm = self.rng.permutation(p)
        k = self.counter % n_chunks
        self.counter += 1
        rows = self.perm[k * tau:(k + 1) * tau]
        return np.sort(rows if exclude is None else np.setdiff1d(rows, exclude))

    def order(self, state):
        shift = self.counter * 7919 % state.n_coef
        self.counter += 1
        return np.roll(np.arange(state.n_coef), -shift)


class Random(Rule):
    """Uniformly random blocks (coordinates without replacement for variable blocks)."""

    greedy = False

    def _weights(self, state):
        return None

    def choose_block(self, state, blocks):
        w = self._block_weights(state, blocks)
        return int(self.rng.choice(len(blocks), p=w))

    def _block_weights(self, state, blocks):
        return None

    def choose_rows(self, state, tau, exclude=None):
        w = self._weights(state)
        if exclude is not None:
            w = np.ones(state.n_coef) if w is None else w.copy()
            w[exclude] = 0.0
        if w is not None:
            tau = min(tau, int(np.count_nonzero(w)))
            w = w / w.sum()
        return np.sort(self.rng.choice(state.n_coef, tau, replace=False, p=w))

    def order(self, state):
        w = self._weights(state)
        if w is None:
            return self.rng.permutation(state.n_coef)
        keys = np.log(self.rng.random_sample(state.n_coef)) / np.maximum(w, 1e-300)
        return np.argsort(-keys)  # weighted random order (Efraimidis–Spirakis)


class Lipschitz(Random):
    """Random blocks sampled with probability proportional to ``L_b`` (``L_i`` for
    coordinates of variable blocks)."""

    def _weights(self, state):
        return state.lipschitz.copy()

    def _block_weights(self, state, blocks):
        L = np.array([state.block_lipschitz(rows, key=i) for i, rows in enumerate(blocks)])
        return L / L.sum()


RULES = {
    "cyclic": Cyclic,
    "random": Random,
    "lipschitz": Lipschitz,
    "gs": GS,
    "gsl": GSL,
    "gsd": GSD,
    "gsq": GSQ,
    "gs-q": GSq,
}


def make_rule(name: str, rng) -> Rule:
    """Instantiate the rule called ``name`` (a key of :data:`RULES`)."""
    return RULES[name](rng)
