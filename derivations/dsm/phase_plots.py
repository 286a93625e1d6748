"""Figures of DSM phase diagrams (matplotlib, written to a file: PNG, PDF, SVG...).

One row of panels per ``m``: the test error, the train error, the gap, the
interpolation indicator and the memorisation indicator as heatmaps over
(psi_n, psi_p), log-log, with contour lines; on every panel the line p = n and
the memorisation boundary of every ``m`` (solid for the panel's own ``m``,
dashed for the others), the panel's own interpolation boundary (dash-dot) and
the test error's turning curve (dotted); simulated points, if any, as circles
filled with their measured indicator on the memorisation panel.
"""

import math

import numpy as np

__all__ = ["plot_phase"]

PANELS = (
    ("test_error", "test error $\\mathcal{E}_{test}$", "log"),
    ("train_error", "train error $\\mathcal{E}_{train}$", "log"),
    ("gap", "gap $L_{test} - \\mathcal{E}_{train}$", "log"),
    ("interpolation", "interpolation $\\max(0, 1 - \\mathcal{E}_{train}/c_t)$", "unit"),
    ("memorisation", "memorisation $1 - L_{fresh}/c_t$", "signed"),
)
CMAPS = {"log": "viridis", "unit": "magma", "signed": "RdBu_r"}
BOUNDARY_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e")


def _m_label(m):
    return "∞" if m == math.inf else str(m)


