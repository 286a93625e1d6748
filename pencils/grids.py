"""N-dimensional grids of solutions: rows warm-started, tiles in parallel, results in a labelled array.

A grid sweeps several parameters at once. Its points are cut into *tiles*:
boxes of the grid whose points along the warm-start axis (``along``, the last
axis unless told) form *row segments*. Each segment is one warm-started sweep
(:func:`pencils.sweep.sweep`: every point continued from the previous ones),
started afresh at its first point, so that tiles are independent tasks with
their own warm starts and can run in any order, on any worker
(:mod:`pencils.scheduling`). Results stream into an on-disk Zarr store tile by
tile (:mod:`pencils.store`), so that a killed run resumes where it stopped.

What is computed along a row is a :class:`RowSolver`: :class:`SystemRows`
solves a :class:`~pencils.DysonSystem` (targets, derivatives, certified digits,
residual); a model supplies its own (e.g. train and test errors) through the
same interface.

The result is an :class:`xarray.Dataset` with one dimension per axis (float64
coordinates; the exact axis values in ``attrs``), and per variable

* ``<name>``: float64 (``complex128`` for complex variables) for plotting,
* ``<name>_str``: the value with all ``dps`` digits, as a string,

plus integer and text variables (certified digits, certificate, path) and
``solved``, true at every point a tile has written. Provenance is in
``Dataset.attrs``.

Examples
--------
>>> from pencils import DysonSystem, load
>>> from pencils.examples import path
>>> system = DysonSystem(load(path("marchenko_pastur")))
>>> ds = grid(system, {"psi": ["0.5", "2"], "z": ["-2", "-1", "-0.5"]}, dps=20, scheduler="synchronous")
>>> ds.sizes["psi"], ds.sizes["z"]
(2, 3)
>>> print(ds["g11_str"].values[0, 1])  # psi = 1/2, z = -1: g = (1 - sqrt(17))/4, a root of g^2 - g/2 - 1
-0.78077640640441513746
>>> bool(ds["solved"].all()), str(ds["certificate"].values[1, 2])
(True, 'proven')
"""

import json
import math
import sys

import mpmath
import numpy as np

from .exceptions import DomainError, PencilsError
from .solver import GUARD
from .sweep import points, sweep, sweep_layout
from .values import full_string, to_mpmath

__all__ = ["grid", "check_store", "axis_points", "RowSolver", "SystemRows", "Layout", "KINDS", "encode_row"]

#: the kinds of grid variables and how they are stored (see :func:`encode_row`)
KINDS = {
    "real": "float64 and a full-precision string",
    "complex": "complex128 and a full-precision string",
    "float": "float64 only (residuals, timings)",
    "integer": "int64",
    "text": "a string of at most 200 characters (longer ones are cut, ending in an ellipsis)",
}
TEXT_WIDTH = 200


class RowSolver:
    """What a grid computes along one row segment; subclass it to put a model on a grid.

    A subclass sets :attr:`variables` and implements :meth:`solve_row`; it must
    be picklable (it is sent once to every worker) and deterministic (the same
    segment gives the same numbers on any worker, so that a resumed run
    reproduces an uninterrupted one).

    Attributes
    ----------
    variables : dict
        ``{name: kind}`` with kinds from :data:`KINDS`, in output order.
    """

    variables = {}

    def provenance(self):
        """A dict of strings saying what is computed (stored in the grid's attributes; part of its identity)."""
        return {"solver": type(self).__name__}

    def solve_row(self, point, over, values, dps):
        """Solve one row segment.

        Parameters
        ----------
        point : dict
            The fixed parameters and the other axes' values of this row.
        over : str
            The warm-start axis.
        values : list
            Its values along the segment, in order (mpmath numbers).
        dps : int
            Working precision.

        Returns
        -------
        list of dict
            One ``{variable: value}`` per value, in order. A point that fails
            gets the values it has (missing numbers are stored as NaN and empty
            strings), typically with a text variable saying why.
        """
        raise NotImplementedError


