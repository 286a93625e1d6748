import csv
import json

import pytest
import sympy as sp

from pencils.examples import path
from injections import INJECTIONS
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
    assert data["checks"] == ["residual", "finite", "real", "stieltjes", "certified"] and data["dps"] == 40
    assert min(data["certified_digits"].values()) >= 38 and data["uncertified_reason"] == ""


def test_solve_sweep_csv(capsys):
    status, out, _ = run(capsys, "solve", path("ridge"), "--at", "psi=2", "--sweep", "lam=0.1:1:5")
    assert status == 0
    lines = [line for line in out.splitlines() if not line.startswith("#")]
    assert lines[0].startswith("lam,g11,g11_digits,certificate,residual") and len(lines) == 6
    assert all(line.split(",")[2:4] == ["30", "proven"] for line in lines[1:])


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


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--sweep", "lam=0:1:5", "--log"], "non-zero ends"),          # was ZeroDivisionError
        (["--sweep", "lam=1:-1:5", "--log"], "same sign"),
        (["--sweep", "lam=0.1:1:0"], "at least 2"),                     # was a printed row
        (["--sweep", "lam=0.1:1:1"], "at least 2"),
        (["--sweep", "lam=0.1:1:2.5"], "must be an integer"),
        (["--sweep", "lam=0.1:1"], "a grid is START:STOP:COUNT"),
        (["--sweep", "lam=0.1:1:3", "--at", "lam=1"], "lam is also fixed"),  # was a ValueError traceback
        (["--dps", "5"], "10 to 10000"),
        (["--dps", "20000"], "10 to 10000"),
        (["--order", "0"], "positive integer"),
    ],
)
def test_bad_sweep_and_options_exit_2(capsys, argv, message):
    status, out, err = run(capsys, "solve", path("ridge"), "--at", "psi=2", *argv)
    assert status == 2 and out == ""
    assert err.splitlines()[-1].startswith("pencils: error: ") and message in err and "Traceback" not in err


def test_library_errors_are_one_line(capsys):
    status, _, err = run(capsys, "solve", path("ridge"), "--at", "psi=-2", "lam=1")
    assert status == 2 and err.startswith("pencils: error: ") and len(err.splitlines()) == 1


def _fail_at(monkeypatch, n):
    """Make the n-th solve of a sweep fail."""
    import pencils.sweep as module
    from pencils.exceptions import ConvergenceError

    real, calls = module.solve, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            raise ConvergenceError("made up")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "solve", failing)


def test_sweep_streams_each_row_and_says_how_far_it_got(capsys, monkeypatch):
    _fail_at(monkeypatch, 4)
    status, out, err = run(capsys, "solve", path("ridge"), "--at", "psi=2", "--sweep", "lam=0.1:1:6")
    assert status == 2
    lines = [line for line in out.splitlines() if not line.startswith("#")]
    assert lines[0].startswith("lam,g11") and len(lines) == 1 + 3
    assert "pencils: error: made up" in err and "wrote 3 of 6 points to standard output before: made up" in err


def test_sweep_json_keeps_the_points_of_a_failed_sweep(capsys, monkeypatch):
    _fail_at(monkeypatch, 3)
    status, out, _ = run(capsys, "solve", path("ridge"), "--at", "psi=2", "--sweep", "lam=0.1:1:6", "--json")
    data = json.loads(out)
    assert status == 2 and len(data["rows"]) == 2 and data["provenance"]["dps"] == 30


