"""Proximal operators of the deconvolution problems (NumPy/CuPy; fused numba versions live
in :mod:`sparserec.deconv._numba`).

For the weighted l1 norm ``h(c) = ‖λ ⊙ c‖₁``: the prox is the soft threshold at
``γ λ``, and by Moreau's identity the prox of its conjugate ``h*`` (the indicator of the
box ``|u| ≤ λ``) is the projection on that box, whatever the step. Positivity is the
projection on the non-negative orthant.
"""

from __future__ import annotations

from ..backend import array_namespace

__all__ = ["soft_threshold", "project_box", "project_nonnegative", "reweight"]


def soft_threshold(x, threshold):
    """``sign(x) · max(|x| − threshold, 0)``, element-wise.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.deconv.prox import soft_threshold
    >>> soft_threshold(np.array([-3.0, -0.5, 0.5, 2.0]), 1.0)
    array([-2., -0.,  0.,  1.])
    """
    xp = array_namespace(x)
    return xp.sign(x) * xp.maximum(xp.abs(x) - threshold, 0)


def project_box(u, bound):
    """Projection on ``{|u| ≤ bound}``: the prox of the conjugate of ``‖bound ⊙ ·‖₁``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.deconv.prox import project_box, soft_threshold
    >>> v = np.array([-3.0, 0.2, 2.0])
    >>> bool(np.allclose(project_box(v, 1.0) + soft_threshold(v, 1.0), v))  # Moreau
    True
    """
    xp = array_namespace(u)
    return xp.clip(u, -bound, bound)


def project_nonnegative(x):
    """Projection on ``x ≥ 0``."""
    xp = array_namespace(x)
    return xp.maximum(x, 0)


def reweight(thresholds, coeffs):
    """Reweighted-l1 update ``λ ← λ₀ / (1 + |c| / λ₀)`` (zero thresholds stay zero).

    Coefficients well above their threshold are penalised less at the next pass, which
    reduces the l1 bias of bright structures (Candès, Wakin & Boyd 2008, with the
    threshold as the stabiliser, as in Starck, Murtagh & Fadili 2015, §7.7).

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.deconv.prox import reweight
    >>> reweight(np.array([1.0, 1.0, 0.0]), np.array([0.0, 3.0, 5.0]))
    array([1.  , 0.25, 0.  ])
    """
    xp = array_namespace(thresholds)
    safe = xp.where(thresholds > 0, thresholds, 1)
    return xp.where(thresholds > 0, thresholds / (1 + xp.abs(coeffs) / safe), 0)
