"""The ``sparserec`` command line.

Commands
--------
``sparserec --version``
``sparserec info``
    Versions, optional extras, and which backends can run here (and why not).
``sparserec demo [--out DIR] [--quick] [--family NAME ...]``
    Runs every solver family on bundled or generated data, prints a table of quality and
    time per family, and writes a report (PNG figures, ``index.html``, ``results.json``).
``sparserec deconvolve INPUT (--psf PSF | --psf-model NAME --fwhm F) -o OUTPUT [...]``
    Deconvolves a FITS or PNG/TIFF image (:func:`sparserec.imaging.deconvolve_file`):
    atomic write, never over the input, FITS header kept with HISTORY cards, optional
    ``--report`` PNG. With ``--tile N [--halo H] [--scheduler ADDRESS|local]`` the image
    is deconvolved in overlapping tiles on Dask
    (:func:`sparserec.distributed.deconvolve_tiled`) into a FITS file or Zarr store.

Demo contract
-------------
Each family provides a module of :mod:`sparserec.demos` (listed in :data:`FAMILY_DEMOS`)
with two functions. ``warm() -> None`` calls every method the family times once on a
tiny problem (numba compilation, first imports, cached tables); the CLI runs it first
and reports its time apart, so that no row's time includes a first-call cost, in every
family alike. ``run(quick: bool = False, random_state: int = 0) -> dict`` returns::

    {"title": str,                 # what the family does, one line
     "data": str,                  # what it ran on
     "rows": [{"method": str, "<metric>": float, ..., "time (s)": float}, ...],
     "notes": [str, ...],          # optional: what a reader needs to read the rows
     "figure": {"kind": ..., ...}} # optional, drawn by sparserec.plotting.plot_demo

The first row is sparserec's method, later rows are its baselines. A family whose module
does not exist yet is reported as missing; one that raises is reported as failed and the
others still run. The report records the versions, the command's parameters and the
seed.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
import os
import platform
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from ._version import __version__
from .backend import BACKENDS
from .utils.table import format_table, format_value

FAMILY_DEMOS = {
    "deconvolution": "sparserec.demos.deconv",
    "kronecker_sbl": "sparserec.demos.sbl",
    "block_coordinate_descent": "sparserec.demos.bcd",
    "orthogonal_dictionary": "sparserec.demos.dictionary",
    "sparse_wht": "sparserec.demos.wht",
    "self_calibration": "sparserec.demos.selfcal",
}

_CORE = ("numpy", "scipy", "sklearn", "skimage", "numba", "pywt", "matplotlib", "tqdm",
         "imageio", "threadpoolctl")
_EXTRAS = {"astropy": "astro", "dask": "dask", "distributed": "dask", "zarr": "dask",
           "cupy": "gpu"}


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


class _LazyChoices(Sequence):
    """A module's tuple of names, imported when argparse first looks at it (checking a
    value or printing that command's help), so that ``sparserec --help`` and ``sparserec
    info`` do not import the solver family that defines it. The argument needs a
    ``metavar`` (argparse would otherwise list the choices when the parser is built)."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def _values(self) -> tuple:
        return tuple(getattr(importlib.import_module(self.module), self.name))

    def __getitem__(self, index):
        return self._values()[index]

    def __len__(self) -> int:
        return len(self._values())


def _family_package(demo_module: str) -> str:
    """``sparserec.demos.bcd`` -> ``sparserec.bcd``: the solver family a demo runs."""
    return "sparserec." + demo_module.rsplit(".", 1)[1]


