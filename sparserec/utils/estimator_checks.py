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
    # a short path and 3 folds keep the battery fast; a tight tol lets the weighted and
    # repeated-rows fits agree to the check's 1e-7 (its alpha_ is nearly OLS: ~1500 epochs)
    "BCDRegressorCV": {"alphas": 5, "cv": 3, "tol": 1e-10, "max_iter": 10_000},
    "BCDClassifierCV": {"Cs": 3, "cv": 3},
    # fit(X) deconvolves X as one image (rows x columns); a 3x1 PSF fits the checks'
    # two-column data
    "WaveletDeconvolution": {"psf": [[0.25], [0.5], [0.25]], "n_scales": 2, "max_iter": 5},
    "JointWaveletDeconvolution": {"psfs": [[[0.25], [0.5], [0.25]]], "n_scales": 2,
                                  "max_iter": 5},
}

# the deconvolution estimators fit one image: its rows and columns are pixels, not samples
# and features, so row subsets/permutations do not commute with the fit, and transform
# deconvolves images of any size with the fitted PSF and noise level
_DECONVOLUTION_FAILS = {
    "check_methods_subset_invariance": "X is one image: deconvolving a subset of its rows "
                                       "is not a subset of the deconvolved rows (the PSF "
                                       "couples neighbouring rows)",
    "check_methods_sample_order_invariance": "X is one image: permuting its rows changes the "
                                             "image, and the deconvolution with it",
    "check_n_features_in_after_fitting": "transform deconvolves images of any width with the "
                                         "fitted PSF and noise level; the width of the "
                                         "fitted image is not a feature count",
    "check_transformer_general": "it asserts that transform refuses an image of another "
                                 "width (see check_n_features_in_after_fitting); "
                                 "fit_transform == fit().transform() is tested in "
                                 "tests/test_deconv.py",
}

# estimator name -> {check function name: reason it cannot apply}
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    "WaveletDeconvolution": _DECONVOLUTION_FAILS,
    "JointWaveletDeconvolution": _DECONVOLUTION_FAILS,
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
    # SparseWHT.fit reads one signal, a 1-D array of length 2**n or a callable on indices
    # (refused otherwise with a ValueError/TypeError), so every check that fits generated
    # tabular (n_samples, n_features) data or expects tabular error messages cannot apply.
    # The API checks (clone, params, repr, tags, unfitted predict, sparse input) pass.
    "SparseWHT": dict.fromkeys(
        ("check_complex_data", "check_dict_unchanged", "check_dont_overwrite_parameters",
         "check_dtype_object", "check_estimators_dtypes", "check_estimators_empty_data_messages",
         "check_estimators_fit_returns_self", "check_estimators_nan_inf",
         "check_estimators_overwrite_params", "check_estimators_pickle",
         "check_f_contiguous_array_estimator", "check_fit2d_1feature", "check_fit2d_1sample",
         "check_fit2d_predict1d", "check_fit_check_is_fitted", "check_fit_idempotent",
         "check_fit_score_takes_y", "check_methods_sample_order_invariance",
         "check_methods_subset_invariance", "check_n_features_in",
         "check_n_features_in_after_fitting", "check_pipeline_consistency",
         "check_positive_only_tag_during_fit", "check_readonly_memmap_input"),
        "fit takes one signal of length 2**n (1-D array) or a callable on indices, not a "
        "tabular X of shape (n_samples, n_features); SPRIGHT chooses which samples it reads"),
}


def check_instance(name: str, cls):
    """An instance of ``cls`` set up for the check battery."""
    return cls(**CHECK_PARAMS.get(name, {}))
