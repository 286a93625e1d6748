"""Grid stores: refusal to overwrite, identity on resume, and resumption after SIGINT and SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr

from pencils import DysonSystem, load
from pencils.examples import path
from pencils.grids import RowSolver, axis_points, grid
from pencils.store import LOG_NAME, StoreError, read_log


class Square(RowSolver):
    """x^2 along the row, and a KeyboardInterrupt (a Ctrl-C in the middle of a run) at one chosen value."""

    variables = {"y": "real"}

    def __init__(self, interrupt_at=None):
        self.interrupt_at = interrupt_at

    def solve_row(self, point, over, values, dps):
        if self.interrupt_at is not None and point["k"] == self.interrupt_at:
            raise KeyboardInterrupt
        return [{"y": (point["k"] + v) ** 2} for v in values]


def same(a, b):
    """Two grid datasets hold identical arrays (NaN equal to NaN) and attributes."""
    assert set(a.data_vars) == set(b.data_vars) and a.attrs == b.attrs
    for name in a.data_vars:
        x, y = a[name].values, b[name].values
        if x.dtype.kind in "fc":
            assert np.array_equal(x, y, equal_nan=True), name
        else:
            assert np.array_equal(x, y), name


def test_an_existing_store_is_not_overwritten_and_a_different_grid_not_resumed(tmp_path):
    where = tmp_path / "g.zarr"
    grid(Square(), {"k": [0, 1], "x": [1, 2, 3]}, dps=15, store=where, scheduler="synchronous")
    with pytest.raises(StoreError, match="exists: resume it"):
        grid(Square(), {"k": [0, 1], "x": [1, 2, 3]}, dps=15, store=where, scheduler="synchronous")
    with pytest.raises(StoreError, match=r"differs in: axes, dps\)"):
        grid(Square(), {"k": [0, 1], "x": [1, 2, 4]}, dps=16, store=where, resume=True, scheduler="synchronous")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "file.txt").write_text("not a store")
    with pytest.raises(StoreError, match="not a pencils grid store"):
        grid(Square(), {"k": [0, 1]}, dps=15, store=tmp_path / "other", resume=True, scheduler="synchronous")


def test_an_interrupted_run_resumes_to_the_same_store(tmp_path):
    axes = {"k": [0, 1, 2, 3], "x": [1, 2, 3]}
    reference = grid(Square(), axes, dps=15, store=tmp_path / "ref.zarr", scheduler="synchronous")
    where = tmp_path / "g.zarr"
    with pytest.raises(KeyboardInterrupt):
        grid(Square(interrupt_at=2), axes, dps=15, store=where, scheduler="synchronous")
    partial = xr.open_zarr(where)
    assert partial["solved"].values.tolist() == [[True] * 3] * 2 + [[False] * 3] * 2  # readable meanwhile
    assert np.isnan(partial["y"].values[2:]).all()
    finished = grid(Square(), axes, dps=15, store=where, resume=True, scheduler="synchronous")
    same(finished.load(), reference.load())
    events = read_log(where)
    assert [e["event"] for e in events] == ["start", "tile", "tile", "interrupted", "start", "tile", "tile", "finished"]
    assert [e["tile"] for e in events if e["event"] == "tile"] == [0, 1, 2, 3]


def test_a_log_line_cut_by_a_kill_is_skipped(tmp_path):
    (tmp_path / LOG_NAME).write_text(json.dumps({"event": "start"}) + "\n" + '{"event": "ti')
    assert read_log(tmp_path) == [{"event": "start"}]


def _wait_for_tiles(where, count, process, timeout=240):
    start = time.time()
    while time.time() - start < timeout:
        if process.poll() is not None:
            raise AssertionError(f"the run ended early with status {process.returncode}: {process.stderr.read()}")
        if sum(e["event"] == "tile" for e in read_log(where)) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} tiles after {timeout} s")


@pytest.mark.slow
def test_sigint_then_sigkill_then_resume_gives_the_uninterrupted_store(tmp_path):
    """The acceptance test of resumption: the command killed twice, by SIGINT and by SIGKILL, on 2 workers."""
    axes = {"psi": "0.2:3:16", "z": "-3:-0.1:40"}  # 64 tiles: enough left after 6 for the signals to land mid-run
    pencil = path("marchenko_pastur")
    system = DysonSystem(load(pencil))
    reference = grid(system, {k: axis_points(v, dps=25) for k, v in axes.items()}, dps=25, tile={"z": 10},
                     store=tmp_path / "ref.zarr", scheduler="synchronous")
    where = tmp_path / "g.zarr"
    # SIGINT's default handler restored: a test worker of pytest-xdist ignores SIGINT, and its children inherit that
    code = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from pencils.cli import main; sys.exit(main())")
    command = [sys.executable, "-c", code, "grid", pencil,
               *[f"--axis={k}={v}" for k, v in axes.items()], "--tile", "z=10", "--dps", "25", "--store", str(where),
               "--workers", "2"]

    def start(*extra):
        return subprocess.Popen(command + list(extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)

    run = start()
    _wait_for_tiles(where, 6, run)
    run.send_signal(signal.SIGINT)  # Ctrl-C
    assert run.wait(timeout=120) == 130, run.stderr.read()
    assert "interrupted" in run.stderr.read()
    first = sum(e["event"] == "tile" for e in read_log(where))
    run = start("--resume")
    _wait_for_tiles(where, first + 6, run)
    os.killpg(run.pid, signal.SIGKILL)  # the command and its workers, at once
    run.wait(timeout=60)
    run = start("--resume")
    out, err = run.communicate(timeout=600)
    assert run.returncode == 0, err
    assert "640 points, 640 proven" in out
    same(xr.open_zarr(where).load(), reference.load())
    events = read_log(where)
    tiles = [e["tile"] for e in events if e["event"] == "tile"]
    assert len(tiles) == len(set(tiles)), "a tile computed twice"
    # a tile's log line follows its write: a SIGKILL between the two (microseconds) leaves one tile, whole
    # in the store (compared above), without its line
    assert set(tiles) <= set(range(64)) and len(set(range(64)) - set(tiles)) <= 1
    assert [e["event"] for e in events if e["event"] in ("start", "interrupted", "finished")] == [
        "start", "interrupted", "start", "start", "finished"]


class Broken(RowSolver):
    variables = {"y": "real"}

    def solve_row(self, point, over, values, dps):
        raise ValueError("a bug in a row solver")


def test_a_failing_tile_stops_the_run_and_is_logged(tmp_path):
    with pytest.raises(ValueError, match="a bug in a row solver"):
        grid(Broken(), {"k": [0, 1]}, dps=15, store=tmp_path / "g.zarr", scheduler="synchronous")
    events = read_log(tmp_path / "g.zarr")
    assert events[-1]["event"] == "failed" and events[-1]["error"] == "ValueError: a bug in a row solver"
