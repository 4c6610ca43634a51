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

__all__ = ["parts_of", "polygon_edges", "polygonal_parts"]

_POLYGON = 3
_COLLECTIONS = (4, 5, 6, 7)  # MultiPoint, MultiLineString, MultiPolygon, GeometryCollection


def parts_of(geoms: np.ndarray, index: np.ndarray, types: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Single parts of ``geoms`` whose GEOS type id is in ``types`` (multi-parts and collections flattened,
    empty parts dropped), with their owner's index, sorted by owner."""
    parts, which = np.asarray(geoms, dtype=object), np.asarray(index)
    while True:
        tid = shapely.get_type_id(parts)
        nested = np.isin(tid, _COLLECTIONS)
        if not nested.any():
            break
        sub, pos = shapely.get_parts(parts[nested], return_index=True)
        parts = np.concatenate([parts[~nested], sub])
        which = np.concatenate([which[~nested], which[nested][pos]])
    keep = np.isin(shapely.get_type_id(parts), types) & ~shapely.is_empty(parts)
    parts, which = parts[keep], which[keep]
    order = np.argsort(which, kind="stable")
    return parts[order], which[order]


def polygonal_parts(geoms: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Single polygons of each geometry (multi-parts and collections flattened), with their owner's index.

    Lines and points are dropped: they have no interior. Empty polygons are dropped.
    """
    return parts_of(geoms, index, (_POLYGON,))


def polygon_edges(
    geoms: np.ndarray, index: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every ring edge of the polygonal parts of ``geoms``: ``x0, y0, x1, y1`` and the owner index.

    Rings are closed, so each ring contributes as many edges as it has vertices minus one. Rings are oriented
    (exteriors counter-clockwise, holes clockwise), so the non-zero winding rule fills the union of a
    feature's polygons even where they overlap (a valid GeometryCollection may hold overlapping polygons).
    """
    polys, owner = polygonal_parts(geoms, index)
    polys = shapely.orient_polygons(polys)
    if len(polys) == 0:
        empty = np.empty(0)
        return empty, empty, empty, empty, np.empty(0, dtype=np.int64)
    _, coords, (ring_offsets, poly_offsets) = shapely.to_ragged_array(polys, include_z=False)
    n_rings_per_poly = np.diff(poly_offsets)
    ring_owner = np.repeat(owner, n_rings_per_poly)
    ring_len = np.diff(ring_offsets)
    coord_owner = np.repeat(ring_owner, ring_len)
    valid = np.ones(len(coords) - 1, dtype=bool)
    valid[ring_offsets[1:-1] - 1] = False  # the step from a ring's last vertex to the next ring's first
    x, y = coords[:, 0], coords[:, 1]
    return x[:-1][valid], y[:-1][valid], x[1:][valid], y[1:][valid], coord_owner[:-1][valid].astype(np.int64)
