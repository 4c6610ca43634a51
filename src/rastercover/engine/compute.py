"""Compute one block of tiles: read its features, move them to pixel space, compute contributions, reduce.

Everything here is a plain function of picklable inputs so that it runs the same in this process, in a
local process pool, or on a Dask worker (:mod:`rastercover.engine.distributed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from ..errors import GeometryError, ValueRangeError
from ..features import Features
from ..grid import Grid, Tile
from ..methods import EMPTY_NODATA, Method
from ..options import Option
from .contributions import Contributions
from .plan import Block, Extent
from .postgis import check_postgis_method, postgis_band, postgis_tile, tile_hull

__all__ = ["BlockResult", "InvalidPolicy", "Job", "Semantics", "compute_block", "to_band"]


class InvalidPolicy(Option):
    """What to do with an invalid (self-intersecting, badly nested ...) polygon."""

    FIX = "fix"
    """Repair it with ``shapely.make_valid`` (structure method) and use the repaired shape."""
    ERROR = "error"
    """Stop with an error naming the feature."""


class Semantics(Option):
    """Which definition of the methods to compute (spec sections 2 and 4)."""

    EXACT = "exact"
    """What the method names promise, with conservation laws (the default)."""
    POSTGIS = "postgis"
    """``ST_ExtractToRaster``'s results, quirks included, for pipelines migrating out of PostGIS."""


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to compute blocks (sent once per worker)."""

    source: Any
    grid: Grid
    methods: tuple[Method, ...]
    extent: Extent
    dtype: np.dtype
    nodata: float
    invalid: InvalidPolicy = InvalidPolicy.FIX
    semantics: Semantics = Semantics.EXACT

    def __post_init__(self) -> None:
        if self.semantics is Semantics.POSTGIS:
            for m in self.methods:
                check_postgis_method(m.name)

    @property
    def empty_values(self) -> tuple[float, ...]:
        """Per band, the value of a pixel without contribution, in the output dtype."""
        if self.semantics is Semantics.POSTGIS:  # the per-raster early exit
            return tuple(
                postgis_band(np.array([0.0 if m.empty == 0 else np.nan]), self.dtype, self.nodata)[0].item()
                for m in self.methods
            )
        return tuple(to_band(np.array([np.nan]), m, self.dtype, self.nodata)[0].item() for m in self.methods)


@dataclass
class BlockResult:
    """A computed block: ``data`` (bands, rows, cols) or None when empty, and the tiles to write."""

    block: Block
    data: np.ndarray | None
    tiles: tuple[Tile, ...]


def to_band(
    result: np.ndarray, method: Method, dtype: np.dtype, nodata: float, out: np.ndarray | None = None
) -> np.ndarray:
    """Cast float64 results (NaN: no result) to the band dtype, with the method's empty value and nodata.

    Integer bands round to the nearest integer; a result outside the dtype's range is an error. With ``out`` (an
    array of ``dtype`` holding as many values as ``result``, in row-major order; a view into a larger array will
    do), the band is written there and ``out`` returned.

    Examples
    --------
    >>> from rastercover.methods import get_method
    >>> to_band(np.array([0.5, np.nan]), get_method("MIN_AREA"), np.dtype("float32"), -9999.0).tolist()
    [0.5, -9999.0]
    """
    empty = nodata if method.empty is EMPTY_NODATA else method.empty
    if out is None:
        out = np.empty(result.shape, dtype=dtype)
    elif out.shape != result.shape:
        result = result.reshape(out.shape)
    if dtype.kind == "f":
        _to_float_band(result, method, dtype, nodata, empty, out)
        return out
    res = np.where(np.isnan(result), empty, result)
    res = np.rint(res)
    info = np.iinfo(dtype)
    bad = (res < info.min) | (res > info.max)
    if bad.any():
        _out_of_range(method, dtype, res[bad][0])
    out[...] = res
    if method.empty is EMPTY_NODATA and not np.isnan(nodata):
        _check_clash(method, nodata, ~np.isnan(result) & (out == np.asarray(nodata).astype(dtype)))
    return out


def _to_float_band(
    result: np.ndarray, method: Method, dtype: np.dtype, nodata: float, empty: float, out: np.ndarray
) -> None:
    """:func:`to_band` into a float band: the same bits as ``np.where(np.isnan(result), empty, result).astype(dtype)``
    in four passes over the band instead of nine (15 bands of a block: 0.03 s of 0.1 s)."""
    with np.errstate(over="ignore", invalid="ignore"):
        np.copyto(out, result, casting="same_kind")  # NaN stays NaN (no result); the cast rounds as astype does
    # a finite result too large for the float type would silently become infinite (or the largest finite value):
    # find such results on the cast band (NaN ignored), then name one from the results
    big = float(np.finfo(dtype).max)
    if out.size and (np.fmax.reduce(out, axis=None) >= big or np.fmin.reduce(out, axis=None) <= -big):
        bad = np.isfinite(result) & (np.abs(result) > big)
        if bad.any():
            _out_of_range(method, dtype, result[bad][0])
    if method.empty is EMPTY_NODATA and not np.isnan(nodata):
        # before NaN is replaced: a cast result equal to nodata is never NaN, so this is the results' clash
        _check_clash(method, nodata, out == np.asarray(nodata).astype(dtype))
    missing = np.isnan(out)
    if missing.any():
        np.copyto(out, np.asarray(empty, dtype=np.float64).astype(dtype), where=missing)


def _out_of_range(method: Method, dtype: np.dtype, v: float) -> None:
    raise ValueRangeError(
        f"{method.name} gives {v:g}, which does not fit the {dtype.name} band; choose a wider --dtype"
        + (" (float64)" if dtype.kind == "f" else "")
    )


def _check_clash(method: Method, nodata: float, clash: np.ndarray) -> None:
    """A result stored as the nodata value would read as "no result": a wrong pixel that looks right."""
    if clash.any():
        raise ValueRangeError(
            f"{method.name} gives {nodata:g} in {int(clash.sum())} pixel(s), which is the band's nodata value: "
            "they would read as no result; choose another --nodata / nodata="
        )


def _check_finite_values(feats: Features, source: Any) -> None:
    """Refuse an infinite feature value (NaN is NULL: ignored), naming the feature."""
    inf = np.isinf(feats.value)
    if inf.any():
        i = int(np.nonzero(inf)[0][0])
        raise ValueRangeError(
            f"{source.describe()}: feature {int(feats.order[i])} has the value {feats.value[i]:g}; a value must be "
            "finite (NULL or NaN for no value): fix the data, or filter it out with --where"
        )


def _to_pixel_space(geoms: np.ndarray, grid: Grid) -> np.ndarray:
    """Geometries in the grid's pixel space: the same coordinates whatever block reads them."""

    def fn(xy: np.ndarray) -> np.ndarray:
        col, row = grid.to_pixel(xy[:, 0], xy[:, 1])
        return np.column_stack([col, row])

    return shapely.transform(geoms, fn)


