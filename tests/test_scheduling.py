"""Where tiles run: a local Dask cluster and a real cluster reached by address give the synchronous store."""

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from pencils import DomainError, DysonSystem, load
from pencils.examples import path
from pencils.grids import axis_points, grid

AXES = {"psi": "0.5:2:3", "z": "-2:-0.2:8"}


@pytest.fixture(scope="module")
def reference():
    system = DysonSystem(load(path("marchenko_pastur")))
    axes = {k: axis_points(v, dps=20) for k, v in AXES.items()}
    return system, axes, grid(system, axes, dps=20, tile={"z": 4}, scheduler="synchronous")


def identical(a, b):
    for name in a.data_vars:
        x, y = a[name].values, b[name].values
        assert np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"), name


@pytest.mark.slow
def test_a_local_cluster_of_two_processes_gives_the_synchronous_grid(reference, tmp_path):
    system, axes, expected = reference
    ds = grid(system, axes, dps=20, tile={"z": 4}, store=tmp_path / "g.zarr", workers=2)
    identical(ds.load(), expected)
    from pencils.store import read_log

    workers = {e["worker"] for e in read_log(tmp_path / "g.zarr") if e["event"] == "tile"}
    assert len(workers) == 2, workers  # both processes took tiles


@pytest.mark.slow
def test_a_cluster_started_as_separate_processes_and_reached_by_address(reference, tmp_path):
    system, axes, expected = reference
    file = tmp_path / "scheduler.json"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    processes = [subprocess.Popen(dask + ["--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                          "--scheduler-file", str(file)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(600):
            if file.exists() and file.read_text().strip():
                break
            time.sleep(0.05)
        address = json.loads(file.read_text())["address"]
        for _ in range(2):
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "1", "--nthreads", "1",
                 "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        ds = grid(system, axes, dps=20, tile={"z": 4}, scheduler=address)
        identical(ds, expected)
    finally:
        for p in reversed(processes):
            p.terminate()
        for p in processes:
            p.wait(timeout=30)


def test_bad_worker_counts_are_refused(reference):
    system, axes, _ = reference
    with pytest.raises(DomainError, match="workers must be a positive integer"):
        grid(system, axes, dps=20, workers=0)
