"""What scikit-learn's estimator check battery needs to know about sparserec estimators.

``tests/test_api.py`` runs :func:`sklearn.utils.estimator_checks.parametrize_with_checks`
over :func:`sparserec.all_estimators`, constructing each estimator with
``CHECK_PARAMS[name]`` (small problems, few iterations) and passing
``EXPECTED_FAILED_CHECKS[name]`` as ``expected_failed_checks``. Each entry gives the
reason the check cannot apply; keep this list short and honest.
"""

# estimator name -> constructor parameters used for the check battery
CHECK_PARAMS: dict[str, dict] = {
    # fit(X, y) with a 2-D X and 1-D y is one snapshot of the one-matrix model
    "SelfCalibration": {"model": "snapshots", "max_iter": 200},
    # a dense X without factor_shapes is a single Kronecker factor (classical SBL)
    "KroneckerSBL": {"max_iter": 50},
    "SparseBayesianLearning": {"max_iter": 50},
    # fit(X, y) with features: the k-NN affinity is built from X (no square W to pass)
    "BCDLabelPropagation": {"affinity": "knn", "n_neighbors": 3},
}

# estimator name -> {check function name: reason it cannot apply}
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    "KroneckerSBL": {
        "check_complex_data": "complex X and y are supported: IRS-MIMO channels and their "
                              "steering dictionaries are complex (He & Joseph 2024)",
    },
    "BCDLabelPropagation": {
        "check_classifiers_classes": "label -1 marks unlabelled nodes (the convention of "
                                     "sklearn.semi_supervised), so it is never a class",
        "check_non_transformer_estimators_n_iter": "with every node labelled (as in this "
                                                   "check) there is nothing to solve: n_iter_=0",
    },
    "SparseBayesianLearning": {
        "check_complex_data": "complex X and y are supported (complex SBL, the baseline of "
                              "KroneckerSBL on complex channels)",
    },
    "SelfCalibration": {
        "check_complex_data": "complex A and y are supported: Ling & Strohmer's models are "
                              "complex (Fourier-domain blind deconvolution, array phases)",
        "check_methods_subset_invariance": "the calibration d is attached to the sensor rows "
                                           "of A; predict needs all fitted sensors",
        "check_methods_sample_order_invariance": "the calibration d is attached to the sensor "
                                                 "rows of A; permuting rows permutes sensors",
        "check_fit_idempotent": "predicts on rows other than the fitted ones, but the "
                                "calibration is only defined on the fitted sensors",
    },
}


def check_instance(name: str, cls):
    """An instance of ``cls`` set up for the check battery."""
    return cls(**CHECK_PARAMS.get(name, {}))
