"""Sparse wavelet/starlet deconvolution of images, single and multi-band.

Estimators :class:`~sparserec.WaveletDeconvolution` and
:class:`~sparserec.JointWaveletDeconvolution`; the starlet transform; PSF models; the
noise tools; and the baselines (Tikhonov, scikit-image Wiener, unsupervised Wiener,
Richardson–Lucy) with the same boundary treatment.
"""

from .baselines import (
    accelerated_richardson_lucy,
    richardson_lucy_deconvolution,
    tikhonov_deconvolution,
    unsupervised_wiener_deconvolution,
    wiener_deconvolution,
)
from .estimators import JointWaveletDeconvolution, WaveletDeconvolution
from .functions import deconvolve
from .noise import estimate_background, estimate_noise_sigma, multiresolution_support
from .psf import airy_psf, gaussian_psf, moffat_psf
from .starlet import starlet_adjoint, starlet_reconstruct, starlet_transform

__all__ = [
    "deconvolve",
    "WaveletDeconvolution",
    "JointWaveletDeconvolution",
    "starlet_transform",
    "starlet_adjoint",
    "starlet_reconstruct",
    "gaussian_psf",
    "moffat_psf",
    "airy_psf",
    "estimate_noise_sigma",
    "estimate_background",
    "multiresolution_support",
    "tikhonov_deconvolution",
    "wiener_deconvolution",
    "unsupervised_wiener_deconvolution",
    "richardson_lucy_deconvolution",
    "accelerated_richardson_lucy",
]
