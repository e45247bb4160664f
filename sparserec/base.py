"""What every sparserec estimator shares: parameter checks, backend choice, convergence record.

Estimators inherit from :class:`SparseEstimatorMixin` and from scikit-learn's
:class:`~sklearn.base.BaseEstimator` (plus ``RegressorMixin``/``TransformerMixin`` as fits).
The shared constructor parameters have the same names everywhere: ``max_iter``, ``tol``,
``backend``, ``random_state``, ``verbose``; the shared fitted attributes are ``n_iter_``,
``converged_`` and ``history_`` (one float per iteration: an objective or a residual).
"""

from __future__ import annotations

import inspect
import numbers
import os
import re
import sys
import warnings
from collections.abc import Iterable, Iterator

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_scalar, get_tags
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import validate_data as _sklearn_validate_data

from .backend import BACKENDS, array_namespace, is_cupy_array, resolve_backend
from .utils.threads import thread_limited

__all__ = [
    "COMMON_PARAMETER_CONSTRAINTS",
    "ConvergenceWarning",
    "SparseEstimatorMixin",
    "check_option",
    "check_finite_array",
    "pow2_scale",
    "external_stacklevel",
    "progress",
    "rms",
    "validate_data",
    "validate_xy",
]


def pow2_scale(x) -> float:
    """The power of two nearest to ``max |x|`` (1 for an all-zero, empty or non-finite ``x``).

    Dividing data by a power of two is exact (no rounding), so an estimator that works on
    ``x / pow2_scale(x)`` solves the same problem in the same floating-point numbers at
    every scale of its data: its results are equivariant to the scale, and squares or
    fourth powers of the data neither underflow nor overflow. ``x`` may be a NumPy or
    CuPy array or a scipy.sparse matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.base import pow2_scale
    >>> pow2_scale(np.array([3.0, -1e-90])), pow2_scale(np.zeros(3))
    (4.0, 1.0)
    """
    values = x.data if hasattr(x, "tocsr") else x  # the stored values of a sparse matrix
    if values.size == 0:
        return 1.0
    top = max(float(values.max()), -float(values.min()))
    if not np.isfinite(top) or top == 0.0:
        return 1.0
    return float(np.ldexp(1.0, int(np.round(np.log2(top)))))


def check_option(value, name: str, options) -> str:
    """Check that a string parameter is one of ``options``.

    Raises
    ------
    ValueError
        Naming the parameter, the allowed values and the value received.

    Examples
    --------
    >>> from sparserec.base import check_option
    >>> check_option("svd", "variant", ("svd", "am"))
    'svd'
    """
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")
    return value


def check_finite_array(x, name: str, *, ndim=None, allow_complex: bool = False,
                       allow_nan: bool = False, min_size: int = 1,
                       dtype=(np.float64, np.float32)):
    """Validate an array of any dimension on the host or on the GPU.

    Floats stay in their precision (float32 or float64), integers become float64,
    complex input is kept when ``allow_complex`` (complex64/complex128).

    Parameters
    ----------
    x : array-like
        The input.
    name : str
        The parameter name used in error messages.
    ndim : int or tuple of int, optional
        Allowed number of dimensions.
    allow_complex : bool
        Accept complex values.
    allow_nan : bool
        Accept NaN (e.g. masked pixels), as long as one value is not NaN; infinities are
        refused in any case.
    min_size : int
        Smallest number of elements accepted.
    dtype : tuple of dtypes
        Real dtypes kept as they are; others are converted to the first.

    Raises
    ------
    TypeError
        For non-numeric or (when not allowed) complex input.
    ValueError
        For a wrong number of dimensions, too few elements, NaN or infinity.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.base import check_finite_array
    >>> check_finite_array([[1, 2], [3, 4]], "image", ndim=2).dtype
    dtype('float64')
    """
    xp = array_namespace(x)
    if xp is np:
        x = np.asarray(x)
        if x.dtype == object:  # e.g. a list mixing ints and floats
            try:
                x = x.astype(np.float64)
            except (TypeError, ValueError):
                pass
    if x.dtype == object or x.dtype.kind not in "biufc":
        raise TypeError(f"{name} must be a numeric array, got dtype {x.dtype}")
    if x.dtype.kind == "c":
        if not allow_complex:
            raise TypeError(f"{name} must be real-valued; complex input is not supported here")
        if x.dtype not in (np.complex64, np.complex128):
            x = x.astype(np.complex128)
    elif x.dtype not in dtype:
        x = x.astype(dtype[0])
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want = " or ".join(str(d) for d in allowed)
            raise ValueError(f"{name} must be {want}-dimensional, got shape {x.shape}")
    if x.size < min_size:
        raise ValueError(f"{name} must have at least {min_size} element(s), got shape {x.shape}")
    if not bool(xp.isfinite(x).all()):
        if not allow_nan:
            n_bad = int((~xp.isfinite(x)).sum())
            raise ValueError(f"{name} contains {n_bad} NaN or infinite value(s)")
        if n_inf := int(xp.isinf(x).sum()):
            raise ValueError(f"{name} contains {n_inf} infinite value(s)")
        if bool(xp.isnan(x).all()):
            raise ValueError(f"{name} has no finite value (all {x.size} are NaN)")
    return x


