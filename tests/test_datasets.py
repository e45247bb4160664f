import hashlib

import numpy as np
import pytest
from scipy.linalg import hadamard

from sparserec import datasets
from sparserec.operators import Kronecker


def test_manifest_checksums_and_shapes():
    entries = datasets.list_datasets()
    assert set(entries) == {"hubble_deep_field", "camera", "moon", "ecg"}
    for name, entry in entries.items():
        path = datasets._data_dir() / entry["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], name
        assert entry["source"] and entry["license"]


@pytest.mark.parametrize("name, shape", [("hubble_deep_field", (872, 1000)),
                                         ("camera", (512, 512)), ("moon", (512, 512))])
def test_load_image(name, shape):
    image = datasets.load_image(name)
    assert image.shape == shape and image.dtype == np.float64
    assert 0 <= image.min() < image.max() <= 1


def test_load_image_colour_and_errors():
    assert datasets.load_image("hubble_deep_field", as_gray=False).shape == (872, 1000, 3)
    with pytest.raises(ValueError, match="name must be one of"):
        datasets.load_image("lena")


def test_load_ecg_matches_published_statistics():
    ecg = datasets.load_ecg()
    # scipy.datasets.electrocardiogram documents these for the same excerpt
    assert ecg.signal.shape == (108000,) and ecg.fs == 360.0
    assert ecg.signal.mean() == pytest.approx(-0.16510875, abs=1e-7)
    assert ecg.signal.std() == pytest.approx(0.5992473991177294, rel=1e-9)


def test_corrupted_file_detected(tmp_path, monkeypatch):
    src = datasets._data_dir()
    for f in src.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes()) if f.is_file() else None
    (tmp_path / "moon.png").write_bytes(b"not a png")
    monkeypatch.setattr(datasets, "_data_dir", lambda: tmp_path)
    with pytest.raises(OSError, match="corrupted"):
        datasets.load_image("moon")


def test_generators_are_seeded():
    a = datasets.make_sparse_regression(20, 30, 3, snr_db=10, random_state=1)
    b = datasets.make_sparse_regression(20, 30, 3, snr_db=10, random_state=1)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)


def test_correlated_design_has_requested_correlation():
    p = datasets.make_sparse_regression(20000, 4, 1, correlation=0.6, random_state=0)
    c = np.corrcoef(p.X.T)
    assert c[0, 1] == pytest.approx(0.6, abs=0.02) and c[0, 2] == pytest.approx(0.36, abs=0.02)
    assert p.X[:, 0].std() == pytest.approx(1.0, abs=0.02)


def test_regression_noise_level():
    p = datasets.make_sparse_regression(5000, 50, 5, snr_db=10, random_state=0)
    clean = p.X @ p.coef
    snr = 10 * np.log10(np.sum(clean**2) / np.sum((p.y - clean) ** 2))
    assert snr == pytest.approx(10, abs=0.3)


@pytest.mark.parametrize("is_complex", [False, True])
def test_kronecker_problem(is_complex):
    p = datasets.make_kronecker_problem([(6, 10), (5, 8)], (2, 3), is_complex=is_complex,
                                        random_state=0)
    assert p.support.size == 6
    np.testing.assert_allclose(p.y, Kronecker(*p.factors) @ p.coef)
    mask = np.zeros((10, 8), bool)
    mask[np.ix_(*p.factor_supports)] = True
    np.testing.assert_array_equal(np.flatnonzero(mask), p.support)
    assert np.iscomplexobj(p.y) == is_complex
    mmv = datasets.make_kronecker_problem([(6, 10), (5, 8)], 2, n_targets=4, random_state=0)
    assert mmv.y.shape == (30, 4) and mmv.coef.shape == (80, 4)


def test_dictionary_data():
    d = datasets.make_dictionary_data(16, 4000, theta=0.3, random_state=0)
    np.testing.assert_allclose(d.X, d.codes @ d.dictionary.T)
    assert np.mean(d.codes != 0) == pytest.approx(0.3, abs=0.02)


