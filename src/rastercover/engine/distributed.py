"""Run blocks on a Dask ``distributed`` cluster, or build a lazy dask array of a job.

The unit of work is the engine's block of tiles, computed by the same
:func:`~rastercover.engine.blocks.compute_bounded` as everywhere else, so results are identical bit for bit to
``executor="local"``. The :class:`Job` (source, grid, methods) is scattered once to every worker; a task carries
only its block. Sources are read by bounding box in the workers (a file path or a PostGIS location travels, not
the features).

* Eager (:func:`dask_results`, used by ``run(..., executor="dask")``): the blocks that may hold a feature are
  tasks (a task carries its block as a few numbers, :func:`block_spec`), busy blocks first. Without a
  detached writer, at most ``3 x`` the cluster's threads are in flight and results come back in block order (a
  reorder buffer), so client memory does not grow with the tiles; empty blocks are written by the client as
  constants. A sink with a detached writer (tile folder, Zarr, PostGIS) has every block with tiles written by
  the workers themselves, when they can reach the output (same path on a shared file system): then every block
  is in flight at once and results, which carry no pixels, are recorded as they finish.
* Faults: the scheduler reruns the tasks of a worker that dies; a task only computes and (with a detached
  writer) rewrites whole tile files atomically, so running it twice is harmless.
* Lazy (:func:`lazy_array`): a dask array (band, y, x) with one chunk per block, each chunk computed on demand.

Examples
--------
>>> check_executor("LOCAL", None)
'local'
>>> check_executor("spark", None)
Traceback (most recent call last):
...
rastercover.errors.UnknownOptionError: unknown executor 'spark': choose one of local, dask
"""

from __future__ import annotations

import logging
import os
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..errors import InputError
from ..grid import Grid
from .blocks import busy_blocks, compute_and_write, compute_bounded, empty_block
from .compute import BlockResult, Job
from .executors import EXECUTORS, check_executor, require_dask
from .plan import DEFAULT_BLOCK_PIXELS, Block, Extent, plan_blocks

__all__ = [
    "EXECUTORS",
    "block_array",
    "block_spec",
    "check_executor",
    "dask_results",
    "lazy_array",
    "local_cluster",
    "require_dask",
    "spec_block",
]

IN_FLIGHT_PER_THREAD = 3


def block_array(job: Job, res: BlockResult) -> np.ndarray:
    """The pixels of ``res``'s block window (bands, rows, cols) as the memory sink holds them.

    Tiles the result lists carry its data (or the empty values when it has none); other tiles are nodata.

    Examples
    --------
    >>> from affine import Affine
    >>> from rastercover.grid import Grid, Window
    >>> from rastercover.engine import Block, Extent
    >>> from rastercover.methods import get_method
    >>> g = Grid(4, 2, Affine(1, 0, 0, 0, -1, 2), "EPSG:3857", 2)
    >>> job = Job(None, g, (get_method("SUM_OF_AREAS"),), Extent.TOUCHED, np.dtype("float32"), -1.0)
    >>> tiles = tuple(g.tiles())
    >>> block_array(job, BlockResult(Block(0, Window(0, 0, 4, 2), tiles), None, tiles[:1])).tolist()
    [[[0.0, 0.0, -1.0, -1.0], [0.0, 0.0, -1.0, -1.0]]]
    """
    from ..pixel_values import is_nodata

    win = res.block.window
    out = np.full((len(job.methods), win.height, win.width), job.nodata, dtype=job.dtype)
    covered = sum(t.window.width * t.window.height for t in res.tiles) == win.width * win.height
    if res.data is not None and covered:  # (a sparse grid's block window may hold tiles the grid lacks: nodata)
        out[...] = res.data
        return out
    values = job.empty_values if res.data is None else None
    for t in res.tiles:
        sl = (slice(None), *t.window.relative_to(win).slices)
        if values is None:
            out[sl] = res.data[sl]
            continue
        for i, v in enumerate(values):
            if not is_nodata(v, job.nodata):
                out[(i, *sl[1:])] = v
    return out


