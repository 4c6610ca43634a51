"""Owned line length and owned points per (pixel, feature) (spec section 2, ownership rule).

Pixel ``(r, c)`` owns the half-open square ``[c, c + 1) x [r, r + 1)`` of pixel space, so a point, or a
piece of line lying exactly on a pixel edge, belongs to exactly one pixel: the one whose cell holds it with
``floor``. Segments are cut at every column and row boundary they cross; each piece is given to the pixel
that owns its midpoint, and its length is its share of the segment's *map-space* length (the linear part of
the grid's transform applied to the segment vector), so the lengths of a line's pieces add up to its length.

Examples
--------
>>> import numpy as np, shapely
>>> segs = line_segments(np.array([shapely.LineString([(0.5, 0.5), (2.5, 0.5)])]), np.array([0]))
>>> pixel, feature, length = line_lengths(*segs, height=1, width=3, linear=(2.0, 0.0, 0.0, -2.0))
>>> pixel.tolist(), length.tolist()
([0, 1, 2], [1.0, 2.0, 1.0])
"""

from __future__ import annotations

import numpy as np
import shapely

from .edges import parts_of

__all__ = ["line_lengths", "line_segments", "linear_parts", "point_hits", "point_parts", "sum_by_pair"]

_LINE_TYPES = (1, 2)  # LineString, LinearRing


