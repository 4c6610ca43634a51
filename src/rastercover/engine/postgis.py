"""``semantics="postgis"``: the 15 methods of ``ST_ExtractToRaster`` (PostGIS Add-ons), quirks included.

Spec section 4. Work is done in map space, one tile at a time, as PostGIS does it:

* every pixel is a polygon built from the tile's geotransform, ``p0 = (sx·c + kx·r) + ulx, (sy·r + ky·c) +
  uly`` and the ring ``p0, p0 + (sx, ky), p0 + (sx + kx, sy + ky), p0 + (kx, sy)``, whose ordinates are
  rounded to 15 decimals as PostGIS's WKT round trip does; the centre is the GEOS centroid of the unrounded
  ring, rounded the same way;
* candidates are the geometries that intersect the pixel polygon (or the centre) as closed sets; a point
  against a polygon uses PostGIS's own winding test, on the boundary iff a cross product is exactly 0.0;
* areas and lengths are those of ``ST_Intersection(geom, pixel)``; thresholds are absolute (``1e-10``);
* a tile that no geometry intersects is 0 for counts, SUM_OF_AREAS, SUM_OF_LENGTHS and
  PROPORTION_OF_COVERED_AREA and nodata for the rest (the per-raster early exit);
* results go through float32, integer bands truncate, and a result equal to nodata is nudged
  (:func:`postgis_band`).

Examples
--------
>>> import numpy as np, shapely
>>> from affine import Affine
>>> geoms = np.array([shapely.box(0.5, 1, 2, 2)])
>>> out = postgis_tile(geoms, np.array([10.0]), Affine(1, 0, 0, 0, -1, 2), 2, 2, ["MIN_AREA", "SUM_OF_AREAS"])
>>> out["MIN_AREA"].tolist(), out["SUM_OF_AREAS"].tolist()
([0.5, 1.0, nan, nan], [0.5, 1.0, 0.0, 0.0])
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Context, Decimal

import numpy as np
import shapely
from affine import Affine

from ..errors import InputError, ValueRangeError

__all__ = [
    "POSTGIS_METHODS",
    "check_postgis_method",
    "pip_postgis",
    "pixel_rings",
    "postgis_band",
    "postgis_tile",
    "round15",
    "tile_hull",
]

POSTGIS_METHODS = (
    "COUNT_OF_VALUES_AT_PIXEL_CENTROID",
    "MEAN_OF_VALUES_AT_PIXEL_CENTROID",
    "COUNT_OF_POLYGONS",
    "COUNT_OF_LINESTRINGS",
    "COUNT_OF_POINTS",
    "COUNT_OF_GEOMETRIES",
    "VALUE_OF_BIGGEST",
    "VALUE_OF_MERGED_BIGGEST",
    "VALUE_OF_MERGED_SMALLEST",
    "MIN_AREA",
    "SUM_OF_AREAS",
    "SUM_OF_LENGTHS",
    "PROPORTION_OF_COVERED_AREA",
    "AREA_WEIGHTED_MEAN_OF_VALUES",
    "AREA_WEIGHTED_MEAN_OF_VALUES_2",
)
"""The methods ``ST_ExtractToRaster`` knows, in its documentation's order."""

_ZERO_WHEN_EARLY_EXIT = {"SUM_OF_AREAS", "SUM_OF_LENGTHS", "PROPORTION_OF_COVERED_AREA"}
_THRESHOLD = 1e-10
_POLYGONAL = (3, 6)  # Polygon, MultiPolygon
_LINEAR = (1, 5)  # LineString, MultiLineString
_PUNTAL = (0, 4)  # Point, MultiPoint
_FLT_EPSILON = float(np.finfo(np.float32).eps)
_Q = Decimal("1e-15")
_CONTEXT = Context(prec=400)  # enough digits for any double quantized to 1e-15


def check_postgis_method(name: str) -> None:
    """Refuse a method that ``ST_ExtractToRaster`` does not have."""
    if name not in POSTGIS_METHODS:
        raise InputError(
            f"{name} has no postgis semantics (ST_ExtractToRaster knows {len(POSTGIS_METHODS)} methods: "
            f"{', '.join(POSTGIS_METHODS)}); use the default exact semantics for it"
        )


