"""Beyond one machine: tiled deconvolution and many independent fits on Dask.

- :func:`deconvolve_tiled` deconvolves an image larger than memory (or than one
  machine's patience) tile by tile with :func:`dask.array.map_overlap`: each tile is
  cut with a halo of at least the PSF's half-width plus the starlet's reach, solved by
  :func:`sparserec.deconv.methods.deconvolve_array`, and trimmed. The noise level (and
  an ``"auto"`` sky level) is estimated once on the whole image, or on a spread of
  sample blocks for a huge one, and given to every tile, so that all tiles threshold
  alike. Input: a NumPy array, a Dask array, a FITS file (read block by block through a
  memory map) or a Zarr store; output: an array, or a Zarr store / FITS file written
  block by block (the whole image is never held by one process).
- :func:`fit_many` runs many independent ``fit`` calls (one estimator, many problems)
  as Dask tasks and returns one :class:`FitResult` per problem, in order; a problem
  whose fit raises is reported as such and the others keep their results.
- scikit-learn's own parallelism goes through joblib: inside
  ``with joblib.parallel_backend("dask"):`` a :class:`~sklearn.model_selection.GridSearchCV`
  over a sparserec estimator runs its fits on the active Dask cluster.

Where the work runs (``client``): ``None`` uses the active :class:`distributed.Client`
if there is one, else Dask's threaded scheduler; a ``Client``; a scheduler address
(``"tcp://host:8786"``); ``"local"`` (a :class:`distributed.LocalCluster` started for
the call and closed after it); or a local Dask scheduler name (``"threads"``,
``"processes"``, ``"sync"``). This module imports Dask only when called (``pip install
'sparserec[dask]'``); see the user guide page "Scaling out" for the cost model.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.utils import Bunch

from ._config import config_context
from .backend import array_namespace, is_cupy_array, resolve_backend, to_host
from .deconv.methods import SPARSE_METHODS, check_noise_map_method

__all__ = ["deconvolve_tiled", "default_halo", "fit_many", "FitResult"]

_LOCAL_SCHEDULERS = ("threads", "processes", "sync", "synchronous", "single-threaded")
# images above this many pixels get their noise level from sample blocks (below it,
# the whole image is gathered once: 32 MiB in float64)
MAX_NOISE_PIXELS = 2048 * 2048
_NOISE_BLOCK = 512


def _require_dask():
    try:
        import dask
        import dask.array
    except ImportError as exc:
        raise ImportError("sparserec.distributed needs Dask: pip install "
                          "'sparserec[dask]'") from exc
    return dask


# ---------------------------------------------------------------------- schedulers
@contextlib.contextmanager
def _scheduler(client):
    """Yield ``(scheduler, n_workers)`` for :func:`dask.compute` from a ``client`` spec."""
    if isinstance(client, str) and client in _LOCAL_SCHEDULERS:
        yield client, 1 if client.startswith(("sync", "single")) else (os.cpu_count() or 1)
        return
    if client is None:
        try:
            from distributed import get_client

            client = get_client()
        except (ImportError, ValueError):
            yield "threads", os.cpu_count() or 1
            return
        yield client, max(1, len(client.scheduler_info()["workers"]))
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ImportError(f"client={client!r} needs dask.distributed: pip install "
                          "'sparserec[dask]'") from exc
    if isinstance(client, Client):
        yield client, max(1, len(client.scheduler_info()["workers"]))
        return
    if not isinstance(client, str):
        raise TypeError(f"client must be None, a distributed.Client, a scheduler address, "
                        f"'local' or one of {_LOCAL_SCHEDULERS}, got {client!r}")
    if client == "local":
        with LocalCluster(threads_per_worker=1, dashboard_address=None) as cluster, \
                Client(cluster) as local:
            yield local, len(cluster.workers)
        return
    with Client(client) as remote:
        yield remote, max(1, len(remote.scheduler_info()["workers"]))


# ---------------------------------------------------------------------- inputs
def _is_zarr_path(path: Path) -> bool:
    return path.suffix.lower() == ".zarr" or (path / ".zarray").exists() \
        or (path / "zarr.json").exists()


def _open_input(image, tile: int):
    """``(dask array in tiles, reader, FITS header or None, stored dtype, input path)``.

    A FITS file or an in-memory array is cut straight into tiles (never read whole by
    one task); a Dask array or Zarr store is rechunked. ``reader`` is the sliceable,
    picklable source of a file input (``None`` otherwise): the tile tasks read their
    windows from it themselves.
    """
    import dask.array as da

    from .io import FITS_SUFFIXES, FitsBlocks

    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.exists():
            raise FileNotFoundError(f"no such image: {str(path)!r}")
        if path.name.lower().endswith(FITS_SUFFIXES):
            src = FitsBlocks(path)
            chunks = tuple(_even_chunks(n, tile) for n in src.shape)
            # inline: each read task carries the (small) source, so that the reads are
            # root tasks that the scheduler queues instead of reading the image ahead
            return da.from_array(src, chunks=chunks, asarray=False, fancy=False,
                                 inline_array=True), src, src.header, src.stored_dtype, path
        if _is_zarr_path(path):
            import zarr

            arr = da.from_zarr(str(path), inline_array=True)
            reader = zarr.open_array(str(path), mode="r")
            return _rechunk(arr, tile), reader, None, arr.dtype, path
        raise ValueError(f"image path {str(path)!r} must be a FITS file "
                         f"({', '.join(FITS_SUFFIXES)}) or a Zarr store (.zarr)")
    if isinstance(image, da.Array):
        return _rechunk(image, tile), None, None, image.dtype, None
    arr = image if is_cupy_array(image) else np.asarray(image)
    if arr.ndim != 2:
        raise ValueError(f"image must be 2-D, got shape {arr.shape}")
    chunks = tuple(_even_chunks(n, tile) for n in arr.shape)
    return da.from_array(arr, chunks=chunks, asarray=False), None, None, arr.dtype, None


def _rechunk(arr, tile: int):
    if arr.ndim != 2:
        raise ValueError(f"image must be 2-D, got shape {arr.shape}")
    return arr.rechunk(tuple(_even_chunks(n, tile) for n in arr.shape))


def _even_chunks(n: int, tile: int) -> tuple[int, ...]:
    """``n`` split into ``ceil(n / tile)`` nearly equal chunks."""
    k = max(1, math.ceil(n / tile))
    base, extra = divmod(n, k)
    return tuple(base + (i < extra) for i in range(k))


def default_halo(psf_shape, n_scales: int = 4) -> int:
    """Halo (pixels per side) of a tile: twice the PSF half-width plus the starlet reach.

    A pixel's gradient step involves the PSF and its adjoint (twice the half-width), and
    its analysis coefficients the starlet filters up to scale ``n_scales - 1``
    (half-width ``2 (2**(n_scales-1) - 1)``); the halo covers both, rounded up to a
    multiple of 8.

    Examples
    --------
    >>> from sparserec.distributed import default_halo
    >>> default_halo((11, 11), n_scales=4)
    24
    """
    reach = 2 * (max(psf_shape) // 2) + 2 * (2 ** (n_scales - 1) - 1)
    return int(8 * math.ceil(reach / 8))


# ---------------------------------------------------------------------- global levels
def _sample_blocks(arr, block: int, n_side: int):
    """Up to ``n_side**2`` blocks of side ``block`` spread evenly over ``arr``."""
    h, w = arr.shape
    rows = np.unique(np.linspace(0, max(h - block, 0), n_side).astype(int))
    cols = np.unique(np.linspace(0, max(w - block, 0), n_side).astype(int))
    return [arr[r:r + block, c:c + block] for r in rows for c in cols]


def _level_parts(arr, scheduler, max_pixels: int, local=None) -> list:
    """What the global levels are estimated on, on the host in float64: the whole array
    when it has at most ``max_pixels`` pixels (``local``, an in-memory input, as is),
    otherwise 8 x 8 sample blocks of 512 x 512 (only those are read)."""
    import dask

    if arr.size <= max_pixels:
        parts = [local if local is not None else dask.compute(arr, scheduler=scheduler)[0]]
    else:
        parts = list(dask.compute(*_sample_blocks(arr, _NOISE_BLOCK, 8), scheduler=scheduler))
    return [np.asarray(to_host(p), dtype=np.float64) for p in parts]  # CuPy chunks too


def _global_levels(arr, noise_sigma, background, scheduler, max_pixels: int, local=None):
    """Noise level, sky level and primal scale for every tile, estimated once.

    Whole image when it has at most ``max_pixels`` pixels (``local``, the in-memory
    input, is used as is); otherwise the median of the estimates on 8 x 8 sample blocks
    of 512 x 512 pixels (only those are read). The primal scale is the root mean square
    of the image above its sky (:func:`sparserec.deconv.methods.deconvolve_array`); the
    lowest pixel and the mean set the Richardson–Lucy shift and start of a shared SURE
    path.
    """
    from .deconv.noise import estimate_background, estimate_noise_sigma

    if isinstance(background, str) and background != "auto":
        raise ValueError(f"background must be a number or 'auto', got {background!r}")
    parts = _level_parts(arr, scheduler, max_pixels, local)
    # the blocks mostly in the data, else (a mosaic mostly gap) all that hold data
    parts = [p for p in parts if np.isfinite(p).sum() > p.size // 2] or \
        [p for p in parts if np.isfinite(p).any()]
    if not parts:
        raise ValueError("the image has too few finite pixels to estimate its noise level")
    if noise_sigma is None:
        noise_sigma = float(np.median([estimate_noise_sigma(p) for p in parts]))
    if isinstance(background, str):
        background = float(np.median([estimate_background(p) for p in parts]))
    above = [np.maximum(p[np.isfinite(p)] - background, 0) for p in parts]
    scale = math.sqrt(sum(float(np.sum(a * a)) for a in above) / sum(a.size for a in above))
    low = min(float(np.nanmin(p)) for p in parts)
    mean = sum(float(np.nansum(p)) for p in parts) / sum(int(np.isfinite(p).sum())
                                                          for p in parts)
    return float(noise_sigma), float(background), scale, (low, mean)


def _map_level(noise, scheduler, max_pixels: int) -> float:
    """The noise map's median over its usable (finite, positive) pixels: all of them up
    to ``max_pixels``, else those of 8 x 8 sample blocks (the noise level's rule)."""
    values = np.concatenate([p.ravel() for p in _level_parts(noise, scheduler, max_pixels)])
    values = values[np.isfinite(values) & (values > 0)]
    if not values.size:
        raise ValueError("noise_map has no finite positive value: nothing to weight")
    return float(np.median(values))


def _shared_path(arr, psf, params, extent, scheduler, noise=None):
    """The SURE choice for every tile, made once on the image's central crop of
    ``SURE_SIZE`` a side (elsewhere if the centre is mostly a gap:
    :func:`~sparserec.deconv.estimators.sure_window`) — the estimator's own rule for an
    image that large — with the whole image's levels: the paths of the mixture, each
    with its weight, its stages' iterations, and for Richardson–Lucy its extrapolation
    factors; Richardson–Lucy's shift ``max(0, −min(y − sky)) + 3σ`` and start level
    ``mean(y − sky)`` (data units). The tiles then run the in-memory fit's paths, and
    none chooses its own (which would show seams). With a noise map (``noise``, chunked
    as ``arr``) the crop is fitted with its part of the map.
    Its warnings (a path that ran out of ``max_iter``) reach the caller, once."""
    import dask
    import dask.array as da

    from .deconv.estimators import sure_window
    from .deconv.methods import deconvolve_array

    def read(region):
        return dask.compute(arr[region], scheduler=scheduler)[0]

    # the central window is read once; the whole image's finite-pixel mask only if the
    # centre is mostly a gap
    centre = sure_window(arr.shape)
    crop = read(centre)
    window = sure_window(arr.shape, lambda w: np.isfinite(to_host(crop)) if w == centre
                         else to_host(dask.compute(da.isfinite(arr[w]), scheduler=scheduler)[0]))
    if window != centre:
        crop = read(window)
    kwargs = dict(params)
    if noise is not None:  # the map's median is the crop's unit, as the tiles' are theirs
        kwargs.pop("noise_sigma")
        kwargs["noise_map"] = dask.compute(noise[window], scheduler=scheduler)[0]
    res = deconvolve_array(crop, psf, **kwargs, path="choose")
    low, mean = extent
    shift = max(0.0, params["background"] - low) + 3 * params["noise_sigma"]
    return res.path, shift, mean - params["background"]


# ---------------------------------------------------------------------- tiles
def _quiet_tiles():
    """Silence the warnings that speak of one tile, not of the image: its
    ConvergenceWarning (one per tile would drown the user), and a tile of empty sky or of
    constant fill that "holds no signal" or "is constant" (its neighbours have signal, and
    the levels are the whole image's). Call inside :func:`warnings.catch_warnings`."""
    from .base import ConvergenceWarning

    warnings.simplefilter("ignore", ConvergenceWarning)
    warnings.filterwarnings("ignore", r"image (holds no signal|is constant)", UserWarning)


def _deconvolve_block(block, noise=None, *, psf, params):
    """One tile (with its halo): :func:`deconvolve_array` with the shared levels, and
    its part of the noise map if there is one."""
    from .deconv.methods import deconvolve_array

    xp = array_namespace(block)  # a CuPy chunk is solved on its GPU and stays there
    block = xp.asarray(block, dtype=np.float64)
    if bool(xp.isnan(block).all()):  # a tile with no data (a mosaic gap) stays empty
        return block.copy()
    # one thread per task: Dask already runs one task per core (see docs/threads.rst)
    with warnings.catch_warnings(), config_context(n_threads=1):
        _quiet_tiles()
        return xp.asarray(deconvolve_array(block, psf, noise_map=noise, **params).image)


def _keep_empty(out, tile):
    """A tile without data (all NaN: a mosaic gap) stays empty, whatever its halo held."""
    xp = array_namespace(out, tile)
    tile = xp.asarray(tile)
    return xp.full(out.shape, np.nan) if tile.size and bool(xp.isnan(tile).all()) else out


def _deconvolve_window(block_info=None, *, source, depth, psf, params, noise=None):
    """One output tile of a file input: read its window (tile plus halo, cut at the image
    border, exactly as ``map_overlap(boundary="none")`` builds it), solve, trim.

    Reading inside the tile task keeps a worker's memory at one window: with
    ``map_overlap`` on a file, the distributed scheduler runs the cheap block reads and
    halo slices far ahead of the slow solves and holds their results (measured on
    16384 x 16384: 1 GiB per worker instead of 0.45 GiB).
    """
    info = block_info[None]
    (r0, r1), (c0, c1) = info["array-location"]
    h, w = info["shape"]
    a0, a1 = max(0, r0 - depth[0]), min(h, r1 + depth[0])
    b0, b1 = max(0, c0 - depth[1]), min(w, c1 + depth[1])
    window = source[a0:a1, b0:b1]
    noise_window = None if noise is None else np.asarray(noise[a0:a1, b0:b1])
    core = (slice(r0 - a0, r1 - a0), slice(c0 - b0, c1 - b0))
    return _keep_empty(_deconvolve_block(window, noise_window, psf=psf, params=params)[core],
                       np.asarray(window)[core])


# ---------------------------------------------------------------------- outputs
def _check_output(output: Path, *, overwrite: bool, inputs) -> str:
    """The output kind (``"fits"`` or ``"zarr"``) after :func:`sparserec.io.check_output_path`
    (never an input, also through a link; an existing one only with ``overwrite``): run
    before any work."""
    from .io import FITS_SUFFIXES, check_output_path

    name = output.name.lower()
    if name.endswith(FITS_SUFFIXES):
        if name.endswith(".gz"):
            raise ValueError("a tiled FITS output cannot be compressed (.gz): it is "
                             "written block by block; drop the .gz suffix")
        kind = "fits"
    elif output.suffix.lower() == ".zarr":
        kind = "zarr"
    else:
        raise ValueError(f"output {str(output)!r} must be a FITS file (.fits) or a Zarr "
                         "store (.zarr)")
    check_output_path(output, overwrite=overwrite, inputs=inputs)
    return kind


def _write_output(result, output: Path, *, header, stored_dtype, history, scheduler,
                  overwrite: bool, inputs):
    """Store ``result`` (a Dask array) block by block into ``output``, atomically."""
    import dask
    import dask.array as da

    from .io import atomic_output, create_fits

    kind = _check_output(output, overwrite=overwrite, inputs=inputs)
    if kind == "fits":
        dtype = stored_dtype if np.dtype(stored_dtype).kind == "f" else np.dtype(np.float64)
        with atomic_output(output, overwrite=overwrite, inputs=inputs) as tmp:
            target = create_fits(tmp, result.shape, dtype, header=header, history=history)
            store = da.store(result.astype(dtype), target, lock=False, compute=False)
            dask.compute(store, scheduler=scheduler)
        return output
    with atomic_output(output, overwrite=overwrite, inputs=inputs, directory=True) as tmp:
        store = da.to_zarr(result, str(tmp), overwrite=True, compute=False)
        dask.compute(store, scheduler=scheduler)
    return output


def _tile_progress(enabled: bool, scheduler):
    """A tqdm bar over the tile tasks (local schedulers; a cluster has its dashboard)."""
    if not enabled or not isinstance(scheduler, str):
        return contextlib.nullcontext()
    from tqdm.dask import TqdmCallback

    return TqdmCallback(desc="tiles", leave=False)


def deconvolve_tiled(image, psf, *, tile: int = 1024, halo: int | None = None,
                     client=None, output=None, overwrite: bool = False,
                     noise_sigma: float | None = None, noise_map=None, background=0.0,
                     compute: bool = True, max_noise_pixels: int = MAX_NOISE_PIXELS,
                     progress: bool = False, **params) -> Bunch:
    """Deconvolve a large image tile by tile on Dask.

    Parameters
    ----------
    image : ndarray, dask array, or str/Path
        The 2-D image; a path is a FITS file (read block by block through a memory map)
        or a Zarr store (``.zarr``). A CuPy array, or a Dask array with CuPy chunks, is
        solved tile by tile on the GPU (``backend="auto"`` picks CuPy for CuPy tiles)
        and gives CuPy chunks; ``backend="cupy"`` with NumPy input solves the tiles on
        the GPU and gives NumPy, as the estimators do. Files are written from the host.
    psf : 2-D array
        The PSF, centred at ``k // 2`` (see :func:`sparserec.imaging.load_psf`).
    tile : int, default=1024
        Target tile side: each axis is cut into ``ceil(n / tile)`` nearly equal chunks.
    halo : int, optional
        Pixels of overlap on each side of a tile (solved, then discarded). Default
        :func:`default_halo` (twice the PSF half-width plus the starlet reach). Tiles
        overlap by at most the smallest tile's side: a larger halo is cut to it with a
        warning, and the result reports the halo used.
    client : None, distributed.Client, str
        Where to run (see the module notes): ``None`` (active client, else threads),
        a ``Client``, a scheduler address, ``"local"``, or ``"threads"``/``"sync"``.
    output : str or Path, optional
        Write the result to this FITS file (``.fits``; a FITS input's header is kept,
        with HISTORY cards) or Zarr store (``.zarr``), block by block and atomically.
    overwrite : bool, default=False
        Replace an existing output (never an input).
    noise_sigma : float, optional
        Noise level of the whole image; estimated once by default
        (:func:`sparserec.deconv.estimate_noise_sigma` on the whole image, or the
        median over 8 x 8 sample blocks of 512 x 512 above ``max_noise_pixels``
        pixels, so that no process holds a large image whole).
    noise_map : ndarray, dask array, or str/Path, optional
        The noise standard deviation of each pixel (the image's shape; a FITS file or
        Zarr store is read by the tiles, window by window): each tile, and the central
        crop that chooses the SURE path, is fitted with its part of the map
        (``noise_map`` of :meth:`~sparserec.WaveletDeconvolution.fit`); the map's
        median is the reported ``noise_sigma``. Not with ``noise_sigma``.
    background : float or "auto", default=0.0
        Sky level, the same for every tile; ``"auto"`` estimates it once like the noise.
    compute : bool, default=True
        ``False`` returns the lazy Dask array in ``image`` (no output is written).
    max_noise_pixels : int
        Largest image whose noise is estimated on all pixels.
    progress : bool, default=False
        Show a tqdm progress bar over the tile tasks (local schedulers: ``"threads"``,
        ``"processes"``, ``"sync"``; a cluster shows progress on its dashboard).
    **params
        Passed to :func:`sparserec.deconv.methods.deconvolve_array` (``method``,
        ``n_scales``, ``k_sigma``, ``max_iter``, ``tol``, ``backend``). With the default
        ``k_sigma="sure"`` the choice is made once, on the image's central crop of 256
        pixels a side (the estimator's own rule for an image that large), and every
        tile runs the chosen path (a choice per tile would differ from tile to tile and
        show the seams); a number gives every tile that k-sigma threshold.

    Returns
    -------
    result : Bunch
        ``image`` (ndarray, CuPy for CuPy input, or a Dask array with
        ``compute=False``, or ``None`` when ``output`` is written), ``output`` (Path or
        None), ``noise_sigma``,
        ``background``, ``tile`` (chunk sizes), ``halo`` (the overlap used: 0 for a
        single tile), ``seconds``. A tile whose pixels are all NaN (a mosaic gap) stays
        NaN in the result.

    Notes
    -----
    Each tile is an independent solve of the same problem on its extended window, so
    away from the image border the result differs from the untiled solve only through
    what lies beyond the halo and through each tile's own stopping iteration (the
    iterative solver couples pixels further than one PSF per iteration). The user guide
    gives measured differences (max abs and PSNR) for tile and halo sizes. Per-tile
    :class:`~sparserec.base.ConvergenceWarning` is silenced: give ``max_iter`` large
    enough or ``tol`` loose enough. So is the warning of a tile of empty sky that it
    "holds no signal" (it speaks of the tile, not of the image).

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.datasets import make_sky_field, make_blurred_image
    >>> from sparserec.deconv import gaussian_psf
    >>> from sparserec.distributed import deconvolve_tiled
    >>> psf = gaussian_psf(7, sigma=1.0)
    >>> sky = make_sky_field((96, 96), n_stars=10, n_galaxies=4, random_state=0)
    >>> obs = make_blurred_image(sky.image, psf, noise_sigma=0.01, random_state=0).noisy
    >>> res = deconvolve_tiled(obs, psf, tile=48, client="sync", max_iter=20)
    >>> res.image.shape, res.tile, res.halo
    ((96, 96), ((48, 48), (48, 48)), 24)
    """
    _require_dask()
    import dask
    import dask.array as da
    from dask.array.utils import meta_from_array

    from .deconv.psf import check_psf

    start = time.perf_counter()
    if not isinstance(tile, (int, np.integer)) or isinstance(tile, bool) or tile < 16:
        raise ValueError(f"tile must be an integer >= 16 (pixels), got {tile!r}")
    if not compute and (client == "local" or output is not None):
        raise ValueError("compute=False returns the lazy result: it cannot be combined "
                         "with output= or client='local' (a cluster closed on return)")
    psf = check_psf(psf)
    if params.get("backend", "auto") != "auto":  # e.g. "cupy" without a GPU: say so now
        resolve_backend(params["backend"])
    params.setdefault("k_sigma", "sure")
    n_scales = params.get("n_scales", 4)
    if halo is None:
        halo = default_halo(psf.shape, n_scales)
    if not isinstance(halo, (int, np.integer)) or isinstance(halo, bool) or halo < 0:
        raise ValueError(f"halo must be an integer >= 0 (pixels), got {halo!r}")
    if not isinstance(max_noise_pixels, (int, np.integer)) or max_noise_pixels < 1:
        raise ValueError(f"max_noise_pixels must be a positive integer, got "
                         f"{max_noise_pixels!r}")
    arr, reader, header, stored_dtype, in_path = _open_input(image, int(tile))
    inputs = [in_path] if in_path is not None else []
    noise = noise_reader = None
    if noise_map is not None:
        check_noise_map_method(params.get("method", "auto"))
        if noise_sigma is not None:
            raise ValueError("give noise_sigma or noise_map, not both (the map's median is "
                             "the noise level)")
        noise, noise_reader, _, _, noise_path = _open_input(noise_map, int(tile))
        if noise.shape != arr.shape:
            raise ValueError(f"noise_map must have the image's shape {arr.shape}, got "
                             f"{noise.shape}")
        noise = noise.astype(np.float64).rechunk(arr.chunks)
        inputs += [noise_path] if noise_path is not None else []
        if reader is not None and noise_reader is None:  # tiles read their windows
            noise_reader = np.asarray(to_host(noise_map if isinstance(noise_map, np.ndarray)
                                              else noise.compute()))
    if output is not None:  # before any work: format, folder, input, existing output
        _check_output(Path(output), overwrite=overwrite, inputs=inputs)
    if any(k > n for k, n in zip(psf.shape, arr.shape, strict=True)):
        raise ValueError(f"psf of shape {psf.shape} is larger than the image of shape "
                         f"{arr.shape}")
    chunks = arr.chunks
    arr = arr.astype(np.float64)
    meta = meta_from_array(arr, ndim=2, dtype=np.float64)  # CuPy chunks give CuPy chunks
    depth = {a: (0 if len(c) == 1 else min(int(halo), min(c))) for a, c in enumerate(chunks)}
    cut = [a for a, c in enumerate(chunks) if len(c) > 1]
    halo_used = min(depth[a] for a in cut) if cut else 0  # what the tiles really overlap
    if cut and halo_used < int(halo):
        warnings.warn(f"halo={int(halo)} exceeds the smallest tile ({halo_used} pixels): the "
                      f"tiles overlap by {halo_used} pixels; give a larger tile for a larger "
                      "halo", UserWarning, stacklevel=2)
    with _scheduler(client) as (scheduler, _):
        local = image if isinstance(image, np.ndarray) else None
        if noise is not None:
            noise_sigma = _map_level(noise, scheduler, int(max_noise_pixels))
        sigma, sky, scale, extent = _global_levels(arr, noise_sigma, background, scheduler,
                                                   int(max_noise_pixels), local)
        block_params = {**params, "noise_sigma": sigma, "background": sky,
                        "primal_scale": scale}
        if params["k_sigma"] == "sure" and params.get("method", "auto") in SPARSE_METHODS:
            block_params["path"] = _shared_path(arr, psf, block_params, extent, scheduler,
                                                noise)
        if noise is not None:  # each tile's map sets its unit (the fit does not depend on it)
            block_params.pop("noise_sigma")
        with warnings.catch_warnings():
            # tiles run on threads of this process too (threaded scheduler): keep their
            # per-tile warnings quiet here as well as in _deconvolve_block
            _quiet_tiles()
            if reader is None:
                result = da.map_overlap(_deconvolve_block, arr,
                                        *([] if noise is None else [noise]), depth=depth,
                                        boundary="none", trim=True, dtype=np.float64,
                                        meta=meta, psf=psf, params=block_params)
                result = da.map_blocks(_keep_empty, result, arr, dtype=np.float64, meta=meta)
            else:  # the same windows, each read by its own tile task (see _deconvolve_window)
                result = da.map_blocks(_deconvolve_window, chunks=chunks, dtype=np.float64,
                                       meta=np.empty((0, 0)), source=reader,
                                       depth=(depth[0], depth[1]), psf=psf, params=block_params,
                                       noise=noise_reader)
            out_path = None
            if not compute:
                image_out = result
            elif output is None:
                with _tile_progress(progress, scheduler):
                    image_out = dask.compute(result, scheduler=scheduler)[0]
            else:
                from . import __version__

                history = [f"sparserec {__version__} deconvolve_tiled: tile={tile} "
                           f"halo={halo_used}",
                           " ".join(f"{k}={v}" for k, v in sorted(params.items())),
                           f"noise_sigma={sigma:.4g} background={sky:.4g}"
                           + ("" if noise is None else " (noise map's median)")]
                paths = block_params["path"][0] if "path" in block_params else ()
                for wavelet, weight, lengths, _ in paths:
                    history.append(f"SURE path on the central crop: {wavelet}, "
                                   f"{sum(lengths)} iterations in {len(lengths)} stages, "
                                   f"weight {weight:.3g}")
                if not isinstance(meta, np.ndarray):  # files are written from the host
                    result = result.map_blocks(to_host, dtype=np.float64, meta=np.empty((0, 0)))
                with _tile_progress(progress, scheduler):
                    out_path = _write_output(result, Path(output), header=header,
                                             stored_dtype=stored_dtype, history=history,
                                             scheduler=scheduler, overwrite=overwrite,
                                             inputs=inputs)
                image_out = None
    return Bunch(image=image_out, output=out_path, noise_sigma=sigma, background=sky,
                 tile=chunks, halo=halo_used, seconds=time.perf_counter() - start)


# ---------------------------------------------------------------------- many fits
@dataclass
class FitResult:
    """The outcome of one problem of :func:`fit_many`.

    Attributes
    ----------
    index : int
        Position of the problem in the input.
    estimator : estimator or None
        The fitted clone, or ``None`` if the fit failed.
    error : str or None
        ``"ExceptionType: message"`` of a failed fit.
    traceback : str or None
        The formatted traceback of a failed fit (from the worker).
    seconds : float
        Time spent in ``fit``.
    """

    index: int
    estimator: Any = None
    error: str | None = None
    traceback: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the fit succeeded."""
        return self.error is None


def _fit_args(problem):
    if isinstance(problem, dict):
        return (), problem
    if isinstance(problem, tuple):
        return problem, {}
    return (problem,), {}


def _fit_batch(estimator, batch):
    """Fit a clone of ``estimator`` on each ``(index, problem)``; never raises."""
    from sklearn.base import clone

    out = []
    for index, problem in batch:
        start = time.perf_counter()
        try:
            args, kwargs = _fit_args(problem)
            with config_context(n_threads=1):  # Dask runs one task per core already
                est = clone(estimator).fit(*args, **kwargs)
            out.append(FitResult(index, est, seconds=time.perf_counter() - start))
        except Exception as exc:  # reported per item, the batch goes on
            out.append(FitResult(index, None, f"{type(exc).__name__}: {exc}",
                                 traceback.format_exc(), time.perf_counter() - start))
    return out


def _lost(batch, why: str) -> list[FitResult]:
    return [FitResult(i, None, why) for i, _ in batch]


def _fit_threads(estimator, batches, n_workers: int, deadline: float | None):
    """Outcomes of ``batches`` on daemon threads, stopping at ``deadline``.

    A batch still running at the deadline is reported as timed out; its thread cannot
    be stopped (Python threads cannot be killed) and finishes in the background.
    """
    import queue
    import threading

    todo: queue.Queue = queue.Queue()
    for i in range(len(batches)):
        todo.put(i)
    done: dict[int, list[FitResult]] = {}

    def work():
        while True:
            try:
                i = todo.get_nowait()
            except queue.Empty:
                return
            done[i] = _fit_batch(estimator, batches[i])

    threads = [threading.Thread(target=work, daemon=True, name=f"sparserec-fit-{k}")
               for k in range(max(1, min(n_workers, len(batches))))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
    while True:  # the deadline passed: no new batch starts
        try:
            todo.get_nowait()
        except queue.Empty:
            break
    return [done.get(i) for i in range(len(batches))]


def _fit_cluster(client, estimator, batches, deadline: float | None):
    """Outcomes of ``batches`` as tasks on a distributed ``client``: ``(results or None,
    error)`` per batch. Problems lost with a worker that died are retried one at a time,
    so that a fit that kills its worker takes down only itself."""
    from distributed import wait

    def remaining():
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    def run(group):
        futures = client.map(_fit_batch, [estimator] * len(group), group, pure=False)
        try:
            wait(futures, timeout=remaining())
        except TimeoutError:
            pass
        outcomes = []
        for fut in futures:
            if fut.status == "finished":
                outcomes.append((fut.result(), None))
            elif fut.status == "error":  # the task died (a worker crashed), not a fit
                exc = fut.exception()
                outcomes.append((None, f"{type(exc).__name__}: {exc}"))
            elif fut.status == "cancelled":  # e.g. by client.restart()
                outcomes.append((None, f"CancelledError: task {fut.key} was cancelled"))
            else:  # still pending or running at the deadline
                outcomes.append((None, "TimeoutError: not finished within timeout"))
        client.cancel([f for f in futures if f.status == "pending"])
        del futures
        return outcomes

    outcomes = run(batches)
    for k, (out, error) in enumerate(outcomes):
        if out is not None or error.startswith("TimeoutError"):
            continue
        # lost with a worker: retry each of its problems alone, one after the other (a
        # healthy fit that shared the dying worker now succeeds; the crasher fails again)
        retried = []
        for item in batches[k]:
            if deadline is not None and time.monotonic() >= deadline:
                retried += _lost([item], "TimeoutError: not finished within timeout")
                continue
            (res, err), = run([[item]])
            retried += res if res is not None else _lost([item], err)
        outcomes[k] = (retried, None)
    return outcomes


def fit_many(estimator, problems, client=None, *, batch_size: int = 1,
             timeout: float | None = None) -> list[FitResult]:
    """Fit clones of ``estimator`` on many independent problems, on Dask.

    Parameters
    ----------
    estimator : estimator
        An unfitted scikit-learn style estimator; each problem gets its own clone.
    problems : iterable
        One entry per fit: a tuple (``fit(*problem)``, e.g. ``(X, y)``), a dict
        (``fit(**problem)``), or a single array (``fit(problem)``).
    client : None, distributed.Client, str
        Where to run (see the module notes): ``None`` (active client, else threads),
        a ``Client``, a scheduler address, ``"local"``, or ``"threads"``/``"sync"``.
    batch_size : int, default=1
        Problems per task. Larger batches cut the per-task overhead (about a
        millisecond on a distributed scheduler) for tiny fits; an exception is still
        reported per problem.
    timeout : float, optional
        Seconds the whole call may take. Problems not finished by then are reported as
        failed (``"TimeoutError: ..."``) and the others keep their results. On a
        cluster their tasks are cancelled, but a fit already running cannot be stopped
        (Python threads cannot be killed): it keeps its worker thread busy until it
        returns (``client.restart()`` frees it; ``client="local"`` closes its cluster on
        return). With ``"threads"`` the fits run on daemon threads, and one still
        running at the deadline finishes in the background. Not available with
        ``"sync"`` or ``"processes"``.

    Returns
    -------
    results : list of FitResult
        One per problem, in input order: ``ok``, ``estimator`` (the fitted clone) or
        ``error`` (``"ExceptionType: message"``) and ``traceback``.

    Notes
    -----
    A fit that kills its worker process (a crash in compiled code, the memory limit)
    does not take the others down: on a distributed cluster, every problem lost with a
    worker is retried alone, one after the other, so healthy problems that shared the
    worker get their results and the crasher is reported (``KilledWorker``, after the
    scheduler's ``distributed.scheduler.allowed-failures`` attempts).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Lasso
    >>> from sparserec.distributed import fit_many
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 5))
    >>> problems = [(X, X @ rng.normal(size=5)) for _ in range(3)] + [(X, np.ones(29))]
    >>> results = fit_many(Lasso(alpha=0.1), problems, client="sync")
    >>> [r.ok for r in results]
    [True, True, True, False]
    >>> results[3].error.split(":")[0]
    'ValueError'
    """
    _require_dask()
    import dask

    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float, np.floating)) \
                or not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if isinstance(client, str) and client in _LOCAL_SCHEDULERS and client != "threads":
            raise ValueError(f"timeout needs fits that run beside the caller: client="
                             f"'threads', 'local', an address or a Client, not {client!r}")
    if not hasattr(estimator, "fit"):
        raise TypeError(f"estimator must have a fit method, got {type(estimator).__name__}")
    deadline = None if timeout is None else time.monotonic() + float(timeout)
    items = list(enumerate(problems))
    batches = [items[i:i + batch_size] for i in range(0, len(items), batch_size)]
    results: list[FitResult | None] = [None] * len(items)
    with _scheduler(client) as (scheduler, n_workers):
        if isinstance(scheduler, str) and deadline is not None:
            outs = _fit_threads(estimator, batches, n_workers, deadline)
            outcomes = [(o, None if o is not None else
                         f"TimeoutError: not finished within timeout={timeout} s")
                        for o in outs]
        elif isinstance(scheduler, str):
            tasks = [dask.delayed(_fit_batch, pure=False)(estimator, b) for b in batches]
            outcomes = [(out, None) for out in dask.compute(*tasks, scheduler=scheduler)]
        else:
            outcomes = _fit_cluster(scheduler, estimator, batches, deadline)
            outcomes = [(out, err if err is None or not err.startswith("TimeoutError")
                         else f"TimeoutError: not finished within timeout={timeout} s")
                        for out, err in outcomes]
    for batch, (out, crash) in zip(batches, outcomes, strict=True):
        for r in (out if out is not None else _lost(batch, crash)):
            results[r.index] = r
    return results
