"""The bilinear self-calibration models of Ling & Strohmer, written as linear systems.

Every model observes ``y_l = diag(d) A_l x_l + ε_l`` for ``l = 1..p`` (one snapshot per
row of ``y``). With ``s = d⁻¹`` (entrywise, every ``d_i ≠ 0``) each snapshot gives the
equations ``diag(y_l) s − A_l x_l = 0``, which are *linear* in ``z = (s, x)``. Stacking
the ``p`` snapshots gives ``A_0 z = 0``, a homogeneous system whose null space is spanned
by the true ``z_0`` when the problem is identifiable.

=============  ================================  ======================  ===============
model          measurements                      unknowns ``z``          size of ``z``
=============  ================================  ======================  ===============
repeated       ``y_l = D A_l x``   (``p`` A_l)   ``(s, x)``              ``m + n``
diverse        ``y_l = D A_l x_l`` (``p`` A_l)   ``(s, x_1..x_p)``       ``m + p n``
snapshots      ``y_l = D A x_l``   (one A)       ``(s, x_1..x_p)``       ``m + p n``
inv._subspace  ``y = D A x``, ``s = B h``        ``(h, x)``              ``k + n``
subspace       ``y = D A x``, ``d = B h``        ``(h, x)``              ``k + n``
=============  ================================  ======================  ===============

``repeated``, ``diverse`` and ``snapshots`` are models 1-3 of Ling & Strohmer (2018).
``subspace`` is the model of Ling & Strohmer (2015): the calibration lies in a known
``m × k`` subspace, ``d = B h``; it is bilinear in ``(h, x)`` and solved by lifting
(:class:`Subspace`). ``inverse_subspace`` is an *extension beyond both papers*: the
inverse calibration in the subspace, ``s = B h``, which keeps the linear trick.

Each model turns its arrays into a matrix-free :class:`~scipy.sparse.linalg.LinearOperator`
for ``A_0``: a product costs one pass over the sensing matrices plus ``O(p m)`` for the
diagonal blocks, and the stacked matrix is only formed by :meth:`SelfCalModel.todense`
(size-checked against ``sparserec.get_config()["max_dense_bytes"]``). The products use
only array-API operations of the arrays' own module, so they run unchanged on CuPy arrays.

References
----------
S. Ling and T. Strohmer, "Self-calibration and bilinear inverse problems via linear least
squares", SIAM J. Imaging Sci. 11(1), 2018. arXiv:1611.04196.

S. Ling and T. Strohmer, "Self-calibration and biconvex compressive sensing", Inverse
Problems 31(11), 2015. arXiv:1501.06864.

Examples
--------
>>> import numpy as np
>>> from sparserec.datasets import make_selfcal_problem
>>> from sparserec.selfcal.models import Repeated
>>> prob = make_selfcal_problem("repeated", m=16, n=4, p=3, random_state=0)
>>> model = Repeated(prob.A, prob.y)
>>> model.shape
(48, 20)
>>> z0 = model.join(1 / prob.calibration, prob.signal)
>>> bool(np.linalg.norm(model.operator() @ z0) < 1e-12)
True
"""

from __future__ import annotations

import math

import numpy as np

from .._config import check_dense_size
from ..backend import array_namespace, scipy_namespace

__all__ = ["SelfCalModel", "Repeated", "Diverse", "Snapshots", "InverseSubspace", "Subspace",
           "MODELS", "make_model"]


def _abs2_sum(subscripts: str, a):
    """``Σ |a|²`` over the axes that ``subscripts`` drops, without a temporary array."""
    xp = array_namespace(a)
    if xp.iscomplexobj(a):
        return (xp.einsum(subscripts, a.real, a.real)
                + xp.einsum(subscripts, a.imag, a.imag))
    return xp.einsum(subscripts, a, a)


