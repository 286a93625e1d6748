"""Benchmark of the DSM learning curves: time per point in a warm-started sweep, and the figure.

Run: ``python benchmarks/bench_dsm.py [--runs 5] [--points 60] [--skip-figure]``. Prints Markdown
tables (medians of repeated runs in this process). The dps = 15 sweep is the baseline of the ratios.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

import mpmath

from derivations.dsm.theory import Theory
from pencils.sweep import points as grid_points

def per_point(m, dps, psi_d="1", points=60, repeats=5):
    theory = Theory(m=m, t="0.1", activation="tanh", psi_d=psi_d, dps=dps)
    values = grid_points("0.1", "16", points, log=True, dps=dps)
    start = time.perf_counter()
    theory.curve(2, values[:1], "1e-3")  # cold: homotopy at the first point
    cold = time.perf_counter() - start
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        theory.curve(2, values, "1e-3")
        runs.append((time.perf_counter() - start) / points)
    return cold, statistics.median(runs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="repeated sweeps per row (median)")
    parser.add_argument("--points", type=int, default=60, help="points of each sweep")
    parser.add_argument("--skip-figure", action="store_true", help="do not time `pencils figure dsm`")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, mpmath backend {mpmath.libmp.BACKEND}")
    print()
    print(f"Warm-started sweep of {args.points} points in psi_p (0.1 to 16), tanh, t = 0.1, psi_n = 2, lam = 1e-3:"
          " train, test, DSM loss per point (one solve + one Taylor series in lam and zeta)")
    print()
    print("| model | dps | first point (cold) | per point, median | ratio to dps 15 |")
    print("| --- | --- | --- | --- | --- |")
    for m, psi_d in (("1", "1"), ("inf", "1"), ("1", "0.5"), ("inf", "0.5")):
        base = None
        for dps in (15, 30, 60):
            cold, warm = per_point(m, dps, psi_d, args.points, args.runs)
            base = base or warm
            label = f"m = {'∞' if m == 'inf' else m}" + (", psi_D = 0.5" if psi_d != "1" else ", isotropic")
            print(f"| {label} | {dps} | {1000 * cold:.0f} ms | {1000 * warm:.1f} ms | {warm / base:.2f} |")
    if args.skip_figure:
        return
    with tempfile.TemporaryDirectory() as out:
        walls = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run(["pencils", "figure", "dsm", "--out", out], check=True, capture_output=True)
            walls.append(time.perf_counter() - start)
    print()
    print(f"`pencils figure dsm` (2 x 40 points, constants, plot; whole process): median {statistics.median(walls):.1f} s "
          f"over 3 runs ({', '.join(f'{w:.1f}' for w in walls)})")


if __name__ == "__main__":
    main()
