"""LaTeX of pencils and of their Dyson systems (amsmath).

Examples
--------
>>> from pencils import load, DysonSystem
>>> from pencils.examples import path
>>> L = load(path("marchenko_pastur"))
>>> print(pencil_latex(L))
\\begin{pmatrix}
z \\mathrm{I} & X \\\\
X^{\\top} & \\mathrm{I}
\\end{pmatrix}
>>> print(system_latex(DysonSystem(L), names={"g11": "q", "g22": r"\\tilde q"}))
\\begin{aligned}
q &= \\frac{1}{- \\tilde q \\psi + z} \\\\
\\tilde q &= \\frac{1}{1 - q}
\\end{aligned}
"""

import re

import sympy as sp

from .dyson import DysonSystem

__all__ = ["pencil_latex", "system_latex", "latex_document"]

_IDENTITY = sp.Symbol("IDENTITY", commutative=False)


def pencil_latex(pencil, names=None):
    """The pencil as a ``pmatrix`` block matrix (identity blocks written ``c I``).

    ``names`` maps parameter names to LaTeX (``{"lam": r"\\lambda"}``).
    """
    symbol_names = {_IDENTITY: r"\mathrm{I}"}
    symbol_names.update({s: names[str(s)] for s in pencil.symbols if str(s) in (names or {})})
    rows = []
    for i in range(pencil.k):
        cells = []
        for j in range(pencil.k):
            expr = sum(
                (t.coefficient * (_IDENTITY if t.matrix is None else t.matrix) for t in pencil.terms.get((i, j), ())),
                sp.Integer(0),
            )
            cells.append(sp.latex(expr, symbol_names=symbol_names))
        rows.append(" & ".join(cells))
    return "\\begin{pmatrix}\n" + " \\\\\n".join(rows) + "\n\\end{pmatrix}"


def _symbol_names(system, names):
    result = {}
    for entry, symbol in system.symbols.items():
        i, j = entry[0], entry[1]
        if symbol.name.endswith("_o"):  # block j of another copy of the replicated blocks
            result[symbol] = f"g_{{{i},\\bar{{{j}}}}}" if system.pencil.k >= 10 else f"g_{{{i}\\bar{{{j}}}}}"
        elif "_" in symbol.name and symbol.name.startswith("g"):
            result[symbol] = f"g_{{{i},{j}}}"
    parameters = {str(s): s for s in system.pencil.symbols}
    for key, latex in (names or {}).items():
        if str(key) in parameters:
            result[parameters[str(key)]] = latex
            continue
        entry = tuple(key) if isinstance(key, tuple | list) else next(
            (e for e, s in system.symbols.items() if s.name == str(key)), None
        )
        if entry in system.symbols:
            result[system.symbols[entry]] = latex
        elif isinstance(key, tuple | list) or _ENTRY.fullmatch(str(key)):
            raise KeyError(f"{key} is not an unknown or a target of the system")
        # else: a parameter this pencil does not have (one table of names serves several pencils)
    return result


_ENTRY = re.compile(r"g_?\d+(_\d+)?")


def system_latex(system, names=None):
    """The system as ``aligned`` equations, then the target formulas.

    Parameters
    ----------
    system : DysonSystem
    names : dict, optional
        LaTeX names for entries of ``G``, keyed by ``(i, j)`` or by name
        (``{"g11": "q"}``), and for parameters (``{"lam": r"\\lambda"}``).
        Names of parameters that the pencil does not have are ignored; an
        entry that is not an unknown or a target raises :class:`KeyError`.
    """
    symbol_names = _symbol_names(system, names)

    def tex(expr):
        return sp.latex(expr, symbol_names=symbol_names)

    lines = [f"{tex(eq.lhs)} &= {tex(eq.rhs)}" for eq in system.equations]
    for entry, formula in system.target_formulas.items():
        if entry not in system.unknowns:
            lines.append(f"{tex(system.symbols[entry])} &= {tex(formula)}")
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


