"""Bad input to every public estimator and every CLI command: a clear, named error.

Each row of the table below feeds one bad input (NaN/Inf, empty, wrong ndim, mismatched
lengths, unsupported dtypes, object arrays, absurd declared sizes, negative or zero
tolerances and iteration counts, unknown option strings) to one entry point. It must
raise ``ValueError`` or ``TypeError`` (the CLI: exit status 2 with a one-line message and
no traceback) whose message names the offending parameter, within a time limit, and
without leaving output behind. Rows are counted per estimator and per command by
``python tests/test_bad_input.py`` (the table of the reliability report).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import scipy.sparse as sp

import sparserec
from sparserec.utils.estimator_checks import CHECK_PARAMS

ESTIMATORS = dict(sparserec.all_estimators())
TIMEOUT = 30  # seconds per case: every case is a fast failure, a hang is a defect


@dataclass(frozen=True)
class Case:
    target: str          # estimator name or "cli <command>"
    label: str           # what is bad
    call: Callable       # est/args -> raises (estimators), or argv list (CLI)
    names: tuple         # the error message must name one of these


CASES: list[Case] = []


def _add(target, label, names, call):
    CASES.append(Case(target, label, call, (names,) if isinstance(names, str) else names))


def _est(name, **params):
    return ESTIMATORS[name](**{**CHECK_PARAMS.get(name, {}), **params})


def _rng():
    return np.random.default_rng(0)


def _with(a, index, value):
    a = np.array(a, dtype=np.result_type(a, type(value)))
    a[index] = value
    return a


def _strings(a):
    return np.full(np.shape(a), "a")


def _objects(a, value=None):
    out = np.asarray(a).astype(object)
    out.flat[0] = value
    return out


# ----------------------------------------------------------------------- shared rows
def _param_rows(name, fit, options=(), numbers=()):
    """Shared-parameter rows, unknown option strings and bad numbers for ``name``.

    ``fit(est)`` runs a valid fit; ``options`` are the string parameters; ``numbers`` are
    ``(param, bad value)`` pairs beyond the shared ones.
    """
    shared = [("max_iter", 0), ("max_iter", -3), ("max_iter", 2.5), ("max_iter", "10"),
              ("tol", -1e-3), ("tol", float("nan")), ("tol", float("inf")),
              ("verbose", -1), ("backend", "tpu")]
    for param, value in [*shared, *[(o, "no-such-option") for o in options], *numbers]:
        _add(name, f"{param}={value!r}", param,
             lambda param=param, value=value: fit(_est(name, **{param: value})))


def _xy_rows(name, X, y, *, fit_kwargs=None, complex_ok=False, y_2d_ok=False, predict=True):
    """The data rows of an estimator with ``fit(X, y)`` and ``predict(X)``."""
    kw = fit_kwargs or {}

    def fit(X_, y_, **params):
        return lambda: _est(name, **{**kw, **params}).fit(X_, y_)

    rows = [
        ("X with NaN", "X", fit(_with(X, (0, 0), np.nan), y)),
        ("X with +Inf", "X", fit(_with(X, (1, 1), np.inf), y)),
        ("X with -Inf", "X", fit(_with(X, (1, 1), -np.inf), y)),
        ("y with NaN", "y", fit(X, _with(y, 0, np.nan))),
        ("y with Inf", "y", fit(X, _with(y, 0, np.inf))),
        ("X, y empty (0 samples)", ("X", "y"), fit(X[:0], y[:0])),
        ("X with 0 features", "X", fit(X[:, :0], y)),
        ("X 1-D", "X", fit(X[:, 0], y)),
        ("X 3-D", "X", fit(X[:, :, None], y)),
        ("y 3-D", "y", fit(X, np.asarray(y)[:, None, None])),
        ("len(y) != len(X)", ("X", "y"), fit(X, y[:-1])),
        ("X object array with None", "X", fit(_objects(X), y)),
        ("X of strings", "X", fit(_strings(X), y)),
        ("y None", "y", fit(X, None)),
    ]
    if not y_2d_ok:
        rows.append(("y 2-D", "y", fit(X, np.column_stack([y, y]))))
    if not complex_ok:
        rows += [("X complex", "X", fit(X + 1j, y)), ("y complex", "y", fit(X, y + 1j))]
    if predict:
        def pred(X_):
            def call():
                est = _est(name, **kw).fit(X, y)
                est.predict(X_)
            return call
        rows += [("predict X with NaN", "X", pred(_with(X, (0, 0), np.nan))),
                 ("predict X with other n_features", "X", pred(X[:, :-1])),
                 ("predict X 1-D", "X", pred(X[0]))]
    for label, names, call in rows:
        _add(name, label, names, call)


# ----------------------------------------------------------------------- estimators
def _regression(n=30, p=6):
    rng = _rng()
    X = rng.standard_normal((n, p))
    return X, X @ rng.standard_normal(p)


def _bcd_regressor():
    X, y = _regression()
    _xy_rows("BCDRegressor", X, y, y_2d_ok=True)  # several targets, as sklearn's Lasso
    ys = np.column_stack([y, y])
    ys[3, 1] = np.nan  # NaN in one target
    _add("BCDRegressor", "y 2-D with NaN in one target", "y",
         lambda: _est("BCDRegressor").fit(X, ys))
    for label, sw in [("negative", -np.ones(len(y))), ("NaN", np.full(len(y), np.nan)),
                      ("all zero", np.zeros(len(y))), ("wrong length", np.ones(3))]:
        _add("BCDRegressor", f"sample_weight {label}", "sample_weight",
             lambda sw=sw: _est("BCDRegressor").fit(X, y, sample_weight=sw))
    _add("BCDRegressor", "positive with multi_task", "positive",
         lambda: _est("BCDRegressor", positive=True, multi_task=True)
         .fit(X, np.column_stack([y, 2 * y])))
    _param_rows("BCDRegressor", lambda est: est.fit(X, y),
                options=("loss", "penalty", "rule", "partition", "update"),
                numbers=[("alpha", -1.0), ("l1_ratio", 1.5), ("block_size", 0)])


def _bcd_classifier():
    X, y = _regression()
    labels = (y > 0).astype(int)
    _xy_rows("BCDClassifier", X, labels)
    _add("BCDClassifier", "y with one class", "y",
         lambda: _est("BCDClassifier").fit(X, np.zeros(len(X))))
    _add("BCDClassifier", "y continuous", "y", lambda: _est("BCDClassifier").fit(X, y))
    _param_rows("BCDClassifier", lambda est: est.fit(X, labels),
                options=("loss", "penalty", "rule", "partition", "update"),
                numbers=[("C", 0.0), ("C", -1.0), ("l1_ratio", -0.5)])


def _bcd_cv():
    X, y = _regression()
    labels = (y > 0).astype(int)
    _xy_rows("BCDRegressorCV", X, y, y_2d_ok=True)
    _add("BCDRegressorCV", "sample_weight negative", "sample_weight",
         lambda: _est("BCDRegressorCV").fit(X, y, sample_weight=-np.ones(len(y))))
    _add("BCDRegressorCV", "l1_ratio list with NaN", "l1_ratio",
         lambda: _est("BCDRegressorCV", l1_ratio=[0.5, float("nan")]).fit(X, y))
    _param_rows("BCDRegressorCV", lambda est: est.fit(X, y), options=(),
                numbers=[("eps", 0.0), ("alphas", 0), ("l1_ratio", 1.5), ("cv", "five")])
    _xy_rows("BCDClassifierCV", X, labels)
    _add("BCDClassifierCV", "y continuous", "y", lambda: _est("BCDClassifierCV").fit(X, y))
    _param_rows("BCDClassifierCV", lambda est: est.fit(X, labels), options=("penalty",),
                numbers=[("Cs", 0), ("l1_ratio", -0.5)])


def _label_propagation():
    name = "BCDLabelPropagation"
    X, y = _regression(20, 3)
    labels = np.full(20, -1)
    labels[:4] = [0, 1, 0, 1]
    _xy_rows(name, X, labels, predict=False)
    W = sp.diags([np.ones(5), np.ones(5)], [1, -1], shape=(6, 6)).tocsr()
    y6 = np.array([0, -1, -1, -1, -1, 1])

    def precomputed(W_, y_):
        return lambda: _est(name, affinity="precomputed").fit(W_, y_)

    W_nan = W.copy()
    W_nan.data[0] = np.nan
    for label, names, call in [
        ("W with NaN", ("X", "W"), precomputed(W_nan, y6)),
        ("W not square", "W", precomputed(W[:, :5], y6)),
        ("W negative", "W", precomputed(-W, y6)),
        ("W not symmetric", "W", precomputed(sp.triu(W).tocsr(), y6)),
        ("len(y) != n_nodes", "y", precomputed(W, y6[:-1])),
        ("y all unlabelled", "y", precomputed(W, np.full(6, -1))),
        ("y continuous labels", "y", precomputed(W, np.linspace(0, 1, 6))),
    ]:
        _add(name, label, names, call)
    _param_rows(name, lambda est: est.fit(X, labels),
                options=("affinity", "rule", "partition", "update"),
                numbers=[("n_neighbors", 0), ("block_size", 0)])


def _sbl():
    X, y = _regression(20, 30)
    for name in ("KroneckerSBL", "SparseBayesianLearning"):
        _xy_rows(name, X, y, complex_ok=True, y_2d_ok=True)
        _param_rows(name, lambda est: est.fit(X, y),
                    options=("variant",) if name == "KroneckerSBL" else (),
                    numbers=[("noise_var", -1.0), ("noise_var", float("nan")),
                             ("noise_var", 0.0), ("prune_tol", 2.0), ("prune_tol", -0.1)])
    from sparserec.operators import Kronecker

    rng = _rng()
    A1, A2 = rng.standard_normal((4, 6)), rng.standard_normal((5, 7))
    y20 = rng.standard_normal(20)
    name = "KroneckerSBL"
    for label, names, call in [
        ("Kronecker factor with NaN", "X", lambda: _est(name).fit(
            Kronecker(_with(A1, (0, 0), np.nan), A2), y20)),
        ("Kronecker with len(y) mismatch", ("X", "y"), lambda: _est(name).fit(
            Kronecker(A1, A2), y20[:-1])),
        ("factor_shapes not matching X", "factor_shapes", lambda: _est(
            name, factor_shapes=[(4, 6), (5, 8)]).fit(Kronecker(A1, A2), y20)),
        ("factor_shapes huge (10**9 columns)", "factor_shapes", lambda: _est(
            name, factor_shapes=[(4, 10**9), (5, 7)]).fit(X, y)),
        ("factor_shapes not pairs", "factor_shapes", lambda: _est(
            name, factor_shapes=[4, 5]).fit(X, y)),
        ("block_size 0", "block_size", lambda: _est(name, block_size=0).fit(X, y)),
        ("coupling 2 with blocks", "coupling", lambda: _est(
            name, block_size=2, coupling=2.0).fit(X, y)),
    ]:
        _add(name, label, names, call)


def _dictionary():
    name = "OnlineOrthogonalDictionary"
    X = _rng().standard_normal((64, 8))

    def fit(X_, **params):
        return lambda: _est(name, **params).fit(X_)

    def transform(X_):
        return lambda: _est(name, max_iter=2).fit(X).transform(X_)

    for label, names, call in [
        ("X with NaN", "X", fit(_with(X, (0, 0), np.nan))),
        ("X with Inf", "X", fit(_with(X, (0, 0), np.inf))),
        ("X empty (0 samples)", "X", fit(X[:0])),
        ("X with 0 features", "X", fit(X[:, :0])),
        ("X 1-D", "X", fit(X[:, 0])),
        ("X 3-D", "X", fit(X[:, :, None])),
        ("X complex", "X", fit(X + 1j)),
        ("X object array with None", "X", fit(_objects(X))),
        ("X of strings", "X", fit(_strings(X))),
        ("partial_fit then other n_features", "X", lambda: _est(name).partial_fit(
            X).partial_fit(X[:, :-1])),
        ("transform X with NaN", "X", transform(_with(X, (0, 0), np.nan))),
        ("transform X with other n_features", "X", transform(X[:, :-1])),
        ("n_components 0", "n_components", fit(X, n_components=0)),
        ("n_components > n_features", "n_components", fit(X, n_components=9)),
        ("n_components 10**9", "n_components", fit(X, n_components=10**9)),
        ("dict_init with NaN", "dict_init", fit(X, dict_init=np.full((8, 8), np.nan))),
        ("dict_init wrong shape", "dict_init", fit(X, dict_init=np.eye(7))),
    ]:
        _add(name, label, names, call)
    _param_rows(name, lambda est: est.fit(X), options=("transform_algorithm",),
                numbers=[("batch_size", 0), ("step_exponent", 2.0),
                         ("averaging_exponent", -1.0), ("transform_alpha", -1.0),
                         ("transform_n_nonzero_coefs", 0), ("shuffle", "yes")])


def _wht():
    name = "SparseWHT"
    x = _rng().standard_normal(2**8)

    def fit(x_, **kw):
        params = {k: kw.pop(k) for k in list(kw) if k != "n_bits_fit"}
        return lambda: _est(name, sparsity=4, **params).fit(
            x_, **({"n_bits": kw["n_bits_fit"]} if "n_bits_fit" in kw else {}))

    def oracle(idx):
        return np.zeros(idx.shape)

    for label, names, call in [
        ("x with NaN", "x", fit(_with(x, 0, np.nan))),
        ("x with Inf", "x", fit(np.full(x.shape, np.inf))),
        ("x empty", "x", fit(x[:0])),
        ("x of length 1", "x", fit(x[:1])),
        ("x length not a power of 2", "x", fit(x[:100])),
        ("x 2-D", "x", fit(x.reshape(16, 16))),
        ("x complex", "x", fit(x + 1j)),
        ("x object array with None", "x", fit(_objects(x))),
        ("x of strings", "x", fit(_strings(x))),
        ("x sparse matrix", "x", fit(sp.csr_matrix(x))),
        ("n_bits=64 with an array x", "n_bits", fit(x, n_bits=64)),
        ("n_bits=64 in fit with an array x", "n_bits", fit(x, n_bits_fit=64)),
        ("n_bits=64 with a callable", "n_bits", fit(oracle, n_bits=64)),
        ("n_bits=10**6 with a callable", "n_bits", fit(oracle, n_bits=10**6)),
        ("n_bits=7 not matching len(x)", "n_bits", fit(x, n_bits=7)),
        ("n_bits=0", "n_bits", fit(oracle, n_bits=0)),
        ("n_bits=-3", "n_bits", fit(oracle, n_bits=-3)),
        ("n_bits=8.5", "n_bits", fit(oracle, n_bits=8.5)),
        ("callable without n_bits", "n_bits", fit(oracle)),
        ("callable returning NaN", "callable", fit(lambda i: np.full(i.shape, np.nan),
                                                   n_bits=8)),
        ("callable returning wrong shape", "callable", fit(lambda i: np.zeros(3), n_bits=8)),
        ("callable returning complex", "callable", fit(lambda i: np.ones(i.shape) * 1j,
                                                       n_bits=8)),
        ("sparsity 0", "sparsity", fit(x, sparsity=0)),
        ("sparsity > 2**n_bits", "sparsity", fit(x, sparsity=300)),
        ("sparsity 10**9", "sparsity", fit(x, sparsity=10**9)),
        ("n_groups 1", "n_groups", fit(x, n_groups=1)),
        ("b 0", "b", fit(x, b=0)),
        ("b > n_bits", "b", fit(x, b=9)),
        ("n_delays 0", "n_delays", fit(x, n_delays=0)),
        ("noise_sigma -1", "noise_sigma", fit(x, noise_sigma=-1.0)),
        ("noise_sigma NaN", "noise_sigma", fit(x, noise_sigma=float("nan"))),
        ("predict indices negative", "indices", lambda: _est(name, sparsity=4).fit(
            x).predict([-1])),
        ("predict indices >= 2**n_bits", "indices", lambda: _est(name, sparsity=4).fit(
            x).predict([256])),
        ("predict indices float", "indices", lambda: _est(name, sparsity=4).fit(
            x).predict([0.5])),
    ]:
        _add(name, label, names, call)
    _param_rows(name, lambda est: est.set_params(sparsity=4).fit(x), options=("design",))


def _selfcal():
    from sparserec.datasets import make_selfcal_problem

    name = "SelfCalibration"
    p = make_selfcal_problem("repeated", m=16, n=4, p=4, random_state=0)
    A, y = p.A, p.y
    snap = make_selfcal_problem("snapshots", m=16, n=4, p=4, random_state=0)

    def fit(A_, y_, B=None, **params):
        return lambda: _est(name, model="repeated", **params).fit(A_, y_, B)

    for label, names, call in [
        ("A with NaN", "A", fit(_with(A, (0, 0, 0), np.nan), y)),
        ("A with Inf", "A", fit(_with(A, (0, 0, 0), np.inf), y)),
        ("y with NaN", "y", fit(A, _with(y, (0, 0), np.nan))),
        ("A empty", "A", fit(A[:0], y[:0])),
        ("A with 0 features", "A", fit(A[:, :, :0], y)),
        ("A 1-D", "A", fit(A[0, :, 0], y)),
        ("A 4-D", "A", fit(A[..., None], y)),
        ("y 3-D", "y", fit(A, y[..., None])),
        ("A, y with mismatched sensors", ("A", "y"), fit(A, y[:, :-1])),
        ("A, y with mismatched snapshots", ("A", "y"), fit(A, y[:-1])),
        ("A object array with None", "A", fit(_objects(A), y)),
        ("A of strings", "A", fit(_strings(A), y)),
        ("A sparse", "A", fit(sp.csr_matrix(A[0]), y[0])),
        ("y None", "y", fit(A, None)),
        ("y all zero", "y", fit(A, np.zeros_like(y))),
        ("B with model=repeated", "B", fit(A, y, B=np.eye(16)[:, :2])),
        ("w with NaN", "w", fit(A, y, w=np.full(20, np.nan))),
        ("w wrong length", "w", fit(A, y, w=np.ones(3))),
        ("w all zero", "w", fit(A, y, w=np.zeros(20))),
        ("c 0", "c", fit(A, y, c=0.0)),
        ("c NaN", "c", fit(A, y, c=float("nan"))),
        ("c a string", "c", fit(A, y, c="1")),
        ("predict A with NaN", "A", lambda: _est(name, model="repeated").fit(A, y).predict(
            _with(A, (0, 0, 0), np.nan))),
        ("predict A with other n_features", "A", lambda: _est(
            name, model="repeated").fit(A, y).predict(A[:, :, :-1])),
    ]:
        _add(name, label, names, call)
    _param_rows(name, lambda est: est.fit(snap.A, snap.y),
                options=("model", "method", "solver"))


def _deconvolution():
    from sparserec.deconv import gaussian_psf

    psf = gaussian_psf(5, sigma=1.0)
    image = _rng().random((24, 24))
    for name, psf_param in (("WaveletDeconvolution", "psf"),
                            ("JointWaveletDeconvolution", "psfs")):
        joint = name.startswith("Joint")

        def fit(img, psf_=psf, name=name, joint=joint, psf_param=psf_param, **params):
            value = [psf_] if joint else psf_
            return lambda: _est(name, **{psf_param: value, **params}).fit(
                [img] if joint else img)

        X = ("X", "image", "images", "images[0]")
        rows = [
            ("image with Inf", X, fit(_with(image, (0, 0), np.inf))),
            ("image all NaN", X, fit(np.full((24, 24), np.nan))),
            ("image empty", X, fit(np.zeros((0, 0)))),
            ("image 1-D", X, fit(image[0])),
            ("image 4-D", X, fit(image[None, None])),
            ("image complex", X, fit(image + 1j)),
            ("image object array with a string", X, fit(_objects(image, "a"))),
            ("image of strings", X, fit(_strings(image))),
            ("PSF with NaN", psf_param, fit(image, _with(psf, (0, 0), np.nan))),
            ("PSF all zero", psf_param, fit(image, np.zeros((5, 5)))),
            ("PSF 1-D", psf_param, fit(image, psf[2])),
            ("PSF complex", psf_param, fit(image, psf + 0j + 1j * psf)),
            ("PSF missing", psf_param, fit(image, None)),
            ("n_scales 1", "n_scales", fit(image, n_scales=1)),
            ("n_scales 10**6", "n_scales", fit(image, n_scales=10**6)),
            # a PyWavelets grid is a multiple of 2**(n_scales - 1): 2048² for this 24² image
            ("n_scales too large for the image (db2)", "n_scales",
             fit(image, wavelet="db2", n_scales=12)),
            ("k_sigma -1", "k_sigma", fit(image, k_sigma=-1.0)),
            ("k_sigma NaN", "k_sigma", fit(image, k_sigma=float("nan"))),
            ("n_reweights -1", "n_reweights", fit(image, n_reweights=-1)),
            # reweighting past the SURE-chosen stop fitted the noise (Hubble: 33 -> 22 dB)
            ("n_reweights with k_sigma sure", "n_reweights", fit(image, n_reweights=1)),
            ("positivity a string", "positivity", fit(image, positivity="yes")),
            ("background NaN", "background", fit(image, background=float("nan"))),
            ("background unknown string", "background", fit(image, background="sky")),
        ]
        if joint:
            rows += [
                ("psfs count != bands", "psfs", lambda: _est(
                    "JointWaveletDeconvolution", psfs=[psf, psf]).fit([image])),
                ("no band", ("X", "images", "band"), lambda: _est(
                    "JointWaveletDeconvolution", psfs=[]).fit([])),
                ("pixel_ratios 0", "pixel_ratios", lambda: _est(
                    "JointWaveletDeconvolution", psfs=[psf], pixel_ratios=[0]).fit([image])),
                ("pixel_ratios 10**6", "pixel_ratios", lambda: _est(
                    "JointWaveletDeconvolution", psfs=[psf, psf],
                    pixel_ratios=[1, 10**6]).fit([image, image])),
                ("noise_sigmas negative", "noise_sigmas", lambda: _est(
                    "JointWaveletDeconvolution", psfs=[psf], noise_sigmas=[-1.0]).fit([image])),
                ("bands of mismatched shapes", ("X", "band", "pixel_ratios", "shape"),
                 lambda: _est("JointWaveletDeconvolution", psfs=[psf, psf]).fit(
                     [image, image[:20, :20]])),
            ]
        else:
            rows += [
                ("noise_sigma -1", "noise_sigma", fit(image, noise_sigma=-1.0)),
                ("noise_sigma NaN", "noise_sigma", fit(image, noise_sigma=float("nan"))),
                ("transform image with Inf", X, lambda name=name: _est(name, psf=psf).fit(
                    image).transform(_with(image, (0, 0), np.inf))),
                ("transform image 4-D", X, lambda name=name: _est(name, psf=psf).fit(
                    image).transform(image[None, None])),
            ]
        for label, names, call in rows:
            _add(name, label, names, call)
        _param_rows(name, lambda est, joint=joint: est.fit([image] if joint else image),
                    options=("wavelet", "solver"))


for _build in (_bcd_regressor, _bcd_classifier, _bcd_cv, _label_propagation, _sbl,
               _dictionary, _wht, _selfcal, _deconvolution):
    _build()


# ----------------------------------------------------------------------- CLI commands
def _cli_rows():
    """``(command, label, argv template, names)``; ``{in}``, ``{psf}``, ``{out}`` are files."""
    dec = ["deconvolve", "{in}", "-o", "{out}", "--quiet"]
    model = ["--psf-model", "gaussian", "--fwhm", "2"]
    rows = [
        ("info", "unknown argument", ["info", "--bogus"], "--bogus"),
        ("demo", "unknown family", ["demo", "--family", "nope", "--out", "{out}"], "--family"),
        ("demo", "seed not an integer", ["demo", "--seed", "x", "--out", "{out}"], "--seed"),
        ("demo", "--out is a file", ["demo", "--quick", "--quiet", "--family", "sparse_wht",
                                     "--out", "{in}"], ("out", "exists", "{in}")),
        ("(none)", "unknown command", ["bogus"], ("command", "bogus")),
        ("deconvolve", "missing input file", ["deconvolve", "{missing}", "-o", "{out}",
                                              *model], ("image file", "{missing}")),
        ("deconvolve", "unsupported input format", ["deconvolve", "{txt}", "-o", "{out}",
                                                    *model], ("format", "{txt}")),
        ("deconvolve", "unsupported output format", ["deconvolve", "{in}", "-o",
                                                     "{out}.xyz", *model], "format"),
        ("deconvolve", "output folder missing", ["deconvolve", "{in}", "-o",
                                                 "{missing}/out.fits", *model], "folder"),
        ("deconvolve", "output is the input", ["deconvolve", "{in}", "-o", "{in}", *model],
         "input"),
        ("deconvolve", "report is the output", [*dec, *model, "--report", "{out}"],
         "--report"),
        ("deconvolve", "no PSF", dec, ("--psf", "--psf-model")),
        ("deconvolve", "--psf-model without --fwhm", [*dec, "--psf-model", "gaussian"],
         "--fwhm"),
        ("deconvolve", "--psf and --psf-model", [*dec, "--psf", "{psf}", *model],
         ("--psf", "--psf-model")),
        ("deconvolve", "unknown --psf-model", [*dec, "--psf-model", "square", "--fwhm", "2"],
         "--psf-model"),
        ("deconvolve", "--fwhm negative", [*dec, "--psf-model", "gaussian", "--fwhm", "-2"],
         "fwhm"),
        ("deconvolve", "--fwhm zero", [*dec, "--psf-model", "gaussian", "--fwhm", "0"],
         "fwhm"),
        ("deconvolve", "--fwhm NaN", [*dec, "--psf-model", "gaussian", "--fwhm", "nan"],
         "fwhm"),
        ("deconvolve", "--fwhm inf", [*dec, "--psf-model", "gaussian", "--fwhm", "inf"],
         "fwhm"),
        ("deconvolve", "--fwhm not a number", [*dec, "--psf-model", "gaussian", "--fwhm",
                                               "wide"], "--fwhm"),
        ("deconvolve", "--psf-size 0", [*dec, *model, "--psf-size", "0"], ("psf_size",
                                                                          "size")),
        ("deconvolve", "--psf-size -5", [*dec, *model, "--psf-size", "-5"], ("psf_size",
                                                                            "size")),
        ("deconvolve", "--psf-size 10**6", [*dec, *model, "--psf-size", "1000000"],
         ("psf_size", "size", "PSF", "psf")),
        ("deconvolve", "--method unknown", [*dec, *model, "--method", "magic"], "--method"),
        ("deconvolve", "--n-scales 0", [*dec, *model, "--n-scales", "0"], "n_scales"),
        ("deconvolve", "--n-scales 10**6", [*dec, *model, "--n-scales", "1000000"],
         "n_scales"),
        ("deconvolve", "--k-sigma -1", [*dec, *model, "--k-sigma", "-1"], "k_sigma"),
        ("deconvolve", "--k-sigma NaN", [*dec, *model, "--k-sigma", "nan"], "--k-sigma"),
        ("deconvolve", "--k-sigma inf", [*dec, *model, "--k-sigma", "inf"], "--k-sigma"),
        ("deconvolve", "--max-iter 0", [*dec, *model, "--max-iter", "0"], "max_iter"),
        ("deconvolve", "--max-iter -5", [*dec, *model, "--max-iter", "-5"], "max_iter"),
        ("deconvolve", "--max-iter 0 (richardson-lucy)", [*dec, *model, "--max-iter", "0",
                                                          "--method", "richardson-lucy"],
         ("max_iter", "n_iter", "num_iter")),
        ("deconvolve", "--max-iter 2.5", [*dec, *model, "--max-iter", "2.5"], "--max-iter"),
        ("deconvolve", "--background unknown", [*dec, *model, "--background", "sky"],
         "--background"),
        ("deconvolve", "--background NaN", [*dec, *model, "--background", "nan"],
         "--background"),
        ("deconvolve", "--background 1e400", [*dec, *model, "--background", "1e400"],
         "--background"),
        ("deconvolve", "--fwhm inf", [*dec, "--psf-model", "gaussian", "--fwhm", "inf"],
         "--fwhm"),
        ("deconvolve", "--backend unknown", [*dec, *model, "--backend", "tpu"], "--backend"),
        ("deconvolve", "PSF file with NaN", [*dec, "--psf", "{psf_nan}"], "psf"),
        ("deconvolve", "PSF file all zero", [*dec, "--psf", "{psf_zero}"], "psf"),
        ("deconvolve", "PSF file 3-D", [*dec, "--psf", "{cube}"], "PSF"),
        ("deconvolve", "PSF larger than the image (a baseline)",
         [*dec, "--psf", "{psf_big}", "--method", "wiener"], "psf"),
        ("deconvolve", "input with Inf", ["deconvolve", "{inf}", "-o", "{out}", *model],
         ("image", "X")),
        ("deconvolve", "input with NaN (tikhonov)", ["deconvolve", "{nan}", "-o", "{out}",
                                                    *model, "--method", "tikhonov"], "image"),
        ("deconvolve", "input 1-D", ["deconvolve", "{line}", "-o", "{out}", *model],
         "image"),
        ("deconvolve", "input 4-D", ["deconvolve", "{cube4}", "-o", "{out}", *model],
         ("image", "shape")),
        ("deconvolve", "input has no data", ["deconvolve", "{nodata}", "-o", "{out}", *model],
         ("image", "data")),
    ]
    return rows


CLI_ROWS = _cli_rows()


def _case_id(case):
    return f"{case.target}-{case.label}"


KNOWN_DEFECTS = {}  # (estimator, case label) -> reason, for strict xfails


def _params(cases):
    out = []
    for case in cases:
        reason = KNOWN_DEFECTS.get((case.target, case.label))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(case, marks=marks, id=_case_id(case)))
    return out


# ----------------------------------------------------------------------- tests
def _names_in(message, names):
    for name in names:
        if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w])", message):
            return True
    return False


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("case", _params(CASES))
def test_estimator_refuses_bad_input(case):
    with pytest.raises((ValueError, TypeError)) as info:
        case.call()
    message = str(info.value)
    assert _names_in(message, case.names), (
        f"{case.target} / {case.label}: the message does not name {case.names}: {message!r}")


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    from astropy.io import fits

    from sparserec.deconv import gaussian_psf

    folder = tmp_path_factory.mktemp("cli bad input ü")
    rng = np.random.default_rng(0)
    image = rng.random((32, 32))
    files = {"missing": folder / "no such file.fits", "txt": folder / "notes.txt"}
    files["txt"].write_text("not an image")
    arrays = {"in": image, "psf": gaussian_psf(5, sigma=1.0),
              "psf_nan": _with(gaussian_psf(5, sigma=1.0), (0, 0), np.nan),
              "psf_zero": np.zeros((5, 5)), "cube": np.ones((2, 5, 5)),
              "psf_big": gaussian_psf(65, sigma=3.0), "inf": _with(image, (3, 3), np.inf),
              "nan": _with(image, (3, 3), np.nan), "line": image[0],
              "cube4": np.ones((2, 2, 8, 8))}
    for key, data in arrays.items():
        files[key] = folder / f"{key}.fits"
        fits.PrimaryHDU(data).writeto(files[key])
    files["nodata"] = folder / "nodata.fits"
    fits.PrimaryHDU().writeto(files["nodata"])
    return folder, files


def _argv(template, files, out):
    subs = {**{k: str(v) for k, v in files.items()}, "out": str(out)}
    return [re.sub(r"\{(\w+)\}", lambda m: subs[m.group(1)], a) for a in template]


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("command, label, template, names", CLI_ROWS,
                         ids=[f"{c}-{lab}" for c, lab, _, _ in CLI_ROWS])
def test_cli_refuses_bad_input(command, label, template, names, cli_files, capsys,
                               monkeypatch):
    from sparserec.cli import main

    monkeypatch.delenv("SPARSEREC_DEBUG", raising=False)
    folder, files = cli_files
    out = folder / f"out {abs(hash(label))} é.fits"
    argv = _argv(template, files, out)
    names = (names,) if isinstance(names, str) else names
    names = tuple(_argv([n], files, out)[0] for n in names)
    before = {p.name for p in folder.iterdir()}
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: usage line + one error line, status 2
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, f"exit status {code} for {argv}: {err}"
    assert "Traceback" not in err
    error_lines = [line for line in err.splitlines() if "error" in line]
    assert len(error_lines) == 1, err
    assert _names_in(error_lines[0], names) or any(n in error_lines[0] for n in names), (
        f"the error does not name {names}: {error_lines[0]!r}")
    assert {p.name for p in folder.iterdir()} == before, "output left behind"


def test_every_estimator_and_command_has_rows():
    counts = Counter(case.target for case in CASES)
    assert set(counts) == set(ESTIMATORS), set(ESTIMATORS) ^ set(counts)
    assert min(counts.values()) >= 30, counts
    commands = Counter(command for command, *_ in CLI_ROWS)
    assert {"info", "demo", "deconvolve"} <= set(commands)


def bad_input_table() -> str:
    """The number of bad inputs tried per estimator and per CLI command."""
    counts = Counter(case.target for case in CASES)
    counts.update(f"cli {command}" for command, *_ in CLI_ROWS)
    width = max(map(len, counts))
    lines = [f"{'entry point':<{width}}  cases", "-" * (width + 7)]
    lines += [f"{name:<{width}}  {n:5d}" for name, n in sorted(counts.items())]
    lines.append(f"{'total':<{width}}  {sum(counts.values()):5d}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(bad_input_table())