class SelfCalModel:
    """Common machinery: ``A_0 z = stack_l [diag(y_l) C h − (signal map)(x)]``.

    ``C`` is the identity (``h = s``) except for :class:`Subspace` (``C = B``). Subclasses
    define how the signal unknowns enter (:meth:`apply_signal`, :meth:`adjoint_signal`)
    and the expected shape of ``A``.

    Parameters
    ----------
    A : array
        Sensing matrices; ``(p, m, n)`` or ``(m, n)`` depending on the model.
    y : array of shape (p, m)
        One snapshot per row.
    """

    name: str = ""
    a_ndim: int = 3  # dimension of A the model expects
    shared_signal: bool = False  # one x for all snapshots (repeated) or one per snapshot
    # the counting condition (equations >= unknowns - 1), written for this model
    counting_rule: str = "m p ≥ m + p n − 1, i.e. m > n and p ≥ (m − 1)/(m − n)"

    def __init__(self, A, y):
        if A.ndim != self.a_ndim:
            want = "(p, m, n)" if self.a_ndim == 3 else "(m, n)"
            raise ValueError(f"A must have shape {want} for model={self.name!r}, "
                             f"got shape {A.shape}")
        if y.ndim != 2:
            raise ValueError(f"y must have shape (p, m), got shape {y.shape}")
        m = A.shape[-2]
        if y.shape[1] != m:
            raise ValueError(f"y has {y.shape[1]} entries per snapshot but A has m={m} rows; "
                             f"y must have shape (p, {m})")
        if self.a_ndim == 3 and A.shape[0] != y.shape[0]:
            raise ValueError(f"A holds {A.shape[0]} sensing matrices but y holds "
                             f"{y.shape[0]} snapshots; model={self.name!r} needs one "
                             "matrix per snapshot (A[l] for y[l])")
        self.A = A
        self.y = y
        self.n_snapshots, self.n_sensors = (int(v) for v in y.shape)
        self.n_features = int(A.shape[-1])
        self.dtype = np.result_type(A.dtype, y.dtype)

    # ---------------------------------------------------------------- sizes
    @property
    def n_calibration(self) -> int:
        """Number of calibration unknowns (``m``, or ``k`` for :class:`Subspace`)."""
        return self.n_sensors

    @property
    def signal_shape(self) -> tuple:
        """Shape of the signal unknowns: ``(n,)`` (repeated) or ``(p, n)``."""
        if self.shared_signal:
            return (self.n_features,)
        return (self.n_snapshots, self.n_features)

    @property
    def n_unknowns(self) -> int:
        return self.n_calibration + math.prod(self.signal_shape)

    @property
    def shape(self) -> tuple:
        """Shape of ``A_0``: ``(p m, n_unknowns)``."""
        return (self.n_snapshots * self.n_sensors, self.n_unknowns)

    def counting_condition(self) -> bool:
        """``p m ≥ n_unknowns − 1``: necessary for a one-dimensional null space of ``A_0``."""
        rows, cols = self.shape
        return rows >= cols - 1

    # ---------------------------------------------------------------- unknowns
    def split(self, z):
        """``z`` (flat, or ``(n_unknowns, k)``) → calibration part and signal part."""
        rest = z.shape[1:]
        h = z[: self.n_calibration]
        return h, z[self.n_calibration:].reshape(self.signal_shape + rest)

    def join(self, h, x):
        """The flat vector ``z = (h, x)``."""
        xp = array_namespace(h, x)
        return xp.concatenate([xp.reshape(h, (-1,)), xp.reshape(x, (-1,))])

    def inverse_calibration(self, h):
        """``s = d⁻¹`` from the calibration unknowns (identity here)."""
        return h

    # ---------------------------------------------------------------- maps
    def _calibration(self, h):
        return h

    def _calibration_adjoint(self, s):
        return s

    @staticmethod
    def apply_signal(A, x):
        """The noiseless, uncalibrated measurements ``A_l x_l`` as an array ``(p, m, ...)``."""
        raise NotImplementedError

    @staticmethod
    def adjoint_signal(A, r):
        """The adjoint of :meth:`apply_signal` for ``r`` of shape ``(p, m, ...)``."""
        raise NotImplementedError

    def _matmat(self, Z):
        h, X = self.split(Z)
        s = self._calibration(h)  # (m, k)
        return (self.y[:, :, None] * s[None] - self.apply_signal(self.A, X)).reshape(
            self.shape[0], -1)

    def _rmatmat(self, R):
        xp = array_namespace(R)
        R = R.reshape(self.n_snapshots, self.n_sensors, -1)
        cal = self._calibration_adjoint((self.y.conj()[:, :, None] * R).sum(axis=0))
        sig = -self.adjoint_signal(self.A, R).reshape(-1, R.shape[-1])
        return xp.concatenate([cal, sig], axis=0)

    def operator(self):
        """``A_0`` as a matrix-free LinearOperator (SciPy's, or CuPy's for CuPy arrays)."""
        linalg = scipy_namespace(array_namespace(self.A, self.y), "sparse.linalg")
        return linalg.LinearOperator(
            self.shape, dtype=self.dtype,
            matvec=lambda z: self._matmat(z.reshape(-1, 1))[:, 0],
            rmatvec=lambda r: self._rmatmat(r.reshape(-1, 1))[:, 0],
            matmat=self._matmat, rmatmat=self._rmatmat)

    def column_norms(self):
        """Euclidean norms of the columns of ``A_0`` (for diagonal preconditioning)."""
        if getattr(self, "_column_norms", None) is None:
            xp = array_namespace(self.A, self.y)
            energy = _abs2_sum("pm,pm->m", self.y)
            self._column_norms = xp.sqrt(xp.concatenate(
                [self._calibration_energy(energy), self._signal_energy().reshape(-1)]))
        return self._column_norms

    def _calibration_energy(self, energy):
        return energy

    def todense(self):
        """The stacked matrix ``A_0``, refused above ``max_dense_bytes``."""
        check_dense_size(self.shape, self.dtype, f"the dense A_0 of model={self.name!r}")
        xp = array_namespace(self.A, self.y)
        cal = self.y[:, :, None] * self._calibration(xp.eye(self.n_calibration,
                                                            dtype=self.dtype))[None]
        n_x = self.n_unknowns - self.n_calibration
        eye = xp.eye(n_x, dtype=self.dtype).reshape(self.signal_shape + (n_x,))
        sig = self.apply_signal(self.A, eye)
        return xp.concatenate([cal.reshape(self.shape[0], -1),
                               -sig.reshape(self.shape[0], -1)], axis=1)


