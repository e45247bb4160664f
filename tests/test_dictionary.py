"""Orthogonal dictionary learning: OnlineOrthogonalDictionary (Frank–Wolfe), l4_msp, bases.

References used here are independent of the package code: scipy.linalg.polar for the
polar factor, the update formulas written out from the paper, brute force over supports
for the sparse codes, a Hungarian matching for "equal up to signed permutation", scipy's
DCT, and explicit reconstructions for the coefficient counts.
"""

import itertools
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.linalg
from scipy.fft import dctn
from scipy.optimize import linear_sum_assignment
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from sparserec import BackendUnavailableError, OnlineOrthogonalDictionary
from sparserec.datasets import load_ecg, make_dictionary_data
from sparserec.dictionary import (
    coefficients_for_error,
    dct_basis,
    l4_msp,
    pca_basis,
    polar_factor,
    polar_newton_schulz,
    sliding_windows,
)
from sparserec.metrics import dictionary_recovery


def _polar(G):
    """Orthonormal polar factor by SciPy (square or wide G, via the transpose for wide)."""
    if G.shape[0] == G.shape[1]:
        return scipy.linalg.polar(G)[0]
    return scipy.linalg.polar(G.T)[0].T


def _msp_step(W, X):
    """One MSP iteration written out from Zhai et al. (rows = atoms): polar((XWᵀ)³ᵀ X)."""
    return _polar(((X @ W.T) ** 3).T @ X)


def _signed_permutation_error(W, D0):
    """Max entry error of W against D0ᵀ after the best signed permutation (Hungarian)."""
    C = W @ D0  # C[i, j] = <atom i, true atom j>
    rows, cols = linear_sum_assignment(-np.abs(C))
    aligned = np.sign(C[rows, cols])[:, None] * W[rows]
    return float(np.max(np.abs(aligned - D0[:, cols].T)))


@pytest.fixture(scope="module")
def planted16():
    return make_dictionary_data(16, 20000, theta=0.3, random_state=3)


