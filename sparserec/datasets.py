"""Bundled real data and synthetic problem generators.

Bundled files live in the package's data folder, listed with source, license, shape and
SHA-256 in its ``MANIFEST`` (see :func:`list_datasets`); every load checks the checksum.
Generators take a ``random_state`` and return :class:`sklearn.utils.Bunch` objects whose
fields name the ground truth, so tests and examples read ``problem.coef`` rather than
unpacking long tuples.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import math
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch, check_random_state

__all__ = [
    "list_datasets",
    "load_image",
    "load_ecg",
    "make_sparse_signal",
    "make_sparse_regression",
    "make_kronecker_problem",
    "make_dictionary_data",
    "make_sparse_walsh",
    "make_selfcal_problem",
    "make_sky_field",
    "make_blurred_image",
    "add_noise",
    "standard_normal",
]


# --------------------------------------------------------------------------- bundled data
def _data_dir() -> Path:
    try:
        return Path(str(importlib.resources.files("sparserec._data")))
    except ModuleNotFoundError:  # running from a source checkout, not an installed wheel
        return Path(__file__).resolve().parent.parent / "datasets"


@functools.cache
def list_datasets() -> dict[str, dict]:
    """The bundled data files, read from the MANIFEST.

    Returns
    -------
    datasets : dict
        ``{name: {"file", "shape", "dtype", "sha256", "source", "license"}}``.

    Examples
    --------
    >>> from sparserec.datasets import list_datasets
    >>> sorted(list_datasets())
    ['camera', 'ecg', 'hubble_deep_field', 'moon']
    """
    lines = (_data_dir() / "MANIFEST").read_text(encoding="utf-8").splitlines()
    rows = [line.split("\t") for line in lines if line and not line.startswith("#")]
    header, *entries = rows
    return {row[0]: dict(zip(header[1:], row[1:], strict=True)) for row in entries}


def _bundled_file(name: str) -> Path:
    entries = list_datasets()
    if name not in entries:
        raise ValueError(f"name must be one of {sorted(entries)}, got {name!r}")
    entry = entries[name]
    path = _data_dir() / entry["file"]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != entry["sha256"]:
        raise OSError(f"bundled file {path} is corrupted: sha256 {digest} does not match "
                      f"the MANIFEST ({entry['sha256']}); reinstall sparserec")
    return path


_IMAGES = ("hubble_deep_field", "camera", "moon")


def load_image(name: str = "hubble_deep_field", *, as_gray: bool = True) -> np.ndarray:
    """Load a bundled image as float64 in ``[0, 1]``.

    Parameters
    ----------
    name : {"hubble_deep_field", "camera", "moon"}
        ``hubble_deep_field`` is the Hubble eXtreme Deep Field (872 × 1000, colour);
        ``camera`` and ``moon`` are 512 × 512 grey test images.
    as_gray : bool
        Convert colour images to grey (luminance, :func:`skimage.color.rgb2gray`).

    Examples
    --------
    >>> from sparserec.datasets import load_image
    >>> load_image("hubble_deep_field").shape
    (872, 1000)
    """
    if name not in _IMAGES:
        raise ValueError(f"name must be one of {_IMAGES}, got {name!r}")
    import imageio.v3 as iio

    image = iio.imread(_bundled_file(name))
    image = image.astype(np.float64) / np.iinfo(image.dtype).max
    if as_gray and image.ndim == 3:
        from skimage.color import rgb2gray

        image = rgb2gray(image)
    return image


def load_ecg() -> Bunch:
    """A real sensor recording: 5 minutes of ECG (MIT-BIH record 208, lead MLII, 360 Hz).

    Returns
    -------
    data : Bunch
        ``signal`` (108000 samples, millivolts), ``fs`` (360.0 Hz) and ``description``.

    Examples
    --------
    >>> from sparserec.datasets import load_ecg
    >>> ecg = load_ecg()
    >>> ecg.signal.shape, ecg.fs
    ((108000,), 360.0)
    """
    with np.load(_bundled_file("ecg")) as f:
        counts = f["ecg"].astype(np.float64)
    return Bunch(
        signal=(counts - 1024.0) / 200.0,  # ADC zero 1024, gain 200 counts/mV (record header)
        fs=360.0,
        description=list_datasets()["ecg"]["source"],
    )


# --------------------------------------------------------------------------- generators
def standard_normal(size, *, is_complex: bool = False, random_state=None) -> np.ndarray:
    """Standard Gaussian draws; circular complex (unit variance) with ``is_complex``.

    Examples
    --------
    >>> from sparserec.datasets import standard_normal
    >>> standard_normal((2, 3), is_complex=True, random_state=0).dtype
    dtype('complex128')
    """
    return _gaussian(check_random_state(random_state), size, is_complex)


def _gaussian(rng, size, is_complex: bool):
    if is_complex:
        return (rng.standard_normal(size) + 1j * rng.standard_normal(size)) / np.sqrt(2)
    return rng.standard_normal(size)


def add_noise(clean, snr_db: float | None, *, random_state=None) -> tuple[np.ndarray, float]:
    """``clean`` plus white Gaussian noise (circular complex for complex data) at ``snr_db``.

    Returns the noisy array and the noise variance (``0.0`` and a copy for
    ``snr_db=None``); the signal power is the mean of ``|clean|**2``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.datasets import add_noise
    >>> noisy, var = add_noise(np.ones(4), 20.0, random_state=0)
    >>> var
    0.01
    """
    if snr_db is None:
        return clean.copy(), 0.0
    power = np.vdot(clean, clean).real / clean.size
    noise_var = power / 10 ** (snr_db / 10)
    rng = check_random_state(random_state)
    noise = np.sqrt(noise_var) * _gaussian(rng, clean.shape, np.iscomplexobj(clean))
    return clean + noise, float(noise_var)


def make_sparse_signal(n_features: int, n_nonzero: int, *, is_complex: bool = False,
                       random_state=None) -> Bunch:
    """A sparse vector with ``n_nonzero`` Gaussian entries at random positions.

    Examples
    --------
    >>> from sparserec.datasets import make_sparse_signal
    >>> s = make_sparse_signal(100, 5, random_state=0)
    >>> int((s.coef != 0).sum()), s.support.shape
    (5, (5,))
    """
    if not 0 <= n_nonzero <= n_features:
        raise ValueError(f"n_nonzero must be in [0, n_features={n_features}], got {n_nonzero}")
    rng = check_random_state(random_state)
    support = np.sort(rng.choice(n_features, n_nonzero, replace=False))
    coef = np.zeros(n_features, dtype=complex if is_complex else float)
    coef[support] = _gaussian(rng, n_nonzero, is_complex)
    return Bunch(coef=coef, support=support)


def make_sparse_regression(n_samples: int, n_features: int, n_nonzero: int, *,
                           correlation: float = 0.0, snr_db: float | None = None,
                           random_state=None) -> Bunch:
    """A Gaussian design with Toeplitz correlation ``ρ^|i−j|`` and a sparse linear target.

    Parameters
    ----------
    correlation : float in [0, 1)
        ``ρ``: neighbouring columns are correlated (an AR(1) process across columns).
    snr_db : float, optional
        Noise level; ``None`` for noiseless targets.

    Returns
    -------
    problem : Bunch
        ``X`` (n_samples, n_features), ``y``, ``coef``, ``support``, ``noise_var``.

    Examples
    --------
    >>> from sparserec.datasets import make_sparse_regression
    >>> p = make_sparse_regression(50, 200, 5, correlation=0.5, snr_db=20, random_state=0)
    >>> p.X.shape, p.y.shape
    ((50, 200), (50,))
    """
    if not 0 <= correlation < 1:
        raise ValueError(f"correlation must be in [0, 1), got {correlation}")
    rng = check_random_state(random_state)
    X = rng.standard_normal((n_samples, n_features))
    if correlation > 0:
        from scipy.signal import lfilter

        scale = np.sqrt(1 - correlation**2)
        X[:, 0] /= scale  # so that the AR(1) starts stationary: every column has unit variance
        X = lfilter([scale], [1, -correlation], X, axis=1)
    truth = make_sparse_signal(n_features, n_nonzero, random_state=rng)
    y, noise_var = add_noise(X @ truth.coef, snr_db, random_state=rng)
    return Bunch(X=X, y=y, coef=truth.coef, support=truth.support, noise_var=noise_var)


def make_kronecker_problem(factor_shapes, n_nonzero, *, snr_db: float | None = None,
                           is_complex: bool = False, n_targets: int | None = None,
                           separable: bool = False, random_state=None) -> Bunch:
    """``y = (A_1 ⊗ … ⊗ A_I) x + n`` with a Kronecker-structured support.

    The support of ``x`` is the Kronecker product of one random support per factor (so
    ``supp x = supp x_1 ⊗ … ⊗ supp x_I``); the nonzero values are i.i.d. Gaussian.
    Factors have i.i.d. Gaussian entries with unit-norm columns.

    Parameters
    ----------
    factor_shapes : sequence of (M_i, N_i)
    n_nonzero : int or sequence of int
        Support size per factor; the support of ``x`` has ``prod(n_nonzero)`` entries.
    n_targets : int, optional
        Several measurement vectors sharing the support (``y`` and ``coef`` get a
        trailing axis of that length).
    separable : bool
        Nonzero values ``x_1 ⊗ … ⊗ x_I`` (one Gaussian vector per factor, as in He &
        Joseph's simulations, arXiv 2307.14719) instead of i.i.d. values.

    Returns
    -------
    problem : Bunch
        ``factors`` (list of arrays), ``y``, ``coef``, ``support`` (flat indices),
        ``factor_supports``, ``noise_var``.

    Examples
    --------
    >>> from sparserec.datasets import make_kronecker_problem
    >>> p = make_kronecker_problem([(8, 16), (8, 16)], 2, snr_db=30, random_state=0)
    >>> p.y.shape, p.coef.shape, p.support.size
    ((64,), (256,), 4)
    """
    factor_shapes = [tuple(int(v) for v in s) for s in factor_shapes]
    if len(factor_shapes) < 2 or any(len(s) != 2 for s in factor_shapes):
        raise ValueError(f"factor_shapes must list at least two (M_i, N_i) pairs, "
                         f"got {factor_shapes}")
    ks = [n_nonzero] * len(factor_shapes) if np.isscalar(n_nonzero) else list(n_nonzero)
    if len(ks) != len(factor_shapes):
        raise ValueError("n_nonzero must be an int or have one entry per factor")
    rng = check_random_state(random_state)
    factors, supports = [], []
    for (m, n), k in zip(factor_shapes, ks, strict=True):
        if not 1 <= k <= n:
            raise ValueError(f"n_nonzero per factor must be in [1, {n}], got {k}")
        A = _gaussian(rng, (m, n), is_complex)
        factors.append(A / np.linalg.norm(A, axis=0))
        supports.append(np.sort(rng.choice(n, k, replace=False)))
    sizes = [n for _, n in factor_shapes]
    grids = np.meshgrid(*supports, indexing="ij")
    support = np.sort(np.ravel_multi_index([g.ravel() for g in grids], sizes))
    n_total = math.prod(sizes)
    shape = (n_total,) if n_targets is None else (n_total, n_targets)
    coef = np.zeros(shape, dtype=complex if is_complex else float)
    if separable:
        parts = [_gaussian(rng, (k,) + shape[1:], is_complex) for k in ks]
        coef[support] = functools.reduce(
            lambda a, b: (a[:, None] * b[None, :]).reshape((-1,) + shape[1:]), parts)
    else:
        coef[support] = _gaussian(rng, (support.size,) + shape[1:], is_complex)
    from .operators import Kronecker

    op = Kronecker(*factors)
    clean = op @ coef
    y, noise_var = add_noise(clean, snr_db, random_state=rng)
    return Bunch(factors=factors, y=y, coef=coef, support=support,
                 factor_supports=supports, noise_var=noise_var)


def make_dictionary_data(n_features: int, n_samples: int, *, theta: float = 0.3,
                         random_state=None) -> Bunch:
    """Samples ``y_t = D₀ x_t`` with ``D₀`` random orthogonal and Bernoulli–Gaussian ``x_t``.

    Each code entry is nonzero with probability ``theta`` and then standard normal
    (the model of Zhai et al. 2019 and Xue & Lau 2021).

    Returns
    -------
    data : Bunch
        ``X`` of shape (n_samples, n_features) — samples as rows, scikit-learn's convention,
        so ``X = codes @ dictionary.T`` — ``dictionary`` (``D₀``, atoms as columns) and
        ``codes`` (n_samples, n_features).

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.datasets import make_dictionary_data
    >>> d = make_dictionary_data(8, 100, random_state=0)
    >>> bool(np.allclose(d.dictionary.T @ d.dictionary, np.eye(8)))
    True
    """
    if not 0 < theta <= 1:
        raise ValueError(f"theta must be in (0, 1], got {theta}")
    rng = check_random_state(random_state)
    from scipy.stats import ortho_group

    D0 = ortho_group.rvs(n_features, random_state=rng) if n_features > 1 else np.ones((1, 1))
    codes = rng.standard_normal((n_samples, n_features)) * (rng.random((n_samples, n_features))
                                                             < theta)
    return Bunch(X=codes @ D0.T, dictionary=D0, codes=codes)


def make_sparse_walsh(n_bits: int, n_nonzero: int, *, snr_db: float | None = None,
                      as_callable: bool | None = None, values: str = "gaussian",
                      random_state=None) -> Bunch:
    """A signal of length ``N = 2**n_bits`` whose Walsh–Hadamard spectrum is K-sparse.

    Convention: ``x[m] = Σ_k X[k] (−1)^{⟨k, m⟩}``, so the unnormalised WHT of ``x``
    divided by ``N`` gives back ``X``.

    Parameters
    ----------
    n_bits : int
        ``log2 N``, up to 62.
    n_nonzero : int
        Sparsity ``K`` of the spectrum (distinct random frequencies).
    snr_db : float, optional
        Per-sample white Gaussian noise, relative to the mean signal power ``Σ X_k²``.
    as_callable : bool, optional
        Return ``signal`` as a function of an integer index array instead of an array;
        the default is ``True`` when ``n_bits > 24`` (the signal never exists in memory).
        A noisy callable draws fresh noise at every call.
    values : {"gaussian", "sign"}
        Nonzero spectrum values: standard normal, or ±1 (constant magnitude, as in the
        SPRIGHT experiments).

    Returns
    -------
    problem : Bunch
        ``signal`` (array or callable), ``support`` (uint64 frequencies, sorted), ``coef``
        (their values), ``noise_var``, ``n_bits``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.linalg import hadamard
    >>> from sparserec.datasets import make_sparse_walsh
    >>> p = make_sparse_walsh(6, 3, random_state=0)
    >>> spectrum = hadamard(64) @ p.signal / 64
    >>> bool(np.allclose(spectrum[p.support.astype(int)], p.coef))
    True
    """
    if not 1 <= n_bits <= 62:
        raise ValueError(f"n_bits must be in [1, 62], got {n_bits}")
    N = 1 << n_bits
    if not 1 <= n_nonzero <= N:
        raise ValueError(f"n_nonzero must be in [1, 2**n_bits = {N}], got {n_nonzero}")
    if values not in ("gaussian", "sign"):
        raise ValueError(f"values must be 'gaussian' or 'sign', got {values!r}")
    rng = check_random_state(random_state)
    if n_bits <= 24:
        support = rng.choice(N, n_nonzero, replace=False)
    else:  # rejection for distinct 64-bit draws: N >> K makes collisions rare
        support = np.unique(rng.randint(0, N, size=2 * n_nonzero + 8, dtype=np.uint64))
        support = rng.permutation(support)[:n_nonzero]
    support = np.sort(support.astype(np.uint64))
    coef = rng.standard_normal(n_nonzero) if values == "gaussian" else rng.choice([-1.0, 1.0],
                                                                                  n_nonzero)
    power = float(np.sum(coef**2))
    noise_var = 0.0 if snr_db is None else power / 10 ** (snr_db / 10)
    if as_callable is None:
        as_callable = n_bits > 24
    if as_callable:
        from .operators import walsh_eval

        noise_rng = np.random.default_rng(rng.randint(2**31))

        def signal(indices):
            x = walsh_eval(indices, support, coef)
            if noise_var:
                x = x + np.sqrt(noise_var) * noise_rng.standard_normal(x.shape)
            return x
    else:
        from .operators import fwht_reference

        spectrum = np.zeros(N)
        spectrum[support.astype(np.int64)] = coef
        signal = fwht_reference(spectrum)
        if noise_var:
            signal = signal + np.sqrt(noise_var) * rng.standard_normal(N)
    return Bunch(signal=signal, support=support, coef=coef, noise_var=noise_var, n_bits=n_bits)


_SELFCAL_MODELS = ("repeated", "diverse", "snapshots", "subspace", "inverse_subspace")


def make_selfcal_problem(model: str, m: int, n: int, p: int = 1, *, k: int | None = None,
                         snr_db: float | None = None, is_complex: bool = False,
                         random_state=None) -> Bunch:
    """A self-calibration instance ``y_l = diag(d) A_l x_l + ε_l`` (Ling & Strohmer 2018).

    Parameters
    ----------
    model : {"repeated", "diverse", "snapshots", "subspace", "inverse_subspace"}
        ``repeated``: ``p`` sensing matrices, one ``x``. ``diverse``: ``p`` matrices and
        ``p`` signals. ``snapshots``: one matrix, ``p`` signals. ``subspace``: one
        snapshot with ``d = B h`` for a known ``m × k`` matrix ``B`` (Ling & Strohmer
        2015); ``inverse_subspace``: the same with ``d⁻¹ = B h``.
    m, n, p : int
        Measurements per snapshot, signal length, number of snapshots.
    k : int, optional
        Subspace dimension (``subspace`` only).

    Returns
    -------
    problem : Bunch
        ``A`` (``(p, m, n)``, or ``(m, n)`` for snapshots/subspace), ``y`` (``(p, m)``),
        ``calibration`` (``d``), ``signal`` (``x`` of shape ``(n,)``, or ``(p, n)`` for
        diverse/snapshots), ``B`` and ``h`` for subspace, ``noise_var``.
        Calibration entries have magnitudes in ``[0.5, 1.5]``; for ``subspace``
        (``inverse_subspace``), ``d`` (``d⁻¹``) ``= B h`` is a constant gain plus a 15 %
        variation in the span of ``B``.

    Examples
    --------
    >>> from sparserec.datasets import make_selfcal_problem
    >>> p = make_selfcal_problem("repeated", m=32, n=8, p=4, random_state=0)
    >>> p.A.shape, p.y.shape
    ((4, 32, 8), (4, 32))
    """
    if model not in _SELFCAL_MODELS:
        raise ValueError(f"model must be one of {_SELFCAL_MODELS}, got {model!r}")
    rng = check_random_state(random_state)
    with_b = model in ("subspace", "inverse_subspace")
    one_matrix = model == "snapshots" or with_b
    n_snap = 1 if with_b else p
    A = _gaussian(rng, (m, n) if one_matrix else (n_snap, m, n), is_complex)
    extra = {}
    if with_b:
        if k is None or not 1 <= k <= m:
            raise ValueError(f"k must be an integer in [1, m={m}] for model={model!r}, got {k}")
        # d⁻¹ = B h: a constant gain (first column of B) plus a variation of relative
        # size 0.15 in the span of k − 1 random columns, so no entry of d⁻¹ comes near 0
        B = _gaussian(rng, (m, k), is_complex)
        B[:, 0] = 1.0
        h = np.concatenate([[1.0], 0.15 / np.sqrt(max(k - 1, 1)) * _gaussian(rng, k - 1,
                                                                              is_complex)])
        d = B @ h if model == "subspace" else 1 / (B @ h)
        extra = {"B": B, "h": h}
    else:
        magnitude = rng.uniform(0.5, 1.5, m)
        phase = np.exp(2j * np.pi * rng.random(m)) if is_complex else rng.choice([-1, 1], m)
        d = magnitude * phase
    shared_x = model == "repeated" or with_b
    x = _gaussian(rng, n if shared_x else (n_snap, n), is_complex)
    A_stack = np.broadcast_to(A, (n_snap, m, n)) if one_matrix else A
    x_stack = np.broadcast_to(x, (n_snap, n))
    clean = d * np.einsum("pmn,pn->pm", A_stack, x_stack)
    y, noise_var = add_noise(clean, snr_db, random_state=rng)
    return Bunch(A=A, y=y, calibration=d, signal=x, noise_var=noise_var, model=model, **extra)


def make_sky_field(shape=(128, 128), *, n_stars: int = 20, n_galaxies: int = 10,
                   flux_range=(1.0, 100.0), background: float = 0.0,
                   random_state=None) -> Bunch:
    """A synthetic astronomical scene: point sources and elliptical Gaussian galaxies.

    Sources stay at least 8 pixels from the border. Fluxes (total counts) are log-uniform
    in ``flux_range``; the catalogue allows aperture photometry checks.

    Returns
    -------
    field : Bunch
        ``image`` (float64), ``positions`` ((n, 2) row/col), ``fluxes``, ``kinds``
        (``"star"`` or ``"galaxy"``), ``radii`` (galaxy major-axis σ in pixels, 0 for stars).

    Examples
    --------
    >>> from sparserec.datasets import make_sky_field
    >>> f = make_sky_field((64, 64), n_stars=3, n_galaxies=2, random_state=0)
    >>> f.image.shape, len(f.fluxes)
    ((64, 64), 5)
    """
    rng = check_random_state(random_state)
    h, w = shape
    image = np.full(shape, float(background))
    n_src = n_stars + n_galaxies
    pos = np.column_stack([rng.uniform(8, h - 8, n_src), rng.uniform(8, w - 8, n_src)])
    lo, hi = np.log(flux_range[0]), np.log(flux_range[1])
    fluxes = np.exp(rng.uniform(lo, hi, n_src))
    kinds = np.array(["star"] * n_stars + ["galaxy"] * n_galaxies)
    radii = np.zeros(n_src)
    rows, cols = np.mgrid[0:h, 0:w]
    for i in range(n_src):
        r, c = pos[i]
        if kinds[i] == "star":
            r, c = round(r), round(c)
            pos[i] = (r, c)
            image[r, c] += fluxes[i]
            continue
        sigma = rng.uniform(1.0, 3.0)
        radii[i] = sigma
        q, angle = rng.uniform(0.4, 1.0), rng.uniform(0, np.pi)
        dr, dc = rows - r, cols - c
        u = dr * np.cos(angle) + dc * np.sin(angle)
        v = -dr * np.sin(angle) + dc * np.cos(angle)
        blob = np.exp(-0.5 * ((u / sigma) ** 2 + (v / (q * sigma)) ** 2))
        image += fluxes[i] * blob / blob.sum()
    return Bunch(image=image, positions=pos, fluxes=fluxes, kinds=kinds, radii=radii)


def make_blurred_image(image, psf, *, noise_sigma: float = 0.01, random_state=None) -> Bunch:
    """Blur ``image`` with ``psf`` and add white Gaussian noise of deviation ``noise_sigma``.

    The blur extends the scene beyond the frame by mirror reflection before convolving, so
    the observation is what a telescope would record of a scene that continues past the
    edges: no periodic wrap-around that a deconvolution could exploit.

    Returns
    -------
    observation : Bunch
        ``noisy``, ``blurred`` (noise-free), ``image``, ``psf``, ``noise_sigma``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.datasets import make_blurred_image
    >>> psf = np.ones((3, 3)) / 9
    >>> obs = make_blurred_image(np.eye(8), psf, noise_sigma=0.0, random_state=0)
    >>> obs.noisy.shape
    (8, 8)
    """
    from .operators import mirror_blur

    image = np.asarray(image, dtype=np.float64)
    psf = np.asarray(psf, dtype=np.float64)
    if image.ndim != 2 or psf.ndim != 2:
        raise ValueError(f"image and psf must be 2-D, got shapes {image.shape} and {psf.shape}")
    if noise_sigma < 0:
        raise ValueError(f"noise_sigma must be >= 0, got {noise_sigma}")
    blurred = mirror_blur(image, psf)
    rng = check_random_state(random_state)
    noisy = blurred + noise_sigma * rng.standard_normal(blurred.shape)
    return Bunch(noisy=noisy, blurred=blurred, image=image, psf=psf, noise_sigma=noise_sigma)
