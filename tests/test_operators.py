"""Operators against dense references, and the dot-product (adjoint) test."""

import numpy as np
import pytest
from scipy.linalg import hadamard
from scipy.signal import fftconvolve
from scipy.sparse.linalg import lsqr

from sparserec import config_context
from sparserec.operators import Convolution, Hadamard, Kronecker, Stacked


def _dot_test(op, rng, is_complex=False):
    def draw(n):
        v = rng.standard_normal(n)
        return v + 1j * rng.standard_normal(n) if is_complex else v

    x, y = draw(op.shape[1]), draw(op.shape[0])
    lhs, rhs = np.vdot(y, op @ x), np.vdot(op.H @ y, x)
    assert abs(lhs - rhs) <= 1e-10 * max(abs(lhs), 1.0)


@pytest.mark.parametrize("is_complex", [False, True])
@pytest.mark.parametrize("shapes", [[(3, 4), (5, 2)], [(2, 3), (4, 2), (3, 3)]])
def test_kronecker_matches_dense(rng, shapes, is_complex):
    factors = [rng.standard_normal(s) + (1j * rng.standard_normal(s) if is_complex else 0)
               for s in shapes]
    op = Kronecker(*factors)
    dense = op.todense()
    x = rng.standard_normal((op.shape[1], 3))
    np.testing.assert_allclose(op @ x, dense @ x, atol=1e-12)
    y = rng.standard_normal(op.shape[0])
    np.testing.assert_allclose(op.rmatvec(y), dense.conj().T @ y, atol=1e-12)
    _dot_test(op, rng, is_complex)
    assert op.factor_shapes == tuple(shapes)


def test_kronecker_tensor_apply_with_batch(rng):
    A1, A2 = rng.standard_normal((3, 4)), rng.standard_normal((2, 5))
    op = Kronecker(A1, A2)
    X = rng.standard_normal((7, 4, 5))
    np.testing.assert_allclose(op.apply(X), np.einsum("ij,bjk,lk->bil", A1, X, A2), atol=1e-12)


def test_kronecker_bad_input():
    with pytest.raises(ValueError, match="at least 2 factors"):
        Kronecker(np.eye(2))
    with pytest.raises(ValueError, match="factor 1 must be a 2-D array"):
        Kronecker(np.eye(2), np.ones(3))


def test_dense_size_guard():
    op = Kronecker(np.ones((64, 64)), np.ones((64, 64)))
    with config_context(max_dense_bytes=1024), pytest.raises(MemoryError, match="todense"):
        op.todense()


@pytest.mark.parametrize("mode", ["circular", "same", "valid"])
@pytest.mark.parametrize("kshape", [(5, 3), (4, 6), (1, 1)])
def test_convolution_modes(rng, mode, kshape):
    x = rng.standard_normal((12, 10))
    h = rng.random(kshape)
    op = Convolution(h, x.shape, mode=mode)
    y = op.apply(x)
    if mode == "circular":
        ref = np.zeros_like(x)
        for (i, j), v in np.ndenumerate(h):
            ref += v * np.roll(x, (i - kshape[0] // 2, j - kshape[1] // 2), axis=(0, 1))
    elif mode == "valid":
        ref = fftconvolve(x, h, mode="valid")
    else:  # zero boundary, kernel centred at k // 2
        full = fftconvolve(x, h, mode="full")
        ref = full[kshape[0] // 2: kshape[0] // 2 + 12, kshape[1] // 2: kshape[1] // 2 + 10]
    np.testing.assert_allclose(y, ref, atol=1e-12)
    assert y.shape == op.out_shape
    _dot_test(op, rng)


def test_convolution_complex_and_batch(rng):
    h = rng.random((3, 3)) + 1j * rng.random((3, 3))
    op = Convolution(h, (8, 8), mode="same")
    _dot_test(op, rng, is_complex=True)
    X = rng.standard_normal((4, 8, 8))
    np.testing.assert_allclose(op.apply(X)[2], op.apply(X[2]), atol=1e-12)


def test_convolution_bad_input():
    with pytest.raises(ValueError, match="mode must be one of"):
        Convolution(np.ones((3, 3)), (8, 8), mode="reflect")
    with pytest.raises(ValueError, match="larger than the input"):
        Convolution(np.ones((9, 3)), (8, 8))
    with pytest.raises(ValueError, match="dimensions"):
        Convolution(np.ones(3), (8, 8))


def test_convolution_with_lsqr_fits_noiseless_data(rng):
    h = np.outer([1, 2, 1], [1, 2, 1]) / 16.0
    op = Convolution(h, (18, 18), mode="valid")  # object larger than the image
    truth = rng.standard_normal((18, 18))
    y = op.apply(truth)
    sol = lsqr(op, y.ravel(), atol=1e-14, btol=1e-14, iter_lim=5000)[0]
    np.testing.assert_allclose(op.apply(sol.reshape(18, 18)), y, atol=1e-8)


@pytest.mark.parametrize("n_bits", [0, 1, 3, 6])
def test_hadamard_matches_scipy(rng, n_bits):
    N = 1 << n_bits
    np.testing.assert_array_equal(Hadamard(n_bits, normalize=False).todense(), hadamard(N))
    op = Hadamard(n_bits)
    x = rng.standard_normal(N)
    np.testing.assert_allclose(op @ (op @ x), x, atol=1e-12)
    _dot_test(op, rng)


def test_hadamard_bad_input():
    with pytest.raises(ValueError, match="n_bits"):
        Hadamard(-1)


@pytest.mark.parametrize("axis", [0, 1])
def test_stacked(rng, axis):
    A, B = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    if axis == 1:
        A, B = A.T, B.T
    op = Stacked([A, B], axis=axis)
    dense = np.vstack([A, B]) if axis == 0 else np.hstack([A, B])
    x = rng.standard_normal(op.shape[1])
    np.testing.assert_allclose(op @ x, dense @ x)
    _dot_test(op, rng)


def test_stacked_bad_shapes():
    with pytest.raises(ValueError, match="same number of columns"):
        Stacked([np.ones((2, 3)), np.ones((2, 4))])


def test_transfer_function_folds_a_kernel_larger_than_the_grid(rng):
    from sparserec.operators import transfer_function

    kernel, shape = rng.random((9, 7)), (4, 5)
    x = rng.random(shape)
    ref = np.zeros(shape)  # the circular convolution on the 4 x 5 grid, term by term
    for i, j, a, b in np.ndindex(*shape, *kernel.shape):
        ref[(i + a - 4) % 4, (j + b - 3) % 5] += x[i, j] * kernel[a, b]
    got = np.fft.ifft2(np.fft.fft2(x) * transfer_function(kernel, shape, real=False)).real
    np.testing.assert_allclose(got, ref, atol=1e-12)
