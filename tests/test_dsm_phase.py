"""Phase diagrams of the DSM model: PhaseRows, phase_diagram, the boundary, ``pencils phase dsm``.

Expected numbers do not come from the code under test: grid values are compared
with :meth:`Theory.at` only as a check of the plumbing, and the boundary with a
fact that holds independently of the implementation, the rank argument for
m = 1. With ``p > n m`` features the n m columns of ``F`` are linearly
independent, the ridge fit interpolates the training pairs as ``lam -> 0`` and
its residual is ``lam (F^T F/(nm) + lam)^-1 y``, so the train error is
``O(lam^2)``; with ``p < n m`` the least-squares residual does not vanish and the
train error has a positive limit. The interpolation indicator
``1 - E_train / c_t`` therefore tends to 1 exactly on ``p > n`` at m = 1, and
its level sets close in on ``p = n`` as the level tends to 1 and ``lam`` to 0.
The memorisation indicator ``1 - L_fresh / c_t`` (the loss on the training
inputs with new noise) is checked against simulations of the real model in
tests/test_dsm_theory.py; here, the seed paper's statements about it.
"""

import math
import pickle

import mpmath
import numpy as np
import pytest

from derivations.dsm.phase import (INTERPOLATION_LEVEL, PhaseRows, boundary, indicators, optimal_loss, phase_diagram,
                                   turning_curve)
from derivations.dsm.phase_cli import axis, parser
from derivations.dsm.theory import DSMError, Theory
from pencils.cli import main
from pencils.store import read_log

TINY = ["--psi-n", "0.5,2", "--psi-p", "0.25,1,4", "--dps", "15", "--scheduler", "synchronous"]


def test_optimal_loss_is_psi_d_exp_minus_2t():
    with mpmath.workdps(40):
        assert abs(optimal_loss("0.1", dps=30) - mpmath.exp(mpmath.mpf("-0.2"))) < mpmath.mpf(10) ** -35
        assert abs(optimal_loss("0.5", "0.25", dps=30) - mpmath.mpf("0.25") / mpmath.e) < mpmath.mpf(10) ** -35


def test_rows_pickle_without_their_theory_and_are_deterministic():
    rows = PhaseRows(m="inf", t="0.1", dps=15)
    first = rows.solve_row({"psi_n": "2", "lam": "1e-3"}, "psi_p", [mpmath.mpf("0.5"), mpmath.mpf(4)], 15)
    assert rows._theory is not None
    copy = pickle.loads(pickle.dumps(rows))
    assert copy._theory is None and len(pickle.dumps(rows)) < 2000
    again = copy.solve_row({"psi_n": "2", "lam": "1e-3"}, "psi_p", [mpmath.mpf("0.5"), mpmath.mpf(4)], 15)
    assert [r["test_error"] for r in first] == [r["test_error"] for r in again]


def test_rows_refuse_a_callable_activation():
    with pytest.raises(DSMError, match="by name"):
        PhaseRows(activation=math.tanh)


def test_grid_agrees_with_the_theory_at_its_points():
    """Plumbing: the stored strings are Theory.at's values at the same points; indicators from them."""
    ds = phase_diagram(["2"], ["0.5", "2"], ["0.25", "1", "4"], lam="1e-3", dps=20, scheduler="synchronous")[2]
    theory = Theory(m=2, t="0.1", dps=20, fresh=True)
    c_t = optimal_loss("0.1")
    with mpmath.workdps(25):
        for i, n in enumerate(["0.5", "2"]):
            for j, p in enumerate(["0.25", "1", "4"]):
                record = theory.at(n, p, "1e-3")
                for key in ("train_error", "fresh_train_error", "test_error", "dsm_test_loss", "gap"):
                    stored = mpmath.mpf(str(ds[f"{key}_str"].values[i, j]))
                    assert abs(stored - record[key]) <= mpmath.mpf(10) ** -18 * abs(record[key])
                memorisation = 1 - record["fresh_train_error"] / c_t
                assert abs(ds["memorisation"].values[i, j] - float(memorisation)) < 1e-14
                assert abs(ds["interpolation"].values[i, j] - float(max(0, 1 - record["train_error"] / c_t))) < 1e-14
                assert abs(ds["relative_gap"].values[i, j] - float(record["gap"] / record["dsm_test_loss"])) < 1e-14
    assert (ds["certificate"].values == "proven").all() and (ds["digits"].values == 20).all()
    assert ds.attrs["m"] == "2" and "fresh_train_error / c_t" in ds.attrs["memorisation"]


