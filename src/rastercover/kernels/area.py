"""Exact area of polygon ∩ pixel for every (pixel, feature) pair of a window, with no sub-sampling.

The kernel is the signed-area accumulation of scanline font rasterizers, made sparse and exact. Every ring
edge is cut at each row boundary and, inside a row, at each column boundary. A piece of edge in cell
``(r, c)`` going from ``y_a`` to ``y_b`` adds to that cell the signed area between the piece and the cell's
right side, ``(y_b - y_a) · (c + 1 - x_mid)``, and adds ``y_b - y_a`` to every cell right of it in the row
(the *carry*). Summing the carries from left to right along a row (Green's theorem) gives, in every cell,
the exact area of the cell covered by the polygon, counted with its winding number: with consistently
oriented rings that is the area of the polygon inside the cell. Only the cells an edge crosses get an
entry; the covered cells between them come out of the carry as runs, so a large polygon costs its edges plus
its covered pixels, and a window holding millions of pixels needs no dense array per feature.

Edges left of the window are moved onto its left side (they only carry), edges right of it are dropped, and
rows outside it are skipped, so a feature much larger than the window costs only the part inside it.

Examples
--------
>>> import numpy as np, shapely
>>> from rastercover.kernels.edges import polygon_edges
>>> edges = polygon_edges(np.array([shapely.box(0.5, 0.25, 2.0, 1.0)]), np.array([0]))
>>> pixel, feature, area = polygon_areas(*edges, height=2, width=3)
>>> dict(zip(pixel.tolist(), area.round(6).tolist()))
{0: 0.375, 1: 0.75}
"""

from __future__ import annotations

import numpy as np

__all__ = ["polygon_areas"]

_TINY = 1e-12  # areas (in pixels) at or below this are rounding noise, not coverage
_MANTISSA = float(2**40)


def _split_rows(x0, y0, x1, y1, owner, height):
    """Edge pieces inside each row ``[r, r + 1)`` of the window: ``row, xa, xb, dy, owner``."""
    keep = y0 != y1  # horizontal edges add no area
    x0, y0, x1, y1, owner = x0[keep], y0[keep], x1[keep], y1[keep], owner[keep]
    ylo = np.clip(np.minimum(y0, y1), 0.0, float(height))
    yhi = np.clip(np.maximum(y0, y1), 0.0, float(height))
    keep = yhi > ylo
    x0, y0, x1, y1, owner, ylo, yhi = (a[keep] for a in (x0, y0, x1, y1, owner, ylo, yhi))
    first = np.floor(ylo).astype(np.int64)
    last = np.ceil(yhi).astype(np.int64) - 1
    n = last - first + 1
    idx = np.repeat(np.arange(len(n)), n)
    start = np.repeat(np.cumsum(n) - n, n)
    row = first[idx] + (np.arange(len(idx)) - start)
    ya = np.maximum(ylo[idx], row)
    yb = np.minimum(yhi[idx], row + 1)
    ex0, ey0, ex1, ey1 = x0[idx], y0[idx], x1[idx], y1[idx]
    slope = (ex1 - ex0) / (ey1 - ey0)
    xa = np.where(ya == ey0, ex0, np.where(ya == ey1, ex1, ex0 + (ya - ey0) * slope))
    xb = np.where(yb == ey0, ex0, np.where(yb == ey1, ex1, ex0 + (yb - ey0) * slope))
    sign = np.sign(ey1 - ey0)
    return row, xa, xb, (yb - ya) * sign, owner[idx]


def _split_cols(row, xa, xb, dy, owner, width):
    """Row pieces cut at column boundaries: ``row, col, partial, carry, owner`` per cell touched.

    Parts left of the window collapse into column 0 (they cover the whole cell and carry); parts right of it
    are dropped.
    """
    xl = np.minimum(xa, xb)
    xr = np.minimum(np.maximum(xa, xb), float(width))
    keep = xl < width
    row, xl, xr, dy, owner = row[keep], xl[keep], xr[keep], dy[keep], owner[keep]
    span = np.maximum(np.maximum(xa, xb)[keep], xl) - xl  # full x extent of the piece (before right clip)
    first = np.where(xl < 0, -1, np.floor(xl)).astype(np.int64)
    last = np.where(xr > xl, np.ceil(xr).astype(np.int64) - 1, first)
    last = np.maximum(last, first)
    n = last - first + 1
    idx = np.repeat(np.arange(len(n)), n)
    start = np.repeat(np.cumsum(n) - n, n)
    j = np.arange(len(idx)) - start
    col = first[idx] + j
    lo = np.where(j == 0, xl[idx], col)
    hi = np.where(j == n[idx] - 1, xr[idx], col + 1)
    lo = np.minimum(lo, hi)
    s = span[idx]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(s > 0, (hi - lo) / np.where(s > 0, s, 1.0), 1.0)
    carry = dy[idx] * frac
    mid = 0.5 * (lo + hi)
    cell = np.maximum(col, 0)
    partial = carry * (cell + 1 - np.clip(mid, cell, cell + 1))
    return row[idx], cell, partial, carry, owner[idx]


