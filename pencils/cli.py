"""pencils: linear pencils of Gaussian random matrices, their Dyson systems, certified solutions.

``pencils equations FILE``   the Dyson system of a pencil file (text, LaTeX or JSON)
``pencils solve FILE``       a verified high-precision solution, derivatives, sweeps
``pencils check FILE``       theory against a finite-N Monte Carlo
``pencils linearize EXPR``   the pencil of a rational matrix expression, as a pencil file
``pencils trace EXPR``       the limit of a normalised trace of a matrix expression
``pencils density FILE``     the spectral density of a resolvent along the real axis, edges, atoms
``pencils curve MODEL``      learning curves of an installed model (dsm)
``pencils figure MODEL``     the figures of a model
``pencils validate MODEL``   theory against simulation for a model
``pencils grid FILE``        a pencil's targets on an N-dimensional grid (Dask, Zarr store, resumable)
``pencils phase MODEL``      phase diagrams of a model on a grid (dsm)

Run ``pencils COMMAND --help`` for the options.
"""

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time

import mpmath
import sympy as sp

from . import __version__
from .dyson import DysonSystem
from .exceptions import PencilsError
from .io import DOMAINS, dumps, load
from .linearization import linearize
from .matrices import GaussianMatrix, WignerMatrix, ratio
from .parsing import names_in, parse_expression
from .traces import METHODS as TRACE_METHODS, trace
from .latex import latex_document, system_latex
from .montecarlo import monte_carlo
from .output import CSVSink, DocumentSink, RecordWriter, Terminated, interruption, json_document
from .balls import certified_digits
from .values import full_string
from .solver import GUARD, solve
from .sweep import sweep, sweep_layout

__all__ = ["main", "show_system", "parser", "ArgumentParser", "UsageError", "dps_option", "positive_int"]

MODEL_GROUP = "pencils.models"  # entry points: name = module with curve/figure/validate/equations(argv)
LARGE_EXPANSION = 2000  # determinant terms (Bregman's bound) from which `pencils equations` shows its progress
LARGE_SYSTEM = 20  # or unknowns
MODEL_COMMANDS = {"equations": "equations", "curve": "curve", "figure": "figure", "validate": "validate",
                  "phase": "phase"}


class UsageError(PencilsError):
    """Bad command-line input (reported as ``pencils: error: ...``, exit status 2)."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse with errors raised as :class:`UsageError` (one ``pencils: error:`` line, no exit)."""

    def error(self, message):
        self.print_usage(sys.stderr)
        raise UsageError(f"{message} (see {self.prog} --help)")


MIN_DPS, MAX_DPS = 10, 10_000
EXPRESSION_EXAMPLES = {
    "linearize": """examples:
  pencils linearize "(z - X*X.T)**-1" --matrix X:gaussian:1,psi
  pencils linearize "(X*X.T + lam)**-1 * X*X.T" --matrix X:gaussian:1,psi --param lam=positive --out r.pencil""",
    "trace": """examples:
  pencils trace "(z - X*X.T)**-1" --matrix X:gaussian:1,psi --at z=-1 psi=0.5
  pencils trace "(X*X.T + lam)**-2" --matrix X:gaussian:1,psi --at lam=1 psi=2 --dps 50 --derivative lam""",
}


def dps_option(text):
    """``--dps``: an integer number of decimal digits from 10 to 10 000."""
    try:
        dps = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of digits, got {text!r}") from None
    if not MIN_DPS <= dps <= MAX_DPS:
        raise argparse.ArgumentTypeError(f"expected {MIN_DPS} to {MAX_DPS} digits, got {dps}")
    return dps