def block_spec(block: Block) -> tuple:
    """What a task carries of its block: its index, window and tile rectangle (and the tiles left out, when a
    resumed run skips some), a few dozen bytes however many tiles; :func:`spec_block` rebuilds the block.

    Shipping blocks themselves would cost the client a pickle of every tile and every worker a copy of them all
    (a million tiles of a full extent on each worker): the memory of a worker would grow with the job.

    Examples
    --------
    >>> from affine import Affine
    >>> from rastercover.grid import Grid
    >>> from rastercover.engine import plan_blocks
    >>> g = Grid(5, 4, Affine(1, 0, 0, 0, -1, 4), "EPSG:3857", 2)
    >>> b = plan_blocks(g, 16)[1]
    >>> block_spec(b)[2:]
    (0, 2, 2, 1, ())
    >>> spec_block(g, block_spec(b)) == b
    True
    """
    indexes = [t.index for t in block.tiles]
    r0, c0 = min(r for r, _ in indexes), min(c for _, c in indexes)
    nr, nc = max(r for r, _ in indexes) - r0 + 1, max(c for _, c in indexes) - c0 + 1
    present = set(indexes)
    full = [(r, c) for r in range(r0, r0 + nr) for c in range(c0, c0 + nc)]
    if [i for i in full if i in present] != indexes:  # not in row-major order: list the tiles themselves
        return (block.index, block.window, r0, c0, 0, 0, tuple(indexes))
    return (block.index, block.window, r0, c0, nr, nc, tuple(i for i in full if i not in present))


def spec_block(grid: Any, spec: tuple) -> Block:
    """The block a :func:`block_spec` describes, on ``grid``."""
    index, window, r0, c0, nr, nc, listed = spec
    if nr == 0:
        return Block(index, window, tuple(grid.tile(r, c) for r, c in listed))
    skip = set(listed)
    tiles = tuple(grid.tile(r, c) for r in range(r0, r0 + nr) for c in range(c0, c0 + nc) if (r, c) not in skip)
    return Block(index, window, tiles)


def _task(job: Job, spec: tuple, busy: bool, writer: Any) -> BlockResult | tuple[int, tuple]:
    """On a worker: the block of ``spec``, computed (busy) or empty. With a detached writer its tiles are written
    there and the answer is only ``(block index, indexes of the tiles written)``: the client has the block."""
    block = spec_block(job.grid, spec)
    if writer is not None:
        res = compute_and_write(job, block, busy, writer)
        return block.index, tuple(t.index for t in res.tiles)
    return compute_bounded(job, block) if busy else empty_block(job, block)


def _worker_environ() -> dict[str, Any]:
    """The environment of the local cluster's worker processes: Dask's, but glibc's own malloc trimming.

    Dask sets ``MALLOC_TRIM_THRESHOLD_=65536`` in its workers, which hands every large temporary array of a
    block back to the system and zeroes it again for the next one: the blocks then take about 1.4x longer than
    in a plain process (measured in ``benchmarks/bench_dask.py``). Memory stays bounded by the block size.
    """
    import dask

    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {})
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    return environ


def _is_client(obj: Any) -> bool:
    return all(hasattr(obj, a) for a in ("submit", "scatter", "nthreads"))


@contextmanager
def _client(scheduler: Any, workers: int, notify: Callable[[str], None] | None) -> Iterator[Any]:
    """A client of ``scheduler`` (a Client is used as is), or of a local cluster of ``workers`` processes."""
    from distributed import Client

    if _is_client(scheduler):
        yield scheduler
        return
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as e:
            raise InputError(
                f"cannot connect to the Dask scheduler {scheduler!r} ({e}); start it (`dask scheduler`) "
                "or give its address as tcp://HOST:PORT"
            ) from None
        with client:
            _announce(client, notify, local=False)
            yield client
        return
    cluster = local_cluster(workers)
    try:
        with Client(cluster) as client:
            _announce(client, notify, local=True)
            yield client
    finally:
        cluster.close()


def local_cluster(workers: int, *, dashboard: bool = True) -> Any:
    """A ``distributed.LocalCluster`` of ``workers`` processes of one thread, set up for rastercover's tasks.

    What a run without ``scheduler`` starts; for several runs on one cluster, start it once and pass
    ``scheduler=Client(cluster)``. Workers keep glibc's own malloc trimming (see :func:`_worker_environ`);
    ``dashboard`` serves the Dask dashboard on a free port (it needs bokeh).
    """
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.nanny.pre-spawn-environ": _worker_environ()}):
        return LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0" if dashboard else None,
            silence_logs=logging.WARNING,
        )


