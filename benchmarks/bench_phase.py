"""Benchmark of ``pencils phase dsm``: a (psi_n, psi_p) phase diagram for m = 1 and m = inf (``--ms``), timed
with 1 and 2 worker processes in one run, the two stores compared, the boundaries against p = n.

Run: ``python benchmarks/bench_phase.py [--size 100] [--dps 30] [--workers 1,2] [--ms 1,inf] [--out DIR]``.
Each worker count runs the same command (a subprocess: ``pencils phase dsm ... --workers W --store DIR
--no-refine``), so the wall times include the local Dask cluster's start; the grid's own time is the
command's ``points in X s`` line. Then the store of the last run is read again with ``--resume`` (nothing
left to compute) to root-find the boundary with the theory and draw ``phase.png`` / ``phase.pdf``. The
machine's load average is printed before, during (sampled) and after: it is shared. Prints Markdown and
writes ``result.json`` in ``--out``.
"""

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np


def command(args, workers, store, extra=()):
    ms = [x for m in args.ms.split(",") for x in ("--m", m)]
    return ["pencils", "phase", "dsm", "--psi-n", f"0.1:10:{args.size}", "--psi-p", f"0.01:100:{args.size}",
            *ms, "--t", "0.1", "--lam", "1e-3", "--activation", "tanh", "--dps", str(args.dps),
            "--workers", str(workers), "--store", str(store), *extra]


def sample_load(samples, stop):
    while not stop.wait(10):
        samples.append(os.getloadavg()[0])


def identical(a, b, ms):
    """Every variable of the stores of ``a`` and ``b`` equal (NaN = NaN), for every m."""
    import xarray as xr

    for name in (f"m={m}.zarr" for m in ms):
        x, y = xr.open_zarr(a / name), xr.open_zarr(b / name)
        for v in x.data_vars:
            left, right = x[v].values, y[v].values
            if left.dtype.kind == "f":
                if not np.array_equal(left, right, equal_nan=True):
                    return False, f"{name}:{v}"
            elif not (left == right).all():
                return False, f"{name}:{v}"
    return True, ""


def level_ratios(ds, key, level):
    """psi_p / psi_n where ``key`` first rises through ``level`` along psi_p (interpolated in log psi_p), per row."""
    x = np.log(np.asarray(ds["psi_p"].values, dtype=float))
    out = []
    for n, row in zip(ds["psi_n"].values, np.asarray(ds[key].values, dtype=float)):
        for i in range(len(row) - 1):
            if row[i] < level <= row[i + 1]:
                out.append(math.exp(x[i] + (level - row[i]) * (x[i + 1] - x[i]) / (row[i + 1] - row[i])) / n)
                break
    return np.array(out)