class Repeated(SelfCalModel):
    """Model 1: ``y_l = D A_l x`` — one signal seen through ``p`` sensing matrices.

    Self-calibration from repeated measurements (and direction-of-arrival estimation).
    ``A`` has shape ``(p, m, n)``; the signal ``x`` has shape ``(n,)``.
    """

    name = "repeated"
    shared_signal = True
    counting_rule = "m p ≥ m + n − 1"

    @staticmethod
    def apply_signal(A, x):
        p, m, n = A.shape
        return (A.reshape(p * m, n) @ x).reshape((p, m) + x.shape[1:])

    @staticmethod
    def adjoint_signal(A, r):
        p, m, n = A.shape
        flat = r.reshape(p * m, -1)
        return (flat.conj().T @ A.reshape(p * m, n)).conj().T.reshape((n,) + r.shape[2:])

    def _signal_energy(self):
        return _abs2_sum("pmn,pmn->n", self.A)


class Diverse(SelfCalModel):
    """Model 2: ``y_l = D A_l x_l`` — ``p`` signals, each through its own matrix.

    Blind deconvolution via diverse inputs: with ``D = diag(F f)`` the Fourier transform
    of an unknown filter ``f``, ``y_l`` is the spectrum of ``f ⊛ g_l`` for inputs
    ``g_l = C_l x_l`` in known subspaces (``A_l = F C_l``). ``A`` has shape ``(p, m, n)``;
    the signals ``X`` have shape ``(p, n)``.
    """

    name = "diverse"

    # p independent products: einsum runs them in one C loop, where a batched matmul
    # makes p small BLAS calls (each paying the BLAS thread start-up)
    @staticmethod
    def apply_signal(A, x):
        xp = array_namespace(A, x)
        extra = x.shape[2:]
        out = xp.einsum("pmn,pnk->pmk", A, x.reshape(x.shape[:2] + (-1,)))
        return out.reshape(out.shape[:2] + extra)

    @staticmethod
    def adjoint_signal(A, r):
        xp = array_namespace(A, r)
        p, m, n = A.shape
        out = xp.einsum("pmn,pmk->pnk", A, r.reshape(p, m, -1).conj()).conj()
        return out.reshape((p, n) + r.shape[2:])

    def _signal_energy(self):
        return _abs2_sum("pmn,pmn->pn", self.A)


