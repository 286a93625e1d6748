"""Benchmark: warm-started Newton sweeps against a damped fixed-point iteration of the same system.

For each case (textbook pencils and a 12-block random pencil) and each
precision, two sweeps over the same points:

* **Newton**: :func:`pencils.sweep.sweep` (warm start from the previous
  points, analytic Jacobian, verified; the system is compiled before timing);
* **fixed point**: ``G <- (1 - a) G + a P[(C - eta(G))^{-1}]`` on the
  unknowns, at the same working precision, built from the compiled system of
  :func:`pencils.solver.compile_system` (``evaluate``, ``matrices``,
  ``inverses``, ``residual``, ``targets_of``). It starts each point from the
  previous point's result (the first from ``G = C^{-1}``) and stops when
  ``max |g - P[(C - eta(G))^{-1}]| <= 10^-dps max(1, max |g|)`` or after
  ``--cap`` iterations. Its accuracy is the number of correct digits of the
  targets, compared with the Newton result; the worst point is quoted.

Each timing is the median over up to ``--repeats`` runs, stopping early once a
measurement has used ``--budget`` seconds (at least one run); ratios are
against the Newton sweep run in the same process.

Run::

    python benchmarks/bench_solve.py [--points 200] [--dps 15 30 60] [--repeats 3]
                                     [--damping 0.5] [--cap 5000] [--budget 60] [--cases mp sc ...]
"""

import argparse
import statistics
import time
from dataclasses import dataclass

import mpmath
from sympy.core.cache import clear_cache

from pencils.examples import path
from pencils import DysonSystem, SingularPointError, load
from pencils.solver import GUARD, compile_system
from pencils.sweep import points as grid_points, sweep
from pencils.testing import random_pencil
from pencils.values import parse_point

MP_GOAL = 2.0  # seconds, the 200-point Marchenko-Pastur sweep at 30 digits


@dataclass
class Case:
    """A sweep: a system, the swept parameter, its values (a function of the count), the fixed ones."""

    label: str
    system: DysonSystem
    over: str
    values: object
    at: dict


def _shifted(points, imaginary):
    return [mpmath.mpc(x, imaginary) for x in points]


def cases():
    """The benchmarked sweeps, by short name."""
    textbook = {name: DysonSystem(load(path(name))) for name in ("marchenko_pastur", "semicircle",
                                                                 "wishart_product", "ridge")}
    diagonal = [(i, i) for i in range(1, 13)]
    return {
        "mp": Case("Marchenko–Pastur, psi = 1/2, z in [-2, -0.05]", textbook["marchenko_pastur"], "z",
                   lambda n: grid_points(-2, "-0.05", n), {"psi": "0.5"}),
        "ridge": Case("ridge, psi = 2, lam in [10, 0.01] (log)", textbook["ridge"], "lam",
                      lambda n: grid_points(10, "0.01", n, log=True), {"psi": 2}),
        "sc": Case("semicircle, s = 1, z = x + 0.5i, x in [-3, 3]", textbook["semicircle"], "z",
                   lambda n: _shifted(grid_points(-3, 3, n), "0.5"), {"s": 1}),
        "sc-near": Case("semicircle, s = 1, z = x + 0.001i, x in [-3, 3] (near the spectrum)",
                        textbook["semicircle"], "z", lambda n: _shifted(grid_points(-3, 3, n), "0.001"), {"s": 1}),
        "wp": Case("Wishart product, phi = 3/2, psi = 1/2, z in [-3, -0.05]", textbook["wishart_product"],
                   "z", lambda n: grid_points(-3, "-0.05", n), {"phi": "1.5", "psi": "0.5"}),
        "random12": Case("random k = 12, 4 matrices, seed 0, 12 diagonal targets, z = x + i, x in [-3, 3]",
                         DysonSystem(random_pencil(12, 4, seed=0), target=diagonal), "z",
                         lambda n: _shifted(grid_points(-3, 3, n), 1), {}),
    }


def measure(run, repeats, budget):
    """Median seconds of ``run()`` over up to ``repeats`` runs (fewer once ``budget`` s are spent)."""
    times, result = [], None
    while len(times) < repeats and sum(times) < budget:
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(times), result


def newton_sweep(case, values, dps):
    """The targets at every point, and the Newton iterations per point, from :func:`pencils.sweep.sweep`."""
    table = sweep(case.system, case.over, values, case.at, dps=dps, progress=False)
    names = [str(case.system.symbols[t]) for t in case.system.targets]
    return [[row[n] for n in names] for row in table.rows], table.column("iterations")


