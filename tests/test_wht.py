"""Walsh–Hadamard family: dense fwht, BCH code, SPRIGHT designs and SparseWHT.

References used: scipy.linalg.hadamard (dense matrix), rows permuted by counting sign
changes (sequency) or built from Rademacher functions (dyadic); the dense spectrum of
make_sparse_walsh signals; published BCH code dimensions (Lin & Costello, table 6.1);
brute-force minimum distance of small codes.
"""

import itertools
import warnings

import numpy as np
import pytest
from scipy.linalg import hadamard
from scipy.sparse.linalg import lsqr
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

from sparserec import BackendUnavailableError, SparseWHT
from sparserec.backend import backend_status
from sparserec.datasets import make_sparse_walsh
from sparserec.operators import Hadamard, parity
from sparserec.wht import BCHCode, WalshHadamard, fwht, natural_index
from sparserec.wht.designs import (
    CodedDelays,
    NoiselessDelays,
    RandomDelays,
    hash_bins,
    make_delays,
    random_hashing,
    signatures,
    span,
)
from sparserec.wht.spright import default_b

BACKENDS = ["numpy", "numba"]


# ----------------------------------------------------------------------------- fwht
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n_bits", range(0, 9))
def test_fwht_equals_hadamard_product(backend, n_bits, rng):
    N = 2**n_bits
    x = rng.normal(size=(3, N))
    np.testing.assert_allclose(fwht(x, backend=backend), x @ hadamard(N).T, atol=1e-10)
    np.testing.assert_allclose(fwht(x.T, axis=0, backend=backend), hadamard(N) @ x.T,
                               atol=1e-10)


def _sequency_rows(N):
    """Rows of hadamard(N) sorted by their number of sign changes."""
    H = hadamard(N)
    changes = (np.diff(H, axis=1) != 0).sum(axis=1)
    assert sorted(changes) == list(range(N))
    return H[np.argsort(changes)]


def _paley_rows(n_bits):
    """Row p = product of the Rademacher functions r_{i+1} selected by the bits of p."""
    N = 2**n_bits
    m = np.arange(N)
    rademacher = [1 - 2 * ((m >> (n_bits - 1 - i)) & 1) for i in range(n_bits)]
    rows = np.ones((N, N), dtype=int)
    for p in range(N):
        for i in range(n_bits):
            if p >> i & 1:
                rows[p] *= rademacher[i]
    return rows


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n_bits", [1, 3, 6])
def test_orderings_against_permuted_hadamard(backend, n_bits):
    N = 2**n_bits
    eye = np.eye(N)
    np.testing.assert_array_equal(fwht(eye, axis=0, ordering="sequency", backend=backend),
                                  _sequency_rows(N))
    np.testing.assert_array_equal(fwht(eye, axis=0, ordering="dyadic", backend=backend),
                                  _paley_rows(n_bits))
    for ordering in ("sequency", "dyadic"):
        rows = natural_index(n_bits, ordering)
        np.testing.assert_array_equal(fwht(eye, axis=0, ordering=ordering, backend=backend),
                                      hadamard(N)[rows])


@pytest.mark.parametrize("backend", BACKENDS)
def test_fwht_inverse_orthogonal_linear(backend, rng):
    x, z = rng.normal(size=(2, 2, 256))
    N = 256
    np.testing.assert_allclose(fwht(fwht(x, backend=backend), backend=backend), N * x,
                               rtol=1e-12)
    y = fwht(x, normalize=True, backend=backend)
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), np.linalg.norm(x, axis=-1))
    np.testing.assert_allclose(fwht(y, normalize=True, backend=backend), x, atol=1e-12)
    np.testing.assert_allclose(fwht(2 * x - 3 * z, backend=backend),
                               2 * fwht(x, backend=backend) - 3 * fwht(z, backend=backend),
                               atol=1e-10)