def alternatives(store, ms):
    """The candidate indicators on the stored grids: where their level sets sit relative to p = n."""
    import xarray as xr

    from derivations.dsm.phase import turning_curve

    table = {}
    for m in ms:
        ds = xr.open_zarr(Path(store) / f"m={m}.zarr")
        rows = ds.sizes["psi_n"]
        entries = {}
        for key, level in (("memorisation", -0.5), ("memorisation", 0), ("memorisation", 0.5),
                           ("interpolation", 0.5), ("interpolation", 0.9), ("interpolation", 0.99),
                           ("relative_gap", 0.5), ("relative_gap", 0.9)):
            r = level_ratios(ds, key, level)
            entries[f"{key} = {level}"] = (len(r), rows, *(np.percentile(r, [0, 50, 100]) if len(r) else [np.nan] * 3))
        for which in ("peak", "bottom"):
            t = turning_curve(ds, which) / ds["psi_n"].values
            t = t[np.isfinite(t)]
            entries[f"test error {which} (sign change of dE_test/dpsi_p)"] = (
                len(t), rows, *(np.percentile(t, [0, 50, 100]) if len(t) else [np.nan] * 3))
        region = np.asarray(ds["train_falls_test_rises"].values)
        above = np.asarray(ds["psi_p"].values)[None, :] > np.asarray(ds["psi_n"].values)[:, None]
        entries["train_falls_test_rises: share of p > n / p < n points"] = (
            float(region[above].mean()), float(region[~above].mean()))
        table[m] = entries
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100, help="points along each axis (default 100)")
    parser.add_argument("--dps", type=int, default=30, help="working precision (default 30)")
    parser.add_argument("--workers", default="1,2", help="worker counts to time, comma-separated (default 1,2)")
    parser.add_argument("--ms", default="1,inf", help="the m values, comma-separated (default 1,inf)")
    parser.add_argument("--out", default="out/bench_phase", help="folder for the stores and figures")
    args = parser.parse_args()
    ms = args.ms.split(",")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"size": args.size, "dps": args.dps, "cpus": os.cpu_count(), "load_before": os.getloadavg(), "runs": []}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average before "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    last = None
    for workers in (int(w) for w in args.workers.split(",")):
        store = out / f"workers{workers}"
        shutil.rmtree(store, ignore_errors=True)
        samples, stop = [], threading.Event()
        sampler = threading.Thread(target=sample_load, args=(samples, stop), daemon=True)
        sampler.start()
        start = time.perf_counter()
        run = subprocess.run(command(args, workers, store, ["--no-refine"]), capture_output=True, text=True)
        wall = time.perf_counter() - start
        stop.set()
        if run.returncode:
            print(run.stderr[-3000:])
            raise SystemExit(f"workers={workers}: exit {run.returncode}")
        grid = float(re.search(r"points in ([0-9.]+) s", run.stderr).group(1))
        points = int(re.search(r"([0-9]+) points in", run.stderr).group(1))
        entry = {"workers": workers, "wall_s": round(wall, 1), "grid_s": grid, "points": points,
                 "points_per_s": round(points / grid, 2), "load_mean": round(float(np.mean(samples)), 2)
                 if samples else None, "load_max": round(max(samples), 2) if samples else None}
        result["runs"].append(entry)
        print(f"workers={workers}: {entry}", flush=True)
        (out / f"workers{workers}.csv").write_text(run.stdout)
        last = store
    runs = result["runs"]
    if len(runs) > 1:
        result["speedup_grid"] = round(runs[0]["grid_s"] / runs[-1]["grid_s"], 2)
        result["speedup_wall"] = round(runs[0]["wall_s"] / runs[-1]["wall_s"], 2)
        same, where = identical(out / f"workers{runs[0]['workers']}", last, ms)
        result["stores_identical"] = same
        result["first_difference"] = where
    # the boundary, root-found with the theory, and the figure, from the finished store (nothing recomputed)
    for suffix in ("png", "pdf"):
        start = time.perf_counter()
        run = subprocess.run(command(args, runs[-1]["workers"], last, ["--resume", "--plot",
                                                                          str(out / f"phase.{suffix}")]),
                             capture_output=True, text=True, check=True)
        result[f"resume_and_plot_{suffix}_s"] = round(time.perf_counter() - start, 1)
    (out / "boundary.csv").write_text(run.stdout)
    rows = [line.split(",") for line in run.stdout.splitlines()[1:] if line and not line.startswith("#")]
    summary = {}
    for m in ms:  # columns: m, psi_n, memorisation boundary, ratio, interpolation boundary, ratio, test turn, digits
        summary[m] = {}
        for name, column in (("memorisation", 3), ("interpolation", 5)):
            ratios = np.array([float(r[column]) for r in rows if r[0] == m and r[column]])
            summary[m][name] = {"rows_with_boundary": int(len(ratios)),
                                "ratio_min_median_max": [float(x) for x in np.percentile(ratios, [0, 50, 100])]
                                if len(ratios) else None}
        turns = np.array([float(r[6]) / float(r[1]) for r in rows if r[0] == m and r[6]])
        summary[m]["turn_ratio_median"] = float(np.median(turns)) if len(turns) else None
    result["boundary"] = summary
    result["alternatives"] = {m: {k: [float(x) for x in v] for k, v in e.items()}
                              for m, e in alternatives(last, ms).items()}
    result["load_after"] = os.getloadavg()
    result["log_tail"] = run.stderr.splitlines()[-6:]
    (out / "result.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
