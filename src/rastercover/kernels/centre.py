"""Centre hits: which pixel centres lie inside which polygon (spec, section 2, centre rule).

Pixel ``(r, c)`` has its centre at ``(c + 0.5, r + 0.5)`` in pixel space. A centre on a polygon boundary
is decided by symbolic perturbation: the test point is ``(c + 0.5 - ε, r + 0.5 - ε²)``. On a scanline
``y = r + 0.5`` that gives two exact rules, evaluated here with integers only:

* an edge crosses the scanline when ``y_lo < r + 0.5 <= y_hi`` (horizontal edges never cross);
* a crossing at ``x`` lies at or right of the centres ``c <= floor(x - 0.5)``.

The centre is inside when the crossings at or right of it have a non-zero winding number (their directions,
up or down, do not cancel out): with consistently oriented rings this fills the union of a feature's
polygons, overlapping or not, and equals the even-odd rule on a valid polygon.
``floor(x - 0.5)`` is computed in double precision and, where the
crossing falls within a hair of a pixel centre, recomputed exactly in rational arithmetic, so a vertex or an
edge through a centre is decided exactly, not by rounding.

Examples
--------
>>> import shapely, numpy as np
>>> from rastercover.kernels.edges import polygon_edges
>>> edges = polygon_edges(np.array([shapely.box(0.5, 0.5, 2.5, 1.5)]), np.array([0]))
>>> pixel, feature = centre_hits(*edges, height=2, width=3)
>>> pixel.tolist()  # centre (0.5, 0.5) is on the left/top edges: out; (1.5, 0.5) top edge: out
[4, 5]
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

__all__ = ["centre_hits", "scanline_crossings"]

_NEAR = 1e-9  # crossings this close (in pixels) to a centre are recomputed exactly (plus rounding bound)


def _floor_exact(x0: float, y0: float, x1: float, y1: float, row: int) -> int:
    """``floor(x - 0.5)`` of the exact crossing of segment (x0,y0)-(x1,y1) with ``y = row + 0.5``."""
    fx0, fy0 = Fraction(x0), Fraction(y0)
    yc = Fraction(2 * row + 1, 2)
    x = fx0 + (yc - fy0) * (Fraction(x1) - fx0) / (Fraction(y1) - fy0)
    return int((x - Fraction(1, 2)).__floor__())


def scanline_crossings(
    x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray, height: int, row_off: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crossings of edges with the pixel-centre scanlines ``y = r + 0.5``, ``row_off <= r < row_off + height``.

    Returns ``(edge, row, k)``: for each crossing the edge index, the row, and ``k = floor(x - 0.5)``,
    the last column whose centre lies at or left of the crossing.
    """
    dy = y1 - y0
    ylo = np.minimum(y0, y1)
    yhi = np.maximum(y0, y1)
    with np.errstate(invalid="ignore"):
        r0 = np.floor(ylo - 0.5) + 1
        r1 = np.floor(yhi - 0.5)
    np.maximum(r0, row_off, out=r0)
    np.minimum(r1, row_off + height - 1, out=r1)
    n = r1 - r0 + 1
    sel = np.nonzero((n > 0) & (dy != 0))[0]
    if len(sel) == 0:
        e = np.empty(0, dtype=np.int64)
        return e, e, e
    n = n[sel].astype(np.int64)
    edge = np.repeat(sel, n)
    starts = np.cumsum(n) - n
    row = r0[sel].astype(np.int64)[np.repeat(np.arange(len(sel)), n)] + (
        np.arange(len(edge), dtype=np.int64) - np.repeat(starts, n)
    )
    ex0, ey0, ex1 = x0[edge], y0[edge], x1[edge]
    edy = dy[edge]
    dx = ex1 - ex0
    x = ex0 + ((row + 0.5) - ey0) * dx / edy
    t = x - 0.5
    k = np.floor(t)
    frac = t - k
    # a generous bound on the rounding error of x, which grows with the size of the operands
    slope = np.abs(dx / edy)
    tol = _NEAR + 1e-14 * (np.abs(ex0) + np.abs(ex1) + (np.abs(row + 0.5) + np.abs(ey0)) * slope)
    near = ((frac < tol) | (frac > 1 - tol)) & (dx != 0)
    if near.any():
        for i in np.nonzero(near)[0]:
            e = edge[i]
            k[i] = _floor_exact(float(x0[e]), float(y0[e]), float(x1[e]), float(y1[e]), int(row[i]))
    return edge, row, k.astype(np.int64)


def centre_hits(
    x0: np.ndarray,
    y0: np.ndarray,
    x1: np.ndarray,
    y1: np.ndarray,
    feature: np.ndarray,
    *,
    height: int,
    width: int,
    row_off: int = 0,
    col_off: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of a ``height x width`` block whose centre lies inside each feature's polygons.

    Parameters
    ----------
    x0, y0, x1, y1
        Polygon ring edges in the grid's pixel space (see :func:`polygon_edges`).
    feature
        Owner of each edge (non-negative integers); the rings of one owner are filled together.
    height, width
        Block size in pixels.
    row_off, col_off
        The block's first row and column in the grid. Coordinates stay in grid pixel space and the offsets
        are applied to integer results only, so no decision depends on how the grid is cut into blocks.

    Returns
    -------
    pixel, feature
        One entry per (pixel, feature) hit; ``pixel = row * width + col``. Sorted by feature, then pixel.
    """
    edge, row, k = scanline_crossings(x0, y0, x1, y1, height, row_off)
    if len(edge) == 0:
        e = np.empty(0, dtype=np.int64)
        return e, e
    row -= row_off
    k -= col_off
    np.clip(k, -1, width - 1, out=k)  # outside the block only the side matters
    stride = width + 1
    up = y1[edge] > y0[edge]
    key = ((feature[edge].astype(np.int64) * height + row) * stride + (k + 1)) * 2 + up
    key.sort()
    # winding number left of each crossing: the running sum of directions resets to 0 at each (feature, row)
    # because every closed ring crosses a scanline as often upwards as downwards
    winding = np.cumsum(np.where(key & 1, 1, -1))
    key >>= 1
    inside = np.nonzero(winding[:-1] != 0)[0]  # between crossing j and j + 1 (same feature and row)
    a, b = key[inside], key[inside + 1]
    start = a % stride  # first column inside: k_a + 1
    end = b % stride - 1  # last column inside: k_b
    keep = end >= start
    a, start, end = a[keep], start[keep], end[keep]
    group = a // stride
    run_row = group % height
    run_feature = group // height
    length = end - start + 1
    total = int(length.sum())
    offs = np.cumsum(length) - length
    col = np.repeat(start - offs, length) + np.arange(total, dtype=np.int64)
    pixel = np.repeat(run_row * width, length) + col
    return pixel, np.repeat(run_feature, length)
