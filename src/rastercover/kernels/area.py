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

Rows outside the window are skipped and pieces right of it dropped; the parts of pieces left of it only
carry, and are gathered into one entry per (feature, row) left of the window's first column, so a feature
much larger than the window costs only the part inside it.

**The same result for a pixel whatever window it is computed in.** Every floating-point operation works on
the grid's pixel coordinates (never on coordinates translated to the window), and the terms are added in
fixed point: each term is rounded once to a multiple of 2⁻⁵⁶ pixel (exact for terms above 2⁻³) and the
sums are integer sums, which do not depend on their order or grouping. The carry of the part of a piece left
of a column boundary ``x`` is ``Q(x) = fix(dy · (x - x_left) / span)``, and the carry of the part between two
boundaries is a difference of two ``Q``, so the carries of the cells left of the window, added one by one in
a wide window or gathered into one entry in a narrow one, telescope to the same integer.

**Two forms, the same bits.** Once a process has done enough area work (:mod:`rastercover.kernels.compiled`), a
compiled form (:mod:`rastercover.kernels._area_jit`) computes the same terms from the same doubles, in the same
order of operations, and sums them as the same integers; it takes half the time of this numpy form (12 ms against
25 ms for the benchmark's forest polygons): one pass over the edges writes the entries, which numpy builds from a
dozen temporary arrays.

Examples
--------
>>> import numpy as np, shapely
>>> from rastercover.kernels.edges import polygon_edges
>>> edges = polygon_edges(np.array([shapely.box(0.5, 0.25, 2.0, 1.0)]), np.array([0]))
>>> pixel, feature, area = polygon_areas(*edges, height=2, width=3)
>>> dict(zip(pixel.tolist(), area.round(6).tolist()))
{0: 0.375, 1: 0.75}
>>> polygon_areas(*edges, height=1, width=1, col_off=1)[2].tolist()  # pixel (0, 1) alone: the same area
[0.75]
"""

from __future__ import annotations

import numpy as np

from .compiled import use_compiled

__all__ = ["polygon_areas", "round_area"]

_TINY = 1e-12  # areas (in pixels) at or below this are rounding noise, not coverage
_MANTISSA = float(2**40)
_FIX_BITS = 56  # fixed-point unit 2^-56 pixel; sums stay exact modulo 2^64 and results (|a| < 128) fit
_FIX = float(2**_FIX_BITS)
_UNFIX = 2.0**-_FIX_BITS
_EDGE_SECONDS = 0.25e-6  # numpy's time per edge (the compiled form takes half)


def _fixed(v: np.ndarray) -> np.ndarray:
    """``v`` (pixels) as fixed-point integers, as uint64 so that sums wrap modulo 2⁶⁴ (exact, any order)."""
    return np.rint(v * _FIX).astype(np.int64).view(np.uint64)


def _split_rows(x0, y0, x1, y1, owner, r0, r1):
    """Edge pieces inside each row ``[r, r + 1)``, ``r0 <= r < r1``: ``row, xa, xb, dy, owner``."""
    ylo = np.minimum(y0, y1)
    yhi = np.maximum(y0, y1)
    keep = (y0 != y1) & (yhi > r0) & (ylo < r1)  # horizontal edges add no area
    x0, y0, x1, y1, owner, ylo, yhi = (a[keep] for a in (x0, y0, x1, y1, owner, ylo, yhi))
    first = np.floor(np.maximum(ylo, r0)).astype(np.int64)
    last = np.ceil(np.minimum(yhi, r1)).astype(np.int64) - 1
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


def _split_cols(row, xa, xb, dy, owner, c0, c1):
    """Row pieces cut at the column boundaries of ``[c0, c1)``: ``row, slot, partial, carry, owner`` per entry.

    ``slot`` is ``c - c0 + 1`` for the cell of column ``c``, and 0 for the part of a piece left of the window
    (it only carries). ``partial`` and ``carry`` are fixed-point (:func:`_fixed`). Parts right of the window are
    dropped.
    """
    xl = np.minimum(xa, xb)
    xr = np.maximum(xa, xb)
    keep = xl < c1
    row, xl, xr, dy, owner = row[keep], xl[keep], xr[keep], dy[keep], owner[keep]
    span = xr - xl
    vertical = span == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        inv = np.where(vertical, 0.0, 1.0 / np.where(vertical, 1.0, span))

    def q(x, i):
        """Fixed-point carry of the part of piece ``i`` left of ``x`` (``xl <= x <= xr``)."""
        return _fixed(np.where(vertical[i], dy[i], dy[i] * ((x - xl[i]) * inv[i])))

    # the part left of the window: one entry per piece, carry only
    left = np.nonzero(xl < c0)[0]
    l_carry = q(np.minimum(xr[left], float(c0)), left)
    # the cells of the window each piece crosses
    first = np.maximum(np.floor(xl), c0).astype(np.int64)
    last = np.where(vertical, first, np.minimum(np.ceil(xr) - 1, c1 - 1).astype(np.int64))
    last = np.where(vertical & (np.floor(xl) < c0), first - 1, last)  # a vertical piece left of the window
    n = np.maximum(last - first + 1, 0)
    idx = np.repeat(np.arange(len(n)), n)
    start = np.repeat(np.cumsum(n) - n, n)
    col = first[idx] + (np.arange(len(idx)) - start)
    # each piece's numbers gathered once per cell (q(hi, idx) - q(lo, idx) would gather them twice each)
    xl_i, d, inv_i, vert_i = xl[idx], dy[idx], inv[idx], vertical[idx]
    lo = np.maximum(xl_i, col)
    hi = np.minimum(xr[idx], col + 1)
    # q(hi) - q(lo) on the pieces that are not vertical (on vertical ones inv is 0: the terms are unused zeros);
    # the difference wraps modulo 2^64, as every sum below
    carry = np.where(vert_i, _fixed(d), _fixed(d * ((hi - xl_i) * inv_i)) - _fixed(d * ((lo - xl_i) * inv_i)))
    share = np.where(vert_i, d, d * ((hi - lo) * inv_i))
    partial = _fixed(share * ((col + 1) - 0.5 * (lo + hi)))
    return (
        np.concatenate([row[left], row[idx]]),
        np.concatenate([np.zeros(len(left), np.int64), col - c0 + 1]),
        np.concatenate([np.zeros(len(left), np.uint64), partial]),
        np.concatenate([l_carry, carry]),
        np.concatenate([owner[left], owner[idx]]),
    )


def round_area(val: np.ndarray) -> np.ndarray:
    """Areas (pixel units) as the kernel gives them: within 1e-12 of a whole pixel is 1, 40 significant bits.

    A covered cell sums carries that may miss 1 by a unit or two of 2⁻⁵⁶: snapping keeps the ties between
    polygons that both cover a pixel. The same piece of polygon drawn with other vertices (an overlay's output,
    one collinear vertex more) has slightly other edges; rounding the last bits away makes such equal areas
    bit-identical (relative error ≤ 5e-13), so the tie rules see the ties.
    """
    val = np.where(val > 1.0 - _TINY, 1.0, val)
    mant, expo = np.frexp(val)
    return np.ldexp(np.round(mant * _MANTISSA) / _MANTISSA, expo)


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
        The window, in the grid's pixel space. The area of an owner in a pixel is the same, bit for bit,
        whatever window holds the pixel.

    Returns
    -------
    pixel, owner, area
        Flat pixel index in the window (row-major), owner, and area in pixel units (``0 < area <= 1``),
        sorted by owner then pixel.
    """
    f64 = np.float64
    x0 = np.asarray(x0, f64)
    x1 = np.asarray(x1, f64)
    y0 = np.asarray(y0, f64)
    y1 = np.asarray(y1, f64)
    owner = np.asarray(owner, np.int64)
    if use_compiled("rastercover.kernels._area_jit", len(x0) * _EDGE_SECONDS):
        from ._area_jit import polygon_areas as compiled

        return compiled(x0, y0, x1, y1, owner, height, width, row_off, col_off)
    row, xa, xb, dy, own = _split_rows(x0, y0, x1, y1, owner, row_off, row_off + height)
    row, slot, partial, carry, own = _split_cols(row, xa, xb, dy, own, col_off, col_off + width)
    empty = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, f64))
    if len(row) == 0:
        return empty
    # one entry per (owner, row, slot): integer sums, exact in any order
    stride = width + 1
    key = (own * height + (row - row_off)) * stride + slot
    order = np.argsort(key)
    key = key[order]
    new = np.ones(len(key), dtype=bool)
    new[1:] = key[1:] != key[:-1]
    starts = np.nonzero(new)[0]
    key = key[starts]
    partial = np.add.reduceat(partial[order], starts)
    carry = np.add.reduceat(carry[order], starts)
    group = key // stride  # owner * height + row
    slot = key - group * stride
    # carry accumulated from the entries left of each entry, within its (owner, row): a running integer sum
    gstart = np.ones(len(key), dtype=bool)
    gstart[1:] = group[1:] != group[:-1]
    upto = np.cumsum(carry) - carry  # modulo 2^64
    before = upto - upto[np.maximum.accumulate(np.where(gstart, np.arange(len(key)), 0))]
    cell_value = (before + partial).view(np.int64)
    after = (before + carry).view(np.int64)
    # runs between an entry and the next entry of its row (or the window's right side)
    nxt = np.empty(len(key), dtype=np.int64)
    nxt[:-1] = np.where(gstart[1:], stride, slot[1:])
    nxt[-1] = stride
    run_len = nxt - slot - 1
    after_px = after.astype(f64) * _UNFIX
    run = (run_len > 0) & (np.abs(after_px) > _TINY)
    r_idx = np.repeat(np.nonzero(run)[0], run_len[run])
    r_start = np.repeat(np.cumsum(run_len[run]) - run_len[run], run_len[run])
    r_slot = slot[r_idx] + 1 + (np.arange(len(r_idx)) - r_start)
    cell = slot > 0  # slot 0 gathers what lies left of the window: no cell of its own
    grp = np.concatenate([group[cell], group[r_idx]])
    slots = np.concatenate([slot[cell], r_slot])
    val = -np.concatenate([cell_value[cell].astype(f64) * _UNFIX, after_px[r_idx]])  # exteriors: negative carry
    keep = val > _TINY
    grp, slots, val = grp[keep], slots[keep], val[keep]
    val = round_area(val)
    own_out = grp // height
    pixel = (grp - own_out * height) * width + (slots - 1)
    order = np.argsort(own_out * (height * width) + pixel, kind="stable")
    return pixel[order], own_out[order], val[order]