def rms(a) -> float:
    """``sqrt(mean |a|²)`` of an array (host or GPU), free of overflow and underflow at any
    scale (0 for an all-zero or empty array): the unit in which estimators normalise data.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.base import rms
    >>> round(rms(np.array([3e300, 4e300])) / 1e300, 6)
    3.535534
    """
    xp = array_namespace(a)
    if a.size == 0:
        return 0.0
    flat = a.reshape(-1)
    direct = float(xp.sqrt(xp.vdot(flat, flat).real / a.size))  # one pass, no temporary
    if np.isfinite(direct) and direct > 1e-150:  # no overflow, no loss to underflow
        return direct
    peak = float(xp.max(xp.abs(a)))
    if peak == 0.0:
        return 0.0
    return peak * float(np.sqrt(float(xp.mean(xp.abs(a / peak) ** 2))))


def validate_xy(estimator, X, y=None, *, allow_complex: bool = False, reset: bool = True,
                multi_output: bool = False, accept_sparse=False, **check_params):
    """scikit-learn's ``validate_data``, extended to complex and GPU (CuPy) arrays.

    Real host arrays go through :func:`sklearn.utils.validation.validate_data` unchanged,
    so errors read exactly as scikit-learn's. Complex input (when allowed) is checked on
    its real and imaginary parts; CuPy input is checked on the device and not copied.
    ``n_features_in_`` is set on ``reset`` in every case.
    """
    if reset and y is None and get_tags(estimator).target_tags.required:
        raise ValueError(f"{type(estimator).__name__} requires y to be passed, "
                         "but the target y is None.")
    on_gpu = is_cupy_array(X) or is_cupy_array(y)
    is_complex = allow_complex and not on_gpu and any(
        a is not None and not hasattr(a, "tocsr") and np.iscomplexobj(np.asarray(a))
        for a in (X, y)
    )
    if not (on_gpu or (allow_complex and is_complex)):
        if y is None:
            return validate_data(estimator, X, reset=reset, accept_sparse=accept_sparse,
                                 dtype=[np.float64, np.float32], **check_params)
        return validate_data(estimator, X, y, reset=reset, multi_output=multi_output,
                             accept_sparse=accept_sparse, y_numeric=True,
                             dtype=[np.float64, np.float32], **check_params)
    if hasattr(X, "tocsr"):
        raise TypeError("complex or GPU input must be a dense array, got a sparse matrix for X")
    X = check_finite_array(X, "X", ndim=2, allow_complex=allow_complex,
                           allow_nan=check_params.get("ensure_all_finite") == "allow-nan")
    if y is not None:
        y = check_finite_array(y, "y", ndim=(1, 2) if multi_output else 1,
                               allow_complex=allow_complex)
        if y.shape[0] != X.shape[0]:
            raise ValueError(
                f"X and y have inconsistent numbers of samples: {X.shape[0]} and {y.shape[0]}"
            )
    if not on_gpu:  # reuse scikit-learn's message for the feature-count check
        check_array(np.zeros((1, X.shape[1])), input_name="X")
    if reset:
        estimator.n_features_in_ = X.shape[1]
    elif X.shape[1] != getattr(estimator, "n_features_in_", X.shape[1]):
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(estimator).__name__} "
            f"is expecting {estimator.n_features_in_} features as input"
        )
    return X if y is None else (X, y)


def validate_data(estimator, X="no_validation", y="no_validation", **check_params):
    """:func:`sklearn.utils.validation.validate_data`, with errors that name the array.

    scikit-learn's input errors often do not say which argument they are about ("Found
    array with dim 3 ..."): a message that names neither ``X`` nor ``y`` gets the prefix
    ``"X: "``, ``"y: "`` or ``"X and y: "`` (``X`` alone is checked again to tell them
    apart). The exception type and the rest of the message are scikit-learn's.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from sparserec.base import validate_data
    >>> try:
    ...     validate_data(Ridge(), np.ones((3, 2)), np.ones((3, 2, 2)))
    ... except ValueError as exc:
    ...     print(str(exc).split(",")[0])
    y: Found array with dim 3
    """
    try:
        return _sklearn_validate_data(estimator, X, y, **check_params)
    except (ValueError, TypeError) as exc:
        message = str(exc)
        named = re.search(r"(?<![\w-])[Xy](?!\w)", message)
        if named or type(exc) not in (ValueError, TypeError):
            raise
        has_y = not (isinstance(y, str) and y == "no_validation") and y is not None
        if "inconsistent numbers of samples" in message:
            name = "X and y"
        elif not has_y:
            name = "X" if not (isinstance(X, str) and X == "no_validation") else "y"
        else:
            keys = inspect.signature(check_array).parameters
            try:
                check_array(X, **{k: v for k, v in check_params.items() if k in keys})
                name = "y"
            except (ValueError, TypeError):
                name = "X"
        raise type(exc)(f"{name}: {message}") from exc


