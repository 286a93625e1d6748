"""The on-disk store of a grid: Zarr arrays written tile by tile, resumable, readable while written.

A grid (:func:`pencils.grids.grid`) streams into a Zarr directory: one array
per column, chunked exactly as the grid's tiles, so that a tile is one chunk
of each array and chunks are written atomically (a file written aside, then
renamed). A tile writes its data first and its ``solved`` chunk last; a tile
counts as done only when ``solved`` is true on all its points. A run killed at
any moment (SIGINT, SIGKILL) therefore leaves whole tiles, which a resumed run
keeps, and at most the tiles in progress, which it computes again.

Why Zarr format 2: its fixed-width unicode arrays (numpy ``<U``) are part of the
format, so the full-precision strings are readable by every Zarr library;
format 3 has no specification of string data types yet. Why decimal strings for
full precision: they are exact at any ``dps`` (a double-double holds only about
32 digits) and readable without pencils; they compress well.

Next to the arrays, ``pencils-grid.log`` holds one JSON line per event (run
started, tile written with its worker and seconds, run interrupted or
finished), so that a run's history shows which tile was computed when and that
none was computed twice.

Examples
--------
>>> import tempfile, os, xarray
>>> from pencils import DysonSystem, load
>>> from pencils.examples import path
>>> from pencils.grids import grid
>>> system = DysonSystem(load(path("ridge")))
>>> where = os.path.join(tempfile.mkdtemp(), "ridge.zarr")
>>> _ = grid(system, {"lam": ["0.1", "0.2"]}, {"psi": 2}, dps=20, store=where, scheduler="synchronous")
>>> print(xarray.open_zarr(where)["g11_str"].values[0])
0.84428877022476019010
>>> [e["event"] for e in read_log(where)]
['start', 'tile', 'finished']
"""

import datetime
import json
import os
import uuid
from pathlib import Path

import numpy as np

from .exceptions import PencilsError
from .output import critical

__all__ = ["GridStore", "StoreError", "read_log", "LOG_NAME"]

LOG_NAME = "pencils-grid.log"


class StoreError(PencilsError, OSError):
    """A grid store that cannot be created, resumed (made for another grid) or written."""


def read_log(path):
    """The events of a store's log, oldest first (a line cut by a kill is skipped)."""
    events = []
    log = Path(path) / LOG_NAME
    if not log.exists():
        return events
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


class GridStore:
    """A grid's Zarr store (a directory, or memory when ``path`` is None).

    Use :meth:`open_or_create`; then :meth:`done` (tiles already written),
    :meth:`write` (one tile), :meth:`log` (an event), :meth:`dataset`.
    """

    def __init__(self, path, group, layout):
        self.path = None if path is None else Path(path)
        self.group = group
        self.layout = layout
        self.run = uuid.uuid4().hex[:12]

    @classmethod
    def open_or_create(cls, path, layout, variables, identity, resume=False):
        """Create the store of a grid, or open it to resume (``resume=True``: its identity must match)."""
        import zarr

        from .grids import columns, dumps_identity

        group = cls.check(path, identity, resume, mode="r+")
        if group is not None:
            return cls(path, group, layout)
        store = zarr.storage.MemoryStore() if path is None else str(path)
        group = zarr.open_group(store, mode="w", zarr_format=2)
        for name, values in layout.coordinates().items():
            array = group.create_array(name=name, shape=values.shape, chunks=values.shape, dtype=values.dtype,
                                       fill_value=None)
            array[:] = values
            array.attrs["_ARRAY_DIMENSIONS"] = [name]
        for name, dtype in {**columns(variables, layout.dps), "solved": np.dtype(bool)}.items():
            array = group.create_array(name=name, shape=layout.shape, chunks=layout.tile, dtype=dtype,
                                       fill_value=np.nan if dtype.kind in "fc" else None)
            array.attrs["_ARRAY_DIMENSIONS"] = list(layout.names)
        attrs = {"grid": dumps_identity(identity)}
        attrs.update(identity["computed"])
        attrs.update(dps=identity["dps"], along=identity["along"],
                     fixed=", ".join(f"{k}={v}" for k, v in identity["fixed"].items()),
                     pencils_version=identity["pencils_version"])
        group.attrs.update(attrs)
        zarr.consolidate_metadata(store)
        return cls(path, group, layout)

    @staticmethod
    def check(path, identity, resume=False, mode="r"):
        """The Zarr group of an existing store at ``path`` that may be resumed, or None if there is none.

        Raises :class:`StoreError` for a store that exists without ``resume``,
        that is not a grid store, or that was made for another grid (naming
        what differs). Nothing is written.
        """
        import zarr

        from .grids import dumps_identity

        if path is None or not Path(path).exists() or not any(Path(path).iterdir()):
            return None
        if not resume:
            raise StoreError(f"{path} exists: resume it (resume=True, --resume) or choose another path")
        try:
            group = zarr.open_group(str(path), mode=mode, zarr_format=2)
            stored = group.attrs["grid"]
        except Exception as exc:
            raise StoreError(f"{path} is not a pencils grid store ({type(exc).__name__}: {exc})") from None
        text = dumps_identity(identity)
        if stored != text:
            old, new = json.loads(stored), json.loads(text)
            differ = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            raise StoreError(f"{path} holds another grid (differs in: {', '.join(differ)}); "
                             f"resume it with the same arguments or choose another path")
        return group

    def done(self):
        """The indices of the tiles whose points are all solved."""
        solved = self.group["solved"][...]
        return {i for i in range(self.layout.count) if solved[self.layout.slices(i)].all()}

    def write(self, index, arrays):
        """Write tile ``index`` (``{column: array}``), data first and ``solved`` last; signals held meanwhile."""
        box = self.layout.slices(index)
        with critical():
            for name, values in arrays.items():
                self.group[name][box] = values
            self.group["solved"][box] = np.ones(self.layout.tile_shape(index), dtype=bool)

    def log(self, event, **fields):
        """Record an event (with the run id and time) in the log (a store in memory keeps none)."""
        entry = {"event": event, "run": self.run,
                 "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"), **fields}
        if self.path is not None:
            with critical(), open(self.path / LOG_NAME, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")
                f.flush()
                os.fsync(f.fileno())

    def dataset(self):
        """The grid as an :class:`xarray.Dataset` (lazy, from the store, for a directory)."""
        import xarray as xr

        ds = xr.open_zarr(self.group.store, consolidated=True, zarr_format=2)
        if self.path is None:
            ds = ds.load()
        return ds