def test_m1_train_error_vanishes_like_lam_squared_above_p_equals_n_only():
    """The rank argument (module docstring): E_train = O(lam^2) for p > n, a positive limit for p < n."""
    rows = PhaseRows(m=1, dps=15)
    # (a row that jumps across p = n in one step at lam = 1e-5 meets an ambiguous branch: the solver's matter)
    values = [mpmath.mpf(x) for x in ("0.5", "0.95", "1.05", "2")]
    coarse = rows.solve_row({"psi_n": 1, "lam": "1e-4"}, "psi_p", values, 15)
    fine = rows.solve_row({"psi_n": 1, "lam": "1e-5"}, "psi_p", values, 15)
    assert all(r["certificate"] == "proven" for r in coarse + fine)
    for k in (0, 1):  # p < n
        below = [float(r["train_error"]) for r in (coarse[k], fine[k])]
        assert below[1] > 0.01 and abs(below[0] / below[1] - 1) < 0.05
    for k in (2, 3):  # p > n
        above = [float(r["train_error"]) for r in (coarse[k], fine[k])]
        assert 40 < above[0] / above[1] < 110  # lam / 10 -> train error / 100 (p = 1.05 n: not yet asymptotic)
    assert fine[3]["interpolation"] > 1 - 1e-6 and fine[0]["interpolation"] < 0.6
    # interpolating its one noise sample per input is not memorising the inputs: no nearer s_emp than the truth
    assert all(r["memorisation"] < 0 for r in fine)


def test_m_inf_keeps_a_training_loss_as_lam_vanishes():
    """The implicit ridge mu_*^2 (1 - kappa_t) (MODEL.md section 5): no interpolation at m = inf."""
    rows = PhaseRows(m="inf", dps=15)
    r = rows.solve_row({"psi_n": 1, "lam": "1e-8"}, "psi_p", [mpmath.mpf(8)], 15)[0]
    assert 0.1 < r["interpolation"] < 0.9
    assert r["memorisation"] == r["interpolation"]  # at m = inf the train error is the fresh-noise loss


def test_boundaries_follow_the_paper():
    """Interpolation at p = n for m = 1; memorisation none at m = 1, near p = n at m = inf, growing with m."""
    n = ["0.5", "1", "2"]
    p = [f"{x:.6g}" for x in np.geomspace(0.05, 50, 14)]
    diagrams = phase_diagram([1, 4, "inf"], n, p, lam="1e-3", dps=15, scheduler="synchronous")
    psi_n = np.array([0.5, 1, 2])
    fits = boundary(diagrams[1], indicator="interpolation") / psi_n  # interpolated, grid steps of a factor 1.7
    assert ((fits > 0.75) & (fits < 1.3)).all(), fits
    assert np.isnan(boundary(diagrams[1])).all()  # m = 1 never nearer the empirical optimal score than the truth
    inf, four = boundary(diagrams[math.inf]) / psi_n, boundary(diagrams[4]) / psi_n
    assert ((inf > 0.3) & (inf < 1.5)).all(), inf
    assert (np.isnan(four) | (four > 2 * inf)).all() and not np.isnan(four).all(), four  # grows with m
    # at p >> n the memorisation indicator increases with m at every psi_n
    top = [diagrams[m]["memorisation"].values[:, -1] for m in (1, 4, math.inf)]
    assert (top[0] < top[1]).all() and (top[1] < top[2]).all(), top
    # the test error turns: the interpolation peak near p = n at m = 1, the bottom of the U below it at m = inf
    peak = turning_curve(diagrams[1], "peak") / psi_n
    bottom = turning_curve(diagrams[math.inf], "bottom") / psi_n
    assert ((peak > 0.7) & (peak < 1.5)).all() and (bottom < 0.7).all(), (peak, bottom)