def positive_int(text):
    """A positive integer option (``--N``, ``--seeds``, ``--order``...)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _pair(text):
    try:
        i, j = (int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I,J (two block numbers), got {text!r}") from None
    return (i, j)


def _assignment(text):
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value.strip()


def _targets(args):
    return args.target or [(1, 1)]


def _equations(args):
    pencil = load(args.file)
    names = dict(args.name or [])
    parameters = {str(s) for s in pencil.symbols}
    latex_names = {k: v for k, v in names.items() if k in parameters}
    if latex_names and not args.latex:
        raise UsageError(f"--name {next(iter(latex_names))}=...: a parameter's name is its LaTeX (with --latex); "
                         "entries of G are renamed with --name g11=q")
    show_system(pencil, _targets(args), names={k: v for k, v in names.items() if k not in parameters},
                eliminate=args.eliminate, latex=args.latex, standalone=args.standalone, as_json=args.json,
                label=args.file, latex_names=latex_names or None, symmetry=args.symmetry)
    return 0


def show_system(pencil, targets, names=None, eliminate=False, latex=False, standalone=False, as_json=False,
                label=None, latex_names=None, symmetry=True):
    """Print the Dyson system of ``pencil`` for ``targets`` as text, LaTeX or JSON.

    ``names`` renames entries of ``G`` everywhere; ``latex_names`` gives LaTeX for parameters;
    ``symmetry`` reduces by the pencil's block symmetries.
    """
    system = DysonSystem(pencil, target=targets, names=names, symmetry=symmetry)
    largest = max(system.reduction.sizes, default=0)
    terms = max(system.expansion_sizes.values(), default=0)
    large = terms >= LARGE_EXPANSION or len(system.unknowns) > LARGE_SYSTEM
    text = (lambda e: sp.sstr(e, order="none")) if large else str  # unsorted terms print 3x faster
    if large:
        print(f"pencils: {len(system.unknowns)} unknowns, {len(system.reduction.sizes)} reduced blocks of up to "
              f"size {largest}; the largest determinant has up to {terms:.3g} terms (Bregman's bound). The "
              "symbolic work grows with that number: seconds at a few thousand terms, hours and gigabytes "
              "of output beyond 1e6. The numerical solve (pencils solve) does not need the symbolic "
              "system. Progress below; Ctrl-C stops.", file=sys.stderr)
        system.generate(progress=True)
    eliminated = system.eliminate() if eliminate else None
    if as_json:
        data = {
            "pencil": {
                "name": pencil.name,
                "description": pencil.description,
                "sizes": [str(s) for s in pencil.sizes],
                "ratios": [str(r) for r in pencil.ratios],
                "parameters": [str(p) for p in pencil.parameters],
                "matrices": {n: m.declaration() for n, m in pencil.matrices.items()},
                "sha256": pencil.fingerprint(),
            },
            "unknowns": {str(system.symbols[u]): list(u) for u in system.unknowns},
            "reduction": {
                "summary": system.reduction_summary(),
                "blocks": [list(labels) for labels in system.reduction.labels],
                "unknowns_in_full_system": str(system.reduction.full_unknown_count()),
                "orbits": {str(system.symbols[u]): [list(e) for e in orbit] for u, orbit in system.orbits.items()},
            },
            "equations": [text(eq) for eq in system.equations],
            "targets": {str(system.symbols[t]): text(f) for t, f in system.target_formulas.items()},
        }
        if eliminated is not None:
            data["eliminated"] = str(eliminated)
        print(json.dumps(data, indent=1))
    elif latex:
        if standalone:
            print(latex_document(pencil, system, names=latex_names, eliminate=eliminate), end="")
        else:
            print(system_latex(system, latex_names))
            if eliminated is not None:
                print(sp.latex(eliminated))
    else:
        print(f"# {pencil.name or label}: {system.reduction_summary()}")
        for eq in system.equations:
            print(f"{eq.lhs} = {text(eq.rhs)}")
        for t, f in system.target_formulas.items():
            if t not in system.unknowns:
                print(f"{system.symbols[t]} = {text(f)}")
        if eliminated is not None:
            print(f"# eliminated:\n{eliminated.lhs} = 0")


def _solve(args):
    pencil = load(args.file)
    system = DysonSystem(pencil, target=_targets(args), symmetry=args.symmetry)
    at = dict(args.at or [])
    if args.sweep:
        return _sweep(args, pencil, system, at)
    solution = solve(system, at, dps=args.dps)
    derivatives = list(args.derivative or ())
    series = solution.taylor(derivatives, args.order) if derivatives else {}
    balls = solution.taylor(derivatives, args.order, balls=True) if derivatives and solution.certified else {}
    records, digits, zeros = {}, {}, set()
    for t in system.targets:
        name = str(system.symbols[t])
        records[name] = full_string(solution.targets[t], args.dps)
        digits[name] = solution.certified_digits(t)
        if t in system.structural_zeros:
            zeros.add(name)
        for w in derivatives:
            for order in range(1, args.order + 1):
                key = f"d{'' if order == 1 else order}{name}/d{w}{'' if order == 1 else order}"
                with mpmath.workdps(args.dps + GUARD):
                    value = series[w][t][order] * mpmath.factorial(order)
                records[key] = full_string(value, args.dps)
                digits[key] = certified_digits(balls[w][t][order], args.dps) if balls else 0
                if t in system.structural_zeros:
                    zeros.add(key)
    for key in zeros:
        records[key], digits[key] = "0", args.dps
    certificate = solution.certificate
    if args.json:
        data = {
            "point": {k: full_string(v, args.dps) for k, v in solution.point.items()},
            "values": records,
            "certified_digits": digits,
            "dps": args.dps,
            "residual": mpmath.nstr(solution.residual, 5),
            "iterations": solution.iterations,
            "checks": list(solution.checks),
            "structural_zeros": sorted(zeros),
            "proven": list(certificate.proven) if solution.certified else [],
            "uncertified_reason": solution.uncertified_reason,
            "path": solution.path,
            "pencil_sha256": pencil.fingerprint(),
        }
        print(json.dumps(data, indent=1))
    else:
        width = max(len(k) for k in records)
        for key, value in records.items():
            proof = (f"{digits[key]} digits certified" if solution.certified else "uncertified")
            if key in zeros:
                proof = "exact: zero by structure"
            print(f"{key:<{width}} = {value}   # {proof}")
        print(
            f"# dps {args.dps}, residual {mpmath.nstr(solution.residual, 3)}, {solution.iterations} "
            f"Newton iterations, checks: {', '.join(solution.checks)}; {solution.path}"
        )
        if solution.certified:
            print(f"# proven: {'; '.join(certificate.proven)}")
        else:
            print(f"# NOT certified: {solution.uncertified_reason}")
    return 0


def _sweep(args, pencil, system, at):
    """``pencils solve --sweep``: each point written (CSV: flushed line; JSON: at the end) as it is solved."""
    name, spec = args.sweep
    if name in at:
        raise UsageError(f"--sweep {name}={spec}: {name} is also fixed by --at {name}={at[name]}")
    values = _values(f"--sweep {name}={spec}", spec, args.log, args.dps)
    derivatives = args.derivative or ()
    columns, provenance = sweep_layout(system, name, at, args.dps, derivatives)
    if args.json:
        sink = DocumentSink(sys.stdout, json_document(columns, provenance, args.dps))
    else:
        sink = CSVSink(sys.stdout, columns, [f"# {k}: {v}" for k, v in provenance.items()], args.dps)
    with RecordWriter([sink], total=len(values)) as writer:
        sweep(system, name, values, at, dps=args.dps, derivatives=derivatives, progress=writer.add)
    return 0


def _check(args):
    pencil = load(args.file)
    targets = _targets(args)
    system = DysonSystem(pencil, target=targets)
    at = dict(args.at or [])
    solution = solve(system, at, dps=30)
    result = monte_carlo(pencil, at, N=args.N, seeds=args.seeds, targets=targets, seed=args.seed)
    allowance = 1 / args.N  # the finite-N bias of normalised traces is O(1/N)
    print(f"# N={result.N} (block sizes {result.sizes}), {result.seeds} seeds; "
          f"agreement: |theory - mean| <= 4 se + 1/N")
    print(f"{'entry':8} {'theory':>24} {'monte carlo':>24} {'std err':>10} {'|diff|/se':>10} agrees")
    disagree = 0
    for t in targets:
        theory = complex(solution.targets[t])
        mean, se = complex(result.mean[t]), result.stderr[t]
        difference = abs(theory - mean)
        agrees = difference <= 4 * se + allowance
        disagree += not agrees
        z = difference / se if se > 0 else float("inf")
        print(f"{f'g{t[0]},{t[1]}':8} {_c(theory):>24} {_c(mean):>24} {se:10.2e} {z:10.2f} {'yes' if agrees else 'NO'}")
    print(f"# {len(targets) - disagree} of {len(targets)} entries agree")
    return 0 if disagree == 0 else 1


def _declarations(args):
    """Matrices (``--matrix``), ratios (names in their shapes) and parameters of an expression command."""
    types = dict(args.param or [])
    ratios, parameters, matrices = {}, {}, {}
    for spec in args.matrix or []:
        parts = spec.split(":")
        if len(parts) not in (3, 4) or not parts[0].isidentifier() or parts[1] not in ("gaussian", "wigner"):
            raise UsageError(f"--matrix {spec!r}: expected NAME:gaussian:ROWS,COLS[:VARIANCE] or "
                             "NAME:wigner:SIZE[:VARIANCE]")
        name, kind, shape = parts[:3]
        dims = shape.split(",")
        if len(dims) != (2 if kind == "gaussian" else 1):
            raise UsageError(f"--matrix {spec!r}: a {kind} matrix needs {'ROWS,COLS' if kind == 'gaussian' else 'SIZE'}")
        for text in dims:
            for n in names_in(text, where=f"--matrix {name}"):
                ratios.setdefault(n, ratio(n))
        dims = [parse_expression(t, ratios, where=f"shape of {name}") for t in dims]
        variance = sp.Integer(1)
        if len(parts) == 4:
            for n in names_in(parts[3], where=f"variance of {name}"):
                if n not in ratios:
                    parameters.setdefault(n, _parameter(n, types.get(n)))
            variance = parse_expression(parts[3], ratios | parameters, where=f"variance of {name}")
        if name in matrices or name in ratios or name in parameters:
            raise UsageError(f"--matrix {spec!r}: the name {name} is used twice")
        matrices[name] = (GaussianMatrix(name, *dims, variance=variance) if kind == "gaussian"
                          else WignerMatrix(name, dims[0], variance=variance))
    for n in names_in(args.expression, where="the expression"):
        if n not in matrices and n not in ratios:
            parameters.setdefault(n, _parameter(n, types.get(n)))
    unknown = set(types) - set(parameters)
    if unknown:
        raise UsageError(f"--param {', '.join(sorted(unknown))}: not a parameter of the expression")
    return list(matrices.values()), list(parameters.values())


def _parameter(name, kind):
    if kind is not None and kind not in DOMAINS:
        raise UsageError(f"--param {name}={kind}: the type is one of {', '.join(DOMAINS)}")
    return sp.Symbol(name, **DOMAINS[kind or "complex"])


def _linearize(args):
    matrices, parameters = _declarations(args)
    lin = linearize(args.expression, matrices=matrices, parameters=parameters, name=args.pencil_name or "")
    text = dumps(lin.pencil)
    header = (f"# block ({lin.block[0]}, {lin.block[1]}) of the inverse of this pencil is {lin.expression}\n"
              f"# {lin.blocks} blocks ({lin.raw_blocks} before reduction); check on random matrices: relative "
              f"error {lin.check.relative_error:.1e}\n")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(header + text)
        _say(f"wrote {args.out}: block ({lin.block[0]}, {lin.block[1]}) of a {lin.blocks}-block pencil")
    else:
        print(header + text, end="")
    return 0


def _trace(args):
    matrices, parameters = _declarations(args)
    result = trace(args.expression, dict(args.at or []), dps=args.dps, method=args.method, matrices=matrices,
                   parameters=parameters)
    value = full_string(result.value, args.dps)
    derivatives = {}
    for w in args.derivative or []:
        with mpmath.workdps(args.dps + GUARD):
            derivatives[f"d/d{w}"] = full_string(result.derivative(w), args.dps)
    if args.json:
        print(json.dumps({
            "expression": str(result.expression), "value": value, "certified_digits": result.certified_digits,
            "dps": args.dps, "method": result.method, "description": result.description,
            "derivatives": derivatives, "checks": list(result.solution.checks),
            "pencil_sha256": result.linearization.pencil.fingerprint(),
        }, indent=1))
        return 0
    proof = f"{result.certified_digits} digits certified" if result.certified else "NOT certified"
    print(f"tau = {value}   # {proof}")
    for key, v in derivatives.items():
        print(f"{key} tau = {v}")
    print(f"# (1/N_r) E tr {result.expression} as N -> oo, N_r its number of rows; {result.description}")
    if not result.certified:
        print(f"# NOT certified: {result.solution.uncertified_reason}")
    return 0


def _density(args):
    from .density import density

    pencil = load(args.file)
    system = DysonSystem(pencil, target=_targets(args)[:1])
    xs = _values(f"--x {args.x}", args.x, args.log, args.dps)
    result = density(system, xs, dict(args.at or []), spectral=args.spectral, dps=args.dps,
                     edges=not args.no_edges)
    print("x,density,certified_digits")
    for x, value, digits in result.rows():
        print(f"{x},{value},{digits}")
    print(f"# density = -Im g(x + i eta)/pi, eta = 1e-{args.dps + 10}, of g{system.targets[0][0]}"
          f"{system.targets[0][1]} in {args.spectral}")
    if not args.no_edges:
        print(f"# edges: {', '.join(full_string(e, 20) for e in result.edges) or 'none found'}")
        print(f"# atoms: {', '.join(f'{full_string(x, 20)} (mass {full_string(m, 20)})' for x, m in result.atoms) or 'none'}")
        if result.note:
            print(f"# {result.note}")
    if args.plot:
        result.plot(args.plot)
        _say(f"wrote {args.plot}")
    return 0


def _c(x):
    return f"{x.real:.10g}" if x.imag == 0 else f"{x.real:.6g}{x.imag:+.6g}j"


def _values(option, text, log, dps):
    """The points of a grid option, the same syntax in every command: ``A:B:N``, ``a,b,c`` or one value."""
    from .grids import axis_points

    try:
        return axis_points(text, log=log, dps=dps, name=option + (" (--log)" if log else ""))
    except PencilsError as exc:
        raise UsageError(str(exc)) from None


def spacing_options(parser, what, geometric=False):
    """``--log`` / ``--linear``, mutually exclusive, into ``args.log``; the default is linear unless ``geometric``.

    Every command (and model) that reads grids ``START:STOP:COUNT`` offers the same pair.
    """
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--log", action="store_true", default=geometric,
                       help=f"{what}: a geometric grid START:STOP:COUNT{' (the default)' if geometric else ''}")
    group.add_argument("--linear", dest="log", action="store_false",
                       help=f"{what}: a linear grid{'' if geometric else ' (the default)'}")


def _grid(args):
    """``pencils grid``: tiles into the store as they finish; a summary on standard output."""
    from .grids import grid

    system = DysonSystem(load(args.file), target=_targets(args))
    axes = {}
    for name, text in args.axis:
        if name in axes:
            raise UsageError(f"--axis {name} is given twice")
        axes[name] = _values(f"--axis {name}={text}", text, name in args.log, args.dps)
    unknown = set(args.log) - set(axes)
    if unknown:
        raise UsageError(f"--log {', '.join(sorted(unknown))}: not an axis")
    tile = {}
    for name, text in args.tile:
        if not text.isdigit() or int(text) < 1:
            raise UsageError(f"--tile {name}={text}: SIZE must be a positive integer")
        tile[name] = int(text)
    start = time.perf_counter()
    ds = grid(system, axes, dict(args.at), dps=args.dps, tile=tile, store=args.store, resume=args.resume,
              scheduler=args.scheduler, workers=args.workers, derivatives=args.derivative)
    seconds = time.perf_counter() - start
    # reduced chunk by chunk from the store (lazy arrays): a 10^6-point grid's text column is never loaded whole
    proven = int((ds["certificate"] == "proven").sum())
    print(f"# {args.store}: {' x '.join(f'{n} {k}' for n, k in ds.sizes.items())} = {ds['certificate'].size} "
          f"points, {proven} proven, in {seconds:.1f} s")
    for name in [v for v in ds.data_vars if v.endswith("_digits")]:
        print(f"# {name[:-len('_digits')]}: at least {int(ds[name].min())} certified digits")
    print(f"# read it with: xarray.open_zarr({args.store!r})")
    return 0


def models():
    """``{name: entry point}`` of the installed models (entry point group ``pencils.models``).

    A model is a module with functions ``curve``, ``figure``, ``validate``,
    ``phase`` and ``equations`` (those it lacks are reported as such), each taking the command-line arguments after the model name
    and returning an exit status; an optional ``ERRORS`` tuple names exception
    classes to report as errors besides :class:`~pencils.PencilsError`. A
    package registers one in its metadata, e.g. in ``setup.cfg``::

        [options.entry_points]
        pencils.models =
            dsm = derivations.dsm.cli
    """
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=MODEL_GROUP)}


def _model(name):
    return models()[name].load()


def parser():
    """The argument parser of the ``pencils`` command."""
    p = ArgumentParser(prog="pencils", description=__doc__.replace("``", ""),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"pencils {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    e = sub.add_parser("equations", help="the Dyson system of a pencil file (or of a model: dsm)",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog="""examples:
  pencils equations pencils/examples/wishart_product.pencil --eliminate
  pencils equations pencils/examples/ridge.pencil --latex --name lam=\\lambda --name g11=r
  pencils equations dsm --m 1 --latex""")
    e.add_argument("file", help="a pencil file, or the name of a model (dsm)")
    e.add_argument("--target", type=_pair, action="append", help="entry I,J of E[L^-1] (default 1,1); repeatable")
    e.add_argument("--eliminate", action="store_true", help="reduce to one polynomial equation in the target")
    e.add_argument("--latex", action="store_true", help="LaTeX (amsmath aligned)")
    e.add_argument("--standalone", action="store_true", help="with --latex: a whole compilable document")
    e.add_argument("--json", action="store_true", help="JSON with SymPy-parsable strings")
    e.add_argument("--name", type=_assignment, action="append",
                   help="rename an entry of G (g11=q), or give a parameter its LaTeX (lam=\\lambda, with --latex); "
                        "repeatable")
    e.add_argument("--no-symmetry", dest="symmetry", action="store_false",
                   help="do not merge the unknowns that a permutation of blocks maps to each other")
    e.set_defaults(run=_equations)

    s = sub.add_parser("solve", help="verified high-precision solution of a pencil's system",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog="""examples:
  pencils solve pencils/examples/marchenko_pastur.pencil --at z=-1 psi=0.5 --derivative z --dps 50
  pencils solve pencils/examples/ridge.pencil --at psi=2 --sweep lam=1e-3:10:200 --log > ridge.csv""")
    s.add_argument("file", help="a pencil file (see docs/file_format.md)")
    s.add_argument("--at", type=_assignment, nargs="+", action="extend", help="NAME=VALUE ...", default=[])
    s.add_argument("--target", type=_pair, action="append", help="entry I,J of E[L^-1] (default 1,1); repeatable")
    s.add_argument("--derivative", action="append", help="parameter to differentiate in; repeatable")
    s.add_argument("--order", type=positive_int, default=1, help="highest derivative order (default 1)")
    s.add_argument("--dps", type=dps_option, default=30, help="decimal digits, 10 to 10000 (default 30)")
    s.add_argument("--sweep", type=_assignment, help="NAME=START:STOP:COUNT (COUNT >= 2) or NAME=A,B,...: a "
                                                     "warm-started sweep, CSV on standard output, one line per point "
                                                     "as it is solved")
    spacing_options(s, "with --sweep")
    s.add_argument("--json", action="store_true", help="JSON: values, certified digits, checks, provenance")
    s.add_argument("--no-symmetry", dest="symmetry", action="store_false",
                   help="solve the system without merging symmetric unknowns (same numbers, more unknowns)")
    s.set_defaults(run=_solve)

    c = sub.add_parser("check", help="theory against a finite-N Monte Carlo",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog="""example:
  pencils check pencils/examples/semicircle.pencil --at z=0.5+0.2j s=1 --N 400 --seeds 20""")
    c.add_argument("file", help="a pencil file (see docs/file_format.md)")
    c.add_argument("--at", type=_assignment, nargs="+", action="extend", default=[],
                   help="NAME=VALUE for every parameter and ratio")
    c.add_argument("--target", type=_pair, action="append", help="entry I,J of E[L^-1] (default 1,1); repeatable")
    c.add_argument("--N", type=positive_int, default=400, help="reference dimension (default 400)")
    c.add_argument("--seeds", type=positive_int, default=20, help="independent draws (default 20)")
    c.add_argument("--seed", type=int, default=0, help="seed of the first draw; draw s uses seed + s (default 0)")
    c.set_defaults(run=_check)

    for command, text, run in (("linearize", "the pencil of a rational matrix expression", _linearize),
                               ("trace", "the limit of (1/N) E tr of a rational matrix expression", _trace)):
        x = sub.add_parser(command, help=text, formatter_class=argparse.RawDescriptionHelpFormatter,
                           epilog=EXPRESSION_EXAMPLES[command])
        x.add_argument("expression", help="the matrix expression: sums, products, A.T, (A)**-1, scalars "
                                          "(multiples of the identity); read by the whitelist parser")
        x.add_argument("--matrix", action="append", metavar="SPEC",
                       help="NAME:gaussian:ROWS,COLS[:VARIANCE] or NAME:wigner:SIZE[:VARIANCE]; shapes are "
                            "ratios of N (names in them are ratios); entries have variance VARIANCE/N "
                            "(default 1); repeatable")
        x.add_argument("--param", type=_assignment, action="append", metavar="NAME=TYPE",
                       help="type of a parameter: complex (default), real or positive; repeatable")
        if command == "linearize":
            x.add_argument("--out", help="write the pencil file here (default: standard output)")
            x.add_argument("--name", dest="pencil_name", help="the name stored in the pencil file")
        else:
            x.add_argument("--at", type=_assignment, nargs="+", action="extend", default=[],
                           help="NAME=VALUE for every parameter and ratio")
            x.add_argument("--dps", type=dps_option, default=30, help="decimal digits, 10 to 10000 (default 30)")
            x.add_argument("--method", choices=TRACE_METHODS, default="auto",
                           help="pencil: one pencil; derivative: a repeated inverse as a derivative of a smaller "
                                "pencil; auto (default): the smaller")
            x.add_argument("--derivative", action="append", metavar="NAME", help="also d tau / d NAME; repeatable")
            x.add_argument("--json", action="store_true", help="JSON output")
        x.set_defaults(run=run)

    g = sub.add_parser("grid", help="a pencil's targets on an N-dimensional grid, in a resumable Zarr store",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog="""examples:
  pencils grid pencils/examples/marchenko_pastur.pencil --axis psi=0.25:4:6 --axis z=-3:-0.1:12 --log psi --store mp.zarr
  pencils grid pencils/examples/ridge.pencil --axis psi=0.5,2 --axis lam=1e-3:10:40 --log lam --derivative lam \\
      --store ridge.zarr --workers 2    # interrupted? the same command with --resume goes on""")
    g.add_argument("file", help="a pencil file (see docs/file_format.md)")
    g.add_argument("--axis", type=_assignment, action="append", required=True, metavar="NAME=GRID",
                   help="an axis: NAME=START:STOP:COUNT (linear unless --log NAME) or NAME=A,B,...; repeatable, "
                        "in dimension order; rows are warm-started along the last axis")
    g.add_argument("--log", action="append", default=[], metavar="NAME", help="a geometric axis; repeatable")
    g.add_argument("--at", type=_assignment, nargs="+", action="extend", default=[],
                   help="NAME=VALUE for the parameters that are not on an axis")
    g.add_argument("--target", type=_pair, action="append", help="entry I,J of E[L^-1] (default 1,1); repeatable")
    g.add_argument("--derivative", action="append", default=[], help="parameter to differentiate in; repeatable")
    g.add_argument("--dps", type=dps_option, default=30, help="decimal digits, 10 to 10000 (default 30)")
    g.add_argument("--store", required=True, help="the Zarr directory the tiles are written to as they finish")
    g.add_argument("--resume", action="store_true",
                   help="go on with the grid in --store (same arguments): done tiles are kept, the others computed")
    g.add_argument("--tile", type=_assignment, action="append", default=[], metavar="NAME=SIZE",
                   help="points per tile along an axis (default: the whole last axis, 1 along the others)")
    g.add_argument("--workers", type=positive_int, help="worker processes of the local Dask cluster (default: CPUs)")
    g.add_argument("--scheduler", help="synchronous (this process, no Dask), or the address of a running Dask "
                                       "scheduler (tcp://HOST:8786) whose workers have pencils installed")
    g.set_defaults(run=_grid)

    d = sub.add_parser("density", help="the spectral density -Im g(x + i0)/pi of a resolvent target, edges, atoms",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog="""example:
  pencils density pencils/examples/marchenko_pastur.pencil --at psi=0.5 --x 0.1:2.9:15 --plot mp.png""")
    d.add_argument("file", help="a pencil file")
    d.add_argument("--x", required=True, help="points: START:STOP:COUNT, A,B,... or one value; write --x=-2:2:41 "
                                              "when the first point is negative")
    spacing_options(d, "with --x")
    d.add_argument("--at", type=_assignment, nargs="+", action="extend", default=[],
                   help="NAME=VALUE for every other parameter and ratio")
    d.add_argument("--target", type=_pair, action="append", help="entry I,J of E[L^-1] (default 1,1)")
    d.add_argument("--spectral", default="z", help="the spectral parameter (default z)")
    d.add_argument("--dps", type=dps_option, default=30, help="decimal digits, 10 to 10000 (default 30)")
    d.add_argument("--plot", help="a PNG or PDF of the density, edges dotted, atoms marked")
    d.add_argument("--no-edges", action="store_true", help="skip locating edges and atoms (no elimination)")
    d.set_defaults(run=_density)

    for command, text in (("curve", "learning curves of a model"), ("figure", "the figures of a model"),
                          ("validate", "theory against simulation for a model"),
                          ("phase", "phase diagrams of a model on a grid (Dask, resumable)")):
        m = sub.add_parser(command, help=f"{text} (pencils {command} MODEL --help)",
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           epilog=f"example:\n  pencils {command} dsm --help     # the options of the DSM model")
        m.add_argument("model", choices=sorted(models()) or None,
                       help="an installed model (entry point group pencils.models)")
    return p


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM raises :class:`~pencils.output.Terminated` while the command runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _say(text):
    try:
        print(f"pencils: {text}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _notes(exc):
    for note in getattr(exc, "__notes__", ()):
        _say(note)


def _quiet_stdout():
    """After a broken pipe: point standard output at /dev/null so that exiting does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is both
        pass


def main(argv=None):
    """Entry point of the ``pencils`` command; returns the exit status.

    0 success; 1 a check that disagrees (``check``, ``validate``); 2 an error
    (one ``pencils: error: ...`` line, never a traceback, for bad input and for
    every error of the library and its models); 130 Ctrl-C (SIGINT), 143
    SIGTERM, 141 a closed output pipe. Records already computed are kept, and
    the command says how many it wrote where.
    """
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    errors = (PencilsError, OSError)
    with _sigterm_as_interrupt():
        try:
            if len(argv) >= 2 and argv[0] in MODEL_COMMANDS and argv[1] in models():
                # a model's command: the model parses its own options
                model = _model(argv[1])
                errors += tuple(getattr(model, "ERRORS", ()))
                run = getattr(model, MODEL_COMMANDS[argv[0]], None)
                if run is None:
                    raise UsageError(f"model {argv[1]} has no {argv[0]} command")
                rest = argv[2:]
            else:
                args = parser().parse_args(argv)
                run, rest = args.run, args
            return run(rest)
        except KeyboardInterrupt as exc:
            _say(interruption(exc))
            _notes(exc)
            return 143 if isinstance(exc, Terminated) else 130
        except BrokenPipeError:
            _quiet_stdout()
            return 141
        except errors as exc:
            _say(f"error: {exc}")
            _notes(exc)
            return 2
        except SystemExit as exc:  # argparse's --help and --version
            return exc.code if isinstance(exc.code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