def _repair(geoms: np.ndarray, feats: Features, policy: InvalidPolicy) -> np.ndarray:
    invalid = ~shapely.is_valid(geoms)
    if not invalid.any():
        return geoms
    if policy is InvalidPolicy.ERROR:
        i = int(np.nonzero(invalid)[0][0])
        raise GeometryError(
            f"feature {int(feats.order[i])} has an invalid geometry ({shapely.is_valid_reason(geoms[i])}); "
            "repair it, or let rastercover repair it (--invalid fix)"
        )
    geoms = geoms.copy()
    geoms[invalid] = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
    return geoms


def compute_block(job: Job, block: Block) -> BlockResult:
    """Compute every requested method over ``block``."""
    if getattr(job.source, "regrids", False):
        return _regrid_block(job, block)
    grid, win = job.grid, block.window
    all_tiles = block.tiles if job.extent is Extent.FULL else ()
    # padded by a hair: a feature touching the block from outside is a candidate there (postgis semantics), and a
    # feature a hair outside the block's map box may lie inside it in pixel space (exact: A⁻¹ rounds); the pixel-space
    # test below keeps exactly the ones that meet the block
    bounds = _padded(grid.window_bounds(win))
    feats = job.source.read(bounds)
    if len(feats) == 0:
        return BlockResult(block, None, all_tiles)
    if job.semantics is Semantics.POSTGIS:
        # map space throughout, as PostGIS: a contact exact in map space may not survive A⁻¹'s rounding
        data, touched = _postgis_block(job, block, _repair(feats.geometry, feats, job.invalid), feats)
        if job.extent is Extent.TOUCHED:
            return BlockResult(block, data if touched else None, touched)
        return BlockResult(block, data, block.tiles)
    geoms = _to_pixel_space(feats.geometry, grid)
    geoms = _repair(geoms, feats, job.invalid)
    frame = shapely.box(win.col_off, win.row_off, win.col_off + win.width, win.row_off + win.height)
    inside = shapely.intersects(geoms, frame)
    if not inside.any():
        return BlockResult(block, None, all_tiles)
    if not inside.all():
        feats, geoms = feats.take(inside), geoms[inside]
    tiles = block.tiles
    if job.extent is Extent.TOUCHED:
        boxes = shapely.box(
            *np.array(
                [
                    (
                        t.window.col_off,
                        t.window.row_off,
                        t.window.col_off + t.window.width,
                        t.window.row_off + t.window.height,
                    )
                    for t in tiles
                ],
                dtype=float,
            ).T
        )
        # touched: a feature meets the tile's interior (sharing only an edge or a corner is not enough)
        box_i, geom_i = shapely.STRtree(geoms).query(boxes, predicate="intersects")
        inner = ~shapely.touches(geoms[geom_i], boxes[box_i])
        hit = np.unique(box_i[inner])
        tiles = tuple(tiles[i] for i in hit)
        if not tiles:
            return BlockResult(block, None, ())
    size = win.width * win.height
    a, b, _, d, e, _ = grid.transform[:6]
    contrib = Contributions(geoms, feats, win, grid.pixel_area, (a, b, d, e))
    data = np.empty((len(job.methods), win.height, win.width), dtype=job.dtype)
    if any(m.needs_value for m in job.methods):
        _check_finite_values(feats, job.source)
    for i, method in enumerate(job.methods):
        h = contrib.hits(method.kind, values=method.needs_value)
        result = _reduce(job, method, h, size)
        to_band(result, method, job.dtype, job.nodata, out=data[i])
    return BlockResult(block, data, tiles)