def test_boundary_root_finding_agrees_with_interpolation_and_refines_it():
    ds = phase_diagram([1], ["1"], ["0.5", "0.8", "1.2", "2"], lam="1e-3", dps=15, scheduler="synchronous")[1]
    theory = Theory(m=1, dps=15, fresh=True)
    rough, fine = (boundary(ds, indicator="interpolation", theory=t)[0] for t in (None, theory))
    assert abs(rough / fine - 1) < 0.1
    c_t = float(optimal_loss("0.1"))
    assert abs(1 - float(theory.at(1, fine, "1e-3")["train_error"]) / c_t - INTERPOLATION_LEVEL) < 1e-9
    ds = phase_diagram(["inf"], ["1"], ["0.5", "0.8", "1.2"], lam="1e-3", dps=15, scheduler="synchronous")[math.inf]
    theory = Theory(m="inf", dps=15, fresh=True)
    rough, fine = (boundary(ds, theory=t)[0] for t in (None, theory))
    assert abs(rough / fine - 1) < 0.1
    with mpmath.workdps(20):
        assert abs(indicators(theory.at(1, fine, "1e-3"), optimal_loss("0.1"))["memorisation"]) < 1e-9
    with pytest.raises(DSMError, match="below 1"):
        boundary(ds, 1.5)
    with pytest.raises(DSMError, match=r"in \(0, 1\)"):
        boundary(ds, 0, indicator="interpolation")
    with pytest.raises(DSMError, match="fresh=True"):
        boundary(ds, theory=Theory(m="inf", dps=15))


@pytest.mark.slow
def test_boundary_tends_to_p_equals_n_as_the_level_tends_to_1_and_lam_to_0():
    ds = phase_diagram([1], ["0.5", "2"], ["0.25", "0.5", "0.9", "1.1", "2", "4"], lam="1e-6", dps=15,
                       scheduler="synchronous")[1]
    ratio = boundary(ds, 0.999, theory=Theory(m=1, dps=15, fresh=True), indicator="interpolation") / np.array([0.5, 2])
    assert (abs(ratio - 1) < 0.01).all(), ratio


def test_axis_parsing():
    assert [float(x) for x in axis("1:3:3", "psi_n", 20, linear=True)] == [1.0, 2.0, 3.0]
    assert [round(float(x), 12) for x in axis("1:100:3", "psi_n", 20)] == [1.0, 10.0, 100.0]
    assert axis("2", "psi_p", 20) == ["2"]
    for bad, message in (("abc", "psi-n"), ("1:2", "START:STOP:COUNT"), ("1:2:x", "COUNT"), ("-1,2", "> 0"),
                         ("1,1", "repeats"), ("1:4:1", "at least 2 points"), ("__import__('os')", "psi-n")):
        with pytest.raises(DSMError, match=message):
            axis(bad, "psi_n", 20)