def linear_parts(geoms: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Single linestrings of each geometry (multi-parts and collections flattened), with the owner's index."""
    return parts_of(geoms, index, _LINE_TYPES)


def point_parts(geoms: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Single points of each geometry, with the owner's index."""
    return parts_of(geoms, index, (0,))


def line_segments(
    geoms: np.ndarray, index: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every segment of the linear parts of ``geoms``: ``x0, y0, x1, y1`` and the owner index.

    Zero-length segments (repeated vertices) are dropped.
    """
    lines, owner = linear_parts(geoms, index)
    if len(lines) == 0:
        e = np.empty(0)
        return e, e, e, e, np.empty(0, dtype=np.int64)
    coords, which = shapely.get_coordinates(lines, return_index=True)
    same = which[1:] == which[:-1]
    x, y = coords[:, 0], coords[:, 1]
    x0, y0, x1, y1 = x[:-1][same], y[:-1][same], x[1:][same], y[1:][same]
    seg_owner = owner[which[:-1][same]].astype(np.int64)
    keep = (x0 != x1) | (y0 != y1)
    return x0[keep], y0[keep], x1[keep], y1[keep], seg_owner[keep]


def _crossings(a0: np.ndarray, a1: np.ndarray, t0: np.ndarray, t1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parameters ``t`` in ``(t0, t1)`` where ``a0 + t (a1 - a0)`` is an integer, with their segment index."""
    da = a1 - a0
    lo = a0 + t0 * da
    hi = a0 + t1 * da
    amin, amax = np.minimum(lo, hi), np.maximum(lo, hi)
    first = np.floor(amin).astype(np.int64) + 1
    last = np.ceil(amax).astype(np.int64) - 1
    n = np.where(da != 0, np.maximum(last - first + 1, 0), 0)
    idx = np.repeat(np.arange(len(n)), n)
    start = np.repeat(np.cumsum(n) - n, n)
    k = first[idx] + (np.arange(len(idx)) - start)
    t = (k - a0[idx]) / da[idx]
    inside = (t > t0[idx]) & (t < t1[idx])
    return t[inside], idx[inside]


def line_lengths(
    x0: np.ndarray,
    y0: np.ndarray,
    x1: np.ndarray,
    y1: np.ndarray,
    owner: np.ndarray,
    *,
    height: int,
    width: int,
    row_off: int = 0,
    col_off: int = 0,
    linear: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 1.0),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map-space length of each owner's segments owned by each pixel of a window.

    Parameters
    ----------
    x0, y0, x1, y1, owner
        Segments in the grid's pixel space (:func:`line_segments`).
    height, width, row_off, col_off
        The window.
    linear
        ``(a, b, d, e)``, the linear part of the grid's transform (``x = a·col + b·row + c``,
        ``y = d·col + e·row + f``); lengths are measured in map units through it.

    Returns
    -------
    pixel, owner, length
        One entry per (pixel, owner) with a positive owned length, sorted by owner then pixel.
    """
    f64 = np.float64
    x0 = np.asarray(x0, f64) - col_off
    x1 = np.asarray(x1, f64) - col_off
    y0 = np.asarray(y0, f64) - row_off
    y1 = np.asarray(y1, f64) - row_off
    owner = np.asarray(owner, np.int64)
    # Liang-Barsky: the parameter range of each segment inside the closed window
    t0 = np.zeros(len(x0))
    t1 = np.ones(len(x0))
    with np.errstate(divide="ignore", invalid="ignore"):
        for p0, p1, hi in ((x0, x1, width), (y0, y1, height)):
            d = p1 - p0
            ta = np.where(d != 0, (0.0 - p0) / d, -np.inf)
            tb = np.where(d != 0, (hi - p0) / d, np.inf)
            lo_t, hi_t = np.minimum(ta, tb), np.maximum(ta, tb)
            out = (d == 0) & ((p0 < 0) | (p0 > hi))
            t0 = np.maximum(t0, lo_t)
            t1 = np.where(out, -1.0, np.minimum(t1, hi_t))
    keep = t1 > t0
    x0, y0, x1, y1, owner, t0, t1 = (v[keep] for v in (x0, y0, x1, y1, owner, t0, t1))
    tx, ix = _crossings(x0, x1, t0, t1)
    ty, iy = _crossings(y0, y1, t0, t1)
    seg = np.concatenate([np.arange(len(x0)), np.arange(len(x0)), ix, iy])
    t = np.concatenate([t0, t1, tx, ty])
    order = np.lexsort((t, seg))
    seg, t = seg[order], t[order]
    same = seg[1:] == seg[:-1]
    s = seg[:-1][same]
    ta, tb = t[:-1][same], t[1:][same]
    piece = tb > ta
    s, ta, tb = s[piece], ta[piece], tb[piece]
    tm = 0.5 * (ta + tb)
    dx, dy = x1 - x0, y1 - y0
    col = np.floor(x0[s] + tm * dx[s]).astype(np.int64)
    row = np.floor(y0[s] + tm * dy[s]).astype(np.int64)
    a, b, d, e = linear
    seg_len = np.hypot(a * dx + b * dy, d * dx + e * dy)
    length = (tb - ta) * seg_len[s]
    inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
    pixel = row[inside] * width + col[inside]
    own = owner[s[inside]]
    return sum_by_pair(pixel, own, length[inside])


def sum_by_pair(pixel: np.ndarray, owner: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One entry per (pixel, owner): the summed weights, sorted by owner then pixel."""
    if len(pixel) == 0:
        return pixel.astype(np.int64), owner.astype(np.int64), weight.astype(np.float64)
    order = np.lexsort((pixel, owner))
    p, o, w = pixel[order], owner[order], weight[order]
    new = np.ones(len(p), dtype=bool)
    new[1:] = (p[1:] != p[:-1]) | (o[1:] != o[:-1])
    starts = np.nonzero(new)[0]
    return p[starts], o[starts], np.add.reduceat(w, starts)


def point_hits(
    x: np.ndarray,
    y: np.ndarray,
    owner: np.ndarray,
    *,
    height: int,
    width: int,
    row_off: int = 0,
    col_off: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels owning each owner's points: ``pixel, owner, members`` (number of the owner's points there).

    Examples
    --------
    >>> point_hits(np.array([1.0, 0.5, 1.5]), np.array([0.0, 0.5, 0.2]), np.array([0, 1, 1]),
    ...            height=1, width=2)
    (array([1, 0, 1]), array([0, 1, 1]), array([1., 1., 1.]))
    """
    col = np.floor(np.asarray(x, np.float64)).astype(np.int64) - col_off
    row = np.floor(np.asarray(y, np.float64)).astype(np.int64) - row_off
    inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
    pixel = row[inside] * width + col[inside]
    return sum_by_pair(pixel, np.asarray(owner, np.int64)[inside], np.ones(int(inside.sum())))