class SystemRows(RowSolver):
    """The targets of a :class:`~pencils.DysonSystem`, with derivatives and certificates, along rows.

    Parameters
    ----------
    system : DysonSystem
    derivatives : sequence of str
        Parameters in which to add the first derivative of every target.
    **options
        Passed to :func:`pencils.solve` (``tol``, ``max_iter``...).

    Notes
    -----
    Variables: each target (``complex``: the float column is complex128, use
    ``.real`` on the real axis outside the spectrum), ``d<target>_d<name>`` per
    derivative (``d<target>/d<name>`` in sweep tables; Zarr names cannot hold
    a slash), ``<value>_digits`` (certified significant digits),
    ``certificate`` (``"proven"``, ``"uncertified: <reason>"`` or
    ``"failed: <reason>"`` when no solution was found; the row goes on from the
    next point), ``residual``, ``iterations``, ``path``.
    """

    def __init__(self, system, derivatives=(), **options):
        self.system = system
        self.derivatives = tuple(str(d) for d in derivatives)
        self.options = dict(options)
        names = {e: str(s) for e, s in system.symbols.items()}
        self.names = [names[t] for t in system.targets]
        self.names += [f"d{n}/d{w}" for w in self.derivatives for n in self.names]
        # Zarr names cannot hold "/": the sweep's columns d<target>/d<name> become d<target>_d<name>
        self.renamed = {name: name.replace("/", "_") for name in self.names}
        self.renamed.update({f"{name}_digits": f"{new}_digits" for name, new in self.renamed.items()})
        values = [self.renamed[name] for name in self.names]
        self.variables = {v: "complex" for v in values}
        self.variables.update({f"{v}_digits": "integer" for v in values})
        self.variables.update(certificate="text", residual="float", iterations="integer", path="text")

    def provenance(self):
        _, provenance = sweep_layout(self.system, "_", {}, 30, self.derivatives)
        keep = {k: provenance[k] for k in ("pencil", "pencil_sha256", "targets")}
        keep.update(solver="SystemRows", derivatives=", ".join(self.derivatives),
                    options=", ".join(f"{k}={v}" for k, v in sorted(self.options.items())))
        return keep

    def solve_row(self, point, over, values, dps):
        rows = []
        while len(rows) < len(values):
            done = []
            try:
                sweep(self.system, over, values[len(rows):], point, dps=dps, derivatives=self.derivatives,
                      progress=done.append, **self.options)
                rows.extend(done)
            except PencilsError as exc:  # this point failed: record it, go on cold from the next one
                rows.extend(done)
                rows.append({"certificate": f"failed: {type(exc).__name__}: {exc}"})
        return [{self.renamed.get(k, k): v for k, v in row.items()} for row in rows]


