"""What scikit-learn's estimator check battery needs to know about sparserec estimators.

``tests/test_api.py`` runs :func:`sklearn.utils.estimator_checks.parametrize_with_checks`
over :func:`sparserec.all_estimators`, constructing each estimator with
``CHECK_PARAMS[name]`` (small problems, few iterations) and passing
``EXPECTED_FAILED_CHECKS[name]`` as ``expected_failed_checks``. Each entry gives the
reason the check cannot apply; keep this list short and honest.
"""

# estimator name -> constructor parameters used for the check battery
CHECK_PARAMS: dict[str, dict] = {}

# estimator name -> {check function name: reason it cannot apply}
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {}


def check_instance(name: str, cls):
    """An instance of ``cls`` set up for the check battery."""
    return cls(**CHECK_PARAMS.get(name, {}))
