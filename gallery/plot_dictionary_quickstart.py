"""
Orthogonal dictionary learning from a stream: quick start
=========================================================

Signals ``x = D₀ a`` built from a few atoms of an unknown orthogonal dictionary ``D₀``
(sparse Bernoulli–Gaussian codes ``a``) arrive one mini-batch at a time.
:class:`sparserec.OnlineOrthogonalDictionary` learns ``D₀`` (up to the order and sign of
its atoms) by maximising the ℓ⁴ norm of the codes with Frank–Wolfe steps on a running
gradient estimate (Xue & Lau, arXiv:2103.01484): no sample is kept, the memory is a few
``n × n`` matrices however long the stream.
"""

# %%
# A planted dictionary and a stream of samples
# --------------------------------------------
# Samples are rows (scikit-learn's convention): ``X = codes @ D₀ᵀ``. Each code entry is
# nonzero with probability θ = 0.3.
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from sparserec import OnlineOrthogonalDictionary
from sparserec.datasets import make_dictionary_data
from sparserec.demos.dictionary_comparison import align_atoms
from sparserec.metrics import dictionary_recovery
from sparserec.plotting import plot_convergence, plot_image_panels, plot_stems

# The products are small (batches of 32 samples): one BLAS thread is the fastest, and
# avoids the thread contention that slows small BLAS calls many times on a busy machine.
threadpool_limits(1)

n = 16
data = make_dictionary_data(n, 20_000, theta=0.3, random_state=0)
print(f"stream: {data.X.shape[0]} samples of dimension {n}")

# %%
# Learning batch by batch
# -----------------------
# ``partial_fit`` takes one mini-batch per call (here 32 samples, as the default
# ``batch_size`` of ``fit``). ``components_`` has the atoms as rows and is orthonormal to
# machine precision at every moment (it is the polar factor of the Frank–Wolfe iterate).
est = OnlineOrthogonalDictionary(random_state=0)
objective, seen, recovery = [], [], []
for start in range(0, data.X.shape[0], 32):
    est.partial_fit(data.X[start:start + 32])
    objective.append(est.history_[-1])
    if est.n_steps_ % 25 == 0:
        seen.append(est.n_samples_seen_)
        recovery.append(dictionary_recovery(est.components_.T, data.dictionary))
print(f"after {est.n_samples_seen_} samples ({est.n_steps_} steps): recovery "
      f"{recovery[-1]:.4f}, orthogonality error {est.orthogonality_error_:.1e}, "
      f"Frank-Wolfe gap {est.frank_wolfe_gap_:.1e}")

# ``fit`` on the same rows, in order, is the same computation. (One pass, as a stream:
# ``fit`` warns because the Frank-Wolfe gap has not yet reached ``tol`` — more passes,
# or more data, would get it there.)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    same = OnlineOrthogonalDictionary(max_iter=1, random_state=0).fit(data.X)
print("fit == partial_fit over the batches:",
      np.array_equal(same.components_, est.components_))

# %%
# The online objective ``mean ‖W x‖₄⁴`` of each incoming batch (before it is used)
# rises as the dictionary aligns with ``D₀``; the recovery ``‖D̂ᵀD₀‖₄⁴ / n`` tends to 1.
fig = plot_convergence({"online l4 objective per batch": objective},
                       ylabel="mean ||W x||_4^4 (incoming batch)")

# %%
# The learned atoms against the true ones
# ---------------------------------------
# A dictionary is only defined up to a signed permutation of its atoms; after matching
# them to ``D₀``, the Gram matrix ``D̂ᵀD₀`` is the identity.
aligned, perm, signs = align_atoms(est.components_, data.dictionary.T)
fig = plot_image_panels({"learned atoms (rows, matched)": aligned,
                         "true atoms (rows of D0^T)": data.dictionary.T,
                         "|matched D^T D0|": np.abs(aligned @ data.dictionary)},
                        cmap="RdBu_r", ncols=3)

# %%
# Sparse codes
# ------------
# ``transform`` projects on the atoms and thresholds: hard thresholding at
# ``transform_alpha``, or the ``transform_n_nonzero_coefs`` largest entries per sample.
# Because the atoms are orthonormal both are exact sparse approximations.
est.set_params(transform_algorithm="hard_threshold", transform_alpha=0.1)
codes = est.transform(data.X[:200])[:, perm] * signs  # in the order of the true atoms
i = int(np.argmax((data.codes[:200] != 0).sum(axis=1) == 5))  # a sample with 5 atoms
fig = plot_stems(data.codes[i], codes[i], title=f"codes of sample {i}",
                 labels=("true code", "transform (hard threshold 0.1)"))
err = np.linalg.norm(est.inverse_transform(est.transform(data.X)) - data.X) / \
    np.linalg.norm(data.X)
support = np.mean((est.transform(data.X)[:, perm] != 0) == (data.codes != 0))
print(f"relative reconstruction error {err:.3f}, support agreement {support:.3f}")
