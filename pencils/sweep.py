"""Warm-started sweeps along a 1-D grid and result tables with provenance.

Each point is continued from the previous solution along the segment between
the two points (first predictor extrapolated from the last two), with the step
control of the continuation, so that a sweep stays on one branch; a point where
that fails falls back to the full continuation of :func:`pencils.solve`.
Results are :class:`Table` objects, written as CSV or JSON with every number as
a full-precision string, together with where they came from (pencil hash,
precision, residual per point).

Examples
--------
>>> from pencils import load, DysonSystem
>>> from pencils.examples import path
>>> system = DysonSystem(load(path("ridge")))
>>> table = sweep(system, "lam", ["0.1", "0.2", "0.4"], {"psi": 2}, dps=20)
>>> [row["path"] for row in table.rows]
['coupling homotopy at C + i delta, then delta -> 0', 'warm start', 'warm start']
>>> print(full_string(table.column("g11")[0], 20))  # (lam + psi - 1 - ...)/(2 lam), the MP root
0.84428877022476019010
"""

import json
import sys

import mpmath

from . import __version__
from .exceptions import DomainError
from .output import as_text, csv_line
from .balls import certified_digits, mid_mpmath
from .values import full_string, to_mpmath
from .solver import GUARD, solve

__all__ = ["sweep", "sweep_layout", "points", "Table"]


def points(start, stop, num, log=False, dps=30):
    """``num >= 2`` points from ``start`` to ``stop`` (geometric if ``log``), as mpmath numbers.

    The ends are read exactly (``"1e-3"`` is one thousandth) and the points
    computed at ``dps`` plus guard digits, whatever ``mpmath.mp.dps`` is. A
    geometric grid needs real, non-zero ends of the same sign. Bad grids
    raise :class:`~pencils.exceptions.DomainError`.

    >>> [float(x) for x in points(1, 4, 3, log=True)]
    [1.0, 2.0, 4.0]
    >>> points(0, 1, 5, log=True)
    Traceback (most recent call last):
    ...
    pencils.exceptions.DomainError: a geometric grid needs real, non-zero ends of the same sign, got 0 and 1
    """
    if isinstance(num, bool) or not isinstance(num, int):
        raise DomainError(f"the number of grid points must be an integer, got {num!r}")
    if num < 2:
        raise DomainError(f"a grid needs at least 2 points, got {num} (give a single value instead)")
    with mpmath.workdps(int(dps) + GUARD):
        a, b = to_mpmath(start), to_mpmath(stop)
        for end in (a, b):
            if not mpmath.isfinite(end):
                raise DomainError(f"grid ends must be finite, got {start} and {stop}")
        if log:
            if mpmath.im(a) != 0 or mpmath.im(b) != 0 or a == 0 or b == 0 or (mpmath.re(a) > 0) != (mpmath.re(b) > 0):
                raise DomainError(f"a geometric grid needs real, non-zero ends of the same sign, got {start} and {stop}")
            a, b = mpmath.re(a), mpmath.re(b)
            return [a * (b / a) ** (mpmath.mpf(i) / (num - 1)) for i in range(num)]
        return [a + (b - a) * mpmath.mpf(i) / (num - 1) for i in range(num)]