@pytest.mark.parametrize("as_callable", [False, True])
def test_sparse_walsh_convention(as_callable):
    p = datasets.make_sparse_walsh(7, 5, as_callable=as_callable, random_state=0)
    x = p.signal(np.arange(128)) if as_callable else p.signal
    spectrum = hadamard(128) @ x / 128
    expected = np.zeros(128)
    expected[p.support.astype(int)] = p.coef
    np.testing.assert_allclose(spectrum, expected, atol=1e-12)


def test_sparse_walsh_huge_callable():
    p = datasets.make_sparse_walsh(48, 10, snr_db=20, random_state=0)
    assert callable(p.signal)
    values = p.signal(np.array([0, 2**47 + 5], dtype=np.uint64))
    assert values.shape == (2,) and np.isfinite(values).all()


@pytest.mark.parametrize("model", ["repeated", "diverse", "snapshots", "subspace",
                                   "inverse_subspace"])
def test_selfcal_problem_satisfies_model(model):
    p = datasets.make_selfcal_problem(model, 20, 4, 3, k=5, is_complex=True, random_state=0)
    A = p.A if p.A.ndim == 3 else np.broadcast_to(p.A, (p.y.shape[0],) + p.A.shape)
    x = p.signal if p.signal.ndim == 2 else np.broadcast_to(p.signal, (p.y.shape[0], 4))
    for l in range(p.y.shape[0]):
        np.testing.assert_allclose(p.y[l], p.calibration * (A[l] @ x[l]), atol=1e-12)
    if model == "subspace":  # Ling & Strohmer (2015): d = B h
        np.testing.assert_allclose(p.B @ p.h, p.calibration, atol=1e-12)
        assert np.all(np.abs(p.calibration - 1) < 1)
    elif model == "inverse_subspace":
        np.testing.assert_allclose(p.B @ p.h, 1 / p.calibration, atol=1e-10)
        assert np.all(np.abs(p.calibration - 1) < 1)
    else:
        assert np.all((np.abs(p.calibration) >= 0.5) & (np.abs(p.calibration) <= 1.5))


def test_sky_field_conserves_flux():
    f = datasets.make_sky_field((96, 96), n_stars=5, n_galaxies=4, random_state=0)
    assert f.image.sum() == pytest.approx(f.fluxes.sum(), rel=1e-3)


def test_blurred_image():
    image = datasets.load_image("camera")[:64, :64]
    psf = np.outer(np.hanning(7), np.hanning(7))
    psf /= psf.sum()
    obs = datasets.make_blurred_image(image, psf, noise_sigma=0.01, random_state=0)
    assert obs.noisy.shape == image.shape
    assert np.std(obs.noisy - obs.blurred) == pytest.approx(0.01, rel=0.05)
    # interior pixels are the plain convolution
    from scipy.signal import fftconvolve

    inner = fftconvolve(image, psf, mode="same")[8:-8, 8:-8]
    np.testing.assert_allclose(obs.blurred[8:-8, 8:-8], inner, atol=1e-12)


@pytest.mark.parametrize("call, match", [
    (lambda: datasets.make_sparse_signal(5, 6), "n_nonzero"),
    (lambda: datasets.make_sparse_regression(5, 5, 1, correlation=1.0), "correlation"),
    (lambda: datasets.make_kronecker_problem([(2, 3)], 1), "factor_shapes"),
    (lambda: datasets.make_dictionary_data(4, 5, theta=0), "theta"),
    (lambda: datasets.make_sparse_walsh(0, 1), "n_bits"),
    (lambda: datasets.make_selfcal_problem("blind", 4, 2), "model"),
    (lambda: datasets.make_selfcal_problem("subspace", 4, 2), "k must be"),
    (lambda: datasets.make_blurred_image(np.ones(3), np.ones((1, 1))), "2-D"),
])
def test_generator_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
