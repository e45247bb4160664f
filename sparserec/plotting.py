"""Figures shared by the gallery, ``sparserec demo`` and the CLI reports.

One implementation of each kind of figure: image panels (before/after/residual),
curves (NMSE vs SNR, suboptimality vs iterations, recovery vs samples), phase-transition
maps and sparse-coefficient stems. Every function returns a
:class:`matplotlib.figure.Figure`. Given ``figure=`` (a figure made with
``matplotlib.figure.Figure()``), it draws into it without :mod:`matplotlib.pyplot`: that is
what code writing files does (the CLI report and demo), since it neither touches the
caller's backend nor registers figures with pyplot. Without it, the figure is a new pyplot
figure, which notebooks and sphinx-gallery show; close those after saving
(``plt.close(fig)``). No function here selects a matplotlib backend.
"""

from __future__ import annotations

import math

import numpy as np

from .backend import to_host

__all__ = [
    "plot_image_panels",
    "plot_curves",
    "plot_convergence",
    "plot_phase_transition",
    "plot_stems",
    "plot_demo",
]


def _figure(figure, figsize):
    """``figure`` resized to ``figsize``, or a new pyplot figure of that size."""
    if figure is None:
        import matplotlib.pyplot as plt

        return plt.figure(figsize=figsize)
    figure.set_size_inches(figsize)
    return figure


def _axis(ax, figure, figsize):
    """``(figure, ax)``: the given axis, else one axis on :func:`_figure`."""
    if ax is not None:
        return ax.figure, ax
    fig = _figure(figure, figsize)
    return fig, fig.subplots()


def plot_image_panels(panels: dict, *, suptitle: str | None = None, cmap: str = "gray",
                      shared_range: str | None = None, ncols: int | None = None,
                      stretch: str = "linear", colorbar: bool = False, figure=None,
                      projections: dict | None = None):
    """Show images side by side, e.g. ``{"observed": y, "restored": x, "residual": r}``.

    Parameters
    ----------
    panels : dict
        Title → 2-D array.
    shared_range : str, optional
        Title of a panel whose display range all panels use (residuals excepted: a panel
        whose title starts with "residual" is always shown symmetric around 0).
    stretch : {"linear", "asinh"}
        ``"asinh"`` compresses bright sources so faint structure stays visible (astronomy).
    colorbar : bool
        Add a colour bar to each panel.
    figure : matplotlib.figure.Figure, optional
        Draw into this (empty) figure, resized to fit, instead of a new pyplot figure.
    projections : dict, optional
        Title → projection of that panel, e.g. an :class:`astropy.wcs.WCS` for sky
        coordinates on the axes (those panels keep their axes; others hide them).

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.plotting import plot_image_panels
    >>> fig = plot_image_panels({"a": np.eye(4), "residual": np.zeros((4, 4))})
    >>> len(fig.axes)
    2
    """
    n = len(panels)
    ncols = ncols or min(n, 4)
    nrows = math.ceil(n / ncols)
    # + 0.3 in: room for the titles above square images (tight_layout alone clips them)
    fig = _figure(figure, (3.4 * ncols, 3.4 * nrows + 0.3))
    projections = projections or {}
    ref = to_host(panels[shared_range]) if shared_range else None
    for i, (title, image) in enumerate(panels.items()):
        ax = fig.add_subplot(nrows, ncols, i + 1, projection=projections.get(title))
        image = to_host(image)
        if title.lower().startswith("residual"):
            lim = float(np.max(np.abs(image))) or 1.0
            im = ax.imshow(image, cmap="RdBu_r", vmin=-lim, vmax=lim)
        else:
            src = ref if ref is not None else image
            vmin, vmax = np.percentile(src, [0.5, 99.8])
            if stretch == "asinh":
                scale = max(float(np.std(src)), 1e-12)
                image = np.arcsinh((image - vmin) / scale)
                vmin, vmax = 0.0, float(np.arcsinh((vmax - vmin) / scale))
            im = ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_title(title)
        if title in projections:
            ax.set_xlabel(" ")  # WCSAxes labels its coordinates (RA, Dec) itself
        else:
            ax.set_axis_off()
        if colorbar:
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_curves(x, series: dict, *, xlabel: str, ylabel: str, title: str | None = None,
                logx: bool = False, logy: bool = False, markers: bool = True, ax=None,
                figure=None):
    """Line plot of several named series over a common ``x`` (one axis).

    ``series`` maps a label to y values, or to ``(x, y)`` when that series has its own x.
    Draws on ``ax`` if given, else on a new axis of ``figure`` (a
    :class:`matplotlib.figure.Figure`) or of a new pyplot figure.

    Examples
    --------
    >>> from sparserec.plotting import plot_curves
    >>> fig = plot_curves([1, 2, 3], {"a": [3, 2, 1]}, xlabel="SNR (dB)", ylabel="NMSE (dB)")
    >>> fig.axes[0].get_xlabel()
    'SNR (dB)'
    """
    fig, ax = _axis(ax, figure, (5.5, 4))
    for i, (label, values) in enumerate(series.items()):
        xs, ys = values if isinstance(values, tuple) else (x, values)
        ax.plot(to_host(np.asarray(xs)), to_host(np.asarray(ys)), label=label,
                marker="os^vD<>ph*"[i % 10] if markers else None, markersize=4)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_convergence(histories: dict, *, ylabel: str = "objective", optimum: float | None = None,
                     title: str | None = None, ax=None, figure=None):
    """Per-iteration ``history_`` of several fits; with ``optimum``, plot ``f − f*`` on a log axis.

    Examples
    --------
    >>> from sparserec.plotting import plot_convergence
    >>> fig = plot_convergence({"gs": [4, 2, 1], "gsl": [4, 1, 0.5]}, optimum=0.0)
    >>> fig.axes[0].get_yscale()
    'log'
    """
    series = {}
    for label, h in histories.items():
        h = np.asarray(h, dtype=float)
        if optimum is not None:
            h = np.maximum(h - optimum, np.finfo(float).tiny)
        series[label] = (np.arange(1, h.size + 1), h)
    return plot_curves(None, series, xlabel="iteration",
                       ylabel=f"{ylabel} − optimum" if optimum is not None else ylabel,
                       title=title, logy=optimum is not None, markers=False, ax=ax,
                       figure=figure)


