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

A block is computed in parts when it holds many features or pixels (:func:`compute_bounded`): its features are
read once, and parts of whole tiles, each holding at most :data:`MAX_BLOCK_WORK` of work per kind of
contribution and :data:`MAX_PART_PIXELS` pixels, are computed one after the other from them, so the memory a
block needs does not grow with how many features crowd into it. The bits are the same: a pixel's value does not
depend on the window it is computed in.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import shapely

from ..features import Features, vertex_bounds
from ..grid import Grid, TileSet, Window
from .compute import BlockResult, Job, _padded, compute_block
from .plan import DEFAULT_BLOCK_PIXELS, Block, BlockPlan, Extent

__all__ = [
    "MAX_BLOCK_WORK",
    "MAX_PART_PIXELS",
    "block_parts",
    "busy_blocks",
    "compute_and_write",
    "compute_bounded",
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
#: The most work computed in one piece per kind of contribution the methods need (:func:`compute_bounded`): work
#: is the pixels of the features' envelopes within the piece plus their vertices, what the kernels' arrays grow
#: with, and each kind (centre hits, areas, merged areas ...) keeps its own arrays while the piece is reduced. A
#: block of the default size (2^19 px) that polygons cover once holds about 2^20 of work; at scale 16 of the
#: benchmark workload the densest block (6125 polygons) 1.8 million. Pieces of 2^16 hold the exact-area kernel's
#: arrays to ~12 MB whatever the density (2^18: 33 MB at scale 16 against 16 MB at scale 1), and cost no time:
#: at scale 16, SUM_OF_AREAS over every block took 1.5-1.7 s in pieces of 2^16, 1.9 s in pieces of 2^18, and all
#: 15 ST_ExtractToRaster methods 5.7-6.0 s either way (their arrays stay in the CPU's caches).
MAX_BLOCK_WORK = 1 << 16
#: The most pixels computed in one piece (:func:`compute_bounded`): the reductions allocate a few arrays of a
#: piece's pixels per method (sums, counts, the result in float64), 19 MB for a block of the default size.
MAX_PART_PIXELS = 1 << 18


def compute_and_write(job: Job, block: Block, busy: bool, writer) -> BlockResult:
    """Compute ``block`` (or take it as empty) and write its tiles with ``writer``; return it without data."""
    res = compute_bounded(job, block) if busy else _empty(job, block)
    if res.tiles:
        if res.data is None:
            writer.write_constant(res.tiles, job.empty_values)
        else:
            writer.write(block.window, res.data, res.tiles)
    return BlockResult(block, None, res.tiles)


class _ReadOnce:
    """A source standing in for ``source`` while a block is computed in parts: the block's features, read once, and
    for a part the ones whose box (of all their vertices, as every source selects) meets the part's bounds.

    A part's own read would return these and perhaps a few more (a GeoPackage's R-tree rounds boxes outwards),
    which meet neither the part's pixels nor its tiles, and so change nothing.
    """

    def __init__(self, source: Any, bounds: tuple[float, float, float, float], feats: Features) -> None:
        self._source, self._bounds, self._feats = source, bounds, feats
        self.boxes = vertex_bounds(feats.geometry)

    def __getattr__(self, name: str) -> Any:  # describe(), crs, value ...: the source's own
        if name.startswith("__") or name == "_source":  # copies and pickles see no source to ask
            raise AttributeError(name)
        return getattr(self._source, name)

    def read(self, bbox: tuple[float, float, float, float] | None) -> Features:
        if bbox is None or tuple(bbox) == self._bounds:
            return self._feats
        x0, y0, x1, y1 = bbox
        b = self.boxes
        with np.errstate(invalid="ignore"):  # an empty geometry's box is NaN: it meets nothing
            near = (b[:, 0] <= x1) & (b[:, 2] >= x0) & (b[:, 1] <= y1) & (b[:, 3] >= y0)
        return self._feats.take(np.flatnonzero(near))


def block_parts(
    grid: Grid,
    block: Block,
    feats: Features,
    max_work: int,
    max_pixels: int = MAX_PART_PIXELS,
    boxes: np.ndarray | None = None,
) -> list[Block]:
    """``block`` cut into parts of whole tiles, each with at most ``max_work`` of work from ``feats`` (the block's
    features; ``boxes``: their :func:`~rastercover.features.vertex_bounds` when known) and ``max_pixels`` pixels,
    or a single tile; ``[block]`` when the block holds no more than that.

    The work of a rectangle of pixels is the area of the features' envelopes (of all their vertices) within it, in
    pixels, plus the vertices of the features that meet it; a line counts the pixels its segments can cross
    instead of its envelope's area, a point nothing but its vertices (:func:`_linear_work`). A block over the limit
    is halved across its longer side (at a tile boundary), and each half in turn. A part holds the block's tiles
    within it (in the block's order) and, as its window, their smallest rectangle; parts without a tile are left
    out. Every tile of the block is in exactly one part.

    Examples
    --------
    >>> from affine import Affine
    >>> g = Grid(400, 200, Affine(1, 0, 0, 0, -1, 200), "EPSG:3857", 100)
    >>> block = BlockPlan(g)[0]                                              # the whole grid: 2 x 4 tiles
    >>> feats = Features.from_arrays([shapely.box(0, 0, 400, 200)], [1.0])   # 80 000 px of work, and 5 vertices
    >>> [p.window for p in block_parts(g, block, feats, 100_000)] == [block.window]
    True
    >>> [(p.window.col_off, p.window.width, len(p.tiles)) for p in block_parts(g, block, feats, 50_000)]
    [(0, 200, 4), (200, 200, 4)]
    >>> len(block_parts(g, block, feats, 100_000, max_pixels=20_000))   # at most 2 tiles of 100 x 100 each
    4
    """
    if len(block.tiles) < 2 or len(feats) == 0:
        return [block]
    boxes = vertex_bounds(feats.geometry) if boxes is None else boxes
    cols, rows = grid.to_pixel(boxes[:, [0, 2, 2, 0]].ravel(), boxes[:, [1, 1, 3, 3]].ravel())
    cols, rows = cols.reshape(-1, 4), rows.reshape(-1, 4)
    with np.errstate(invalid="ignore"):
        px = np.column_stack([cols.min(axis=1), rows.min(axis=1), cols.max(axis=1), rows.max(axis=1)])
    vertices = shapely.get_num_coordinates(feats.geometry).astype(np.float64)
    linear = _linear_work(grid, feats.geometry)  # NaN: not a line or a point

    def work(w: Window) -> float:
        with np.errstate(invalid="ignore"):  # NaN boxes (empty geometries) meet nothing
            dx = np.minimum(px[:, 2], w.col_off + w.width) - np.maximum(px[:, 0], w.col_off)
            dy = np.minimum(px[:, 3], w.row_off + w.height) - np.maximum(px[:, 1], w.row_off)
            meets = (dx >= 0) & (dy >= 0)
        area = np.where(np.isnan(linear), dx * dy, linear)
        return float(np.sum(area[meets]) + np.sum(vertices[meets]))

    th, tw = grid.tile_height, grid.tile_width
    win = block.window
    todo = [(win.row_off // th, -(-(win.row_off + win.height) // th), win.col_off // tw,
             -(-(win.col_off + win.width) // tw))]  # fmt: skip
    rects: list[tuple[int, int, int, int]] = []
    while todo:
        r0, r1, c0, c1 = todo.pop()
        w = grid.window_of_tiles(r0, r1, c0, c1)
        if (r1 - r0) * (c1 - c0) < 2 or (w.width * w.height <= max_pixels and work(w) <= max_work):
            rects.append((r0, r1, c0, c1))
        elif r1 - r0 < 2 or (c1 - c0 > 1 and w.width >= w.height):
            mid = (c0 + c1) // 2
            todo += [(r0, r1, mid, c1), (r0, r1, c0, mid)]  # the left half is taken first
        else:
            mid = (r0 + r1) // 2
            todo += [(mid, r1, c0, c1), (r0, mid, c0, c1)]
    if len(rects) == 1:
        return [block]
    parts = []
    for r0, r1, c0, c1 in rects:
        tiles = tuple(t for t in block.tiles if r0 <= t.row < r1 and c0 <= t.col < c1)
        if tiles:
            rr, cc = [t.row for t in tiles], [t.col for t in tiles]
            parts.append(Block(block.index, grid.window_of_tiles(min(rr), max(rr) + 1, min(cc), max(cc) + 1), tiles))
    return parts


def _linear_work(grid: Grid, geoms: np.ndarray) -> np.ndarray:
    """Per feature, the work of a line or a point instead of its envelope's area: the pixels its segments can cross
    (the sum of their lengths along columns and rows, in pixels; the vertices are counted apart), 0 for points;
    NaN for the others (polygons, collections), whose work is their envelope's area.

    A line's contributions are one per pixel crossed, at most that many: a long winding stream has an envelope
    of hundreds of thousands of pixels and crosses a few thousand.
    """
    out = np.full(len(geoms), np.nan)
    kind = shapely.get_type_id(geoms)
    out[(kind == 0) | (kind == 4)] = 0.0  # (multi)points: their vertices
    lines = np.flatnonzero((kind == 1) | (kind == 2) | (kind == 5))
    if len(lines):
        parts, feature = shapely.get_parts(geoms[lines], return_index=True)
        xy, part = shapely.get_coordinates(parts, return_index=True)
        cols, rows = grid.to_pixel(xy[:, 0], xy[:, 1])
        step = np.abs(np.diff(cols)) + np.abs(np.diff(rows))
        same = part[1:] == part[:-1]  # no step from one part to the next
        out[lines] = np.bincount(feature[part[1:][same]], weights=step[same], minlength=len(lines))
    return out


def compute_bounded(
    job: Job, block: Block, max_work: int | None = None, max_pixels: int = MAX_PART_PIXELS
) -> BlockResult:
    """:func:`~rastercover.engine.compute.compute_block`, in parts when the block holds many features or pixels.

    The block's features are read once; when they hold more than ``max_work`` of work (by default
    :data:`MAX_BLOCK_WORK` divided by the number of kinds of contribution the methods need), or the block more
    than ``max_pixels`` pixels (:func:`block_parts`), the parts are computed one after the other from them and
    their pixels put together: the same result, bit for bit, with the memory of a part. A block without features
    is not cut; a regridding's block is computed as it is.
    """
    if getattr(job.source, "regrids", False) or len(block.tiles) < 2:
        return compute_block(job, block)
    if max_work is None:
        max_work = MAX_BLOCK_WORK // max(1, len({m.kind for m in job.methods}))
    bounds = _padded(job.grid.window_bounds(block.window))
    source = _ReadOnce(job.source, bounds, job.source.read(bounds))
    local = replace(job, source=source)
    parts = block_parts(job.grid, block, source.read(bounds), max_work, max_pixels, source.boxes)
    if len(parts) == 1:
        return compute_block(local, block)
    win = block.window
    data: np.ndarray | None = None
    empty: list[Window] = []  # parts without data, filled once some part has some
    touched: set[tuple[int, int]] = set()
    sparse = sum(p.window.width * p.window.height for p in parts) < win.width * win.height
    for part in parts:
        res = compute_block(local, part)
        touched.update(t.index for t in res.tiles)
        if res.data is None:
            empty.append(part.window.relative_to(win))
            continue
        if data is None:
            data = np.empty((len(job.methods), win.height, win.width), dtype=job.dtype)
            if sparse:  # a sparse grid's block: pixels outside its tiles (never written) hold the empty values
                _fill(data, [Window(0, 0, win.width, win.height)], job.empty_values)
        data[(slice(None), *part.window.relative_to(win).slices)] = res.data
        del res  # before the next part is computed
    if data is None:
        return _empty(job, block)
    _fill(data, empty, job.empty_values)
    tiles = block.tiles if job.extent is Extent.FULL else tuple(t for t in block.tiles if t.index in touched)
    return BlockResult(block, data, tiles)


def _fill(data: np.ndarray, windows: list[Window], values: tuple[float, ...]) -> None:
    """Set band ``i`` of ``data`` to ``values[i]`` over each window (relative to ``data``)."""
    for w in windows:
        for i, v in enumerate(values):
            data[(i, *w.slices)] = v


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
