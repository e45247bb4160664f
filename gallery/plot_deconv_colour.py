"""
Deconvolving a colour photograph
================================

A colour image is three planes that share one PSF. :func:`sparserec.deconv.deconvolve`
with ``channel_axis=-1`` deconvolves each plane; integer (``uint8``) input is scaled to
``[0, 1]`` as :func:`skimage.util.img_as_float` does, so the result is a float image in
that range, and ``clip=True`` keeps it there for display, as scikit-image does.
"""

# %%
import numpy as np
from skimage import data
from skimage.util import img_as_float

from sparserec.datasets import make_blurred_image
from sparserec.deconv import deconvolve, gaussian_psf
from sparserec.metrics import psnr
from sparserec.plotting import plot_image_panels

truth = img_as_float(data.astronaut()[:192, 160:352])  # a 192 x 192 crop, float in [0, 1]
psf = gaussian_psf(15, sigma=1.5)
observed = np.stack([make_blurred_image(truth[..., c], psf, noise_sigma=0.01,
                                        random_state=c).noisy for c in range(3)], axis=-1)

restored = deconvolve(observed, psf, channel_axis=-1, clip=True)
print(f"PSNR observed {psnr(truth, observed):.2f} dB, deconvolved {psnr(truth, restored):.2f} dB")

fig = plot_image_panels({"observed": np.clip(observed, 0, 1), "deconvolved": restored,
                         "truth": truth}, ncols=3)
