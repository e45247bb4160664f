"""Orthogonal dictionary learning by ℓ⁴-norm maximisation: online (Frank–Wolfe) and batch (MSP).

:class:`OnlineOrthogonalDictionary` learns an orthonormal dictionary from a stream of
mini-batches with memory independent of the stream length (Xue & Lau); :func:`l4_msp` is
the batch MSP algorithm it descends from (Zhai et al.); :mod:`~sparserec.dictionary.bases`
compares learned, PCA and DCT bases by how many coefficients each needs per sample.
"""

from .bases import coefficients_for_error, dct_basis, pca_basis, sliding_windows
from .msp import l4_msp, l4_objective, polar_factor, polar_newton_schulz
from .online_orthogonal import OnlineOrthogonalDictionary

__all__ = [
    "OnlineOrthogonalDictionary",
    "l4_msp",
    "l4_objective",
    "polar_factor",
    "polar_newton_schulz",
    "coefficients_for_error",
    "dct_basis",
    "pca_basis",
    "sliding_windows",
]
