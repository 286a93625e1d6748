"""Theory against simulation of the real model: the table of ``docs/dsm.md``.

``pencils validate dsm [--d 200] [--seeds 3] [--extrapolate] [--out FILE]``
simulates the real model (non-linear features, closed-form minimiser, fresh
test samples) at each point of :data:`POINTS` and compares every error with the
asymptotic theory. A value agrees when ``|simulation - theory| <= 3 se + 2 %
|theory|``. The finite-d bias is O(1/d); with ``--extrapolate`` each point is
also simulated at ``2d`` and the Richardson value ``2 E(2d) - E(d)`` (bias
O(1/d^2), standard error ``sqrt(4 se_2d^2 + se_d^2)``) is compared as well.
``--data TEXT`` (a :class:`~derivations.dsm.data.DataModel`, e.g.
``atoms:4@0.3,1@0.7``) runs :func:`data_points` for that covariance instead:
8 points, m = 1 and m = inf, every error and its part on each group of
eigen-directions.
"""

import math
import sys
import time
from dataclasses import dataclass

from .simulation import simulate
from .theory import Theory

__all__ = ["POINTS", "Point", "compare", "data_points", "markdown", "main"]


@dataclass(frozen=True)
class Point:
    """One comparison: model, activation, data and grid values (``data``, a DataModel's text, replaces
    ``psi_d`` when given)."""

    m: str
    t: str
    activation: str
    psi_d: str
    psi_n: float
    psi_p: float
    lam: str
    data: str = ""

    @property
    def model(self):
        """The data model's text, ``psi_d`` as ``subspace:PSI_D`` when no ``data`` is given."""
        return self.data or ("iso" if self.psi_d == "1" else f"subspace:{self.psi_d}")


POINTS = (
    Point("1", "0.1", "tanh", "1", 2, 0.25, "1e-3"),
    Point("1", "0.1", "tanh", "1", 2, 2, "1e-1"),
    Point("1", "0.1", "tanh", "1", 2, 16, "1e-1"),
    Point("inf", "0.1", "tanh", "1", 2, 0.5, "1e-3"),
    Point("inf", "0.1", "tanh", "1", 2, 4, "1e-3"),
    Point("inf", "0.01", "tanh", "1", 0.5, 16, "1e-1"),
    Point("1", "1", "relu", "0.5", 0.5, 1, "1e-1"),
    Point("inf", "1", "relu", "0.5", 0.5, 1, "1e-1"),
    Point("1", "0.01", "relu", "1", 0.5, 0.25, "1e-3"),
    Point("inf", "0.1", "relu", "0.5", 2, 8, "1e-3"),
    Point("1", "1", "tanh", "0.5", 2, 4, "1e-3"),
    Point("inf", "1", "tanh", "1", 0.5, 2, "1e-1"),
    Point("1", "0.01", "tanh", "1", 0.5, 16, "1e-1"),
    Point("inf", "0.01", "relu", "1", 2, 0.25, "1e-3"),
    Point("2", "0.1", "tanh", "1", 2, 1, "1e-2"),
    Point("3", "1", "relu", "0.5", 0.5, 2, "1e-1"),
)

METRICS = ("train_error", "test_error", "dsm_test_loss", "test_error_parallel", "test_error_orthogonal")


def data_points(data):
    """Eight points for a data model (text): m = 1 and m = inf, tanh and ReLU, under- and over-parametrised.

    >>> [p.m for p in data_points("powerlaw:1")]
    ['1', '1', '1', '1', 'inf', 'inf', 'inf', 'inf']
    """
    grid = (("0.1", "tanh", 2, 0.5, "1e-2"), ("0.1", "tanh", 1, 2, "1e-2"),
            ("1", "relu", 1, 2, "1e-1"), ("1", "relu", 2, 1, "1e-1"))
    return tuple(Point(m, t, activation, "", psi_n, psi_p, lam, data)
                 for m in ("1", "inf") for t, activation, psi_n, psi_p, lam in grid)


def _simulate(point, d, seeds, seed):
    return simulate(point.activation, float(point.t), point.psi_n, point.psi_p, float(point.lam),
                    math.inf if point.m == "inf" else int(point.m), d=d, data=point.model, seeds=seeds, seed=seed)


def _agrees(value, mean, stderr):
    return abs(mean - value) <= 3 * stderr + 0.02 * abs(value)


def compare(point, d=200, seeds=3, dps=20, seed=0, extrapolate=False):
    """Theory and simulation at one point: a list of rows, one per metric.

    With ``extrapolate``, rows also hold the simulation at ``2d`` and the
    Richardson extrapolation ``2 E(2d) - E(d)`` with its agreement.
    """
    theory = Theory(m=point.m, t=point.t, activation=point.activation, data=point.model, dps=dps)
    record = theory.at(point.psi_n, point.psi_p, point.lam)
    sim = _simulate(point, d, seeds, seed)
    double = _simulate(point, 2 * d, seeds, seed) if extrapolate else None
    rows = []

    def estimate_of(result, metric):
        return getattr(result, metric) if metric in METRICS else result.groups[metric.removeprefix("test_error_")]

    groups = [f"test_error_{name}" for name in sim.groups] if point.data and not sim.data.startswith(
        ("iso", "subspace:")) else []
    for metric in METRICS + tuple(groups):
        if metric not in record:
            continue
        estimate = estimate_of(sim, metric)
        value = float(record[metric])
        row = {"point": point, "metric": metric, "theory": value, "simulation": estimate.mean,
               "stderr": estimate.stderr, "agrees": _agrees(value, estimate.mean, estimate.stderr)}
        if double is not None:
            fine = estimate_of(double, metric)
            mean = 2 * fine.mean - estimate.mean
            stderr = math.sqrt(4 * fine.stderr**2 + estimate.stderr**2)
            row.update(extrapolated=mean, extrapolated_stderr=stderr, extrapolated_agrees=_agrees(value, mean, stderr),
                       double_agrees=_agrees(value, fine.mean, fine.stderr))
        rows.append(row)
    return rows


