"""sparserec.deconv.deconvolve: the function form, masks, noise maps, channels, data kinds."""

import numpy as np
import pytest

from sparserec import WaveletDeconvolution
from sparserec.datasets import make_blurred_image, make_sky_field
from sparserec.deconv import deconvolve, gaussian_psf

PSF = gaussian_psf(9, sigma=1.5)
KW = dict(max_iter=300, tol=1e-3)


@pytest.fixture(scope="module")
def observation():
    sky = make_sky_field((64, 64), n_stars=6, n_galaxies=3, random_state=1).image
    return make_blurred_image(sky / sky.max(), PSF, noise_sigma=0.01, random_state=2).noisy


def test_masked_cosmic_ray_is_filled_by_the_prior(observation):
    clean = deconvolve(observation, PSF, noise=0.01, **KW)
    hit = observation.copy()
    hit[30:32, 40] = 950.0  # a cosmic ray
    mask = np.zeros(hit.shape, bool)
    mask[30:32, 40] = True
    out = deconvolve(hit, PSF, mask=mask, noise=0.01, **KW)
    # reference: the same field without the hit; the masked pixels follow it, not the data
    assert abs(out[30:32, 40] - clean[30:32, 40]).max() < 0.1 * np.abs(clean).max()
    unmasked = deconvolve(hit, PSF, noise=0.01, **KW)
    assert unmasked[30:32, 40].max() > 10 * np.abs(clean).max()
    # a masked array is the same as mask=, and keeps its mask
    ma = deconvolve(np.ma.MaskedArray(hit, mask=mask), PSF, noise=0.01, **KW)
    assert isinstance(ma, np.ma.MaskedArray)
    np.testing.assert_array_equal(ma.mask, mask)
    np.testing.assert_allclose(ma.data, out)


def test_ccddata_keeps_mask_unit_and_wcs(observation):
    astropy = pytest.importorskip("astropy")
    from astropy.nddata import CCDData, StdDevUncertainty
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    mask = np.zeros(observation.shape, bool)
    mask[5, 5] = True
    ccd = CCDData(observation, unit="adu", mask=mask, wcs=wcs, meta={"TELESCOP": "test"},
                  uncertainty=StdDevUncertainty(np.full(observation.shape, 0.01)))
    out = deconvolve(ccd, PSF, **KW)
    assert type(out) is CCDData and out.unit == astropy.units.adu
    assert out.wcs is not None and out.meta["TELESCOP"] == "test"
    np.testing.assert_array_equal(out.mask, mask)
    # the uncertainty gave the noise level: the same as passing it
    plain = deconvolve(np.where(mask, np.nan, observation), PSF, noise=0.01, **KW)
    np.testing.assert_allclose(out.data, plain, atol=1e-6)


def test_channels_are_deconvolved_one_by_one(observation, rng):
    from skimage.restoration import wiener

    rgb = np.stack([observation, 0.5 * observation, observation[::-1]], axis=-1)
    out = deconvolve(rgb, PSF, method="wiener", channel_axis=-1, balance=0.05)
    assert out.shape == rgb.shape
    for c in range(3):  # reference: scikit-image's Wiener on the mirrored plane
        ext = np.pad(rgb[..., c], 9, mode="symmetric")
        ref = wiener(ext, PSF, 0.05, clip=False)[9:-9, 9:-9]
        np.testing.assert_allclose(out[..., c], ref, atol=1e-10)


def test_integer_images_are_scaled_like_img_as_float(observation):
    from skimage.util import img_as_float

    img = (np.clip(observation, 0, 1) * 255).astype(np.uint8)
    out = deconvolve(img, PSF, method="richardson-lucy", n_iter=5)
    ref = deconvolve(img_as_float(img), PSF, method="richardson-lucy", n_iter=5)
    np.testing.assert_allclose(out, ref)
    kept = deconvolve(img, PSF, method="richardson-lucy", n_iter=5, preserve_range=True)
    assert kept.max() > 2
    assert deconvolve(img, PSF, method="richardson-lucy", n_iter=5, clip=True).max() <= 1


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(mask=np.zeros((3, 3), bool)), ValueError, "mask must have the image's shape"),
    (dict(mask=np.ones((64, 64), bool)), ValueError, "mask hides every pixel"),
    (dict(mask=np.zeros((64, 64))), TypeError, "mask must be a boolean array"),
    (dict(noise=np.zeros((64, 64))), ValueError, "noise map has 4096 NaN, zero or negative"),
    (dict(noise=np.full((64, 64), np.nan)), ValueError, "noise map"),
    (dict(noise=-1.0), ValueError, "noise must be a finite number"),
    (dict(channel_axis=2), ValueError, "channel_axis must be an axis"),
    (dict(method="wiener", mask=np.eye(64, dtype=bool)), ValueError, "cannot leave masked"),
    (dict(method="deblur"), ValueError, "method must be one of"),
])
def test_bad_input_names_the_parameter(observation, kwargs, error, match):
    with pytest.raises(error, match=match):
        deconvolve(observation, PSF, **kwargs)


def test_stack_without_channel_axis_and_fit_with_a_psf_argument(observation):
    with pytest.raises(ValueError, match="psf is 2-D but image is a 3-D stack.*channel_axis"):
        deconvolve(np.stack([observation] * 3), PSF)
    with pytest.raises(TypeError, match=r"WaveletDeconvolution\(psf=...\)"):
        WaveletDeconvolution().fit(observation, PSF)
