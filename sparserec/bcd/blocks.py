"""Block partitions (Nutini, Laradji & Schmidt, arXiv 1712.08859, sections 3.1 and 5).

========== =================================================================================
partition  blocks
========== =================================================================================
fixed      contiguous chunks of ``block_size`` coordinates
sorted     chunks of the coordinates sorted by their Lipschitz constant ``L_i``
avg        chunks of the coordinates ordered largest, smallest, 2nd largest, … ``L_i``, so
           every block mixes large and small constants
red-black  the colour classes of a greedy colouring of the dependency graph: independent
           sets, whose block Hessian is diagonal (red–black ordering on a lattice)
forest     forests covering the dependency graph, each grown greedily from what the
           previous ones left ("tree partitions" in the authors' code)
variable   a new block each iteration: the ``block_size`` coordinates the rule likes best
tree       a new forest each iteration, grown greedily in the rule's order in the sparse
           dependency graph, so that Newton steps on it are linear-time (message passing)
========== =================================================================================

Fixed partitions ask the rule which block to take; ``variable`` and ``tree`` ask it for
coordinates. :data:`PARTITIONS` maps each name to its class.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["PARTITIONS", "Partition", "make_partition"]


class Partition:
    """Base class. ``next_block(state, rule)`` returns the sorted rows to update and a key
    naming the block (its index in a fixed partition, for caches; ``None`` otherwise)."""

    def __init__(self, block_size):
        self.block_size = block_size

    def setup(self, state):
        self.blocks = self.make_blocks(state)

    @property
    def epoch(self):
        return len(self.blocks)

    def next_block(self, state, rule):
        i = rule.choose_block(state, self.blocks)
        return self.blocks[i], i


def _chunks(order, size):
    return [np.sort(order[i:i + size]) for i in range(0, order.size, size)]


class Fixed(Partition):
    def make_blocks(self, state):
        return _chunks(state.free_rows, self.block_size)


class Sorted(Partition):
    def make_blocks(self, state):
        rows = state.free_rows
        return _chunks(rows[np.argsort(state.lipschitz[rows], kind="stable")], self.block_size)


class Avg(Partition):
    def make_blocks(self, state):
        rows = state.free_rows
        s = rows[np.argsort(state.lipschitz[rows], kind="stable")]
        mixed = np.empty_like(s)
        mixed[0::2] = s[::-1][: (s.size + 1) // 2]
        mixed[1::2] = s[: s.size // 2]
        return _chunks(mixed, self.block_size)


class RedBlack(Partition):

    def make_blocks(self, state):
        graph = _graph(state)
        order = np.argsort(-state.lipschitz, kind="stable")  # as the authors: large L first
        color = state.kernels.greedy_coloring(graph.indptr, graph.indices, order)
        free = np.zeros(state.n_coef, dtype=bool)
        free[state.free_rows] = True
        blocks = [np.flatnonzero((color == c) & free) for c in range(color.max() + 1)]
        return [b for b in blocks if b.size]


class Forest(Partition):
    """Forests covering all coordinates, each grown greedily (large ``L_i`` first) from
    the nodes the previous ones left (the authors' "tree partitions" of general graphs)."""


    def make_blocks(self, state):
        graph = _graph(state)
        left = state.free_rows[np.argsort(-state.lipschitz[state.free_rows], kind="stable")]
        blocks = []
        while left.size:
            forest = state.kernels.grow_forest(graph.indptr, graph.indices,
                                               left.astype(np.int64), left.size)
            blocks.append(np.sort(forest))
            left = left[~np.isin(left, forest)]
        return blocks


class Variable(Partition):
    """``tau`` coordinates chosen by the rule each iteration. With an L1 penalty the
    block keeps the current non-zeros (the working set of skglm/celer) and the rule
    fills the other slots; ``block_size=None`` sets ``tau = max(10, 2 |active set|)``."""

    def setup(self, state):
        self.blocks = None

    def tau(self, state):
        if self.block_size is not None:
            return self.block_size
        return max(10, 2 * int(state.active_mask().sum()))

    @property
    def epoch(self):
        return None

    def next_block(self, state, rule):
        tau = min(self.tau(state), state.free_rows.size)
        active = np.flatnonzero(state.active_mask())
        if state.penalty.smooth or not rule.greedy or active.size >= tau:
            return rule.choose_rows(state, tau, exclude=state.fixed_rows), None
        exclude = np.concatenate([active, state.fixed_rows])
        rows = rule.choose_rows(state, tau - active.size, exclude=exclude)
        return np.sort(np.concatenate([active, rows])), None  # disjoint by construction


class Tree(Partition):
    """A forest grown by the rule's order: a node joins when its neighbours already in
    the block are in different trees (no cycle). ``block_size`` caps its size."""

    def setup(self, state):
        self.blocks = None
        self.graph = _graph(state)

    @property
    def epoch(self):
        return 2

    def next_block(self, state, rule):
        order = rule.order(state)
        cap = self.block_size or state.n_coef
        rows = state.kernels.grow_forest(self.graph.indptr, self.graph.indices,
                                         order.astype(np.int64), cap)
        return np.sort(rows), None


def _graph(state):
    G = sp.csr_matrix(state.loss.dependency_graph())
    G.sum_duplicates()
    G.sort_indices()
    return G


PARTITIONS = {
    "fixed": Fixed,
    "sorted": Sorted,
    "avg": Avg,
    "red-black": RedBlack,
    "forest": Forest,
    "variable": Variable,
    "tree": Tree,
}


def make_partition(name: str, block_size) -> Partition:
    """Instantiate the partition called ``name`` (a key of :data:`PARTITIONS`)."""
    return PARTITIONS[name](block_size)