def markdown(rows, d, seeds):
    """The comparison table in Markdown."""
    extrapolated = rows and "extrapolated" in rows[0]
    head = f"| m | t | ϱ | {'data' if any(r['point'].data for r in rows) else 'ψ_D'} | ψ_n | ψ_p | λ | error | theory " \
        "| simulation ± se | agrees |"
    if extrapolated:
        head += f" 2E({2 * d}) − E({d}) ± se | agrees |"
    lines = [
        f"d = {d}, {seeds} seeds; agreement: |sim − theory| ≤ 3 se + 2 %",
        "",
        head,
        "|" + " --- |" * (head.count("|") - 1),
    ]
    for r in rows:
        p = r["point"]
        m = "∞" if p.m == "inf" else p.m
        line = (
            f"| {m} | {p.t} | {p.activation} | {p.data or p.psi_d} | {p.psi_n:g} | {p.psi_p:g} | {p.lam} | {r['metric']} "
            f"| {r['theory']:.5g} | {r['simulation']:.5g} ± {r['stderr']:.2g} | {'yes' if r['agrees'] else '**no**'} |"
        )
        if extrapolated:
            line += (f" {r['extrapolated']:.5g} ± {r['extrapolated_stderr']:.2g} | "
                     f"{'yes' if r['extrapolated_agrees'] else '**no**'} |")
        lines.append(line)
    agreed = sum(r["agrees"] for r in rows)
    points = {id(r["point"]) for r in rows}
    full = sum(all(r["agrees"] for r in rows if id(r["point"]) == p) for p in points)
    lines += ["", f"At d = {d}: {agreed} of {len(rows)} comparisons agree; {full} of {len(points)} points agree in "
              "every error."]
    if extrapolated:
        agreed = sum(r["double_agrees"] for r in rows)
        full = sum(all(r["double_agrees"] for r in rows if id(r["point"]) == p) for p in points)
        lines.append(f"At d = {2 * d} (simulated for the extrapolation): {agreed} of {len(rows)} comparisons agree; "
                     f"{full} of {len(points)} points agree in every error.")
        agreed = sum(r["extrapolated_agrees"] for r in rows)
        lines.append(f"Extrapolated to d = ∞ from d = {d} and {2 * d}: {agreed} of {len(rows)} comparisons agree.")
    return "\n".join(lines) + "\n"


def main(argv=None):
    """``pencils validate dsm``: run every point, print (or write) the Markdown table.

    With ``--out`` the file is replaced (atomically) by the table of the points
    done so far after every point; without it, the table goes to standard
    output at the end, or with the points done so far when a later point fails
    or the run is interrupted.
    """
    from pencils.cli import ArgumentParser, positive_int
    from pencils.output import DocumentSink, RecordWriter, check_outputs

    p = ArgumentParser(prog="pencils validate dsm", description=__doc__.split("\n\n")[0])
    p.add_argument("--d", type=positive_int, default=200, help="dimension (default 200)")
    p.add_argument("--seeds", type=positive_int, default=3, help="seeds per point, at least 2 (default 3)")
    p.add_argument("--extrapolate", action="store_true", help="also simulate at 2d and extrapolate in 1/d")
    p.add_argument("--out", help="write the Markdown table to this file (rewritten after every point)")
    p.add_argument("--data", help="a data model (atoms:4@0.3,1@0.7, powerlaw:1, file:eigs.txt, ...): its 8 points "
                                  "(m = 1 and inf) instead of the default table")
    args = p.parse_args(argv)
    if args.d < 10:
        p.error(f"argument --d: expected at least 10, got {args.d}")
    if args.seeds < 2:
        p.error(f"argument --seeds: expected at least 2 (for a standard error), got {args.seeds}")
    check_outputs({"--out": args.out})
    if args.data:
        from .data import DataModel

        points = data_points(DataModel.parse(args.data).text)
    else:
        points = POINTS

    def render(done_points):
        done = [row for rows in done_points for row in rows]
        text = markdown(done, args.d, args.seeds)
        if len(done_points) < len(points):
            text += f"\n(partial: {len(done_points)} of {len(points)} points)\n"
        return text

    rows = []
    sinks = [DocumentSink(args.out, render)] if args.out else [DocumentSink(sys.stdout, render)]
    with RecordWriter(sinks, total=len(points)) as writer:
        for n, point in enumerate(points, 1):
            start = time.perf_counter()
            done = compare(point, d=args.d, seeds=args.seeds, extrapolate=args.extrapolate)
            rows += done
            writer.add(done)
            print(f"# point {n}/{len(points)} done in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    if args.out:
        print(markdown(rows, args.d, args.seeds), end="")
    key = "extrapolated_agrees" if args.extrapolate else "agrees"
    return 0 if all(r[key] for r in rows) else 1