def _announce(client: Any, notify: Callable[[str], None] | None, *, local: bool) -> None:
    """Tell ``notify`` the dashboard link, when the scheduler serves one (it needs bokeh, here for a local one)."""
    import importlib.util

    if notify is None or (local and importlib.util.find_spec("bokeh") is None):
        return
    services = client.scheduler_info().get("services", {})
    if "dashboard" in services:
        notify(f"dask dashboard: {client.dashboard_link}")


def _workers_see(client: Any, folder: str) -> bool:
    """Whether every worker sees ``folder`` (just created by the client: a shared file system)."""
    seen = client.run(os.path.isdir, folder)
    return bool(seen) and all(seen.values())


def dask_results(
    job: Job,
    blocks: list[Block],
    *,
    workers: int = 1,
    scheduler: Any = None,
    writer: Any = None,
    notify: Callable[[str], None] | None = None,
) -> Iterator[tuple[BlockResult, bool]]:
    """Computed blocks, with a flag saying whether their tiles are written already.

    Blocks come in block order, except those written by the workers (a detached writer), which come as they
    finish. ``scheduler``: an address (``tcp://HOST:PORT``), a ``distributed.Client``, or None to start a local
    cluster of ``workers`` processes for the run (closed at the end). ``writer``: a detached writer, used by
    the workers when they can reach its output.

    Examples
    --------
    >>> import shapely
    >>> from affine import Affine
    >>> from rastercover.grid import Grid
    >>> from rastercover.engine import Extent, plan_blocks
    >>> from rastercover.methods import get_method
    >>> from rastercover.io import MemoryVectorSource
    >>> g = Grid(4, 2, Affine(1, 0, 0, 0, -1, 2), "EPSG:3857", 2)
    >>> far = shapely.box(100, 100, 101, 101)  # no feature near the grid: nothing goes to a cluster
    >>> src = MemoryVectorSource.from_pairs([(far, 1.0)], crs="EPSG:3857")
    >>> job = Job(src, g, (get_method("SUM_OF_AREAS"),), Extent.FULL, np.dtype("float32"), -1.0)
    >>> [(r.block.index, len(r.tiles), done) for r, done in dask_results(job, plan_blocks(g, 4))]
    [(0, 1, False), (1, 1, False)]
    """
    busy = busy_blocks(job, blocks)
    if not busy and writer is None:  # nothing to compute: no cluster needed
        for b in blocks:
            yield empty_block(job, b), False
        return
    require_dask()
    with _client(scheduler, workers, notify) as client:
        folder = None if writer is None else writer.local_path
        if folder is not None and not _workers_see(client, folder):
            writer = None  # workers elsewhere: the tiles come back here and the sink writes them
        # workers get the blocks that have pixels to compute or tiles worth writing there: with extent touched
        # a block without features has no tile at all; with no detached writer, or a writer that stores nothing
        # for empty tiles (a Zarr store: fill value), the client writes (records) empty blocks itself
        empty_remote = (
            writer is not None and job.extent is Extent.FULL and not writer.stores_nothing_for(job.empty_values)
        )
        remote = [b for b in blocks if b.index in busy or empty_remote]
        remote_set = {b.index for b in remote}
        run_id = uuid.uuid4().hex[:12]
        job_f = client.scatter(job, broadcast=True, hash=False)
        futures: list = []

        def submit(b: Block) -> Any:
            key = f"rastercover-block-{b.index}-{run_id}"
            busy_b = b.index in busy
            # busy blocks first: a long block started last would leave the other workers idle at the end
            return client.submit(_task, job_f, block_spec(b), busy_b, writer, key=key, priority=int(busy_b))

        try:
            if writer is not None:
                # the workers write the tiles: results carry no pixels, so every block is in flight at once and
                # results come back as they finish (the sinks only record which tiles are written); the client
                # writes the blocks it keeps meanwhile
                from distributed import as_completed

                futures = []
                # one graph update per priority (not one per task: the scheduler's and client's cost per task
                # dominated with thousands of small blocks); busy blocks first: a long block started last would
                # leave the other workers idle at the end
                for busy_b in (True, False):
                    group = [b for b in remote if (b.index in busy) == busy_b]
                    if group:
                        futures += client.map(
                            _task,
                            [job_f] * len(group),
                            [block_spec(b) for b in group],
                            [busy_b] * len(group),
                            [writer] * len(group),
                            key=[f"rastercover-block-{b.index}-{run_id}" for b in group],
                            priority=int(busy_b),
                        )
                for b in blocks:
                    if b.index not in remote_set:
                        yield empty_block(job, b), False
                by_index = {b.index: b for b in remote}
                for fut in as_completed(futures):
                    index, written = fut.result()
                    fut.release()
                    block = by_index.pop(index)
                    kept = set(written)
                    yield BlockResult(block, None, tuple(t for t in block.tiles if t.index in kept)), True
                return
            for b in blocks:
                if b.index not in remote_set:
                    yield empty_block(job, b), False
            # results carry pixels: handed to the sink in block order, a bounded number in flight
            limit = max(2, IN_FLIGHT_PER_THREAD * max(1, sum(client.nthreads().values())))
            pending: deque = deque()
            for b in remote:
                while len(pending) < limit and len(futures) < len(remote):
                    nxt = remote[len(futures)]
                    fut = submit(nxt)
                    futures.append(fut)
                    pending.append((nxt.index, fut))
                index, fut = pending.popleft()
                assert index == b.index
                res = fut.result()
                fut.release()
                yield res, False
        finally:
            left = [f for f in futures if f.status == "pending"]
            if left:
                client.cancel(left)
            client.cancel([job_f])


