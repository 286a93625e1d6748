import json

import pytest
import sympy as sp

from derivations.textbook import path
from pencils.cli import main


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_equations_text_and_elimination(capsys):
    status, out, _ = run(capsys, "equations", path("marchenko_pastur"), "--eliminate")
    assert status == 0
    assert "g11 = 1/(-g22*psi + z)" in out and "g11**2*z + g11*(psi - z - 1) + 1 = 0" in out


def test_equations_json_is_sympy_parsable(capsys):
    status, out, _ = run(capsys, "equations", path("wishart_product"), "--json", "--name", "g11=q")
    data = json.loads(out)
    assert status == 0 and "q" in data["unknowns"]
    assert data["pencil"]["sizes"] == ["1", "phi", "psi", "phi"]
    for equation in data["equations"]:
        assert isinstance(sp.sympify(equation), sp.Eq)
    assert sp.sympify(data["targets"]["q"]) == sp.Symbol("q")


def test_equations_latex(capsys):
    status, out, _ = run(capsys, "equations", path("semicircle"), "--latex", "--standalone")
    assert status == 0 and out.startswith("\\documentclass") and "\\begin{aligned}" in out


def test_solve_json_with_derivatives(capsys):
    status, out, _ = run(capsys, "solve", path("ridge"), "--at", "lam=1", "psi=2", "--derivative", "lam",
                         "--order", "2", "--dps", "40", "--json")
    data = json.loads(out)
    assert status == 0
    assert data["values"]["g11"].startswith("0.41421356237309504880168872420969807856")
    assert {"dg11/dlam", "d2g11/dlam2"} <= set(data["values"])
    assert data["checks"] == ["residual", "finite", "real", "stieltjes"] and data["dps"] == 40


def test_solve_sweep_csv(capsys):
    status, out, _ = run(capsys, "solve", path("ridge"), "--at", "psi=2", "--sweep", "lam=0.1:1:5")
    assert status == 0
    lines = [line for line in out.splitlines() if not line.startswith("#")]
    assert lines[0].startswith("lam,g11,residual") and len(lines) == 6


def test_check_against_monte_carlo(capsys):
    status, out, _ = run(capsys, "check", path("marchenko_pastur"), "--at", "z=-1", "psi=0.5", "--N", "150",
                         "--seeds", "4")
    assert status == 0 and "theory" in out and "g1,1" in out and "1 of 1 entries agree" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["solve", "nowhere.pencil", "--at", "z=1"], "No such file"),
        (["solve", str(path("semicircle")), "--at", "z=0.5", "s=1"], "all parameters are real"),
        (["solve", str(path("semicircle")), "--at", "z=1"], "no value given for s"),
    ],
)
def test_errors_exit_2(capsys, argv, message):
    status, _, err = run(capsys, *argv)
    assert status == 2 and message in err
