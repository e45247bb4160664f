"""Parameter validation generated from each estimator's ``_parameter_constraints`` table.

scikit-learn's ``check_param_validation`` builds, for every constructor parameter, a value
of a wrong type and values outside each constraint, and checks that ``fit`` (and
``partial_fit`` where present) raises ``InvalidParameterError`` with scikit-learn's message
naming the parameter. It also checks that the table covers exactly the constructor's
parameters.
"""

import pytest
from sklearn.utils.estimator_checks import check_param_validation

import sparserec
from sparserec.utils.estimator_checks import check_instance

ESTIMATORS = sparserec.all_estimators()
WITH_TABLE = [(n, c) for n, c in ESTIMATORS if hasattr(c, "_parameter_constraints")]


def test_every_estimator_has_a_table():
    missing = [n for n, c in ESTIMATORS if not hasattr(c, "_parameter_constraints")]
    if missing:
        pytest.xfail(f"no _parameter_constraints table yet: {missing}")


@pytest.mark.parametrize("name, cls", WITH_TABLE, ids=[n for n, _ in WITH_TABLE])
def test_param_validation(name, cls):
    check_param_validation(name, check_instance(name, cls))
