"""A readable text format for pencils (TOML), without pickles.

A pencil file declares its parameters (with their domain), its random
matrices (kind, shape as ratios, variance) and its blocks as strings in the
expression syntax of :mod:`pencils.parsing` (exact decimals, ``+ - * / **``,
``sqrt``, ``exp``..., ``I`` or ``j`` for complex numbers, ``pi``, ``E``);
``X.T`` is the transpose of ``X``. Nothing in the file is evaluated as Python.
Every other name is a ratio (a positive symbol) if it appears in a size or a
shape, and an error otherwise. An optional ``[replicas]`` table declares
blocks repeated ``count`` times (:mod:`pencils.replicas`)::

    [replicas]
    count = "m"              # a parameter declared "positive", or an integer
    blocks = [2, 3, 4]       # the replicated blocks, numbered from 1
    matrices = ["Z"]         # drawn afresh for every copy

Deterministic matrices (:mod:`pencils.deterministic`) name a spectral law
declared in a ``[laws]`` table: weights, and the eigenvalues of each matrix
of the family per atom::

    [matrices.Sigma]
    kind = "deterministic"
    size = "1"
    law = "H"

    [laws.H]
    weights = ["0.3", "0.7"]

    [laws.H.values]
    Sigma = ["4", "1"]

or a density on an interval, in the variable named by ``matrix`` (default
``Sigma``), read by the whitelist parser; ``dps``, ``nodes`` and ``rule`` are
optional (:meth:`pencils.SpectralLaw.density`)::

    [laws.H]
    density = "1/2"
    interval = ["1", "3"]
    matrix = "Sigma"

A variance is real and positive: it may use the ratios and the parameters,
not the matrices. The whole format is specified in ``docs/file_format.md``.

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
import tomllib

import sympy as sp

from .exceptions import PencilFormatError, PencilValidationError
from .deterministic import DensityLaw, SpectralLaw
from .matrices import GaussianMatrix, WignerMatrix
from .parsing import CONSTANTS, FUNCTIONS, names_in, parse_expression
from .pencil import Pencil
from .replicas import Replicas

__all__ = ["load", "loads", "save", "dumps"]

DOMAINS = {"complex": {}, "real": {"real": True}, "positive": {"positive": True}}
KEYS = ("name", "description", "sizes", "spaces", "parameters", "matrices", "laws", "blocks", "replicas")
LAW_KEYS = ("weights", "values")
DENSITY_KEYS = ("density", "interval", "matrix", "dps", "nodes", "rule")
REPLICA_KEYS = ("count", "blocks", "matrices")
MATRIX_KEYS = {"gaussian": ("kind", "shape", "variance"), "wigner": ("kind", "size", "variance"),
               "deterministic": ("kind", "size", "law")}


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
    laws = {}
    for name, matrix in sorted(pencil.deterministic.items()):
        law = laws.setdefault(matrix.law, name)
        lines += ["", f"[matrices.{name}]", 'kind = "deterministic"', f"size = {_string(matrix.rows)}",
                  f"law = {_string(law)}"]
    for law, name in laws.items():
        if isinstance(law, DensityLaw):
            lines += ["", f"[laws.{name}]", f"density = {_string(law.expression)}",
                      f"interval = [{', '.join(_string(x) for x in law.interval)}]", f"matrix = {_string(law.name)}",
                      f"dps = {law.dps}", f"nodes = {len(law.nodes)}", f"rule = {_string(law.rule)}"]
            continue
        lines += ["", f"[laws.{name}]", f"weights = [{', '.join(_string(w) for w in law.weights)}]",
                  "", f"[laws.{name}.values]"]
        lines += [f"{m} = [{', '.join(_string(v) for v in column)}]" for m, column in law.values.items()]
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
    if pencil.replicas is not None:
        r = pencil.replicas
        lines += ["", "[replicas]", f"count = {_string(r.count)}", f"blocks = [{', '.join(map(str, r.blocks))}]",
                  f"matrices = [{', '.join(_string(m) for m in r.matrices)}]"]
    return "\n".join(lines) + "\n"


def save(pencil, path):
    """Write ``pencil`` to a text file."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(dumps(pencil))


def load(path):
    """Read a pencil from a text file (UTF-8).

    Raises
    ------
    PencilFormatError
        When the file is not a valid pencil file (with the file, the place and
        the reason); :class:`~pencils.exceptions.ParseError` for an expression
        outside the syntax.
    PencilValidationError
        When the pencil it describes breaks a rule of linear pencils.
    """
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise PencilFormatError(
            f"{path}: not UTF-8 text: byte {exc.start} (line {line}) is "
            f"{data[exc.start:exc.start + 1]!r}; save the file as UTF-8"
        ) from None
    try:
        return loads(text)
    except (PencilFormatError, PencilValidationError) as exc:
        raise type(exc)(f"{path}: {exc}") from None


