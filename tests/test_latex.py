import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pencils.examples import NAMES
from pencils import DysonSystem
from pencils.latex import latex_document, pencil_latex, system_latex

DOCS = Path(__file__).resolve().parents[1] / "docs" / "textbook.md"


def pdflatex():
    found = shutil.which("pdflatex")
    if found is None and os.environ.get("CI"):
        pytest.fail("pdflatex is missing in CI: .ci/run installs texlive-latex-base")
    if found is None:
        pytest.skip("pdflatex not installed (CI installs it)")
    return found


@pytest.mark.parametrize("name", NAMES)
def test_latex_compiles(textbook, name, tmp_path):
    exe = pdflatex()
    (tmp_path / "doc.tex").write_text(latex_document(textbook[name], eliminate=True))
    run = subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 1000


def test_renamed_unknowns(textbook):
    text = system_latex(DysonSystem(textbook["wishart_product"]), names={"g11": r"\chi", (3, 3): "q"})
    assert text.startswith("\\begin{aligned}\n\\chi &= ")
    assert "q \\phi" not in text and "g_{33}" not in text


@pytest.mark.parametrize("name", NAMES)
def test_docs_show_every_textbook_system(textbook, name):
    docs = DOCS.read_text()
    assert pencil_latex(textbook[name]) in docs
    assert system_latex(DysonSystem(textbook[name])) in docs


def test_names_of_absent_parameters_are_ignored(textbook):
    """One table of LaTeX names serves several pencils (``pencils equations dsm --m 1`` has no kappa)."""
    system = DysonSystem(textbook["ridge"])
    text = system_latex(system, names={"lam": r"\lambda", "kappa": r"\kappa", "mus": r"\mu_*"})
    assert "\\lambda" in text and "kappa" not in text
    with pytest.raises(KeyError, match="g33"):
        system_latex(system, names={"g33": "q"})
    with pytest.raises(KeyError):
        system_latex(system, names={(3, 3): "q"})


def test_notebook_reprs_compile(textbook, tmp_path):
    """``_repr_latex_`` of a pencil, a system, a solution and a trace: display math that pdflatex compiles."""
    import sympy as sp

    from pencils import GaussianMatrix, ratio, solve, trace

    exe = pdflatex()
    pencil = textbook["wishart_product"]
    system = DysonSystem(pencil)
    solution = solve(system, {"z": "-1", "phi": "1.5", "psi": 2}, dps=20)
    X = GaussianMatrix("X", 1, ratio("psi"))
    lam = sp.Symbol("lam", positive=True)
    traced = trace((X * X.T + lam) ** -2, {"lam": 1, "psi": 2}, dps=20)
    reprs = [obj._repr_latex_() for obj in (pencil, system, solution, traced)]
    assert all(r.startswith("$$") and r.endswith("$$") for r in reprs)
    assert "20 digits certified" in reprs[2] and "derivative" in reprs[3]
    body = "\n".join(f"\\[{r[2:-2]}\\]" for r in reprs)
    (tmp_path / "doc.tex").write_text("\\documentclass{article}\\usepackage{amsmath}\\begin{document}\n"
                                      + body + "\n\\end{document}\n")
    run = subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]