def fixed_point_sweep(case, values, dps, damping, cap):
    """Damped fixed-point iteration at every point: targets (None when it failed), iterations, converged."""
    compiled = compile_system(case.system)
    targets, iterations, converged = [], [], []
    with mpmath.workdps(dps + GUARD):
        tol = mpmath.mpf(10) ** (-dps)
        a = mpmath.mpf(damping)
        u = None
        for value in values:
            point = parse_point({**case.at, case.over: value}, compiled.symbols)
            coefficients = compiled.evaluate(*point.values())
            if u is None:
                zero = [mpmath.mpf(0)] * len(compiled.unknowns)
                inverses = compiled.inverses(compiled.matrices(coefficients, zero, 0), point, None)
                u = [inverses[s][r][c] for (s, r), c in compiled.unknowns]
            done, result = False, None
            try:
                for iteration in range(cap + 1):
                    inverses = compiled.inverses(compiled.matrices(coefficients, u), point, u)
                    F = compiled.residual(u, inverses)
                    size = max((abs(x) for x in u), default=1)
                    norm = max((abs(f) for f in F), default=mpmath.mpf(0))
                    if not mpmath.isfinite(norm):
                        break
                    if norm <= tol * max(1, size):
                        done = True
                        break
                    u = [x - a * f for x, f in zip(u, F)]
                result = compiled.targets_of(inverses)
            except SingularPointError:
                pass
            if result is None or not all(mpmath.isfinite(x) for x in result):
                result, u = None, None  # restart the next point from C^{-1}
            targets.append(result)
            iterations.append(iteration)
            converged.append(done)
    return targets, iterations, converged


def digits(approximations, exact):
    """Correct significant digits of the worst point (0 for a failed point)."""
    worst = None
    for approx, reference in zip(approximations, exact):
        if approx is None:
            return 0.0
        scale = max(abs(x) for x in reference) or 1
        error = max(abs(x - y) for x, y in zip(approx, reference)) / scale
        value = float(-mpmath.log10(error)) if error else float("inf")
        worst = value if worst is None else min(worst, value)
    return worst


def mp_headline(points, repeats, budget):
    """The 200-point MP sweep at 30 digits: cold (load + system + compile + sweep) and warm."""
    values = grid_points(-2, "-0.05", points)

    def cold():
        clear_cache()
        system = DysonSystem(load(path("marchenko_pastur")))
        return sweep(system, "z", values, {"psi": "0.5"}, dps=30, progress=False)

    system = DysonSystem(load(path("marchenko_pastur")))
    sweep(system, "z", values[:2], {"psi": "0.5"}, dps=30, progress=False)
    cold_time, cold_runs, _ = measure(cold, repeats, budget)
    warm_time, warm_runs, _ = measure(
        lambda: sweep(system, "z", values, {"psi": "0.5"}, dps=30, progress=False), repeats, budget
    )
    return cold_time, cold_runs, warm_time, warm_runs


def main(argv=None):
    all_cases = cases()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--dps", type=int, nargs="+", default=[15, 30, 60])
    parser.add_argument("--repeats", type=int, default=3, help="runs per timing (median quoted)")
    parser.add_argument("--budget", type=float, default=60, help="seconds after which a timing stops repeating")
    parser.add_argument("--damping", type=float, default=0.5, help="a in G <- (1 - a) G + a F(G)")
    parser.add_argument("--cap", type=int, default=5000, help="fixed-point iterations allowed per point")
    parser.add_argument("--cases", nargs="+", default=list(all_cases), choices=list(all_cases))
    args = parser.parse_args(argv)

    print(f"Warm-started sweeps of {args.points} points: Newton (pencils.sweep) against the damped "
          f"fixed point (a = {args.damping}, cap {args.cap} iterations per point)\n")
    header = ("| case | dps | Newton ms/pt | Newton its/pt | fixed-point ms/pt | fixed-point its/pt "
              "(median / max) | not converged | fixed-point digits (worst) | time ratio FP / Newton | runs |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for key in args.cases:
        case = all_cases[key]
        for dps in args.dps:
            with mpmath.workdps(dps + GUARD):
                values = case.values(args.points)
            newton_sweep(case, values[:2], dps)  # compile and warm up
            newton_time, newton_runs, (exact, newton_its) = measure(
                lambda: newton_sweep(case, values, dps), args.repeats, args.budget
            )
            fp_time, fp_runs, (approx, fp_its, converged) = measure(
                lambda: fixed_point_sweep(case, values, dps, args.damping, args.cap), args.repeats, args.budget
            )
            n = len(values)
            print(
                f"| {case.label} | {dps} | {1000 * newton_time / n:.2f} | {statistics.median(newton_its):g} | "
                f"{1000 * fp_time / n:.2f} | {statistics.median(fp_its):g} / {max(fp_its)} | "
                f"{converged.count(False)} | {digits(approx, exact):.1f} | {fp_time / newton_time:.2f} | "
                f"{newton_runs} / {fp_runs} |",
                flush=True,
            )
    cold, cold_runs, warm, warm_runs = mp_headline(args.points, args.repeats, args.budget)
    verdict = "met" if cold < MP_GOAL else "NOT met"
    print(f"\n{args.points}-point Marchenko–Pastur sweep at 30 digits: {cold:.2f} s from the pencil file "
          f"(cold SymPy cache, load + system + compile + sweep, median of {cold_runs}), {warm:.2f} s with the "
          f"system compiled (median of {warm_runs}); goal < {MP_GOAL:.0f} s {verdict}.")


if __name__ == "__main__":
    main()
