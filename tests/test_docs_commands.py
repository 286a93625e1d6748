"""Every ``pencils ...`` command printed in README.md and docs/*.md runs, exits 0 and writes something.

The commands are read from the Markdown files themselves (fenced code blocks,
indented command lines, inline code spans, ``a && pencils ...`` chains), so a new
documented command gets a test without anyone writing one. Optional flags
written ``[--latex]`` are tried in every combination; ``> file`` becomes a file
in ``tmp_path``; paths under ``derivations/`` and ``pencils/examples/`` are read from the repository.
Where the docs show the output of a command (``After `pencils ...`:`` and a
code block), the output must contain it.

``curve``, ``figure`` and ``validate`` of the DSM model take from seconds to
minutes and are marked slow; the simulations and theory points that
``validate`` computes are shared between its documented variants (same seeds,
so the same numbers), and by default it runs on 5 of its 16 points (see
``VALIDATE_POINTS``; ``PENCILS_DOCS_FULL=1`` for all).
"""

import itertools
import os
import re
import shlex
from pathlib import Path

import pytest

from pencils.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SUBCOMMANDS = ("equations", "solve", "check", "linearize", "trace", "density", "grid", "curve", "figure", "validate",
               "phase")
#: commands with placeholders: shown as templates, not runnable as printed
TEMPLATES = {"pencils equations FILE --latex", "pencils density FILE --x A:B:N --at ..."}
#: subcommands that take more than a few seconds as documented
SLOW = ("curve", "figure", "validate", "phase")
OUTPUT_OPTIONS = ("--json", "--csv", "--plot", "--out", "--store")


def _commands_in_line(text):
    """``pencils ...`` commands in one line of shell (comments dropped, ``&&`` chains split)."""
    found = []
    for segment in re.split(r"&&|;", text):
        segment = segment.split(" #")[0].strip()
        if segment.startswith("$ "):
            segment = segment[2:]
        if re.match(r"pencils\s+(" + "|".join(SUBCOMMANDS) + r")\b", segment):
            found.append(" ".join(segment.split()))
    return found


def documented():
    """``{command: (file, expected output or None)}`` for every command printed in the docs."""
    commands = {}
    for doc in DOCS:
        lines = doc.read_text(encoding="utf-8").splitlines()
        fenced = False
        for n, line in enumerate(lines):
            if line.lstrip().startswith("```"):
                fenced = not fenced
                continue
            if fenced or line.startswith("    ") or line.startswith("\t"):
                for command in _commands_in_line(line):
                    commands.setdefault(command, (doc.name, None))
                continue
            for span in re.findall(r"`([^`]+)`", line):
                for command in _commands_in_line(span):
                    expected = None
                    rest = [x for x in lines[n + 1:n + 3] if x.strip()]
                    if line.rstrip().endswith(":") and rest and rest[0].startswith("```"):
                        start = lines.index(rest[0], n + 1) + 1
                        end = next(i for i in range(start, len(lines)) if lines[i].startswith("```"))
                        expected = "\n".join(lines[start:end])
                    if commands.get(command, (None, None))[1] is None:
                        commands[command] = (doc.name, expected)
    return commands


def variants(command):
    """The command with every combination of its ``[--optional]`` flags."""
    optional = re.findall(r"\[([^\]]+)\]", command)
    base = re.sub(r"\s*\[[^\]]+\]", "", command)
    for chosen in itertools.chain.from_iterable(itertools.combinations(optional, k) for k in range(len(optional) + 1)):
        yield " ".join([base, *chosen])


COMMANDS = documented()
RUNS = {}
for _command, (_, _expected) in sorted(COMMANDS.items()):
    if _command not in TEMPLATES:
        for _variant in variants(_command):
            RUNS[_variant] = RUNS.get(_variant) or _expected
CASES = [
    pytest.param(variant, expected, id=variant, marks=[pytest.mark.slow] if variant.split()[1] in SLOW else [])
    for variant, expected in RUNS.items()
]


def test_the_docs_print_the_commands_we_expect():
    """The extraction finds the documented commands (a parser that found none would pass every test)."""
    assert len(COMMANDS) >= 15 and set(STATUS) <= set(RUNS) and "pencils validate dsm" in RUNS
    for must in ("pencils equations dsm --m 1 --latex", "pencils figure dsm", "pencils validate dsm --extrapolate",
                 "pencils solve pencils/examples/ridge.pencil --at psi=2 --sweep lam=1e-3:10:200 --log > ridge.csv"):
        assert must in COMMANDS, must
    assert TEMPLATES <= set(COMMANDS), "a template listed here is no longer in the docs"


