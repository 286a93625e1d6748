"""``pencils curve dsm``, ``pencils figure dsm`` and ``pencils equations dsm``.

The command-line face of the DSM model: option parsing, grids, output files.
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import mpmath

from pencils.cli import show_system
from pencils.values import full_string
from pencils.sweep import grid

from .pencils import dsm_pencil, targets
from .theory import DSMError, Theory, parse_m

__all__ = ["curve", "figure", "equations", "validate", "parse_grid", "FIGURE_DEFAULTS"]

FIGURE_DEFAULTS = {"t": "0.1", "lam": "1e-3", "activation": "tanh", "psi_n": "2", "psi_p": "0.1:16:40"}
LATEX_NAMES = {"lam": r"\lambda", "mus": r"\mu_*", "mu1": r"\mu_1", "zeta": r"\zeta", "kappa": r"\kappa",
               "a": "a_t", "h": "h_t"}
KEYS = ("m", "t", "psi_n", "psi_p", "psi_d", "lam", "activation", "train_error", "test_error", "dsm_test_loss",
        "gap", "test_error_parallel", "test_error_orthogonal", "dps", "residual")


def parse_grid(text, dps=30):
    """A value (``"2"``), a list (``"0.5,1,2"``) or a geometric grid ``START:STOP:COUNT``.

    >>> parse_grid("2"), parse_grid("0.5,1")
    ('2', ['0.5', '1'])
    >>> [float(x) for x in parse_grid("1:4:3")]
    [1.0, 2.0, 4.0]
    """
    text = str(text).strip()
    if ":" in text:
        try:
            start, stop, count = text.split(":")
            count = int(count)
        except ValueError:
            raise DSMError(f"a grid is START:STOP:COUNT, got {text!r}") from None
        with mpmath.workdps(dps + 10):
            return grid(start, stop, count, log=True)
    if "," in text:
        return [x.strip() for x in text.split(",")]
    return text


def _options(prog, figure=False):
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    if not figure:
        p.add_argument("--m", action="append", help="noise samples per point: 1 or inf (repeatable)")
        p.add_argument("--t", action="append", help="diffusion time t > 0 (repeatable)")
        p.add_argument("--psi-n", default="2", help="n/d: a value, a list a,b,c or a grid START:STOP:COUNT")
        p.add_argument("--psi-p", default="0.1:16:60", help="p/d (default 0.1:16:60, geometric)")
        p.add_argument("--lam", default="1e-3", help="ridge lambda >= 0 (default 1e-3)")
        p.add_argument("--csv", help="write the records as CSV")
        p.add_argument("--json", help="write the records as JSON")
        p.add_argument("--plot", help="draw the curves (PNG)")
    else:
        p.add_argument("--out", default="out", help="folder for dsm.png and dsm.csv (default out/)")
        for key, value in FIGURE_DEFAULTS.items():
            p.add_argument("--" + key.replace("_", "-"), default=value, help=f"default {value}")
    p.add_argument("--psi-d", default="1", help="D/d of the data subspace in (0, 1] (default 1: isotropic)")
    if not figure:
        p.add_argument("--activation", default="tanh", help="tanh, erf, relu (centred), poly:1,0.5 (default tanh)")
    p.add_argument("--dps", type=int, default=30, help="working precision (default 30)")
    p.add_argument("--simulate", help="also simulate the real model: d=200,seeds=3[,points=8] "
                                      "(m = inf: exact noise average; m_proxy=64 for the finite-m proxy instead)")
    return p


def _simulate_spec(text):
    spec = {"d": 200, "seeds": 3, "points": 8, "m_proxy": None}
    for part in filter(None, (text or "").split(",")):
        key, _, value = part.partition("=")
        if key.strip() not in spec:
            raise DSMError(f"--simulate takes d=, seeds=, points=, m_proxy=; got {part!r}")
        spec[key.strip()] = int(value)
    return spec


def _run(m, t, activation, psi_d, psi_n, psi_p, lam, dps, simulate=None):
    """Theory records along the grid, and simulated points if asked (progress on standard error)."""
    log = sys.stderr
    start = time.perf_counter()
    theory = Theory(m=m, t=t, activation=activation, psi_d=psi_d, dps=dps)
    records = theory.curve(psi_n, psi_p, lam, progress=log.isatty() or None)
    print(f"# m={records[0]['m']}, t={t}: {len(records)} points in {time.perf_counter() - start:.2f} s "
          f"(dps {dps}, max residual {mpmath.nstr(max(r['residual'] for r in records), 3)})", file=log)
    simulations = []
    if simulate:
        from .simulation import simulate as run_simulation

        spec = _simulate_spec(simulate)
        over = next(k for k, v in (("psi_n", psi_n), ("psi_p", psi_p), ("lam", lam)) if isinstance(v, list))
        chosen = records if len(records) <= spec["points"] else [
            records[round(i * (len(records) - 1) / (spec["points"] - 1))] for i in range(spec["points"])
        ]
        for r in chosen:
            averaging = {} if spec["m_proxy"] is None else {"m_average": "proxy", "m_proxy": spec["m_proxy"]}
            sim = run_simulation(
                activation, float(t), float(r["psi_n"]), float(r["psi_p"]), float(r["lam"]),
                math.inf if records[0]["m"] == "inf" else int(records[0]["m"]), d=spec["d"], psi_d=float(psi_d),
                seeds=spec["seeds"], **averaging,
            )
            simulations.append(_simulation_record(sim, r, over))
            print(f"#   simulated {over}={float(r[over]):.4g}: test {simulations[-1]['test_error']:.4g} "
                  f"± {simulations[-1]['test_error_stderr']:.2g} (theory {float(r['test_error']):.4g})", file=log)
    return records, simulations


def _simulation_record(sim, record, over):
    out = {over: record[over], "psi_n": record["psi_n"], "d": sim.d, "seeds": sim.seeds}
    for key in ("train_error", "test_error", "dsm_test_loss", "test_error_parallel", "test_error_orthogonal"):
        estimate = getattr(sim, key)
        out[key] = float(estimate.mean)
        out[key + "_stderr"] = float(estimate.stderr)
    out["m_average"], out["m_proxy"] = sim.m_average, sim.m_proxy
    return out


def _text(value, dps):
    if isinstance(value, mpmath.mpf | mpmath.mpc):
        return full_string(value, dps)
    return str(value)


def _rows(records):
    return [{k: _text(r[k], r["dps"]) for k in KEYS if k in r} for r in records]


def _write_csv(records, path):
    rows = _rows(records)
    keys = [k for k in KEYS if any(k in r for r in rows)]
    lines = [",".join(keys)] + [",".join(r.get(k, "") for k in keys) for r in rows]
    Path(path).write_text("\n".join(lines) + "\n")


def curve(argv):
    """``pencils curve dsm ...``: learning curves as CSV/JSON/PNG (CSV on standard output by default)."""
    args = _options("pencils curve dsm").parse_args(argv)
    try:
        ms = [parse_m(m) for m in (args.m or ["1"])]
        ts = args.t or ["0.1"]
        grids = {k: parse_grid(getattr(args, k), args.dps) for k in ("psi_n", "psi_p", "lam")}
        groups, everything = [], []
        for m in ms:
            for t in ts:
                records, sims = _run(m, t, args.activation, args.psi_d, grids["psi_n"], grids["psi_p"], grids["lam"],
                                     args.dps, args.simulate)
                label = f"m={'∞' if m == math.inf else m}" + (f", t={t}" if len(ts) > 1 else "")
                groups.append((label, records, sims))
                everything += records
    except (DSMError, ValueError) as exc:
        print(f"pencils: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        Path(args.json).write_text(json.dumps(_rows(everything), indent=1) + "\n")
    if args.csv:
        _write_csv(everything, args.csv)
    if args.plot:
        from .plots import plot_curves

        over = next(k for k, v in grids.items() if isinstance(v, list))
        plot_curves(groups, over, args.plot, title=f"DSM random features ({args.activation})")
    if not (args.json or args.csv or args.plot):
        rows = _rows(everything)
        keys = [k for k in KEYS if any(k in r for r in rows)]
        print(",".join(keys))
        for r in rows:
            print(",".join(r.get(k, "") for k in keys))
    return 0


def figure(argv):
    """``pencils figure dsm``: the poster's figure (PNG) and its numbers (CSV) in ``--out``."""
    args = _options("pencils figure dsm", figure=True).parse_args(argv)
    start = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        psi_p = parse_grid(args.psi_p, args.dps)
        curves, sims, everything = {}, {}, []
        for m in ("1", "inf"):
            records, simulations = _run(m, args.t, args.activation, args.psi_d, args.psi_n, psi_p, args.lam,
                                        args.dps, args.simulate)
            curves[m], sims[m] = records, simulations
            everything += records
    except (DSMError, ValueError) as exc:
        print(f"pencils: error: {exc}", file=sys.stderr)
        return 2
    from .plots import plot_figure

    plot_figure(curves, out / "dsm.png", sims)
    _write_csv(everything, out / "dsm.csv")
    print(f"wrote {out / 'dsm.png'} and {out / 'dsm.csv'} in {time.perf_counter() - start:.1f} s")
    return 0


def equations(argv):
    """``pencils equations dsm --m 1 [--psi-d 0.5] [--latex] [--json]``: the systems the model solves."""
    p = argparse.ArgumentParser(prog="pencils equations dsm")
    p.add_argument("--m", default="1", help="1 or inf")
    p.add_argument("--structured", action="store_true", help="data on a subspace (psi_d < 1)")
    p.add_argument("--latex", action="store_true")
    p.add_argument("--standalone", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    try:
        m = parse_m(args.m)
    except DSMError as exc:
        print(f"pencils: error: {exc}", file=sys.stderr)
        return 2
    show_system(dsm_pencil(m, args.structured), list(targets(m, args.structured).values()), latex=args.latex,
                standalone=args.standalone, as_json=args.json, latex_names=LATEX_NAMES)
    return 0


def validate(argv):
    """``pencils validate dsm``: the theory-against-simulation table (see :mod:`derivations.dsm.validation`)."""
    from .validation import main

    return main(argv)
