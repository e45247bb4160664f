"""Experiments shared by the benchmark, the gallery and ``sparserec demo``.

* :func:`recovery_vs_samples` — the paper's comparison: recovery of a planted orthogonal
  dictionary against the number of samples seen, for the online Frank–Wolfe method, batch
  MSP and scikit-learn's ``MiniBatchDictionaryLearning``;
* :func:`ecg_windows` — the bundled real ECG as sliding windows (samples for learning);
* :func:`align_atoms` — a learned dictionary reordered and re-signed to match a reference.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..dictionary.bases import sliding_windows
from ..dictionary.msp import l4_msp
from ..dictionary.online_orthogonal import OnlineOrthogonalDictionary
from ..metrics import dictionary_recovery

__all__ = ["align_atoms", "ecg_windows", "make_minibatch_dictionary_learning",
           "recovery_vs_samples", "row_recovery", "run_on_prefix"]

METHODS = ("online FW", "MSP (batch)", "MiniBatchDictionaryLearning")


def row_recovery(components, D0) -> float:
    """``‖D̂ᵀD₀‖₄⁴ / n`` for row atoms, normalised (MiniBatchDictionaryLearning's are not)."""
    C = np.asarray(components, dtype=np.float64)
    C = C / np.maximum(np.linalg.norm(C, axis=1, keepdims=True), 1e-300)
    return dictionary_recovery(C.T, D0)


def recovery_vs_samples(X, D0, checkpoints, *, methods=METHODS, batch_size: int = 32,
                        mbdl_alpha: float = 1.0, random_state=0) -> dict:
    """Recovery and time of each method after the first ``p`` samples, for ``p`` in ``checkpoints``.

    ``online FW`` is :class:`OnlineOrthogonalDictionary` run for one pass over the first
    ``p`` rows (exactly its state after streaming them); ``MSP (batch)`` is
    :func:`l4_msp` on all ``p`` rows in memory; ``MiniBatchDictionaryLearning`` (scikit-learn,
    coordinate descent, ``alpha=mbdl_alpha``, batches of 256) is fed the rows with
    ``partial_fit`` and read at each checkpoint (its atoms normalised).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The stream, samples as rows.
    D0 : ndarray of shape (n_features, n_features)
        The planted dictionary, atoms as columns.
    checkpoints : sequence of int
        Increasing sample counts, at most ``n_samples``.
    methods : sequence of str
        A subset of ``("online FW", "MSP (batch)", "MiniBatchDictionaryLearning")``.

    Returns
    -------
    curves : dict
        ``{method: {"samples": array, "recovery": array, "seconds": array}}``; for the
        online method and MSP ``seconds`` is the time of a run on the first ``p`` samples,
        for MiniBatchDictionaryLearning the cumulative ``partial_fit`` time.

    Examples
    --------
    >>> from sparserec.datasets import make_dictionary_data
    >>> from sparserec.demos.dictionary_comparison import recovery_vs_samples
    >>> d = make_dictionary_data(8, 3000, random_state=0)
    >>> curves = recovery_vs_samples(d.X, d.dictionary, [1000, 3000], methods=["MSP (batch)"])
    >>> bool(curves["MSP (batch)"]["recovery"][-1] > 0.99)
    True
    """
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"methods must be among {METHODS}, got {sorted(unknown)}")
    checkpoints = [int(p) for p in checkpoints]
    if checkpoints != sorted(checkpoints) or checkpoints[-1] > X.shape[0] or checkpoints[0] < 1:
        raise ValueError(f"checkpoints must increase within [1, {X.shape[0]}], got {checkpoints}")
    curves = {}
    for method in methods:
        if method == "MiniBatchDictionaryLearning":
            rows = _mbdl_stream(X, D0, checkpoints, mbdl_alpha, random_state)
        else:
            rows = [run_on_prefix(method, X[:p], D0, batch_size=batch_size,
                                  random_state=random_state) for p in checkpoints]
        recovery, seconds = (np.array(v) for v in zip(*rows, strict=True))
        curves[method] = {"samples": np.array(checkpoints), "recovery": recovery,
                          "seconds": seconds}
    return curves


