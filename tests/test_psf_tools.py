"""PSF tools: a PSF from a star, model fits, resampling, rotational averaging."""

import numpy as np
import pytest
from scipy.ndimage import rotate, shift

from sparserec.deconv import airy_psf, gaussian_psf, moffat_psf
from sparserec.deconv.psf import fit_psf, psf_from_star, radial_profile_psf, resample_psf

MODELS = {"gaussian": lambda: gaussian_psf(31, fwhm=4.3),
          "moffat": lambda: moffat_psf(31, fwhm=4.3, beta=2.7),
          "airy": lambda: airy_psf(31, fwhm=4.3)}


@pytest.mark.parametrize("model", list(MODELS))
def test_fit_recovers_a_shifted_noisy_star(model, rng):
    star = 500 * shift(MODELS[model](), (0.35, -0.2), order=3) + 3.0
    star += 0.05 * rng.standard_normal(star.shape)
    psf, params = fit_psf(star, model)
    assert params["fwhm"] == pytest.approx(4.3, rel=0.01)
    assert params["sky"] == pytest.approx(3.0, abs=0.05)
    np.testing.assert_allclose(params["center"], (15.35, 14.8), atol=0.02)
    if model == "moffat":
        assert params["beta"] == pytest.approx(2.7, rel=0.03)
    np.testing.assert_allclose(psf, MODELS[model](), atol=0.01 * MODELS[model]().max())


def test_psf_from_star_centres_and_normalises(rng):
    truth = moffat_psf(21, fwhm=3.5, beta=3.0)
    field = np.full((80, 90), 10.0)
    field[30:51, 50:71] += 1e4 * truth
    field = shift(field, (0.4, -0.3), order=3) + rng.normal(0, 0.5, field.shape)
    psf = psf_from_star(field, size=21)
    assert psf.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(psf, truth, atol=0.02 * truth.max())
    with pytest.raises(ValueError, match="size must be an odd integer"):
        psf_from_star(field, size=20)


def test_resampling_scales_the_width_and_round_trips():
    psf = gaussian_psf(41, fwhm=6.0)
    coarse = resample_psf(psf, 0.5)
    assert coarse.sum() == pytest.approx(1.0)
    assert fit_psf(coarse, "gaussian")[1]["fwhm"] == pytest.approx(3.0, rel=0.02)
    back = resample_psf(coarse, 2.0)
    assert back.shape == psf.shape
    np.testing.assert_allclose(back, psf, atol=0.02 * psf.max())
    assert fit_psf(back, "gaussian")[1]["fwhm"] == pytest.approx(6.0, rel=0.02)


def test_radial_average_is_circular_and_keeps_circular_psfs():
    circular = moffat_psf(25, fwhm=5.0, beta=2.5)
    np.testing.assert_allclose(radial_profile_psf(circular), circular,
                               atol=0.05 * circular.max())
    rows, cols = np.indices((25, 25)) - 12
    elliptic = np.exp(-(rows / 4.0) ** 2 - (cols / 2.0) ** 2)
    avg = radial_profile_psf(elliptic)
    np.testing.assert_allclose(avg, avg.T, atol=1e-15)
    np.testing.assert_allclose(avg, rotate(avg, 90), atol=1e-15)
    assert avg.sum() == pytest.approx(1.0)