class Layout:
    """The axes of a grid, its warm-start axis and its tiles.

    Parameters
    ----------
    axes : dict
        ``{name: values}`` in dimension order; values as numbers or strings
        (read exactly) or mpmath numbers.
    along : str, optional
        The warm-start axis; default the last one.
    tile : dict, optional
        Points per tile along each axis; default: the whole ``along`` axis
        (at most 1000 points) and 1 along the others.
    dps : int
        Precision at which the axis values are read.

    Examples
    --------
    >>> layout = Layout({"a": [1, 2, 3], "b": ["0.1", "0.2"]}, tile={"a": 2})
    >>> layout.shape, layout.tile, layout.count
    ((3, 2), (2, 2), 2)
    >>> layout.slices(1)
    (slice(2, 3, None), slice(0, 2, None))
    """

    def __init__(self, axes, along=None, tile=None, dps=30):
        if not axes:
            raise DomainError("a grid needs at least one axis")
        self.names = [str(n) for n in axes]
        if len(set(self.names)) != len(self.names):
            raise DomainError(f"axis names repeat: {self.names}")
        self.along = self.names[-1] if along is None else str(along)
        if self.along not in self.names:
            raise DomainError(f"the warm-start axis {self.along!r} is not an axis of the grid ({', '.join(self.names)})")
        self.dps = int(dps)
        self.values = {}
        with mpmath.workdps(self.dps + GUARD):
            for name, values in axes.items():
                values = list(values)
                if not values:
                    raise DomainError(f"axis {name} has no values")
                self.values[str(name)] = [v if isinstance(v, mpmath.mpf | mpmath.mpc) else to_mpmath(v) for v in values]
                if len(set(self.values[str(name)])) != len(values):
                    raise DomainError(f"axis {name} repeats a value")
        self.shape = tuple(len(self.values[n]) for n in self.names)
        tile = {str(k): v for k, v in dict(tile or {}).items()}
        unknown = set(tile) - set(self.names)
        if unknown:
            raise DomainError(f"tile sizes given for {sorted(unknown)}, which are not axes ({', '.join(self.names)})")
        sizes = []
        for name, n in zip(self.names, self.shape):
            size = tile.get(name, min(n, 1000) if name == self.along else 1)
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise DomainError(f"tile size along {name} must be a positive integer, got {size!r}")
            sizes.append(min(size, n))
        self.tile = tuple(sizes)
        self.tiles = tuple(math.ceil(n / s) for n, s in zip(self.shape, self.tile))
        self.count = math.prod(self.tiles)

    def slices(self, index):
        """The box of tile ``index`` (tiles numbered in C order), one slice per axis."""
        position = np.unravel_index(index, self.tiles)
        return tuple(slice(int(p) * s, min((int(p) + 1) * s, n)) for p, s, n in zip(position, self.tile, self.shape))

    def tile_shape(self, index):
        """The shape of tile ``index`` (the last tiles along an axis may be shorter)."""
        return tuple(s.stop - s.start for s in self.slices(index))

    def strings(self):
        """``{axis: [full-precision strings]}``: the exact axis values, for the store's attributes."""
        return {n: [full_string(v, self.dps) for v in self.values[n]] for n in self.names}

    def coordinates(self):
        """``{axis: numpy array}``: float64 (complex128 if any value is complex) coordinates."""
        result = {}
        for n in self.names:
            values = self.values[n]
            if any(isinstance(v, mpmath.mpc) and v.imag != 0 for v in values):
                result[n] = np.array([complex(v) for v in values])
            else:
                result[n] = np.array([float(mpmath.re(v)) for v in values])
        return result


def string_width(kind, dps):
    """Characters of the string column of a variable of ``kind`` at ``dps`` digits."""
    return {"real": dps + 16, "complex": 2 * dps + 36, "text": TEXT_WIDTH}[kind]


def encode_row(variables, rows, dps):
    """Numpy arrays of one row segment: ``{column: array}`` for the columns of :func:`columns`.

    Numbers become float64 / complex128 and full-precision strings; a missing
    value is NaN (an empty string, 0 for integers). A complex value in a
    ``real`` variable is refused rather than cut to its real part.

    >>> arrays = encode_row({"x": "real", "note": "text"}, [{"x": mpmath.mpf(2)}, {"note": "failed"}], 5)
    >>> arrays["x"].tolist(), arrays["x_str"].tolist(), arrays["note"].tolist()
    ([2.0, nan], ['2.0000', ''], ['', 'failed'])
    """
    dtypes = columns(variables, dps)  # unknown kinds fail here
    arrays = {}
    for name, kind in variables.items():
        values = [row.get(name) for row in rows]
        if kind in ("real", "complex", "float"):
            numbers = np.full(len(rows), np.nan, dtype=dtypes[name])
            for i, v in enumerate(values):
                if v is None:
                    continue
                if kind != "complex" and mpmath.im(v) != 0:
                    raise DomainError(f"variable {name} is declared {kind} but has the complex value {v}")
                numbers[i] = complex(v) if kind == "complex" else float(mpmath.re(v))
            arrays[name] = numbers
            if kind != "float":
                arrays[f"{name}_str"] = np.array(["" if v is None else full_string(v, dps) for v in values],
                                                 dtype=dtypes[f"{name}_str"])
        elif kind == "integer":
            arrays[name] = np.array([0 if v is None else int(v) for v in values], dtype=dtypes[name])
        else:  # text
            texts = ["" if v is None else str(v) for v in values]
            arrays[name] = np.array([t if len(t) <= TEXT_WIDTH else t[:TEXT_WIDTH - 1] + "…" for t in texts],
                                    dtype=dtypes[name])
    return arrays