@pytest.mark.parametrize("n_bits", [15, 16, 17, 19, 20, pytest.param(21, marks=pytest.mark.slow)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numba_matches_numpy_on_large_transforms(n_bits, dtype, rng):
    # above 2**15 the numba kernel does rows in cache then sweeps across 2..128 rows
    # (radix 2, 8, 8+4+4, 4+4, ...); from 2**21 values in all (n_bits=20: two rows), in
    # parallel
    x = rng.normal(size=(2, 2**n_bits)).astype(dtype)
    ref = fwht(x.astype(np.float64), backend="numpy")
    for ordering in ("natural", "sequency"):
        got = fwht(x, backend="numba", ordering=ordering, normalize=True)
        assert got.dtype == dtype
        rows = natural_index(n_bits, ordering)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, ref[:, rows] / 2 ** (n_bits / 2), atol=tol * 4,
                                   rtol=tol)


@pytest.mark.parametrize("backend", BACKENDS)
def test_fwht_dtypes_out_and_in_place(backend, rng):
    assert fwht(np.arange(8), backend=backend).dtype == np.float64
    c = rng.normal(size=16) + 1j * rng.normal(size=16)
    np.testing.assert_allclose(fwht(c, backend=backend), hadamard(16) @ c)
    x = rng.normal(size=(32, 4))
    ref = hadamard(32) @ x
    out = np.empty_like(x)
    assert fwht(x, axis=0, out=out, backend=backend) is out
    np.testing.assert_allclose(out, ref)
    y = x.copy()
    assert fwht(y, axis=0, out=y, ordering="dyadic", backend=backend) is y
    np.testing.assert_allclose(y, ref[natural_index(5, "dyadic")])
    with pytest.raises(ValueError, match="out must have shape"):
        fwht(x, out=np.empty((4, 32)), backend=backend)


def test_fwht_bad_input():
    with pytest.raises(ValueError, match="power of two"):
        fwht(np.ones(12))
    with pytest.raises(ValueError, match="power of two"):
        fwht(np.ones((8, 0)))
    with pytest.raises(ValueError, match="ordering must be one of"):
        fwht(np.ones(8), ordering="gray")
    with pytest.raises(TypeError, match="normalize"):
        fwht(np.ones(8), normalize="ortho")
    with pytest.raises(ValueError, match="axis must be in"):
        fwht(np.ones((2, 8)), axis=2)
    with pytest.raises(ValueError, match="at least one dimension"):
        fwht(np.float64(1.0))
    with pytest.raises(TypeError, match="numeric"):
        fwht(np.array(["a", "b"]))
    with pytest.raises(ValueError, match="backend must be one of"):
        fwht(np.ones(8), backend="torch")


@pytest.mark.skipif(backend_status()["cupy"][0], reason="a GPU is present")
def test_fwht_cupy_unavailable_is_explicit():
    with pytest.raises(BackendUnavailableError):
        fwht(np.ones(8), backend="cupy")


@pytest.mark.parametrize("ordering", ["natural", "sequency", "dyadic"])
def test_walsh_hadamard_operator(ordering, rng):
    n_bits = 5
    op = WalshHadamard(n_bits, ordering=ordering, backend="numba")
    dense = op.todense()
    np.testing.assert_allclose(dense, hadamard(32)[natural_index(n_bits, ordering)]
                               / np.sqrt(32))
    np.testing.assert_allclose(dense, dense.T)  # symmetric: adjoint = apply
    x = rng.normal(size=32)
    np.testing.assert_allclose(op.H @ (op @ x), x, atol=1e-12)
    np.testing.assert_allclose(lsqr(op, op @ x, atol=1e-14, btol=1e-14)[0], x, atol=1e-8)
    if ordering == "natural":
        np.testing.assert_allclose(dense, Hadamard(n_bits).todense())


# ----------------------------------------------------------------------------- BCH code
# (n, k, t) of primitive binary BCH codes, Lin & Costello, Error Control Coding, table 6.1
PUBLISHED_BCH = [(7, 4, 1), (15, 11, 1), (15, 7, 2), (15, 5, 3), (31, 26, 1), (31, 21, 2),
                 (31, 16, 3), (31, 11, 5), (31, 6, 7), (63, 57, 1), (63, 51, 2), (63, 45, 3),
                 (63, 39, 4), (63, 36, 5), (63, 30, 6), (63, 24, 7), (63, 18, 10),
                 (127, 120, 1), (127, 113, 2), (127, 106, 3), (127, 99, 4), (127, 92, 5),
                 (127, 85, 6), (127, 78, 7), (127, 71, 9), (127, 64, 10), (127, 57, 11),
                 (127, 50, 13), (127, 43, 14), (255, 247, 1), (255, 239, 2), (255, 231, 3)]


@pytest.mark.parametrize("n, k, t", PUBLISHED_BCH)
def test_bch_dimensions_match_published_table(n, k, t):
    code = BCHCode(n.bit_length(), t)
    assert (code.n, code.k) == (n, k)
    # cyclic code: g(x) divides x^n + 1 over GF(2)
    rem = [1] + [0] * (n - 1) + [1]  # x^n + 1, constant term first
    g = code.generator.tolist()
    for shift in range(len(rem) - len(g), -1, -1):
        if rem[shift + len(g) - 1]:
            for i, gi in enumerate(g):
                rem[shift + i] ^= gi
    assert not any(rem)
    assert not code.syndromes(np.ones((1, n), dtype=np.uint8)).any()  # all-ones word


@pytest.mark.parametrize("m, t, distance", [(4, 2, 5), (4, 3, 7), (5, 3, 7), (5, 5, 11)])
def test_bch_minimum_distance_brute_force(m, t, distance):
    code = BCHCode(m, t)
    messages = np.array(list(itertools.product([0, 1], repeat=code.k)))[1:]
    assert code.encode(messages).sum(axis=1).min() == distance


@pytest.mark.parametrize("m, t", [(4, 2), (5, 3), (6, 6), (7, 14), (8, 4)])
def test_bch_corrects_up_to_t_errors(m, t, rng):
    code = BCHCode(m, t)
    words = code.encode(rng.integers(0, 2, size=(200, code.k)))
    noisy = words.copy()
    for row, n_err in zip(noisy, rng.integers(0, t + 1, size=200), strict=True):
        row[rng.choice(code.n, n_err, replace=False)] ^= 1
    decoded, ok = code.decode(noisy)
    assert ok.all()
    np.testing.assert_array_equal(decoded, words)
    # beyond t errors: either detected, or a (wrong) codeword, never a non-codeword
    noisy = words.copy()
    for row in noisy:
        row[rng.choice(code.n, t + 1 + rng.integers(0, 3), replace=False)] ^= 1
    decoded, ok = code.decode(noisy)
    assert not code.syndromes(decoded[ok]).any()
    assert (~ok).any()


def test_bch_bad_parameters():
    with pytest.raises(ValueError, match="m must be"):
        BCHCode(2, 1)
    with pytest.raises(ValueError, match="t must be"):
        BCHCode(5, 16)
    with pytest.raises(ValueError, match="words must have 31"):
        BCHCode(5, 2).decode(np.zeros(15))


# ----------------------------------------------------------------------------- designs
def test_subsampled_wht_aliases_the_spectrum(rng):
    """The B-point WHT of x(M l ⊕ d) / B is Σ_{k: h(k)=j} X[k] (−1)^{<k,d>} (dense check)."""
    n, b = 8, 3
    p = make_sparse_walsh(n, 12, random_state=1)
    X = np.zeros(2**n)
    X[p.support.astype(int)] = p.coef
    cols = random_hashing(n, b, np.zeros(0, dtype=np.uint64), np.random.RandomState(0))
    k_all = np.arange(2**n, dtype=np.uint64)
    bins = hash_bins(k_all, cols)
    for d in (0, 5, 77):
        idx = span(cols) ^ np.uint64(d)
        U = fwht(p.signal[idx.astype(int)]) / 2**b
        sign = 1.0 - 2.0 * parity(k_all & np.uint64(d))
        expected = np.bincount(bins, weights=X * sign, minlength=2**b)
        np.testing.assert_allclose(U, expected, atol=1e-12)


@pytest.mark.parametrize("n_bits", [3, 12, 40])
def test_delay_designs_read_single_tons(n_bits):
    rs = np.random.RandomState(n_bits)
    k = np.array([rs.randint(0, 2**min(n_bits, 31)) for _ in range(40)], dtype=np.uint64)
    amp = rs.choice([-2.0, -0.5, 0.3, 1.0], size=40)
    for design in (NoiselessDelays(n_bits), RandomDelays(n_bits, 5, rs),
                   CodedDelays(n_bits, None, rs)):
        obs = amp[:, None] * signatures(k, design.delays)
        decoded, ok = design.decode(obs)
        assert ok.all()
        np.testing.assert_array_equal(decoded, k)
    # the code corrects t flipped signs; majority votes survive 2 corrupted chains of 5
    coded = CodedDelays(n_bits, None, rs)
    obs = amp[:, None] * signatures(k, coded.delays)
    for row in obs:
        row[rs.choice(obs.shape[1], coded.t, replace=False)] *= -1
    decoded, ok = coded.decode(obs)
    assert ok.all() and np.array_equal(decoded, k)
    rand = RandomDelays(n_bits, 5, rs)
    obs = amp[:, None] * signatures(k, rand.delays)
    obs.reshape(40, 5, n_bits + 1)[:, :2, 1:] *= -1
    decoded, ok = rand.decode(obs)
    assert ok.all() and np.array_equal(decoded, k)


def test_hashing_separates_delays():
    """Each group reads distinct samples: the delays differ modulo the hash's span."""
    rs = np.random.RandomState(0)
    n, b = 20, 7
    delays = CodedDelays(n, None, rs).delays
    for _ in range(5):
        cols = random_hashing(n, b, delays, rs)
        idx = (span(cols)[None, :] ^ delays[:, None]).ravel()
        assert np.unique(idx).size == idx.size


# ----------------------------------------------------------------------------- SparseWHT
def _exact(est, problem):
    return (est.support_.size == problem.support.size
            and np.array_equal(est.support_, problem.support)
            and np.allclose(est.coef_, problem.coef, atol=1e-8))


def _recovery_rate(designs, n_bits_list, sparsities, trials):
    results = {}
    for design, n, K in itertools.product(designs, n_bits_list, sparsities):
        ok = 0
        for seed in range(trials):
            p = make_sparse_walsh(n, K, random_state=10_000 + seed, as_callable=n > 16)
            est = SparseWHT(sparsity=K, n_bits=n, design=design, random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                ok += _exact(est.fit(p.signal), p)
        results[design, n, K] = ok / trials
    return results


@pytest.mark.parametrize("design", ["noiseless", "random", "coded"])
def test_noiseless_exact_recovery_seeded_sweep(design):
    rates = _recovery_rate([design], [10, 14, 20], [1, 7, 50, 200], trials=5)
    assert np.mean(list(rates.values())) >= 0.98, rates


@pytest.mark.slow
@pytest.mark.parametrize("design", ["noiseless", "random", "coded"])
def test_noiseless_exact_recovery_probability(design):
    """P(exact recovery) >= 0.99 over K = 1..200, n = 10..20, 40 trials per cell."""
    rates = _recovery_rate([design], [10, 12, 14, 16, 18, 20],
                           [1, 2, 3, 5, 8, 13, 20, 30, 50, 75, 100, 150, 200], trials=40)
    assert np.mean(list(rates.values())) >= 0.99, rates
    assert min(rates.values()) >= 0.95, rates


@pytest.mark.parametrize("design", ["random", "coded"])
def test_noisy_recovery_at_10db(design):
    n, K, trials = 14, 25, 8
    exact, errors, sigmas = 0, [], []
    for seed in range(trials):
        p = make_sparse_walsh(n, K, snr_db=10, values="sign", random_state=seed)
        est = SparseWHT(sparsity=K, design=design, random_state=seed).fit(p.signal)
        if est.support_.size == K and np.array_equal(est.support_, p.support):
            exact += 1
            errors.append(np.max(np.abs(est.coef_ - p.coef)))
        sigmas.append(est.noise_sigma_ / np.sqrt(p.noise_var))
    assert exact == trials
    # coefficient error: each estimate averages C·P observations of variance σ²/B
    assert np.max(errors) < 0.25
    np.testing.assert_allclose(sigmas, 1.0, atol=0.15)


def test_noise_sigma_given_is_used():
    p = make_sparse_walsh(12, 10, snr_db=10, values="sign", random_state=3)
    est = SparseWHT(sparsity=10, noise_sigma=np.sqrt(p.noise_var), random_state=0)
    est.fit(p.signal)
    assert est.noise_sigma_ == pytest.approx(np.sqrt(p.noise_var))
    assert np.array_equal(est.support_, p.support)


def test_callable_with_40_bits():
    p = make_sparse_walsh(40, 20, random_state=0)
    calls = []

    def f(idx):
        calls.append(idx.dtype)
        return p.signal(idx)

    est = SparseWHT(sparsity=20, random_state=0).fit(f, n_bits=40)
    assert _exact(est, p)
    assert est.n_samples_used_ < 2e-7 * 2**40
    assert set(calls) == {np.dtype(np.uint64)}
    m = np.random.default_rng(1).integers(0, 2**40, size=50, dtype=np.uint64)
    np.testing.assert_allclose(est.predict(m), p.signal(m))


def test_predict_and_inverse_match_dense(rng):
    p = make_sparse_walsh(10, 8, random_state=2)
    est = SparseWHT(sparsity=8, design="noiseless", random_state=0).fit(p.signal)
    np.testing.assert_allclose(est.inverse(), p.signal, atol=1e-12)
    idx = rng.integers(0, 1024, size=(3, 5))
    np.testing.assert_allclose(est.predict(idx), p.signal[idx])


def test_reproducible_and_backends_agree():
    p = make_sparse_walsh(14, 30, snr_db=15, random_state=4)
    fits = [SparseWHT(sparsity=30, backend=be, random_state=7).fit(p.signal)
            for be in ("numpy", "numba", "numba")]
    for other in fits[1:]:
        np.testing.assert_array_equal(other.support_, fits[0].support_)
        np.testing.assert_allclose(other.coef_, fits[0].coef_, rtol=1e-12)
    np.testing.assert_array_equal(fits[1].coef_, fits[2].coef_)


def test_max_iter_honoured_and_stall_warns():
    p = make_sparse_walsh(16, 150, random_state=0)
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        est = SparseWHT(sparsity=150, max_iter=1, random_state=0).fit(p.signal)
    assert est.n_iter_ == 1 and not est.converged_ and len(est.history_) == 1
    # far more coefficients than the design: peeling stalls, partial result, warning
    with pytest.warns(ConvergenceWarning, match="stalled"):
        est = SparseWHT(sparsity=5, b=3, random_state=0).fit(p.signal)
    assert not est.converged_
    assert est.support_.size < 150


def test_zero_signal():
    est = SparseWHT(sparsity=4).fit(np.zeros(256))
    assert est.support_.size == 0 and est.converged_ and est.n_iter_ == 0
    np.testing.assert_array_equal(est.predict(np.arange(4)), 0.0)


def test_bad_input():
    x = make_sparse_walsh(8, 3, random_state=0).signal
    with pytest.raises(ValueError, match="power of two"):
        SparseWHT().fit(np.ones(100))
    with pytest.raises(ValueError, match="1-D signal"):
        SparseWHT().fit(np.ones((16, 16)))
    with pytest.raises(TypeError, match="real numeric"):
        SparseWHT().fit(x + 1j)
    with pytest.raises(ValueError, match="NaN or infinite"):
        SparseWHT(sparsity=3).fit(np.full(256, np.nan))
    with pytest.raises(ValueError, match="n_bits must be given"):
        SparseWHT().fit(lambda idx: np.zeros(idx.shape))
    with pytest.raises(ValueError, match="one value per index"):
        SparseWHT(sparsity=3).fit(lambda idx: np.zeros(3), n_bits=20)
    with pytest.raises(ValueError, match="NaN or infinite"):
        SparseWHT(sparsity=3).fit(lambda idx: np.full(idx.shape, np.inf), n_bits=20)
    with pytest.raises(TypeError, match="real numbers"):
        SparseWHT(sparsity=3).fit(lambda idx: idx.astype(complex), n_bits=20)
    with pytest.raises(ValueError, match="does not match"):
        SparseWHT(sparsity=3, n_bits=9).fit(x)
    with pytest.raises(ValueError, match="more than the design supports"):
        SparseWHT(sparsity=100, b=4).fit(x)
    with pytest.raises(ValueError, match="sparsity must be at most"):
        SparseWHT(sparsity=300).fit(x)
    with pytest.raises(ValueError, match="'design' parameter of SparseWHT"):
        SparseWHT(design="fast").fit(x)
    with pytest.raises(ValueError, match="n_groups"):
        SparseWHT(n_groups=1).fit(x)
    with pytest.raises(ValueError, match="n_delays must be None or n_bits"):
        SparseWHT(sparsity=3, design="noiseless", n_delays=5).fit(x)
    with pytest.raises(ValueError, match="at most 1023"):
        SparseWHT(sparsity=3, n_delays=2000).fit(x)
    for params in ({"noise_sigma": -1.0}, {"noise_sigma": np.nan}, {"noise_sigma": np.inf},
                   {"sparsity": 2.5}, {"n_groups": 9}, {"b": 0}, {"n_delays": 0},
                   {"tol": np.nan}):
        name = next(iter(params))
        with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of SparseWHT"):
            SparseWHT(**params).fit(x)
    with pytest.raises(ValueError, match="n_bits"):
        SparseWHT(sparsity=3).fit(lambda idx: idx, n_bits=70)
    est = SparseWHT(sparsity=3, random_state=0).fit(x)
    with pytest.raises(ValueError, match="indices must lie"):
        est.predict([-1])
    with pytest.raises(ValueError, match="indices must lie"):
        est.predict([256])
    with pytest.raises(TypeError, match="indices must be integers"):
        est.predict([0.5])


def test_default_b_rule():
    # load K/B <= 0.8, pairs sharing all C bins rare, and low load for small kernels
    assert default_b(100, 3, 24) == 8
    assert default_b(1000, 3, 40) == 11
    assert default_b(200, 3, 10) == 9
    assert default_b(5, 3, 30) == 5
    assert 2 ** default_b(100, 3, 5) == 32  # capped at n


# ----------------------------------------------------------------------------- scale
@pytest.mark.parametrize("design", ["noiseless", "coded", "random"])
@pytest.mark.parametrize("scale", [1e-170, 1e-90, 1e-30, 1e-5, 1e5, 1e30, 1e160, 1e300])
def test_fit_is_equivariant_to_the_scale_of_x(design, scale):
    """``c x`` gives the support of ``x`` and ``c`` times its coefficients and noise level,
    from 1e-170 (squared energies underflow) to 1e300 (the bin sums would overflow)."""
    p = make_sparse_walsh(12, 20, snr_db=None if design == "noiseless" else 20,
                          random_state=1)
    ref = SparseWHT(sparsity=20, design=design, random_state=0).fit(p.signal)
    assert ref.converged_ and np.array_equal(ref.support_, p.support)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning, no overflow
        est = SparseWHT(sparsity=20, design=design, random_state=0).fit(p.signal * scale)
    assert est.converged_ and np.array_equal(est.support_, ref.support_)
    np.testing.assert_allclose(est.coef_ / scale, ref.coef_, rtol=1e-12)
    assert est.noise_sigma_ / scale == pytest.approx(ref.noise_sigma_, rel=0.5)
    sigma = max(np.sqrt(p.noise_var), 1e-3) * scale
    given = SparseWHT(sparsity=20, design=design, noise_sigma=sigma,
                      random_state=0).fit(p.signal * scale)
    assert np.array_equal(given.support_, p.support) and given.noise_sigma_ == sigma


def test_noise_far_above_the_signal_explains_everything():
    x = make_sparse_walsh(10, 5, random_state=0).signal
    est = SparseWHT(sparsity=5, noise_sigma=1e300, random_state=0).fit(x)
    assert est.support_.size == 0 and est.noise_sigma_ == 1e300


# ----------------------------------------------------------------------------- dense spectra
@pytest.mark.parametrize("design", ["noiseless", "coded", "random"])
@pytest.mark.parametrize("n_nonzero", [1000, 4096])
def test_spectrum_denser_than_sparsity_is_not_converged(design, n_nonzero):
    """Issues 21.2 / 22: a spectrum far denser than ``sparsity`` aliases into noise-like
    bins; the fit must say it did not resolve it, for every one of 10 seeds."""
    for seed in range(10):
        p = make_sparse_walsh(12, n_nonzero, random_state=seed)
        est = SparseWHT(sparsity=10, design=design, random_state=seed)
        with pytest.warns(ConvergenceWarning, match="denser than sparsity"):
            est.fit(p.signal)
        assert not est.converged_ and est.read_probability_ < 0.5
        assert est.support_.size < n_nonzero


def test_sparse_signals_at_moderate_snr_stay_credible():
    # the credibility check does not fire where the designs work (K = sparsity, 10 dB)
    for design in ("noiseless", "coded", "random"):
        for seed in range(5):
            p = make_sparse_walsh(12, 10, snr_db=10, values="sign", random_state=seed)
            est = SparseWHT(sparsity=10, design=design, random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                est.fit(p.signal)
            assert est.read_probability_ > 0.9, (design, seed)
            p = make_sparse_walsh(12, 10, random_state=seed)
            assert SparseWHT(sparsity=10, design=design,
                             random_state=seed).fit(p.signal).read_probability_ == 1.0


def test_read_probability_against_simulation():
    """Each design's read_probability(q) against Monte Carlo sign flips through decode."""
    rng = np.random.default_rng(0)
    check = np.random.RandomState(0)
    n_bits, k = 10, 0b1011001110
    for design, n_delays in (("noiseless", None), ("random", 33), ("coded", 31)):
        delays = make_delays(design, n_bits, n_delays, check)
        clean = signatures(np.array([k], dtype=np.uint64), delays.delays)[0]
        for q in (0.01, 0.05, 0.15):
            flips = rng.random((20000, clean.size)) < q
            decoded, ok = delays.decode(np.where(flips, -clean, clean) * 3.0)
            rate = np.mean(ok & (decoded == k))
            assert rate == pytest.approx(delays.read_probability(q), abs=0.02), (design, q)


@pytest.mark.parametrize("n_nonzero", [30, 100, 300])
def test_adaptive_grows_the_bins_until_peeling_resolves(n_nonzero):
    """``adaptive=True`` recovers spectra 3-30x denser than ``sparsity`` exactly (10 seeds)
    and reports the samples of all its attempts, fewer than the signal has."""
    n = 16
    for seed in range(10):
        p = make_sparse_walsh(n, n_nonzero, random_state=seed)
        est = SparseWHT(sparsity=10, design="noiseless", adaptive=True, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            est.fit(p.signal)
        assert est.converged_ and np.array_equal(est.support_, p.support), seed
        np.testing.assert_allclose(est.coef_, p.coef, rtol=1e-9, atol=1e-9)
        b0 = default_b(10, 3, n)
        assert est.b_ > b0
        assert est.n_samples_used_ == 3 * (n + 1) * sum(2**b for b in range(b0, est.b_ + 1))
        assert est.n_samples_used_ < 2**n


def test_adaptive_on_a_fully_dense_spectrum_stops_at_the_dense_cost():
    p = make_sparse_walsh(14, 2**14, random_state=0)
    est = SparseWHT(sparsity=10, design="noiseless", adaptive=True, random_state=0)
    with pytest.warns(ConvergenceWarning, match="2\\*\\*n"):
        est.fit(p.signal)
    assert not est.converged_ and est.n_samples_used_ <= 2**14


@pytest.mark.parametrize("threads", [1, 2])
def test_numba_fwht_same_result_with_any_thread_count(threads):
    """The parallel twins (rows, then column ranges, dynamic schedule) agree bit for bit
    with the serial ones: each value sees the same operations in the same order."""
    import numba

    x = np.random.default_rng(3).standard_normal((2, 2**21))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        ref = fwht(x, backend="numba", normalize=True)
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        got = fwht(x, backend="numba", normalize=True)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(got, ref)