def progress(iterable: Iterable, *, total: int | None = None, desc: str = "",
             enabled: bool = True) -> Iterator:
    """Wrap an iterable in a tqdm progress bar when ``enabled``."""
    if not enabled:
        return iter(iterable)
    from tqdm.auto import tqdm

    return iter(tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True))


#: scikit-learn parameter constraints of the shared parameters; an estimator's
#: ``_parameter_constraints`` table starts from the entries it has, e.g.
#: ``{**{k: COMMON_PARAMETER_CONSTRAINTS[k] for k in ("max_iter", "tol")}, "alpha": [...]}``.
COMMON_PARAMETER_CONSTRAINTS = {
    "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
    "tol": [Interval(numbers.Real, 0, None, closed="left")],
    "backend": [StrOptions(set(BACKENDS))],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def external_stacklevel() -> int:
    """The ``stacklevel`` of :func:`warnings.warn` that points at the first caller outside
    sparserec, counted from the function that calls this one.

    A fixed ``stacklevel`` breaks as soon as a call passes through one more sparserec
    frame (such as the :func:`~sparserec.utils.threads.thread_limits` wrapper of every
    estimator method).

    Examples
    --------
    >>> from sparserec.base import external_stacklevel
    >>> external_stacklevel()
    1
    """
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


#: Methods that run under :func:`sparserec.utils.threads.thread_limits` (the
#: ``n_threads`` setting) in every subclass of :class:`SparseEstimatorMixin`.
THREADED_METHODS = ("fit", "partial_fit", "predict", "predict_proba", "predict_log_proba",
                    "decision_function", "transform", "fit_transform", "inverse_transform",
                    "fit_predict", "score")


class SparseEstimatorMixin:
    """Shared plumbing for sparserec estimators.

    Every method named in :data:`THREADED_METHODS` that a subclass defines runs under
    :func:`~sparserec.utils.threads.thread_limits`, so that
    ``sparserec.set_config(n_threads=...)`` holds for every estimator without each
    family doing it (wrapped once, when the class is created; plain functions only,
    not descriptors such as scikit-learn's ``available_if``).

    Subclasses call, in ``fit``:

    1. :meth:`_check_common_params` — validates the parameters against the class's
       ``_parameter_constraints`` table (scikit-learn's machinery) when it has one, checks
       ``max_iter``, ``tol``, ``verbose`` (those the estimator has) and resolves ``backend``
       into ``self.backend_``;
    2. :meth:`_iterations` — ``range(max_iter)``, with a progress bar when ``verbose``;
    3. :meth:`_record` each iteration's objective into ``history_``;
    4. :meth:`_set_convergence` — sets ``n_iter_`` and ``converged_``, and warns with a
       :class:`~sklearn.exceptions.ConvergenceWarning` when ``max_iter`` ran out.
    """

    # the HTML repr (notebooks) links each estimator to its API page
    _doc_link_module = "sparserec"
    _doc_link_template = ("https://sparserec.readthedocs.io/en/stable/generated/"
                          "sparserec.{estimator_name}.html")

    def _doc_link_url_param_generator(self):
        return {"estimator_name": type(self).__name__}


    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in THREADED_METHODS:
            method = cls.__dict__.get(name)
            if inspect.isfunction(method):
                setattr(cls, name, thread_limited(method))

    def _check_common_params(self, *arrays) -> str:
        if hasattr(type(self), "_parameter_constraints"):
            self._validate_params()  # scikit-learn's InvalidParameterError messages
        if hasattr(self, "max_iter"):
            check_scalar(self.max_iter, "max_iter", numbers.Integral, min_val=1)
        if hasattr(self, "tol"):
            check_scalar(self.tol, "tol", numbers.Real, min_val=0)
            if not np.isfinite(self.tol):
                raise ValueError(f"tol must be finite, got {self.tol!r}")
        if hasattr(self, "verbose"):
            check_scalar(self.verbose, "verbose", (numbers.Integral, bool), min_val=0)
        self.backend_ = resolve_backend(getattr(self, "backend", "auto"), *arrays)
        self.history_ = []
        return self.backend_

    def _iterations(self, desc: str | None = None) -> Iterator[int]:
        return progress(range(self.max_iter), total=self.max_iter,
                        desc=desc or type(self).__name__,
                        enabled=bool(getattr(self, "verbose", 0)))

    def _record(self, value) -> None:
        self.history_.append(float(value))

    def _set_convergence(self, n_iter: int, converged: bool) -> None:
        self.n_iter_ = int(n_iter)
        self.converged_ = bool(converged)
        if not converged:
            warnings.warn(
                f"{type(self).__name__} did not converge in max_iter={self.max_iter} "
                f"iterations (tol={getattr(self, 'tol', None)}); the last iterate is returned. "
                "Increase max_iter or tol.",
                ConvergenceWarning,
                stacklevel=external_stacklevel(),
            )