def columns(variables, dps):
    """``{column: numpy dtype}`` of the stored columns of ``variables`` at ``dps`` digits."""
    result = {}
    for name, kind in variables.items():
        if kind in ("real", "complex", "float"):
            result[name] = np.dtype(complex if kind == "complex" else float)
            if kind != "float":
                result[f"{name}_str"] = np.dtype(f"<U{string_width(kind, dps)}")
        elif kind == "integer":
            result[name] = np.dtype(np.int64)
        elif kind == "text":
            result[name] = np.dtype(f"<U{TEXT_WIDTH}")
        else:
            raise DomainError(f"variable {name}: unknown kind {kind!r}; kinds are {', '.join(KINDS)}")
    return result


def solve_tile(rows, layout, fixed, index):
    """Solve tile ``index`` of ``layout``: ``{column: array of the tile's shape}`` (the task a worker runs)."""
    box = layout.slices(index)
    shape = layout.tile_shape(index)
    axis = layout.names.index(layout.along)
    arrays = {c: np.empty(shape, dtype=t) for c, t in columns(rows.variables, layout.dps).items()}
    along = layout.values[layout.along][box[axis]]
    for position in np.ndindex(*[shape[i] for i, n in enumerate(layout.names) if n != layout.along]):
        point = dict(fixed)
        where = []
        k = 0
        for i, name in enumerate(layout.names):
            if name == layout.along:
                where.append(slice(None))
            else:
                point[name] = layout.values[name][box[i].start + position[k]]
                where.append(position[k])
                k += 1
        result = rows.solve_row(point, layout.along, along, layout.dps)
        if len(result) != len(along):
            raise DomainError(f"{type(rows).__name__}.solve_row returned {len(result)} points for {len(along)}")
        for column, values in encode_row(rows.variables, result, layout.dps).items():
            arrays[column][tuple(where)] = values
    return arrays


def identity(rows, layout, fixed):
    """The attributes that define a grid: a resumed store must match them exactly."""
    from . import __version__

    return {
        "axes": layout.strings(),
        "along": layout.along,
        "tile": list(layout.tile),
        "fixed": {k: v if isinstance(v, str) else full_string(to_mpmath(v, layout.dps + GUARD), layout.dps)
                  for k, v in fixed.items()},
        "dps": layout.dps,
        "variables": dict(rows.variables),
        "computed": rows.provenance(),
        "pencils_version": __version__,
    }


def grid(rows, axes, fixed=None, *, dps=30, along=None, tile=None, store=None, resume=False, scheduler=None,
         workers=None, progress=None, derivatives=(), **options):
    """Solve on an N-dimensional grid of parameters; return an :class:`xarray.Dataset`.

    Parameters
    ----------
    rows : DysonSystem or RowSolver
        What to compute: a system (its targets, via :class:`SystemRows`) or a
        model's :class:`RowSolver`.
    axes : dict
        ``{parameter: values}``, in dimension order (see :func:`pencils.sweep.points`).
    fixed : dict, optional
        Values of the other parameters.
    dps : int
        Working precision (default 30).
    along : str, optional
        The warm-start axis (default: the last axis).
    tile : dict, optional
        Points per tile along each axis (see :class:`Layout`).
    store : str or path, optional
        A Zarr directory to stream the tiles into; the result is then read
        lazily from it. Default: results kept in memory.
    resume : bool
        Continue the grid in ``store`` from the tiles it has (default False:
        an existing store is an error). The store must have been made for the
        same grid (axes, fixed values, precision, tiles, solver).
    scheduler : None, "processes", "synchronous", str or distributed.Client
        Where tiles run (:func:`pencils.scheduling.run`): default (``None`` or
        ``"processes"``) a local Dask cluster of ``workers`` processes;
        ``"synchronous"`` this process, no Dask; a scheduler address
        (``"tcp://host:8786"``) or a ``Client`` for an existing cluster.
    workers : int, optional
        Worker processes of the local cluster (default: the number of CPUs).
    progress : bool, optional
        A progress bar (tiles done, points per second, ETA) on standard error;
        default: when it is a terminal.
    derivatives : sequence of str
        With a system: parameters in which to add the first derivatives.
    **options
        With a system: passed to :func:`pencils.solve`.

    Returns
    -------
    xarray.Dataset
        See the module docstring; ``attrs["grid"]`` holds the grid's identity
        (JSON) and ``attrs`` the provenance.
    """
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise DomainError(f"workers must be a positive integer, got {workers!r}")
    rows, layout, fixed = _prepare(rows, axes, fixed, dps, along, tile, derivatives, options)
    from .scheduling import run
    from .store import GridStore

    store = GridStore.open_or_create(store, layout, rows.variables, identity(rows, layout, fixed), resume=resume)
    run(rows, layout, fixed, store, scheduler=scheduler, workers=workers,
        progress=progress if progress is not None else sys.stderr.isatty())
    return store.dataset()


