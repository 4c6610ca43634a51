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

from fractions import Fraction

import numpy as np
import shapely

from .edges import parts_of

__all__ = ["line_lengths", "line_segments", "linear_parts", "point_hits", "point_parts", "sum_by_pair"]

_LINE_TYPES = (1, 2)  # LineString, LinearRing
_NEAR = 1e-9  # midpoints this close (in pixels) to a grid line are placed exactly (plus a rounding bound)


Flat = tuple[np.ndarray, np.ndarray, np.ndarray]


def linear_parts(geoms: np.ndarray, index: np.ndarray, flat: Flat | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Single linestrings of each geometry (multi-parts and collections flattened), with the owner's index.
    ``flat``: :func:`~rastercover.kernels.edges.single_parts` of the same ``geoms`` and ``index``, when known."""
    return parts_of(geoms, index, _LINE_TYPES, flat)


def point_parts(geoms: np.ndarray, index: np.ndarray, flat: Flat | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Single points of each geometry, with the owner's index (``flat`` as in :func:`linear_parts`)."""
    return parts_of(geoms, index, (0,), flat)


def line_segments(
    geoms: np.ndarray, index: np.ndarray, flat: Flat | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every segment of the linear parts of ``geoms``: ``x0, y0, x1, y1`` and the owner index.

    Zero-length segments (repeated vertices) are dropped. ``flat`` as in :func:`linear_parts`.
    """
    lines, owner = linear_parts(geoms, index, flat)
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


def _crossings(
    a0: np.ndarray, a1: np.ndarray, t0: np.ndarray, t1: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parameters ``t`` in ``(t0, t1)`` where ``a0 + t (a1 - a0)`` is an integer ``k``: ``t, segment, k``."""
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
    return t[inside], idx[inside], k[inside]


def _exact_t(kind: int, k: float, x0: float, y0: float, x1: float, y1: float) -> Fraction:
    """The exact parameter of a split point: the segment's own (``kind`` 0, ``k`` = t), or where it meets the grid
    line ``x = k`` (``kind`` 1) or ``y = k`` (``kind`` 2)."""
    if kind == 0:
        return Fraction(k)
    a0, a1 = (x0, x1) if kind == 1 else (y0, y1)
    return (Fraction(k) - Fraction(a0)) / (Fraction(a1) - Fraction(a0))


def _exact_cells(x0, y0, x1, y1, ka, va, kb, vb) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``col, row, exists`` of pieces from their split points, in exact rational arithmetic."""
    n = len(x0)
    col, row, ok = np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, dtype=bool)
    for i in range(n):
        seg = (float(x0[i]), float(y0[i]), float(x1[i]), float(y1[i]))
        ta, tb = _exact_t(int(ka[i]), float(va[i]), *seg), _exact_t(int(kb[i]), float(vb[i]), *seg)
        if tb <= ta:  # rounding put the split points in the wrong order: no such piece
            continue
        tm = (ta + tb) / 2
        fx0, fy0 = Fraction(seg[0]), Fraction(seg[1])
        col[i] = (fx0 + tm * (Fraction(seg[2]) - fx0)).__floor__()
        row[i] = (fy0 + tm * (Fraction(seg[3]) - fy0)).__floor__()
        ok[i] = True
    return col, row, ok


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
    # grid pixel coordinates throughout (never translated to the window): a cut point, a piece and its length
    # are the same numbers whatever window holds them
    x0 = np.asarray(x0, f64)
    x1 = np.asarray(x1, f64)
    y0 = np.asarray(y0, f64)
    y1 = np.asarray(y1, f64)
    owner = np.asarray(owner, np.int64)
    # Liang-Barsky: the parameter range of each segment inside the window grown by one pixel on each side. Its
    # ends are the segment's own or its crossings with grid lines, computed as _crossings computes them, so the
    # pieces are the ones any window cuts; a piece belongs to the pixel holding its midpoint, which rounding may put
    # across the line the piece ends on: the margin keeps such pieces, and only the window's own pixels are kept.
    # Each split point keeps its kind (0: the segment's end, value t; 1 / 2: the grid line x / y = value).
    n = len(x0)
    t0, k0, v0 = np.zeros(n), np.zeros(n, np.int8), np.zeros(n)
    t1, k1, v1 = np.ones(n), np.zeros(n, np.int8), np.ones(n)
    out = np.zeros(n, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        for kind, p0, p1, lo, hi in (
            (1, x0, x1, col_off - 1, col_off + width + 1),
            (2, y0, y1, row_off - 1, row_off + height + 1),
        ):
            d = p1 - p0
            ta = np.where(d != 0, (lo - p0) / d, -np.inf)
            tb = np.where(d != 0, (hi - p0) / d, np.inf)
            enter = np.where(d > 0, ta, np.where(d < 0, tb, -np.inf))  # the line crossed first, and last
            leave = np.where(d > 0, tb, np.where(d < 0, ta, np.inf))
            out |= (d == 0) & ((p0 < lo) | (p0 > hi))
            later = enter > t0
            t0, k0, v0 = (
                np.where(later, enter, t0),
                np.where(later, kind, k0),
                np.where(later, np.where(d > 0, lo, hi), v0),
            )
            sooner = leave < t1
            t1, k1, v1 = (
                np.where(sooner, leave, t1),
                np.where(sooner, kind, k1),
                np.where(sooner, np.where(d > 0, hi, lo), v1),
            )
    keep = (t1 > t0) & ~out
    x0, y0, x1, y1, owner, t0, t1, k0, v0, k1, v1 = (v[keep] for v in (x0, y0, x1, y1, owner, t0, t1, k0, v0, k1, v1))
    tx, ix, kx = _crossings(x0, x1, t0, t1)
    ty, iy, ky = _crossings(y0, y1, t0, t1)
    n = len(x0)
    seg = np.concatenate([np.arange(n), np.arange(n), ix, iy])
    t = np.concatenate([t0, t1, tx, ty])
    kind = np.concatenate([k0, k1, np.full(len(tx), 1, np.int8), np.full(len(ty), 2, np.int8)])
    value = np.concatenate([v0, v1, kx.astype(f64), ky.astype(f64)])
    order = np.lexsort((t, seg))
    seg, t, kind, value = seg[order], t[order], kind[order], value[order]
    same = seg[1:] == seg[:-1]
    s = seg[:-1][same]
    ta, tb = t[:-1][same], t[1:][same]
    ka, va, kb, vb = kind[:-1][same], value[:-1][same], kind[1:][same], value[1:][same]
    piece = tb > ta
    s, ta, tb, ka, va, kb, vb = (v[piece] for v in (s, ta, tb, ka, va, kb, vb))
    tm = 0.5 * (ta + tb)
    dx, dy = x1 - x0, y1 - y0
    mx = x0[s] + tm * dx[s]
    my = y0[s] + tm * dy[s]
    col = np.floor(mx).astype(np.int64)
    row = np.floor(my).astype(np.int64)
    # a midpoint within rounding of a grid line (a piece at a pixel corner, a line along a pixel side) is placed
    # in exact arithmetic, as GEOS's predicates decide whether the line meets the pixel
    tol_x = _NEAR + 1e-14 * (np.abs(x0[s]) + np.abs(dx[s]))
    tol_y = _NEAR + 1e-14 * (np.abs(y0[s]) + np.abs(dy[s]))
    near = ((dx[s] != 0) & (np.abs(mx - np.round(mx)) < tol_x)) | ((dy[s] != 0) & (np.abs(my - np.round(my)) < tol_y))
    if near.any():
        i = np.nonzero(near)[0]
        j = s[i]
        ec, er, ok = _exact_cells(x0[j], y0[j], x1[j], y1[j], ka[i], va[i], kb[i], vb[i])
        col[i], row[i] = ec, er
        col[i[~ok]] = np.iinfo(np.int64).min // 2  # no piece: outside every window
    col -= col_off
    row -= row_off
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
    span = int(pixel.max()) + 1
    if pixel.min() >= 0 and owner.min() >= 0 and int(owner.max()) < (1 << 62) // span:
        # one stable sort of one key: the order of lexsort((pixel, owner)), in half its time
        order = np.argsort(owner.astype(np.int64) * span + pixel, kind="stable")
    else:
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
