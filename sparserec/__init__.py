"""sparserec: classical sparse recovery and imaging, six published solvers, one API.

Every solver is a scikit-learn estimator; see :func:`all_estimators`. Heavy
dependencies (scikit-learn, numba, CuPy, astropy, dask, matplotlib) are imported only
when the names that need them are first used.

Examples
--------
>>> import sparserec
>>> isinstance(sparserec.all_estimators(), list)
True
"""

from __future__ import annotations

import importlib

from ._config import config_context, get_config, set_config
from ._version import __version__
from .backend import BackendUnavailableError

# public estimator name -> module defining it (DESIGN.md, "One estimator API")
_ESTIMATORS = {
    "KroneckerSBL": "sparserec.sbl.kronecker",
    "SparseBayesianLearning": "sparserec.sbl.classic",
    "BCDRegressor": "sparserec.bcd.estimators",
    "BCDClassifier": "sparserec.bcd.estimators",
    "BCDLabelPropagation": "sparserec.bcd.estimators",
    "BCDRegressorCV": "sparserec.bcd.cv",
    "BCDClassifierCV": "sparserec.bcd.cv",
    "OnlineOrthogonalDictionary": "sparserec.dictionary.online_orthogonal",
    "SparseWHT": "sparserec.wht.spright",
    "SelfCalibration": "sparserec.selfcal.estimators",
    "WaveletDeconvolution": "sparserec.deconv.estimators",
    "JointWaveletDeconvolution": "sparserec.deconv.estimators",
}
# public function name -> module defining it
_FUNCTIONS = {"bcd_path": "sparserec.bcd.path"}
_SUBMODULES = ("backend", "base", "datasets", "metrics", "operators", "io", "plotting",
               "imaging", "distributed", "sbl", "bcd", "dictionary", "wht", "selfcal", "deconv",
               "demos", "utils")

__all__ = [
    "__version__",
    "BackendUnavailableError",
    "all_estimators",
    "config_context",
    "get_config",
    "set_config",
    *_ESTIMATORS,
    *_FUNCTIONS,
]


def all_estimators() -> list[tuple[str, type]]:
    """Every public sparserec estimator as ``(name, class)``, sorted by name.

    Examples
    --------
    >>> from sparserec import all_estimators
    >>> all(isinstance(cls, type) for _, cls in all_estimators())
    True
    """
    return sorted((name, __getattr__(name)) for name in _ESTIMATORS)


def __getattr__(name: str):
    if name in _ESTIMATORS:
        return getattr(importlib.import_module(_ESTIMATORS[name]), name)
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(_FUNCTIONS[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'sparserec' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))
