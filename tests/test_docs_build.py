"""The documentation site builds with warnings as errors, its notebooks executed.

``sphinx-build -W --keep-going -b html`` runs on a copy of ``docs/`` (so that the
generated API stubs and the build stay out of the checkout): MyST pages, the
API reference from the numpydoc docstrings, the CLI reference from the argument
parser, and every MyST-NB page and notebook executed (a failing cell fails the
build). The built pages are then read back for what each generator must have
produced. Needs the ``docs`` extra (``pip install -e '.[test,docs]'``).
"""

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
NEEDED = ("sphinx", "myst_nb", "numpydoc", "ipykernel")


def _notebook_pages():
    """Every page that MyST-NB executes: ``.ipynb`` files and Markdown pages with ``file_format: mystnb``."""
    pages = [p for p in DOCS.rglob("*.ipynb") if "_build" not in p.parts]
    pages += [p for p in DOCS.rglob("*.md") if "_build" not in p.parts
              and re.match(r"---\n(.*\n)*?file_format: mystnb\n", p.read_text(encoding="utf-8"))]
    return sorted(pages)


def test_the_notebooks_are_stored_without_outputs():
    """Outputs are produced by the build, never committed: a stored output could be stale."""
    notebooks = [p for p in _notebook_pages() if p.suffix == ".ipynb"]
    assert notebooks, "no example notebook in docs/"
    for notebook in notebooks:
        for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, notebook.name


@pytest.mark.slow
def test_the_documentation_builds_without_warnings(tmp_path):
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"the docs extra is not installed ({', '.join(missing)} missing): pip install -e '.[docs]'")
    source = tmp_path / "docs"
    shutil.copytree(DOCS, source, ignore=shutil.ignore_patterns("_build", "api", "*.ipynb_checkpoints"))
    shutil.copy(ROOT / "CITATION.cff", tmp_path / "CITATION.cff")  # included by cite.md as ../CITATION.cff
    html = tmp_path / "html"
    run = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q",
                          "-d", str(tmp_path / "doctrees"), str(source), str(html)],
                         capture_output=True, text=True, timeout=600)
    report = "\n".join(line for line in (run.stdout + run.stderr).splitlines() if "[IPKernelApp]" not in line)
    assert run.returncode == 0, report[-6000:]  # (each kernel's start-up notice left out)

    def page(name):
        return (html / name).read_text(encoding="utf-8")

    # every executed page was executed (each shows a cell output) and every gallery page drew a figure
    for executed in _notebook_pages():
        built = page(str(executed.relative_to(DOCS).with_suffix(".html")))
        assert 'class="cell_output' in built, executed.name
        if executed.parent.name == "gallery":
            assert re.search(r'<img [^>]*src="[^"]*_images/[0-9a-f]+\.png"', built), executed.name
    assert "digits certified" in page("examples/notebook.html")
    # the CLI reference is the parsers' --help, models included
    cli = page("cli.html")
    for command in ("equations", "solve", "check", "linearize", "trace", "density"):
        assert f"usage: pencils {command} [-h]" in cli, command
    assert "usage: pencils curve dsm [-h]" in cli and "--psi-p PSI_P" in cli
    # the API reference has a page per public module, rendered by numpydoc
    solver = page("api/pencils.solver.html")
    assert 'id="pencils.solver.solve"' in solver and "Parameters" in solver
    modules = re.findall(r":mod:`(pencils\.[\w.]+)`", __import__("pencils").__doc__)
    assert len(modules) >= 20 and all((html / "api" / f"{m}.html").exists() for m in modules)
