"""Benchmark: time to generate Dyson systems (pencil -> structure -> system -> equations).

Every run starts from an empty SymPy cache (``sympy.core.cache.clear_cache``),
so the numbers are those of a fresh process, and times four stages:

* **Pencil**: building and validating the pencil (``random_pencil`` for the
  random pencils, :func:`pencils.loads` of the file text for the textbook ones);
* **Structure**: :class:`pencils.Structure` (spaces, covariance map, pattern);
* **DysonSystem**: :class:`pencils.DysonSystem` for the targets (it builds its
  own structure and prunes the unknowns);
* **equations**: the symbolic right-hand sides ``.equations``.

The table quotes the median of ``--runs`` runs per row. The goal of the issue:
under 2 s in total for a 12-block pencil with 4 Gaussian matrices.

Run::

    python benchmarks/bench_generation.py [--runs 7] [--seeds 0 1 2 3 4]
"""

import argparse
import statistics
import time

from sympy.core.cache import clear_cache

from pencils.examples import NAMES, path
from pencils import DysonSystem, Structure, loads
from pencils.testing import random_pencil

GOAL = 2.0  # seconds, for the 12-block pencil
STAGES = ("Pencil", "Structure", "DysonSystem", "equations")


def time_generation(build, target):
    """Seconds spent in each stage for one cold-cache run; also the number of unknowns."""
    clear_cache()
    times = []
    start = time.perf_counter()
    pencil = build()
    times.append(time.perf_counter() - start)
    start = time.perf_counter()
    Structure(pencil)
    times.append(time.perf_counter() - start)
    start = time.perf_counter()
    system = DysonSystem(pencil, target=target)
    times.append(time.perf_counter() - start)
    start = time.perf_counter()
    equations = system.equations
    times.append(time.perf_counter() - start)
    return times, len(equations), pencil


def cases(seeds):
    """``(label, build, target)`` for the textbook pencils and the 12-block random pencils."""
    for name in NAMES:
        text = path(name).read_text(encoding="utf-8")
        yield name, (lambda text=text: loads(text)), (1, 1)
    for seed in seeds:
        def build(seed=seed):
            return random_pencil(12, 4, seed=seed)

        yield f"random k=12, 4 matrices, seed {seed}, target (1,1)", build, (1, 1)
        yield (
            f"random k=12, 4 matrices, seed {seed}, 12 diagonal targets", build,
            [(i, i) for i in range(1, 13)],
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per row (median quoted)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4],
                        help="seeds of the 12-block random pencils")
    args = parser.parse_args(argv)

    header = "| pencil | k | matrices | unknowns | " + " | ".join(f"{s} (ms)" for s in STAGES) + " | total (ms) |"
    print(f"Dyson-system generation, median of {args.runs} cold-cache runs\n")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    random_totals = []
    for label, build, target in cases(args.seeds):
        runs = [time_generation(build, target) for _ in range(args.runs)]
        stages = [statistics.median(r[0][n] for r in runs) for n in range(len(STAGES))]
        total = statistics.median(sum(r[0]) for r in runs)
        _, unknowns, pencil = runs[0]
        if label.startswith("random"):
            random_totals.append((label, total))
        cells = " | ".join(f"{1000 * t:.1f}" for t in stages)
        print(f"| {label} | {pencil.k} | {len(pencil.matrices)} | {unknowns} | {cells} | {1000 * total:.1f} |")
    print()
    worst_label, worst = max(random_totals, key=lambda row: row[1])
    under = sum(total < GOAL for _, total in random_totals)
    print(f"12-block pencils: {under} of {len(random_totals)} rows under the {GOAL:.0f} s goal; "
          f"slowest {worst:.2f} s ({worst_label}).")


if __name__ == "__main__":
    main()