def plot_phase_transition(values, x, y, *, xlabel: str, ylabel: str,
                          title: str | None = None, cbar_label: str = "success rate", ax=None,
                          figure=None):
    """A map of ``values[i, j]`` (e.g. success rate) over ``y[i]`` × ``x[j]``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.plotting import plot_phase_transition
    >>> fig = plot_phase_transition(np.eye(3), [1, 2, 3], [4, 5, 6], xlabel="m", ylabel="p")
    >>> fig.axes[0].get_ylabel()
    'p'
    """
    fig, ax = _axis(ax, figure, (5.5, 4.2))
    values = to_host(np.asarray(values, dtype=float))
    im = ax.imshow(values, origin="lower", aspect="auto", cmap="gray", vmin=0, vmax=1)
    ax.set_xticks(range(len(x)), [f"{v:g}" for v in x], rotation=45)
    ax.set_yticks(range(len(y)), [f"{v:g}" for v in y])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    fig.colorbar(im, ax=ax, label=cbar_label)
    fig.tight_layout()
    return fig


def plot_stems(truth, estimate, *, title: str | None = None, ax=None,
               labels=("true", "estimate"), figure=None):
    """Compare a sparse ground truth with an estimate (magnitudes for complex data).

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec.plotting import plot_stems
    >>> fig = plot_stems(np.array([0, 1.0, 0]), np.array([0, 0.9, 0.1]))
    >>> len(fig.axes)
    1
    """
    fig, ax = _axis(ax, figure, (7, 3))
    t, e = np.ravel(to_host(truth)), np.ravel(to_host(estimate))
    if np.iscomplexobj(t) or np.iscomplexobj(e):
        t, e = np.abs(t), np.abs(e)
    idx = np.arange(t.size)
    ax.stem(idx, t, linefmt="C0-", markerfmt="C0o", basefmt=" ", label=labels[0])
    ax.plot(idx, e, "C3x", markersize=5, label=labels[1])
    ax.set_xlabel("index")
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_demo(spec: dict, *, figure=None):
    """Build the figure that a family's demo describes (see :mod:`sparserec.cli`).

    ``spec["kind"]`` names one of this module's functions (``"image_panels"``,
    ``"curves"``, ``"convergence"``, ``"phase_transition"``, ``"stems"``); the other keys
    are its arguments. ``figure`` is passed on (draw into it, without pyplot).

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from sparserec.plotting import plot_demo
    >>> fig = plot_demo({"kind": "curves", "x": [1, 2], "series": {"a": [0, 1]},
    ...                  "xlabel": "x", "ylabel": "y"}, figure=Figure())
    >>> fig.axes[0].get_ylabel()
    'y'
    """
    spec = dict(spec)
    kind = spec.pop("kind")
    functions = {
        "image_panels": plot_image_panels,
        "curves": plot_curves,
        "convergence": plot_convergence,
        "phase_transition": plot_phase_transition,
        "stems": plot_stems,
    }
    if kind not in functions:
        raise ValueError(f"figure kind must be one of {sorted(functions)}, got {kind!r}")
    return functions[kind](**spec, figure=figure)