def test_every_command_line_of_the_docs_is_covered():
    """Every line of the docs that names a pencils subcommand is a tested command or a listed template."""
    covered = set(COMMANDS)
    for doc in DOCS:
        for line in doc.read_text(encoding="utf-8").splitlines():
            for match in re.finditer(r"pencils (" + "|".join(SUBCOMMANDS) + r")\b", line):
                if "`pencils " + match.group(1) in line or line.lstrip().startswith("pencils") or "&& pencils" in line:
                    assert any(c in line or c.split(" #")[0] in line for c in covered), (doc.name, line)


#: ``validate`` runs its 16 points in 4-6 minutes (d = 200 and 400); by default its documented variants run on
#: these 5 (m = 1, inf, 2, 3; tanh and ReLU; psi_D = 1 and 0.5; the docs' table shows them agreeing at d = 200),
#: the whole command path included. PENCILS_DOCS_FULL=1 runs all 16.
VALIDATE_POINTS = (0, 6, 7, 14, 15)
FULL = bool(os.environ.get("PENCILS_DOCS_FULL"))
#: documented exit status other than 0: on all 16 points at d = 200 the docs' own table shows 53 of 58
#: comparisons agreeing (finite-size effects), and ``validate`` exits 1 when one disagrees
STATUS = {"pencils validate dsm": 1} if FULL else {}


@pytest.fixture
def shared_simulations(monkeypatch):
    """Simulations and theory points of ``validate`` computed once per session (deterministic: same seeds,
    same numbers), so that its three documented variants cost about one run."""
    import derivations.dsm.validation as validation

    simulate = _SHARED.setdefault("simulate", validation.simulate)
    theory = _SHARED.setdefault("Theory", validation.Theory)

    def cached(*args, **kwargs):
        key = repr(("simulate", args, sorted(kwargs.items())))
        if key not in _SHARED:
            _SHARED[key] = simulate(*args, **kwargs)
        return _SHARED[key]

    class SharedTheory:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

        def at(self, *args):
            key = repr(("theory", sorted(self.kwargs.items()), args))
            if key not in _SHARED:
                _SHARED[key] = theory(**self.kwargs).at(*args)
            return _SHARED[key]

    monkeypatch.setattr(validation, "simulate", cached)
    monkeypatch.setattr(validation, "Theory", SharedTheory)
    if not FULL:
        monkeypatch.setattr(validation, "POINTS", tuple(validation.POINTS[i] for i in VALIDATE_POINTS))


_SHARED = {}


def arguments(command, folder):
    """``(argv, redirect)``: the command's arguments after ``pencils`` (input files of the repository by their
    path in this checkout) and the file its ``> file`` redirects to in ``folder`` (or None)."""
    words = shlex.split(command, comments=True)[1:]
    redirect = None
    if ">" in words:
        at = words.index(">")
        redirect, words = folder / words[at + 1], words[:at] + words[at + 2:]
    return [str(ROOT / w) if w.startswith(("derivations/", "pencils/examples/")) else w for w in words], redirect


def check_run(command, argv, folder, status, out, err, redirect, expected):
    """The documented behaviour of a finished run: its exit status, no traceback, every output written and
    not empty (or something printed), the output the docs show."""
    assert status == STATUS.get(command, 0), f"{command} exited {status}: {err[-2000:]}"
    assert "Traceback" not in err
    if redirect is not None:
        redirect.write_text(out)
    outputs = [folder / argv[i + 1] for i, w in enumerate(argv[:-1]) if w in OUTPUT_OPTIONS]
    if argv[:2] == ["figure", "dsm"] and "--out" not in argv:
        outputs = [folder / "out"]
    for path in outputs + ([redirect] if redirect else []):
        assert path.exists(), f"{command} did not write {path.name}"
        assert (any(path.iterdir()) if path.is_dir() else path.stat().st_size > 0), f"{path.name} is empty"
    if not outputs and redirect is None:
        assert out.strip(), f"{command} printed nothing"
    if expected is not None:
        assert expected.strip() in out, f"the docs show output that {command} does not print"


@pytest.mark.parametrize("command, expected", CASES)
def test_documented_command_runs(command, expected, tmp_path, monkeypatch, capsys, request):
    if command.split()[1] == "validate":
        request.getfixturevalue("shared_simulations")
    monkeypatch.chdir(tmp_path)
    argv, redirect = arguments(command, tmp_path)
    status = main(argv)
    out, err = capsys.readouterr()
    check_run(command, argv, tmp_path, status, out, err, redirect, expected)
