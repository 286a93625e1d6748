"""Figures of the DSM learning curves (matplotlib, written to files).

Theory is drawn as lines, simulations as points with error bars (one
standard error over seeds).
"""

__all__ = ["plot_curves", "plot_figure"]

METRICS = (("test_error", "test $\\mathcal{E}_{test}$", "-"), ("train_error", "train $\\mathcal{E}_{train}$", "--"))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _draw(ax, records, over, simulations=(), colour=None, label=""):
    xs = [float(r[over]) for r in records]
    for key, name, style in METRICS:
        ax.plot(xs, [float(r[key]) for r in records], style, color=colour, label=f"{label}{name}")
    for n, sim in enumerate(simulations):
        for key, name, _ in METRICS:
            ax.errorbar(float(sim[over]), sim[key], yerr=sim[key + "_stderr"], fmt="o" if key == "test_error" else "s",
                        color=colour, ms=4, capsize=2, mfc="none" if key == "train_error" else colour,
                        label=f"{label}{name.split()[0]}, simulation d={sim['d']} (± se)" if n == 0 else None)


def plot_curves(groups, over, path, title=""):
    """One panel: for each group ``(label, records, simulations)`` the train and test curves."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for n, (label, records, simulations) in enumerate(groups):
        _draw(ax, records, over, simulations, colours[n % len(colours)], label + ": " if label else "")
    _finish(ax, records_of(groups), over)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def records_of(groups):
    return [r for _, records, _ in groups for r in records]


def _finish(ax, records, over):
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel({"psi_p": "$\\psi_p = p/d$", "psi_n": "$\\psi_n = n/d$", "lam": "$\\lambda$"}[over])
    ax.set_ylabel("error")
    if over == "psi_p" and records:
        psi_n = float(records[0]["psi_n"])
        ax.axvline(psi_n, color="grey", lw=0.8, ls=":")
        ax.text(psi_n, ax.get_ylim()[1], " $p = n$", va="top", fontsize=8, color="grey")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7)


def plot_figure(curves, path, simulations=None):
    """The main figure: m = 1, m = inf, and their test errors compared.

    ``curves`` maps ``"1"`` and ``"inf"`` to records along ``psi_p``;
    ``simulations`` (optional) maps them to simulated points.
    """
    plt = _pyplot()
    simulations = simulations or {}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    titles = {"1": "m = 1: double descent", "inf": "m = $\\infty$: U-shaped test error"}
    for ax, (m, colour) in zip(axes, (("1", colours[0]), ("inf", colours[1]))):
        _draw(ax, curves[m], "psi_p", simulations.get(m, ()), colour)
        _finish(ax, curves[m], "psi_p")
        ax.set_title(titles[m])
    ax = axes[2]
    for m, colour in (("1", colours[0]), ("inf", colours[1])):
        records = curves[m]
        ax.plot([float(r["psi_p"]) for r in records], [float(r["test_error"]) for r in records], color=colour,
                label=f"test, m = {'∞' if m == 'inf' else m}")
        ax.plot([float(r["psi_p"]) for r in records], [float(r["gap"]) for r in records], ":", color=colour,
                label=f"gap $L_{{test}} - \\mathcal{{E}}_{{train}}$, m = {'∞' if m == 'inf' else m}")
    _finish(ax, curves["1"], "psi_p")
    ax.set_title("memorisation grows with m for p ≫ n")
    first = curves["1"][0]
    fig.suptitle(
        f"DSM with random features: {first['activation']}, t = {first['t']}, $\\psi_n$ = {float(first['psi_n']):g}, "
        f"$\\lambda$ = {float(first['lam']):g}" + ("" if first["data"] == "iso" else f", $\\psi_D$ = {first['psi_d']}"
                                                 if first["data"].startswith("subspace:") else f", C: {first['data']}"),
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
