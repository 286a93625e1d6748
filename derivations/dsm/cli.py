"""``pencils curve dsm``, ``pencils figure dsm`` and ``pencils equations dsm``.

The command-line face of the DSM model: option parsing, grids, output files.
Every option is checked before anything is computed (values, grids, ``--m``,
``--simulate``, output paths), and each record is written as soon as it is
computed (:mod:`pencils.output`), so an interruption or a late failure keeps the
points already done.
"""

import argparse
import math
import re
import sys
import time
from pathlib import Path

import mpmath

from pencils.cli import ArgumentParser, dps_option, positive_int, show_system, spacing_options
from pencils.exceptions import PencilsError
from pencils.output import CSVSink, DocumentSink, RecordWriter, check_outputs, json_document
from pencils.solver import GUARD
from pencils.grids import axis_points
from pencils.values import to_mpmath

from .pencils import COPIES, REPLICATED, dsm_pencil, targets
from .theory import DSMError, Theory, parse_m

__all__ = ["curve", "figure", "equations", "validate", "phase", "parse_grid", "m_option", "FIGURE_DEFAULTS"]

FIGURE_DEFAULTS = {"t": "0.1", "lam": "1e-3", "activation": "tanh", "psi_n": "2", "psi_p": "0.1:16:40"}
LATEX_NAMES = {"lam": r"\lambda", "mus": r"\mu_*", "mu1": r"\mu_1", "zeta": r"\zeta", "kappa": r"\kappa",
               "a": "a_t", "h": "h_t"}
SIMULATED = ("train_error", "test_error", "dsm_test_loss", "test_error_parallel", "test_error_orthogonal",
             "fresh_train_error")
#: columns of curve/figure records: theory rows (source = theory) and simulated rows (source = simulation:
#: means over seeds, with their standard errors, d and seeds)
KEYS = ("source", "m", "t", "psi_n", "psi_p", "psi_d", "data", "lam", "activation", "train_error", "test_error",
        "dsm_test_loss", "gap", "test_error_parallel", "test_error_orthogonal", "fresh_train_error", "dps", "residual",
        *(f"{k}_stderr" for k in SIMULATED), "d", "seeds", "m_average", "m_proxy")
MAX_M = 10**6
SIMULATE = {"d": 200, "seeds": 3, "points": 8, "m_proxy": None}


def m_option(text):
    """``--m``: a positive integer written as one (``2``, ``16``, ``1000000``) or ``inf``.

    >>> m_option("16"), m_option("inf")
    (16, inf)
    >>> m_option("1e400")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: m must be a positive integer (1, 2, ...) or inf, got '1e400'
    """
    word = str(text).strip().lower()
    if word in ("inf", "infinity", "∞"):
        return math.inf
    if not re.fullmatch(r"[0-9]+", word) or int(word) < 1:
        raise argparse.ArgumentTypeError(f"m must be a positive integer (1, 2, ...) or inf, got {text!r}")
    if len(word) > 7 or int(word) > MAX_M:
        raise argparse.ArgumentTypeError(f"m = {text} is too large for a finite-m pencil (3m + 5 blocks, at most "
                                         f"m = {MAX_M}); use --m inf for the limit m -> inf")
    return parse_m(int(word))


def _value(text, name, dps):
    """One value of an option: kept as the string when mpmath reads it (exact decimals), otherwise an exact
    expression (``sqrt(2)``) evaluated at ``dps`` + guard digits. Must be finite and real."""
    text = str(text).strip()
    try:
        with mpmath.workdps(dps + 2 * GUARD):
            try:
                x = mpmath.mpmathify(text)
                keep = text
            except (ValueError, TypeError):
                x = to_mpmath(text)
                keep = x
    except PencilsError as exc:
        raise DSMError(f"--{name.replace('_', '-')} {text!r}: {exc}") from None
    if not mpmath.isfinite(x) or mpmath.im(x) != 0:
        raise DSMError(f"--{name.replace('_', '-')} {text!r}: expected a finite real number")
    return keep if keep is text else mpmath.re(x)