def _lazy_chunk(job: Job, block: Block, busy: bool) -> np.ndarray:
    return block_array(job, compute_bounded(job, block) if busy else empty_block(job, block))


def _lattice_blocks(grid: Grid, block_pixels: int) -> Any:
    """Blocks that tile the whole lattice (the chunks of an array must), each holding the grid's own tiles in it:
    a sparse grid's missing tiles are nodata in the array, as every face reads them."""
    if not grid.is_sparse:
        return plan_blocks(grid, block_pixels)
    dense = plan_blocks(grid.with_tiles(None), block_pixels)
    return [
        Block(b.index, b.window, tuple(grid.tile(t.row, t.col) for t in b.tiles if grid.has_tile(t.row, t.col)))
        for b in dense
    ]


def lazy_array(job: Job, block_pixels: int = DEFAULT_BLOCK_PIXELS) -> Any:
    """A dask array (band, y, x) of ``job`` over its grid, one chunk per block, computed on demand; a sparse grid's
    missing tiles are nodata.

    The job is one node of the graph (shipped once per worker); every chunk is one
    :func:`~rastercover.engine.blocks.compute_bounded`.
    Compute it with any dask scheduler (threads, processes, a ``distributed.Client``).

    Examples
    --------
    >>> import shapely
    >>> from affine import Affine
    >>> from rastercover.grid import Grid
    >>> from rastercover.engine import Extent
    >>> from rastercover.methods import get_method
    >>> from rastercover.io import MemoryVectorSource
    >>> g = Grid(4, 2, Affine(1, 0, 0, 0, -1, 2), "EPSG:3857", 2)
    >>> src = MemoryVectorSource.from_pairs([(shapely.box(0, 0, 1.5, 2), 1.0)], crs="EPSG:3857")
    >>> job = Job(src, g, (get_method("SUM_OF_AREAS"),), Extent.FULL, np.dtype("float32"), -1.0)
    >>> arr = lazy_array(job, block_pixels=4)
    >>> arr.chunks
    ((1,), (2,), (2, 2))
    >>> arr.compute(scheduler="sync").tolist()
    [[[1.0, 0.5, 0.0, 0.0], [1.0, 0.5, 0.0, 0.0]]]
    """
    require_dask("a lazy result")
    import dask
    import dask.array as da
    from dask.highlevelgraph import HighLevelGraph

    blocks = _lattice_blocks(job.grid, block_pixels)
    busy = busy_blocks(job, blocks)
    rows = sorted({b.window.row_off: b.window.height for b in blocks}.items())
    cols = sorted({b.window.col_off: b.window.width for b in blocks}.items())
    row_at = {off: i for i, (off, _) in enumerate(rows)}
    col_at = {off: j for j, (off, _) in enumerate(cols)}
    token = uuid.uuid4().hex[:12]
    job_d = dask.delayed(job, name=f"rastercover-job-{token}", traverse=False)
    name = f"rastercover-{token}"
    dsk = {
        (name, 0, row_at[b.window.row_off], col_at[b.window.col_off]): (
            _lazy_chunk,
            job_d.key,
            b,
            b.index in busy,
        )
        for b in blocks
    }
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[job_d])
    chunks = ((len(job.methods),), tuple(h for _, h in rows), tuple(w for _, w in cols))
    return da.Array(graph, name, chunks, dtype=job.dtype, meta=np.empty((0, 0, 0), dtype=job.dtype))