def _text(value, where):
    if not isinstance(value, str):
        raise PencilFormatError(f"{where}: expected a string, got {value!r} ({type(value).__name__})")
    return value


def _texts(value, where, count=None):
    if not isinstance(value, list):
        raise PencilFormatError(f"{where}: expected a list of strings, got {value!r}")
    if count is not None and len(value) != count:
        raise PencilFormatError(f"{where}: expected {count} strings, got {len(value)}")
    return [_text(v, f"{where} ({i + 1})") for i, v in enumerate(value)]


def _table(value, where):
    if not isinstance(value, dict):
        raise PencilFormatError(f"{where} must be a table, got {value!r}")
    return value


def _check_keys(table, allowed, where):
    unknown = set(table) - set(allowed)
    if unknown:
        raise PencilFormatError(f"{where}unknown key(s) {', '.join(sorted(unknown))}; expected {', '.join(allowed)}")


def _check_name(name, what):
    if not (name.isidentifier() and name.isascii()) or "__" in name or name in FUNCTIONS:
        raise PencilFormatError(
            f"{what} {name!r}: a name is an ASCII identifier without '__' and not a function name"
        )


def loads(text):
    """Read a pencil from the text of a pencil file.

    Raises
    ------
    PencilFormatError
        When the text is not a valid pencil file, naming the place
        (:class:`~pencils.exceptions.ParseError` for an expression).
    PencilValidationError
        When the pencil it describes breaks a rule of linear pencils.
    """
    if not isinstance(text, str):
        raise PencilFormatError(
            f"loads reads the text (str) of a pencil file, got {type(text).__name__}; load(path) reads a file"
        )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PencilFormatError(f"not valid TOML: {exc}") from None
    _check_keys(data, KEYS, "")
    for key in ("sizes", "blocks"):
        if key not in data:
            raise PencilFormatError(f"missing '{key}'")
    parameters = data.get("parameters", {})
    if not isinstance(parameters, dict):
        raise PencilFormatError("'parameters' must be a table: name = \"complex\" | \"real\" | \"positive\"")
    symbols = {}
    for name, domain in parameters.items():
        _check_name(name, "parameter")
        if not isinstance(domain, str) or domain not in DOMAINS:
            raise PencilFormatError(f"parameter {name}: domain {domain!r} is not one of {', '.join(DOMAINS)}")
        symbols[name] = sp.Symbol(name, **DOMAINS[domain])
    declared = _table(data.get("matrices", {}), "'matrices'")
    size_texts = [(s, f"size {i + 1}") for i, s in enumerate(_texts(data["sizes"], "sizes"))]
    for name, spec in declared.items():
        _check_name(name, "matrix")
        where = f"matrix {name}"
        spec = _table(spec, where)
        kind = _text(spec.get("kind", "gaussian"), f"{where}: kind")
        if kind not in MATRIX_KEYS:
            raise PencilFormatError(f"{where}: kind {kind!r} is not 'gaussian', 'wigner' or 'deterministic'")
        _check_keys(spec, MATRIX_KEYS[kind], f"{where}: ")
        if name in symbols:
            raise PencilFormatError(f"{where}: the name is already a parameter")
        if kind == "gaussian":
            if "shape" not in spec or not isinstance(spec["shape"], list) or len(spec["shape"]) != 2:
                raise PencilFormatError(f"{where}: a Gaussian matrix needs shape = [rows, cols]")
            size_texts += [(s, f"{where}: shape") for s in _texts(spec["shape"], f"{where}: shape", 2)]
        else:
            if "size" not in spec:
                raise PencilFormatError(f"{where}: a {kind} matrix needs size = ratio")
            size_texts.append((_text(spec["size"], f"{where}: size"), f"{where}: size"))
    for source, where in size_texts:  # every other name of a size or a shape is a ratio
        for token in names_in(source, where=where):
            if token in declared:
                raise PencilFormatError(f"{where}: {token} is a matrix, not a ratio")
            if token not in symbols and token not in CONSTANTS and token not in FUNCTIONS and token != "I":
                symbols[token] = sp.Symbol(token, positive=True)
    scalars = {**CONSTANTS, **symbols}
    sizes = [parse_expression(source, scalars, where=where) for source, where in size_texts[: len(data["sizes"])]]
    names = dict(scalars)
    laws = _laws(data.get("laws", {}), scalars)
    for name, spec in declared.items():
        where = f"matrix {name}"
        variance = parse_expression(
            _text(spec.get("variance", "1"), f"{where}: variance"), scalars, where=f"{where}: variance"
        )
        if variance.is_real is not True:
            raise PencilFormatError(
                f"{where}: variance {variance} is not real; a variance is real and positive "
                "(declare its parameters real or positive)"
            )
        kind = spec.get("kind", "gaussian")
        if kind == "deterministic":
            law = _text(spec.get("law", ""), f"{where}: law")
            if law not in laws:
                raise PencilFormatError(f"{where}: law {law!r} is not declared in [laws]")
            names[name] = laws[law].matrix(name, parse_expression(spec["size"], scalars, where=f"{where}: size"))
            continue
        if kind == "gaussian":
            rows, cols = (parse_expression(s, scalars, where=f"{where}: shape") for s in spec["shape"])
            names[name] = GaussianMatrix(name, rows, cols, variance)
        else:
            names[name] = WignerMatrix(name, parse_expression(spec["size"], scalars, where=f"{where}: size"), variance)
    blocks = _table(data["blocks"], "[blocks]")
    _check_keys(blocks, ("rows",), "[blocks]: ")
    rows = blocks.get("rows")
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise PencilFormatError("[blocks] needs rows = [[...], [...], ...]")
    blocks = [
        [parse_expression(_text(b, f"block ({i + 1}, {j + 1})"), names, where=f"block ({i + 1}, {j + 1})")
         for j, b in enumerate(row)]
        for i, row in enumerate(rows)
    ]
    spaces = data.get("spaces")
    replicas = _replicas(data.get("replicas"), symbols, declared)
    return Pencil(
        blocks,
        sizes,
        parameters=list(symbols[p] for p in parameters),
        spaces=None if spaces is None else _texts(spaces, "spaces"),
        name=_text(data.get("name", ""), "name"),
        description=_text(data.get("description", ""), "description"),
        replicas=replicas,
    )