class Snapshots(SelfCalModel):
    """Model 3: ``y_l = D A x_l`` — one matrix, ``p`` snapshots of different signals.

    Self-calibration from multiple snapshots (e.g. sensor-array gain/phase calibration with
    sources at known directions). ``A`` has shape ``(m, n)``; the signals ``X`` have shape
    ``(p, n)``. Identifiability needs ``m > n``.
    """

    name = "snapshots"
    a_ndim = 2

    @staticmethod
    def apply_signal(A, x):
        # x: (p, n, ...) -> one product A @ [x_1 ... x_p]
        p, n = x.shape[:2]
        extra = x.shape[2:]
        cols = x.reshape(p, n, -1).transpose(1, 0, 2).reshape(n, -1)
        out = (A @ cols).reshape(A.shape[0], p, -1).transpose(1, 0, 2)
        return out.reshape((p, A.shape[0]) + extra)

    @staticmethod
    def adjoint_signal(A, r):
        p, m = r.shape[:2]
        extra = r.shape[2:]
        cols = r.reshape(p, m, -1).transpose(1, 0, 2).reshape(m, -1)
        out = (cols.conj().T @ A).conj().T  # A^H cols, without copying A
        out = out.reshape(A.shape[1], p, -1).transpose(1, 0, 2)
        return out.reshape((p, A.shape[1]) + extra)

    def _signal_energy(self):
        xp = array_namespace(self.A)
        return xp.broadcast_to(_abs2_sum("mn,mn->n", self.A),
                               (self.n_snapshots, self.n_features))


class InverseSubspace(SelfCalModel):
    """Extension (not in Ling & Strohmer 2018): one snapshot ``y = D A x`` with ``d⁻¹ = B h``.

    The *inverse* calibration lies in a known ``m × k`` subspace, which keeps the linear
    trick: ``diag(y) B h − A x = 0``, with unknowns ``(h, x)``. (Ling & Strohmer 2015 put
    ``d`` itself in the subspace, :class:`Subspace`.) Identifiability needs
    ``m ≥ k + n − 1``.

    Parameters
    ----------
    A : array of shape (m, n)
    y : array of shape (1, m)
    B : array of shape (m, k)
    """

    name = "inverse_subspace"
    a_ndim = 2
    shared_signal = True
    counting_rule = "m ≥ k + n − 1"

    def __init__(self, A, y, B):
        super().__init__(A, y)
        if self.n_snapshots != 1:
            raise ValueError(f"model={self.name!r} takes one snapshot: y must have shape (m,) "
                             f"or (1, m), got shape {y.shape}")
        if B.ndim != 2 or B.shape[0] != self.n_sensors:
            raise ValueError(f"B must have shape (m, k) = ({self.n_sensors}, k) to match "
                             f"A and y, got shape {B.shape}")
        self.B = B
        self.dtype = np.result_type(self.dtype, B.dtype)

    @property
    def n_calibration(self) -> int:
        return int(self.B.shape[1])

    def inverse_calibration(self, h):
        return self.B @ h

    def _calibration(self, h):
        return self.B @ h

    def _calibration_adjoint(self, s):
        return (s.conj().T @ self.B).conj().T

    def _calibration_energy(self, energy):
        xp = array_namespace(self.B)
        return energy @ (xp.abs(self.B) ** 2)

    @staticmethod
    def apply_signal(A, x):
        return (A @ x)[None]

    @staticmethod
    def adjoint_signal(A, r):
        flat = r[0].reshape(A.shape[0], -1)
        return (flat.conj().T @ A).conj().T.reshape((A.shape[1],) + r.shape[2:])

    def _signal_energy(self):
        return _abs2_sum("mn,mn->n", self.A)


