"""Benchmark: the cost of a spectral law, against the number of atoms.

Anisotropic Marchenko–Pastur, ``(z - Sigma^{1/2} X X^T Sigma^{1/2})^{-1}`` with
``Sigma`` an empirical law of ``K`` eigenvalues drawn uniformly in ``[0.5, 3]``
(rounded to 3 decimals, exact), ``psi = 1/2``, dps 30, certified. For each
``K``: setup (law, linearize, Dyson system, compile at the first solve
excluded), the first solve, and the median per point of a warm-started sweep
of ``z`` from -1 to -2 (each point certified). The goal of issue 10: a
1000-atom law under 1 s per point; the cost should grow linearly in ``K``.

Run::

    python benchmarks/bench_spectral.py [--atoms 10 100 1000] [--points 7]
"""

import argparse
import statistics
import time

import numpy as np
import sympy as sp

from pencils import DysonSystem, GaussianMatrix, SpectralLaw, linearize, ratio, solve

GOAL = 1.0  # seconds per point at 1000 atoms


def case(atoms, points):
    z, psi = sp.Symbol("z"), ratio("psi")
    rng = np.random.default_rng(0)
    eigenvalues = [sp.Rational(int(x * 1000), 1000) for x in rng.uniform(0.5, 3, atoms)]
    start = time.perf_counter()
    Sigma = SpectralLaw.eigenvalues(eigenvalues).matrix("Sigma", 1)
    X = GaussianMatrix("X", 1, psi)
    lin = linearize((z - sp.sqrt(Sigma) * X * X.T * sp.sqrt(Sigma)) ** -1, check=False)
    system = DysonSystem(lin.pencil, target=lin.block)
    setup = time.perf_counter() - start
    start = time.perf_counter()
    solution = solve(system, {"z": -1, "psi": "0.5"}, dps=30)
    first = time.perf_counter() - start
    times = []
    for z_value in np.linspace(-1.1, -2, points):
        start = time.perf_counter()
        solution = solve(system, {"z": f"{z_value:.3f}", "psi": "0.5"}, dps=30, previous=solution)
        times.append(time.perf_counter() - start)
        assert solution.certified_digits() >= 30
    return setup, first, statistics.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--atoms", type=int, nargs="+", default=[10, 100, 1000])
    p.add_argument("--points", type=int, default=7, help="warm-started points per law (default 7)")
    args = p.parse_args(argv)
    print("| atoms | setup s | first solve s | per point s (median) | per point / atoms, ms |")
    print("|---|---|---|---|---|")
    for atoms in args.atoms:
        setup, first, per_point = case(atoms, args.points)
        print(f"| {atoms} | {setup:.2f} | {first:.2f} | {per_point:.3f} | {1000 * per_point / atoms:.2f} |")
    print(f"\ngoal: 1000 atoms under {GOAL} s per point (dps 30, certified)")


if __name__ == "__main__":
    main()
