"""The piece of a coverage an export delivers: its bands, its window (bbox), and the clip that masks it.

Every alignment question goes to the grid (:meth:`~rastercover.grid.Grid.pixel_window` for a bbox); this module
turns the user's clip (a geometry, WKT, GeoJSON; buffered, enveloped, reprojected) into a geometry in the
coverage's CRS and the window of pixels it spans.

Examples
--------
>>> from affine import Affine
>>> from rastercover.grid import Grid
>>> g = Grid(10, 10, Affine(1, 0, 0, 0, -1, 10), "EPSG:32198")
>>> geom = prepare_clip("POLYGON((2 2, 5 2, 5 6, 2 2))", None, g.crs, buffer=0, envelope=True)
>>> geometry_window(g, geom)
Window(col_off=2, row_off=4, width=3, height=4)
>>> parse_bands("1, 3", 3)
[1, 3]
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely

from ..crs import CRS, as_crs, crs_label, same_crs
from ..errors import CRSError, GeometryError, InputError
from ..geojson import read_geometry
from ..grid import Grid, Window
from .warp import reproject_geometry

__all__ = [
    "CROPS",
    "check_crop",
    "check_segments",
    "fmt_bounds",
    "geometry_window",
    "parse_bands",
    "parse_clip",
    "piece_window",
    "postgis_clip_window",
    "prepare_clip",
]


def parse_bands(bands: Any, count: int) -> list[int]:
    if bands is None:
        return list(range(1, count + 1))
    if isinstance(bands, str):
        parts = [p for p in re.split(r"[,\s]+", bands.strip()) if p]
        try:
            values = [int(p) for p in parts]
        except ValueError:
            raise InputError(f"bands {bands!r} are not band numbers: give e.g. 1,2 (1-based)") from None
    elif isinstance(bands, int | np.integer):
        values = [int(bands)]
    else:
        values = [int(b) for b in bands]
    if not values:
        raise InputError("no band given: name at least one (1-based), or leave bands out for all")
    bad = [b for b in values if not 1 <= b <= count]
    if bad:
        raise InputError(f"no band {bad[0]} in the coverage: it has bands 1 to {count}")
    return values


def parse_clip(clip: Any) -> tuple[shapely.Geometry, CRS | None]:
    """A shapely geometry and the CRS its text declared (GeoJSON ``crs`` member), if any."""
    return read_geometry(clip, what="the clip")


def prepare_clip(
    clip: Any, clip_crs: Any, cov_crs: CRS | None, *, buffer: float, envelope: bool, segments: int = 8
) -> shapely.Geometry:
    """The clip as a valid geometry in the coverage's CRS: parsed, reprojected, enveloped, then buffered.

    ``segments`` is the buffer's number of segments per quarter circle: 8 by default, as PostGIS's
    ``ST_Buffer`` (shapely's own default is 16), so that a clip buffered here and in PostGIS is the same polygon.
    """
    segments = check_segments(segments)
    geom, declared = parse_clip(clip)
    given = as_crs(clip_crs)
    if given is not None and declared is not None and not same_crs(given, declared):
        raise CRSError(
            f"the clip's GeoJSON says it is in {crs_label(declared)} but clip_crs is {crs_label(given)}: give one"
        )
    src = given or declared
    if geom.is_empty:
        raise InputError("the clip geometry is empty")
    if not np.isfinite(shapely.get_coordinates(geom)).all():
        raise InputError("the clip has coordinates that are not finite numbers (nan, inf, 1e400): give finite ones")
    if not geom.is_valid:
        try:
            geom = shapely.make_valid(geom)
        except shapely.errors.GEOSException as exc:  # GEOS overflows on coordinates near the float limits
            raise GeometryError(f"the clip is invalid and cannot be repaired ({exc}): give a valid geometry") from None
    if src is not None and not same_crs(src, cov_crs):
        if cov_crs is None:
            raise CRSError(f"the clip is in {crs_label(src)} but the coverage has no CRS to reproject it to")
        x0, y0, x1, y1 = geom.bounds
        geom = reproject_geometry(geom, src, cov_crs, step=max(x1 - x0, y1 - y0) / 256 or None)
    if envelope:
        geom = geom.envelope
    if buffer:
        if not math.isfinite(buffer):
            raise InputError(f"buffer {buffer!r} is not a finite distance")
        try:
            geom = shapely.buffer(geom, buffer, quad_segs=segments)
        except shapely.errors.GEOSException as exc:  # GEOS overflows on coordinates near the float limits
            raise GeometryError(f"the clip cannot be buffered by {buffer:g} ({exc}): check its coordinates") from None
        if geom.is_empty:
            raise InputError(f"a buffer of {buffer:g} makes the clip empty (it shrinks it to nothing)")
        if not np.isfinite(geom.bounds).all():
            raise InputError(f"a buffer of {buffer:g} overflows the clip's coordinates: give a smaller buffer")
    return geom


def check_segments(segments: Any) -> int:
    """A buffer's segments per quarter circle, checked: a whole number from 1 to 1000."""
    try:
        n = int(segments)
        ok = float(segments) == n and 1 <= n <= 1000
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise InputError(
            f"buffer_segments {segments!r} is not a whole number from 1 to 1000 (segments per quarter circle; "
            "PostGIS's ST_Buffer uses 8)"
        )
    return n


def geometry_window(grid: Grid, geom: shapely.Geometry) -> Window | None:
    """Pixels of ``grid`` inside the geometry's bounds in pixel space (``rasterio.features.geometry_window``).

    The pixel coordinates are rasterio's, bit for bit (``~transform * (x, y)`` vertex by vertex, not
    :meth:`Grid.to_pixel`): a vertex on a pixel edge up to float noise then falls on the side it falls on in
    ``rasterio.mask.mask(..., crop=True)``, whose crop window the export promises.
    """
    xy = shapely.get_coordinates(geom)
    inv = ~grid.transform
    with np.errstate(over="ignore", invalid="ignore"):  # a clip far larger than the grid (buffer=1e300): clamped
        cols = inv.a * xy[:, 0] + inv.b * xy[:, 1] + inv.c
        rows = inv.d * xy[:, 0] + inv.e * xy[:, 1] + inv.f
    # only the part over the grid matters (the window is intersected with it): clamp, so that floor/ceil stay finite
    cols, rows = np.clip(cols, -1, grid.width + 1), np.clip(rows, -1, grid.height + 1)
    c0, c1 = math.floor(cols.min()), math.ceil(cols.max())
    r0, r1 = math.floor(rows.min()), math.ceil(rows.max())
    c1, r1 = max(c1, c0 + 1), max(r1, r0 + 1)  # a vertical or horizontal line: one pixel wide
    return Window(c0, r0, c1 - c0, r1 - r0).intersection(Window(0, 0, grid.width, grid.height))


#: How an export is cropped to its clip: the clip's bounds snapped outward to the pixel grid (rasterio.mask's
#: ``crop=True``), or the window PostGIS's ``ST_Clip`` gives (:func:`postgis_clip_window`).
CROPS = ("bounds", "postgis")

_FLT_EPSILON = float(np.finfo(np.float32).eps)  # PostGIS's FLT_EQ/FLT_NEQ tolerance


def check_crop(crop: Any) -> str:
    """``crop`` checked: one of :data:`CROPS`."""
    if crop not in CROPS:
        raise InputError(f"crop {crop!r} is not one of {', '.join(CROPS)}")
    return crop


def postgis_clip_window(grid: Grid, geom: shapely.Geometry) -> Window | None:
    """The window of ``grid`` that ``ST_Union(ST_Clip(tile, geom))`` over its tiles covers (None: no tile met).

    PostGIS clips each tile (row) by the part of the clip inside it, rasterized on a raster as wide as that part's
    envelope in whole pixels, rounded half up (at least one), whose upper-left corner is the envelope's moved
    onto the lattice (left and up to a pixel corner); when it moved, one more column (row) is added. Each tile is
    cropped to that raster, and the union spans the pieces. Unlike :func:`geometry_window` this may end one
    nodata column or row short of the clip's far edge, or one beyond it, and it depends on the tiling (as
    PostGIS's answer does on how the table was tiled); the pixels kept (centres inside) are the same.

    Examples
    --------
    >>> from affine import Affine
    >>> g = Grid(400, 400, Affine(30, 0, 150000, 0, -30, 404500), tile_size=400)
    >>> clip = shapely.box(152004.5, 400000, 154954.5, 401000)   # 98.33 px wide, 0.82 px into column 66
    >>> postgis_clip_window(g, clip), geometry_window(g, clip)
    (Window(col_off=66, row_off=116, width=99, height=34), Window(col_off=66, row_off=116, width=100, height=34))
    """
    t = grid.transform
    if t.b != 0 or t.d != 0 or t.a <= 0 or t.e >= 0:
        raise InputError("crop='postgis' needs a north-up coverage (no rotation): use crop='bounds'")
    reach = geometry_window(grid, geom)
    if reach is None:
        return None
    sx, sy = t.a, -t.e
    out: Window | None = None
    for tile in grid.tiles(reach):
        part = shapely.intersection(geom, shapely.Polygon(grid.corners(tile.window)))
        if part.is_empty:
            continue
        x0, y0, x1, y1 = part.bounds
        width = max(int((abs(x1 - x0) + sx / 2) / sx), 1)
        height = max(int((abs(y1 - y0) + sy / 2) / sy), 1)
        col, row = _postgis_cell((x0 - t.c) / sx), _postgis_cell((t.f - y1) / sy)
        if abs(t.c + col * sx - x0) > _FLT_EPSILON:  # the corner moved onto the lattice: one more column
            width += 1
        if abs(t.f - row * sy - y1) > _FLT_EPSILON:
            height += 1
        piece = Window(col, row, width, height).intersection(tile.window)
        if piece is not None:
            out = piece if out is None else out.union(piece)
    return out


def _postgis_cell(v: float) -> int:
    """PostGIS's pixel of a coordinate (``rt_raster_geopoint_to_cell``): floor, unless within FLT_EPSILON of a
    whole number."""
    r = round(v)
    return int(r) if abs(r - v) <= _FLT_EPSILON else math.floor(v)


def piece_window(
    grid: Grid, bounds: Sequence[float] | None, geom: shapely.Geometry | None, crop: str = "bounds"
) -> Window:
    """The window of ``grid`` an export delivers: the pixels meeting ``bounds`` (the grid's rule,
    :meth:`~rastercover.grid.Grid.pixel_window`), within the window of the clip ``geom`` (its bounds snapped
    outward, or with ``crop="postgis"`` :func:`postgis_clip_window`); all without either.

    Raises
    ------
    InputError
        The box or the clip misses the coverage, or they do not overlap on it.
    """
    where = f"the coverage, whose bounds are {fmt_bounds(grid.bounds)} ({crs_label(grid.crs)})"
    window: Window | None = Window(0, 0, grid.width, grid.height)
    if bounds is not None:
        window = grid.pixel_window(bounds)
        if window is None:
            raise InputError(f"the bbox {fmt_bounds(bounds)} does not meet {where}")
    if geom is not None:
        # rasterio.mask's rule: the clip misses the coverage when its window does (no map-space footprint test:
        # shapely's answer for a clip touching the edge up to float noise is not GDAL's); a clip whose window
        # meets the coverage but that keeps no pixel is refused when the piece is read
        gwin = geometry_window(grid, geom)
        if gwin is not None and check_crop(crop) == "postgis":
            gwin = postgis_clip_window(grid, geom)
        if gwin is None:
            raise InputError(f"the clip {fmt_bounds(geom.bounds)} does not meet {where}")
        window = window.intersection(gwin)
        if window is None:
            raise InputError("the clip and the bbox do not overlap on the coverage")
    return window


def fmt_bounds(b: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.10g}" for v in b) + ")"