def _reduce(job: Job, method: Any, h: Any, size: int) -> np.ndarray:
    """``method.reduce(h)`` as float64, an overflow of float64 an error naming the source."""
    # NaN is "no value" (ignored, or no result); an overflow of float64 is an error, never an infinite pixel
    with np.errstate(over="raise", invalid="ignore", divide="ignore"):
        try:
            result = np.asarray(method.reduce(h), dtype=np.float64)
            # values are finite (checked): an infinite result overflowed in a sum numpy does not flag
            # (np.bincount's, np.add.reduceat's)
            if method.needs_value and np.isinf(result).any():
                raise FloatingPointError
        except FloatingPointError:
            raise ValueRangeError(
                f"{method.name} overflows float64 on the values of {job.source.describe()} (magnitudes near "
                "1.8e308): scale the values down (e.g. to other units)"
            ) from None
    if result.shape != (size,):
        raise ValueError(f"method {method.name} returned shape {result.shape}, expected ({size},)")
    return result


def _check_finite(job: Job, values: np.ndarray) -> None:
    inf = np.isinf(values)
    if inf.any():
        raise ValueRangeError(
            f"{job.source.describe()} holds the value {values[inf][0]:g}; a pixel value must be finite "
            "(nodata for no value): fix the data, or declare that value nodata"
        )


