"""A readable text format for pencils (TOML), without pickles.

A pencil file declares its parameters (with their domain), its random
matrices (kind, shape as ratios, variance) and its blocks as SymPy strings;
``X.T`` is the transpose of ``X``. Every other name is a ratio if it appears
in a size or a shape, and an error otherwise.

.. code-block:: toml

    name = "marchenko-pastur"
    description = "Resolvent of the sample covariance X X^T: block (1, 1) is (z - X X^T)^{-1}."
    sizes = ["1", "psi"]

    [parameters]
    z = "complex"

    [matrices.X]
    kind = "gaussian"
    shape = ["1", "psi"]
    variance = "1"

    [blocks]
    rows = [
      ["z", "X"],
      ["X.T", "1"],
    ]

Examples
--------
>>> import sympy as sp
>>> from pencils import Pencil, WignerMatrix
>>> z = sp.Symbol("z")
>>> L = Pencil([[z - WignerMatrix("W", 1)]], sizes=[1], parameters=[z], name="semicircle")
>>> loads(dumps(L)) == L
True
"""

import json
import re
import tomllib
from tokenize import TokenError

import sympy as sp
from sympy.parsing.sympy_parser import parse_expr, standard_transformations

from .exceptions import PencilFormatError
from .matrices import GaussianMatrix, WignerMatrix
from .pencil import Pencil

__all__ = ["load", "loads", "save", "dumps"]

DOMAINS = {"complex": {}, "real": {"real": True}, "positive": {"positive": True}}
_TRANSPOSE = re.compile(r"\b([A-Za-z_]\w*)\.T\b")


def _domain(symbol):
    if symbol.is_positive:
        return "positive"
    if symbol.is_real:
        return "real"
    return "complex"


def _string(value):
    return json.dumps(str(value), ensure_ascii=False)


def dumps(pencil):
    """The text of a pencil file for ``pencil``."""
    lines = []
    if pencil.name:
        lines.append(f"name = {_string(pencil.name)}")
    if pencil.description:
        lines.append(f"description = {_string(pencil.description)}")
    lines.append(f"sizes = [{', '.join(_string(s) for s in pencil.sizes)}]")
    if pencil.space_labels is not None:
        lines.append(f"spaces = [{', '.join(_string(s) for s in pencil.space_labels)}]")
    lines.append("")
    lines.append("[parameters]")
    for p in pencil.parameters:
        lines.append(f"{p} = {_string(_domain(p))}")
    for name, matrix in pencil.matrices.items():
        lines.append("")
        lines.append(f"[matrices.{name}]")
        for key, value in matrix.declaration().items():
            text = f"[{', '.join(_string(v) for v in value)}]" if isinstance(value, list) else _string(value)
            lines.append(f"{key} = {text}")
    lines.append("")
    lines.append("[blocks]")
    lines.append("rows = [")
    width = max(len(_string(b)) for row in pencil.blocks for b in row) + 2
    for row in pencil.blocks:
        cells = "".join((_string(b) + ",").ljust(width) for b in row[:-1]) + _string(row[-1])
        lines.append(f"  [{cells}],")
    lines.append("]")
    return "\n".join(lines) + "\n"


def save(pencil, path):
    """Write ``pencil`` to a text file."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(dumps(pencil))


def load(path):
    """Read a pencil from a text file.

    Raises
    ------
    PencilFormatError
        When the file is not a valid pencil file (with the reason).
    PencilValidationError
        When the pencil it describes breaks a rule of linear pencils.
    """
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        return loads(text)
    except PencilFormatError as exc:
        raise PencilFormatError(f"{path}: {exc}") from None


def _expression(text, names, where):
    if not isinstance(text, str | int | float):
        raise PencilFormatError(f"{where}: expected a string, got {text!r}")
    source = _TRANSPOSE.sub(lambda m: f"__transpose_{m.group(1)}", str(text))
    try:
        return parse_expr(source, local_dict=dict(names), transformations=standard_transformations)
    except (SyntaxError, TypeError, sp.SympifyError, TokenError) as exc:
        raise PencilFormatError(f"{where}: cannot parse {text!r} ({exc})") from None



def loads(text):
    """Read a pencil from the text of a pencil file."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PencilFormatError(f"not valid TOML: {exc}") from None
    unknown = set(data) - {"name", "description", "sizes", "spaces", "parameters", "matrices", "blocks"}
    if unknown:
        raise PencilFormatError(f"unknown key(s) {', '.join(sorted(unknown))}")
    for key in ("sizes", "blocks"):
        if key not in data:
            raise PencilFormatError(f"missing '{key}'")
    parameters = data.get("parameters", {})
    if not isinstance(parameters, dict):
        raise PencilFormatError("'parameters' must be a table: name = \"complex\" | \"real\" | \"positive\"")
    symbols = {}
    for name, domain in parameters.items():
        if domain not in DOMAINS:
            raise PencilFormatError(f"parameter {name}: domain {domain!r} is not one of {', '.join(DOMAINS)}")
        symbols[name] = sp.Symbol(name, **DOMAINS[domain])
    declared = data.get("matrices", {})
    ratio_sources = list(data["sizes"])
    for name, spec in declared.items():
        ratio_sources += spec.get("shape", []) + ([spec["size"]] if "size" in spec else [])
    for source in ratio_sources:
        for token in re.findall(r"[A-Za-z_]\w*", str(source)):
            if token not in symbols and token not in {"sqrt", "Rational"}:
                symbols[token] = sp.Symbol(token, positive=True)
    names = dict(symbols)
    sizes = [_expression(s, names, "sizes") for s in data["sizes"]]
    for name, spec in declared.items():
        where = f"matrix {name}"
        kind = spec.get("kind", "gaussian")
        variance = _expression(spec.get("variance", "1"), names, f"{where}: variance")
        if kind == "gaussian":
            if "shape" not in spec or len(spec["shape"]) != 2:
                raise PencilFormatError(f"{where}: a Gaussian matrix needs shape = [rows, cols]")
            rows, cols = (_expression(s, names, f"{where}: shape") for s in spec["shape"])
            matrix = GaussianMatrix(name, rows, cols, variance)
            names[f"__transpose_{name}"] = matrix.T
        elif kind == "wigner":
            if "size" not in spec:
                raise PencilFormatError(f"{where}: a Wigner matrix needs size = ratio")
            matrix = WignerMatrix(name, _expression(spec["size"], names, f"{where}: size"), variance)
            names[f"__transpose_{name}"] = matrix
        else:
            raise PencilFormatError(f"{where}: kind {kind!r} is not 'gaussian' or 'wigner'")
        names[name] = matrix
    rows = data["blocks"].get("rows") if isinstance(data["blocks"], dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise PencilFormatError("[blocks] needs rows = [[...], [...], ...]")
    blocks = [
        [_expression(b, names, f"block ({i + 1}, {j + 1})") for j, b in enumerate(row)]
        for i, row in enumerate(rows)
    ]
    return Pencil(
        blocks,
        sizes,
        parameters=list(symbols[p] for p in parameters),
        spaces=data.get("spaces"),
        name=data.get("name", ""),
        description=data.get("description", ""),
    )