def _version_of(module: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return None
    try:
        return getattr(importlib.import_module(module), "__version__", "installed")
    except Exception as exc:  # installed but broken: say so rather than crash `info`
        return f"broken ({str(exc).splitlines()[0]})"


def _cmd_info(args) -> int:
    from .backend import backend_status

    print(f"sparserec {__version__} on Python {platform.python_version()} "
          f"({platform.system()} {platform.machine()}, {os.cpu_count()} CPUs)")
    print("\ncore dependencies:")
    for name in _CORE:
        print(f"  {name:<12} {_version_of(name) or 'MISSING'}")
    print("\noptional extras:")
    for name, extra in _EXTRAS.items():
        version = _version_of(name)
        print(f"  {name:<12} {version or f'not installed (pip install sparserec[{extra}])'}")
    print("\nbackends:")
    for name, (ok, reason) in backend_status().items():
        print(f"  {name:<12} {'yes' if ok else 'no ':<4} {reason}")
    print("\nsolver families:")
    for family, module in FAMILY_DEMOS.items():
        package = _family_package(module)
        built = importlib.util.find_spec(package) is not None
        print(f"  {family:<26} {package:<22} {'available' if built else 'missing'}")
    return 0


def _environment() -> dict:
    """What a demo ran on: versions of Python, sparserec and its dependencies, the CPU."""
    versions = {name: _version_of(name) for name in _CORE}
    return {"sparserec": __version__, "python": platform.python_version(),
            "platform": f"{platform.system()} {platform.machine()}",
            "cpus": os.cpu_count(), **{k: v for k, v in versions.items() if v}}


def _write_html(path: Path, results: dict, run_info: dict) -> None:
    from html import escape

    parts = ["<!doctype html><meta charset='utf-8'><title>sparserec demo</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
             "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:3px 8px}"
             "</style>",
             f"<h1>sparserec {escape(__version__)} demo</h1>"]
    for title in ("parameters", "environment", "time"):
        items = ", ".join(f"{escape(str(k))} = {escape(str(v))}"
                          for k, v in run_info[title].items())
        parts.append(f"<p><b>{title}</b>: {items}</p>")
    for family, res in results.items():
        parts.append(f"<h2>{escape(family)}</h2>")
        if res["status"] != "ok":
            parts.append(f"<p><b>{escape(res['status'])}</b> {escape(res.get('error', ''))}</p>")
            continue
        parts.append(f"<p>{escape(res['title'])}<br><i>{escape(res['data'])}</i><br>"
                     f"run {res['seconds']:.2f} s; first calls (warm-up, not in the rows) "
                     f"{res['warm_seconds']:.2f} s</p>")
        columns = list(dict.fromkeys(k for row in res["rows"] for k in row))
        parts.append("<table><tr>" + "".join(f"<th>{escape(c)}</th>" for c in columns) + "</tr>")
        for row in res["rows"]:
            cells = "".join(f"<td>{escape(format_value(row.get(c, '')))}</td>" for c in columns)
            parts.append(f"<tr>{cells}</tr>")
        parts.append("</table>")
        for note in res.get("notes", ()):
            parts.append(f"<p><small>{escape(note)}</small></p>")
        if res.get("figure_file"):
            parts.append(f"<p><img src='{escape(res['figure_file'])}' style='max-width:100%'></p>")
    from .io import atomic_output

    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text("\n".join(parts), encoding="utf-8")


def _cmd_demo(args) -> int:
    from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone

    from .base import progress
    from .io import atomic_output
    from .plotting import plot_demo

    unknown = sorted(set(args.family or ()) - set(FAMILY_DEMOS))
    if unknown:
        raise CLIError(f"--family must be among {sorted(FAMILY_DEMOS)}, got {unknown}")
    families = args.family or list(FAMILY_DEMOS)
    wall, cpu = time.perf_counter(), time.process_time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results, failed = {}, 0
    for family in progress(families, total=len(families), desc="demo", enabled=not args.quiet):
        module = FAMILY_DEMOS[family]
        if importlib.util.find_spec(_family_package(module)) is None:
            results[family] = {"status": "missing", "error": "this solver family is not built yet"}
            continue
        try:
            demo = importlib.import_module(module)
            start = time.perf_counter()
            if hasattr(demo, "warm"):  # first calls, timed apart (see the demo contract)
                demo.warm()
            warm_seconds = time.perf_counter() - start
            start = time.perf_counter()
            res = demo.run(quick=args.quick, random_state=args.seed)
        except Exception as exc:
            failed += 1
            results[family] = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
            continue
        res = {"status": "ok", **res, "seconds": time.perf_counter() - start,
               "warm_seconds": warm_seconds}
        figure = res.pop("figure", None)
        if figure is not None:
            fig = plot_demo(figure, figure=Figure())
            name = f"{family}.png"
            with atomic_output(out / name, overwrite=True) as tmp:
                fig.savefig(tmp, format="png", dpi=110)
            res["figure_file"] = name
        results[family] = res
    for family, res in results.items():
        print(f"\n== {family}: ", end="")
        if res["status"] != "ok":
            print(f"{res['status'].upper()} ({res['error']})")
            continue
        print(f"{res['title']}  [{res['seconds']:.1f} s; first calls "
              f"{res['warm_seconds']:.1f} s]\n   data: {res['data']}")
        print(format_table(res["rows"], indent=3))
        for note in res.get("notes", ()):
            print(f"   note: {note}")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    run_info = {"parameters": {"quick": args.quick, "seed": args.seed,
                               "families": ", ".join(families)},
                "environment": _environment(),
                "time": {"wall (s)": round(wall, 2), "CPU, all threads (s)": round(cpu, 2)}}
    with atomic_output(out / "results.json", overwrite=True) as tmp:
        tmp.write_text(json.dumps({**run_info, "families": results}, indent=2, default=float),
                       encoding="utf-8")
    _write_html(out / "index.html", results, run_info)
    print(f"\ndemo took {wall:.1f} s ({cpu:.1f} s of CPU time); report written to "
          f"{out / 'index.html'}")
    return 1 if failed else 0


def _cmd_deconvolve(args) -> int:
    from .imaging import deconvolve_file

    if args.psf_model is not None and args.fwhm is None:
        raise CLIError(f"--psf-model {args.psf_model} needs --fwhm (in pixels)")
    if args.report is not None and Path(args.report).resolve() == Path(args.output).resolve():
        raise CLIError("--report must differ from the output file")
    for path in (args.output, args.report):  # the library says overwrite=True: name the flag
        if path is not None and Path(path).exists() and not args.overwrite:
            raise CLIError(f"output {path!r} exists; pass --overwrite to replace it")
    background = args.background
    if background != "auto":
        try:
            background = _finite(background)
        except argparse.ArgumentTypeError:
            raise CLIError(f"--background must be 'auto' or a finite number, got "
                           f"{background!r}") from None
    noise = args.noise
    if noise is not None:
        try:
            noise = _finite(noise)
        except argparse.ArgumentTypeError:
            if not Path(noise).exists():
                raise CLIError(f"--noise must be a number or an image file, got "
                               f"{noise!r}") from None
    tiled = args.tile is not None or args.scheduler is not None or args.halo is not None
    if tiled:
        return _deconvolve_tiled(args, background, noise)
    res = deconvolve_file(args.input, args.output, psf=args.psf, psf_model=args.psf_model,
                          fwhm=args.fwhm, psf_size=args.psf_size, method=args.method,
                          n_scales=args.n_scales, k_sigma=args.k_sigma,
                          max_iter=args.max_iter, background=background, noise=noise,
                          overwrite=args.overwrite, report=args.report,
                          backend=args.backend, verbose=not args.quiet)
    if not args.quiet:
        sigma = ", ".join(f"{s:.3g}" for s in res.noise_sigma)
        extra = f"; report {res.report}" if res.report else ""
        print(f"{args.method}: wrote {res.output} in {res.seconds:.1f} s "
              f"(noise sigma {sigma}){extra}")
    return 0


def _finite(text: str) -> float:
    """A finite number (argparse names the flag in its error)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _k_sigma(text: str):
    """``--k-sigma``: ``sure`` or a finite number (its range is the library's to check)."""
    if text.strip().lower() == "sure":
        return "sure"
    try:
        return _finite(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected 'sure' or a finite number, got "
                                         f"{text!r}") from None


def _deconvolve_tiled(args, background, noise) -> int:
    """``deconvolve --tile/--scheduler``: :func:`sparserec.distributed.deconvolve_tiled`."""
    from .imaging import load_psf
    from .io import RASTER_SUFFIXES, read_image

    if args.report is not None:
        raise CLIError("--report is not available with --tile/--scheduler (the tiled "
                       "output is never gathered in one process)")
    tile = 1024 if args.tile is None else args.tile
    psf, _ = load_psf(args.psf, psf_model=args.psf_model, fwhm=args.fwhm, size=args.psf_size)
    source = args.input
    if str(source).lower().endswith(RASTER_SUFFIXES):  # rasters are small: read whole
        source = read_image(source).data
        if source.ndim != 2:
            raise CLIError(f"--tile needs a 2-D image; {args.input!r} has shape "
                           f"{source.shape} (use a FITS or Zarr input per plane)")
    if isinstance(noise, str) and noise.lower().endswith(RASTER_SUFFIXES):
        noise = read_image(noise).data  # a raster map is small: read whole
    from .distributed import deconvolve_tiled

    params = {"method": args.method, "n_scales": args.n_scales, "k_sigma": args.k_sigma,
              "max_iter": args.max_iter, "backend": args.backend}
    res = deconvolve_tiled(source, psf, tile=tile, halo=args.halo,
                           client=args.scheduler, output=args.output,
                           overwrite=args.overwrite, background=background,
                           noise_sigma=noise if isinstance(noise, float) else None,
                           noise_map=None if isinstance(noise, float) else noise,
                           progress=not args.quiet, **params)
    if not args.quiet:
        shape = tuple(sum(c) for c in res.tile)
        print(f"{args.method}: wrote {res.output} ({shape[0]}x{shape[1]} in "
              f"{len(res.tile[0])}x{len(res.tile[1])} tiles, halo {res.halo}) in "
              f"{res.seconds:.1f} s (noise sigma {res.noise_sigma:.3g})")
    return 0



def _add_deconvolve(sub) -> None:
    dec = sub.add_parser("deconvolve", help="deconvolve a FITS/PNG/TIFF image with a PSF",
                         description="Deconvolve an image with a known PSF (by default "
                         "the sparse estimator's SURE-weighted mixture of starlet, "
                         "Haar, Richardson-Lucy and Wiener paths). The output is written "
                         "atomically and never over the input.")
    dec.add_argument("input", help="input image (.fits/.fit/.fts[.gz], .png, .tif, .jpg)")
    dec.add_argument("-o", "--output", required=True, help="output image (same formats)")
    psf = dec.add_mutually_exclusive_group(required=True)
    psf.add_argument("--psf", help="PSF image file, centred at index k//2")
    psf.add_argument("--psf-model",
                     choices=_LazyChoices("sparserec.deconv.methods", "PSF_MODELS"),
                     metavar="NAME", help="use a PSF model (%(choices)s) of full width at "
                                          "half maximum --fwhm")
    dec.add_argument("--fwhm", type=_finite, help="FWHM of --psf-model, in pixels")
    dec.add_argument("--psf-size", type=int, help="side of the model PSF (default: auto)")
    dec.add_argument("--method", choices=_LazyChoices("sparserec.deconv.methods", "METHODS"),
                     default="auto", metavar="NAME",
                     help="deconvolution method: %(choices)s (default: %(default)s)")
    dec.add_argument("--n-scales", type=int, default=4, help="wavelet scales (default 4)")
    dec.add_argument("--k-sigma", type=_k_sigma, default="sure",
                     help="threshold: 'sure' (chosen by SURE, recorded in the FITS "
                          "history) or a number of noise standard deviations (default: "
                          "sure; with --tile, chosen once on the central crop and "
                          "shared by the tiles)")
    dec.add_argument("--max-iter", type=int,
                     help="iterations (default: the sparse estimators' 1000; Richardson-Lucy: 50)")
    dec.add_argument("--background", default="0",
                     help="sky level kept out of the positivity constraint: a number or "
                          "'auto' (astronomical images; default 0)")
    dec.add_argument("--noise", metavar="SIGMA|FILE",
                     help="noise standard deviation, or an image of it per pixel (FITS/PNG, "
                          "the input's shape; inf marks unusable pixels): inverse-variance "
                          "weights (default: estimated from the data)")
    dec.add_argument("--backend", choices=BACKENDS,
                     default="auto", help="compute backend (default: auto)")
    dec.add_argument("--report", help="also write a PNG with observed/deconvolved/"
                                      "residual/PSF panels")
    dec.add_argument("--overwrite", action="store_true",
                     help="replace an existing output (never the input)")
    dec.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    tiled = dec.add_argument_group(
        "tiled deconvolution on Dask (sparserec[dask]; output .fits or .zarr, written "
        "block by block)")
    tiled.add_argument("--tile", type=int, metavar="N",
                       help="deconvolve in tiles of about N x N pixels (default with "
                            "--scheduler: 1024)")
    tiled.add_argument("--halo", type=int, metavar="N",
                       help="overlap of the tiles in pixels (default: twice the PSF "
                            "half-width plus the starlet reach)")
    tiled.add_argument("--scheduler", metavar="ADDRESS|local",
                       help="Dask scheduler address (tcp://host:8786), 'local' (a local "
                            "cluster of one process per core), or 'threads'/'sync' "
                            "(default: threads)")
    dec.set_defaults(func=_cmd_deconvolve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sparserec",
        description="Classical sparse recovery and imaging: six published solvers.",
    )
    parser.add_argument("--version", action="version", version=f"sparserec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = sub.add_parser("info", help="versions and usable backends")
    info.set_defaults(func=_cmd_info)

    demo = sub.add_parser("demo", help="run every solver family on bundled data")
    demo.add_argument("--out", default="sparserec-demo",
                      help="report folder (default: ./sparserec-demo/)")
    demo.add_argument("--quick", action="store_true",
                      help="small sizes: about 10 s of CPU time, most of it compiling numba "
                           "kernels on first use (timed apart)")
    demo.add_argument("--family", action="append", metavar="NAME",
                      help=f"run only this family (repeatable): {', '.join(FAMILY_DEMOS)}")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(func=_cmd_demo)

    _add_deconvolve(sub)
    return parser


def _one_line_warnings(show):
    """``warnings.showwarning`` that prints run-time warnings (non-convergence, ...) as
    one line ``sparserec: warning: ...``; deprecations go to ``show`` as before."""
    def showwarning(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, (DeprecationWarning, PendingDeprecationWarning,
                                 FutureWarning)):
            return show(message, category, filename, lineno, file, line)
        print(f"sparserec: warning: {message}", file=sys.stderr if file is None else file)
    return showwarning


def main(argv=None) -> int:
    """Entry point of the ``sparserec`` command."""
    from .backend import BackendUnavailableError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warnings(warnings.showwarning)
            return args.func(args)
    except KeyboardInterrupt:
        print("sparserec: interrupted; no partial output was written", file=sys.stderr)
        return 130
    except (CLIError, ValueError, TypeError, OSError, ImportError, MemoryError,
            BackendUnavailableError) as exc:
        if os.environ.get("SPARSEREC_DEBUG"):
            raise
        print(f"sparserec: error: {exc} (set SPARSEREC_DEBUG=1 for a traceback)",
              file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