def run_on_prefix(method: str, X, D0, *, batch_size: int = 32, random_state=0):
    """``(recovery, seconds)`` of ``"online FW"`` (one pass) or ``"MSP (batch)"`` on ``X``."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # one pass / capped MSP
        if method == "online FW":
            components = OnlineOrthogonalDictionary(batch_size=batch_size, max_iter=1,
                                                    random_state=random_state).fit(X).components_
        else:
            components = l4_msp(X, max_iter=100, random_state=random_state).components
    return row_recovery(components, D0), time.perf_counter() - start


def make_minibatch_dictionary_learning(n_features: int, alpha: float = 1.0, random_state=0):
    """The scikit-learn baseline as compared here: ``alpha=1`` (the best of 0.3, 1, 2 on the
    planted model with θ = 0.3 in a pilot run), coordinate descent, batches of 256."""
    from sklearn.decomposition import MiniBatchDictionaryLearning

    return MiniBatchDictionaryLearning(n_components=n_features, alpha=alpha, batch_size=256,
                                       fit_algorithm="cd", transform_algorithm="lasso_cd",
                                       random_state=random_state)


def _mbdl_stream(X, D0, checkpoints, alpha, random_state):
    model = make_minibatch_dictionary_learning(X.shape[1], alpha, random_state)
    rows, elapsed, seen = [], 0.0, 0
    for p in checkpoints:
        while seen < p:
            chunk = X[seen:min(seen + 256, p)]
            start = time.perf_counter()
            model.partial_fit(chunk)
            elapsed += time.perf_counter() - start
            seen += chunk.shape[0]
        rows.append((row_recovery(model.components_, D0), elapsed))
    return rows


def ecg_windows(width: int = 32, step: int = 1) -> np.ndarray:
    """Sliding windows of the bundled ECG (:func:`~sparserec.datasets.load_ecg`), each centred.

    The mean of each window (baseline wander, not ECG shape) is removed, so the bases
    compete on the waveform. Single lead, 360 Hz: ``width=32`` spans 89 ms.

    Examples
    --------
    >>> from sparserec.demos.dictionary_comparison import ecg_windows
    >>> ecg_windows(32, step=100).shape
    (1080, 32)
    """
    from ..datasets import load_ecg

    X = sliding_windows(load_ecg().signal, width, step)
    return X - X.mean(axis=1, keepdims=True)


def align_atoms(components, reference):
    """Reorder and re-sign the rows of ``components`` to best match the rows of ``reference``.

    The assignment maximises ``Σ |⟨c_i, r_π(i)⟩|`` (Hungarian algorithm); signs make the
    matched inner products positive. Useful to compare a learned dictionary (defined up to
    a signed permutation) with a planted one atom by atom.

    Returns
    -------
    aligned : ndarray
        ``aligned[j]`` is the learned atom matched to ``reference[j]``.
    permutation, signs : ndarray
        ``aligned = signs[:, None] * components[permutation]``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.demos.dictionary_comparison import align_atoms
    >>> aligned, perm, signs = align_atoms(-np.eye(3)[[2, 0, 1]], np.eye(3))
    >>> perm.tolist(), signs.tolist()
    ([1, 2, 0], [-1.0, -1.0, -1.0])
    """
    from scipy.optimize import linear_sum_assignment

    C, R = np.asarray(components, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if C.ndim != 2 or C.shape != R.shape:
        raise ValueError(f"components and reference must be 2-D of the same shape, got "
                         f"{C.shape} and {R.shape}")
    inner = C @ R.T  # inner[i, j] = <c_i, r_j>
    rows, cols = linear_sum_assignment(-np.abs(inner))
    permutation = np.empty(R.shape[0], dtype=int)
    permutation[cols] = rows
    signs = np.sign(inner[permutation, np.arange(R.shape[0])])
    signs[signs == 0] = 1.0
    return signs[:, None] * C[permutation], permutation, signs