def _prepare(rows, axes, fixed, dps, along, tile, derivatives=(), options=None):
    """The row solver, the layout and the fixed values of a grid, checked."""
    from .dyson import DysonSystem

    if isinstance(rows, DysonSystem):
        rows = SystemRows(rows, derivatives, **(options or {}))
    elif not isinstance(rows, RowSolver):
        raise DomainError(f"grid needs a DysonSystem or a RowSolver, got {type(rows).__name__}")
    elif derivatives or options:
        raise DomainError("derivatives and solver options go to the RowSolver, not to grid(), for a RowSolver")
    fixed = {str(k): v for k, v in dict(fixed or {}).items()}
    layout = Layout(axes, along=along, tile=tile, dps=dps)
    both = set(fixed) & set(layout.names)
    if both:
        raise DomainError(f"{', '.join(sorted(both))} both fixed and on an axis")
    columns(rows.variables, dps)  # unknown kinds fail here, before anything runs
    return rows, layout, fixed


def check_store(store, rows, axes, fixed=None, *, dps=30, along=None, tile=None, resume=False, derivatives=(),
                **options):
    """Check, without computing or writing anything, that :func:`grid` with these arguments may use ``store``.

    Raises :class:`~pencils.store.StoreError` when the store exists and
    ``resume`` is false, is not a grid store, or holds another grid; and what
    :func:`grid` raises for bad arguments. A model that runs several grids
    checks them all this way before the first one starts.

    >>> import tempfile
    >>> from pencils import DysonSystem, load
    >>> from pencils.examples import path
    >>> system = DysonSystem(load(path("ridge")))
    >>> check_store(tempfile.mkdtemp() + "/new.zarr", system, {"lam": [1, 2]}, {"psi": 2})  # nothing there: fine
    """
    from .store import GridStore

    rows, layout, fixed = _prepare(rows, axes, fixed, dps, along, tile, derivatives, options)
    GridStore.check(store, identity(rows, layout, fixed), resume)


def axis_points(text, log=False, dps=30, name="axis"):
    """A grid axis from text: ``START:STOP:COUNT`` (linear, or geometric if ``log``) or a list ``a,b,c``.

    >>> [float(x) for x in axis_points("1:4:3", log=True)]
    [1.0, 2.0, 4.0]
    >>> [str(x) for x in axis_points("0.5,1")]
    ['0.5', '1.0']
    """
    text = str(text).strip()
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise DomainError(f"{name}: a grid is START:STOP:COUNT, got {text!r}")
        try:
            count = int(parts[2])
        except ValueError:
            raise DomainError(f"{name}: COUNT of START:STOP:COUNT must be an integer, got {text!r}") from None
        try:
            return points(parts[0], parts[1], count, log=log, dps=dps)
        except PencilsError as exc:
            raise DomainError(f"{name}: {exc}") from None
    with mpmath.workdps(dps + GUARD):
        return [to_mpmath(part) for part in text.split(",")]


def dumps_identity(identity):
    """The identity of a grid as canonical JSON (compared on resume)."""
    return json.dumps(identity, sort_keys=True)