def parse_grid(text, dps=30, name="value", log=True):
    """A value (``"2"``), a list (``"0.5,1,2"``) or a grid ``START:STOP:COUNT`` (geometric unless ``log=False``).

    Values that mpmath reads stay strings; exact expressions such as
    ``sqrt(2)`` become mpmath numbers at ``dps`` plus guard digits.

    >>> parse_grid("2"), parse_grid("0.5,1")
    ('2', ['0.5', '1'])
    >>> [float(x) for x in parse_grid("1:4:3")]
    [1.0, 2.0, 4.0]
    """
    text = str(text).strip()
    option = "--" + name.replace("_", "-")
    if ":" in text:
        try:
            return axis_points(text, log=log, dps=dps, name=f"{option} {text!r}")
        except PencilsError as exc:
            raise DSMError(str(exc)) from None
    if "," in text:
        return [_value(x, name, dps) for x in text.split(",")]
    return _value(text, name, dps)


def _plot_path(option, path):
    """Check that a plot can be drawn to ``path`` (matplotlib installed, a known format) before computing."""
    if path is None:
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure
    except ImportError:
        raise DSMError(f"{option} needs matplotlib: pip install 'pencils[plots]'") from None
    formats = Figure().canvas.get_supported_filetypes()
    suffix = Path(path).suffix.lstrip(".").lower()
    if suffix not in formats:
        raise DSMError(f"{option} {path!r}: unknown image format {suffix!r}; use one of {', '.join(sorted(formats))}")


def model_options(parser, activation=True):
    """The options every DSM command shares: ``--psi-d``, ``--activation`` (unless told), ``--dps``."""
    parser.add_argument("--psi-d", default="1", help="D/d of the data subspace in (0, 1] (default 1: isotropic)")
    if activation:
        parser.add_argument("--activation", default="tanh",
                            help="tanh, erf, relu (centred), poly:1,0.5 (default tanh)")
    parser.add_argument("--dps", type=dps_option, default=30, help="working precision, 10 to 10000 (default 30)")


def data_option(parser):
    """``--data``: the data covariance (a :class:`~derivations.dsm.data.DataModel` as text)."""
    parser.add_argument("--data", help="the data covariance C: iso, subspace:PSI_D, atoms:C1@W1,C2@W2,..., "
                                       "powerlaw:ALPHA[,K] or file:PATH (default iso; --psi-d X means subspace:X). "
                                       "Other than iso and subspace: m = 1 and inf only")


def _keys(theories):
    """The CSV/JSON columns: :data:`KEYS` and, for a data model with groups ``g1, g2, ...``, their test errors."""
    names = dict.fromkeys(f"test_error_{g}" for t in theories if not t.data.isotropic_or_subspace
                          for g in t.data.group_names())
    return KEYS + tuple(names) + tuple(f"{k}_stderr" for k in names)


def _options(prog, figure=False):
    p = ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    if not figure:
        p.add_argument("--m", type=m_option, action="append",
                       help="noise samples per point: a positive integer or inf (repeatable)")
        p.add_argument("--t", action="append", help="diffusion time t > 0 (repeatable)")
        p.add_argument("--psi-n", default="2", help="n/d: a value, a list a,b,c or a grid START:STOP:COUNT")
        p.add_argument("--psi-p", default="0.1:16:60", help="p/d (default 0.1:16:60, geometric)")
        p.add_argument("--lam", default="1e-3", help="ridge lambda >= 0 (default 1e-3)")
        p.add_argument("--csv", help="write the records as CSV (one line per point as it is computed)")
        p.add_argument("--json", help="write the records as JSON (replaced after every point)")
        p.add_argument("--plot", help="draw the curves (PNG, PDF, SVG...)")
        p.add_argument("--fresh", action="store_true",
                       help="also compute fresh_train_error, the loss on the training inputs with new noise (the "
                            "memorisation of docs/phase.md; finite m solves a larger pencil, about 2-3x slower)")
    else:
        p.add_argument("--out", default="out", help="folder for dsm.png and dsm.csv (default out/)")
        for key, value in FIGURE_DEFAULTS.items():
            p.add_argument("--" + key.replace("_", "-"), default=value, help=f"default {value}")
    model_options(p, activation=not figure)
    data_option(p)
    spacing_options(p, "grids", geometric=True)
    p.add_argument("--simulate", type=_simulate_spec,
                   help="also simulate the real model: d=200,seeds=3[,points=8] "
                        "(m = inf: exact noise average; m_proxy=64 for the finite-m proxy instead)")
    return p


