"""Benchmark: expression -> pencil -> Dyson system, and the sizes linearize reaches.

Every run starts from an empty SymPy cache (``sympy.core.cache.clear_cache``)
and times three stages:

* **linearize**: realisation, reduction and the numeric check on random matrices;
* **DysonSystem**: structure, symmetry, pruning of the unknowns;
* **equations**: the symbolic right-hand sides.

The goal of issue 9: under 2 s in total for an expression with 4 Gaussian
matrices and 3 inverses. The second table lists the block counts: before
reduction, after, and of the hand-written pencil of the same quantity in
``pencils/examples`` (goal: never more).

Run::

    python benchmarks/bench_linearize.py [--runs 7]
"""

import argparse
import statistics
import time

import sympy as sp
from sympy.core.cache import clear_cache

from pencils.examples import path
from pencils import DysonSystem, GaussianMatrix, WignerMatrix, linearize, load, ratio, transpose

GOAL = 2.0  # seconds, expression with 4 Gaussian matrices and 3 inverses
z, lam, mu = sp.Symbol("z"), sp.Symbol("lam", positive=True), sp.Symbol("mu", positive=True)
psi, phi, psi_n, psi_p = (ratio(n) for n in ("psi", "phi", "psi_n", "psi_p"))


def four_matrices_three_inverses():
    """``R1 R2 W W^T R3``: a random-features resolvent ``R1 = (lam + F F^T)^{-1}``, ``F = W X + Omega``,
    with ``R2 = (1 + W W^T)^{-1}`` and ``R3 = (mu + Y Y^T)^{-1}`` (W, X, Omega, Y Gaussian)."""
    W = GaussianMatrix("W", psi_p, 1)
    X = GaussianMatrix("X", 1, psi_n)
    Omega = GaussianMatrix("Omega", psi_p, psi_n)
    Y = GaussianMatrix("Y", psi_p, 1)
    F = W * X + Omega
    return (lam + F * transpose(F)) ** -1 * (1 + W * W.T) ** -1 * W * W.T * (mu + Y * Y.T) ** -1


def textbook():
    """``(label, expression, hand-written pencil name)``."""
    X = GaussianMatrix("X", 1, psi)
    W, Y = GaussianMatrix("W", 1, phi), GaussianMatrix("X", phi, psi)
    X1, X2 = GaussianMatrix("X1", 1, psi), GaussianMatrix("X2", 1, psi)
    s = sp.Symbol("s", positive=True)
    V = WignerMatrix("W", 1, variance=s**2)
    R = (X * X.T + lam) ** -1
    return [
        ("(z - X X^T)^-1", (z - X * X.T) ** -1, "marchenko_pastur"),
        ("(z - W)^-1, Wigner", (z - V) ** -1, "semicircle"),
        ("(z - W X X^T W^T)^-1", (z - W * Y * Y.T * W.T) ** -1, "wishart_product"),
        ("(X X^T + lam)^-1", R, "ridge"),
        ("(z - X1 X1^T - X2 X2^T)^-1", (z - X1 * X1.T - X2 * X2.T) ** -1, "wishart_sum"),
        ("R X X^T", R * X * X.T, None),
        ("X^T R X", X.T * R * X, None),
        ("R^2", R * R, None),
        ("R X X^T R (variance)", R * X * X.T * R, None),
        ("R1 R2 W W^T R3 (4 matrices, 3 inverses)", four_matrices_three_inverses(), None),
    ]


def time_generation(expression):
    clear_cache()
    times = []
    start = time.perf_counter()
    lin = linearize(expression)
    times.append(time.perf_counter() - start)
    start = time.perf_counter()
    system = DysonSystem(lin.pencil, target=lin.block)
    times.append(time.perf_counter() - start)
    start = time.perf_counter()
    equations = system.equations
    times.append(time.perf_counter() - start)
    return times, lin, len(equations)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=7, help="runs per expression (median quoted; default 7)")
    args = p.parse_args(argv)
    print("| expression | raw blocks | blocks | hand-written | unknowns | linearize s | DysonSystem s | "
          "equations s | total s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, expression, hand in textbook():
        runs = [time_generation(expression) for _ in range(args.runs)]
        medians = [statistics.median(r[0][n] for r in runs) for n in range(3)]
        total = statistics.median(sum(r[0]) for r in runs)
        _, lin, unknowns = runs[0]
        written = load(path(hand)).k if hand else "-"
        print(f"| {label} | {lin.raw_blocks} | {lin.blocks} | {written} | {unknowns} | "
              + " | ".join(f"{m:.3f}" for m in medians) + f" | {total:.3f} |")
    print(f"\ngoal: the 4-matrix, 3-inverse expression under {GOAL} s in total (linearize + DysonSystem + equations)")


if __name__ == "__main__":
    main()
