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

With ``extent="touched"`` a plan first narrows the job's grid to the tiles the features' envelopes reach
(:func:`narrow_to_reached`): blocks are then made over those tiles only, so planning and running cost time and
memory in proportion to the tiles the features touch, not to the grid.

>>> src = MemoryVectorSource.from_pairs([(shapely.Point(3.5, 0.5), 1.0)], crs="EPSG:3857")
>>> narrowed = narrow_to_reached(Job(src, g, (get_method("COUNT_OF_POINTS"),), Extent.TOUCHED, np.dtype("int32"), 0))
>>> narrowed.grid.n_tiles, [t.index for t in narrowed.grid.tiles()]
(1, [(0, 1)])
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..features import vertex_bounds
from ..grid import TileSet, Window
from .compute import BlockResult, Job, _padded, compute_block
from .plan import DEFAULT_BLOCK_PIXELS, Block, BlockPlan, Extent

__all__ = [
    "busy_blocks",
    "compute_and_write",
    "empty_block",
    "narrow_to_reached",
    "reached_tiles",
    "worth_narrowing",
]

#: Reads of the source at most when planning ``extent="touched"`` (one per chunk of whole tiles; a chunk holds
#: at least :data:`READ_CHUNK_BLOCKS` blocks): the features of one chunk are in memory at a time.
PLAN_READS = 64
#: Blocks of the default size per chunk read when planning ``extent="touched"``, at least.
READ_CHUNK_BLOCKS = 64
#: A plan narrows a touched job (:func:`worth_narrowing`) when more of its blocks than this may hold features
#: (they meet the source's bounds): below it, the blocks' own reads cost less than reading every envelope first.
NARROW_BUSY = 256
#: ... or when its grid has more blocks than this in all (each empty block still costs its tiles' objects).
NARROW_BLOCKS = 65536
#: Pixels by which a feature's envelope is grown when finding the tiles it reaches: far above the rounding of
#: map to pixel coordinates on any grid (under 1e-6 px), so the tiles found hold every tile the exact test takes.
REACH_PAD = 1e-3


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


def busy_blocks(job: Job, blocks: BlockPlan | list[Block]) -> set[int]:
    """Indices of the blocks that may hold a feature (the others are empty without reading anything).

    A :class:`~rastercover.engine.plan.BlockPlan` is answered in one vectorised pass over its windows, without
    making its blocks; a list of blocks one block at a time (the same arithmetic, the same answer).
    """
    bounds = job.source.bounds
    if isinstance(blocks, BlockPlan):
        if bounds is None:
            return set(range(len(blocks)))
        if len(blocks) == 0:
            return set()
        boxes = _padded_boxes(job.grid, blocks.windows())
        hit = (
            (boxes[:, 0] <= bounds[2])
            & (bounds[0] <= boxes[:, 2])
            & (boxes[:, 1] <= bounds[3])
            & (bounds[1] <= boxes[:, 3])
        )
        return set(np.flatnonzero(hit).tolist())
    # padded like the blocks' own reads: a feature exactly touching a block (as rounded one way or another) is read
    return {b.index for b in blocks if bounds is None or _overlaps(_padded(job.grid.window_bounds(b.window)), bounds)}


def _padded_boxes(grid, windows: np.ndarray) -> np.ndarray:
    """:func:`_padded` map bounds of windows ``(col_off, row_off, width, height)`` (n, 4), vectorised with the
    arithmetic of ``Grid.window_bounds`` (the same bits)."""
    c0, r0 = windows[:, 0].astype(float), windows[:, 1].astype(float)
    c1, r1 = c0 + windows[:, 2], r0 + windows[:, 3]
    cols = np.column_stack([c0, c1, c1, c0])
    rows = np.column_stack([r0, r0, r1, r1])
    x, y = grid.to_map(cols, rows)
    x0, y0, x1, y1 = x.min(axis=1), y.min(axis=1), x.max(axis=1), y.max(axis=1)
    pad = 1e-9 * (1.0 + np.maximum.reduce([np.abs(x0), np.abs(y0), np.abs(x1), np.abs(y1)]))
    return np.column_stack([x0 - pad, y0 - pad, x1 + pad, y1 + pad])


