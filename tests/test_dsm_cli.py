"""The DSM command line: curve records, the figure files, the equations."""

import json

import mpmath

from derivations.dsm.theory import Theory
from pencils.cli import main

KEYS = {"m", "t", "psi_n", "psi_p", "psi_d", "lam", "activation", "train_error", "test_error", "dsm_test_loss",
        "dps", "residual"}


def test_curve_json(tmp_path, capsys):
    out = tmp_path / "c.json"
    status = main(["curve", "dsm", "--m", "1", "--m", "inf", "--t", "0.1", "--psi-n", "2", "--psi-p", "0.5,4",
                   "--lam", "1e-3", "--dps", "25", "--json", str(out)])
    assert status == 0
    records = json.loads(out.read_text())
    assert len(records) == 4 and KEYS <= set(records[0])
    assert [r["m"] for r in records] == ["1", "1", "inf", "inf"]
    # full-precision strings that agree with the library
    expected = Theory(m="inf", t="0.1", dps=25).at(2, 4, "1e-3")["test_error"]
    with mpmath.workdps(30):
        assert abs(mpmath.mpf(records[3]["test_error"]) - expected) < mpmath.mpf(10) ** -22
    assert len(records[3]["test_error"]) >= 25


def test_curve_structured_csv(tmp_path, capsys):
    out = tmp_path / "c.csv"
    status = main(["curve", "dsm", "--psi-p", "1", "--psi-n", "0.5:2:3", "--psi-d", "0.5", "--activation", "relu",
                   "--lam", "0.1", "--dps", "20", "--csv", str(out)])
    assert status == 0
    header, *rows = out.read_text().splitlines()
    assert "test_error_parallel" in header and "test_error_orthogonal" in header and len(rows) == 3


def test_figure_writes_png_and_csv(tmp_path, capsys):
    status = main(["figure", "dsm", "--out", str(tmp_path), "--psi-p", "0.5:8:6", "--dps", "20"])
    assert status == 0
    assert (tmp_path / "dsm.png").stat().st_size > 10_000
    assert len((tmp_path / "dsm.csv").read_text().splitlines()) == 1 + 12


def test_equations_dsm(capsys):
    assert main(["equations", "dsm", "--m", "inf", "--latex"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("\\begin{aligned}") and "\\mu_*" in out and "\\lambda" in out


def test_bad_input_exit_2(capsys):
    assert main(["curve", "dsm", "--psi-p", "1,2", "--lam", "-1"]) == 2
    assert "lam must be >= 0" in capsys.readouterr().err
    assert main(["curve", "dsm", "--psi-p", "1", "--psi-n", "2"]) == 2  # nothing swept
    assert "exactly one" in capsys.readouterr().err
