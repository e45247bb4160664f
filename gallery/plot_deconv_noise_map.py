"""
A noise map: deconvolving a mosaic of unequal depth
===================================================

A mosaic stitched from exposures of unequal length has a noise level that changes across
the field: here the right half is 8 times noisier than the left (one exposure 64 times
shorter). One noise level for the whole image either smooths the deep half or lets the
shallow half's noise through. Given the map (``fit(X, noise_map=σ)``, or
``sparserec deconvolve --noise err.fits`` on the command line), the fit weights each
pixel by its inverse variance, sets each coefficient's threshold from the noise it
carries, and estimates its risk (SURE) for that noise, so that every part of the image
gets the regularisation its own depth asks for.
"""

# %%
# A field of two depths
# ---------------------
import numpy as np

from sparserec import WaveletDeconvolution
from sparserec.datasets import make_blurred_image, make_sky_field
from sparserec.deconv import gaussian_psf
from sparserec.metrics import psnr
from sparserec.plotting import plot_image_panels

sky = make_sky_field((128, 128), n_stars=20, n_galaxies=8, random_state=2).image
sky = sky / sky.max()
psf = gaussian_psf(15, fwhm=3.0)
noise_map = np.full(sky.shape, 0.005)
noise_map[:, 64:] = 0.04
blurred = make_blurred_image(sky, psf, noise_sigma=0.0).noisy
observed = blurred + np.random.default_rng(0).normal(size=sky.shape) * noise_map

# %%
# One level, then the map
# -----------------------
# Without a map the noise level is estimated from the whole image (a blend of the two
# depths); with it, each pixel has its own.
plain = WaveletDeconvolution(psf).fit(observed)
mapped = WaveletDeconvolution(psf).fit(observed, noise_map=noise_map)
for name, est in (("one level", plain), ("noise map", mapped)):
    print(f"{name:9s}: noise_sigma_ {est.noise_sigma_:.4f}, {est.wavelet_}, "
          f"PSNR {psnr(sky, est.image_):.2f} dB")

fig = plot_image_panels({"observed (right half 8x noisier)": observed,
                         f"one noise level ({psnr(sky, plain.image_):.1f} dB)": plain.image_,
                         f"noise map ({psnr(sky, mapped.image_):.1f} dB)": mapped.image_,
                         "truth": sky},
                        shared_range="truth", stretch="asinh", ncols=4)