def _segmented_prefix(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Exclusive running sum of ``values`` restarting at every ``starts``, added left to right per segment.

    Each segment's sums depend on its own values only (a global ``cumsum`` would carry the rounding of the
    segments before it), so identical polygons get bit-identical areas and exact ties stay ties.
    """
    n = len(values)
    first = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    rank = np.arange(n) - first
    out = np.zeros(n)
    order = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[order], np.arange(1, int(rank.max(initial=0)) + 2))
    for k in range(1, len(bounds)):  # one vectorised step per position in a segment
        idx = order[bounds[k - 1] : bounds[k]]
        out[idx] = out[idx - 1] + values[idx - 1]
    return out


def polygon_areas(
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
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Area in pixel units of each owner's polygons in each pixel of a window.

    Parameters
    ----------
    x0, y0, x1, y1, owner
        Oriented ring edges in the grid's pixel space (:func:`~rastercover.kernels.edges.polygon_edges`). The
        polygons of one owner must not overlap each other (union them first).
    height, width, row_off, col_off
        The window.

    Returns
    -------
    pixel, owner, area
        Flat pixel index in the window (row-major), owner, and area in pixel units (``0 < area <= 1``),
        sorted by owner then pixel.
    """
    f64 = np.float64
    x0 = np.asarray(x0, f64) - col_off
    x1 = np.asarray(x1, f64) - col_off
    y0 = np.asarray(y0, f64) - row_off
    y1 = np.asarray(y1, f64) - row_off
    owner = np.asarray(owner, np.int64)
    row, xa, xb, dy, own = _split_rows(x0, y0, x1, y1, owner, height)
    row, col, partial, carry, own = _split_cols(row, xa, xb, dy, own, width)
    empty = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, f64))
    if len(row) == 0:
        return empty
    # one entry per (owner, row, col): sum the pieces
    key = (own * height + row) * width + col
    order = np.argsort(key, kind="stable")
    key = key[order]
    new = np.ones(len(key), dtype=bool)
    new[1:] = key[1:] != key[:-1]
    starts = np.nonzero(new)[0]
    key = key[starts]
    partial = np.add.reduceat(partial[order], starts)
    carry = np.add.reduceat(carry[order], starts)
    group = key // width  # owner * height + row
    col = key - group * width
    # carry accumulated from the cells left of each entry, within its (owner, row)
    gstart = np.ones(len(key), dtype=bool)
    gstart[1:] = group[1:] != group[:-1]
    before = _segmented_prefix(carry, gstart)
    cell_value = before + partial
    after = before + carry
    # runs between an entry and the next entry of its row (or the window's right side)
    nxt = np.empty(len(key), dtype=np.int64)
    nxt[:-1] = np.where(gstart[1:], width, col[1:])
    nxt[-1] = width
    run_len = nxt - col - 1
    run = (run_len > 0) & (np.abs(after) > _TINY)
    r_idx = np.repeat(np.nonzero(run)[0], run_len[run])
    r_start = np.repeat(np.cumsum(run_len[run]) - run_len[run], run_len[run])
    r_col = col[r_idx] + 1 + (np.arange(len(r_idx)) - r_start)
    grp = np.concatenate([group, group[r_idx]])
    cols = np.concatenate([col, r_col])
    val = -np.concatenate([cell_value, after[r_idx]])  # exteriors are counter-clockwise: negative carry
    keep = val > _TINY
    grp, cols, val = grp[keep], cols[keep], val[keep]
    # a covered cell sums carries that may miss 1 by an ulp or two: snap, so that ties between polygons that
    # both cover a pixel stay ties whatever block the pixel falls in
    val = np.where(val > 1.0 - _TINY, 1.0, val)
    # and keep 40 significant bits: the same piece of polygon listed with its vertices in another order sums
    # its edges in another order; rounding the last bits away makes such equal areas bit-identical (relative
    # error ≤ 5e-13), so the tie rules see the ties
    mant, expo = np.frexp(val)
    val = np.ldexp(np.round(mant * _MANTISSA) / _MANTISSA, expo)
    own_out = grp // height
    pixel = (grp - own_out * height) * width + cols
    order = np.lexsort((pixel, own_out))
    return pixel[order], own_out[order], val[order]
