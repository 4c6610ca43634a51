"""Polygon edges as flat arrays, the input of the scanline kernels.

Examples
--------
>>> import shapely, numpy as np
>>> x0, y0, x1, y1, feat = polygon_edges(np.array([shapely.box(0, 0, 2, 1)]), np.array([7]))
>>> len(x0), set(feat.tolist())
(4, {7})
"""

from __future__ import annotations

import numpy as np
import shapely

__all__ = ["parts_of", "polygon_edges", "polygon_rings", "polygonal_parts", "single_parts"]

_POLYGON = 3
_COLLECTIONS = (4, 5, 6, 7)  # MultiPoint, MultiLineString, MultiPolygon, GeometryCollection


def single_parts(geoms: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every non-empty single part of ``geoms`` (multi-parts and collections flattened) with its owner's index and
    GEOS type id, sorted by owner (stable). Flatten once, then take each kind's parts with :func:`parts_of`."""
    parts, which = np.asarray(geoms, dtype=object), np.asarray(index)
    while True:
        tid = shapely.get_type_id(parts)
        nested = np.isin(tid, _COLLECTIONS)
        if not nested.any():
            break
        sub, pos = shapely.get_parts(parts[nested], return_index=True)
        parts = np.concatenate([parts[~nested], sub])
        which = np.concatenate([which[~nested], which[nested][pos]])
    keep = ~shapely.is_empty(parts)
    parts, which, tid = parts[keep], which[keep], tid[keep]
    order = np.argsort(which, kind="stable")
    return parts[order], which[order], tid[order]


def parts_of(
    geoms: np.ndarray,
    index: np.ndarray,
    types: tuple[int, ...],
    flat: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Single parts of ``geoms`` whose GEOS type id is in ``types`` (multi-parts and collections flattened,
    empty parts dropped), with their owner's index, sorted by owner. ``flat``: :func:`single_parts` of the same
    ``geoms`` and ``index``, when known."""
    parts, which, tid = single_parts(geoms, index) if flat is None else flat
    keep = np.isin(tid, types)
    return parts[keep], which[keep]


def polygonal_parts(
    geoms: np.ndarray, index: np.ndarray, flat: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Single polygons of each geometry (multi-parts and collections flattened), with their owner's index.

    Lines and points are dropped: they have no interior. Empty polygons are dropped.
    """
    return parts_of(geoms, index, (_POLYGON,), flat)


def polygon_rings(polys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(coords, ring_offsets, poly_offsets)`` of Polygons, as ``shapely.to_ragged_array`` gives them: the (x, y)
    of every ring (closed), rings in order (exterior first), and the offsets of each ring's coordinates and each
    polygon's rings.

    Without copying a ring: ``to_ragged_array`` takes every polygon apart into ring geometries first (4.5 ms of
    the 5.5 ms this takes it for the 2800 polygons of a benchmark block), here only polygons with holes are.

    Examples
    --------
    >>> coords, rings, polys = polygon_rings(np.array([shapely.box(0, 0, 1, 1), shapely.box(0, 0, 3, 3).difference(
    ...     shapely.box(1, 1, 2, 2))]))
    >>> rings.tolist(), polys.tolist()
    ([0, 5, 10, 15], [0, 1, 3])
    """
    coords = shapely.get_coordinates(polys)
    holes = shapely.get_num_interior_rings(polys)
    n_rings = np.where(shapely.is_empty(polys), 0, holes + 1)
    poly_offsets = np.zeros(len(polys) + 1, dtype=np.int64)
    np.cumsum(n_rings, out=poly_offsets[1:])
    sizes = np.zeros(int(poly_offsets[-1]), dtype=np.int64)
    plain = n_rings == 1
    sizes[poly_offsets[:-1][plain]] = shapely.get_num_coordinates(polys[plain])
    holey = n_rings > 1
    if holey.any():
        rings = shapely.get_rings(polys[holey])  # exterior, then holes, polygon by polygon
        first = np.repeat(poly_offsets[:-1][holey], n_rings[holey])
        within = np.arange(len(first)) - np.repeat(np.cumsum(n_rings[holey]) - n_rings[holey], n_rings[holey])
        sizes[first + within] = shapely.get_num_coordinates(rings)
    ring_offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=ring_offsets[1:])
    return coords, ring_offsets, poly_offsets


def polygon_edges(
    geoms: np.ndarray, index: np.ndarray, flat: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every ring edge of the polygonal parts of ``geoms``: ``x0, y0, x1, y1`` and the owner index.

    Rings are closed, so each ring contributes as many edges as it has vertices minus one. Rings are oriented
    (exteriors counter-clockwise, holes clockwise), so the non-zero winding rule fills the union of a
    feature's polygons even where they overlap (a valid GeometryCollection may hold overlapping polygons).
    ``flat``: :func:`single_parts` of the same ``geoms`` and ``index``, when known.
    """
    polys, owner = polygonal_parts(geoms, index, flat)
    polys = shapely.orient_polygons(polys)
    if len(polys) == 0:
        empty = np.empty(0)
        return empty, empty, empty, empty, np.empty(0, dtype=np.int64)
    coords, ring_offsets, poly_offsets = polygon_rings(polys)
    n_rings_per_poly = np.diff(poly_offsets)
    ring_owner = np.repeat(owner, n_rings_per_poly)
    ring_len = np.diff(ring_offsets)
    coord_owner = np.repeat(ring_owner, ring_len)
    valid = np.ones(len(coords) - 1, dtype=bool)
    valid[ring_offsets[1:-1] - 1] = False  # the step from a ring's last vertex to the next ring's first
    x, y = coords[:, 0], coords[:, 1]
    return x[:-1][valid], y[:-1][valid], x[1:][valid], y[1:][valid], coord_owner[:-1][valid].astype(np.int64)
