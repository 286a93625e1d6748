"""Grids on Dask: memory of a 10^6-point grid, speed-up with workers, per-tile overheads, extrapolation.

Run: ``python benchmarks/bench_grid.py [--points 1000] [--part memory|scaling|all]``.

* memory: a ``points x points`` grid (default 1000 x 1000 = 10^6 points) of a
  cheap row solver (the Marchenko-Pastur closed form at dps 30, in mpmath),
  tiles of one row, 2 worker processes, streamed into a Zarr store; the peak
  resident memory of the run (this process plus the Dask processes), sampled
  every 0.1 s.
* scaling: the same cheap grid (fewer points) and a real system (the
  Marchenko-Pastur pencil solved and certified at dps 30) with 1 and 2 workers
  in one run: wall time, speed-up; the per-tile cost in this process (writing
  a tile into the store and logging it) and the scheduler's per-task overhead
  (empty tiles); then the throughput extrapolated to 100 workers:
  ``min(100 x points/s per worker, points per tile / client cost per tile)``.
"""

import argparse
import os
import shutil
import statistics
import tempfile
import threading
import time

import mpmath
import psutil

from pencils import DysonSystem, load
from pencils.examples import path
from pencils.grids import RowSolver, axis_points, grid


class ClosedForm(RowSolver):
    """The Marchenko-Pastur g(psi, z) from its quadratic: cheap, so that the grid machinery is what is measured."""

    variables = {"g": "real", "status": "text"}

    def solve_row(self, point, over, values, dps):
        rows = []
        with mpmath.workdps(dps + 10):
            psi = point["psi"]
            for z in values:
                b = z - psi + 1
                rows.append({"g": (b + mpmath.sqrt(b * b - 4 * z)) / (2 * z), "status": "closed form"})
        return rows


class Empty(RowSolver):
    """No work at all: what remains is the scheduling and writing of a tile."""

    variables = {"g": "float"}

    def solve_row(self, point, over, values, dps):
        return [{"g": 0.0} for _ in values]


class PeakMemory:
    """Peak total RSS of this process and its children, sampled in a thread."""

    def __enter__(self):
        self.peak, self.stop = 0, False
        me = psutil.Process()

        def sample():
            while not self.stop:
                total = 0
                for p in [me] + me.children(recursive=True):
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, total)
                time.sleep(0.1)

        self.thread = threading.Thread(target=sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop = True
        self.thread.join()


def axes(n):
    return {"psi": axis_points(f"0.2:3:{n}", dps=30), "z": axis_points(f"-3:-0.1:{n}", dps=30)}


def timed_grid(rows, n, workers, where, axes_override=None, **kw):
    shutil.rmtree(where, ignore_errors=True)
    start = time.perf_counter()
    with PeakMemory() as memory:
        grid(rows, axes_override or axes(n), dps=30, store=where, workers=workers, progress=False, **kw)
    return time.perf_counter() - start, memory.peak


def client_cost_per_tile(where):
    """Median time this process spends per tile (store write + log), measured on a synchronous run's store."""
    from pencils.grids import Layout, encode_row
    from pencils.store import GridStore

    layout = Layout(axes(100), dps=30)
    rows = ClosedForm()
    store = GridStore.open_or_create(os.path.join(where, "cost.zarr"), layout, rows.variables,
                                     {"computed": {}, "dps": 30, "along": "z", "fixed": {}, "pencils_version": "b"})
    arrays = {k: v.reshape(1, -1) for k, v in encode_row(
        rows.variables, rows.solve_row({"psi": mpmath.mpf(1)}, "z", layout.values["z"], 30), 30).items()}
    times = []
    for index in range(layout.count):
        start = time.perf_counter()
        store.write(index, arrays)
        store.log("tile", tile=index)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1000, help="points per axis of the memory grid (default 1000)")
    parser.add_argument("--part", choices=["memory", "scaling", "all"], default="all")
    args = parser.parse_args()
    where = tempfile.mkdtemp(prefix="bench_grid_")
    print(f"# cores: {os.cpu_count()}, load average at start: {os.getloadavg()}")
    try:
        if args.part in ("memory", "all"):
            n = args.points
            seconds, peak = timed_grid(ClosedForm(), n, 2, os.path.join(where, "big.zarr"))
            size = sum(f.stat().st_size for f in os.scandir(os.path.join(where, "big.zarr", "g_str")))
            print(f"memory: {n} x {n} = {n * n} points, 2 workers: {seconds:.1f} s "
                  f"({n * n / seconds:.0f} points/s), peak RSS of the run {peak / 2**20:.0f} MiB, "
                  f"g_str on disk {size / 2**20:.1f} MiB")
        if args.part in ("scaling", "all"):
            system = DysonSystem(load(path("marchenko_pastur")))
            results = {}
            for label, rows, n in (("closed form", ClosedForm(), 200), ("MP pencil, certified", system, 40)):
                for workers in (1, 2):
                    seconds, _ = timed_grid(rows, n, workers, os.path.join(where, "s.zarr"))
                    results[label, workers] = (seconds, n * n)
                    print(f"scaling: {label}, {n} x {n}, {workers} worker(s): {seconds:.2f} s, "
                          f"{n * n / seconds:.0f} points/s")
                one, two = results[label, 1][0], results[label, 2][0]
                print(f"scaling: {label}: speed-up 1 -> 2 workers {one / two:.2f}")
            startup, _ = timed_grid(Empty(), 2, 2, os.path.join(where, "e.zarr"))
            tiles = 2000
            total, _ = timed_grid(Empty(), 2, 2, os.path.join(where, "e.zarr"), tile={"z": 1},
                                  axes_override={"psi": list(range(1, tiles // 2 + 1)), "z": [1, 2]})
            per_tile = (total - startup) / tiles
            cost = client_cost_per_tile(where)
            seconds, points = results["MP pencil, certified", 2]
            rate = points / seconds / 2  # points/s per worker, cluster start-up included
            capacity = 40 / per_tile
            print(f"overheads: cluster start-up {startup:.1f} s; one tile costs {per_tile * 1e3:.1f} ms end to end "
                  f"({tiles} empty one-point tiles on 2 workers), of which this process spends {cost * 1e3:.1f} ms "
                  f"(median) writing and logging it")
            print(f"extrapolation (MP pencil, rows of 40 points per tile): {rate:.0f} points/s per worker; "
                  f"100 workers: {min(100 * rate, capacity):.0f} points/s (workers' total {100 * rate:.0f}, "
                  f"one writer's limit {capacity:.0f}); the writer keeps up with 100 workers from tiles of "
                  f"{100 * rate * per_tile:.0f} points on (rows of 1000 points: limit {1000 / per_tile:.0f} points/s)")
    finally:
        shutil.rmtree(where, ignore_errors=True)


if __name__ == "__main__":
    main()