def plot_phase(diagrams, boundaries, path, level=0.0, interpolation_level=0.9, simulations=None, title=""):
    """Draw the phase diagrams.

    Parameters
    ----------
    diagrams : dict
        ``{m: Dataset}`` from :func:`derivations.dsm.phase.phase_diagram`.
    boundaries : dict
        ``{m: (memorisation boundary, interpolation boundary, turning curve)}``:
        ``psi_p`` per ``psi_n`` (NaN where none; None not drawn).
    path : str or path
        The file; its suffix picks the format.
    level, interpolation_level : float
        The indicators' levels that the boundaries mark (drawn as contours too).
    simulations : dict, optional
        ``{m: [records]}`` with ``psi_n``, ``psi_p``, ``memorisation``.
    title : str

    Examples
    --------
    >>> import os, tempfile
    >>> from derivations.dsm.phase import boundary, phase_diagram, turning_curve
    >>> diagrams = phase_diagram([1, "inf"], ["0.5", "2"], ["0.25", "1", "4"], dps=15, scheduler="synchronous")
    >>> lines = {m: (boundary(ds), boundary(ds, indicator="interpolation"), turning_curve(ds))
    ...          for m, ds in diagrams.items()}
    >>> path = os.path.join(tempfile.mkdtemp(), "phase.png")
    >>> plot_phase(diagrams, lines, path, title="DSM, tanh")
    >>> os.path.getsize(path) > 10_000
    True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm, Normalize
    from matplotlib.lines import Line2D
    from matplotlib.ticker import LogFormatter, LogLocator, NullFormatter

    simulations = simulations or {}
    ms = list(diagrams)
    fig, axes = plt.subplots(len(ms), len(PANELS), figsize=(4.6 * len(PANELS), 4.0 * len(ms)), squeeze=False)
    colours = {m: BOUNDARY_COLOURS[i % len(BOUNDARY_COLOURS)] for i, m in enumerate(ms)}
    # one colour scale per metric across the rows, so that m = 1 and m = inf compare at a glance
    ranges = {}
    for key, _, scale in PANELS:
        values = np.concatenate([np.asarray(ds[key].values, dtype=float).ravel() for ds in diagrams.values()])
        values = values[np.isfinite(values)]
        if scale == "log":
            values = values[values > 0]
            low, high = (np.percentile(values, 1), values.max()) if len(values) else (1e-3, 1)
            ranges[key] = LogNorm(vmin=max(low, high * 1e-8), vmax=high)
        else:
            ranges[key] = Normalize(vmin=-1 if scale == "signed" else 0, vmax=1)
    for row, m in enumerate(ms):
        ds = diagrams[m]
        n = np.asarray(ds["psi_n"].values, dtype=float)
        p = np.asarray(ds["psi_p"].values, dtype=float)
        for col, (key, name, scale) in enumerate(PANELS):
            ax = axes[row][col]
            z = np.asarray(ds[key].values, dtype=float).T  # rows psi_p, columns psi_n
            mesh = ax.pcolormesh(n, p, np.ma.masked_invalid(z), norm=ranges[key], cmap=CMAPS[scale],
                                 shading="nearest", rasterized=True)
            fig.colorbar(mesh, ax=ax, shrink=0.9, extend="min" if scale == "signed" else "neither")
            if len(n) > 1 and len(p) > 1:
                _contours(ax, n, p, z, scale, level if key == "memorisation" else interpolation_level, ranges[key])
            low, high = min(n.min(), p.min()), max(n.max(), p.max())
            ax.plot([low, high], [low, high], color="white", lw=1.2, ls="-", alpha=0.9)
            ax.plot([low, high], [low, high], color="black", lw=0.8, ls=(0, (4, 3)))
            for other in ms:
                where, fits, turn = boundaries.get(other, (None, None, None))
                own = other == m
                if where is not None:
                    ax.plot(n, where, color=colours[other], lw=2.2 if own else 1.4, ls="-" if own else "--",
                            marker="o" if len(n) <= 12 else None, ms=3)
                if fits is not None and own:
                    ax.plot(n, fits, color=colours[other], lw=1.4, ls="-.")
                if turn is not None and own:
                    ax.plot(n, turn, color=colours[other], lw=1.2, ls=":")
            if key == "memorisation":
                for sim in simulations.get(m, ()):
                    ax.scatter([sim["psi_n"]], [sim["psi_p"]], c=[sim["memorisation"]], cmap=CMAPS[scale],
                               norm=ranges[key], s=70, edgecolors="cyan", linewidths=1.5, zorder=5, clip_on=False)
                    ax.annotate(f"{sim['memorisation']:.2f}", (sim["psi_n"], sim["psi_p"]), xytext=(5, 4),
                                textcoords="offset points", fontsize=7, color="black",
                                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75})
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlim(*_edges(n))  # the heatmap's cells, whole
            ax.set_ylim(*_edges(p))
            for axis, values in ((ax.xaxis, n), (ax.yaxis, p)):
                axis.set_minor_formatter(NullFormatter())
                if np.log10(values.max() / values.min()) < 2:  # few decades: label 1, 2, 5 of each
                    axis.set_major_locator(LogLocator(subs=(1, 2, 5)))
                    axis.set_major_formatter(LogFormatter(labelOnlyBase=False))
            ax.set_xlabel("$\\psi_n = n/d$")
            ax.set_ylabel("$\\psi_p = p/d$")
            ax.set_title(f"m = {_m_label(m)}: {name}", fontsize=10)
    handles = [Line2D([], [], color="black", ls=(0, (4, 3)), label="p = n")]
    handles += [Line2D([], [], color=colours[m], lw=2, label=f"memorisation = {level:g}, m = {_m_label(m)}" + (
        "" if _drawn(boundaries.get(m, (None,))[0]) else " (none on the grid)")) for m in ms]
    handles += [Line2D([], [], color="grey", ls="-.", label=f"interpolation = {interpolation_level:g}"),
                Line2D([], [], color="grey", ls=":", label="test error turns (m = 1: peak; m ≥ 2: bottom of the U)")]
    if any(simulations.values()):
        handles.append(Line2D([], [], marker="o", ls="", mfc="grey", mec="cyan", label="simulation (measured)"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=12)
    fig.tight_layout(rect=(0, 0.08 / len(ms), 1, 0.97))
    fig.savefig(path, dpi=130)
    plt.close(fig)


def _drawn(curve):
    """Whether a boundary has a point to draw."""
    return curve is not None and bool(np.isfinite(np.asarray(curve, dtype=float)).any())


def _edges(x):
    """The outer edges of log-spaced cells centred on the sorted values ``x``."""
    x = np.sort(np.asarray(x, dtype=float))
    if len(x) == 1:
        return x[0] / 1.5, x[0] * 1.5
    return x[0] * math.sqrt(x[0] / x[1]), x[-1] * math.sqrt(x[-1] / x[-2])


def _contours(ax, n, p, z, scale, level, norm):
    import warnings

    masked = np.ma.masked_invalid(z)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if scale == "log":
            top = np.log10(norm.vmax)
            levels = 10.0 ** np.arange(math.floor(np.log10(norm.vmin)), math.ceil(top) + 1)
            levels = levels[(levels > np.nanmin(z)) & (levels < np.nanmax(z))]
            if len(levels):
                cs = ax.contour(n, p, masked, levels=levels, colors="white", linewidths=0.6, alpha=0.8)
                ax.clabel(cs, fmt=lambda v: f"{v:g}", fontsize=6)
        else:
            levels = sorted({0.1, 0.5, level, 0.99} if scale == "unit" else {-0.5, level, 0.5})
            cs = ax.contour(n, p, masked, levels=levels, colors="white", linewidths=0.6, alpha=0.8)
            ax.clabel(cs, fmt=lambda v: f"{v:g}", fontsize=6)
