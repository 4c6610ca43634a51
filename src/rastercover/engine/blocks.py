"""What is done with one block wherever it runs (here, a local process, a Dask worker): which blocks may hold
features, the empty result of one that holds none, and computing a block then writing it with a detached writer.

Examples
--------
>>> import numpy as np, shapely
>>> from affine import Affine
>>> from rastercover.grid import Grid
>>> from rastercover.io import MemoryVectorSource
>>> from rastercover.methods import get_method
>>> from rastercover.engine import Extent, Job, plan_blocks
>>> g = Grid(4, 2, Affine(1, 0, 0, 0, -1, 2), "EPSG:3857", 2)
>>> src = MemoryVectorSource.from_pairs([(shapely.box(0, 0, 1, 1), 1.0)], crs="EPSG:3857")
>>> job = Job(src, g, (get_method("SUM_OF_AREAS"),), Extent.FULL, np.dtype("float32"), -9999.0)
>>> sorted(busy_blocks(job, plan_blocks(g, 4)))
[0]
"""

from __future__ import annotations

from .compute import BlockResult, Job, _padded, compute_block
from .plan import Block, Extent

__all__ = ["busy_blocks", "compute_and_write", "empty_block"]


def compute_and_write(job: Job, block: Block, busy: bool, writer) -> BlockResult:
    """Compute ``block`` (or take it as empty) and write its tiles with ``writer``; return it without data."""
    res = compute_block(job, block) if busy else _empty(job, block)
    if res.tiles:
        if res.data is None:
            writer.write_constant(res.tiles, job.empty_values)
        else:
            writer.write(block.window, res.data, res.tiles)
    return BlockResult(block, None, res.tiles)


def _overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def busy_blocks(job: Job, blocks: list[Block]) -> set[int]:
    """Indices of the blocks that may hold a feature (the others are empty without reading anything)."""
    bounds = job.source.bounds
    # padded like the blocks' own reads: a feature exactly touching a block (as rounded one way or another) is read
    return {b.index for b in blocks if bounds is None or _overlaps(_padded(job.grid.window_bounds(b.window)), bounds)}


def empty_block(job: Job, block: Block) -> BlockResult:
    """``block`` as it is without any feature: no data, its tiles (all with extent full, none with touched)."""
    return _empty(job, block)


def _empty(job: Job, block: Block) -> BlockResult:
    return BlockResult(block, None, block.tiles if job.extent is Extent.FULL else ())
