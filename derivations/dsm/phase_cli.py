"""``pencils phase dsm``: phase diagrams of the DSM model on a (psi_n, psi_p) grid.

Every option is checked before anything is computed (values, grids, ``--m``,
``--level``, ``--simulate``, the plot's format, the stores); the grids run on
a local Dask cluster (``--workers``), in this process (``--scheduler
synchronous``) or on a running Dask cluster (``--scheduler ADDRESS``); with
``--store DIR`` each ``m`` streams tile by tile into ``DIR/m=<m>.zarr`` and a
killed run goes on with ``--resume``. Standard output gets the boundaries of the
memorisation phase and of interpolation as CSV (see :mod:`derivations.dsm.phase`).
"""

import argparse
import math
import sys
import time
from pathlib import Path

import mpmath

from pencils.cli import ArgumentParser, positive_int, spacing_options
from pencils.solver import GUARD

from .cli import _check_t, _plot_path, _simulate_spec, _value, data_option, m_option, model_options, parse_grid
from .data import DataModel
from .errors import DSMError
from .phase import (INTERPOLATION_LEVEL, LEVEL, PhaseRows, boundary, indicators, optimal_loss, phase_diagram,
                    solved_points, store_name, turning_curve)
from .theory import Theory

__all__ = ["phase", "parser", "axis"]

EPILOG = """examples:
  pencils phase dsm --psi-n 0.5:4:4 --psi-p 0.25:8:4 --m 1 --m inf --dps 15 --scheduler synchronous
  pencils phase dsm --psi-n 0.1:10:100 --psi-p 0.01:100:100 --m 1 --m inf --workers 2 \\
      --store out/phase --plot out/phase.png     # interrupted? the same command with --resume goes on"""


