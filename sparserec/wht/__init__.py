"""Sparse and dense Walsh–Hadamard transforms.

:class:`SparseWHT` (SPRIGHT) recovers a K-sparse Walsh–Hadamard spectrum from
``O(K log N)`` samples of a signal of length ``N`` (an array, or a callable so that ``N``
may be ``2**40`` or more); :func:`fwht` is the dense fast transform (numpy, numba and CuPy
backends; natural, sequency and dyadic orderings) and :class:`WalshHadamard` its
LinearOperator form. :class:`BCHCode` is the error-correcting code behind SPRIGHT's
sample-optimal delay design.
"""

from .bch import BCHCode
from .fwht import ORDERINGS, WalshHadamard, fwht, natural_index
from .spright import SparseWHT

__all__ = ["SparseWHT", "fwht", "natural_index", "ORDERINGS", "WalshHadamard", "BCHCode"]
