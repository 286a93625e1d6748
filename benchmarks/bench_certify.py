"""Benchmark: the cost of certification per solved point, absolute and relative to the uncertified solve.

Every point is solved by :func:`pencils.solve` in three variants:

* **(a) bare**: ``certify=False, second_path=False`` (continuation, polish, verification);
* **(b) + Krawczyk**: ``certify=True, second_path=False`` (adds the ball-arithmetic Krawczyk
  test and the enclosures of the targets);
* **(c) default**: ``certify=True, second_path=True`` (adds, for a pencil that is not
  symmetric, a second float64 continuation path that must land on the same root,
  ``"two paths agree"``; for a symmetric pencil (c) does the same work as (b)).

The cost of certification is quoted as ``(b - a) / a`` and ``(c - a) / a``; the goal is
``(c - a) / a <= 1`` (certification adds at most the time of the solve itself).

Two settings:

* **cold**: one point solved from scratch (no ``previous``), the textbook pencils and the DSM
  pencils of :class:`derivations.dsm.theory.Theory` (tanh, ``t = 0.1``, ``psi_n = 2``,
  ``psi_p = 1/2``, ``lam = 1e-3``; the system is ``Theory.system`` and the point is
  ``Theory.fixed`` plus ``psi_n``, ``psi_p``, ``lam``, exactly what ``Theory.at`` passes to the solver);
* **warm**: :func:`pencils.sweep.sweep` with warm starts (``previous`` and the linear predictor
  from the two previous points); the time per point is that of the points after the first (the
  first point is a cold solve), each including its table row.

Each time is the median of ``--runs`` runs in this process after one warm-up run (compilation
caches); the three variants are run round-robin, so that a change of machine load affects all
three alike. A third table times the order-1 Taylor series in ``lam`` and ``zeta`` that
``Theory.record`` takes from a solution, in mpmath (uncertified) and in balls (certified).

Run::

    python benchmarks/bench_certify.py [--runs 7] [--points 16] [--skip-warm] [--skip-taylor]
"""

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass

import flint
import mpmath

from derivations.dsm.theory import Theory
from pencils.examples import path
from pencils import DysonSystem, load, solve
from pencils.solver import compile_system
from pencils.sweep import points as grid_points, sweep

VARIANTS = {
    "a": {"certify": False, "second_path": False},
    "b": {"certify": True, "second_path": False},
    "c": {"certify": True, "second_path": True},
}
GOAL = 1.0  # (c - a) / a at most this
DSM_POINT = {"psi_n": 2, "psi_p": "0.5", "lam": "1e-3"}


@dataclass
class Case:
    """A point (cold) or a sweep (warm) of one system."""

    label: str
    system: DysonSystem
    at: dict
    dps: int
    over: str = None  # warm: the swept parameter
    values: list = None  # warm: its values


_TEXTBOOK = {}
_THEORIES = {}


def textbook(name):
    if name not in _TEXTBOOK:
        _TEXTBOOK[name] = DysonSystem(load(path(name)))
    return _TEXTBOOK[name]


def theory(m, dps):
    if (m, dps) not in _THEORIES:
        _THEORIES[m, dps] = Theory(m=m, t="0.1", activation="tanh", dps=dps)
    return _THEORIES[m, dps]


def dsm_label(m):
    return f"DSM m = {'∞' if m == 'inf' else m}, tanh, t = 0.1"


def cold_cases():
    cases = [
        Case("Marchenko–Pastur, z = -1, psi = 1/2", textbook("marchenko_pastur"), {"z": -1, "psi": "0.5"}, 30),
        Case("Marchenko–Pastur, z = -1, psi = 1/2", textbook("marchenko_pastur"), {"z": -1, "psi": "0.5"}, 60),
        Case("semicircle, z = 0.3 + 0.5i, s = 1", textbook("semicircle"), {"z": "0.3+0.5j", "s": 1}, 30),
        Case("Wishart product, z = -1, phi = 3/2, psi = 1/2", textbook("wishart_product"),
             {"z": -1, "phi": "1.5", "psi": "0.5"}, 30),
        Case("ridge, lam = 1e-3, psi = 2", textbook("ridge"), {"lam": "1e-3", "psi": 2}, 30),
    ]
    for m, dps in (("1", 30), ("2", 30), ("inf", 30), ("1", 60)):
        th = theory(m, dps)
        cases.append(Case(f"{dsm_label(m)}, psi_n = 2, psi_p = 1/2, lam = 1e-3", th.system,
                          {**th.fixed, **DSM_POINT}, dps))
    return cases


def warm_cases(points):
    with mpmath.workdps(60):
        z_mp = grid_points(-2, "-0.05", points)
        z_wp = grid_points(-3, "-0.05", points)
        psi_p = grid_points("0.1", "16", points, log=True)
    cases = [
        Case(f"Marchenko–Pastur, psi = 1/2, z in [-2, -0.05], {points} points", textbook("marchenko_pastur"),
             {"psi": "0.5"}, 30, "z", z_mp),
        Case(f"Wishart product, phi = 3/2, psi = 1/2, z in [-3, -0.05], {points} points",
             textbook("wishart_product"), {"phi": "1.5", "psi": "0.5"}, 30, "z", z_wp),
    ]
    for m in ("1", "2", "inf"):
        th = theory(m, 30)
        cases.append(Case(f"{dsm_label(m)}, psi_n = 2, lam = 1e-3, psi_p in [0.1, 16] (log), {points} points",
                          th.system, {**th.fixed, "psi_n": 2, "lam": "1e-3"}, 30, "psi_p", psi_p))
    return cases


