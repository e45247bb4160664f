"""The deconvolution estimators are equivariant to the scale of the data (issue 21)."""

import numpy as np
import pytest

from sparserec import JointWaveletDeconvolution, WaveletDeconvolution
from sparserec.datasets import make_blurred_image, make_sky_field
from sparserec.deconv import gaussian_psf

PSF = gaussian_psf(9, sigma=1.2)
pytestmark = pytest.mark.filterwarnings("ignore:.*did not converge")  # fixed iteration counts
SCALES = [1e-30, 1e-8, 1e8, 1e30]


@pytest.fixture(scope="module")
def observation():
    sky = make_sky_field((48, 48), n_stars=5, n_galaxies=2, random_state=3).image
    return make_blurred_image(sky / sky.max(), PSF, noise_sigma=0.01, random_state=4).noisy


@pytest.fixture(scope="module")
def reference(observation):
    return WaveletDeconvolution(PSF, max_iter=40, tol=0.0).fit(observation)


@pytest.mark.parametrize("scale", SCALES)
def test_wavelet_deconvolution_is_scale_equivariant(observation, reference, scale):
    est = WaveletDeconvolution(PSF, max_iter=40, tol=0.0).fit(observation * scale)
    assert est.noise_sigma_ == pytest.approx(reference.noise_sigma_ * scale, rel=1e-6)
    np.testing.assert_allclose(est.image_ / scale, reference.image_, rtol=1e-5,
                               atol=1e-5 * np.abs(reference.image_).max())


@pytest.mark.parametrize("scale", [1e-30, 1e30])
def test_joint_deconvolution_is_scale_equivariant(observation, scale):
    bands = [observation, observation[::-1]]
    kw = dict(max_iter=30, tol=0.0)
    ref = JointWaveletDeconvolution([PSF, PSF], **kw).fit(bands)
    est = JointWaveletDeconvolution([PSF, PSF], **kw).fit([b * scale for b in bands])
    np.testing.assert_allclose(est.image_ / scale, ref.image_, rtol=1e-5,
                               atol=1e-5 * np.abs(ref.image_).max())


def test_a_noise_level_far_above_the_data_is_refused(observation):
    with pytest.raises(ValueError, match="more than 1e[+]06 times the image's peak"):
        WaveletDeconvolution(PSF, noise_sigma=1e300).fit(observation)
