"""Kronecker-structured sparse Bayesian learning and its baselines.

:class:`KroneckerSBL` (He & Joseph, arXiv 2307.14719) recovers sparse vectors with a
Kronecker-structured support from ``y = (A_1 ⊗ … ⊗ A_I) x + n``;
:class:`SparseBayesianLearning` is classical SBL on the full matrix and
:func:`kronecker_omp` the greedy N-way OMP baseline. :func:`make_irs_channel` builds the
paper's application, IRS-aided MIMO channel estimation.
"""

from .classic import SparseBayesianLearning
from .irs import cascaded_channels, make_irs_channel, steering_matrix
from .komp import kronecker_omp
from .kronecker import KroneckerSBL

__all__ = [
    "KroneckerSBL",
    "SparseBayesianLearning",
    "kronecker_omp",
    "make_irs_channel",
    "cascaded_channels",
    "steering_matrix",
]
