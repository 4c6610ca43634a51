"""The compiled form of :func:`rastercover.kernels.area.polygon_areas` (numba, cached on disk), imported when used.

The same arithmetic as the numpy form, operation for operation (each term computed from the same doubles in the
same order, rounded to fixed point the same way, summed as integers modulo 2^64), so its areas are the same bits;
:mod:`rastercover.kernels.area` says why the result does not depend on the window, and when this form is used.
Module-level functions, so that numba's on-disk cache finds them again in every process.
"""

import math

import numba
import numpy as np

njit = numba.njit(cache=True, nogil=True)

_TINY = 1e-12
_ONE_LESS_TINY = 1.0 - 1e-12
_MANTISSA = float(2**40)
_FIX = float(2**56)
_UNFIX = 2.0**-56


@njit
def _fixed(v):
    return np.uint64(np.int64(np.rint(v * _FIX)))


@njit
def _round_area(v):
    if v > _ONE_LESS_TINY:
        v = 1.0
    mant, expo = math.frexp(v)
    return math.ldexp(np.rint(mant * _MANTISSA) / _MANTISSA, expo)


@njit
def _pieces(x0, y0, x1, y1, owner, row_off, height, col_off, width, keys, partials, carries, fill):
    """Cut every edge at the rows and columns of the window; with ``fill``, write each entry's key, partial area and
    carry, else only count them. Returns the number of entries."""
    r0, r1 = row_off, row_off + height
    c0, c1 = col_off, col_off + width
    stride = width + 1
    n = 0
    for e in range(len(x0)):
        ey0, ey1 = y0[e], y1[e]
        ylo, yhi = min(ey0, ey1), max(ey0, ey1)
        if not (ey0 != ey1 and yhi > r0 and ylo < r1):
            continue  # horizontal, or outside the window's rows
        ex0, ex1 = x0[e], x1[e]
        first_row = np.int64(np.floor(max(ylo, float(r0))))
        last_row = np.int64(np.ceil(min(yhi, float(r1)))) - 1
        slope = (ex1 - ex0) / (ey1 - ey0)
        sign = 1.0 if ey1 - ey0 > 0 else -1.0
        for row in range(first_row, last_row + 1):
            ya = max(ylo, float(row))
            yb = min(yhi, float(row + 1))
            if ya == ey0:
                xa = ex0
            elif ya == ey1:
                xa = ex1
            else:
                xa = ex0 + (ya - ey0) * slope
            if yb == ey0:
                xb = ex0
            elif yb == ey1:
                xb = ex1
            else:
                xb = ex0 + (yb - ey0) * slope
            dy = (yb - ya) * sign
            xl, xr = min(xa, xb), max(xa, xb)
            if not xl < c1:
                continue  # right of the window
            span = xr - xl
            vertical = span == 0
            inv = 0.0 if vertical else 1.0 / span
            base = (owner[e] * height + (row - row_off)) * stride
            if xl < c0:  # the part left of the window: carry only, slot 0
                if fill:
                    x = min(xr, float(c0))
                    keys[n] = base
                    partials[n] = np.uint64(0)
                    carries[n] = _fixed(dy) if vertical else _fixed(dy * ((x - xl) * inv))
                n += 1
            fl = np.floor(xl)
            first = np.int64(max(fl, float(c0)))
            if vertical:
                last = first - 1 if fl < c0 else first
            else:
                last = np.int64(min(np.ceil(xr) - 1.0, float(c1 - 1)))
            for col in range(first, last + 1):
                if fill:
                    lo = max(xl, float(col))
                    hi = min(xr, float(col + 1))
                    if vertical:
                        carry = _fixed(dy)
                        share = dy
                    else:
                        carry = _fixed(dy * ((hi - xl) * inv)) - _fixed(dy * ((lo - xl) * inv))
                        share = dy * ((hi - lo) * inv)
                    keys[n] = base + (col - c0 + 1)
                    partials[n] = _fixed(share * (float(col + 1) - 0.5 * (lo + hi)))
                    carries[n] = carry
                n += 1
    return n


@njit
def _cells(key, partial, carry, height, width, out_pixel, out_owner, out_area, fill):
    """Sum the entries of each key, carry along each (owner, row), and emit the cells and runs of covered cells,
    sorted by owner then pixel; with ``fill`` write them, else only count them. Returns their number."""
    stride = width + 1
    m = 0
    n = len(key)
    i = 0
    group = -1
    before = np.uint64(0)
    while i < n:
        k = key[i]
        p = partial[i]
        c = carry[i]
        j = i + 1
        while j < n and key[j] == k:
            p += partial[j]
            c += carry[j]
            j += 1
        g = k // stride
        slot = k - g * stride
        if g != group:
            group = g
            before = np.uint64(0)
        nxt = stride
        if j < n and key[j] // stride == g:
            nxt = key[j] - g * stride
        cell_value = np.int64(before + p)
        after = np.int64(before + c)
        before = before + c
        own = g // height
        row = g - own * height
        if slot > 0:
            v = -(float(cell_value) * _UNFIX)
            if v > _TINY:
                if fill:
                    out_pixel[m] = row * width + (slot - 1)
                    out_owner[m] = own
                    out_area[m] = _round_area(v)
                m += 1
        after_px = float(after) * _UNFIX
        if nxt - slot - 1 > 0 and abs(after_px) > _TINY:
            v = -after_px
            if v > _TINY:
                if fill:
                    a = _round_area(v)
                    for s in range(slot + 1, nxt):
                        out_pixel[m] = row * width + (s - 1)
                        out_owner[m] = own
                        out_area[m] = a
                        m += 1
                else:
                    m += nxt - slot - 1
        i = j
    return m


@njit
def polygon_areas(x0, y0, x1, y1, owner, height, width, row_off, col_off):
    """``(pixel, owner, area)`` as :func:`rastercover.kernels.area.polygon_areas` gives them."""
    dummy_i = np.empty(0, np.int64)
    dummy_u = np.empty(0, np.uint64)
    n = _pieces(x0, y0, x1, y1, owner, row_off, height, col_off, width, dummy_i, dummy_u, dummy_u, False)
    keys = np.empty(n, np.int64)
    partials = np.empty(n, np.uint64)
    carries = np.empty(n, np.uint64)
    _pieces(x0, y0, x1, y1, owner, row_off, height, col_off, width, keys, partials, carries, True)
    order = np.argsort(keys)
    keys, partials, carries = keys[order], partials[order], carries[order]
    dummy_f = np.empty(0, np.float64)
    m = _cells(keys, partials, carries, height, width, dummy_i, dummy_i, dummy_f, False)
    pixel = np.empty(m, np.int64)
    own = np.empty(m, np.int64)
    area = np.empty(m, np.float64)
    _cells(keys, partials, carries, height, width, pixel, own, area, True)
    return pixel, own, area
