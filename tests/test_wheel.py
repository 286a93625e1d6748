"""The distribution: a wheel built by ``python -m build`` installs and runs in a fresh environment.

The distribution is named ``pencils-rmt`` (``pencils`` on the package index is an
unrelated project); the import name and the command stay ``pencils``. The slow test
builds the sdist and, from it, the wheel (what an upload would contain), checks the
wheel's contents (the packages and their data files, no tests, docs or build
clutter), installs it with the ``plots`` and ``grids`` extras into a new virtual environment and,
from a folder outside the checkout, runs ``pencils --help``, a certified solve of a
shipped example pencil, the README's main job ``pencils figure dsm`` and every command
the docs print (but the simulations, ``validate`` and ``--simulate``: minutes each, see below).
"""

import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import pencils

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTION = "pencils-rmt"


def test_the_installed_distribution_is_pencils_rmt():
    """The package in use is installed under the distribution name, at the package's version."""
    assert importlib.metadata.version(DISTRIBUTION) == pencils.__version__
    entry_points = importlib.metadata.distribution(DISTRIBUTION).entry_points
    assert [ep.value for ep in entry_points if ep.group == "console_scripts"] == ["pencils.cli:main"]


def _run(argv, cwd, env=None, timeout=900):
    done = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, argv))} exited {done.returncode}:\n{done.stdout[-3000:]}\n" \
                                 f"{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.slow
def test_the_wheel_installs_and_runs_in_a_fresh_environment(tmp_path):
    if importlib.util.find_spec("build") is None:
        pytest.skip("the 'build' package is not installed: pip install -e '.[test]'")
    # built from a copy: the build rewrites <source>/pencils_rmt.egg-info, which importlib.metadata reads from the
    # checkout (on sys.path) while other tests run
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "*.egg-info", "build", "dist", "_build", "__pycache__", ".pytest_cache", ".hypothesis", "out"))
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--outdir", dist, source], cwd=tmp_path)  # sdist, then the wheel from it
    wheels = sorted(dist.glob("pencils_rmt-*.whl"))
    assert len(wheels) == 1 and (dist / f"pencils_rmt-{pencils.__version__}.tar.gz").exists()
    wheel = wheels[0]

    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"pencils", "derivations", f"pencils_rmt-{pencils.__version__}.dist-info"}, tops
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".ipynb"))]
    shipped = [*(ROOT / "derivations" / "dsm").glob("*.pencil"), *(ROOT / "pencils" / "examples").glob("*.pencil")]
    assert len(shipped) >= 10
    for data in shipped:
        assert data.relative_to(ROOT).as_posix() in names, data.name
    metadata = zipfile.ZipFile(wheel).read(f"pencils_rmt-{pencils.__version__}.dist-info/entry_points.txt").decode()
    assert "pencils = pencils.cli:main" in metadata and "dsm = derivations.dsm.cli" in metadata

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=tmp_path)
    _run([venv / "bin" / "python", "-m", "pip", "install", "-q", f"{wheel}[plots,grids]"], cwd=tmp_path)

    work = tmp_path / "work"  # outside the checkout: nothing can be imported from the source tree
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", MPLBACKEND="Agg",
               PENCILS_CACHE_DIR=str(tmp_path / "cache"))
    where = _run(["python", "-c", "import importlib.metadata as m, pencils, derivations.dsm; "
                  f"print(pencils.__file__); print(derivations.dsm.__file__); print(m.version({DISTRIBUTION!r}))"],
                 cwd=work, env=env).split()
    assert all(Path(p).is_relative_to(venv) for p in where[:2]) and where[2] == pencils.__version__, where

    assert "usage: pencils" in _run(["pencils", "--help"], cwd=work, env=env)
    example = _run(["python", "-c", "from pencils.examples import path; print(path('marchenko_pastur'))"],
                   cwd=work, env=env).strip()
    assert Path(example).is_relative_to(venv)
    solved = _run(["pencils", "solve", example, "--at", "z=-1", "psi=0.5", "--dps", "30"], cwd=work, env=env)
    # Marchenko-Pastur at z = -1, psi = 1/2: (1 - sqrt(17))/4
    assert "g11 = -0.780776406404415137455352463994" in solved and "30 digits certified" in solved
    out = _run(["pencils", "figure", "dsm", "--out", "out"], cwd=work, env=env)
    assert "wrote out/dsm.png and out/dsm.csv" in out
    assert (work / "out" / "dsm.png").stat().st_size > 10_000
    assert len((work / "out" / "dsm.csv").read_text().splitlines()) > 40

    # every command the docs print, run by the wheel's `pencils`, each in a folder of its own and checked as
    # tests/test_docs_commands.py checks it in this process; but the simulations of the real model (`validate`,
    # `--simulate`: minutes each, pure NumPy code that the in-process run covers and whose module the listing
    # above finds in the wheel)
    from test_docs_commands import RUNS, arguments, check_run

    ran = 0
    for k, (command, expected) in enumerate(RUNS.items()):
        if command.split()[1] == "validate" or "--simulate" in command:
            continue
        folder = tmp_path / "docs" / str(k)
        folder.mkdir(parents=True)
        argv, redirect = arguments(command, folder)
        done = subprocess.run(["pencils", *argv], cwd=folder, env=env, capture_output=True, text=True, timeout=900)
        check_run(command, argv, folder, done.returncode, done.stdout, done.stderr, redirect, expected)
        ran += 1
    assert ran >= 40, ran
