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

Bits depend on more than the spec says: on which GEOS predicate decides a near-degenerate contact (prepared and
unprepared ``covers`` can disagree), on the order of the float sums, on the order of the pieces given to a GEOS
union. The tile is computed as a pixel-by-pixel STRtree query would, bit for bit, but faster: candidate pairs come
from envelopes (column and row ranges on north-up grids, a line's segments), are decided by the same GEOS calls
the tree query made (a prepared pixel's ``intersects``, an unprepared ``covers``), and are put in the tree's order
(:func:`_tree_rank`); a pixel covered by a polygon is its own intersection; the centres are GEOS's centroid
computed in numpy; only the pairs that are neither covered nor missed ask GEOS about the centre; the unions of the
pixels with as many pieces go to GEOS in one call. GEOS's ``intersection`` of every partly covered pixel and the
unions of the pixels with several pieces remain, and take most of the time.

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

import math
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
_AREAL = (3, 6, 7)  # may cover a pixel: Polygon, MultiPolygon, GeometryCollection
_AREA_METHODS = {
    "COUNT_OF_POLYGONS",
    "VALUE_OF_BIGGEST",
    "VALUE_OF_MERGED_BIGGEST",
    "VALUE_OF_MERGED_SMALLEST",
    "MIN_AREA",
    "SUM_OF_AREAS",
    "PROPORTION_OF_COVERED_AREA",
    "AREA_WEIGHTED_MEAN_OF_VALUES",
    "AREA_WEIGHTED_MEAN_OF_VALUES_2",
}
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

    Only ordinates under 10 in magnitude can change: a ``repr`` has at most 17 significant digits, so from 10 up
    it has at most 15 decimals and the rounding leaves it as it is.

    Examples
    --------
    >>> round15(np.array([0.1 + 0.2, 2.0, 1e-16, 123456.78901234567])).tolist()
    [0.3, 2.0, 0.0, 123456.78901234567]
    """
    values = np.asarray(values, dtype=np.float64)
    out = values.copy()
    small = np.abs(values) < 10.0  # NaN and infinities stay as they are
    if small.any():
        uniq, inv = np.unique(values[small], return_inverse=True)
        rounded = np.array([float(Decimal(repr(float(v))).quantize(_Q, context=_CONTEXT)) for v in uniq])
        out[small] = rounded[inv]
    return out


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
    ring = np.asarray(ring, np.float64)
    return _pip_rings(px, py, ring[None])


def _pip_rings(px: np.ndarray, py: np.ndarray, rings: np.ndarray) -> np.ndarray:
    """:func:`pip_postgis` of point ``i`` against ring ``rings[i]`` (or against ``rings[0]`` for every point)."""
    px, py = np.asarray(px, np.float64)[:, None], np.asarray(py, np.float64)[:, None]
    x1, y1, x2, y2 = rings[:, :-1, 0], rings[:, :-1, 1], rings[:, 1:, 0], rings[:, 1:, 1]
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


def _centroid_formula(rings: np.ndarray) -> np.ndarray:
    """GEOS's ``algorithm::Centroid`` of quadrilateral rings ``(n, 5, 2)`` in numpy, operation for operation.

    Triangles fanned from the first vertex (the two degenerate ones add signed zeros), ``cg3 / 3 / areasum2``;
    the ring's orientation flips the signs of both sums only. NaN where a ring has no area.
    """
    x, y = rings[..., 0], rings[..., 1]
    x0, y0 = x[:, 0], y[:, 0]
    a1 = (x[:, 1] - x0) * (y[:, 2] - y0) - (x[:, 2] - x0) * (y[:, 1] - y0)
    a2 = (x[:, 2] - x0) * (y[:, 3] - y0) - (x[:, 3] - x0) * (y[:, 2] - y0)
    cgx = a1 * ((x0 + x[:, 1]) + x[:, 2]) + a2 * ((x0 + x[:, 2]) + x[:, 3])
    cgy = a1 * ((y0 + y[:, 1]) + y[:, 2]) + a2 * ((y0 + y[:, 2]) + y[:, 3])
    s = a1 + a2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((s == 0)[:, None], np.nan, np.column_stack([cgx / 3 / s, cgy / 3 / s]))


def _centres(rings: np.ndarray) -> np.ndarray:
    """GEOS's centroid of each unrounded pixel ring ``(n, 5, 2)``, as ``(n, 2)``.

    :func:`_centroid_formula`, with a few pixels checked against GEOS itself: GEOS computes them all if one
    differs (say, a GEOS built with fused multiply-adds) or if a pixel has no area.
    """
    out = _centroid_formula(rings)
    probe = np.unique(np.linspace(0, len(rings) - 1, 5).astype(np.int64))
    geos = shapely.get_coordinates(shapely.centroid(shapely.polygons(rings[probe])))
    if np.isnan(out).any() or not np.array_equal(geos, out[probe]):
        return shapely.get_coordinates(shapely.centroid(shapely.polygons(rings)))
    return out


def _tree_rank(tree: shapely.STRtree, geoms: np.ndarray) -> np.ndarray:
    """Each geometry's place in the order an STRtree query lists its hits.

    GEOS's STRtree visits nodes depth first, children in order, so every query lists its hits in one fixed order:
    the leaves' order, which a query of the whole extent reveals. Sorting pairs by (pixel, rank) therefore gives the
    order of ``tree.query(pixels)``, on which the float sums (and the unions) of the reductions depend.
    """
    rank = np.full(len(geoms), len(geoms), dtype=np.int64)
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    if np.isfinite([x0, y0, x1, y1]).all():
        order = tree.query(shapely.box(x0, y0, x1, y1))
        rank[order] = np.arange(len(order))
    return rank


def _cell_ranges(lo: np.ndarray, hi: np.ndarray, b0: np.ndarray, b1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For cells ``[lo_i, hi_i]`` monotone in ``i``, the range ``[start, stop)`` of cells with ``lo_i <= b1`` and
    ``hi_i >= b0``, per envelope (NaN bounds: an empty range)."""
    if lo[0] > lo[-1]:  # decreasing: the same question on the negated axis (exact), cells in the same order
        lo, hi, b0, b1 = -hi, -lo, -b1, -b0
    start = np.searchsorted(hi, b0, side="left")
    stop = np.maximum(np.searchsorted(lo, b1, side="right"), start)
    return start, stop


def _envelope_pairs(
    tree: shapely.STRtree, geoms: np.ndarray, types: np.ndarray, rounded: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """(pixel, feature) pairs whose envelopes intersect (closed): a superset of the intersecting pairs.

    On a north-up grid every pixel's envelope is a column's x range times a row's y range, both monotone, and an
    envelope's pairs are the product of a range of columns and a range of rows; a line's pairs are those of its
    segments' envelopes (a line meets a pixel only through a segment), each pair once. Otherwise the features'
    STRtree is queried pixel by pixel.
    """
    x, y = rounded[..., 0], rounded[..., 1]
    xmin, xmax = x.min(axis=1).reshape(height, width), x.max(axis=1).reshape(height, width)
    ymin, ymax = y.min(axis=1).reshape(height, width), y.max(axis=1).reshape(height, width)
    cx0, cx1, ry0, ry1 = xmin[0], xmax[0], ymin[:, 0], ymax[:, 0]
    separable = (
        (xmin == cx0).all()
        and (xmax == cx1).all()
        and (ymin == ry0[:, None]).all()
        and (ymax == ry1[:, None]).all()
        and all(_monotone(a) for a in (cx0, cx1, ry0, ry1))
        and (np.diff(cx0) >= 0).all() == (np.diff(cx1) >= 0).all()
        and (np.diff(ry0) >= 0).all() == (np.diff(ry1) >= 0).all()
    )
    if not separable:
        return tree.query(shapely.box(xmin.ravel(), ymin.ravel(), xmax.ravel(), ymax.ravel()))
    bounds = shapely.bounds(geoms)  # NaN for an empty geometry: no pair
    owner = np.arange(len(geoms))
    linear = np.isin(types, _LINEAR)
    if linear.any():
        lin = np.nonzero(linear)[0]
        parts, part_of = shapely.get_parts(geoms[lin], return_index=True)
        xy, vertex_of = shapely.get_coordinates(parts, return_index=True)
        seg = vertex_of[1:] == vertex_of[:-1]
        a, b = xy[:-1][seg], xy[1:][seg]
        bounds = np.concatenate([bounds[~linear], np.column_stack([np.minimum(a, b), np.maximum(a, b)])])
        owner = np.concatenate([owner[~linear], lin[part_of[vertex_of[:-1][seg]]]])
    c0, c1 = _cell_ranges(cx0, cx1, bounds[:, 0], bounds[:, 2])
    r0, r1 = _cell_ranges(ry0, ry1, bounds[:, 1], bounds[:, 3])
    ncol = c1 - c0
    count = ncol * (r1 - r0)
    item = np.repeat(np.arange(len(bounds)), count)
    within = np.arange(len(item)) - np.repeat(np.cumsum(count) - count, count)
    k = (r0[item] + within // ncol[item]) * width + c0[item] + within % ncol[item]
    f = owner[item]
    if linear.any():
        key = np.unique(k * len(geoms) + f)
        k, f = np.divmod(key, len(geoms))
    return k, f


def _monotone(a: np.ndarray) -> bool:
    d = np.diff(a)
    return bool((d >= 0).all() or (d <= 0).all())


def _pixel_candidates(
    geoms: np.ndarray,
    types: np.ndarray,
    rank: np.ndarray,
    tree: shapely.STRtree,
    rounded: np.ndarray,
    width: int,
    height: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(pixel, feature) pairs where the feature intersects the closed pixel polygon (PostGIS rules).

    Returns the pixels, the features, whether the feature covers the pixel (then the pixel is its own
    intersection), and the pixel polygons of the pixels with an envelope pair (None elsewhere). The pairs come in
    the order the original ``tree.query(pixels, predicate="intersects")`` gave, points appended after.
    """
    size = width * height
    ek, ef = _envelope_pairs(tree, geoms, types, rounded, width, height)
    pix = np.empty(size, dtype=object)
    need = np.unique(ek)
    pix[need] = shapely.polygons(rounded[need])
    puntal = np.isin(types[ef], _PUNTAL)
    # points against the pixel polygon: PostGIS's winding test on the pixel ring
    pk, pf = ek[puntal], ef[puntal]
    if len(pk):
        pts, owner = shapely.get_parts(geoms[pf], return_index=True)
        full = ~shapely.is_empty(pts)
        pts, owner = pts[full], owner[full]
        xy = shapely.get_coordinates(pts)
        hit = _pip_rings(xy[:, 0], xy[:, 1], rounded[pk[owner]]) >= 0
        keep = np.zeros(len(pk), dtype=bool)
        keep[owner[hit]] = True
        pk, pf = pk[keep], pf[keep]
    # the others: the GEOS predicates the original tree queries ran, so that every near-degenerate contact is
    # decided the same way: the pixel polygon prepared and asked whether it intersects the geometry (what
    # ``STRtree.query(pixels, predicate="intersects")`` does), then the unprepared ``covers(geometry, pixel)``
    # (prepared covers, for one, can disagree with it when edges are nearly collinear)
    ok, of = ek[~puntal], ef[~puntal]
    shapely.prepare(pix[need])
    hit = shapely.intersects(pix[ok], geoms[of])
    inside = np.zeros(len(ok), dtype=bool)
    areal = hit & np.isin(types[of], _AREAL)
    inside[areal] = shapely.covers(geoms[of[areal]], pix[ok[areal]])
    k = np.concatenate([ok[hit], pk])
    f = np.concatenate([of[hit], pf])
    inside = np.concatenate([inside[hit], np.zeros(len(pk), dtype=bool)])
    order = np.lexsort((rank[f], k, np.arange(len(k)) >= hit.sum()))
    return k[order], f[order], inside[order], pix


def _centre_candidates_fast(
    geoms: np.ndarray,
    types: np.ndarray,
    rank: np.ndarray,
    k: np.ndarray,
    f: np.ndarray,
    inside: np.ndarray,
    centres: np.ndarray,
    tol: float,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_centre_candidates` from the pixel candidates, when ``tol`` is far below the centre's distance to its
    pixel's edges.

    A feature that misses the pixel misses its centre by more than ``tol``; one that covers the pixel holds its
    centre more than ``tol`` away from its boundary. Only the others are asked, as the tree queries did (GEOS's
    prepared point, or PostGIS's winding test within ``tol`` of a polygon's boundary), and the hits come in the
    same order as :func:`_centre_candidates` gives them: GEOS's in the tree's order, then the winding test's.
    """
    hit = inside.copy()
    ask = np.nonzero(~inside)[0]
    pixels, at = np.unique(k[ask], return_inverse=True)
    points = shapely.points(centres[pixels])
    near = np.zeros(len(k), dtype=bool)
    poly = np.isin(types[f[ask]], _POLYGONAL)
    if poly.any():
        # the original asked only the polygons whose envelope holds the centre (its tree query): a centre 1e-15
        # outside a vertex is not "near" it; then ``dwithin`` with unprepared points
        ap, ip = ask[poly], at[poly]
        b = shapely.bounds(geoms[f[ap]])
        cx, cy = centres[pixels[ip], 0], centres[pixels[ip], 1]
        held = (b[:, 0] <= cx) & (cx <= b[:, 2]) & (b[:, 1] <= cy) & (cy <= b[:, 3])
        ap, ip = ap[held], ip[held]
        feats = np.unique(f[ap])
        boundary = np.empty(len(geoms), dtype=object)
        boundary[feats] = shapely.boundary(geoms[feats])
        near[ap[shapely.dwithin(points[ip], boundary[f[ap]], tol)]] = True
    shapely.prepare(points)  # GEOS's prepared point, as ``STRtree.query(centres, predicate="intersects")``
    hit[ask] = shapely.intersects(points[at], geoms[f[ask]])
    an = np.nonzero(near)[0]
    hit[an] = [
        _point_touches_polygonal(centres[i, 0], centres[i, 1], geoms[j]) for i, j in zip(k[an], f[an], strict=True)
    ]
    order = np.lexsort((rank[f], k, near))
    order = order[hit[order]]
    return k[order], f[order]


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


def _centre_margin(transform: Affine) -> float:
    """Distance from a pixel's centre to its nearest edge."""
    sx, kx, _, ky, sy, _ = (float(v) for v in tuple(transform)[:6])
    return abs(sx * sy - kx * ky) / (2.0 * max(math.hypot(sx, ky), math.hypot(kx, sy)))


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

    Returns
    -------
    dict
        One array per method. After the early exit the arrays are read-only and shared between methods.
    """
    size = width * height
    geoms = np.asarray(geoms, dtype=object)
    value = np.asarray(value, dtype=np.float64)
    hull = _hull(transform, width, height)
    touching = shapely.intersects(geoms, shapely.polygons(hull)) if len(geoms) else np.zeros(0, dtype=bool)
    if not touching.any():  # one read-only array per result, shared by the methods
        zero, nodata = np.zeros(size), np.full(size, np.nan)
        zero.flags.writeable = nodata.flags.writeable = False
        return {m: zero if m.startswith("COUNT_") or m in _ZERO_WHEN_EARLY_EXIT else nodata for m in methods}
    tree = shapely.STRtree(geoms)
    types = shapely.get_type_id(geoms)
    rank = _tree_rank(tree, geoms)
    rings = pixel_rings(transform, width, height)[0]
    rounded = round15(rings)
    k, f, inside, pix = _pixel_candidates(geoms, types, rank, tree, rounded, width, height)
    out: dict[str, np.ndarray] = {}

    if any(m.endswith("_AT_PIXEL_CENTROID") for m in methods):
        centres = round15(_centres(rings))
        scale = float(np.abs(hull).max()) + 1.0
        if 4e-9 * scale < _centre_margin(transform):
            ck, cf = _centre_candidates_fast(geoms, types, rank, k, f, inside, centres, 1e-9 * scale)
        else:
            ck, cf = _centre_candidates(tree, geoms, shapely.points(centres), scale)
        v = value[cf]
        ok = ~np.isnan(v)
        n = np.bincount(ck[ok], minlength=size).astype(np.float64)
        s = np.bincount(ck[ok], weights=v[ok], minlength=size)
        if "COUNT_OF_VALUES_AT_PIXEL_CENTROID" in methods:
            out["COUNT_OF_VALUES_AT_PIXEL_CENTROID"] = n
        if "MEAN_OF_VALUES_AT_PIXEL_CENTROID" in methods:
            with np.errstate(invalid="ignore", divide="ignore"):
                out["MEAN_OF_VALUES_AT_PIXEL_CENTROID"] = np.where(n > 0, s / np.maximum(n, 1), np.nan)
    rest = [m for m in methods if not m.endswith("_AT_PIXEL_CENTROID")]
    if not rest:
        return out

    has = np.bincount(k, minlength=size) > 0
    ft = types[f]
    v = value[f]
    # measures of ST_Intersection(geom, pixel), for the pairs some method reads: a pixel inside a polygon is its
    # own intersection; points meet a pixel in points (no area, no length), lines in lines (no area)
    pieces = np.empty(len(k), dtype=object)
    pieces[inside] = pix[k[inside]]
    puntal = np.isin(ft, _PUNTAL)
    cut = np.zeros(len(k), dtype=bool)
    if any(m in _AREA_METHODS for m in rest):
        cut |= np.isin(ft, _AREAL)
    if "SUM_OF_LENGTHS" in rest:
        cut |= ~puntal
    if "COUNT_OF_LINESTRINGS" in rest:
        cut |= np.isin(ft, _LINEAR)
    cut &= ~inside
    pieces[cut] = shapely.intersection(geoms[f[cut]], pix[k[cut]])
    pixarea = np.ones(size)
    with_pix = np.nonzero(has)[0]
    pixarea[with_pix] = shapely.area(pix[with_pix])
    area = np.zeros(len(k))
    area[inside] = pixarea[k[inside]]
    area[cut] = shapely.area(pieces[cut])
    length = np.zeros(len(k))
    if "SUM_OF_LENGTHS" in rest or "COUNT_OF_LINESTRINGS" in rest:
        length[cut] = _linear_length(pieces[cut])

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(k[mask], minlength=size).astype(np.float64)

    for m in rest:
        if m == "COUNT_OF_POLYGONS":
            out[m] = count(np.isin(ft, _POLYGONAL) & (area > _THRESHOLD))
        elif m == "COUNT_OF_LINESTRINGS":
            out[m] = count(np.isin(ft, _LINEAR) & (length > _THRESHOLD))
        elif m == "COUNT_OF_POINTS":
            out[m] = count(puntal)
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
            out[m] = np.where(has, np.bincount(k, weights=length, minlength=size), np.nan)
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
    """Area of the union of the pieces of each pixel (GEOS union where a pixel has several pieces).

    One ``union_all`` per pixel, in the pieces' order, batched over the pixels with as many pieces (a row's
    missing entries would be skipped, but every row is full).
    """
    with_area = area > 0
    kk, pp, aa = k[with_area], pieces[with_area], area[with_area]
    n = np.bincount(kk, minlength=size)
    res = np.bincount(kk, weights=aa, minlength=size)
    multi = n[kk] > 1
    if multi.any():
        ks, ps = kk[multi], pp[multi]
        order = np.argsort(ks, kind="stable")
        ks, ps = ks[order], ps[order]
        starts = np.nonzero(np.r_[True, ks[1:] != ks[:-1]])[0]
        counts = np.diff(np.r_[starts, len(ks)])
        for c in np.unique(counts):
            first = starts[counts == c]
            rows = ps[first[:, None] + np.arange(c)[None]]
            res[ks[first]] = shapely.area(shapely.union_all(rows, axis=1))
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
    fmax = float(np.finfo(np.float32).max)
    over = np.abs(result) > fmax  # NaN is not over
    if over.any():
        big = over & np.isfinite(result)
        if big.any():  # PostgreSQL refuses it too ("value out of range: overflow" casting to real)
            raise ValueRangeError(
                f"a result of {result[big][0]:g} does not fit the float32 that PostGIS's value path goes through; "
                "scale the values down, or use --semantics exact"
            )
    if dtype == np.float32:  # the common band type, in fewer passes
        out = result.astype(np.float32)
        clash = out == np.float32(nodata)
        if clash.any():
            out[clash] = nodata + _FLT_EPSILON if nodata == -fmax else nodata - _FLT_EPSILON
        out[np.isnan(out)] = nodata
        return out
    is_nodata = np.isnan(result)
    res = np.where(is_nodata, 0.0, result).astype(np.float32).astype(np.float64)
    if dtype.kind in "iu":
        res = np.trunc(res)
        info = np.iinfo(dtype)
        clash = res == nodata
        res[clash] = nodata + 1 if nodata == info.min else nodata - 1
        res = np.clip(res, info.min, info.max)
    return np.where(is_nodata, nodata, res).astype(dtype)