def round15(values: np.ndarray) -> np.ndarray:
    """Round ordinates to 15 decimals as PostGIS's WKT output then input does (round-half-even on repr).

    Examples
    --------
    >>> round15(np.array([0.1 + 0.2, 2.0, 1e-16])).tolist()
    [0.3, 2.0, 0.0]
    """
    values = np.asarray(values, dtype=np.float64)
    uniq, inv = np.unique(values, return_inverse=True)
    rounded = np.array(
        [float(Decimal(repr(float(v))).quantize(_Q, context=_CONTEXT)) if np.isfinite(v) else v for v in uniq]
    )
    return rounded[inv].reshape(values.shape)


def pixel_rings(transform: Affine, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Unrounded pixel rings ``(n, 5, 2)`` in row-major order, and the tile's hull ring ``(5, 2)``."""
    sx, kx, ulx, ky, sy, uly = (float(v) for v in tuple(transform)[:6])
    r, c = np.divmod(np.arange(width * height, dtype=np.float64), width)
    p0x = (sx * c + kx * r) + ulx
    p0y = (sy * r + ky * c) + uly
    # PostGIS's own evaluation order (checked bit for bit against ST_PixelAsPolygons on skewed grids): the
    # opposite corner is (p0x + sx) + kx, (p0y + sy) + ky, not p0 + (s + k)
    xs = np.column_stack([p0x, p0x + sx, (p0x + sx) + kx, p0x + kx, p0x])
    ys = np.column_stack([p0y, p0y + ky, (p0y + sy) + ky, p0y + sy, p0y])
    return np.stack([xs, ys], axis=-1), _hull(transform, width, height)


def tile_hull(transform: Affine, width: int, height: int) -> shapely.Geometry:
    """The tile's extent as PostGIS's raster convex hull (unrounded corners)."""
    return shapely.polygons(_hull(transform, width, height))


def _hull(transform: Affine, width: int, height: int) -> np.ndarray:
    sx, kx, ulx, ky, sy, uly = (float(v) for v in tuple(transform)[:6])
    cx = np.array([0, width, width, 0, 0], dtype=np.float64)
    cy = np.array([0, 0, height, height, 0], dtype=np.float64)
    # ST_ConvexHull's order (GDAL's geotransform): (ulx + sx·c) + kx·r, (uly + ky·c) + sy·r
    return np.column_stack([(ulx + sx * cx) + kx * cy, (uly + ky * cx) + sy * cy])


def pip_postgis(px: np.ndarray, py: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """PostGIS's point-in-ring test: 1 inside, 0 on the boundary, -1 outside, for points against one ring.

    Winding number over the ring's edges; a point is on the boundary when the cross product of an edge and
    the point is exactly ``0.0`` and the point lies within the edge's bounding box (no robust predicate).
    """
    px, py = np.asarray(px, np.float64)[:, None], np.asarray(py, np.float64)[:, None]
    x1, y1, x2, y2 = ring[:-1, 0][None], ring[:-1, 1][None], ring[1:, 0][None], ring[1:, 1][None]
    side = (x2 - x1) * (py - y1) - (px - x1) * (y2 - y1)
    on_seg = (
        (px >= np.minimum(x1, x2))
        & (px <= np.maximum(x1, x2))
        & (py >= np.minimum(y1, y2))
        & (py <= np.maximum(y1, y2))
    )
    degenerate = (x1 == x2) & (y1 == y2)
    boundary = ((side == 0.0) & on_seg & ~degenerate).any(axis=1)
    up = (y1 <= py) & (py < y2) & (side > 0)
    down = (y2 <= py) & (py < y1) & (side < 0)
    wn = (up & ~degenerate).sum(axis=1) - (down & ~degenerate).sum(axis=1)
    return np.where(boundary, 0, np.where(wn != 0, 1, -1))


def _point_touches_polygonal(px: float, py: float, geom: shapely.Geometry) -> bool:
    """PostGIS ``ST_Intersects(point, (multi)polygon)``: inside or on the boundary by :func:`pip_postgis`."""
    for poly in shapely.get_parts(geom):
        shell = shapely.get_coordinates(shapely.get_exterior_ring(poly))
        state = pip_postgis(np.array([px]), np.array([py]), shell)[0]
        if state == -1:
            continue
        if state == 0:
            return True
        inside = True
        for k in range(shapely.get_num_interior_rings(poly)):
            hole = shapely.get_coordinates(shapely.get_interior_ring(poly, k))
            h = pip_postgis(np.array([px]), np.array([py]), hole)[0]
            if h == 0:
                return True
            if h == 1:
                inside = False
                break
        if inside:
            return True
    return False


def _centre_candidates(tree: shapely.STRtree, geoms: np.ndarray, centres: np.ndarray, scale: float):
    """(pixel, feature) pairs where the feature intersects the pixel centre (PostGIS rules)."""
    k, f = tree.query(centres, predicate="intersects")
    types = shapely.get_type_id(geoms)
    # point vs polygon: PostGIS's non-robust winding test differs from GEOS only right at the boundary
    ek, ef = tree.query(centres)
    poly = np.isin(types[ef], _POLYGONAL)
    ek, ef = ek[poly], ef[poly]
    tol = 1e-9 * scale
    near = shapely.dwithin(centres[ek], shapely.boundary(geoms[ef]), tol)
    if near.any():
        nk, nf = ek[near], ef[near]
        xy = shapely.get_coordinates(centres[nk])
        decide = np.array([_point_touches_polygonal(x, y, geoms[j]) for (x, y), j in zip(xy, nf, strict=True)])
        key = k.astype(np.int64) * len(geoms) + f
        nkey = nk.astype(np.int64) * len(geoms) + nf
        drop = np.isin(key, nkey)
        k, f = k[~drop], f[~drop]
        k, f = np.concatenate([k, nk[decide]]), np.concatenate([f, nf[decide]])
    return k, f


def _pixel_candidates(tree: shapely.STRtree, geoms: np.ndarray, pixpolys: np.ndarray, rings: np.ndarray):
    """(pixel, feature) pairs where the feature intersects the closed pixel polygon (PostGIS rules)."""
    types = shapely.get_type_id(geoms)
    k, f = tree.query(pixpolys, predicate="intersects")
    puntal = np.isin(types[f], _PUNTAL)
    k, f = k[~puntal], f[~puntal]
    # points against the pixel polygon: PostGIS's winding test on the pixel ring
    ek, ef = tree.query(pixpolys)
    keep = np.isin(types[ef], _PUNTAL)
    ek, ef = ek[keep], ef[keep]
    if len(ek):
        pts, owner = shapely.get_parts(geoms[ef], return_index=True)
        xy = shapely.get_coordinates(pts)
        pk = ek[owner]
        hit = np.zeros(len(pk), dtype=bool)
        for pixel in np.unique(pk):
            sel = pk == pixel
            hit[sel] = pip_postgis(xy[sel, 0], xy[sel, 1], rings[pixel]) >= 0
        pair = np.unique(owner[hit])
        k, f = np.concatenate([k, ek[pair]]), np.concatenate([f, ef[pair]])
    return k, f


def _linear_length(geoms: np.ndarray) -> np.ndarray:
    """Length of the linear members of each geometry (polygons and points count 0, as ``ST_Length``)."""
    types = shapely.get_type_id(geoms)
    out = np.where(np.isin(types, _LINEAR), shapely.length(geoms), 0.0)
    coll = np.nonzero(types == 7)[0]
    if len(coll):
        parts, idx = shapely.get_parts(geoms[coll], return_index=True)
        lin = np.isin(shapely.get_type_id(parts), _LINEAR)
        out[coll] += np.bincount(idx[lin], weights=shapely.length(parts[lin]), minlength=len(coll))
    return out


def _pick(pixel: np.ndarray, value: np.ndarray, size: int, *keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, the value of the entry sorting first by ``keys``; and whether the pixel had an entry."""
    out = np.full(size, np.nan)
    has = np.zeros(size, dtype=bool)
    if len(pixel) == 0:
        return out, has
    idx = np.lexsort((*reversed(keys), pixel))
    p = pixel[idx]
    first = np.ones(len(p), dtype=bool)
    first[1:] = p[1:] != p[:-1]
    out[p[first]] = value[idx[first]]
    has[p[first]] = True
    return out, has


def _group_sum(pixel: np.ndarray, value: np.ndarray, area: np.ndarray):
    """Sum of ``area`` per (pixel, value) with NULL (NaN) as its own group: ``pixel, value, sum``."""
    null = np.isnan(value)
    key_v = np.where(null, -np.inf, value)
    order = np.lexsort((key_v, pixel))
    p, v, a = pixel[order], key_v[order], area[order]
    new = np.ones(len(p), dtype=bool)
    new[1:] = (p[1:] != p[:-1]) | (v[1:] != v[:-1])
    starts = np.nonzero(new)[0]
    vals = v[starts]
    return p[starts], np.where(vals == -np.inf, np.nan, vals), np.add.reduceat(a, starts) if len(a) else a


def _value_desc_nulls_first(value: np.ndarray) -> np.ndarray:
    """Sort key for ``ORDER BY value DESC`` (PostgreSQL puts NULLs first in descending order)."""
    return np.where(np.isnan(value), -np.inf, -value)


def postgis_tile(
    geoms: np.ndarray,
    value: np.ndarray,
    transform: Affine,
    width: int,
    height: int,
    methods: Sequence[str],
) -> dict[str, np.ndarray]:
    """Results of ``methods`` over one tile (row-major float64 arrays, NaN for nodata).

    Parameters
    ----------
    geoms, value
        The features near the tile, in map space (valid), and their values (NaN for NULL).
    transform, width, height
        The tile's geotransform and size.
    methods
        Upper-case names among :data:`POSTGIS_METHODS`.
    """
    size = width * height
    rings, hull = pixel_rings(transform, width, height)
    hull_poly = shapely.polygons(hull)
    geoms = np.asarray(geoms, dtype=object)
    value = np.asarray(value, dtype=np.float64)
    touching = shapely.intersects(geoms, hull_poly) if len(geoms) else np.zeros(0, dtype=bool)
    if not touching.any():
        return {
            m: np.full(size, 0.0 if m.startswith("COUNT_") or m in _ZERO_WHEN_EARLY_EXIT else np.nan) for m in methods
        }
    tree = shapely.STRtree(geoms)
    types = shapely.get_type_id(geoms)
    out: dict[str, np.ndarray] = {}
    scale = float(np.abs(hull).max()) + 1.0

    if any(m.endswith("_AT_PIXEL_CENTROID") for m in methods):
        centres = shapely.points(round15(shapely.get_coordinates(shapely.centroid(shapely.polygons(rings)))))
        k, f = _centre_candidates(tree, geoms, centres, scale)
        v = value[f]
        ok = ~np.isnan(v)
        n = np.bincount(k[ok], minlength=size).astype(np.float64)
        s = np.bincount(k[ok], weights=v[ok], minlength=size)
        if "COUNT_OF_VALUES_AT_PIXEL_CENTROID" in methods:
            out["COUNT_OF_VALUES_AT_PIXEL_CENTROID"] = n
        if "MEAN_OF_VALUES_AT_PIXEL_CENTROID" in methods:
            with np.errstate(invalid="ignore", divide="ignore"):
                out["MEAN_OF_VALUES_AT_PIXEL_CENTROID"] = np.where(n > 0, s / np.maximum(n, 1), np.nan)
    rest = [m for m in methods if not m.endswith("_AT_PIXEL_CENTROID")]
    if not rest:
        return out

    rounded = round15(rings)
    pixpolys = shapely.polygons(rounded)
    pixarea = shapely.area(pixpolys)
    k, f = _pixel_candidates(tree, geoms, pixpolys, rounded)
    has = np.bincount(k, minlength=size) > 0
    # measures of ST_Intersection(geom, pixel); a pixel inside a polygon is its own intersection
    inside = np.zeros(len(k), dtype=bool)
    poly = np.isin(types[f], _POLYGONAL) | (types[f] == 7)
    if poly.any():
        inside[poly] = shapely.covers(geoms[f[poly]], pixpolys[k[poly]])
    pieces = np.empty(len(k), dtype=object)
    pieces[inside] = pixpolys[k[inside]]
    pieces[~inside] = shapely.intersection(geoms[f[~inside]], pixpolys[k[~inside]])
    area = shapely.area(pieces)
    v = value[f]
    ft = types[f]

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(k[mask], minlength=size).astype(np.float64)

    for m in rest:
        if m == "COUNT_OF_POLYGONS":
            out[m] = count(np.isin(ft, _POLYGONAL) & (area > _THRESHOLD))
        elif m == "COUNT_OF_LINESTRINGS":
            out[m] = count(np.isin(ft, _LINEAR) & (_linear_length(pieces) > _THRESHOLD))
        elif m == "COUNT_OF_POINTS":
            out[m] = count(np.isin(ft, _PUNTAL))
        elif m == "COUNT_OF_GEOMETRIES":
            out[m] = count(np.ones(len(k), dtype=bool))
        elif m == "VALUE_OF_BIGGEST":
            out[m] = _pick(k, v, size, -area, _value_desc_nulls_first(v))[0]
        elif m in ("VALUE_OF_MERGED_BIGGEST", "VALUE_OF_MERGED_SMALLEST"):
            sel = np.ones(len(k), dtype=bool) if m.endswith("BIGGEST") else area > _THRESHOLD
            gp, gv, ga = _group_sum(k[sel], v[sel], area[sel])
            key = -ga if m.endswith("BIGGEST") else ga
            out[m] = _pick(gp, gv, size, key, _value_desc_nulls_first(gv))[0]
        elif m == "MIN_AREA":
            sel = area > _THRESHOLD
            res = np.full(size, np.inf)
            np.minimum.at(res, k[sel], area[sel])
            out[m] = np.where(np.isinf(res), np.nan, res)
        elif m == "SUM_OF_AREAS":
            out[m] = np.where(has, np.bincount(k, weights=area, minlength=size), np.nan)
        elif m == "SUM_OF_LENGTHS":
            out[m] = np.where(has, np.bincount(k, weights=_linear_length(pieces), minlength=size), np.nan)
        elif m == "PROPORTION_OF_COVERED_AREA":
            out[m] = np.where(has, _union_area(k, pieces, area, size) / pixarea, np.nan)
        elif m in ("AREA_WEIGHTED_MEAN_OF_VALUES", "AREA_WEIGHTED_MEAN_OF_VALUES_2"):
            s = np.bincount(k, weights=area, minlength=size)
            ok = ~np.isnan(v)
            nsum = np.bincount(k[ok], weights=area[ok] * v[ok], minlength=size)
            nnull = np.bincount(k[ok], minlength=size) == 0
            denom = np.maximum(s, pixarea) if m.endswith("VALUES") else s
            with np.errstate(invalid="ignore", divide="ignore"):
                res = np.where(s == 0, 0.0, np.where(nnull, np.nan, nsum / np.where(denom == 0, 1.0, denom)))
            out[m] = np.where(has, res, np.nan)
        else:
            check_postgis_method(m)
    return out


def _union_area(k: np.ndarray, pieces: np.ndarray, area: np.ndarray, size: int) -> np.ndarray:
    """Area of the union of the pieces of each pixel (GEOS union where a pixel has several pieces)."""
    with_area = area > 0
    kk, pp, aa = k[with_area], pieces[with_area], area[with_area]
    n = np.bincount(kk, minlength=size)
    res = np.bincount(kk, weights=aa, minlength=size)
    multi = np.nonzero(n > 1)[0]
    if len(multi):
        sel = np.isin(kk, multi)
        ks, ps = kk[sel], pp[sel]
        order = np.argsort(ks, kind="stable")
        ks, ps = ks[order], ps[order]
        starts = np.nonzero(np.r_[True, ks[1:] != ks[:-1]])[0]
        for s, e in zip(starts, np.r_[starts[1:], len(ks)], strict=True):
            res[ks[s]] = shapely.area(shapely.union_all(ps[s:e]))
    return res


def postgis_band(result: np.ndarray, dtype: np.dtype, nodata: float) -> np.ndarray:
    """PostGIS's value path: float32 first, truncation for integer bands, results equal to nodata nudged.

    NaN stands for nodata. A result that would equal nodata moves off it: integer bands by one (up when
    nodata is the type's minimum, else down), float32 bands by ``FLT_EPSILON`` likewise; float64 bands keep
    it.

    Examples
    --------
    >>> postgis_band(np.array([2.7, -2.7, np.nan, 0.0]), np.dtype("int16"), 0.0).tolist()
    [2, -2, 0, -1]
    """
    is_nodata = np.isnan(result)
    big = np.isfinite(result) & (np.abs(result) > float(np.finfo(np.float32).max))
    if big.any():  # PostgreSQL refuses it too ("value out of range: overflow" casting to real)
        raise ValueRangeError(
            f"a result of {result[big][0]:g} does not fit the float32 that PostGIS's value path goes through; "
            "scale the values down, or use --semantics exact"
        )
    res = np.where(is_nodata, 0.0, result).astype(np.float32).astype(np.float64)
    if dtype.kind in "iu":
        res = np.trunc(res)
        info = np.iinfo(dtype)
        clash = res == nodata
        res[clash] = nodata + 1 if nodata == info.min else nodata - 1
        res = np.clip(res, info.min, info.max)
    elif dtype == np.float32:
        clash = res == np.float32(nodata)
        fmin = float(np.finfo(np.float32).min)
        res[clash] = nodata + _FLT_EPSILON if nodata == fmin else nodata - _FLT_EPSILON
    return np.where(is_nodata, nodata, res).astype(dtype)