def _simulate_spec(text):
    spec = dict(SIMULATE)
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        key, sep, value = (x.strip() for x in part.partition("="))
        if key not in spec or not sep:
            raise argparse.ArgumentTypeError(f"takes d=, seeds=, points=, m_proxy= (comma-separated); got {part!r}")
        try:
            spec[key] = positive_int(value)
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"{key}: {exc}") from None
    if spec["d"] < 10:
        raise argparse.ArgumentTypeError(f"d must be at least 10, got {spec['d']}")
    if spec["seeds"] < 2:
        raise argparse.ArgumentTypeError(f"seeds must be at least 2 (for a standard error), got {spec['seeds']}")
    return spec


def _check_t(values):
    for t in values:
        with mpmath.workdps(50):
            try:
                x = to_mpmath(t)
            except PencilsError as exc:
                raise DSMError(f"--t {t!r}: {exc}") from None
        if not mpmath.isfinite(x) or mpmath.im(x) != 0 or mpmath.re(x) <= 0:
            raise DSMError(f"--t {t!r}: the diffusion time must be a finite number > 0")


def _run(theory, psi_n, psi_p, lam, simulate=None, writer=None, activation=None):
    """Theory records along the grid (each handed to ``writer`` as soon as it is computed), and simulated
    points if asked (progress on standard error)."""
    log = sys.stderr
    start = time.perf_counter()
    t, dps = theory.t, theory.dps
    activation = theory.activation if activation is None else activation
    given = {"psi_n": psi_n, "psi_p": psi_p, "lam": lam}
    over = next(k for k, v in given.items() if isinstance(v, list))

    records = theory.curve(psi_n, psi_p, lam, progress=None if writer is None else
                           lambda record: writer.add({"source": "theory", **record}))
    print(f"# m={records[0]['m']}, t={t}: {len(records)} points in {time.perf_counter() - start:.2f} s "
          f"(dps {dps}, max residual {mpmath.nstr(max(r['residual'] for r in records), 3)})", file=log)
    simulations = []
    if simulate:
        from .simulation import simulate as run_simulation

        spec = simulate
        points = spec["points"]
        chosen = records if len(records) <= points else [
            records[round(i * (len(records) - 1) / max(points - 1, 1))] for i in range(points)
        ]
        for r in chosen:
            averaging = {} if spec["m_proxy"] is None else {"m_average": "proxy", "m_proxy": spec["m_proxy"]}
            sim = run_simulation(
                activation, float(t), float(r["psi_n"]), float(r["psi_p"]), float(r["lam"]),
                math.inf if records[0]["m"] == "inf" else int(records[0]["m"]), d=spec["d"], data=theory.data,
                seeds=spec["seeds"], **averaging,
            )
            simulations.append(_simulation_record(sim, r, over))
            if writer is not None:
                writer.add(_simulated_row(simulations[-1], r))
            print(f"#   simulated {over}={float(r[over]):.4g}: test {simulations[-1]['test_error']:.4g} "
                  f"± {simulations[-1]['test_error_stderr']:.2g} (theory {float(r['test_error']):.4g})", file=log)
    return records, simulations


def _simulation_record(sim, record, over):
    out = {over: record[over], "psi_n": record["psi_n"], "d": sim.d, "seeds": sim.seeds}
    for key in (k for k in SIMULATED if k != "fresh_train_error" or k in record):
        estimate = getattr(sim, key)
        out[key] = float(estimate.mean)
        out[key + "_stderr"] = float(estimate.stderr)
    for key, mean in sim.mean.items():
        if key not in SIMULATED:      # the groups g1, g2, ... of a data model
            out[key], out[key + "_stderr"] = float(mean), float(sim.stderr[key])
    out["m_average"], out["m_proxy"] = sim.m_average, sim.m_proxy
    return out


def _simulated_row(simulation, record):
    """A CSV/JSON row of a simulated point: the theory record's parameters, the simulated means and errors."""
    row = {k: record[k] for k in ("m", "t", "psi_n", "psi_p", "psi_d", "data", "lam", "activation", "dps")}
    row.update(source="simulation", **{k: v for k, v in simulation.items() if k not in row})
    return row


