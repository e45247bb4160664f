"""SelfCalibration: joint calibration and signal recovery by linear least squares."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from scipy.sparse import issparse
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..backend import array_namespace, is_cupy_array, to_device, to_host
from ..base import (
    COMMON_PARAMETER_CONSTRAINTS,
    SparseEstimatorMixin,
    check_finite_array,
    check_option,
    external_stacklevel,
    rms,
)
from .models import MODELS, make_model
from .refine import REFINE_RTOL, bilinear_sweeps, gauss_newton
from .solvers import LinearSolution, solve_lsq, solve_spectral

__all__ = ["SelfCalibration"]

_SOLVERS = {"lsq": ("auto", "lsqr", "lsmr", "dense"), "spectral": ("auto", "lobpcg", "dense")}
_SMALL_DENSE = 2**20  # entries of A_0 below which solver="auto" takes the dense SVD


def _numeric(a, name: str, ndim):
    """A finite real or complex array (object arrays of numbers are converted)."""
    if issparse(a):
        raise TypeError(f"{name} must be a dense array; sparse input is not supported")
    if not is_cupy_array(a):
        a = np.asarray(a)
        if a.dtype == object:
            try:
                a = a.astype(np.float64)
            except TypeError:
                try:
                    a = a.astype(np.complex128)
                except TypeError:
                    raise TypeError(f"{name} has entries that are not numbers: every "
                                    "argument must be a string or a number convertible "
                                    "to float or complex") from None
    a = check_finite_array(a, name, ndim=ndim, allow_complex=True, min_size=0)
    if a.shape[-1] == 0 and name == "A":
        raise ValueError(f"A: 0 feature(s) (shape={a.shape}) while a minimum of 1 is "
                         "required.")
    if a.size == 0:
        raise ValueError(f"{name} must have at least 1 element, got shape {a.shape}")
    return a


class SelfCalibration(SparseEstimatorMixin, RegressorMixin, BaseEstimator):
    """Self-calibration ``y_l = diag(d) A_l x_l`` by linear least squares (Ling & Strohmer).

    The calibration ``d`` (one complex or real gain per sensor, all nonzero) and the
    signal(s) ``x`` are unknown. With ``s = d⁻¹`` every snapshot gives the *linear*
    equations ``diag(y_l) s − A_l x_l = 0``; their stack ``A_0 z = 0`` in ``z = (s, x)`` is
    solved as a least-squares problem with one extra row ``w* z = c`` (``method="lsq"``),
    or by the smallest right singular vector of ``A_0`` (``method="spectral"``).
    ``A_0`` is never formed (unless ``solver="dense"``): it is applied through the
    sensing matrices and the diagonal blocks ``diag(y_l)``.

    Parameters
    ----------
    model : {"repeated", "diverse", "snapshots", "subspace", "inverse_subspace"}
        Default ``"repeated"``.
        ``repeated``: ``y_l = D A_l x`` (``A`` of shape ``(p, m, n)``, one ``x``).
        ``diverse``: ``y_l = D A_l x_l`` (``A`` of shape ``(p, m, n)``, ``p`` signals;
        blind deconvolution via diverse inputs).
        ``snapshots``: ``y_l = D A x_l`` (``A`` of shape ``(m, n)``, ``p`` signals).
        ``subspace``: one snapshot ``y = diag(B h) A x`` for a known ``B`` of shape
        ``(m, k)`` passed to :meth:`fit` (Ling & Strohmer 2015), solved by lifting: the
        least-squares (``method="lsq"``) or spectral estimate of ``h xᵀ``, its leading
        singular pair, then the refinement (see
        :class:`~sparserec.selfcal.models.Subspace`).
        ``inverse_subspace`` (an extension beyond both papers): one snapshot with
        ``d⁻¹ = B h``, which keeps the linear trick (no refinement).
    method : {"lsq", "spectral"}, default="lsq"
        Least squares with the constraint row, or the smallest singular vector.
    w : array of shape (n_unknowns,), default=None
        The constraint row ``w* z = c`` on ``z = (s, x)`` (``(h, x)`` with ``B``),
        flattened with ``s`` (or ``h``) first. Ling & Strohmer allow any ``w`` with
        ``w* z_0 ≠ 0``; the conditioning of ``[A_0; w*]`` degrades as ``w`` turns away
        from ``z_0``. ``None`` gives ``w = e_1``: ``s_1 = c``, i.e. the first sensor (the
        first basis coefficient ``h_1`` with ``B``) is the gain reference. This is
        always admissible because every ``d_i`` is finite, so ``s_1 ≠ 0``.
    c : scalar, default=1.0
        Right-hand side of the constraint (nonzero). The fitted unknowns satisfy
        ``w* z = c`` exactly, for both methods (see Notes).
    solver : {"auto", "lsqr", "lsmr", "dense", "lobpcg"}, default="auto"
        ``method="lsq"``: ``"lsqr"`` (``"auto"``) or ``"lsmr"`` (matrix-free, with column
        equilibration), or ``"dense"`` (``numpy.linalg.lstsq`` on the stacked matrix).
        ``method="spectral"``: ``"lobpcg"`` (matrix-free, on ``A_0* A_0``) or ``"dense"``
        (SVD); ``"auto"`` takes the dense SVD when ``A_0`` has at most 2**20 entries.
        Dense solvers are refused above ``sparserec.get_config()["max_dense_bytes"]``.
    max_iter : int, default=1000
        Iteration limit of LSQR/LSMR/LOBPCG, honoured exactly.
    refine_iter : int, default=100
        At most this many refinement iterations on the bilinear objective
        ``Σ_l ‖y_l − diag(d) A_l x_l‖²`` after the linear (or spectral) solution:
        alternating least-squares sweeps (exact steps, each lowering the objective) until
        the calibration's estimated distance to the limit is below ``sqrt(eps)`` of it;
        where the data are then fitted to ``sqrt(eps)`` (high SNR), Gauss–Newton steps
        (matrix-free LSMR), which converge quadratically there. In noise the linear
        solution is not the least-squares estimate (the noise in ``y`` enters ``A_0``);
        the refinement reaches it, as accurate as alternating least squares from
        ``d = 1`` (which has no guarantee of its own) from a start that has one. 0 returns
        the linear solution.
    tol : float, default=1e-10
        LSQR/LSMR: ``atol = btol``; LOBPCG: residual norm of the eigenpair of
        ``A_0* A_0`` normalised to unit mean diagonal.
    backend : {"auto", "numpy", "numba", "cupy"}, default="auto"
        ``"numpy"`` and ``"numba"`` run the same NumPy/SciPy code (the work is BLAS
        matrix-vector products; there is no loop for numba to compile). ``"cupy"`` runs the
        same matrix-free products with CuPy and ``cupyx.scipy.sparse.linalg`` (LSMR for
        ``solver="lsqr"`` too: CuPy has no iterative LSQR; LOBPCG; dense SVD/lstsq by
        cuSOLVER), in float64/complex128. CuPy input gives CuPy results; NumPy input
        is copied to the GPU once and the results back.
    random_state : int, RandomState or None, default=None
        Seeds LOBPCG's starting vector (the least-squares solvers are deterministic).
    verbose : int, default=0
        1: one summary line per fit; 2: also the solvers' own iteration logs.

    Attributes
    ----------
    calibration_ : ndarray of shape (m,)
        The calibration ``d = 1/s``. A sensor whose measurements are all exactly 0 is
        left out of the system (with a warning) and gets ``calibration_ = 0``.
    inverse_calibration_ : ndarray of shape (m,)
        ``s = 1/d`` (``B h`` for ``inverse_subspace``); ``inf`` at sensors left out.
    signal_ : ndarray of shape (n,) or (p, n)
        ``x`` (``repeated``) or one signal per snapshot (row).
    subspace_coef_ : ndarray of shape (k,)
        ``h`` (``subspace`` and ``inverse_subspace`` only).
    residual_ : float
        Relative misfit ``‖y − D A x‖ / ‖y‖`` of the fitted bilinear model.
    singular_values_ : ndarray
        ``method="spectral"`` only: the singular values of ``A_0`` (built from ``A``, ``y``
        and ``B`` scaled to unit RMS, see Notes) in ascending order
        (dense SVD), or the smallest one (LOBPCG).
    refinement_history_ : list of float
        Relative misfit after each refinement sweep or Gauss–Newton step.
    n_iter_ : int
        Iterations of LSQR/LSMR/LOBPCG (1 for the dense solvers).
    converged_ : bool
        Whether the solver stopped on ``tol`` rather than ``max_iter``, and the
        refinement on its test rather than ``refine_iter``.
    history_ : list of float
        LOBPCG: the eigen-residual norm per iteration. LSQR/LSMR/dense least squares:
        one value, the final relative residual ``‖A_w z − b‖/|c|`` (SciPy's LSQR/LSMR do
        not expose per-iteration residuals). Dense SVD: ``[σ_min/σ_max]``.
    n_features_in_ : int
        ``n``, the number of columns of the sensing matrices.
    backend_ : str
        The backend used.

    Notes
    -----
    Normalisation. ``d`` and ``x`` are only determined up to ``(d/α, α x)``. Both methods
    return the representative with ``w* z = c``: the least-squares solution is rescaled
    by the scalar that makes the constraint exact (with noise the extra row is only met
    in the least-squares sense; the direction of ``z`` does not depend on the weight of
    that row), and the spectral unit vector by ``c / (w* z)``. The product ``D A x``
    (:meth:`predict`) does not depend on the scale.

    Scale. ``A``, ``y`` (and ``B``) are scaled to unit RMS before ``A_0`` is formed and the
    unknowns are mapped back, so ``y × a``, ``A × b`` give the same calibration and the
    signal × ``a/b`` at any scale (1e-300 … 1e300). The least-squares solution does not
    depend on this choice (it is invariant to scaling the columns of ``A_0``); the
    smallest singular vector does, and is defined on the scaled data.

    Identifiability. ``A_0`` has ``p m`` rows; a one-dimensional null space needs
    ``p m ≥ (number of unknowns) − 1``: ``m p ≥ m + n − 1`` (repeated),
    ``m p ≥ m + p n − 1`` (diverse, snapshots), ``m ≥ k + n − 1`` (the subspace
    models). A fit below that count warns. Ling & Strohmer prove exact recovery and stability for
    Gaussian ``A_l`` once ``m p`` exceeds the number of unknowns by poly-logarithmic
    factors ("nearly optimal up to a poly-log factor").

    Inputs are converted to float64 (complex128 if any of them is complex).

    Deviations from the papers: columns are equilibrated before LSQR (a right diagonal
    preconditioner: same least-squares solution, ~10x fewer iterations); the spectral
    method uses LOBPCG instead of a full SVD on large problems; the linear (or spectral)
    solution is refined (``refine_iter``); ``subspace``
    solves the lifted system by least squares (``x`` is not assumed sparse, so no ℓ1
    "SparseLift"); ``inverse_subspace`` is an extension (see
    :mod:`sparserec.selfcal.models`); the default ``w = e_1`` is our choice (the paper's
    analysis holds for any admissible ``w``).

    References
    ----------
    S. Ling and T. Strohmer, "Self-calibration and bilinear inverse problems via linear
    least squares", SIAM J. Imaging Sci. 11(1):252-292, 2018. arXiv:1611.04196.

    S. Ling and T. Strohmer, "Self-calibration and biconvex compressive sensing", Inverse
    Problems 31(11):115002, 2015. arXiv:1501.06864 (the subspace model).

    Examples
    --------
    >>> from sparserec import SelfCalibration
    >>> from sparserec.datasets import make_selfcal_problem
    >>> from sparserec.metrics import relative_error_up_to_scale
    >>> prob = make_selfcal_problem("repeated", m=64, n=16, p=4, random_state=0)
    >>> est = SelfCalibration(model="repeated").fit(prob.A, prob.y)
    >>> relative_error_up_to_scale(prob.calibration, est.calibration_) < 1e-8
    True
    >>> relative_error_up_to_scale(prob.signal, est.signal_) < 1e-8
    True
    """

    _parameter_constraints = {
        **COMMON_PARAMETER_CONSTRAINTS,
        "model": [StrOptions(set(MODELS))],
        "method": [StrOptions(set(_SOLVERS))],
        "w": ["array-like", None],
        "c": [numbers.Number],
        "solver": [StrOptions(set().union(*_SOLVERS.values()))],
        "refine_iter": [Interval(numbers.Integral, 0, None, closed="left")],
    }

    def __init__(self, model: str = "repeated", method: str = "lsq", w=None, c=1.0,
                 solver: str = "auto", max_iter: int = 1000, tol: float = 1e-10,
                 refine_iter: int = 100, backend: str = "auto", random_state=None,
                 verbose: int = 0):
        self.model = model
        self.method = method
        self.w = w
        self.c = c
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.refine_iter = refine_iter
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ input
    def _validate_arrays(self, A, y, B):
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target "
                             "y is None")
        A = _numeric(A, "A", ndim=(2, 3))
        y = _numeric(y, "y", ndim=(1, 2))
        if y.ndim == 2 and y.shape[1] == 1 and y.shape[0] == A.shape[-2] != 1:
            warnings.warn("A column-vector y was passed when a 1d array was expected: y of "
                          "shape (m, 1) is read as one snapshot of shape (m,). Several "
                          "snapshots go in the rows of y, shape (p, m).",
                          DataConversionWarning, stacklevel=external_stacklevel())
            y = y[:, 0]
        arrays = [A, y] + ([] if B is None else [_numeric(B, "B", ndim=2)])
        dtype = np.result_type(*(a.dtype for a in arrays), np.float64)
        arrays = [to_device(a, self.backend_, dtype=dtype) for a in arrays]
        A, y = arrays[:2]
        B = arrays[2] if B is not None else None
        self._single_snapshot = y.ndim == 1
        if y.ndim == 1:
            y = y[None, :]
        return A, y, B

    def _constraint(self, model, active, n_sensors, units):
        """The constraint row on the unknowns of the reduced, normalised model, and ``c``.

        ``w* z = c`` on ``z = (u_h h̃, u_x x̃)`` (the data's units) is ``w̃* z̃ = c`` with
        ``w̃ = (u_h w_h, u_x w_x)``."""
        c = self.c
        if not isinstance(c, numbers.Number) or isinstance(c, bool) or not np.isfinite(c) \
                or c == 0:
            raise ValueError(f"c must be a finite nonzero number, got {c!r}")
        xp = array_namespace(model.A, model.y)
        if self.w is None:
            w = xp.zeros(model.n_unknowns, dtype=model.dtype)
            w[0] = units[0]
            return w, c
        with_b = model.name in ("subspace", "inverse_subspace")
        n_cal = model.n_calibration if with_b else n_sensors
        n_full = n_cal + model.n_unknowns - model.n_calibration
        w = check_finite_array(self.w, "w", ndim=1, allow_complex=True)
        if w.shape[0] != n_full:
            raise ValueError(f"w must have length {n_full} (the unknowns z = (s, x) of "
                             f"model={model.name!r}, s first), got length {w.shape[0]}")
        w = to_device(w, self.backend_, dtype=np.result_type(w.dtype, model.dtype))
        if not with_b:
            w = xp.concatenate([w[:n_cal][to_device(active, self.backend_)], w[n_cal:]])
        n_h = model.n_calibration
        w = xp.concatenate([w[:n_h] * units[0], w[n_h:] * units[1]])
        if model.name == "subspace" and bool(xp.any(w[n_h:] != 0)):
            raise ValueError("w must be 0 on the signal entries for model='subspace': its "
                             "ambiguity is (α h, x / α), so w* z = c can only fix the scale "
                             "through h")
        if not bool(xp.any(w != 0)):
            raise ValueError("w must have a nonzero entry (on a sensor that measured "
                             "something): w* z = c with w = 0 cannot exclude z = 0")
        return w, c

    # ------------------------------------------------------------------ fit
    def fit(self, A, y, B=None):
        """Estimate the calibration and the signal(s).

        Parameters
        ----------
        A : array of shape (p, m, n), or (m, n) for "snapshots" and the subspace models
            The known sensing matrices (real or complex).
        y : array of shape (p, m), or (m,) for one snapshot
            The measurements, one snapshot per row.
        B : array of shape (m, k), optional
            The subspace of ``d`` (``model="subspace"``) or ``d⁻¹``
            (``model="inverse_subspace"``).

        Returns
        -------
        self
        """
        self._validate_params()
        check_option(self.solver, f"solver (with method={self.method!r})",
                     _SOLVERS[self.method])
        self._check_common_params(A, y)
        random_state = check_random_state(self.random_state)
        on_gpu = is_cupy_array(A) or is_cupy_array(y)
        A, y, B = self._validate_arrays(A, y, B)
        # solve in units where A, y (and B) have unit RMS; z = (h, x) in the data's units
        # is (h̃ / b, x̃ · y_scale / a): equivariant at any scale, no overflow or underflow
        scales = [rms(a) or 1.0 for a in (A, y, B) if a is not None]
        A, y = A / scales[0], y / scales[1]
        B = B / scales[2] if B is not None else None
        units = (1.0 / scales[2] if B is not None else 1.0, scales[1] / scales[0])
        xp = array_namespace(A, y)
        n_sensors = int(y.shape[1])

        active = np.ones(n_sensors, dtype=bool)
        if self.model not in ("subspace", "inverse_subspace"):
            active = to_host(xp.any(y != 0, axis=0))
            if not active.any():
                raise ValueError("y is 0 everywhere: there is nothing to calibrate")
            if not active.all():
                dead = np.flatnonzero(~active)
                warnings.warn(
                    f"y is exactly 0 in every snapshot at sensor(s) {dead.tolist()[:10]}"
                    f"{' ...' if dead.size > 10 else ''}: consistent with d_i = 0, where "
                    "s_i = 1/d_i is undefined. These sensors are left out of the system and "
                    "get calibration_ = 0, inverse_calibration_ = inf.", UserWarning,
                    stacklevel=external_stacklevel())
                sel = to_device(active, self.backend_)
                A, y = A[..., sel, :], y[:, sel]
        model = make_model(self.model, A, y, B)
        self._check_columns(model)
        if not model.counting_condition():
            rows, cols = model.shape
            warnings.warn(
                f"model={self.model!r} with p={model.n_snapshots}, m={model.n_sensors}, "
                f"n={model.n_features} is not identifiable: A_0 has {rows} rows for {cols} "
                f"unknowns defined up to scale, so its null space has dimension "
                f"≥ {cols - rows}. Identifiability needs {model.counting_rule}; Ling & "
                "Strohmer's guarantees (Gaussian A) ask for m p above the number of "
                "unknowns by a poly-log factor.", UserWarning, stacklevel=2)
        w, c = self._constraint(model, active, n_sensors, units)

        solver = self.solver
        if self.model == "subspace":  # lifting (Ling & Strohmer 2015)
            solver = "dense"
            h, x, sv = model.lifted_start(self.method)
            sol = LinearSolution(model.join(h, x), 1, True, [], singular_values=sv)
            self.singular_values_ = to_host(sv[::-1])
        else:
            if solver == "auto":
                small = model.shape[0] * model.shape[1] <= _SMALL_DENSE
                solver = "lsqr" if self.method == "lsq" else ("dense" if small else "lobpcg")
            if self.method == "lsq":
                sol = solve_lsq(model, w, c, solver=solver, max_iter=self.max_iter,
                                tol=self.tol, verbose=self.verbose)
            else:
                sol = solve_spectral(model, solver=solver, max_iter=self.max_iter,
                                     tol=self.tol, random_state=random_state,
                                     verbose=self.verbose)
                self.singular_values_ = to_host(sol.singular_values)
            if sol.ill_conditioned:
                warnings.warn("the augmented system [A_0; w*] is numerically rank deficient: "
                              "the null space of A_0 is probably not one-dimensional (too "
                              "few snapshots or a degenerate A), and the solution is not "
                              "unique.", UserWarning, stacklevel=2)
        z, refined = self._refine(model, sol.z, xp)
        if model.name == "subspace":  # the ambiguity is (α h, x / α): w acts on h
            n_h = model.n_calibration
            h, x = z[:n_h], z[n_h:]
            h_fixed = self._normalise(h, w[:n_h], c, xp)
            z = model.join(h_fixed, x * (xp.vdot(h_fixed, h) / xp.vdot(h_fixed, h_fixed)))
        else:
            z = self._normalise(z, w, c, xp)
        self._set_fitted(model, z, active, xp, on_gpu, units)
        for value in sol.history:
            self._record(value)
        self._set_convergence(sol.n_iter, sol.converged)
        if sol.converged and not refined:
            warnings.warn(f"the refinement did not converge in "
                          f"refine_iter={self.refine_iter} iterations; the last iterate is "
                          "returned. Increase refine_iter.", ConvergenceWarning, stacklevel=2)
            self.converged_ = False
        if self.verbose:
            print(f"SelfCalibration(model={self.model!r}, method={self.method!r}, "
                  f"solver={solver!r}): {self.n_iter_} iteration(s), "
                  f"residual {self.residual_:.3e}")
        return self

    def _refine(self, model, z, xp):
        """Refine ``z`` on ``Σ_l ‖y_l − diag(d) A_l x_l‖²``: alternating least-squares
        sweeps, then Gauss–Newton steps where the fit is exact to ``sqrt(eps)`` (see
        :mod:`sparserec.selfcal.refine`). Returns the refined ``z`` and whether the
        refinement converged; a start with an infinite or zero gain is returned as it is."""
        self.refinement_history_ = []
        if (self.refine_iter == 0 or model.name == "inverse_subspace"
                or not model.counting_condition()):  # not identifiable: nothing to refine
            return z, True
        h, x = model.split(z)
        if model.name == "subspace":
            d = model.B @ h
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                d = 1 / h  # the unknowns of the bilinear objective: d = 1/s
        if not bool(xp.all(xp.isfinite(d))) or not bool(xp.all(d != 0)):
            return z, True
        try:
            d, x, h_sub, history, converged = bilinear_sweeps(
                model, d, max_sweeps=self.refine_iter, rtol=REFINE_RTOL, on_step=True)
        except np.linalg.LinAlgError:
            warnings.warn("the refinement met a singular signal step (a degenerate A or "
                          "calibration); the unrefined solution is returned", UserWarning,
                          stacklevel=3)
            return z, True
        h = h_sub if model.name == "subspace" else d
        if history and history[-1] <= REFINE_RTOL:
            # (nearly) exact data: Gauss-Newton converges quadratically where ALS crawls
            d, x, h, steps, converged = gauss_newton(
                model, h, x, max_steps=self.refine_iter, rtol=REFINE_RTOL, tol=self.tol)
            history = history + steps
        self.refinement_history_ = history
        if model.name == "subspace":
            return model.join(h, x), converged
        if not bool(xp.all(d != 0)):
            return z, True
        return model.join(1 / d, x), converged

    @staticmethod
    def _check_columns(model):
        norms = to_host(model.column_norms())
        zero = np.flatnonzero(norms == 0)
        if zero.size == 0:
            return
        n_cal = model.n_calibration
        if zero[0] < n_cal:
            raise ValueError(f"the calibration unknown(s) {zero[zero < n_cal].tolist()[:10]} "
                             "are not determined: y vanishes on the support of those "
                             "columns of B (model='subspace')")
        cols = sorted({int(j) % model.n_features for j in zero - n_cal})
        raise ValueError(f"A has all-zero column(s) {cols[:10]}: the matching signal "
                         "entries are not determined by the measurements")

    @staticmethod
    def _normalise(z, w, c, xp):
        """Rescale the null-vector estimate so that ``w* z = c``."""
        wz = xp.vdot(w, z)
        if abs(complex(wz)) <= 1e-12 * float(xp.linalg.norm(w) * xp.linalg.norm(z)):
            warnings.warn("w* z ≈ 0 for the estimated z: w is orthogonal to the solution, "
                          "so w* z = c cannot fix its scale; z is returned with unit norm. "
                          "Choose another w.", UserWarning, stacklevel=external_stacklevel())
            return z / xp.linalg.norm(z)
        return z * (c / wz)

    def _set_fitted(self, model, z, active, xp, on_gpu, units):
        h, x = model.split(z)
        s_active = model.inverse_calibration(h)
        if bool(xp.any(s_active == 0)):
            warnings.warn("the estimated s = 1/d has exact zeros: the calibration is "
                          "infinite there (calibration_ = inf).", UserWarning,
                          stacklevel=external_stacklevel())
        with np.errstate(divide="ignore"):
            d_active = 1 / s_active
        s = xp.full(active.shape[0], xp.inf, dtype=s_active.dtype)
        d = xp.zeros(active.shape[0], dtype=s_active.dtype)
        sel = to_device(active, self.backend_)
        s[sel], d[sel] = s_active, d_active
        with np.errstate(invalid="ignore"):  # inf * 0 where s = 0 (warned above)
            fitted = d_active * model.apply_signal(model.A, x)
        misfit = float(xp.linalg.norm(model.y - fitted) / xp.linalg.norm(model.y))
        if not np.isfinite(misfit):  # an infinite calibration fits nothing: no NaN residual
            misfit = float("inf")
        keep = (lambda a: a) if on_gpu else to_host
        self.calibration_ = keep(d)
        self.inverse_calibration_ = keep(s)
        self.signal_ = keep(x * units[1])
        if model.name in ("subspace", "inverse_subspace"):
            self.subspace_coef_ = keep(h * units[0])
        self.residual_ = misfit
        self.n_features_in_ = model.n_features

    # ------------------------------------------------------------------ predict
    def predict(self, A):
        """The calibrated measurements ``diag(d) A_l x_l``.

        Parameters
        ----------
        A : array
            Sensing matrices on the fitted sensors: ``(p', m, n)`` or one ``(m, n)``
            matrix for ``repeated``; ``(p, m, n)`` for ``diverse``; ``(m, n)`` for
            ``snapshots`` and the subspace models.

        Returns
        -------
        y : ndarray of shape (p, m), or (m,)
            One row per snapshot; 1-D for one ``(m, n)`` matrix under ``repeated``, or when
            :meth:`fit` received a 1-D ``y``.
        """
        check_is_fitted(self, "calibration_")
        if getattr(A, "ndim", 2) == 1:
            raise ValueError("A must be 2-D (m, n) or 3-D (p, m, n), got a 1-D array. "
                             "Reshape your data (one matrix per snapshot).")
        A = _numeric(A, "A", ndim=(2, 3))
        xp = array_namespace(A, self.calibration_)
        m, n = A.shape[-2:]
        if n != self.n_features_in_:
            raise ValueError(f"A: X has {n} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input")
        if m != self.calibration_.shape[0]:
            raise ValueError(f"A has {m} rows but the calibration was fitted on "
                             f"{self.calibration_.shape[0]} sensors; predict needs the same "
                             "sensors in the same order")
        cls = MODELS[self.model]
        if self.model == "repeated" and A.ndim == 2:
            return self.calibration_ * (A @ self.signal_)
        if A.ndim != cls.a_ndim:
            raise ValueError(f"A must be {cls.a_ndim}-dimensional for model={self.model!r}, "
                             f"got shape {A.shape}")
        if self.model == "diverse" and A.shape[0] != self.signal_.shape[0]:
            raise ValueError(f"A holds {A.shape[0]} matrices but {self.signal_.shape[0]} "
                             "signals were fitted (model='diverse' pairs A[l] with x_l)")
        out = self.calibration_ * cls.apply_signal(xp.asarray(A), self.signal_)
        return out[0] if self._single_snapshot and out.shape[0] == 1 else out

    def score(self, A, y):
        """Coefficient of determination ``1 − ‖y − ŷ‖² / ‖y − ȳ‖²`` over all entries.

        Equal to :func:`sklearn.metrics.r2_score` for one real snapshot; defined the same
        way (``|·|²``) for complex data and several snapshots.
        """
        xp = array_namespace(y)
        pred = self.predict(A)
        y = xp.asarray(y).reshape(pred.shape)
        total = float((xp.abs(y - y.mean()) ** 2).sum())
        error = float((xp.abs(y - pred) ** 2).sum())
        if total == 0:
            return 1.0 if error == 0 else 0.0
        return 1.0 - error / total