def _child(argv, **kwargs):
    """``pencils ARGV`` in a child process with Python's default Ctrl-C handling (a shell may ignore SIGINT)."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from pencils.cli import main; sys.exit(main(sys.argv[1:]))")
    root = Path(__file__).resolve().parents[1]
    env = {**__import__("os").environ, "PYTHONPATH": str(root)}
    return subprocess.Popen([sys.executable, "-c", code, *map(str, argv)], env=env, cwd=root, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def test_broken_pipe_is_quiet():
    child = _child(["solve", path("ridge"), "--at", "psi=2", "--sweep", "lam=1e-3:10:3000", "--log"])
    first = child.stdout.readline()
    child.stdout.close()  # like `| head -1`
    child.wait(timeout=120)
    err = child.stderr.read()
    assert first.startswith("# pencil") and child.returncode == 141
    assert "Traceback" not in err and "Exception ignored" not in err and "BrokenPipe" not in err


@pytest.mark.parametrize("sig, status, word", [("SIGINT", 130, "interrupted"), ("SIGTERM", 143, "terminated")])
def test_interrupted_sweep_keeps_its_rows(sig, status, word):
    import signal

    child = _child(["solve", path("ridge"), "--at", "psi=2", "--sweep", "lam=1e-3:10:20000", "--log"])
    lines = []
    while len([line for line in lines if not line.startswith("#")]) < 4:
        lines.append(child.stdout.readline())
    child.send_signal(getattr(signal, sig))
    lines += child.stdout.read().splitlines(keepends=True)  # (communicate() would skip what readline buffered)
    err = child.stderr.read()
    child.wait(timeout=60)
    rows = [line for line in lines if line.strip() and not line.startswith("#")]
    assert child.returncode == status and "Traceback" not in err
    assert err.startswith(f"pencils: {word}") and f"points to standard output before: {word}" in err
    written = int(err.split("wrote ")[1].split()[0])
    fields = list(csv.reader(rows))
    assert len(rows) == 1 + written >= 4 and all(len(f) == len(fields[0]) for f in fields)


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    assert list(tmp_path.iterdir()) == []  # no side effect: nothing was evaluated


@pytest.mark.parametrize("text", INJECTIONS[:10])
@pytest.mark.parametrize(
    "argv",
    [
        ["solve", path("marchenko_pastur"), "--at", "z={}", "psi=0.5"],
        ["solve", path("marchenko_pastur"), "--at", "z=-1", "psi={}"],
        ["solve", path("ridge"), "--at", "psi=2", "--sweep", "lam={}:1:3"],
        ["check", path("marchenko_pastur"), "--at", "z=-1", "psi={}", "--N", "20", "--seeds", "2"],
    ],
    ids=["solve-at-z", "solve-at-psi", "sweep", "check"],
)
def test_injections_through_the_command_line_are_refused(capsys, sandbox, argv, text):
    status, out, err = run(capsys, *[a.format(text) if isinstance(a, str) else a for a in argv])
    assert status == 2 and "Traceback" not in err and err.startswith("pencils: error")


def test_linearize_writes_a_pencil_file_that_solves(capsys, tmp_path):
    out_file = tmp_path / "mp.pencil"
    status, _, err = run(capsys, "linearize", "(z - X*X.T)**-1", "--matrix", "X:gaussian:1,psi",
                         "--out", out_file)
    assert status == 0 and "block (1, 1) of a 2-block pencil" in err
    status, out, _ = run(capsys, "solve", out_file, "--at", "z=-1", "psi=0.5", "--json")
    # Marchenko-Pastur at z = -1, psi = 1/2: g^2 - g/2 - 1 = 0, the negative root (1 - sqrt(17))/4
    assert status == 0 and json.loads(out)["values"]["g11"].startswith("-0.78077640640441513745535246399")


def test_linearize_to_standard_output_states_the_block(capsys):
    status, out, _ = run(capsys, "linearize", "X.T*(X*X.T + lam)**-1*X", "--matrix", "X:gaussian:1,psi",
                         "--param", "lam=positive", "--name", "push")
    assert status == 0 and out.startswith("# block (1, 2) of the inverse") and 'name = "push"' in out
    assert 'lam = "positive"' in out


def test_trace_prints_a_certified_value_and_the_method(capsys):
    # (1/N) tr (X X^T + 1)^{-2} at psi = 2 is (sqrt(2) - 1)/2 (derivative of the ridge transform)
    status, out, _ = run(capsys, "trace", "(X*X.T + lam)**-2", "--matrix", "X:gaussian:1,psi",
                         "--at", "lam=1", "psi=2", "--dps", "40", "--json")
    data = json.loads(out)
    assert status == 0 and data["method"] == "derivative" and data["certified_digits"] >= 40
    assert data["value"].startswith("0.2071067811865475244008443621048490392848")


def test_trace_of_a_wigner_moment(capsys):
    status, out, _ = run(capsys, "trace", "W*W*W*W", "--matrix", "W:wigner:1:s**2", "--param", "s=positive",
                         "--at", "s=0.5")
    assert status == 0 and out.startswith("tau = 0.125")      # 2 s^4 (Catalan number C_2)


@pytest.mark.parametrize("argv, message", [
    (["trace", "X", "--matrix", "X:gaussian:1,psi"], "needs a square matrix"),
    (["trace", "X*X.T", "--matrix", "X:gaussian:1"], "a gaussian matrix needs ROWS,COLS"),
    (["trace", "X*X.T", "--matrix", "X:normal:1,1"], "expected NAME:gaussian:ROWS,COLS"),
    (["linearize", "X*X.T", "--matrix", "X:gaussian:1,psi", "--param", "lam=positive"], "not a parameter"),
    (["linearize", "X*X.T", "--matrix", "X:gaussian:1,psi", "--matrix", "X:gaussian:1,1"], "used twice"),
    (["linearize", "(X*X.T)**0.5", "--matrix", "X:gaussian:1,psi"], "only integer powers"),
    (["linearize", "X*os.system", "--matrix", "X:gaussian:1,psi"], "attribute access is refused"),
])
def test_expression_commands_refuse_bad_input(capsys, argv, message):
    status, _, err = run(capsys, *argv)
    assert status == 2 and message in err


def test_equations_latex_names_of_parameters(capsys):
    status, out, _ = run(capsys, "equations", path("ridge"), "--latex", "--name", "lam=\\lambda", "--name", "g11=r")
    assert status == 0 and "\\psi + \\lambda}" in out and "+ lam}" not in out and out.startswith("\\begin{aligned}\nr &=")
    status, _, err = run(capsys, "equations", path("ridge"), "--name", "lam=\\lambda")
    assert status == 2 and "with --latex" in err


def test_top_level_help_lists_the_commands(capsys):
    status, out, _ = run(capsys, "--help")
    assert status == 0 and "pencils linearize EXPR" in out and "pencils trace EXPR" in out


def test_density_command(capsys, tmp_path):
    status, out, err = run(capsys, "density", path("semicircle"), "--at", "s=1", "--x=-1,0,1", "--dps", "20",
                           "--plot", tmp_path / "sc.png")
    lines = out.splitlines()
    assert status == 0 and lines[0] == "x,density,certified_digits" and len(lines) == 1 + 3 + 3
    # semicircle of radius 2: density 1/pi at 0
    assert lines[2].split(",")[1].startswith("0.3183098861837906715")
    assert "# edges: -2.0" in out and (tmp_path / "sc.png").stat().st_size > 5000
    status, _, err = run(capsys, "density", path("semicircle"), "--at", "s=1", "--x", "1:2:1")
    assert status == 2 and "at least 2 points" in err


def test_a_third_party_model_plugs_in(capsys, tmp_path, monkeypatch):
    """A package registering ``toy`` in the entry point group ``pencils.models`` (its metadata written
    here, its code in tests/plugins) is found by ``pencils curve toy``; its own error class is reported."""
    from pathlib import Path

    info = tmp_path / "toy_model-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-model\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[pencils.models]\ntoy = toy_model.cli\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "plugins"))
    status, out, _ = run(capsys, "curve", "toy", "-1", "--psi", "0.5")
    # Marchenko-Pastur at z = -1, psi = 1/2: (1 - sqrt(17))/4
    assert status == 0 and out.splitlines()[1].startswith("-1,-0.7807764064044151374")
    status, _, err = run(capsys, "curve", "toy", "bad")
    assert status == 2 and "toy: bad points" in err
    status, _, err = run(capsys, "figure", "toy")
    assert status == 2 and "draws no figures" in err


def test_every_option_has_help_and_every_command_an_example():
    import argparse

    from pencils.cli import parser

    commands = parser()._subparsers._group_actions[0].choices
    for name, sub in commands.items():
        assert sub.epilog and f"pencils {name}" in sub.epilog, name
        for action in sub._actions:
            assert action.help or isinstance(action, argparse._HelpAction), (name, action.dest)
