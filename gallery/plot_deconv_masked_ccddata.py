"""
Masked cosmic rays and a noise map: deconvolving an astropy CCDData
====================================================================

Astronomical frames come with a bad-pixel mask (cosmic rays, hot columns) and a per-pixel
uncertainty. :func:`sparserec.deconv.deconvolve` takes an astropy ``CCDData`` as it is:
masked pixels get no weight in the data term and are filled in by the sparse prior, the
uncertainty sets the noise level, and the result is a ``CCDData`` again with the mask,
unit, WCS and header kept. Left unmasked, a cosmic ray is deconvolved into a bright false
"star".
"""

# %%
# A star field with two cosmic rays
# ---------------------------------
import numpy as np
from astropy.nddata import CCDData, StdDevUncertainty

from sparserec.datasets import make_blurred_image, make_sky_field
from sparserec.deconv import deconvolve, moffat_psf
from sparserec.plotting import plot_image_panels

sky = make_sky_field((128, 128), n_stars=25, n_galaxies=6, random_state=3).image
psf = moffat_psf(25, fwhm=4.0, beta=2.5)
observed = make_blurred_image(sky, psf, noise_sigma=0.02, random_state=4).noisy
mask = np.zeros(observed.shape, bool)
for row, col in [(40, 90), (100, 30)]:
    observed[row - 1:row + 2, col] += 40.0  # two short cosmic-ray tracks
    mask[row - 1:row + 2, col] = True

ccd = CCDData(observed, unit="adu", mask=mask, meta={"TELESCOP": "simulated"},
              uncertainty=StdDevUncertainty(np.full(observed.shape, 0.02)))

# %%
# Deconvolve with and without the mask
# ------------------------------------
restored = deconvolve(ccd, psf)
unmasked = deconvolve(observed, psf, noise=0.02)
print(type(restored).__name__, restored.unit, restored.meta["TELESCOP"])
print(f"at the cosmic rays: masked {restored.data[mask].max():.3f}, "
      f"unmasked {unmasked[mask].max():.1f}, truth {sky[mask].max():.3f}")

fig = plot_image_panels({"observed": observed, "deconvolved (CCDData, masked)": restored.data,
                         "deconvolved (no mask)": unmasked, "truth": sky},
                        shared_range="truth", stretch="asinh", ncols=4)
