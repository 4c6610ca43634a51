"""Run a job: plan blocks, compute them here, in local processes or on Dask, hand each block's tiles to the sink.

Results are handed to the sink in block order whatever the executor, so outputs are identical; at most
``2 x workers`` blocks are in flight, so memory does not grow with the number of tiles. A sink whose tiles
are independent files (the tile folder) offers a detached writer, and the workers write their tiles
themselves: the parent only records them. ``executor="dask"`` runs the same blocks on a ``distributed`` cluster
(see :mod:`rastercover.engine.distributed`).

A sink that buffers pixels until they are final (the single GeoTIFF: see
:meth:`~rastercover.io.sink_geotiff.GeoTiffSink.final_rows`) is told, before each block, the pixel row above
which no later block writes.

Local workers die with the parent, even killed with ``kill -9``, and every way out of a run but its end (an
error, an interruption, ``SIGTERM``) cancels the blocks in flight and terminates the workers at once (see
:mod:`rastercover.engine.workers`).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from ..errors import InputError
from ..protocols import RasterSink
from .blocks import busy_blocks, compute_and_write, compute_bounded, empty_block
from .compute import BlockResult, Job
from .executors import check_executor
from .plan import DEFAULT_BLOCK_PIXELS, Block, BlockPlan, plan_blocks
from .workers import init_worker_process, stop_pool

__all__ = ["run"]

_WORKER_JOB: Job | None = None


def _init_worker(job: Job, parent_pid: int) -> None:
    global _WORKER_JOB
    init_worker_process(parent_pid)
    _WORKER_JOB = job


def _compute_in_worker(block: Block) -> BlockResult:
    return compute_bounded(_WORKER_JOB, block)


def _compute_and_write(block: Block, busy: bool, writer) -> BlockResult:
    """In a worker: compute a block and write its tiles with a detached writer; return it without data."""
    return compute_and_write(_WORKER_JOB, block, busy, writer)


def _results(job: Job, blocks: list[Block], workers: int, writer=None) -> Iterator[tuple[BlockResult, bool]]:
    """Computed blocks in block order, with a flag saying whether their tiles are written already."""
    busy = busy_blocks(job, blocks)
    if workers <= 1 or (len(busy) <= 1 and writer is None):
        for b in blocks:
            yield (compute_bounded(job, b) if b.index in busy else empty_block(job, b)), False
        return
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    # with a detached writer every block goes to the workers (empty tiles are files to write too)
    remote = blocks if writer is not None else [b for b in blocks if b.index in busy]
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(job, os.getpid())
    )
    complete = False
    try:
        pending: deque = deque()
        todo = iter(remote)
        remote_set = {b.index for b in remote}

        def submit(b: Block):
            if writer is not None:
                return pool.submit(_compute_and_write, b, b.index in busy, writer)
            return pool.submit(_compute_in_worker, b)

        for b in blocks:
            while len(pending) < 2 * workers:
                nxt = next(todo, None)
                if nxt is None:
                    break
                pending.append((nxt.index, submit(nxt)))
            if b.index not in remote_set:
                yield empty_block(job, b), False
                continue
            index, future = pending.popleft()
            assert index == b.index
            yield future.result(), writer is not None
        complete = True
    finally:
        # any other way out (an error, an interruption, the consumer closing us): cancel, terminate, do not wait
        if complete:
            pool.shutdown(wait=True)
        else:
            stop_pool(pool)


class _FinalRows:
    """The pixel row above which no block still to come writes: the smallest top row of the blocks not handed to
    the sink yet, whatever order they come in (Dask hands the empty blocks over first).

    Examples
    --------
    >>> from affine import Affine
    >>> from rastercover.grid import Grid
    >>> blocks = plan_blocks(Grid(300, 300, Affine(1, 0, 0, 0, -1, 300), None, 100), 10_000)  # 3 rows of 3 tiles
    >>> rows = _FinalRows(blocks)
    >>> [rows.before(b) for b in (blocks[0], blocks[3], blocks[1], blocks[2], blocks[8], blocks[4], blocks[5])]
    [0, 0, 0, 0, 100, 100, 100]
    >>> [rows.before(b) for b in (blocks[6], blocks[7])]
    [200, 200]
    """

    def __init__(self, blocks: BlockPlan | list[Block]) -> None:
        if isinstance(blocks, BlockPlan):
            tops = blocks.windows()[:, 1]
            self._top = lambda b: int(tops[b.index])
        else:
            tops = np.array([b.window.row_off for b in blocks], dtype=np.int64)
            by_index = {b.index: b.window.row_off for b in blocks}
            self._top = lambda b: by_index[b.index]
        self._rows, self._left = np.unique(tops, return_counts=True)
        self._at = 0

    def before(self, block: Block) -> int:
        """The final row while ``block`` is handed over (it counts as still to come); then count it as handed."""
        row = int(self._rows[self._at])
        i = int(np.searchsorted(self._rows, self._top(block)))
        self._left[i] -= 1
        while self._at < len(self._rows) - 1 and self._left[self._at] == 0:
            self._at += 1
        return row


def band_descriptions(methods: Sequence, classes: Sequence[dict | None] | None = None) -> list[dict]:
    """What describes each band of a run: its method's name and description, and its class names if any.

    Examples
    --------
    >>> from rastercover.methods import get_method
    >>> band_descriptions([get_method("COUNT_OF_POLYGONS")])[0]["metadata"]["METHOD"]
    'COUNT_OF_POLYGONS'
    """
    out = []
    for i, m in enumerate(methods):
        metadata = {"METHOD": m.name}
        if m.description:
            metadata["DESCRIPTION"] = m.description
        out.append({"metadata": metadata, "classes": (classes[i] if classes else None) or None})
    return out


def run(
    job: Job,
    sink: RasterSink,
    *,
    workers: int = 1,
    executor: str = "local",
    scheduler: Any = None,
    block_pixels: int = DEFAULT_BLOCK_PIXELS,
    progress: Callable[[int], None] | None = None,
    notify: Callable[[str], None] | None = None,
    classes: Sequence[dict | None] | None = None,
) -> tuple[object, int]:
    """Compute ``job`` over its grid and write it to ``sink``; return ``(sink result, tiles written)``.

    ``executor="local"`` computes here (``workers=1``) or in ``workers`` local processes; ``executor="dask"``
    on the Dask cluster at ``scheduler`` (an address or a ``distributed.Client``), or on a local cluster of
    ``workers`` processes started for the run. ``notify`` receives one-line messages (the dashboard link).
    A sink that can describe its bands (the optional ``describe_bands``: :class:`~rastercover.protocols.RasterSink`)
    gets each method's name and description, and ``classes[i]`` (value -> class name) for band ``i``.
    On any error (or interruption) the sink is aborted: nothing is left under the output's final name.
    """
    if workers < 1:
        raise InputError(f"workers must be at least 1, got {workers}")
    executor = check_executor(executor, scheduler)
    blocks = plan_blocks(job.grid, block_pixels)
    names = [m.name for m in job.methods]
    empty = job.empty_values
    written = 0
    results: Iterator[tuple[BlockResult, bool]] | None = None
    try:
        sink.open(job.grid, names, job.dtype, job.nodata)
        describe_bands = getattr(sink, "describe_bands", None)
        if describe_bands is not None:
            describe_bands(band_descriptions(job.methods, classes))
    except BaseException:  # half-created (a disk full while writing its metadata): cleaned as any failed run
        sink.abort()
        raise
    try:
        # a resumed output: skip the blocks whose tiles are all written already, drop written tiles of the rest
        finished = sink.done_tiles()
        if finished:
            todo = [b for b in blocks if not all(t.index in finished for t in b.tiles)]
            if progress is not None:
                progress(sum(len(b.tiles) for b in blocks) - sum(len(b.tiles) for b in todo))
            blocks = todo
        writer = sink.detached_writer() if (workers > 1 or executor == "dask") else None
        final_rows = getattr(sink, "final_rows", None)
        rows = _FinalRows(blocks) if final_rows is not None and len(blocks) else None
        if executor == "dask":
            from .distributed import dask_results

            results = dask_results(job, blocks, workers=workers, scheduler=scheduler, writer=writer, notify=notify)
        else:
            results = _results(job, blocks, workers, writer)
        for res, done in results:
            if rows is not None:
                final_rows(rows.before(res.block))
            if finished and res.tiles:
                res = BlockResult(res.block, res.data, tuple(t for t in res.tiles if t.index not in finished))
            if res.tiles:
                if done:
                    sink.record(res.tiles)
                elif res.data is None:
                    sink.write_constant(res.tiles, empty)
                else:
                    sink.write(res.block.window, res.data, res.tiles)
                written += len(res.tiles)
            if progress is not None:
                progress(len(res.block.tiles))
        out = sink.close()
    except BaseException:
        try:
            if results is not None:  # stop the workers now, not when the traceback lets the generator go
                results.close()
        finally:
            sink.abort()
        raise
    return out, written