def _laws(table, scalars):
    """``{name: SpectralLaw}`` from the ``[laws]`` tables: ``weights = [...]``, ``values.MATRIX = [...]``."""
    laws = {}
    for name, spec in _table(table, "[laws]").items():
        where = f"law {name}"
        spec = _table(spec, where)
        if "density" in spec:
            laws[name] = _density_law(spec, where)
            continue
        _check_keys(spec, LAW_KEYS, f"{where}: ")
        if "weights" not in spec or "values" not in spec:
            raise PencilFormatError(f"{where}: needs weights = [...] and values.MATRIX = [...]")
        weights = [parse_expression(w, scalars, where=f"{where}: weight") for w in _texts(spec["weights"], where)]
        values = {m: [parse_expression(v, scalars, where=f"{where}: eigenvalue of {m}") for v in _texts(column, where)]
                  for m, column in _table(spec["values"], f"{where}: values").items()}
        laws[name] = SpectralLaw(weights, values)
    return laws


def _density_law(spec, where):
    """A law with a density: ``density = "..."`` in the variable ``matrix`` (default ``"Sigma"``),
    ``interval = ["a", "b"]``, optional ``dps``, ``nodes`` (integers) and ``rule``."""
    _check_keys(spec, DENSITY_KEYS, f"{where}: ")
    if "interval" not in spec:
        raise PencilFormatError(f"{where}: a density needs interval = [\"a\", \"b\"]")
    matrix = _text(spec.get("matrix", "Sigma"), f"{where}: matrix")
    density = parse_expression(_text(spec["density"], f"{where}: density"),
                               {**CONSTANTS, matrix: sp.Symbol(matrix, real=True)}, where=f"{where}: density")
    interval = [parse_expression(x, CONSTANTS, where=f"{where}: interval") for x in _texts(spec["interval"], where, 2)]
    options = {}
    for key in ("dps", "nodes"):
        if key in spec:
            if not isinstance(spec[key], int) or isinstance(spec[key], bool):
                raise PencilFormatError(f"{where}: {key} must be an integer, got {spec[key]!r}")
            options[key] = spec[key]
    if "rule" in spec:
        options["rule"] = _text(spec["rule"], f"{where}: rule")
    try:
        return SpectralLaw.density(density, interval, name=matrix, **options)
    except PencilValidationError as exc:
        raise PencilFormatError(f"{where}: {exc}") from None


def _replicas(table, symbols, declared):
    """The ``[replicas]`` table: ``count`` (a positive parameter or an integer), ``blocks``, ``matrices``."""
    if table is None:
        return None
    table = _table(table, "[replicas]")
    _check_keys(table, REPLICA_KEYS, "[replicas]: ")
    for key in ("count", "blocks"):
        if key not in table:
            raise PencilFormatError(f"[replicas] needs '{key}'")
    count = _text(table["count"], "[replicas]: count").strip()
    if count.isdigit():
        count = sp.Integer(count)
    elif count in symbols:
        count = symbols[count]
    else:
        raise PencilFormatError(
            f"[replicas]: count {count!r} is neither a positive integer nor a declared parameter"
        )
    blocks = table["blocks"]
    if not isinstance(blocks, list) or not blocks or not all(isinstance(b, int) and not isinstance(b, bool) for b in blocks):
        raise PencilFormatError("[replicas]: blocks is a list of block numbers (from 1), e.g. blocks = [2, 3]")
    matrices = _texts(table.get("matrices", []), "[replicas]: matrices")
    for name in matrices:
        if name not in declared:
            raise PencilFormatError(f"[replicas]: {name} is not a declared matrix")
    return Replicas(count, blocks, matrices)