class Table:
    """Rows of results with the provenance of the computation.

    Attributes
    ----------
    columns : list of str
    rows : list of dict
        ``{column: value}``; numbers are mpmath numbers.
    provenance : dict
        Pencil name and hash, precision, fixed parameters, library version.
    """

    def __init__(self, columns, rows, provenance):
        self.columns = list(columns)
        self.rows = list(rows)
        self.provenance = dict(provenance)

    def column(self, name):
        """The values of one column."""
        return [row[name] for row in self.rows]

    def _text(self, value):
        if isinstance(value, mpmath.mpf | mpmath.mpc):
            return full_string(value, self.provenance.get("dps", mpmath.mp.dps))
        return str(value)

    def to_csv(self, file=None):
        """Write CSV (with ``#`` provenance lines first) to a path or file; return the text."""
        lines = [f"# {key}: {value}\n" for key, value in self.provenance.items()]
        lines.append(csv_line(self.columns))
        dps = self.provenance.get("dps")
        for row in self.rows:
            text = as_text(row, dps)
            lines.append(csv_line([text[c] for c in self.columns]))
        return _write("".join(lines), file)

    def to_json(self, file=None):
        """Write JSON ``{"provenance": ..., "rows": [...]}`` to a path or file; return the text."""
        data = {
            "provenance": self.provenance,
            "rows": [{c: self._text(row[c]) for c in self.columns} for row in self.rows],
        }
        return _write(json.dumps(data, indent=1) + "\n", file)

    def to_pandas(self):
        """A :class:`pandas.DataFrame`: numeric columns as float64 (complex128 where complex), each with its
        full-precision strings beside it in ``<column>_str``; provenance in ``DataFrame.attrs``.

        Needs pandas (``pip install 'pencils[tables]'``).
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("Table.to_pandas needs pandas: pip install 'pencils[tables]'") from None
        data = {}
        for c in self.columns:
            values = self.column(c)
            if values and all(isinstance(v, mpmath.mpf | mpmath.mpc | int | float | complex) for v in values):
                complex_ = any(mpmath.im(v) != 0 for v in values)
                data[c] = [complex(v) if complex_ else float(mpmath.re(v)) for v in values]
                data[c + "_str"] = [self._text(v) for v in values]
            else:
                data[c] = [self._text(v) for v in values]
        frame = pd.DataFrame(data)
        frame.attrs.update(self.provenance)
        return frame

    def to_xarray(self, index=None):
        """An :class:`xarray.Dataset` indexed by column ``index`` (default: the first column), columns as in
        :meth:`to_pandas` (float64 beside full-precision strings), provenance in ``attrs``.

        Needs pandas and xarray (``pip install 'pencils[tables,grids]'``).
        """
        import importlib.util

        if importlib.util.find_spec("xarray") is None:  # pandas' to_xarray needs it
            raise ImportError("Table.to_xarray needs xarray: pip install 'pencils[grids]'")
        frame = self.to_pandas()
        index = self.columns[0] if index is None else index
        if index not in frame.columns:
            raise DomainError(f"to_xarray: no column {index!r} (columns: {', '.join(self.columns)})")
        dataset = frame.set_index(index).to_xarray()
        dataset.attrs.update({k: str(v) for k, v in self.provenance.items()})
        return dataset

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, i):
        """Row ``i`` (a dict), or a list of rows for a slice."""
        return self.rows[i]

    def _repr_html_(self):
        """An HTML table (15 significant digits) with the provenance, in a notebook."""
        import html

        def cell(value):
            text = mpmath.nstr(value, 15) if isinstance(value, mpmath.mpf | mpmath.mpc) else str(value)
            return f"<td>{html.escape(text)}</td>"

        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(cell(row[c]) for c in self.columns) + "</tr>" for row in self.rows)
        caption = html.escape("; ".join(f"{k}: {v}" for k, v in self.provenance.items()))
        return f"<table><caption>{caption}</caption><tr>{head}</tr>{body}</table>"

    def __len__(self):
        return len(self.rows)

    def __repr__(self):
        return f"Table({len(self.rows)} rows, columns {self.columns})"


def _write(text, file):
    if file is None:
        return text
    if hasattr(file, "write"):
        file.write(text)
    else:
        with open(file, "w", encoding="utf-8") as f:
            f.write(text)
    return text


def sweep_layout(system, over, at, dps=30, derivatives=()):
    """The columns and the provenance of a :func:`sweep` table, known before any point is solved."""
    at = {str(k): v for k, v in dict(at).items()}
    names = {e: str(s) for e, s in system.symbols.items()}
    target_names = [names[t] for t in system.targets]
    derivative_names = [f"d{n}/d{w}" for w in derivatives for n in target_names]
    values = target_names + derivative_names
    columns = [over] + values + [f"{n}_digits" for n in values] + ["certificate", "residual", "iterations", "path"]
    provenance = {
        "pencil": system.pencil.name or "unnamed",
        "pencil_sha256": system.pencil.fingerprint(),
        "targets": ", ".join(f"{names[t]} = g{t[0]},{t[1]}" for t in system.targets),
        "fixed": ", ".join(f"{k}={v}" for k, v in at.items()),
        "dps": dps,
        "pencils_version": __version__,
    }
    return columns, provenance


def _extrapolated(history, x):
    """The unknowns at ``x`` extrapolated from the last points ``[(x_i, u_i)]`` of a sweep: the
    polynomial through them (quadratic from three points, linear from two); None from fewer, or
    where two of the points coincide."""
    if len(history) < 2:
        return None
    xs = [p for p, _ in history]
    if len(set(xs)) < len(xs):
        return None
    weights = []  # Lagrange basis at x
    for i, xi in enumerate(xs):
        w = 1
        for j, xj in enumerate(xs):
            if j != i:
                w = w * (x - xj) / (xi - xj)
        weights.append(w)
    return [sum(w * u[n] for w, (_, u) in zip(weights, history)) for n in range(len(history[0][1]))]


def sweep(system, over, values, at, dps=30, derivatives=(), progress=None, on_solution=None, **options):
    """Solve ``system`` at every value of one parameter, warm-starting each point.

    Parameters
    ----------
    system : DysonSystem
    over : str
        The parameter swept.
    values : iterable
        Its values (numbers or strings; see :func:`points`).
    at : dict
        Values of the other parameters.
    dps : int
        Precision, as in :func:`pencils.solve`.
    derivatives : sequence of str
        Parameters in which to add the first derivative of every target.
    progress : bool or callable, optional
        Show a progress bar on standard error; default: when it is a terminal
        and there are more than 20 points. A callable is called instead with
        each row (a dict, as in :attr:`Table.rows`) as soon as its point is
        solved, so that a caller can write it out at once
        (:mod:`pencils.output`).
    on_solution : callable, optional
        Called with ``(solution, row)`` after each point: the
        :class:`~pencils.solver.Solution` gives the certificate, enclosures
        and Taylor series of the point (e.g. to assemble derived quantities in
        ball arithmetic).
    **options
        Passed to :func:`pencils.solve` (``tol``, ``max_iter``...).

    Returns
    -------
    Table
        Columns: the swept parameter, one per target (named by its symbol),
        ``d<target>/d<name>`` per derivative, ``<value>_digits`` for each of
        these (the significant digits the certificate proves; the working
        precision for a structural zero, 0 if uncertified), ``certificate``
        (``"proven"`` or ``"uncertified: <reason>"``), ``residual``,
        ``iterations``, ``path``. Each row also holds, under ``"enclosures"``
        (not a column), the python-flint balls of the certified values.
    """
    values = list(values)
    at = {str(k): v for k, v in dict(at).items()}
    if over in at:
        raise DomainError(f"{over} is both swept and fixed ({over}={at[over]})")
    names = {e: str(s) for e, s in system.symbols.items()}
    columns, provenance = sweep_layout(system, over, at, dps, derivatives)
    rows = []
    emit = progress if callable(progress) else None
    show = False if emit else progress if progress is not None else (len(values) > 20 and sys.stderr.isatty())
    iterator = values
    if show:
        from tqdm import tqdm

        iterator = tqdm(values, desc=f"sweep {over}", unit="pt", file=sys.stderr)
    history = []
    solution = None
    with mpmath.workdps(dps + GUARD):
        for value in iterator:
            x = to_mpmath(value)
            predictor = _extrapolated(history[-3:], x)
            point = {**at, over: x if isinstance(value, mpmath.mpf | mpmath.mpc) else value}  # exact as given
            solution = solve(system, point, dps=dps, previous=solution, predictor=predictor, **options)
            history.append((x, list(solution.unknowns.values())))
            row = {over: x}
            row.update({names[t]: v for t, v in solution.targets.items()})
            enclosures = {names[t]: solution.enclosure(t) for t in system.targets} if solution.certified else {}
            if derivatives:
                series = solution.taylor(list(derivatives), 1, balls=solution.certified)
                for w in derivatives:
                    for t in system.targets:
                        coefficient = series[str(w)][t][1]
                        if solution.certified:
                            enclosures[f"d{names[t]}/d{w}"] = coefficient
                            coefficient = mid_mpmath(coefficient)
                        row[f"d{names[t]}/d{w}"] = coefficient
            zeros = {f"d{names[t]}/d{w}" for t in system.structural_zeros for w in derivatives}
            zeros |= {names[t] for t in system.structural_zeros}
            for name in [n for n in row if n != over]:
                exact = name in zeros
                row[f"{name}_digits"] = dps if exact else certified_digits(enclosures[name], dps) if enclosures else 0
            row["certificate"] = "proven" if solution.certified else f"uncertified: {solution.uncertified_reason}"
            row.update(residual=solution.residual, iterations=solution.iterations, path=solution.path)
            rows.append(row)
            if emit is not None:
                emit(row)
            if on_solution is not None:
                on_solution(solution, row)
    return Table(columns, rows, provenance)