def parser():
    """The options of ``pencils phase dsm``."""
    p = ArgumentParser(prog="pencils phase dsm", description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    p.add_argument("--psi-n", default="0.1:10:20",
                   help="n/d axis: a value, a list a,b,c or a grid START:STOP:COUNT (default 0.1:10:20, geometric)")
    p.add_argument("--psi-p", default="0.01:100:30",
                   help="p/d axis, warm-started along (default 0.01:100:30, geometric)")
    spacing_options(p, "the axes", geometric=True)
    p.add_argument("--m", type=m_option, action="append",
                   help="noise samples per point: a positive integer or inf; repeatable, one grid each "
                        "(default: 1 and inf)")
    p.add_argument("--t", default="0.1", help="diffusion time t > 0 (default 0.1)")
    p.add_argument("--lam", default="1e-3", help="ridge lambda > 0 (default 1e-3)")
    model_options(p)
    data_option(p)
    p.add_argument("--level", default=f"{LEVEL:g}",
                   help="level of the memorisation indicator 1 - L_fresh/c_t (L_fresh: the loss on the training "
                        "inputs with new noise) that marks the memorisation phase, below 1 (default "
                        f"{LEVEL:g}: the trained score as near the empirical optimal score as the true score is)")
    p.add_argument("--interpolation-level", default=f"{INTERPOLATION_LEVEL:g}",
                   help="level of the interpolation indicator max(0, 1 - E_train/c_t) that marks where the score "
                        f"fits its n m training pairs, in (0, 1) (default {INTERPOLATION_LEVEL:g})")
    p.add_argument("--no-refine", action="store_true",
                   help="locate the boundaries by interpolation between grid points only (default: root finding "
                        "along psi_p with the theory)")
    p.add_argument("--store", help="a folder: grid m is written to DIR/m=<m>.zarr tile by tile as tiles finish")
    p.add_argument("--resume", action="store_true",
                   help="go on with the grids in --store (same arguments): done tiles are kept, the others computed")
    p.add_argument("--workers", type=positive_int, help="worker processes of the local Dask cluster (default: CPUs)")
    p.add_argument("--scheduler",
                   help="synchronous (this process, no Dask), or the address of a running Dask scheduler "
                        "(tcp://HOST:8786) whose workers have pencils installed (default: a local cluster)")
    p.add_argument("--plot", help="draw the diagram (PNG, PDF, SVG...): heatmaps, contours, p = n, boundaries")
    p.add_argument("--simulate", type=_simulate_spec,
                   help="also simulate the real model at a few grid points and mark them on the plot: "
                        "d=200,seeds=3[,points=8] (m = inf: exact noise average; m_proxy=64 for the finite-m proxy)")
    p.add_argument("--progress", action="store_true", help="a progress bar on standard error even when it is "
                                                           "not a terminal")
    return p


def axis(text, name, dps, linear=False):
    """An axis of the diagram from ``--psi-n`` / ``--psi-p`` text: ``[value]``, a list, or ``START:STOP:COUNT``
    (geometric unless ``linear``); every value finite and > 0. Nothing is evaluated as Python.

    >>> [float(x) for x in axis("1:4:3", "psi_n", 20)]
    [1.0, 2.0, 4.0]
    >>> axis("0.5,2", "psi_p", 20)
    ['0.5', '2']
    >>> axis("0:1:3", "psi_n", 20)
    Traceback (most recent call last):
    ...
    derivations.dsm.errors.DSMError: --psi-n '0:1:3': a geometric grid needs real, non-zero ends of the same sign, got 0 and 1
    """
    text = str(text).strip()
    option = "--" + name.replace("_", "-")
    values = parse_grid(text, dps, name, log=not linear)
    values = values if isinstance(values, list) else [values]
    with mpmath.workdps(dps + GUARD):
        for x in values:
            if mpmath.mpmathify(x) <= 0:
                raise DSMError(f"{option} {text!r}: {name} must be > 0, got {x}")
        if len({mpmath.mpmathify(x) for x in values}) != len(values):
            raise DSMError(f"{option} {text!r}: a value repeats")
    return values


def _level(text, option="--level"):
    """A level from the command line: below 1 for ``--level``, in (0, 1) for ``--interpolation-level``."""
    unit = option != "--level"
    wanted = "a number in (0, 1)" if unit else "a number below 1"
    try:
        level = float(text)
    except ValueError:
        raise DSMError(f"{option} {text!r}: expected {wanted}") from None
    if not (0 < level < 1 if unit else level < 1) or not math.isfinite(level):
        raise DSMError(f"{option} {text!r}: the level must be {'in (0, 1)' if unit else 'below 1'}")
    return level


def _check_stores(args, ms, axes, fixed):
    """Refuse, before computing, a store that exists without --resume or that holds another grid."""
    if args.store is None:
        if args.resume:
            raise DSMError("--resume needs --store")
        return
    folder = Path(args.store)
    if folder.exists() and not folder.is_dir():
        raise DSMError(f"--store {args.store!r} is a file, not a folder")
    from pencils.grids import check_store
    from pencils.store import StoreError

    for m in ms:
        path = folder / store_name(m)
        rows = PhaseRows(m=m, t=args.t, activation=args.activation, psi_d=args.psi_d, dps=args.dps, data=args.data)
        try:
            check_store(path, rows, axes, fixed, dps=args.dps, along="psi_p", resume=args.resume)
        except StoreError as exc:
            raise DSMError(f"--store: {exc}") from None


def _simulation_points(ds, count, d):
    """Up to ``count`` grid points cheap enough to simulate at dimension ``d`` (n, p <= 5 d), on both sides of
    p = n: ``[(psi_n, psi_p)]``."""
    import numpy as np

    ns = [float(x) for x in ds["psi_n"].values if float(x) * d <= 5 * d]
    ps = np.array([float(x) for x in ds["psi_p"].values if float(x) * d <= 5 * d])
    if not ns or not len(ps):
        return []
    chosen = []
    picks = [ns[round(i * (len(ns) - 1) / max(count // 2 - 1, 1))] for i in range(max(count // 2, 1))]
    for n in dict.fromkeys(picks):
        for factor in (0.5, 2.0):
            p = float(ps[np.argmin(abs(np.log(ps) - math.log(factor * n)))])
            if (n, p) not in chosen:
                chosen.append((n, p))
    return chosen[:count]


def _simulate(spec, m, ds, args, data, log):
    from .simulation import simulate

    c_t = float(optimal_loss(args.t, data=data))
    out = []
    for n, p in _simulation_points(ds, spec["points"], spec["d"]):
        averaging = {} if spec["m_proxy"] is None else {"m_average": "proxy", "m_proxy": spec["m_proxy"]}
        sim = simulate(args.activation, float(mpmath.mpmathify(args.t)), n, p, float(mpmath.mpmathify(args.lam)), m,
                       d=spec["d"], data=data, seeds=spec["seeds"], **averaging)
        train, fresh = sim.train_error, sim.fresh_train_error
        record = {"m": m, "psi_n": n, "psi_p": p, "d": sim.d, "seeds": sim.seeds,
                  "train_error": float(train.mean), "train_error_stderr": float(train.stderr),
                  "fresh_train_error": float(fresh.mean), "fresh_train_error_stderr": float(fresh.stderr),
                  "test_error": float(sim.test_error.mean), "test_error_stderr": float(sim.test_error.stderr),
                  **{k: float(v) for k, v in indicators(
                      {"train_error": mpmath.mpf(train.mean), "fresh_train_error": mpmath.mpf(fresh.mean)},
                      c_t).items()},
                  "memorisation_stderr": float(fresh.stderr) / c_t,
                  "theory": float(ds["memorisation"].sel(psi_n=n, psi_p=p, method="nearest"))}
        out.append(record)
        print(f"#   simulated m={_m_text(m)} psi_n={n:.4g} psi_p={p:.4g} (d={sim.d}, {sim.seeds} seeds): memorisation "
              f"{record['memorisation']:.3f} ± {record['memorisation_stderr']:.2g} (theory {record['theory']:.3f})",
              file=log)
    return out


def _cells(x, n):
    """Two CSV cells: a boundary and its ratio to psi_n, empty where there is none."""
    return "," if math.isnan(x) else f"{x:.10g},{x / n:.6g}"


def _m_text(m):
    return "inf" if m == math.inf else str(m)


def phase(argv):
    """``pencils phase dsm ...``: the grids, the boundary as CSV on standard output, optionally a figure."""
    args = parser().parse_args(argv)
    log = sys.stderr
    ms = args.m or [1, math.inf]
    if len(set(ms)) != len(ms):
        raise DSMError(f"--m repeats a value: {', '.join(_m_text(m) for m in ms)}")
    _check_t([args.t])
    _value(args.psi_d, "psi_d", args.dps)
    data = DataModel.of(args.data, args.psi_d)
    lam = _value(args.lam, "lam", args.dps)
    if mpmath.mpmathify(lam) <= 0:
        raise DSMError(f"--lam {args.lam!r}: a phase diagram needs lam > 0")
    level = _level(args.level)
    interpolation_level = _level(args.interpolation_level, "--interpolation-level")
    axes = {k: axis(getattr(args, k), k, args.dps, linear=not args.log) for k in ("psi_n", "psi_p")}
    if args.workers is not None and args.scheduler not in (None, "processes"):
        raise DSMError("--workers sets the size of the local cluster; it does not go with --scheduler "
                       f"{args.scheduler}")
    _plot_path("--plot", args.plot)
    if args.plot:
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
    # every model is set up (constants, pencil) and its input checked before the first point
    theories = {}
    for m in ms:
        theories[m] = Theory(m=m, t=args.t, activation=args.activation, psi_d=args.psi_d, dps=args.dps, fresh=True,
                             data=args.data)
        theories[m]._check(axes["psi_n"], axes["psi_p"], [lam])
    _check_stores(args, ms, axes, {"lam": lam})

    stored = 0 if args.store is None else sum(solved_points(Path(args.store) / store_name(m)) for m in ms)
    start = time.perf_counter()
    diagrams = phase_diagram(ms, axes["psi_n"], axes["psi_p"], t=args.t, lam=lam, activation=args.activation,
                             psi_d=args.psi_d, data=args.data, dps=args.dps, store=args.store, resume=args.resume,
                             scheduler=args.scheduler, workers=args.workers,
                             progress=True if args.progress else None)
    seconds = time.perf_counter() - start
    points = sum(ds["memorisation"].size for ds in diagrams.values())
    computed = points - stored
    print(f"# {len(ms)} grid(s) of {len(axes['psi_n'])} x {len(axes['psi_p'])} points: {computed} points in "
          f"{seconds:.1f} s ({computed / seconds:.1f} points/s)" + (f", {stored} read from the store" if stored else ""),
          file=log)

    boundaries = {}
    print("m,psi_n,memorisation_boundary,memorisation_ratio,interpolation_boundary,interpolation_ratio,test_turn,"
          "certified_digits")
    for m, ds in diagrams.items():
        begin = time.perf_counter()
        theory = None if args.no_refine else theories[m]
        where = boundary(ds, level, theory=theory)
        fits = boundary(ds, interpolation_level, theory=theory, indicator="interpolation")
        turn = turning_curve(ds, "peak" if m == 1 else "bottom")
        boundaries[m] = (where, fits, turn)
        digits = ds["digits"].values
        failed = int((ds["certificate"].values != "proven").sum())

        for k, n in enumerate(ds["psi_n"].values):
            print(f"{_m_text(m)},{n:.10g},{_cells(where[k], n)},{_cells(fits[k], n)},"
                  f"{'' if math.isnan(turn[k]) else f'{turn[k]:.6g}'},{int(digits[k].min())}")
        print(f"# m={_m_text(m)}: boundaries memorisation = {level:g}, interpolation = {interpolation_level:g} "
              f"({'interpolated' if args.no_refine else 'root-found with the theory'}, "
              f"{time.perf_counter() - begin:.1f} s); {failed} points not proven; "
              f"fewest certified digits {int(digits.min())}", file=log)
    simulations = {}
    if args.simulate:
        for m, ds in diagrams.items():
            simulations[m] = _simulate(args.simulate, m, ds, args, data, log)
    if args.plot:
        from .phase_plots import plot_phase

        plot_phase(diagrams, boundaries, args.plot, level=level, interpolation_level=interpolation_level,
                   simulations=simulations,
                   title=f"DSM random features: {args.activation}, t = {args.t}, λ = {args.lam}"
                         + ("" if data.kind == "isotropic" else f", data {data.text}"))
        print(f"# wrote {args.plot}", file=log)
    return 0