def test_help_has_every_option_and_an_example(capsys):
    import argparse

    p = parser()
    assert "pencils phase dsm" in p.epilog
    for action in p._actions:
        assert action.help or isinstance(action, argparse._HelpAction), action.dest
    try:
        status = main(["phase", "dsm", "--help"])
    except SystemExit as exc:
        status = exc.code
    assert status == 0 and "--resume" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--psi-n", "0:1:4"], "non-zero ends"),
    (["--psi-n", "0:1:4", "--linear"], "psi_n must be > 0"),
    (["--psi-p", "1,x"], "--psi-p"),
    (["--lam", "0"], "lam > 0"),
    (["--t", "-1"], "diffusion time"),
    (["--m", "0"], "positive integer"),
    (["--m", "1", "--m", "1"], "repeats"),
    (["--level", "1"], "below 1"),
    (["--interpolation-level", "0"], "in (0, 1)"),
    (["--plot", "x.nope"], "unknown image format"),
    (["--resume"], "--resume needs --store"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "--workers"),
    (["--activation", "nosuch"], "activation"),
    (["--simulate", "d=5"], "at least 10"),
    (["--m", "2", "--data", "atoms:4@0.3,1@0.7"], "m = 1 and m = inf only"),
    (["--data", "atoms:4@0.3,1@0.6"], "sum to"),
])
def test_bad_input_is_one_error_line_before_any_work(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    import derivations.dsm.phase_cli as phase_cli

    def no_grid(*args, **kwargs):
        raise AssertionError("computed before checking the input")

    monkeypatch.setattr(phase_cli, "phase_diagram", no_grid)
    status = main(["phase", "dsm", *TINY, *argv])
    err = capsys.readouterr().err
    assert status == 2 and "pencils: error:" in err and message in err, err
    assert "Traceback" not in err and not list(tmp_path.iterdir())


def test_command_writes_the_boundary_and_the_figures(tmp_path, capsys):
    png, pdf = tmp_path / "p.png", tmp_path / "p.pdf"
    assert main(["phase", "dsm", *TINY, "--plot", str(png)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("m,psi_n,memorisation_boundary,memorisation_ratio,interpolation_boundary,interpolation_ratio,"
                      "test_turn,certified_digits")
    rows = [line.split(",") for line in out[1:]]
    assert [r[0] for r in rows] == ["1", "1", "inf", "inf"]
    assert all(r[2] == r[3] == "" and 0.8 < float(r[5]) < 1.05 for r in rows[:2])  # m = 1: interpolation near p = n
    assert all(0.3 < float(r[3]) < 1.5 for r in rows[2:])  # m = inf: memorisation from p ~ n
    assert png.stat().st_size > 20_000
    assert main(["phase", "dsm", *TINY, "--m", "1", "--plot", str(pdf), "--no-refine"]) == 0
    assert pdf.read_bytes()[:4] == b"%PDF"


def test_store_resume_and_refusals_through_the_command(tmp_path, capsys, monkeypatch):
    """Interrupted after its first tile, the command resumes to the store of an uninterrupted run; every tile
    is computed once; an existing store without --resume, or a resume with other arguments, is refused."""
    import xarray as xr

    import derivations.dsm.phase as phase

    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert main(["phase", "dsm", *TINY, "--store", str(whole)]) == 0
    expected = capsys.readouterr().out

    calls = []
    solve = phase.PhaseRows.solve_row

    def interrupted(self, *args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return solve(self, *args)

    monkeypatch.setattr(phase.PhaseRows, "solve_row", interrupted)
    assert main(["phase", "dsm", *TINY, "--store", str(cut)]) == 130
    monkeypatch.setattr(phase.PhaseRows, "solve_row", solve)
    capsys.readouterr()
    assert main(["phase", "dsm", *TINY, "--store", str(cut)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["phase", "dsm", *TINY, "--store", str(cut), "--resume"]) == 0
    assert capsys.readouterr().out == expected
    for name in ("m=1.zarr", "m=inf.zarr"):
        a, b = xr.open_zarr(whole / name), xr.open_zarr(cut / name)
        for v in a.data_vars:
            assert np.array_equal(a[v].values, b[v].values) if a[v].dtype.kind != "f" else \
                np.array_equal(a[v].values, b[v].values, equal_nan=True), (name, v)
        tiles = [e["tile"] for e in read_log(cut / name) if e["event"] == "tile"]
        assert sorted(tiles) == [0, 1], tiles
    status = main(["phase", "dsm", *TINY, "--store", str(cut), "--resume", "--lam", "1e-2"])
    err = capsys.readouterr().err
    assert status == 2 and "another grid" in err and "fixed" in err


@pytest.mark.slow
def test_simulated_points_are_drawn_and_agree(tmp_path, capsys):
    png = tmp_path / "s.png"
    assert main(["phase", "dsm", "--psi-n", "0.5,2", "--psi-p", "0.25:4:5", "--dps", "15", "--scheduler",
                 "synchronous", "--plot", str(png), "--simulate", "d=100,seeds=2,points=2"]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("#   simulated")]
    assert len(lines) == 4 and png.stat().st_size > 20_000
    for line in lines:  # measured memorisation within 0.05 of the theory (d = 100, finite-size effects)
        measured = float(line.split("memorisation ")[1].split()[0])
        theory = float(line.split("(theory ")[1].rstrip(")"))
        assert abs(measured - theory) < 0.05, line


@pytest.mark.slow
def test_sigkill_then_resume_gives_the_uninterrupted_store(tmp_path):
    """The command killed with SIGKILL after its first tiles, then resumed: the same store as an uninterrupted
    run, and no tile computed twice (the logs of both runs together)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import xarray as xr

    argv = [sys.executable, "-m", "pencils.cli", "phase", "dsm", "--psi-n", "0.5:4:5", "--psi-p", "0.25:8:6",
            "--m", "1", "--dps", "15", "--scheduler", "synchronous", "--no-refine"]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    subprocess.run([*argv, "--store", str(whole)], check=True, capture_output=True)
    process = subprocess.Popen([*argv, "--store", str(cut)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if sum(e["event"] == "tile" for e in read_log(cut / "m=1.zarr")) >= 2:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run finished before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = [e["tile"] for e in read_log(cut / "m=1.zarr") if e["event"] == "tile"]
    assert 2 <= len(before) < 5
    subprocess.run([*argv, "--store", str(cut), "--resume"], check=True, capture_output=True)
    tiles = [e["tile"] for e in read_log(cut / "m=1.zarr") if e["event"] == "tile"]
    # no tile twice; a SIGKILL between a tile's write and its log line (microseconds) may leave one unlogged
    assert len(tiles) == len(set(tiles)) and len(set(range(5)) - set(tiles)) <= 1, tiles
    a, b = xr.open_zarr(whole / "m=1.zarr"), xr.open_zarr(cut / "m=1.zarr")
    for v in a.data_vars:
        assert np.array_equal(a[v].values, b[v].values, equal_nan=a[v].dtype.kind == "f"), v


def test_optimal_loss_is_the_theory_s_c_t_with_structured_data():
    """c_t of the indicator is MODEL.md's c_t = 1 - (h/d) E|grad log P_t|^2 = L_test - h E_test (psi_D = 1/2)."""
    ds = phase_diagram([1], ["1"], ["0.5", "2"], psi_d="0.5", activation="relu", dps=15, scheduler="synchronous")[1]
    h = 1 - math.exp(-0.2)
    c_t = (ds["dsm_test_loss"] - h * ds["test_error"]).values
    assert np.allclose(c_t, 0.5 * math.exp(-0.2), rtol=1e-13, atol=0)
    assert ds["interpolation"].values[0, 0] == 0 and ds["interpolation"].values[0, 1] > 0.99


def test_any_data_covariance():
    """A two-level covariance: c_t = 1 - h tr((a^2 C + h)^-1)/d, which is also L_test - h E_test of the theory;
    the grid and its boundaries run for m = 1 and m = inf."""
    data = "atoms:4@0.3,1@0.7"
    with mpmath.workdps(40):
        a2 = mpmath.exp(mpmath.mpf("-0.2"))
        h = 1 - a2
        closed = 1 - h * (mpmath.mpf("0.3") / (4 * a2 + h) + mpmath.mpf("0.7") / (a2 + h))
        assert abs(optimal_loss("0.1", data=data, dps=30) - closed) < mpmath.mpf(10) ** -35
    diagrams = phase_diagram([1, "inf"], ["1"], ["0.5", "1", "2", "4"], data=data, dps=15, scheduler="synchronous")
    ds = diagrams[math.inf]
    assert np.allclose((ds["dsm_test_loss"] - (1 - float(a2)) * ds["test_error"]).values, float(closed), rtol=1e-13)
    assert ds.attrs["data"] == data and "tr((a^2 C + h)^-1)" in ds.attrs["memorisation"]
    assert np.isnan(boundary(diagrams[1])).all() and 0.5 < boundary(diagrams[math.inf])[0] < 1
