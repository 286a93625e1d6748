"""Benchmark: the dense linear algebra of :mod:`pencils.linalg`, old pure-Python routines against the new paths.

In one process, for random well-conditioned ``n x n`` matrices (entries standard normal
plus ``n`` on the diagonal, divided by 3):

* **mpmath** at ``--dps`` digits, real (``mpf``) and complex (``mpc``): ``inverse`` and ``solve``
  by the Gauss–Jordan elimination in Python (``linalg._eliminate``, the routine all number
  types used before, still the fallback) against :func:`pencils.linalg.inverse` /
  :func:`pencils.linalg.solve` (python-flint's midpoint solver at the working precision plus
  :data:`pencils.linalg.GUARD_BITS`, exact conversions both ways); ``matmul`` by the Python
  loop (``linalg._product``) against :func:`pencils.linalg.matmul` (flint's product);
* **float64**, real and complex: the same elimination against the NumPy path (sizes from 1,
  where the elimination is kept).

Each time is the median of ``--repeats`` measurements, each a batch of calls lasting at least
about 20 ms (time per call quoted). Ratios are old / new: above 1, the new path is faster.

Run::

    python benchmarks/bench_linalg.py [--sizes 2 4 8 16 32] [--dps 30 100] [--repeats 7]
"""

import argparse
import statistics
import sys
import time

import flint
import mpmath
import numpy as np

from pencils import linalg


def random_matrix(n, seed, complex_entries, convert):
    rng = np.random.default_rng(seed)
    entries = rng.standard_normal((n, n)) + (1j * rng.standard_normal((n, n)) if complex_entries else 0)
    entries += n * np.eye(n)
    return [[convert(x) / 3 for x in row] for row in entries.tolist()]


def per_call(function, repeats):
    """Median seconds per call of ``function()`` over ``repeats`` batches of about 20 ms each."""
    start = time.perf_counter()
    function()
    batch = max(1, int(0.02 / max(time.perf_counter() - start, 1e-7)))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(batch):
            function()
        times.append((time.perf_counter() - start) / batch)
    return statistics.median(times)


def milliseconds(seconds):
    return f"{1000 * seconds:.3f}" if seconds < 0.01 else f"{1000 * seconds:.1f}"


def rows_for(A, b, repeats):
    """``(operation, old, new)`` per-call times for one matrix."""
    return [
        ("inverse", per_call(lambda: linalg._eliminate(A, linalg.identity(len(A))), repeats),
         per_call(lambda: linalg.inverse(A), repeats)),
        ("solve", per_call(lambda: [row[0] for row in linalg._eliminate(A, [[x] for x in b])], repeats),
         per_call(lambda: linalg.solve(A, b), repeats)),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 4, 8, 16, 32], help="matrix sizes n")
    parser.add_argument("--dps", type=int, nargs="+", default=[30, 100], help="mpmath working precisions")
    parser.add_argument("--repeats", type=int, default=7, help="measurements per time (median)")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, mpmath {mpmath.__version__} (backend {mpmath.libmp.BACKEND}), "
          f"numpy {np.__version__}, python-flint {flint.__version__}; "
          f"medians of {args.repeats} runs, ms per call")
    print()
    print("mpmath numbers: Gauss–Jordan in Python (old) against python-flint (new)")
    print()
    print("| entries | dps | n | operation | old (ms) | new (ms) | old / new |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for dps in args.dps:
        for complex_entries in (False, True):
            convert = mpmath.mpc if complex_entries else mpmath.mpf
            for n in args.sizes:
                with mpmath.workdps(dps):
                    A = random_matrix(n, n, complex_entries, convert)
                    B = random_matrix(n, n + 1, complex_entries, convert)
                    b = [convert(k + 1) / 7 for k in range(n)]
                    rows = rows_for(A, b, args.repeats)
                    rows.append(("matmul", per_call(lambda: linalg._product(A, B), args.repeats),
                                 per_call(lambda: linalg.matmul(A, B), args.repeats)))
                for operation, old, new in rows:
                    print(f"| {'complex' if complex_entries else 'real'} | {dps} | {n} | {operation} | "
                          f"{milliseconds(old)} | {milliseconds(new)} | {old / new:.1f} |")
    print()
    print("float64: Gauss–Jordan in Python (old) against NumPy (new; n = 1 stays on Gauss–Jordan)")
    print()
    print("| entries | n | operation | old (ms) | new (ms) | old / new |")
    print("| --- | --- | --- | --- | --- | --- |")
    for complex_entries in (False, True):
        for n in sorted({1, *args.sizes}):
            A = random_matrix(n, n, complex_entries, complex if complex_entries else float)
            b = [float(k + 1) for k in range(n)]
            for operation, old, new in rows_for(A, b, args.repeats):
                print(f"| {'complex' if complex_entries else 'real'} | {n} | {operation} | "
                      f"{milliseconds(old)} | {milliseconds(new)} | {old / new:.1f} |")


if __name__ == "__main__":
    main()
