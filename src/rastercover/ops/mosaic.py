"""Mosaic: the piece read chunk by chunk (whole storage tiles at a time, only the tiles it needs; a sparse
coverage's missing tiles are nodata), on the coverage's own grid or warped, masked by the clip.

Examples
--------
>>> from affine import Affine
>>> from rastercover.grid import Grid, Window
>>> g = Grid(10, 6, Affine(1, 0, 0, 0, -1, 6), None, 4)
>>> list(chunks(g, Window(1, 1, 8, 5), 40))
[Window(col_off=1, row_off=1, width=8, height=3), Window(col_off=1, row_off=4, width=8, height=2)]
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import shapely

from ..grid import Grid, Window
from ..pixel_values import nodata_mask
from ..protocols import RasterCoverage
from .warp import warp_chunk

__all__ = [
    "CHUNK_PIXELS",
    "Chunk",
    "chunks",
    "clip_mask",
    "count_chunks",
    "source_chunks",
    "warp_chunks",
    "warped_chunks",
]

CHUNK_PIXELS = 1 << 24  # pixels per band read at once (whole storage tiles; at least one tile)


def chunks(grid: Grid, window: Window, max_pixels: int) -> Iterator[Window]:
    """Cut ``window`` at the grid's tile edges into chunks of whole tiles of at most ``max_pixels`` (one tile min)."""
    tw, th = grid.tile_width, grid.tile_height

    def spans(start: int, length: int, step: int) -> list[tuple[int, int]]:
        edges = [start, *range((start // step + 1) * step, start + length, step), start + length]
        return list(itertools.pairwise(edges))

    rows = spans(window.row_off, window.height, th)
    cols = spans(window.col_off, window.width, tw)
    if window.width * th <= max_pixels:
        k = max(1, max_pixels // (window.width * th))
        for i in range(0, len(rows), k):
            r0, r1 = rows[i][0], rows[min(i + k, len(rows)) - 1][1]
            yield Window(window.col_off, r0, window.width, r1 - r0)
        return
    k = max(1, max_pixels // (tw * th))
    for r0, r1 in rows:
        for j in range(0, len(cols), k):
            c0, c1 = cols[j][0], cols[min(j + k, len(cols)) - 1][1]
            yield Window(c0, r0, c1 - c0, r1 - r0)


Chunk = tuple[Window, np.ndarray, int]  # window in the output, pixels (bands, rows, cols), pixels kept


def is_areal(geom: shapely.Geometry) -> bool:
    return bool(np.isin(shapely.get_type_id(shapely.get_parts(geom)), [3, 6]).all())


def clip_mask(
    geom: shapely.Geometry,
    grid: Grid,
    chunk: Window,
    all_touched: bool,
    centres_only: bool,
    anchor: Window | None = None,
) -> np.ndarray | bool:
    """Which pixels of ``chunk`` the clip keeps: True (all), False (none) or a boolean array.

    GDAL burns the clip on a raster starting at ``anchor`` (default: the chunk), which holds the chunk: on the
    clip's own crop window, as ``rasterio.mask.mask(..., crop=True)`` does, where the piece starts (a bbox) or
    is cut (chunks) does not move GDAL's origin, so lines and edges through pixel corners or centres burn the
    same pixels with or without a bbox. The mask made is from the anchor's corner to the chunk's far corner.
    """
    from rasterio.features import geometry_mask
    from rasterio.windows import Window as RioWindow
    from rasterio.windows import transform as window_transform

    box = shapely.Polygon(grid.corners(chunk))
    probe = box
    # with the centre rule, a polygon keeps nothing in a chunk unless it meets the box of the chunk's centres
    # (lines and points burn every pixel they touch, as in GDAL, so they are tested against the whole chunk)
    if centres_only and chunk.width > 1 and chunk.height > 1:
        cols = np.array([0.5, chunk.width - 0.5, chunk.width - 0.5, 0.5]) + chunk.col_off
        rows = np.array([0.5, 0.5, chunk.height - 0.5, chunk.height - 0.5]) + chunk.row_off
        probe = shapely.Polygon(np.column_stack(grid.to_map(cols, rows)))
    if not geom.intersects(probe):
        return False
    if geom.covers(box):
        return True
    a = anchor or chunk
    if chunk.col_off < a.col_off or chunk.row_off < a.row_off:  # a piece wider than the clip (an exact grid=)
        a = Window(min(a.col_off, chunk.col_off), min(a.row_off, chunk.row_off), 1, 1)
    dc, dr = chunk.col_off - a.col_off, chunk.row_off - a.row_off
    keep = geometry_mask(
        [geom],
        out_shape=(dr + chunk.height, dc + chunk.width),
        transform=window_transform(RioWindow(a.col_off, a.row_off, a.width, a.height), grid.transform),
        all_touched=all_touched,
        invert=True,
    )
    return keep[dr:, dc:]


def masked(data: np.ndarray, keep: np.ndarray | bool, nodata: float | None) -> tuple[np.ndarray, int]:
    if keep is True:
        return data, data.shape[1] * data.shape[2]
    data[:, ~keep] = nodata
    return data, int(keep.sum())


def source_chunks(
    cov: RasterCoverage,
    grid: Grid,
    window: Window,
    bands: list[int],
    geom: shapely.Geometry | None,
    all_touched: bool,
    dtype: np.dtype,
    nodata: float | None,
    hits: list[int] | None = None,
) -> Iterator[Chunk]:
    """The piece on the coverage's own grid, whole storage tiles at a time, masked by ``geom``.

    ``hits``: when ``nodata`` is one the coverage does not declare (chosen for the pixels the clip masks),
    ``hits[0]`` counts the coverage's own pixels that hold it: they will read as nodata.
    """
    from .piece import geometry_window

    centres_only = geom is not None and not all_touched and is_areal(geom)
    anchor = None if geom is None else geometry_window(grid, geom)  # the clip's crop window, which holds the piece
    for chunk in chunks(grid, window, CHUNK_PIXELS):
        rel = chunk.relative_to(window)
        keep: np.ndarray | bool = True
        if geom is not None:
            keep = clip_mask(geom, grid, chunk, all_touched, centres_only, anchor)
            if keep is False:
                yield rel, np.full((len(bands), chunk.height, chunk.width), nodata, dtype=dtype), 0
                continue
        data = np.asarray(cov.read(chunk, bands))
        if data.dtype != dtype:
            data = data.astype(dtype)
        lacking = grid.lacks(chunk)  # a sparse coverage's missing tiles are nodata, whatever its reader fills
        if hits is not None and nodata is not None:
            hit = nodata_mask(data, nodata)
            if keep is not True:
                hit &= keep
            if lacking is not None:
                hit &= ~lacking
            hits[0] += int(hit.sum())
        if lacking is not None and nodata is not None:
            data[:, lacking] = nodata
        yield rel, *masked(data, keep, nodata)


def warp_chunks(window: Window, out: Grid) -> Iterator[Window]:
    """The chunks of the output grid ``out`` a warp of ``window`` writes (smaller as the source is denser)."""
    ratio = max(1.0, window.width * window.height / (out.width * out.height))
    return chunks(out, Window(0, 0, out.width, out.height), max(1, int(CHUNK_PIXELS / 4 / ratio)))


def count_chunks(grid: Grid, window: Window, out: Grid, warp: bool) -> int:
    """How many chunks an export of ``window`` of ``grid`` to ``out`` reads and writes (its progress total)."""
    return sum(1 for _ in (warp_chunks(window, out) if warp else chunks(grid, window, CHUNK_PIXELS)))


def warped_chunks(
    cov: RasterCoverage,
    grid: Grid,
    window: Window,
    out: Grid,
    bands: list[int],
    geom: shapely.Geometry | None,
    all_touched: bool,
    dtype: np.dtype,
    nodata: float | None,
    resampling: str,
) -> Iterator[Chunk]:
    """The piece warped to ``out``, chunk by chunk (each reads only the source pixels it needs)."""
    centres_only = geom is not None and not all_touched and is_areal(geom)
    for chunk in warp_chunks(window, out):
        keep: np.ndarray | bool = True
        if geom is not None:
            keep = clip_mask(geom, out, chunk, all_touched, centres_only)
            if keep is False:
                yield chunk, np.full((len(bands), chunk.height, chunk.width), nodata, dtype=dtype), 0
                continue
        data = warp_chunk(
            cov, grid, out, chunk, bands, dtype=dtype, src_nodata=nodata, dst_nodata=nodata, resampling=resampling
        )
        if data is None:
            data = np.full((len(bands), chunk.height, chunk.width), nodata, dtype=dtype)
        yield chunk, *masked(data, keep, nodata)
