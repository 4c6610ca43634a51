"""Warping a piece of a coverage to another CRS or resolution, one output chunk at a time.

:func:`warp_grid` chooses the output grid the way ``gdalwarp`` does (GDAL's suggested warp output, computed by
``rasterio.warp.calculate_default_transform``: square pixels whose size keeps the piece's diagonal pixel count,
anchored at the upper-left corner; a given resolution keeps that corner and widens the size by ceiling).
:func:`warp_chunk` fills one chunk of that grid with ``rasterio.warp.reproject`` from just the source pixels the
chunk needs (its footprint, densified, mapped back to the source grid, plus the resampling kernel's reach), so
a warp of any size runs in bounded memory and gives the pixels a whole-raster ``reproject`` gives.

Examples
--------
>>> from affine import Affine
>>> from rastercover.grid import Grid, Window
>>> g = Grid(100, 100, Affine(30, 0, 150000, 0, -30, 420000), "EPSG:32198")
>>> out = warp_grid(g, Window(0, 0, 100, 100), None, "EPSG:32198", 60)
>>> out.width, out.height, out.transform.a, out.transform.c
(50, 50, 60.0, 150000.0)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
from affine import Affine

from ..crs import CRS, as_crs, crs_label, same_crs
from ..errors import CRSError, GeometryError, InputError, TooLargeError, UnknownOptionError
from ..grid import ALIGN_TOL, Grid, Window

__all__ = [
    "RESAMPLING",
    "check_resampling",
    "covers",
    "parse_resolution",
    "reproject_geometry",
    "warp_chunk",
    "warp_grid",
]

#: The longest side a warped piece may have (GDAL's raster size limit).
_MAX_SIDE = 2**31 - 1

#: Resampling methods a warp accepts (GDAL's names), with the reach of their kernel in source pixels.
RESAMPLING: dict[str, int] = {
    "nearest": 1,
    "bilinear": 2,
    "cubic": 3,
    "cubic_spline": 3,
    "lanczos": 4,
    "average": 1,
    "mode": 1,
    "max": 1,
    "min": 1,
    "med": 1,
    "q1": 1,
    "q3": 1,
    "sum": 1,
    "rms": 1,
}


def parse_resolution(resolution: Any) -> tuple[float, float] | None:
    """``(xres, yres)`` from ``R``, ``(XRES, YRES)`` or the text ``"R"`` / ``"XRES,YRES"``; None stays None.

    Examples
    --------
    >>> parse_resolution(30), parse_resolution("25,50"), parse_resolution(None)
    ((30.0, 30.0), (25.0, 50.0), None)
    """
    if resolution is None:
        return None
    try:
        if isinstance(resolution, str):
            parts = [float(p) for p in resolution.replace(",", " ").split()]
        elif isinstance(resolution, int | float | np.number):
            parts = [float(resolution)]
        else:
            parts = [float(p) for p in resolution]
    except (TypeError, ValueError):
        raise InputError(
            f"resolution {resolution!r} is not a number: give R or XRES,YRES in the output CRS's units"
        ) from None
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or not all(math.isfinite(p) and p > 0 for p in parts):
        raise InputError(f"resolution {resolution!r} must be one or two positive numbers (R or XRES,YRES)")
    return parts[0], parts[1]


def _transformer(src: CRS, dst: CRS):
    from pyproj import Transformer

    return Transformer.from_crs(src, dst, always_xy=True)


def reproject_geometry(geom: shapely.Geometry, src: CRS, dst: CRS, *, step: float | None = None) -> shapely.Geometry:
    """``geom`` from ``src`` to ``dst``, its edges first cut every ``step`` source units so they can bend.

    Raises
    ------
    CRSError
        When a vertex has no image in ``dst`` (outside the projection's domain).

    Examples
    --------
    >>> g = reproject_geometry(shapely.Point(-71.0, 46.0), as_crs(4326), as_crs(32198))
    >>> [round(v) for v in (g.x, g.y)]
    [-193619, 226139]
    """
    if step is not None and step > 0:
        try:
            geom = shapely.segmentize(geom, step)
        except shapely.errors.GEOSException as exc:  # edges longer than floats hold (coordinates near 1e308)
            raise GeometryError(
                f"the geometry cannot be cut into short edges to reproject it ({exc}): its coordinates are too large"
            ) from None
    tr = _transformer(src, dst)

    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    out = shapely.transform(geom, fn)
    if not np.isfinite(shapely.get_coordinates(out)).all():
        raise CRSError(f"the geometry cannot be reprojected from {crs_label(src)} to {crs_label(dst)}: it lies outside")
    if not out.is_valid:
        out = shapely.make_valid(out)
    return out


def warp_grid(
    grid: Grid,
    window: Window,
    bounds: tuple[float, float, float, float] | None,
    crs: Any,
    resolution: Any,
) -> Grid:
    """The output grid of a warp of ``window`` of ``grid`` to ``crs`` at ``resolution``.

    Parameters
    ----------
    grid, window
        The coverage's grid and the piece to warp.
    bounds
        A tighter box in the coverage's CRS (the clip's bounds), or None for the window's own bounds.
    crs
        The output CRS (None: the coverage's).
    resolution
        Output pixel size in the output CRS's units (``R`` or ``(XRES, YRES)``); None: GDAL's suggestion.

    Raises
    ------
    CRSError
        The coverage has no CRS, or the piece has no image in the output CRS.
    """
    from rasterio.warp import calculate_default_transform

    from ..io.gtiff import rio_crs

    dst = as_crs(crs) if crs is not None else grid.crs
    if grid.crs is None:
        raise CRSError("the coverage has no CRS, so it cannot be warped: give it one first")
    res = parse_resolution(resolution)
    width, height = window.width, window.height
    if grid.is_rectilinear:
        x0, y0, x1, y1 = grid.window_bounds(window)
        if bounds is not None:  # the clip's box, snapped outward to whole pixels of the window
            x0, y0, x1, y1 = max(x0, bounds[0]), max(y0, bounds[1]), min(x1, bounds[2]), min(y1, bounds[3])
        src_crs = rio_crs(grid)
        dst_crs = rio_crs(Grid(1, 1, grid.transform, dst))
        try:
            transform, w, h = calculate_default_transform(
                src_crs, dst_crs, width, height, left=x0, bottom=y0, right=x1, top=y1
            )
        except Exception as exc:  # GDAL's CPLE_* errors: one clear line instead
            raise CRSError(
                f"the piece {(x0, y0, x1, y1)} cannot be warped from {crs_label(grid.crs)} to {crs_label(dst)} "
                f"({str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__})"
            ) from None
        if res is not None:
            # GDAL's suggestion keeps its upper-left corner, and its extent is covered by pixels of ``res``.
            # Not rasterio's ``resolution=`` (``ceil(width * suggested_res / res)``): GDAL's suggested pixel size
            # carries float noise (0.10000000000002274 for 0.1), which made a warp at the native resolution one
            # column or row wider, of nodata. An extent within ALIGN_TOL of whole pixels is that many pixels.
            w = _whole_pixels(transform.a * w / res[0])
            h = _whole_pixels(-transform.e * h / res[1])
            transform = Affine(res[0], 0.0, transform.c, 0.0, -res[1], transform.f)
    else:
        transform, w, h = _rotated_default(grid, window, dst, res)
    if w <= 0 or h <= 0:
        raise CRSError(f"the piece has no extent in {crs_label(dst)}")
    return Grid(w, h, transform, dst, 256)


def _whole_pixels(n: float) -> int:
    """``ceil(n)`` pixels, at least one; ``n`` within :data:`~rastercover.grid.ALIGN_TOL` of a whole number is it.

    Examples
    --------
    >>> _whole_pixels(2.0000000001), _whole_pixels(2.1)
    (2, 3)
    >>> _whole_pixels(1e400)
    Traceback (most recent call last):
    ...
    rastercover.errors.TooLargeError: the warped piece would be inf pixels a side: give a coarser resolution
    """
    if not math.isfinite(n) or n > _MAX_SIDE:
        raise TooLargeError(f"the warped piece would be {n:.3g} pixels a side: give a coarser resolution")
    k = round(n)
    return max(1, k if abs(n - k) <= ALIGN_TOL else math.ceil(n))


def _rotated_default(grid: Grid, window: Window, dst: CRS, res: tuple[float, float] | None):
    """GDAL's suggested warp output for a rotated or skewed source grid: north-up, same diagonal pixel count."""
    from affine import Affine

    n = 21
    t = np.linspace(0.0, 1.0, n)
    cols = np.concatenate([t * window.width, np.full(n, window.width), t[::-1] * window.width, np.zeros(n)])
    rows = np.concatenate([np.zeros(n), t * window.height, np.full(n, window.height), t[::-1] * window.height])
    x, y = grid.to_map(cols + window.col_off, rows + window.row_off)
    xx, yy = _transformer(grid.crs, dst).transform(x, y)
    ok = np.isfinite(xx) & np.isfinite(yy)
    if not ok.any():
        raise CRSError(f"the piece has no image in {crs_label(dst)}")
    x0, x1, y0, y1 = xx[ok].min(), xx[ok].max(), yy[ok].min(), yy[ok].max()
    if res is None:
        size = math.hypot(x1 - x0, y1 - y0) / math.hypot(window.width, window.height)
        res = (size, size)
    for n in ((x1 - x0) / res[0], (y1 - y0) / res[1]):
        _whole_pixels(n)  # refuses a side that is not finite or too long
    w = max(1, math.ceil((x1 - x0) / res[0] - 1e-9))
    h = max(1, math.ceil((y1 - y0) / res[1] - 1e-9))
    return Affine(res[0], 0, x0, 0, -res[1], y1), w, h


def warp_chunk(
    cov: Any,
    grid: Grid,
    out: Grid,
    chunk: Window,
    bands: list[int],
    *,
    dtype: np.dtype,
    src_nodata: float | None,
    dst_nodata: float | None,
    resampling: str,
) -> np.ndarray | None:
    """Pixels of ``chunk`` of the output grid ``out``, warped from the coverage ``cov`` on ``grid``.

    Returns None when the chunk sees no source pixel (all nodata). Source pixels are read only for the
    chunk's footprint plus the kernel's reach (scaled by the downsampling factor), never the whole coverage.
    """
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    from ..io.gtiff import rio_crs

    n = 11
    t = np.linspace(0.0, 1.0, n)
    cols = np.concatenate([t * chunk.width, np.full(n, chunk.width), t * chunk.width, np.zeros(n)])
    rows = np.concatenate([np.zeros(n), t * chunk.height, np.full(n, chunk.height), t * chunk.height])
    ii, jj = np.meshgrid(t[1:-1:2] * chunk.width, t[1:-1:2] * chunk.height)
    cols = np.concatenate([cols, ii.ravel()]) + chunk.col_off
    rows = np.concatenate([rows, jj.ravel()]) + chunk.row_off
    x, y = out.to_map(cols, rows)
    if not same_crs(out.crs, grid.crs):
        x, y = _transformer(out.crs, grid.crs).transform(x, y)
    sc, sr = grid.to_pixel(np.asarray(x), np.asarray(y))
    ok = np.isfinite(sc) & np.isfinite(sr)
    if not ok.any():
        return None
    # kernel reach, widened when one output pixel spans several source pixels
    scale = math.sqrt(out.pixel_area / grid.pixel_area) if same_crs(out.crs, grid.crs) else _scale(sc, sr, chunk)
    if not math.isfinite(scale):  # an output pixel too large for floats (resolution=1e200): it spans the source
        scale = float(grid.width + grid.height)
    pad = RESAMPLING[resampling] * max(1, math.ceil(scale)) + 1
    c0, c1 = math.floor(sc[ok].min()) - pad, math.ceil(sc[ok].max()) + pad
    r0, r1 = math.floor(sr[ok].min()) - pad, math.ceil(sr[ok].max()) + pad
    src_window = Window(c0, r0, c1 - c0, r1 - r0).intersection(Window(0, 0, grid.width, grid.height))
    if src_window is None:
        return None
    src = np.asarray(cov.read(src_window, bands))
    if src.dtype != dtype:
        src = src.astype(dtype)
    lacking = grid.lacks(src_window)  # a sparse coverage's missing tiles are nodata, whatever its reader fills
    if lacking is not None and src_nodata is not None:
        src = src.copy() if not src.flags.writeable else src
        src[:, lacking] = src_nodata
    dst = np.empty((len(bands), chunk.height, chunk.width), dtype=dtype)
    dst[...] = dst_nodata if dst_nodata is not None else 0
    reproject(
        src,
        dst,
        src_transform=grid.subgrid(src_window).transform,
        src_crs=rio_crs(grid),
        src_nodata=src_nodata,
        dst_transform=out.subgrid(chunk).transform,
        dst_crs=rio_crs(out),
        dst_nodata=dst_nodata,
        resampling=getattr(Resampling, resampling),
        init_dest_nodata=dst_nodata is not None,
        tolerance=0,
    )
    return dst


def _scale(sc: np.ndarray, sr: np.ndarray, chunk: Window) -> float:
    """Source pixels per output pixel along an axis, from the chunk's mapped corners."""
    n = 11
    top_c, top_r = sc[:n], sr[:n]
    ok = np.isfinite(top_c) & np.isfinite(top_r)
    if ok.sum() < 2:
        return 1.0
    span = math.hypot(top_c[ok][-1] - top_c[ok][0], top_r[ok][-1] - top_r[ok][0])
    frac = (np.flatnonzero(ok)[-1] - np.flatnonzero(ok)[0]) / (n - 1)
    return span / max(frac * chunk.width, 1e-9)


def check_resampling(name: str) -> str:
    """The resampling name, checked (case-insensitive).

    Examples
    --------
    >>> check_resampling("Bilinear")
    'bilinear'
    """
    key = str(name).strip().lower()
    if key not in RESAMPLING:
        raise UnknownOptionError(f"unknown resampling {name!r}: choose one of {', '.join(RESAMPLING)}")
    return key


def covers(grid: Grid, target: Grid) -> bool:
    """Whether every pixel centre of ``target`` falls on a pixel of ``grid``.

    A nearest-neighbour warp onto ``target`` then has a source pixel everywhere and needs no nodata. The centres'
    outline is mapped into ``grid``'s pixels: exact in one CRS (the map is affine), with a margin of one pixel
    and a dense outline across CRSs. A sparse grid (tiles missing) covers nothing for sure.

    Examples
    --------
    >>> g = Grid(10, 10, Affine(1, 0, 0, 0, -1, 10), "EPSG:32198")
    >>> covers(g, Grid(4, 4, Affine(2.5, 0, 0, 0, -2.5, 10), "EPSG:32198"))
    True
    >>> covers(g, Grid(4, 4, Affine(2.5, 0, 2, 0, -2.5, 10), "EPSG:32198"))   # the last centres fall off
    False
    """
    if grid.crs is None or target.crs is None or grid.present is not None:
        return False
    same = same_crs(grid.crs, target.crs)
    n = 5 if same else 201
    u = np.linspace(0.5, target.width - 0.5, n)
    v = np.linspace(0.5, target.height - 0.5, n)
    cols = np.concatenate([u, u, np.full(n, 0.5), np.full(n, target.width - 0.5)])
    rows = np.concatenate([np.full(n, 0.5), np.full(n, target.height - 0.5), v, v])
    x, y = target.to_map(cols, rows)
    margin = 0.0
    if not same:
        from pyproj import Transformer

        try:
            x, y = Transformer.from_crs(target.crs, grid.crs, always_xy=True).transform(x, y)
        except Exception:  # pyproj errors: not known to be covered
            return False
        margin = 1.0
    sc, sr = grid.to_pixel(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    if not (np.isfinite(sc).all() and np.isfinite(sr).all()):
        return False
    return bool(
        (sc >= margin).all() and (sc < grid.width - margin).all() and (sr >= margin).all()
        and (sr < grid.height - margin).all()
    )  # fmt: skip