def provenance(theories, args):
    """The ``# key: value`` header of the model's CSV/JSON: the theories' :meth:`Theory.provenance` (every pencil
    with its hash, every m and t), the command's values and spacing, the simulation."""
    each = [theory.provenance() for theory in theories]
    header = {k: v for k, v in each[0].items() if k not in ("pencil", "m", "t")}
    for key, name in (("pencil", "pencils"), ("m", "m"), ("t", "t")):
        header[name] = ", ".join(dict.fromkeys(p[key] for p in each))
    header.update(
        fixed=", ".join(f"{k}={getattr(args, k)}" for k in ("psi_n", "psi_p", "lam") if getattr(args, k, None)),
        grids="geometric" if args.log else "linear",
        simulate=", ".join(f"{k}={v}" for k, v in args.simulate.items()) if args.simulate else "no",
    )
    return header


def _sinks(csv=None, json=None, stdout=False, header=None, keys=KEYS):
    """CSV/JSON sinks with the provenance ``header`` and the columns ``keys``."""
    lines = [f"# {k}: {v}" for k, v in header.items()]
    sinks = [CSVSink(csv, keys, lines)] if csv else []
    if json:
        sinks.append(DocumentSink(json, json_document(keys, header)))
    if stdout:
        sinks.append(CSVSink(sys.stdout, keys, lines))
    return sinks


def _grids(args):
    grids = {k: parse_grid(getattr(args, k), args.dps, k, args.log) for k in ("psi_n", "psi_p", "lam")}
    swept = [k for k, v in grids.items() if isinstance(v, list)]
    if len(swept) > 1:
        raise DSMError(f"give a list or a grid for at most one of --psi-n, --psi-p, --lam (got lists for "
                       f"{', '.join(swept)})")
    if not swept:                 # one point: a curve in psi_p of one value
        grids["psi_p"] = [grids["psi_p"]]
        swept = ["psi_p"]
    return grids, swept[0]


def curve(argv):
    """``pencils curve dsm ...``: learning curves as CSV/JSON/PNG (CSV on standard output by default)."""
    args = _options("pencils curve dsm").parse_args(argv)
    ms = args.m or [1]
    ts = args.t or ["0.1"]
    _check_t(ts)
    _value(args.psi_d, "psi_d", args.dps)
    grids, over = _grids(args)
    check_outputs({"--csv": args.csv, "--json": args.json, "--plot": args.plot})
    _plot_path("--plot", args.plot)
    # every model is set up (constants, pencil) before the first point: bad input fails before any output
    theories = [(m, t, Theory(m=m, t=t, activation=args.activation, psi_d=args.psi_d, dps=args.dps,
                              fresh=args.fresh, data=args.data))
                for m in ms for t in ts]
    sinks = _sinks(args.csv, args.json, not (args.json or args.csv or args.plot),
                   provenance([theory for _, _, theory in theories], args), _keys([th for _, _, th in theories]))
    total = len(ms) * len(ts) * len(grids[over])
    groups = []
    with RecordWriter(sinks, total=total) as writer:
        for m, t, theory in theories:
            records, sims = _run(theory, grids["psi_n"], grids["psi_p"], grids["lam"], args.simulate, writer,
                                 args.activation)
            label = f"m={'∞' if m == math.inf else m}" + (f", t={t}" if len(ts) > 1 else "")
            groups.append((label, records, sims))
        if args.plot:
            from .plots import plot_curves

            data = theories[0][2].data
            plot_curves(groups, over, args.plot, title=f"DSM random features ({args.activation}"
                        + ("" if data.kind == "isotropic" else f", {data.text}") + ")")
    return 0


