"""IRS-aided MIMO uplink channel estimation as a Kronecker sparse recovery problem.

Geometry (as in He & Joseph, arXiv 2307.14719, and their PC-KroSBL code): a mobile
station (MS) with ``n_ms`` antennas sends pilots through an intelligent reflecting
surface (IRS) with ``n_irs`` passive elements to a base station (BS) with ``n_bs``
antennas; the direct MS–BS path is blocked. All three are half-wavelength uniform linear
arrays with steering vectors ``a_n(u) = exp(jπ u k) / √n``, ``k = 0 … n−1``, where
``u = sin θ ∈ [−1, 1)`` is the direction cosine (dimensionless). Angles lie on the grid
``u_g = −1 + 2g / G`` (``G`` even).

Channels (complex baseband, narrowband, unit average gain per antenna pair):
``H_1 = √(n_irs n_ms / P_1) A_irs G_1 A_msᴴ`` (MS → IRS) and
``H_2 = √(n_bs n_irs / P_2) A_bs G_2 A_irsᴴ`` (IRS → BS), where ``G_l`` holds i.i.d.
``CN(0, 1)`` path gains on (receive angles) × (transmit angles) and ``P_l`` is its number of
paths. With IRS phase configuration ``θ_k ∈ {±1}^{n_irs}`` (1-bit) and pilots ``X``
(``n_ms × T``, QPSK of power ``1/n_ms`` per antenna), the BS receives
``Y_k = H_2 diag(θ_k) H_1 X + N_k``, ``k = 1 … K``. Because
``a_irs(u_d)ᴴ diag(θ) a_irs(u_a) = θᵀ a_irs(u_a − u_d) / √n_irs`` depends only on the
difference of the IRS angles (wrapped to ``[−1, 1)``, on the grid again), the stacked
measurements ``y[k, t, b] = Y_k[b, t]`` are

    y = (Φ ⊗ P ⊗ A_bs) x + n,   Φ[k, g] = θ_kᵀ a_irs(u_g),   P = Xᵀ conj(A_ms),

with ``x`` the cascaded channel in the angular domain, indexed by (IRS angle difference,
MS angle of departure, BS angle of arrival): its support is the Kronecker product of the
three supports. Angular spread (several adjacent receive angles) makes ``x`` block-sparse.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.utils import Bunch, check_random_state

from ..datasets import add_noise, standard_normal

__all__ = ["make_irs_channel", "cascaded_channels", "steering_matrix"]


def steering_matrix(n_antennas: int, u) -> np.ndarray:
    """ULA steering vectors ``exp(jπ u k) / √n`` (half-wavelength spacing) as columns.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.sbl.irs import steering_matrix
    >>> A = steering_matrix(8, np.linspace(-1, 1, 8, endpoint=False))
    >>> bool(np.allclose(A.conj().T @ A, np.eye(8)))
    True
    """
    k = np.arange(n_antennas)[:, None]
    return np.exp(1j * np.pi * k * np.asarray(u, dtype=float)[None, :]) / math.sqrt(n_antennas)


def _grid(size: int) -> np.ndarray:
    return -1.0 + 2.0 * np.arange(size) / size


def _clusters(rng, grid_size: int, n_clusters: int, spread: int) -> np.ndarray:
    """``n_clusters`` runs of ``spread`` adjacent grid indices (wrapping), all distinct."""
    while True:
        starts = rng.choice(grid_size, n_clusters, replace=False)
        idx = np.unique((starts[:, None] + np.arange(spread)) % grid_size)
        if idx.size == n_clusters * spread:
            return idx


def make_irs_channel(*, n_bs: int = 16, n_irs: int = 64, n_ms: int = 4, n_grid=16,
                     n_pilots: int = 4, n_patterns: int = 8, n_paths: int = 1,
                     angle_spread: int = 1, snr_db: float | None = 20.0,
                     random_state=None) -> Bunch:
    """An IRS-aided MIMO uplink channel-estimation problem ``y = (Φ ⊗ P ⊗ A_bs) x + n``.

    See the module docstring for the model and units. Each link has ``n_paths`` transmit
    angles (MS angles of departure; IRS angles of departure) and ``n_paths`` clusters of
    ``angle_spread`` adjacent receive angles (IRS and BS angles of arrival), with a path
    between every transmit and receive angle of the link. ``n_paths = 1`` is the
    reference code's geometry.

    Parameters
    ----------
    n_bs, n_irs, n_ms : int
        Antennas at the BS, IRS elements, antennas at the MS. With ``n_ms = 1`` the MS
        factor is merged into the IRS factor (``Φ ⊗ pilots``), leaving two factors.
    n_grid : int or (int, int, int)
        Angular grid sizes ``(G_irs, G_ms, G_bs)`` (one int: all three); ``G_irs`` even.
    n_pilots : int
        Pilot symbols ``T`` per IRS configuration.
    n_patterns : int
        IRS phase configurations ``K``.
    n_paths, angle_spread : int
        Paths per link end (see above) and cluster width in grid steps.
    snr_db : float or None
        ``10 log10(mean |y_clean|² / σ²)``; ``None`` for noiseless measurements.
    random_state : int, RandomState or None

    Returns
    -------
    problem : Bunch
        ``factors`` (``[Φ, P, A_bs]``: ``(K, G_irs)``, ``(T, G_ms)``, ``(n_bs, G_bs)``),
        ``y`` (``K T n_bs``,), ``coef`` (``G_irs G_ms G_bs``,), ``support``,
        ``factor_supports``, ``noise_var``, ``channels`` (``(K, n_bs, n_ms)``: the true
        ``H_2 diag(θ_k) H_1``), ``pilots`` (``X``), ``irs_phases`` (``(K, n_irs)``),
        ``irs_dictionary`` (``Φ``), ``bs_steering``, ``ms_steering`` (steering
        dictionaries on their grids).

    Examples
    --------
    >>> from sparserec.sbl import make_irs_channel
    >>> p = make_irs_channel(angle_spread=2, random_state=0)
    >>> [A.shape for A in p.factors], p.coef.shape, p.support.size
    ([(8, 16), (4, 16), (16, 16)], (4096,), 4)
    """
    grid_irs, grid_ms, grid_bs = (n_grid,) * 3 if np.isscalar(n_grid) else tuple(n_grid)
    for name, value in [("n_bs", n_bs), ("n_irs", n_irs), ("n_ms", n_ms), ("n_grid", grid_irs),
                        ("n_grid", grid_ms), ("n_grid", grid_bs), ("n_pilots", n_pilots),
                        ("n_patterns", n_patterns), ("n_paths", n_paths),
                        ("angle_spread", angle_spread)]:
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if grid_irs % 2:
        raise ValueError(f"the IRS grid size (n_grid[0]) must be even, got {grid_irs}")
    if n_ms == 1:
        grid_ms = 1
    if n_paths * angle_spread > min(grid_irs, grid_bs) or n_paths > min(grid_ms, grid_irs):
        raise ValueError(f"n_paths={n_paths} clusters of angle_spread={angle_spread} do not "
                         f"fit on grids of sizes {(grid_irs, grid_ms, grid_bs)}")
    rng = check_random_state(random_state)
    u_irs, u_ms, u_bs = _grid(grid_irs), _grid(grid_ms), _grid(grid_bs)
    a_irs, a_ms, a_bs = (steering_matrix(n_irs, u_irs), steering_matrix(n_ms, u_ms),
                         steering_matrix(n_bs, u_bs))
    # link 1 (MS → IRS): MS departure angles × IRS arrival clusters
    ms_dep = np.sort(rng.choice(grid_ms, n_paths, replace=False))
    irs_arr = _clusters(rng, grid_irs, n_paths, angle_spread)
    # link 2 (IRS → BS): IRS departure angles × BS arrival clusters
    irs_dep = np.sort(rng.choice(grid_irs, n_paths, replace=False))
    bs_arr = _clusters(rng, grid_bs, n_paths, angle_spread)
    gains1 = standard_normal((irs_arr.size, ms_dep.size), is_complex=True, random_state=rng)
    gains2 = standard_normal((bs_arr.size, irs_dep.size), is_complex=True, random_state=rng)
    scale1 = math.sqrt(n_irs * n_ms / gains1.size)
    scale2 = math.sqrt(n_bs * n_irs / gains2.size)
    H1 = scale1 * a_irs[:, irs_arr] @ gains1 @ a_ms[:, ms_dep].conj().T
    H2 = scale2 * a_bs[:, bs_arr] @ gains2 @ a_irs[:, irs_dep].conj().T
    phases = rng.choice([-1.0, 1.0], size=(n_patterns, n_irs))
    symbols = np.exp(1j * np.pi / 4 * (2 * rng.randint(0, 4, (n_ms, n_pilots)) + 1))
    pilots = symbols / math.sqrt(n_ms)
    channels = np.einsum("bi,ki,im->kbm", H2, phases, H1)
    clean = np.einsum("kbm,mt->ktb", channels, pilots).ravel()

    # the cascaded channel on the (IRS difference, MS, BS) grids
    coef = np.zeros((grid_irs, grid_ms, grid_bs), dtype=complex)
    diff = (irs_arr[:, None] - irs_dep[None, :] + grid_irs // 2) % grid_irs  # u_a − u_d
    weight = scale1 * scale2 / math.sqrt(n_irs)
    for (ia, idp), g in np.ndenumerate(diff):
        coef[g][np.ix_(ms_dep, bs_arr)] += weight * np.outer(gains1[ia], gains2[:, idp])
    phi = phases @ a_irs
    factors = [phi, pilots.T @ a_ms.conj(), a_bs]
    supports = [np.unique(diff), ms_dep, bs_arr]
    if n_ms == 1:  # one MS antenna: no MS angle, merge the pilots into the IRS factor
        factors = [np.kron(factors[0], factors[1]), a_bs]
        supports = [supports[0], bs_arr]
        coef = coef[:, 0, :]
    y, noise_var = add_noise(clean, snr_db, random_state=rng)
    support = np.flatnonzero(coef.ravel())
    return Bunch(factors=factors, y=y, coef=coef.ravel(), support=support,
                 factor_supports=supports, noise_var=noise_var, channels=channels,
                 pilots=pilots, irs_phases=phases, irs_dictionary=phi, bs_steering=a_bs,
                 ms_steering=a_ms)


def cascaded_channels(problem: Bunch, coef) -> np.ndarray:
    """The channels ``H_k = H_2 diag(θ_k) H_1`` (``(K, n_bs, n_ms)``) that ``coef`` implies.

    ``coef`` is an angular-domain estimate for ``problem`` (from :func:`make_irs_channel`);
    with the true ``problem.coef`` this reproduces ``problem.channels``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.sbl import cascaded_channels, make_irs_channel
    >>> p = make_irs_channel(random_state=0)
    >>> bool(np.allclose(cascaded_channels(p, p.coef), p.channels))
    True
    """
    phi, a_ms, a_bs = problem.irs_dictionary, problem.ms_steering, problem.bs_steering
    X = np.asarray(coef).reshape(phi.shape[1], a_ms.shape[1], a_bs.shape[1])
    return np.einsum("gmb,kg,Bb,Mm->kBM", X, phi, a_bs, a_ms.conj())