def reached_tiles(job: Job, *, reads: int = PLAN_READS) -> np.ndarray:
    """The tiles of the job's layout that a feature's envelope reaches: a boolean mask of the tile layout.

    A superset of the tiles ``extent="touched"`` keeps (a tile sharing only an edge with an envelope, or
    reached by the envelope but not by the feature, is in; the exact test comes when the block is computed).
    The source is read by chunks of whole tiles (at most ``reads`` of them, each of at least
    :data:`READ_CHUNK_BLOCKS` blocks of the default size), skipping chunks away from its bounds, so the
    features of one chunk are in memory at a time; only their envelopes are kept, as tile ranges.
    """
    grid = job.grid
    n_rows, n_cols = grid.tile_layout
    mask = np.zeros((n_rows, n_cols), dtype=bool)
    bounds = job.source.bounds
    if bounds is not None and not all(np.isfinite(bounds)):
        bounds = None
    chunk_pixels = max(READ_CHUNK_BLOCKS * DEFAULT_BLOCK_PIXELS, -(-grid.width * grid.height // max(1, reads)))
    chunks = BlockPlan(grid, chunk_pixels)
    if len(chunks) == 0:
        return mask
    windows = chunks.windows()
    boxes = _padded_boxes(grid, windows)
    for (c0, r0, w, h), box in zip(windows.tolist(), boxes.tolist(), strict=True):
        if bounds is not None and not _overlaps(tuple(box), bounds):
            continue
        feats = job.source.read(tuple(box))
        if len(feats) == 0:
            continue
        ranges = grid.tile_ranges_of_boxes(vertex_bounds(feats.geometry), pad=REACH_PAD)
        tr0, tr1, tc0, tc1 = grid.tile_range(Window(c0, r0, w, h))
        _mark(mask, ranges, (tr0, tr1, tc0, tc1))
    return mask


def _mark(mask: np.ndarray, ranges: np.ndarray, within: tuple[int, int, int, int]) -> None:
    """Set ``mask`` over each tile range ``(row0, row1, col0, col1)``, clipped to the rectangle ``within``
    (vectorised: a 2-D difference array over the rectangle, summed)."""
    wr0, wr1, wc0, wc1 = within
    r0, c0 = np.maximum(ranges[:, 0], wr0), np.maximum(ranges[:, 2], wc0)
    r1, c1 = np.minimum(ranges[:, 1], wr1), np.minimum(ranges[:, 3], wc1)
    keep = (r1 > r0) & (c1 > c0)
    if not keep.any():
        return
    r0, r1, c0, c1 = r0[keep] - wr0, r1[keep] - wr0, c0[keep] - wc0, c1[keep] - wc0
    diff = np.zeros((wr1 - wr0 + 1, wc1 - wc0 + 1), dtype=np.int64)
    np.add.at(diff, (r0, c0), 1)
    np.add.at(diff, (r0, c1), -1)
    np.add.at(diff, (r1, c0), -1)
    np.add.at(diff, (r1, c1), 1)
    covered = diff.cumsum(axis=0).cumsum(axis=1)[:-1, :-1] > 0
    mask[wr0:wr1, wc0:wc1] |= covered


def worth_narrowing(job: Job, block_pixels: int = DEFAULT_BLOCK_PIXELS) -> bool:
    """Whether narrowing a touched job to the tiles its features reach (:func:`narrow_to_reached`) pays: when more
    than :data:`NARROW_BUSY` of its blocks meet the source's bounds, or its grid has more than
    :data:`NARROW_BLOCKS` blocks. Below both, every block reading its own features costs less than reading every
    envelope first (one more read of the whole source, which on a dense layer costs as much as a block's work).

    Examples
    --------
    >>> import shapely
    >>> from affine import Affine
    >>> from rastercover.grid import Grid
    >>> from rastercover.io import MemoryVectorSource
    >>> from rastercover.methods import get_method
    >>> g = Grid(70711, 70711, Affine(1, 0, 0, 0, -1, 70711), "EPSG:3857")
    >>> src = MemoryVectorSource.from_pairs([(shapely.Point(5, 5), 1.0), (shapely.Point(7e4, 7e4), 1.0)], "EPSG:3857")
    >>> job = Job(src, g, (get_method("COUNT_OF_POINTS"),), Extent.TOUCHED, np.dtype("int32"), 0)
    >>> worth_narrowing(job), worth_narrowing(replace(job, grid=Grid(2000, 2000, g.transform, g.crs)))
    (True, False)
    """
    if job.extent is not Extent.TOUCHED:
        return False
    blocks = BlockPlan(job.grid, block_pixels)
    return len(blocks) > NARROW_BLOCKS or len(busy_blocks(job, blocks)) > NARROW_BUSY


def narrow_to_reached(job: Job) -> Job:
    """``job`` with its grid holding only the tiles the features' envelopes reach (:func:`reached_tiles`) among
    those it has: what a plan with ``extent="touched"`` runs, giving the same tiles and the same bits.

    The blocks are then made over those tiles only, and the progress total counts them. Stored tile origins of a
    sparse reference are kept. When no envelope reaches any tile, one tile is kept (a grid has at least one):
    nothing touches it, so nothing is written, as before.
    """
    if job.extent is not Extent.TOUCHED:
        return job
    grid = job.grid
    mask = reached_tiles(job)
    present = grid.present
    origins = {}
    if present is not None:
        mask &= present.mask
        origins = {index: xy for index, xy in present.origins if mask[index]}
    if not mask.any():
        first = divmod(int(np.argmax(present.mask)), mask.shape[1]) if present is not None else (0, 0)
        mask[first] = True
        if present is not None and present.origin(first) is not None:
            origins[first] = present.origin(first)
    return replace(job, grid=grid.with_tiles(TileSet(grid.tile_layout, mask, origins)))


def empty_block(job: Job, block: Block) -> BlockResult:
    """``block`` as it is without any feature: no data, its tiles (all with extent full, none with touched)."""
    return _empty(job, block)


def _empty(job: Job, block: Block) -> BlockResult:
    return BlockResult(block, None, block.tiles if job.extent is Extent.FULL else ())