def figure(argv):
    """``pencils figure dsm``: the poster's figure (PNG) and its numbers (CSV) in ``--out``."""
    args = _options("pencils figure dsm", figure=True).parse_args(argv)
    start = time.perf_counter()
    _check_t([args.t])
    _value(args.psi_d, "psi_d", args.dps)
    for name in ("psi_n", "lam"):
        if isinstance(parse_grid(getattr(args, name), args.dps, name, args.log), list):
            raise DSMError(f"--{name.replace('_', '-')}: the figure sweeps psi_p; give a single value")
    psi_p = parse_grid(args.psi_p, args.dps, "psi_p", args.log)
    if not isinstance(psi_p, list):
        raise DSMError("--psi-p: the figure needs a list or a grid START:STOP:COUNT")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise DSMError(f"--out {args.out!r} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    check_outputs({"--out (dsm.csv)": out / "dsm.csv", "--out (dsm.png)": out / "dsm.png"})
    _plot_path("the figure", out / "dsm.png")
    theories = {m: Theory(m=m, t=args.t, activation=args.activation, psi_d=args.psi_d, dps=args.dps, data=args.data)
                for m in ("1", "inf")}
    psi_n, lam = (parse_grid(getattr(args, k), args.dps, k, args.log) for k in ("psi_n", "lam"))
    curves, sims = {}, {}
    with RecordWriter(_sinks(out / "dsm.csv", header=provenance(list(theories.values()), args),
                             keys=_keys(list(theories.values()))),
                      total=2 * len(psi_p)) as writer:
        for m, theory in theories.items():
            curves[m], sims[m] = _run(theory, psi_n, psi_p, lam, args.simulate, writer, args.activation)
        from .plots import plot_figure

        plot_figure(curves, out / "dsm.png", sims)
    print(f"wrote {out / 'dsm.png'} and {out / 'dsm.csv'} in {time.perf_counter() - start:.1f} s")
    return 0


def equations(argv):
    """``pencils equations dsm --m 1|inf|m|N [--structured] [--latex] [--json]``: the systems the model solves."""
    p = ArgumentParser(prog="pencils equations dsm")
    p.add_argument("--m", type=_equations_m, default=1,
                   help="noise samples per data point: 1, inf, m (the system for symbolic m, the one every "
                        "m >= 2 solves) or an integer >= 2 (that system at this m); default 1")
    p.add_argument("--structured", action="store_true", help="data on a subspace (psi_d < 1)")
    p.add_argument("--data", help="the system of the pencil with a deterministic C of this law (atoms:4@0.3,1@0.7, "
                                  "powerlaw:1,4, ...; m = 1 or inf)")
    p.add_argument("--latex", action="store_true", help="print the equations as LaTeX (amsmath aligned)")
    p.add_argument("--standalone", action="store_true", help="with --latex: a whole LaTeX document")
    p.add_argument("--json", action="store_true", help="print the pencil, the reduction and the equations as JSON")
    p.add_argument("--fresh", action="store_true",
                   help="the system with the source xi of the noise-averaged covariance U^inf (the fresh-noise loss; "
                        "finite m only, m = 1 as the replicated system at m = 1)")
    args = p.parse_args(argv)
    m = args.m
    if args.data:
        from .data import DataModel
        from .pencils import data_pencil, data_targets

        if m not in (1, math.inf) or (args.fresh and m != 1) or args.structured:
            raise DSMError("--data: the pencil with a deterministic C exists for --m 1 and --m inf (--fresh: m = 1; "
                           "not with --structured)")
        show_system(data_pencil(m, DataModel.parse(args.data).law, fresh=args.fresh), list(data_targets(m).values()),
                    latex=args.latex, standalone=args.standalone, as_json=args.json, latex_names=LATEX_NAMES)
        return 0
    if args.fresh and m == math.inf:
        raise DSMError("--fresh: at m = inf the fresh-noise loss is the train error; there is no other system")
    kind = REPLICATED if args.fresh or m not in (1, math.inf) else m
    pencil = dsm_pencil(kind, args.structured, args.fresh)
    if kind == REPLICATED and m != REPLICATED:
        pencil = pencil.subs({COPIES: m})
    show_system(pencil, list(targets(kind, args.structured, args.fresh).values()), latex=args.latex,
                standalone=args.standalone, as_json=args.json, latex_names=LATEX_NAMES)
    return 0


def _equations_m(text):
    """``--m`` of ``equations``: as :func:`m_option`, or ``m`` for the replicated pencil with symbolic m."""
    return REPLICATED if str(text).strip() == REPLICATED else m_option(text)


def validate(argv):
    """``pencils validate dsm``: the theory-against-simulation table (see :mod:`derivations.dsm.validation`)."""
    from .validation import main

    return main(argv)


def phase(argv):
    """``pencils phase dsm``: phase diagrams on a (psi_n, psi_p) grid (see :mod:`derivations.dsm.phase_cli`)."""
    from .phase_cli import phase as run

    return run(argv)