@dataclass(frozen=True)
class _Sums:
    """A raster method reduced from separable sums, in :func:`_reduce`'s terms (``reduce(None)``)."""

    method: Any
    sums: Any

    @property
    def name(self) -> str:
        return self.method.name

    @property
    def needs_value(self) -> bool:
        return True

    def reduce(self, _h: Any) -> np.ndarray:
        return self.method.sums(self.sums)


def _regrid_block(job: Job, block: Block) -> BlockResult:
    """A regridding's block (:mod:`rastercover.engine.regrid`): one band per (source band, method)."""
    from .regrid import RegridBlock

    win = block.window
    all_tiles = block.tiles if job.extent is Extent.FULL else ()
    contrib = RegridBlock(job.source, job.grid, win)
    if contrib.empty:
        return BlockResult(block, None, all_tiles)
    size = win.width * win.height
    data = np.empty((len(job.methods), win.height, win.width), dtype=job.dtype)
    seen = np.zeros(size, dtype=bool)
    for i, bm in enumerate(job.methods):
        sums = contrib.sums(bm.band) if bm.sums is not None else None
        if sums is not None:  # overlaps that are products of 1-D overlaps: sums without listing them
            _check_finite(job, sums.value)  # NaN (nodata) is not infinite
            seen |= sums.covered()
            result = _reduce(job, _Sums(bm, sums), None, size)
        else:
            h = contrib.hits(bm.band, bm.kind)
            _check_finite(job, h.value)
            seen[h.pixel] = True
            result = _reduce(job, bm, h, size)
        to_band(result, bm, job.dtype, job.nodata, out=data[i])
    if not seen.any():
        return BlockResult(block, None, all_tiles)
    tiles = block.tiles
    if job.extent is Extent.TOUCHED:
        mask = seen.reshape(win.height, win.width)
        tiles = tuple(
            t
            for t in tiles
            if mask[
                t.window.row_off - win.row_off : t.window.row_off - win.row_off + t.window.height,
                t.window.col_off - win.col_off : t.window.col_off - win.col_off + t.window.width,
            ].any()
        )
        if not tiles:
            return BlockResult(block, None, ())
    return BlockResult(block, data, tiles)


def _postgis_block(job: Job, block: Block, geoms: np.ndarray, feats: Features) -> tuple[np.ndarray, tuple[Tile, ...]]:
    """postgis semantics: every tile of the block on its own, as ``ST_ExtractToRaster`` sees it.

    Returns the block's data and the tiles some geometry intersects (the others took the early exit).
    """
    win = block.window
    names = [m.name for m in job.methods]
    data = np.empty((len(names), win.height, win.width), dtype=job.dtype)
    tree = shapely.STRtree(geoms)
    touched = []
    for tile in block.tiles:
        tw = tile.window
        tg = tile.grid
        near = np.sort(tree.query(shapely.box(*_padded(tg.bounds))))  # touching features are candidates
        res = postgis_tile(geoms[near], feats.value[near], tg.transform, tw.width, tw.height, names)
        if len(near) and shapely.intersects(geoms[near], tile_hull(tg.transform, tw.width, tw.height)).any():
            touched.append(tile)
        r0, c0 = tw.row_off - win.row_off, tw.col_off - win.col_off
        for i, name in enumerate(names):
            band = postgis_band(res[name], job.dtype, job.nodata).reshape(tw.height, tw.width)
            data[i, r0 : r0 + tw.height, c0 : c0 + tw.width] = band
    return data, tuple(touched)


def _padded(bounds: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """``bounds`` grown by a hair, so that a feature exactly touching them is read despite rounding."""
    x0, y0, x1, y1 = bounds
    pad = 1e-9 * (1.0 + max(abs(x0), abs(y0), abs(x1), abs(y1)))
    return x0 - pad, y0 - pad, x1 + pad, y1 + pad
