"""OnlineOrthogonalDictionary: streaming orthogonal dictionary learning by Frank–Wolfe."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state, check_scalar
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..backend import get_namespace, is_cupy_array, to_device, to_host
from ..base import (
    COMMON_PARAMETER_CONSTRAINTS,
    SparseEstimatorMixin,
    check_finite_array,
    check_option,
    pow2_scale,
    validate_data,
    validate_xy,
)
from .msp import (
    _check_n_components,
    _initial_components,
    _l4_gradient,
    polar_factor,
    polar_newton_schulz,
)

__all__ = ["OnlineOrthogonalDictionary"]

_TRANSFORMS = ("hard_threshold", "top_k")


class OnlineOrthogonalDictionary(SparseEstimatorMixin, ClassNamePrefixFeaturesOutMixin,
                                 TransformerMixin, BaseEstimator):
    """Online orthogonal dictionary learning by stochastic Frank–Wolfe (Xue & Lau).

    Learns a dictionary with orthonormal atoms ``W`` (rows of ``components_``) under which
    the samples ``x`` (rows of ``X``) have sparse codes ``a = W x``, by maximising the
    expected ℓ⁴ norm ``f(W) = E‖W x‖₄⁴`` from a stream of mini-batches. Following Xue &
    Lau, the orthogonal group is relaxed to its convex hull, the spectral-norm ball
    ``{W : ‖W‖₂ ≤ 1}``, and each mini-batch ``X_t`` gives one Frank–Wolfe step:

    1. ``Ĝ_t = ((X_t W_{t−1}ᵀ)^{∘3})ᵀ X_t / |X_t|`` (the mini-batch gradient of ``f / 4``);
    2. ``G_t = (1 − ρ_t) G_{t−1} + ρ_t Ĝ_t`` (a running gradient estimate: no sample is
       stored, the memory is ``O(n_components × n_features)`` however long the stream);
    3. ``S_t = U Vᵀ`` for ``G_t = U Σ Vᵀ`` (the linear oracle ``argmax_{‖S‖₂≤1} ⟨G_t, S⟩``);
    4. ``W_t = (1 − γ_t) W_{t−1} + γ_t S_t``, with ``ρ_t = t^{−averaging_exponent}`` and
       ``γ_t = t^{−step_exponent}``.

    ``components_`` is the polar factor of ``W_t`` (orthonormal rows to machine precision).
    Because ``ρ_1 = γ_1 = 1``, the first step is one MSP iteration (Zhai et al.) on the
    first mini-batch; with both exponents 0 every step is an MSP iteration on its batch,
    so one batch holding all the data reproduces :func:`~sparserec.dictionary.l4_msp`.

    Codes: ``transform`` returns ``X @ components_.T`` thresholded. Because the atoms are
    orthonormal, hard thresholding at ``transform_alpha`` exactly minimises
    ``‖x − Wᵀa‖² + α²‖a‖₀`` and keeping the ``k`` largest magnitudes exactly solves the
    ``k``-sparse approximation problem.

    Parameters
    ----------
    n_components : int, default=None
        Number of orthonormal atoms, at most ``n_features`` (an orthogonal dictionary is
        square; fewer atoms give the ``n_components`` sparsest orthonormal directions).
        ``None`` means ``n_features``.
    batch_size : int, default=32
        Samples per Frank–Wolfe step, in :meth:`fit` and in :meth:`partial_fit` (which
        cuts the stream into mini-batches of this size whatever the size of the chunks it
        receives). The schedules count steps, and the progress of the
        iterate grows like ``Σ γ_t ∝ t^{1/4}``: smaller batches mean more steps per pass
        and better use of each sample, at the cost of one small SVD per step. 16–64 works
        well for 16–64 features; batches of several hundred need several passes.
    step_exponent : float, default=0.75
        ``γ_t = t^{−step_exponent}``, the Frank–Wolfe step (``0 ≤ · ≤ 1``).
    averaging_exponent : float, default=0.5
        ``ρ_t = t^{−averaging_exponent}``, the weight of the new mini-batch gradient in
        the running estimate (``0 ≤ · ≤ 1``). The analysis needs ``γ_t / ρ_t → 0``, i.e.
        ``step_exponent > averaging_exponent``; the defaults give the
        ``O(ln t / t^{1/4})`` rate of the Frank–Wolfe gap.
    transform_algorithm : {"hard_threshold", "top_k"}, default="hard_threshold"
        How :meth:`transform` sparsifies ``X @ components_.T``: zero the entries with
        magnitude ``<= transform_alpha``, or keep the ``transform_n_nonzero_coefs``
        largest magnitudes of each sample.
    transform_alpha : float, default=0.0
        Hard threshold (in the units of ``X``). 0 keeps every nonzero coefficient.
    transform_n_nonzero_coefs : int, default=None
        Coefficients kept per sample by ``"top_k"``; ``None`` means
        ``max(1, round(0.1 * n_components))``.
    shuffle : bool, default=False
        Shuffle the samples before each pass of :meth:`fit` (with ``random_state``).
        ``False`` processes the rows in order, as a stream: then :meth:`fit` equals
        :meth:`partial_fit` over the consecutive mini-batches. Set ``True`` for ordered
        data (e.g. sliding windows of a signal), whose consecutive samples are correlated.
    dict_init : array of shape (n_components, n_features), default=None
        Starting dictionary (rows = atoms); its polar factor is used. ``None``: a
        Haar-random orthonormal start drawn from ``random_state``.
    max_iter : int, default=10
        Maximum number of passes over the data in :meth:`fit`, honoured exactly.
    tol : float, default=1e-3
        :meth:`fit` stops after the first pass whose last relative Frank–Wolfe gap
        ``1 − ⟨G_t, W_{t−1}⟩ / ‖G_t‖_*`` (0 at a stationary point, at most 2) is at most
        ``tol``. The gap of a mini-batch estimate has a noise floor that shrinks with the
        steps taken (about 4e-3 after one pass of 50 000 planted samples with 32
        features), so small ``tol`` values mean several passes.
    backend : {"auto", "numpy", "numba", "cupy"}, default="auto"
        ``"numpy"`` and ``"numba"`` run the same NumPy code: each step is two BLAS matrix
        products and one small SVD, with no loop for numba to compile. ``"cupy"`` runs it
        on the GPU in float64 with the state there: the mini-batch gradient as two GEMMs,
        the polar factor by Newton–Schulz GEMMs (the SVD's to rounding; see
        :func:`~sparserec.dictionary.polar_newton_schulz`) instead of cuSOLVER's SVD, and
        nothing read back but once per pass (the gap) or call (``history_``). A step
        then costs about a hundred kernel launches whatever its size, so the GPU pays
        only with large steps: ``batch_size`` of several thousand samples and a few
        hundred features (see the backends page; the default 32 is for the CPU, and the
        schedule counts steps, so a larger batch is a different, not a worse, run). With
        NumPy input, ``components_`` (copied at each read), ``transform`` and
        ``inverse_transform`` return NumPy; with CuPy input, CuPy.
    random_state : int, RandomState or None, default=None
        Seeds the random start and the shuffling.
    verbose : int, default=0
        Show a progress bar over the passes of :meth:`fit`.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The dictionary, atoms as rows, orthonormal: ``X ≈ transform(X) @ components_``.
        (The column-atom dictionary ``D₀`` of
        :func:`~sparserec.datasets.make_dictionary_data` corresponds to
        ``components_.T``.)
    orthogonality_error_ : float
        ``‖components_ components_ᵀ − I‖_F`` (rounding level, below 1e-12).
    iterate_ : ndarray of shape (n_components, n_features)
        The Frank–Wolfe iterate ``W_t`` (inside the spectral-norm ball).
    gradient_estimate_ : ndarray of shape (n_components, n_features)
        The running gradient estimate ``G_t`` of the normalised samples ``X / scale_``
        (times ``scale_**4`` in the units of ``X``).
    scale_ : float
        The power of two nearest the largest magnitude of the first batch with a nonzero
        value (0 until then). Every batch is divided by it before the ℓ⁴ gradient, so the
        fit is equivariant to the units of ``X``: the fourth powers of data of magnitude
        1e-90 (which underflow) or 1e80 (which overflow) are never formed.
    frank_wolfe_gap_ : float
        The relative Frank–Wolfe gap of the last step (see ``tol``).
    n_samples_seen_ : int
        Samples received since the start (all passes and :meth:`partial_fit` calls,
        including ``n_samples_pending_``).
    n_samples_pending_ : int
        Samples received by :meth:`partial_fit` whose mini-batch is not complete yet.
    n_steps_ : int
        Frank–Wolfe steps (mini-batches) since the start: the ``t`` of the schedules.
    history_ : list of float
        For each mini-batch completed in the last call to :meth:`fit` (all passes) or
        :meth:`partial_fit`, ``mean ‖W_{t−1} x‖₄⁴`` over the incoming batch
        (of ``X / scale_``) before it is used: an online (held-out) estimate of the
        objective at the current iterate. (Per call, so that streaming through
        :meth:`partial_fit` keeps the memory independent of the stream length.)
    n_iter_ : int
        Passes run by :meth:`fit`.
    converged_ : bool
        Whether :meth:`fit` stopped on ``tol``.
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    backend_ : str
        The backend used.

    Notes
    -----
    Reading of the paper. Only the abstract and introduction of arXiv:2103.01484 could be
    consulted (the stored copies of the full text were not readable here), so the scheme
    was written from what they state — ℓ⁴ maximisation (as MSP), the orthogonal
    constraint relaxed to a convex set (the spectral-norm ball, the convex hull of the
    orthogonal group, whose extreme points are the orthogonal matrices), a Frank–Wolfe
    online algorithm that stores no past data, rate ``O(ln t / t^{1/4})`` — and from the
    standard stochastic Frank–Wolfe with an averaged gradient (Mokhtari, Hassani &
    Karbasi 2020) whose diminishing schedule ``ρ_t ∝ t^{−1/2}``, ``γ_t ∝ t^{−3/4}`` gives
    exactly that rate for the Frank–Wolfe gap of a smooth non-convex objective.
    Both exponents are parameters, so another schedule is one argument away.

    Choices to note:

    * ``t`` counts mini-batches (steps) of ``batch_size`` samples, and :meth:`partial_fit`
      forms the same mini-batches from chunks of any size, so ``t`` is the number of
      samples seen divided by ``batch_size`` however the stream is sliced. A mini-batch
      gradient is the mean over its samples.
    * ``components_`` is the polar factor of the iterate (the iterate is a convex
      combination of orthogonal matrices; at a vertex, as the theory predicts in the
      limit, the two coincide). This makes the returned dictionary exactly orthonormal.
    * The factor 4 of ``∇‖Wx‖₄⁴`` is dropped (the oracle is scale invariant).
    * ``n_components < n_features`` (orthonormal rows, the Stiefel manifold, whose convex
      hull is again the spectral-norm ball) is an extension.
    * The stopping rule on the Frank–Wolfe gap (``tol``) is ours; the paper's algorithm
      runs as long as data arrive.

    References
    ----------
    Y. Xue and V. K. N. Lau, "Online orthogonal dictionary learning based on Frank–Wolfe
    method", IEEE Trans. Neural Netw. Learn. Syst., 2023. arXiv:2103.01484.

    Y. Zhai, Z. Yang, Z. Liao, J. Wright and Y. Ma, "Complete dictionary learning via
    ℓ⁴-norm maximization over the orthogonal group", JMLR 21(165), 2020. arXiv:1906.02435.

    A. Mokhtari, H. Hassani and A. Karbasi, "Stochastic conditional gradient methods:
    from convex minimization to submodular maximization", JMLR 21(105), 2020.
    arXiv:1804.09554.

    Examples
    --------
    >>> from sparserec import OnlineOrthogonalDictionary
    >>> from sparserec.datasets import make_dictionary_data
    >>> from sparserec.metrics import dictionary_recovery
    >>> data = make_dictionary_data(8, 5000, theta=0.3, random_state=0)
    >>> est = OnlineOrthogonalDictionary(random_state=0).fit(data.X)
    >>> dictionary_recovery(est.components_.T, data.dictionary) > 0.99
    True
    >>> est.orthogonality_error_ < 1e-12
    True
    >>> codes = est.set_params(transform_algorithm="top_k",
    ...                        transform_n_nonzero_coefs=3).transform(data.X[:4])
    >>> [int(c) for c in (codes != 0).sum(axis=1)]
    [3, 3, 3, 3]
    """

    _parameter_constraints: dict = {
        **COMMON_PARAMETER_CONSTRAINTS,
        "n_components": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "step_exponent": [Interval(numbers.Real, 0, 1, closed="both")],
        "averaging_exponent": [Interval(numbers.Real, 0, 1, closed="both")],
        "transform_algorithm": [StrOptions(set(_TRANSFORMS))],
        "transform_alpha": [Interval(numbers.Real, 0, np.inf, closed="left")],
        "transform_n_nonzero_coefs": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "shuffle": ["boolean"],
        "dict_init": ["array-like", None],
    }

    #: run the steps as on the GPU (``None``: with ``backend="cupy"``); tests set it on NumPy
    _device_steps = None

    def __init__(self, n_components: int | None = None, *, batch_size: int = 32,
                 step_exponent: float = 0.75, averaging_exponent: float = 0.5,
                 transform_algorithm: str = "hard_threshold", transform_alpha: float = 0.0,
                 transform_n_nonzero_coefs: int | None = None, shuffle: bool = False,
                 dict_init=None, max_iter: int = 10, tol: float = 1e-3,
                 backend: str = "auto", random_state=None, verbose: int = 0):
        self.n_components = n_components
        self.batch_size = batch_size
        self.step_exponent = step_exponent
        self.averaging_exponent = averaging_exponent
        self.transform_algorithm = transform_algorithm
        self.transform_alpha = transform_alpha
        self.transform_n_nonzero_coefs = transform_n_nonzero_coefs
        self.shuffle = shuffle
        self.dict_init = dict_init
        self.max_iter = max_iter
        self.tol = tol
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ checks
    def _check_params(self, n_features: int) -> int:
        """The checks that depend on the data (the table covers the rest)."""
        k = _check_n_components(self.n_components, n_features)
        self._check_transform_params(k)
        return k

    def _check_transform_params(self, k: int) -> None:
        # transform may run after set_params: the table's checks of its parameters, then k
        check_option(self.transform_algorithm, "transform_algorithm", _TRANSFORMS)
        check_scalar(self.transform_alpha, "transform_alpha", numbers.Real, min_val=0.0)
        if not np.isfinite(self.transform_alpha):
            raise ValueError(f"transform_alpha must be finite, got {self.transform_alpha!r}")
        if self.transform_n_nonzero_coefs is not None:
            check_scalar(self.transform_n_nonzero_coefs, "transform_n_nonzero_coefs",
                         numbers.Integral, min_val=1, max_val=k)

    def _validate(self, X, reset: bool):
        if is_cupy_array(X):
            return validate_xy(self, X, reset=reset)
        # host input: scikit-learn's checks as they are (validate_xy probes np.iscomplexobj,
        # which array-likes without __array_function__ support refuse)
        return validate_data(self, X, reset=reset, dtype=np.float64)

    # ------------------------------------------------------------------ state
    def _start(self, X, rng) -> None:
        """Fresh state: random (or given) orthonormal iterate, zero gradient estimate."""
        self._check_common_params(X)  # the parameter table first: scikit-learn's messages
        k = self._check_params(X.shape[1])
        xp = get_namespace(self.backend_)
        W = _initial_components(self.dict_init, k, X.shape[1], rng)
        self.iterate_ = to_device(W, self.backend_, dtype=np.float64)
        self.gradient_estimate_ = xp.zeros_like(self.iterate_)
        self.n_steps_ = 0
        self.n_samples_seen_ = 0
        self._gap = float("nan")
        # on the GPU the steps read nothing back (values, gaps and the step guard stay
        # there: see _update); the tests set _device_steps to run that path on NumPy
        self._on_device = self.backend_ == "cupy" if self._device_steps is None \
            else self._device_steps
        self.scale_ = 0.0
        self._pending_count, self._pending_gradient, self._pending_value = 0, None, 0.0
        self._components = None
        # backend="cupy" with NumPy input: the state stays on the GPU, components_ is NumPy
        self._host_output = not is_cupy_array(X)

    def _normalised(self, batch):
        """``batch / scale_``; the first batch with a nonzero value fixes ``scale_``.

        ``scale_`` is the power of two nearest the largest magnitude of that batch: the
        division is exact, and the fourth powers of the normalised data neither underflow
        nor overflow whatever the units of ``X``. One scale for the whole stream keeps the
        running gradient estimate a consistent average (the polar factor and the relative
        Frank–Wolfe gap do not depend on it).
        """
        if self.scale_ == 0.0:
            if not batch.size or float(get_namespace(self.backend_).abs(batch).max()) == 0:
                return batch
            self.scale_ = pow2_scale(batch)
        return batch / self.scale_

    def _gradient(self, batch):
        """The mini-batch ℓ⁴ gradient of ``batch / scale_`` at the iterate, and its mean value
        (a 0-d array on the device path, checked by :meth:`_read_history`)."""
        g_hat, value = _l4_gradient(self.iterate_, self._normalised(batch),
                                    read=not self._on_device)
        if not self._on_device:
            self._check_values([value])
        return g_hat, value

    @staticmethod
    def _check_values(values) -> None:
        if not np.isfinite(values).all():
            raise ValueError("the l4 gradient overflowed: this batch is more than 1e75 times "
                             "larger than the first nonzero one, which set the scale of the "
                             "stream (scale_); rescale X consistently")

    def _read_history(self) -> None:
        """Device path: the values recorded since the last read, in one transfer, checked."""
        pending = [i for i, v in enumerate(self.history_) if type(v) is not float]
        if pending:
            xp = get_namespace(self.backend_)
            values = to_host(xp.stack([self.history_[i] for i in pending]))
            for i, v in zip(pending, values, strict=True):
                self.history_[i] = float(v)
            self._check_values(values)

    def _record(self, value) -> None:
        self.history_.append(value if self._on_device else float(value))

    @property
    def frank_wolfe_gap_(self) -> float:
        """The relative Frank–Wolfe gap of the last step (see ``tol``)."""
        check_is_fitted(self, "iterate_")
        return float(self._gap)

    def _step(self, batch) -> None:
        """One Frank–Wolfe step on one mini-batch (rows of ``batch``)."""
        g_hat, value = self._gradient(batch)
        self.n_samples_seen_ += batch.shape[0]
        self._update(g_hat, value)

    def _update(self, g_hat, value) -> None:
        """The Frank–Wolfe step ``t`` with the mini-batch gradient ``g_hat``."""
        t = self.n_steps_ + 1
        rho = t ** -float(self.averaging_exponent)
        gamma = t ** -float(self.step_exponent)
        G = self.gradient_estimate_
        G *= 1.0 - rho
        G += rho * g_hat
        W = self.iterate_
        if self._on_device:  # GEMMs only, and no host read: the guard is a where
            xp = get_namespace(self.backend_)
            S, nuclear = polar_newton_schulz(G)
            moving = nuclear > 0  # G = 0 (all-zero data so far): every point is stationary
            self._gap = xp.where(moving, 1.0 - (G * W).sum() / xp.where(moving, nuclear, 1.0),
                                 0.0)
            W *= xp.where(moving, 1.0 - gamma, 1.0)
            W += xp.where(moving, gamma, 0.0) * S
        else:
            S, nuclear = polar_factor(G)
            nuclear = float(nuclear)
            if nuclear > 0:
                self._gap = 1.0 - float((G * W).sum()) / nuclear
                W *= 1.0 - gamma
                W += gamma * S
            else:  # G = 0 (all-zero data so far): every point is stationary
                self._gap = 0.0
        self._components = None  # the polar factor of the new iterate, computed on demand
        self._record(value)
        self.n_steps_ = t

    def _stream(self, X) -> None:
        """Cut the stream into mini-batches of ``batch_size`` whatever the chunks ``X``.

        A mini-batch completed across several calls is the sum of the gradients of its
        pieces, all taken at the same iterate (it only moves at a step): exactly the
        gradient of the whole mini-batch. A chunk holding whole mini-batches steps on them
        directly.
        """
        batch, m, start = int(self.batch_size), X.shape[0], 0
        while start < m:
            if self._pending_count == 0 and m - start >= batch:
                self._step(X[start:start + batch])
                start += batch
                continue
            part = X[start:start + max(batch - self._pending_count, 1)]
            start += part.shape[0]
            g_hat, value = self._gradient(part)
            p = part.shape[0]
            if self._pending_count == 0:
                self._pending_gradient, self._pending_value = g_hat * p, value * p
            else:
                self._pending_gradient += g_hat * p
                self._pending_value += value * p
            self._pending_count += p
            self.n_samples_seen_ += p
            if self._pending_count >= batch:
                count, self._pending_count = self._pending_count, 0
                self._update(self._pending_gradient / count, self._pending_value / count)
                self._pending_gradient = None

    @property
    def n_samples_pending_(self) -> int:
        """Samples received by :meth:`partial_fit` that wait for their mini-batch to fill."""
        check_is_fitted(self, "iterate_")
        return self._pending_count

    def _device_components(self):
        # one SVD per read after a step, not per step: partial_fit streams stay cheap
        check_is_fitted(self, "iterate_")
        if self._components is None:
            polar = polar_newton_schulz if self._on_device else polar_factor
            self._components = polar(self.iterate_)[0]
        return self._components

    @property
    def components_(self):
        C = self._device_components()
        return to_host(C) if self._host_output else C

    @property
    def orthogonality_error_(self) -> float:
        xp = get_namespace(self.backend_)
        C = self._device_components()
        return float(xp.linalg.norm(C @ C.T - xp.eye(C.shape[0])))

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None):
        """Learn the dictionary from ``X`` in passes of mini-batches of ``batch_size``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples as rows (NumPy or CuPy).
        y : None
            Ignored.

        Returns
        -------
        self
        """
        self._validate_params()  # before the random state is drawn: the table's messages
        X = self._validate(X, reset=True)
        rng = check_random_state(self.random_state)
        self._start(X, rng)
        X = to_device(X, self.backend_, dtype=np.float64)
        n_samples, batch = X.shape[0], int(self.batch_size)
        converged, n_passes = False, 0
        for _ in self._iterations():
            data = X[to_device(rng.permutation(n_samples), self.backend_)] if self.shuffle \
                else X
            for start in range(0, n_samples, batch):
                self._step(data[start:start + batch])
            self._read_history()  # device path: one read per pass
            n_passes += 1
            if self.frank_wolfe_gap_ <= self.tol:
                converged = True
                break
        self.components_  # noqa: B018 -- computed now, so that transform leaves the state as is
        self._set_convergence(n_passes, converged)
        return self

    def partial_fit(self, X, y=None):
        """Stream the samples ``X`` into mini-batches of ``batch_size``, one step per batch.

        The result depends on the samples seen, not on how the stream is sliced: the
        stream is cut into consecutive mini-batches of ``batch_size`` samples whatever the
        chunks (a chunk of 5000 makes 156 steps and keeps 8 samples pending; chunks of 1
        make a step every ``batch_size`` calls). A mini-batch filled across calls uses the
        sum of the gradients of its pieces, all at the same iterate, so it is exactly the
        mini-batch gradient; only that ``O(n_components × n_features)`` sum is kept, no
        sample. Samples of an unfinished mini-batch (``n_samples_pending_``) do not move
        the dictionary until it fills. The first call starts from the random (or
        ``dict_init``) dictionary, exactly as :meth:`fit` does, so streaming the rows of
        ``X`` in chunks of any size equals ``fit(X)`` with ``shuffle=False`` and one pass
        (up to rounding and the last, incomplete mini-batch, which ``fit`` uses and
        :meth:`partial_fit` keeps pending).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            One mini-batch, samples as rows, with the features of the first call.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        first = not hasattr(self, "iterate_")
        if first:
            self._validate_params()
        if not first and type(X) is np.ndarray and X.ndim == 2 and X.dtype.kind == "f" \
                and X.shape[0] > 0 and not hasattr(self, "feature_names_in_"):
            # a stream of NumPy batches: scikit-learn's validate_data costs about as much as
            # the whole Frank-Wolfe step (~0.4 ms); the same checks, directly
            X = check_finite_array(X, "X", ndim=2)
            if X.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} "
                                 f"is expecting {self.n_features_in_} features as input")
        else:
            X = self._validate(X, reset=first)
        if first:
            self._start(X, check_random_state(self.random_state))
        else:
            self._check_params(X.shape[1])
            self.history_ = []
        self._stream(to_device(X, self.backend_, dtype=np.float64))
        self._read_history()
        return self

    # ------------------------------------------------------------------ coding
    def transform(self, X):
        """Sparse codes ``X @ components_.T``, thresholded as ``transform_algorithm`` says.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        codes : ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self, "components_")
        X = self._validate(X, reset=False)
        C = self._device_components()
        k = C.shape[0]
        self._check_transform_params(k)
        xp = get_namespace(self.backend_)
        host = not is_cupy_array(X)  # backend="cupy" with NumPy input: NumPy codes
        codes = to_device(X, self.backend_, dtype=np.float64) @ C.T
        magnitude = xp.abs(codes)
        if self.transform_algorithm == "hard_threshold":
            codes[magnitude <= self.transform_alpha] = 0.0
            return to_host(codes) if host else codes
        keep = self.transform_n_nonzero_coefs or max(1, round(0.1 * k))
        if keep < k:
            drop = xp.argpartition(-magnitude, keep - 1, axis=1)[:, keep:]
            xp.put_along_axis(codes, drop, 0.0, axis=1)
        return to_host(codes) if host else codes

    def inverse_transform(self, X):
        """Samples ``X @ components_`` from codes (rows of ``X``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Codes, e.g. from :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self, "components_")
        codes = check_finite_array(X, "X", ndim=2)
        C = self._device_components()
        if codes.shape[1] != C.shape[0]:
            raise ValueError(f"X must have n_components={C.shape[0]} columns "
                             f"(codes), got shape {codes.shape}")
        out = to_device(codes, self.backend_, dtype=np.float64) @ C
        return out if is_cupy_array(codes) else to_host(out)

    @property
    def _n_features_out(self):
        return self.components_.shape[0]
