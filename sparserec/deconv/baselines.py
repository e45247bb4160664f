"""Baseline deconvolutions, with the same boundary treatment as the sparse estimators.

- :func:`tikhonov_deconvolution`: the first step of Akhaury et al. (2024), a closed form
  in Fourier with a 5-point Laplacian regulariser,
  ``x̂ = F⁻¹[ĥ* ŷ / (|ĥ|² + λ |L̂|²)]``;
- thin wrappers of :func:`skimage.restoration.wiener`,
  :func:`skimage.restoration.unsupervised_wiener` and
  :func:`skimage.restoration.richardson_lucy`.

Real images are not periodic, and scikit-image's functions assume they are (Wiener) or
that the scene is dark beyond the frame (Richardson–Lucy), which rings or darkens the
edges. Every baseline here therefore runs on the image extended by mirror reflection by
the PSF size on each side, and the result is cropped back to the frame — the same
extension as the scene model of :func:`sparserec.datasets.make_blurred_image`. Outputs
are not clipped (scikit-image clips to ``[-1, 1]`` by default, which breaks images in
physical units such as counts).
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import check_random_state, check_scalar

from ..base import check_finite_array
from .psf import check_psf

__all__ = [
    "tikhonov_deconvolution",
    "wiener_deconvolution",
    "unsupervised_wiener_deconvolution",
    "richardson_lucy_deconvolution",
    "laplacian_kernel",
]


def laplacian_kernel() -> np.ndarray:
    """The 5-point Laplacian ``[[0, -1, 0], [-1, 4, -1], [0, -1, 0]]``."""
    return np.array([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]])


def _prepare(image, psf):
    image = check_finite_array(image, "image", ndim=2).astype(np.float64)
    psf = check_psf(psf, image.shape)
    return image, psf


def _extend(image, psf):
    pad = [(k, k) for k in psf.shape]
    crop = tuple(slice(k, k + n) for k, n in zip(psf.shape, image.shape, strict=True))
    return np.pad(image, pad, mode="symmetric"), crop


def tikhonov_deconvolution(image, psf, reg: float = 9e-3) -> np.ndarray:
    """Tikhonov deconvolution with a Laplacian regulariser, in closed form.

    ``x̂ = F⁻¹[ĥ* ŷ / (|ĥ|² + λ|L̂|²)]`` with the 5-point Laplacian ``L`` on the mirrored
    image: the first step of Akhaury et al. (2024). It is exactly scikit-image's
    Wiener–Hunt filter with ``balance = reg`` (:func:`wiener_deconvolution`), which
    computes it.

    Parameters
    ----------
    image : 2-D array
    psf : 2-D array
        Centred at ``k // 2``; normalised to sum 1 (with a warning) if needed.
    reg : float
        Regularisation weight ``λ > 0``; ``9e-3`` is the value Akhaury et al. (2024)
        found by line search for their images.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.deconv import tikhonov_deconvolution, gaussian_psf
    >>> x = tikhonov_deconvolution(np.ones((32, 32)), gaussian_psf(7, sigma=1.0))
    >>> bool(np.allclose(x, 1.0))
    True
    """
    check_scalar(reg, "reg", numbers.Real, min_val=0, include_boundaries="neither")
    return wiener_deconvolution(image, psf, balance=reg)


def wiener_deconvolution(image, psf, balance: float = 0.01) -> np.ndarray:
    """:func:`skimage.restoration.wiener` (Laplacian regulariser) on the mirrored image.

    Parameters
    ----------
    balance : float
        The regularisation weight of scikit-image's Wiener–Hunt filter.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.deconv import wiener_deconvolution, gaussian_psf
    >>> wiener_deconvolution(np.ones((32, 32)), gaussian_psf(7, sigma=1.0)).shape
    (32, 32)
    """
    from skimage.restoration import wiener

    image, psf = _prepare(image, psf)
    check_scalar(balance, "balance", numbers.Real, min_val=0)
    ext, crop = _extend(image, psf)
    return wiener(ext, psf, balance, clip=False)[crop]


def unsupervised_wiener_deconvolution(image, psf, random_state=None) -> np.ndarray:
    """:func:`skimage.restoration.unsupervised_wiener` on the mirrored image.

    The regularisation and noise levels are sampled by a Gibbs sampler (random, hence
    ``random_state``); the posterior mean is returned.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.deconv import unsupervised_wiener_deconvolution, gaussian_psf
    >>> rng = np.random.default_rng(0)
    >>> img = rng.random((32, 32))
    >>> out = unsupervised_wiener_deconvolution(img, gaussian_psf(7, sigma=1.0), 0)
    >>> out.shape
    (32, 32)
    """
    from skimage.restoration import unsupervised_wiener

    image, psf = _prepare(image, psf)
    ext, crop = _extend(image, psf)
    rng = np.random.default_rng(check_random_state(random_state).randint(2**31))
    x, _ = unsupervised_wiener(ext, psf, clip=False, rng=rng)
    return x[crop]


def richardson_lucy_deconvolution(image, psf, n_iter: int = 30) -> np.ndarray:
    """:func:`skimage.restoration.richardson_lucy` on the mirrored image.

    Richardson–Lucy assumes non-negative data; the number of iterations is its only
    regularisation (too many amplify the noise).

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.deconv import richardson_lucy_deconvolution, gaussian_psf
    >>> x = richardson_lucy_deconvolution(np.ones((32, 32)), gaussian_psf(7, sigma=1.0))
    >>> bool(np.allclose(x[8:-8, 8:-8], 1.0, atol=1e-3))  # flat away from the edges
    True
    """
    from skimage.restoration import richardson_lucy

    image, psf = _prepare(image, psf)
    check_scalar(n_iter, "n_iter", numbers.Integral, min_val=1)
    ext, crop = _extend(image, psf)
    return richardson_lucy(ext, psf, num_iter=n_iter, clip=False)[crop]