def solve_cold(case, options):
    """One point from scratch: ``(seconds, [solution])``."""
    start = time.perf_counter()
    solution = solve(case.system, case.at, dps=case.dps, **options)
    return time.perf_counter() - start, [solution]


def solve_warm(case, options):
    """A warm-started :func:`pencils.sweep.sweep`: ``(seconds per point after the first, solutions)``.

    A point's time runs from the previous point's row to its own (solve and row).
    """
    stamps, solutions = [time.perf_counter()], []

    def mark(solution, row):
        stamps.append(time.perf_counter())
        solutions.append(solution)

    sweep(case.system, case.over, case.values, case.at, dps=case.dps, on_solution=mark, **options)
    seconds = [b - a for a, b in zip(stamps, stamps[1:])]
    return sum(seconds[1:]) / (len(seconds) - 1), solutions


def measure(case, run, runs):
    """Medians (s) of the three variants, run round-robin after one warm-up each; and the (c) solutions."""
    solutions = {}
    for key, options in VARIANTS.items():
        _, solutions[key] = run(case, options)  # warm-up
    times = {key: [] for key in VARIANTS}
    for _ in range(runs):
        for key, options in VARIANTS.items():
            seconds, solutions[key] = run(case, options)
            times[key].append(seconds)
    return {key: statistics.median(t) for key, t in times.items()}, solutions["c"]


def certified(solutions):
    """Worst certified digits over the points of (c), and the reasons of the points not certified."""
    digits = min(s.certified_digits() for s in solutions)
    reasons = sorted({s.certificate.reason for s in solutions if not s.certified})
    return digits, reasons


def table(title, cases, run, runs):
    print(title + "\n")
    header = ("| case | dps | symmetric | unknowns | (a) bare ms | (b) + Krawczyk ms | (c) default ms | "
              "(b−a)/a | (c−a)/a | certified digits (c) | goal (c−a)/a ≤ 1 |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    failures = []
    for case in cases:
        compiled = compile_system(case.system)
        median, solutions = measure(case, run, runs)
        a, b, c = median["a"], median["b"], median["c"]
        digits, reasons = certified(solutions)
        failures += [(case.label, case.dps, r) for r in reasons]
        verdict = "met" if (c - a) / a <= GOAL else "**not met**"
        print(f"| {case.label} | {case.dps} | {'yes' if compiled.symmetric else 'no'} | {len(compiled.unknowns)} | "
              f"{1000 * a:.2f} | {1000 * b:.2f} | {1000 * c:.2f} | {(b - a) / a:.2f} | {(c - a) / a:.2f} | "
              f"{digits} | {verdict} |", flush=True)
    for label, dps, reason in failures:
        print(f"\nNot certified ({label}, dps {dps}): {reason}")
    print()


def taylor_table(runs):
    print("Order-1 Taylor series in lam and zeta of a solved DSM point (what `Theory.record` uses): "
          f"mpmath (uncertified) against ball arithmetic (certified), median of {runs} runs\n")
    print("| case | dps | mpmath ms | balls ms | balls / mpmath |")
    print("|---|---|---|---|---|")
    for m in ("1", "2", "inf"):
        th = theory(m, 30)
        solution = solve(th.system, {**th.fixed, **DSM_POINT}, dps=30, second_path=False)
        medians = {}
        for balls in (False, True):
            solution.taylor(["lam", "zeta"], 1, balls=balls)
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                solution.taylor(["lam", "zeta"], 1, balls=balls)
                times.append(time.perf_counter() - start)
            medians[balls] = statistics.median(times)
        print(f"| {dsm_label(m)}, psi_n = 2, psi_p = 1/2, lam = 1e-3 | 30 | {1000 * medians[False]:.2f} | "
              f"{1000 * medians[True]:.2f} | {medians[True] / medians[False]:.2f} |", flush=True)
    print()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per variant (median quoted)")
    parser.add_argument("--points", type=int, default=16, help="points of the warm-started sweeps")
    parser.add_argument("--skip-warm", action="store_true", help="only the cold single points")
    parser.add_argument("--skip-taylor", action="store_true", help="no Taylor-series table")
    args = parser.parse_args(argv)
    wall, cpu = time.perf_counter(), time.process_time()

    print(f"nproc {os.cpu_count()}, python {sys.version.split()[0]}, python-flint {flint.__version__}, "
          f"mpmath {mpmath.__version__} ({mpmath.libmp.BACKEND} backend)\n")
    print("(a) certify=False, second_path=False; (b) certify=True, second_path=False; (c) certify=True, "
          f"second_path=True (the default). Medians of {args.runs} runs after one warm-up, variants "
          "round-robin.\n")
    table("Cold: one point solved from scratch", cold_cases(), solve_cold, args.runs)
    if not args.skip_warm:
        table("Warm: per point of a warm-started sweep (previous + predictor), the first (cold) point excluded",
              warm_cases(args.points), solve_warm, args.runs)
    if not args.skip_taylor:
        taylor_table(args.runs)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"Whole script: {wall:.0f} s wall, {cpu:.0f} s CPU of this process ({100 * cpu / wall:.0f} %; well below "
          "100 % means that other jobs competed for the cores and the timings are noisier), Gaussian-equivalence "
          "constants of the DSM theories included (not timed in the tables).")


if __name__ == "__main__":
    main()