def latex_document(pencil, system=None, names=None, eliminate=False):
    """A standalone LaTeX document (``article`` + ``amsmath``) with the pencil and its system."""
    system = DysonSystem(pencil) if system is None else system
    title = pencil.name or "pencil"
    parts = [
        "\\documentclass{article}",
        "\\usepackage{amsmath}",
        "\\begin{document}",
        f"\\section*{{{_escape(title)}}}",
    ]
    if pencil.description:
        parts.append(_escape(pencil.description))
    parts += [
        "\\[",
        "L = " + pencil_latex(pencil, names),
        "\\]",
        "With $g_{ij} = \\frac{1}{N_i}\\,\\operatorname{E}\\operatorname{tr}[(L^{-1})_{ij}]$, the Dyson system reads",
    ]
    if pencil.replicas is not None:
        parts[-1] = replicas_text(system, names) + " " + parts[-1]
    elif system.reduction.symmetries:
        parts[-1] = symmetry_text(system, names) + " " + parts[-1]
    parts += [
        "\\[",
        system_latex(system, names),
        "\\]",
    ]
    if eliminate:
        equation = system.eliminate()
        parts += [
            "and, after elimination,",
            "\\[",
            sp.latex(equation.lhs, symbol_names=_symbol_names(system, names)) + " = 0",
            "\\]",
        ]
    parts.append("\\end{document}")
    return "\n".join(parts) + "\n"


def replicas_text(system, names=None):
    """A sentence (LaTeX) on the replicated blocks of the pencil and what the reduction did."""
    r = system.pencil.replicas
    reduction = system.reduction
    symbol_names = {s: names[str(s)] for s in system.pencil.symbols if str(s) in (names or {})}
    count = sp.latex(r.count, symbol_names=symbol_names)
    full = sp.latex(reduction.full_unknown_count(), symbol_names=symbol_names)
    matrices = ", ".join(f"${sp.latex(system.pencil.matrices[m])}$" for m in r.matrices) or "none"
    blocks = ", ".join(map(str, r.blocks))
    return (
        f"Blocks {blocks} are repeated ${count}$ times (drawn afresh for every copy: {matrices}); "
        f"$g_{{i\\bar j}}$ couples block $i$ of one copy with block $j$ of another. Invariance under "
        f"permutations of the copies leaves {len(system.unknowns)} unknowns instead of ${full}$, and "
        f"${count}$ enters only as a parameter (reduced blocks of sizes "
        f"{', '.join(map(str, reduction.sizes))})."
    )


def symmetry_text(system, names=None):
    """A sentence (LaTeX) on the block symmetries of the pencil and the unknowns they merge."""
    symbol_names = _symbol_names(system, names)
    merged = []
    for u, orbit in system.orbits.items():
        if len(orbit) > 1:
            from .dyson import entry_symbol

            others = [entry_symbol(*e, system.pencil.k) for e in orbit if e != u]
            merged.append(" = ".join(sp.latex(s, symbol_names=symbol_names) for s in [system.symbols[u], *others]))
    generators = "; ".join(
        "(" + " ".join(str(b + 1) for b in cycle) + ")"
        for g in system.reduction.symmetries for cycle in _cycles(g)
    )
    return (
        f"The pencil is invariant in law under permutations of its blocks (generated by the cycles {generators}), "
        f"so ${'$, $'.join(merged)}$: {len(system.unknowns)} unknowns instead of "
        f"{system.reduction.full_unknown_count()}."
    )


def _cycles(permutation):
    seen, cycles = set(), []
    for start in range(len(permutation)):
        if start in seen or permutation[start] == start:
            continue
        cycle, x = [], start
        while x not in seen:
            seen.add(x)
            cycle.append(x)
            x = permutation[x]
        cycles.append(cycle)
    return cycles


_ESCAPES = {
    "\\": r"\textbackslash{}", "_": r"\_", "^": r"\^{}", "&": r"\&", "%": r"\%", "#": r"\#",
    "$": r"\$", "{": r"\{", "}": r"\}", "~": r"\~{}",
}


def _escape(text):
    """Escape plain text for LaTeX."""
    return "".join(_ESCAPES.get(c, c) for c in text)


def solution_latex(solution, names=None):
    """The targets of a :class:`~pencils.Solution`, with their certified digits, as an ``aligned`` block.

    Values are printed to the digits the certificate proves (all ``dps`` digits for
    a structural zero; 15 when uncertified, marked so).
    """
    import mpmath

    system = solution.system
    symbols = _symbol_names(system, names)
    lines = []
    for t in system.targets:
        digits = solution.certified_digits(t)
        value = mpmath.nstr(solution.targets[t], max(digits, 1) if solution.certified else 15)
        value = value.replace("j", "\\mathrm{i}").replace("(", "").replace(")", "")
        note = f"\\quad\\text{{({digits} digits certified)}}" if solution.certified else "\\quad\\text{(uncertified)}"
        lines.append(f"{sp.latex(system.symbols[t], symbol_names=symbols)} &= {value}{note}")
    point = ", ".join(f"{sp.latex(sp.Symbol(k), symbol_names=symbols)} = {mpmath.nstr(v, 15)}"
                      for k, v in solution.point.items()).replace("j", "\\mathrm{i}")
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + f"\n\\end{{aligned}}\\qquad ({point})"