# ----------------------------------------------------------------------------- recovery
def test_recovers_planted_dictionary_one_pass(planted16):
    est = OnlineOrthogonalDictionary(max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # one pass, as a stream
        est.fit(planted16.X)
    assert est.n_samples_seen_ == 20000 and est.n_steps_ == 625
    recovery = dictionary_recovery(est.components_.T, planted16.dictionary)
    assert recovery >= 0.99
    # up to signed permutation, atom by atom (Hungarian matching, independent of the metric)
    assert _signed_permutation_error(est.components_, planted16.dictionary) < 0.1
    # the batch method on the same data is the ceiling; the stream gets close to it
    with threadpool_limits(1):  # small products: threads only add contention here
        batch = l4_msp(planted16.X, random_state=0)
    assert batch.converged
    assert dictionary_recovery(batch.components.T, planted16.dictionary) >= 0.99
    assert _signed_permutation_error(batch.components, planted16.dictionary) < 0.1


def test_random_dictionary_does_not_count_as_recovered(planted16):
    # the metric's floor for an unrelated orthogonal matrix is about 3 / (n + 2)
    W = polar_factor(np.random.default_rng(0).standard_normal((16, 16)))[0]
    assert dictionary_recovery(W.T, planted16.dictionary) < 0.3


def test_components_orthonormal_fit_and_partial_fit(planted16):
    X = planted16.X[:3000]
    for k in (16, 5):
        est = OnlineOrthogonalDictionary(n_components=k, max_iter=2, tol=0.0, random_state=1)
        with pytest.warns(ConvergenceWarning):
            est.fit(X)
        C = est.components_
        assert C.shape == (k, 16)
        assert np.abs(C @ C.T - np.eye(k)).max() < 1e-10
        assert est.orthogonality_error_ < 1e-10
        assert est.n_iter_ == 2 and not est.converged_
        est.partial_fit(X[:100])
        assert np.abs(est.components_ @ est.components_.T - np.eye(k)).max() < 1e-10
        # the Frank-Wolfe iterate stays in the spectral-norm ball
        assert np.linalg.norm(est.iterate_, 2) <= 1 + 1e-12


# ----------------------------------------------------------------------------- streaming
def test_partial_fit_over_chunks_equals_fit(planted16):
    X = planted16.X[:1024]  # 32 mini-batches of 32
    fitted = OnlineOrthogonalDictionary(max_iter=2, tol=0.0, random_state=7)
    with pytest.warns(ConvergenceWarning):
        fitted.fit(X)
    streamed = OnlineOrthogonalDictionary(random_state=7)
    for _ in range(2):
        for start in range(0, 1024, 32):
            streamed.partial_fit(X[start:start + 32])
    for name in ("components_", "iterate_", "gradient_estimate_"):
        np.testing.assert_array_equal(getattr(fitted, name), getattr(streamed, name))
    assert fitted.history_[-1] == streamed.history_[0] and len(streamed.history_) == 1
    assert len(fitted.history_) == 64
    assert fitted.n_samples_seen_ == streamed.n_samples_seen_ == 2048
    assert fitted.n_steps_ == streamed.n_steps_ == 64


@pytest.mark.parametrize("chunk", [1, 7, 31, 33, 100, 500, 5000])
def test_result_depends_on_samples_seen_not_on_chunks(planted16, chunk):
    """Any slicing of the stream gives the one-pass ``fit`` of the samples seen (issue 22):
    the reference is ``fit`` on the complete mini-batches, computed independently of the
    pending-gradient bookkeeping."""
    X = planted16.X[:6000]  # 187 mini-batches of 32 and 16 samples pending
    ref = OnlineOrthogonalDictionary(max_iter=1, tol=0.0, random_state=2)
    with pytest.warns(ConvergenceWarning):
        ref.fit(X[:5984])
    est = OnlineOrthogonalDictionary(random_state=2)
    for start in range(0, 6000, chunk):
        est.partial_fit(X[start:start + chunk])
    assert est.n_steps_ == ref.n_steps_ == 187
    assert est.n_samples_seen_ == 6000 and est.n_samples_pending_ == 16
    np.testing.assert_allclose(est.iterate_, ref.iterate_, atol=1e-10)
    np.testing.assert_allclose(est.components_, ref.components_, atol=1e-10)
    assert dictionary_recovery(est.components_.T, planted16.dictionary) > 0.95


@pytest.mark.slow
@pytest.mark.parametrize("n", [8, 24, 64])
@pytest.mark.parametrize("chunk", [1, 10, 100, 500, 5000])
def test_streaming_recovery_for_every_chunk_size(n, chunk):
    """Recovery >= 0.95 whatever the chunk size, on streams of 8-64 atoms (issue 22; the
    peer, MiniBatchDictionaryLearning fed the same chunks, is in benchmarks/bench_odl.py)."""
    data = make_dictionary_data(n, 30000, theta=0.3, random_state=n)
    est = OnlineOrthogonalDictionary(random_state=0)
    with threadpool_limits(1):
        for start in range(0, 30000, chunk):
            est.partial_fit(data.X[start:start + chunk])
    assert dictionary_recovery(est.components_.T, data.dictionary) >= 0.95


def test_shuffle_is_reproducible_and_changes_the_stream(planted16):
    X = planted16.X[:2000]
    a, b, c = (OnlineOrthogonalDictionary(shuffle=s, max_iter=1, random_state=5)
               for s in (True, True, False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for est in (a, b, c):
            est.fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)
    assert not np.array_equal(a.components_, c.components_)


def test_memory_is_independent_of_stream_length():
    rng = np.random.default_rng(0)
    D0 = make_dictionary_data(16, 1, random_state=0).dictionary

    def stream(n_batches):
        est = OnlineOrthogonalDictionary(random_state=0)
        tracemalloc.start()
        for _ in range(n_batches):
            codes = rng.standard_normal((32, 16)) * (rng.random((32, 16)) < 0.3)
            est.partial_fit(codes @ D0.T)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert est.components_.shape == (16, 16)  # computed on demand, then cached
        state = sum(v.nbytes for v in vars(est).values() if isinstance(v, np.ndarray))
        return peak, state, len(est.history_)

    peak_short, state_short, _ = stream(20)
    peak_long, state_long, n_hist = stream(200)
    assert state_short == state_long == 3 * 16 * 16 * 8  # iterate, gradient, components
    assert n_hist == 1  # history_ of the last partial_fit call only
    assert peak_long < 1.02 * peak_short


# ----------------------------------------------------------------------------- MSP anchor
def test_first_frank_wolfe_step_is_an_msp_step(planted16):
    X = planted16.X[:500]
    W0 = _polar(np.random.default_rng(2).standard_normal((16, 16)))
    est = OnlineOrthogonalDictionary(batch_size=500, dict_init=W0, max_iter=1, tol=0.0)
    with pytest.warns(ConvergenceWarning):
        est.fit(X)
    np.testing.assert_allclose(est.components_, _msp_step(W0, X), atol=1e-12)


def test_unit_steps_on_one_batch_reproduce_msp(planted16):
    X = planted16.X[:2000]
    W0 = _polar(np.random.default_rng(4).standard_normal((16, 16)))
    reference = W0
    for _ in range(5):
        reference = _msp_step(reference, X)
    est = OnlineOrthogonalDictionary(batch_size=2000, step_exponent=0.0, averaging_exponent=0.0,
                                     dict_init=W0, max_iter=5, tol=0.0)
    with pytest.warns(ConvergenceWarning):
        est.fit(X)
    np.testing.assert_allclose(est.components_, reference, atol=1e-12)
    with pytest.warns(ConvergenceWarning):
        res = l4_msp(X, dict_init=W0, max_iter=5, tol=0.0)
    np.testing.assert_allclose(res.components, reference, atol=1e-12)
    assert res.n_iter == 5 and len(res.objective) == 6
    # MSP increases the l4 objective monotonically (Zhai et al., Proposition 6)
    assert np.all(np.diff(res.objective) >= -1e-12)


def test_schedule_follows_the_update_formulas(planted16):
    X = planted16.X[:96]
    W0 = _polar(np.random.default_rng(6).standard_normal((16, 16)))
    est = OnlineOrthogonalDictionary(dict_init=W0, step_exponent=0.7, averaging_exponent=0.4)
    W, G = W0, np.zeros((16, 16))
    for t, start in enumerate(range(0, 96, 32), start=1):
        batch = X[start:start + 32]
        est.partial_fit(batch)
        rho, gamma = t ** -0.4, t ** -0.7
        G = (1 - rho) * G + rho * 4 * ((batch @ W.T) ** 3).T @ batch / 32
        S = _polar(G)
        gap = np.sum(G * (S - W)) / np.sum(G * S)
        W = (1 - gamma) * W + gamma * S
        np.testing.assert_allclose(est.iterate_, W, atol=1e-12)
        np.testing.assert_allclose(4 * est.gradient_estimate_ * est.scale_**4, G, rtol=1e-12,
                                   atol=1e-12)
        assert est.frank_wolfe_gap_ == pytest.approx(gap, abs=1e-12)
    np.testing.assert_allclose(est.components_, _polar(W), atol=1e-12)


# ----------------------------------------------------------------------------- codes
def _best_codes_brute_force(x, W, *, alpha=None, k=None):
    """argmin over supports S of ‖x − W_Sᵀ a_S‖² (+ α²|S|), by least squares on each S."""
    n = W.shape[0]
    best, best_cost = None, np.inf
    sizes = range(n + 1) if k is None else (k,)
    for size in sizes:
        for support in itertools.combinations(range(n), size):
            a = np.zeros(n)
            if support:
                a[list(support)] = np.linalg.lstsq(W[list(support)].T, x, rcond=None)[0]
            cost = np.sum((x - W.T @ a) ** 2) + (alpha ** 2 * size if alpha else 0.0)
            if cost < best_cost - 1e-12:
                best, best_cost = a, cost
    return best


def test_codes_are_the_exact_sparse_approximations():
    rng = np.random.default_rng(8)
    X = rng.standard_normal((200, 6)) * (rng.random((200, 6)) < 0.4) @ \
        _polar(rng.standard_normal((6, 6)))
    est = OnlineOrthogonalDictionary(random_state=0, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
    W = est.components_
    samples = rng.standard_normal((5, 6))
    est.set_params(transform_algorithm="hard_threshold", transform_alpha=0.7)
    hard = est.transform(samples)
    est.set_params(transform_algorithm="top_k", transform_n_nonzero_coefs=2)
    top2 = est.transform(samples)
    for i, x in enumerate(samples):
        np.testing.assert_allclose(hard[i], _best_codes_brute_force(x, W, alpha=0.7),
                                   atol=1e-10)
        np.testing.assert_allclose(top2[i], _best_codes_brute_force(x, W, k=2), atol=1e-10)
    # default: alpha = 0 keeps every coefficient and inverse_transform inverts exactly
    est.set_params(transform_algorithm="hard_threshold", transform_alpha=0.0)
    np.testing.assert_allclose(est.inverse_transform(est.transform(samples)), samples,
                               atol=1e-12)
    # top_k default keeps max(1, round(0.1 n)) = 1 coefficient
    est.set_params(transform_algorithm="top_k", transform_n_nonzero_coefs=None)
    assert np.all((est.transform(samples) != 0).sum(axis=1) == 1)


def test_works_in_a_pipeline(planted16):
    X = planted16.X[:2000]
    y = (planted16.codes[:2000, 0] != 0).astype(int)  # is the first atom active?
    pipe = Pipeline([("dict", OnlineOrthogonalDictionary(random_state=0)),
                     ("clf", LogisticRegression())])
    pipe.set_params(dict__transform_algorithm="top_k", dict__transform_n_nonzero_coefs=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X, y)
        clone(pipe).fit(X, y)
    assert pipe.score(X, y) > 0.6
    names = pipe[:-1].get_feature_names_out()
    assert list(names[:2]) == ["onlineorthogonaldictionary0", "onlineorthogonaldictionary1"]


def test_history_and_stopping(planted16):
    X = planted16.X[:3000]  # 94 batches per pass
    est = OnlineOrthogonalDictionary(max_iter=3, tol=0.0, random_state=0)
    with pytest.warns(ConvergenceWarning):
        est.fit(X)
    assert est.n_iter_ == 3 and len(est.history_) == 3 * 94
    # the online objective estimate grows from its value at the random start
    assert np.mean(est.history_[-20:]) > np.mean(est.history_[:5])
    loose = OnlineOrthogonalDictionary(max_iter=5, tol=0.5, random_state=0).fit(X)
    assert loose.converged_ and loose.n_iter_ == 1 and loose.frank_wolfe_gap_ <= 0.5


# ----------------------------------------------------------------------------- bad input
def test_bad_inputs_give_clear_errors(planted16):
    X = planted16.X[:100]
    with pytest.raises(ValueError, match="n_components=17 is larger than n_features=16.*square"):
        OnlineOrthogonalDictionary(n_components=17).fit(X)
    with pytest.raises(ValueError, match="square"):
        l4_msp(X, n_components=20)
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        OnlineOrthogonalDictionary().fit(bad)
    est = OnlineOrthogonalDictionary(random_state=0).partial_fit(X)
    with pytest.raises(ValueError, match="NaN"):
        est.partial_fit(bad)
    with pytest.raises(ValueError, match="X has 15 features.*expecting 16"):
        est.partial_fit(X[:, :15])
    with pytest.raises(ValueError, match="X has 15 features"):
        est.transform(X[:, :15])
    with pytest.raises(ValueError, match="n_components=16 columns"):
        est.inverse_transform(X[:, :15])
    for params, match in [({"batch_size": 0}, "batch_size"),
                          ({"step_exponent": 1.5}, "step_exponent"),
                          ({"averaging_exponent": -0.1}, "averaging_exponent"),
                          ({"transform_algorithm": "soft"}, "transform_algorithm"),
                          ({"transform_alpha": -1.0}, "transform_alpha"),
                          ({"transform_n_nonzero_coefs": 17}, "transform_n_nonzero_coefs"),
                          ({"dict_init": np.eye(3)}, "dict_init"),
                          ({"dict_init": np.zeros((16, 16))}, "dict_init"),
                          ({"max_iter": 0}, "max_iter"),
                          ({"tol": -1.0}, "tol"),
                          ({"step_exponent": np.nan}, "'step_exponent' parameter"),
                          ({"averaging_exponent": np.nan}, "'averaging_exponent' parameter"),
                          ({"transform_alpha": np.inf}, "'transform_alpha' parameter"),
                          ({"shuffle": "no"}, "'shuffle' parameter"),
                          ({"batch_size": 2.0}, "'batch_size' parameter")]:
        with pytest.raises(ValueError, match=match):
            OnlineOrthogonalDictionary(**params).fit(X)
    est = OnlineOrthogonalDictionary().partial_fit(X)
    with pytest.raises(ValueError, match="overflowed.*scale_"), np.errstate(over="ignore"):
        est.partial_fit(X * 1e80)


# ----------------------------------------------------------------------------- scale
@pytest.mark.parametrize("scale", [1e-90, 1e-30, 1e-10, 1e-3, 1e3, 1e10, 1e30, 1e80])
def test_fit_is_equivariant_to_the_scale_of_x(planted16, scale):
    """Fitting ``c X`` gives the dictionary of ``X`` (atoms are dimensionless) and codes
    ``c`` times its codes, from 1e-90 (fourth powers underflow) to 1e80 (they overflow)."""
    X = planted16.X[:4000]
    params = {"random_state": 0, "max_iter": 1, "transform_alpha": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = OnlineOrthogonalDictionary(**params).fit(X)
        est = OnlineOrthogonalDictionary(**params).fit(X * scale)
    assert dictionary_recovery(ref.components_.T, planted16.dictionary) > 0.9
    np.testing.assert_allclose(est.components_, ref.components_, atol=1e-9)
    assert est.scale_ / ref.scale_ == pytest.approx(scale, rel=1.0)  # within a factor 2
    np.testing.assert_allclose(est.transform(X[:50] * scale) / scale, ref.transform(X[:50]),
                               atol=1e-9)
    assert est.frank_wolfe_gap_ == pytest.approx(ref.frank_wolfe_gap_, abs=1e-9)


def test_cupy_backend_is_refused_without_a_gpu(planted16):
    from sparserec.backend import backend_status

    if backend_status()["cupy"][0]:
        pytest.skip("a GPU is available here")
    with pytest.raises(BackendUnavailableError):
        OnlineOrthogonalDictionary(backend="cupy").fit(planted16.X[:100])


@pytest.mark.gpu
def test_cupy_matches_numpy(planted16):
    cp = pytest.importorskip("cupy")
    X = planted16.X[:2000]
    kwargs = dict(max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        host = OnlineOrthogonalDictionary(backend="numpy", **kwargs).fit(X)
        gpu = OnlineOrthogonalDictionary(backend="cupy", **kwargs).fit(cp.asarray(X))
    np.testing.assert_allclose(cp.asnumpy(gpu.components_), host.components_, atol=1e-8)


# ----------------------------------------------------------------------------- bases
def test_dct_basis_matches_scipy_dctn():
    patch = np.random.default_rng(0).standard_normal((4, 8))
    np.testing.assert_allclose(dct_basis((4, 8)) @ patch.ravel(),
                               dctn(patch, norm="ortho").ravel(), atol=1e-12)
    np.testing.assert_allclose(dct_basis(5) @ dct_basis(5).T, np.eye(5), atol=1e-12)


def test_coefficients_for_error_is_the_smallest_count_meeting_the_target():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 8)) * np.geomspace(3, 0.1, 8)
    B = pca_basis(X)
    np.testing.assert_allclose(B @ B.T, np.eye(8), atol=1e-12)
    coef = X @ B.T
    order = np.argsort(-np.abs(coef), axis=None)
    for target in (0.05, 0.2, 0.5):
        M = round(coefficients_for_error(X, B, target) * 30)
        for m, should_pass in ((M, True), (M - 1, False)):
            kept = np.zeros(coef.size)
            kept[order[:m]] = coef.ravel()[order[:m]]
            error = np.linalg.norm(X - kept.reshape(coef.shape) @ B) / np.linalg.norm(X)
            assert (error <= target) == should_pass
    with pytest.raises(ValueError, match="orthonormal"):
        coefficients_for_error(X, 2 * np.eye(8), 0.1)
    with pytest.raises(ValueError, match="target_error"):
        coefficients_for_error(X, B, 1.5)
    np.testing.assert_array_equal(sliding_windows(np.arange(6.0), 4, step=2),
                                  [[0, 1, 2, 3], [2, 3, 4, 5]])


def test_learned_dictionary_is_sparser_than_pca_and_dct_on_ecg():
    ecg = load_ecg().signal
    X = sliding_windows(ecg, 32, step=2)
    X -= X.mean(axis=1, keepdims=True)  # drop each window's baseline
    est = OnlineOrthogonalDictionary(shuffle=True, random_state=0).fit(X)
    learned, pca, dct = (coefficients_for_error(X, B, 0.3)
                         for B in (est.components_, pca_basis(X), dct_basis(32)))
    assert learned < 0.95 * min(pca, dct)


@pytest.mark.parametrize("scale", [1e-90, 1e-30, 1e-3, 1e3, 1e30, 1e80])
def test_msp_is_equivariant_to_the_scale_of_x(planted16, scale):
    """l4_msp on ``c X`` follows the same iterates as on ``X`` (before: the random start,
    "converged", at 1e-90; an SVD failure at 1e80)."""
    X = planted16.X[:3000]
    ref = l4_msp(X, random_state=0, max_iter=30)
    res = l4_msp(X * scale, random_state=0, max_iter=30)
    assert res.n_iter == ref.n_iter and res.converged == ref.converged
    np.testing.assert_allclose(res.components, ref.components, atol=1e-9)
    assert res.scale / ref.scale == pytest.approx(scale, rel=1.0)  # within a factor 2
    assert dictionary_recovery(res.components.T, planted16.dictionary) > 0.95


@pytest.mark.parametrize("G", [np.random.default_rng(0).standard_normal((16, 16)),
                               np.random.default_rng(1).standard_normal((5, 12)),
                               np.diag([3.0, 1e-6, 1.0]),  # ill-conditioned: more iterations
                               np.diag([2.0, 0.0]),  # rank deficient: the SVD's
                               np.zeros((3, 3))])
def test_newton_schulz_polar_factor_matches_svd(G):
    S, nuclear = polar_newton_schulz(G)
    np.testing.assert_allclose(S, _polar(G), atol=1e-12)
    assert float(nuclear) == pytest.approx(np.linalg.svd(G, compute_uv=False).sum(), abs=1e-12)


def test_device_steps_match_host_steps(planted16):
    # the GPU's steps (Newton-Schulz polar factors, values and gaps kept on the device,
    # read once per pass or call) give the host's iterates; NumPy stands in for CuPy
    kw = dict(batch_size=128, max_iter=2, tol=0.0, random_state=0)
    X = planted16.X[:3000]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        host = OnlineOrthogonalDictionary(**kw).fit(X)
        device = OnlineOrthogonalDictionary(**kw)
        device._device_steps = True
        device.fit(X)
    np.testing.assert_allclose(device.components_, host.components_, atol=1e-12)
    np.testing.assert_allclose(device.history_, host.history_, rtol=1e-12)
    assert all(isinstance(v, float) for v in device.history_)
    assert device.frank_wolfe_gap_ == pytest.approx(host.frank_wolfe_gap_, abs=1e-12)
    streamed = OnlineOrthogonalDictionary(batch_size=128, random_state=0)
    streamed._device_steps = True
    for start in range(0, 3000, 700):
        streamed.partial_fit(X[start:start + 700])
    once = OnlineOrthogonalDictionary(batch_size=128, random_state=0).partial_fit(X)
    np.testing.assert_allclose(streamed.components_, once.components_, atol=1e-12)
    with pytest.raises(ValueError, match="overflowed.*scale_"), np.errstate(
            over="ignore", invalid="ignore"):
        streamed.partial_fit(X * 1e80)  # found at the read after the steps
    zero = OnlineOrthogonalDictionary(batch_size=64, max_iter=1, random_state=0)
    zero._device_steps = True
    zero.fit(np.zeros((128, 16)))  # G = 0: the iterate stays, the gap is 0
    assert zero.frank_wolfe_gap_ == 0.0 and zero.orthogonality_error_ < 1e-12
