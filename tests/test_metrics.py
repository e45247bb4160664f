import numpy as np
import pytest
from scipy.stats import ortho_group
from skimage.metrics import peak_signal_noise_ratio

from sparserec import metrics


def test_nmse_db_against_definition(rng):
    x = rng.standard_normal(50) + 1j * rng.standard_normal(50)
    e = x + 0.1 * rng.standard_normal(50)
    ref = 10 * np.log10(np.sum(np.abs(e - x) ** 2) / np.sum(np.abs(x) ** 2))
    assert metrics.nmse_db(x, e) == pytest.approx(ref)
    assert metrics.nmse_db(x, x) == -np.inf
    with pytest.raises(ValueError, match="same shape"):
        metrics.nmse_db(x, x[:3])
    with pytest.raises(ValueError, match="undefined"):
        metrics.nmse_db(np.zeros(3), np.ones(3))


def test_support_f1_forms():
    assert metrics.support_f1([1, 2], [1, 2]) == 1.0
    assert metrics.support_f1(np.array([True, False, True]), [0]) == pytest.approx(2 / 3)
    coef = np.array([0.0, 1e-9, 2.0])
    assert metrics.support_f1([2], coef, n=3, tol=1e-6) == 1.0
    assert metrics.support_f1([], []) == 1.0


def test_psnr_matches_skimage(rng):
    a = rng.random((16, 16))
    b = a + 0.01 * rng.standard_normal((16, 16))
    assert metrics.psnr(a, b, data_range=1.0) == pytest.approx(
        peak_signal_noise_ratio(a, b, data_range=1.0))
    assert metrics.ssim(a, a) == pytest.approx(1.0)


def test_dictionary_recovery_range():
    D = ortho_group.rvs(8, random_state=0)
    P = np.eye(8)[np.random.default_rng(1).permutation(8)] * np.sign(np.arange(8) - 3.5)
    assert metrics.dictionary_recovery(D @ P, D) == pytest.approx(1.0)
    assert 1 / 8 <= metrics.dictionary_recovery(ortho_group.rvs(8, random_state=2), D) < 1


def test_relative_error_up_to_scale(rng):
    x = rng.standard_normal(10) + 1j * rng.standard_normal(10)
    assert metrics.relative_error_up_to_scale(x, (2 - 3j) * x) == pytest.approx(0, abs=1e-12)
    assert metrics.relative_error_up_to_scale(x, np.zeros(10)) == pytest.approx(1.0)


def test_snr_db():
    assert metrics.snr_db([3.0, 4.0], [0.5, 0.0]) == pytest.approx(20.0)
    assert metrics.snr_db([1.0], [0.0]) == np.inf