class Subspace(InverseSubspace):
    """Ling & Strohmer (2015), arXiv:1501.06864: ``y = diag(B h) A x`` — the calibration
    itself lies in a known ``m × k`` subspace; one snapshot, ``A`` of shape ``(m, n)``.

    ``y_i = (b_iᵀ h)(a_iᵀ x) = ⟨b_i a_iᵀ, h xᵀ⟩`` is *linear in the lifted unknown*
    ``X = h xᵀ`` (``k × n``): ``y = Φ vec(X)`` with ``Φ_i = b_iᵀ ⊗ a_iᵀ`` (the rows of the
    face-splitting product of ``B`` and ``A``). The paper recovers ``X`` from this linear
    system (by ℓ1 minimisation when ``x`` is sparse, "SparseLift"; here by least squares,
    which needs ``m ≥ k n`` for a unique ``X``) and ``(h, x)`` from its leading singular
    pair. With fewer measurements (down to the counting bound ``m ≥ k + n − 1``), the
    spectral start ``(BᴴB)⁻¹ Φᴴ y`` (whose mean is ``X`` for Gaussian ``A`` of unit
    variance; Li, Ling, Strohmer & Wei 2019) replaces the least-squares ``X``. Either start
    is then refined by alternating least squares on ``‖y − diag(B h) A x‖²``
    (:mod:`sparserec.selfcal.refine`). The linear ``A_0`` machinery of the other models
    does not apply (the model is not linear in ``(1/d, x)``).
    """

    name = "subspace"

    def inverse_calibration(self, h):
        """``s = 1 / (B h)`` (``inf`` where ``B h = 0``)."""
        with np.errstate(divide="ignore"):
            return 1 / (self.B @ h)

    def lifted_matrix(self):
        """``Φ`` of shape ``(m, k n)``, row ``i`` = ``b_iᵀ ⊗ a_iᵀ``; refused above
        ``max_dense_bytes``."""
        m, k, n = self.n_sensors, self.n_calibration, self.n_features
        check_dense_size((m, k * n), self.dtype, "the lifted matrix of model='subspace'")
        return (self.B[:, :, None] * self.A[:, None, :]).reshape(m, k * n)

    def lifted_start(self, method: str):
        """``(h, x)`` from the leading singular pair of the lifted estimate of ``h xᵀ``:
        least squares on ``Φ`` (``"lsq"``) or ``(BᴴB)⁻¹ Φᴴ y`` (``"spectral"``)."""
        xp = array_namespace(self.A, self.y, self.B)
        k, n = self.n_calibration, self.n_features
        Phi = self.lifted_matrix()
        if method == "lsq":
            X = xp.linalg.lstsq(Phi, self.y[0], rcond=None)[0].reshape(k, n)
        else:
            gram = self.B.conj().T @ self.B
            X = xp.linalg.solve(gram, (Phi.conj().T @ self.y[0]).reshape(k, n))
        u, sv, vh = xp.linalg.svd(X, full_matrices=False)
        root = xp.sqrt(sv[0])
        return u[:, 0] * root, vh[0] * root, sv


MODELS = {cls.name: cls for cls in (Repeated, Diverse, Snapshots, InverseSubspace,
                                     Subspace)}


def make_model(name: str, A, y, B=None) -> SelfCalModel:
    """The model ``name`` built on validated arrays; ``B`` only (and always) for subspace.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.selfcal.models import make_model
    >>> make_model("snapshots", np.ones((5, 2)), np.ones((3, 5))).shape
    (15, 11)
    """
    if name in ("subspace", "inverse_subspace"):
        if B is None:
            raise ValueError(f"model={name!r} needs the subspace matrix B of shape (m, k)")
        return MODELS[name](A, y, B)
    if B is not None:
        raise ValueError(f"B is only used by model='subspace' and 'inverse_subspace', got "
                         f"model={name!r}")
    return MODELS[name](A, y)
