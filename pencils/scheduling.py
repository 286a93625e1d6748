"""Where the tiles of a grid run: this process, a local Dask cluster, or an existing Dask cluster.

:func:`run` computes the tiles a store does not have yet and writes each one as
soon as it arrives; only this process writes, so workers need not share its
disk. With Dask, the solver, the layout and the fixed values are sent to every
worker once (``Client.scatter``), each task is one tile, and at most two tiles
per worker are in flight, so that memory stays bounded whatever the grid size.

Schedulers
----------
``None`` or ``"processes"``
    A :class:`distributed.LocalCluster` of ``workers`` processes (one thread
    each) on this machine, started and stopped by the run: no set-up.
``"synchronous"``
    This process, no Dask (debugging, small grids, doctests).
an address, e.g. ``"tcp://10.0.0.5:8786"``
    An existing cluster (``dask scheduler`` and ``dask worker ADDRESS`` on
    any machines with pencils installed).
a :class:`distributed.Client`
    Used as it is, and left open.

On SIGINT or SIGTERM the run stops, logs ``interrupted`` and re-raises; the
tiles written so far stay, and ``resume=True`` goes on from them.
"""

import itertools
import logging
import math
import os
import socket
import sys
import time

from .grids import solve_tile
from .output import Terminated

__all__ = ["run", "client_for"]


def _task(bundle, index):
    """A worker's job: one tile of ``bundle = (rows, layout, fixed)``, with its wall time and the worker's name."""
    rows, layout, fixed = bundle
    start = time.perf_counter()
    arrays = solve_tile(rows, layout, fixed, index)
    return index, arrays, time.perf_counter() - start, f"{socket.gethostname()}:{os.getpid()}"


class client_for:
    """Context manager: a :class:`distributed.Client` for ``scheduler`` (see the module docstring)."""

    def __init__(self, scheduler, workers=None):
        self.scheduler, self.workers = scheduler, workers
        self.cluster = self.client = None

    def __enter__(self):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ImportError("grids on Dask need dask.distributed: pip install 'pencils[grids]' "
                              "(or use scheduler='synchronous')") from None
        if not isinstance(self.scheduler, str | type(None)):
            self.client = self.scheduler
            return self.client
        if self.scheduler in (None, "processes"):
            self.cluster = LocalCluster(n_workers=_local_workers(self.workers), threads_per_worker=1,
                                        processes=True, dashboard_address=":0", silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
        else:
            self.client = Client(self.scheduler, timeout="20s")
        return self.client

    def __exit__(self, *exc):
        if self.cluster is not None:
            self.client.close()
            self.cluster.close()
        elif isinstance(self.scheduler, str):
            self.client.close()
        return False


def _local_workers(workers):
    """Worker processes of a local cluster: as asked, else one per CPU."""
    return workers or os.cpu_count() or 1


def _describe(scheduler, workers):
    if scheduler in (None, "processes"):
        return f"local cluster, {_local_workers(workers)} worker processes"
    if scheduler == "synchronous":
        return "synchronous (this process)"
    return f"Dask cluster at {scheduler}" if isinstance(scheduler, str) else f"Dask client {scheduler!r}"


def run(rows, layout, fixed, store, scheduler=None, workers=None, progress=False):
    """Compute every tile of ``layout`` that ``store`` lacks and write it there as it arrives.

    Parameters
    ----------
    rows : RowSolver
    layout : Layout
    fixed : dict
    store : GridStore
    scheduler, workers
        See the module docstring.
    progress : bool
        A tqdm bar: points done (with points per second and an ETA) and tiles done.
    """
    done = store.done()
    todo = [i for i in range(layout.count) if i not in done]
    total = sum(math.prod(layout.tile_shape(i)) for i in todo)
    store.log("start", tiles=layout.count, done=len(done), scheduler=_describe(scheduler, workers))
    from tqdm import tqdm

    bar = tqdm(total=total, unit="pt", desc="grid", file=sys.stderr, disable=not progress, dynamic_ncols=True)
    written = 0

    def finish(index, arrays, seconds, worker):
        nonlocal written
        store.write(index, arrays)
        written += 1
        points = math.prod(layout.tile_shape(index))
        store.log("tile", tile=index, points=points, seconds=round(seconds, 4), worker=worker)
        bar.update(points)
        bar.set_postfix_str(f"tiles {len(done) + written}/{layout.count}")

    try:
        if scheduler == "synchronous":
            for index in todo:
                finish(*_task((rows, layout, fixed), index))
        elif todo:
            _on_dask(rows, layout, fixed, todo, scheduler, workers, finish)
    except KeyboardInterrupt as exc:
        how = "terminated" if isinstance(exc, Terminated) else "interrupted"
        store.log(how, written=written, remaining=len(todo) - written)
        raise
    except Exception as exc:  # a tile raised (a row solver's bug, a lost cluster): say so in the log, then raise
        store.log("failed", written=written, remaining=len(todo) - written, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        bar.close()
    store.log("finished", written=written)


def _on_dask(rows, layout, fixed, todo, scheduler, workers, finish):
    from distributed import as_completed

    with client_for(scheduler, workers) as client:
        bundle = client.scatter([(rows, layout, fixed)], broadcast=True)[0]  # sent to each worker once
        window = 2 * max(1, len(client.nthreads()))
        pending = iter(todo)
        futures = [client.submit(_task, bundle, i, pure=False) for i in itertools.islice(pending, window)]
        queue = as_completed(futures)
        try:
            for future in queue:
                finish(*future.result())
                future.release()
                for index in pending:
                    queue.add(client.submit(_task, bundle, index, pure=False))
                    break
        except BaseException:
            client.cancel(list(queue.futures))
            raise

