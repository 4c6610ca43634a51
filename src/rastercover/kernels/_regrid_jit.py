"""The compiled loop of :mod:`rastercover.kernels.regrid` (numba, cached on disk), imported when first used.

Module-level functions, so that numba's on-disk cache finds them again in every process (closures compiled
inside a function are compiled anew each time).
"""

import numba
import numpy as np

_TINY = 1e-12
_G = 0.5773502691896257

njit = numba.njit(cache=True, nogil=True)


@njit
def roots_into(a, b, c, k, buf, n):
    """Append the roots in (0, 1) of a t² + b t + (c - k) = 0 to buf[n:], return the new n."""
    cc = c - k
    if a == 0.0 or abs(a) <= 1e-14 * (abs(b) + abs(cc)):
        if b != 0.0:
            t = -cc / b
            if 0.0 < t < 1.0:
                buf[n] = t
                n += 1
        return n
    disc = b * b - 4.0 * a * cc
    if disc < 0.0:
        return n
    sq = np.sqrt(disc)
    q = -0.5 * (b + sq) if b >= 0.0 else -0.5 * (b - sq)
    if q != 0.0:
        t1 = q / a
        t2 = cc / q
        if 0.0 < t1 < 1.0:
            buf[n] = t1
            n += 1
        if 0.0 < t2 < 1.0 and t2 != t1:
            buf[n] = t2
            n += 1
    else:
        t1 = 0.0
        if 0.0 < t1 < 1.0:
            buf[n] = t1
            n += 1
    return n


@njit
def turning(p0, pm, p1):
    """The range of the parabola through p0, pm, p1 (t = 0, 0.5, 1) at its turning point inside (0, 1), or an empty
    range (inf, -inf) when it has none."""
    aa = 2.0 * p0 - 4.0 * pm + 2.0 * p1
    if aa != 0.0:
        bb = -3.0 * p0 + 4.0 * pm - p1
        t = -bb / (2.0 * aa)
        if 0.0 < t < 1.0:
            v = p0 + t * (bb + t * aa)
            return v, v
    return np.inf, -np.inf


@njit
def side_into(x0, y0, xm, ym, x1, y1, ix0, iy0, nx, ny, partial, carry, buf):
    """Add one side's ∫(c+1-x)dy per cell and its carries (local coordinates, cells of the box)."""
    ax = 2.0 * x0 - 4.0 * xm + 2.0 * x1
    bx = -3.0 * x0 + 4.0 * xm - x1
    ay = 2.0 * y0 - 4.0 * ym + 2.0 * y1
    by = -3.0 * y0 + 4.0 * ym - y1
    if ay == 0.0 and by == 0.0:
        return  # horizontal: no area, no carry
    # the side's extent: ends, and the parabola's turning points
    xlo, xhi = min(x0, x1), max(x0, x1)
    ylo, yhi = min(y0, y1), max(y0, y1)
    if ax != 0.0:
        t = -bx / (2.0 * ax)
        if 0.0 < t < 1.0:
            v = x0 + t * (bx + t * ax)
            xlo, xhi = min(xlo, v), max(xhi, v)
    if ay != 0.0:
        t = -by / (2.0 * ay)
        if 0.0 < t < 1.0:
            v = y0 + t * (by + t * ay)
            ylo, yhi = min(ylo, v), max(yhi, v)
    n = 0
    buf[n] = 0.0
    n += 1
    for k in range(int(np.floor(xlo)) + 1, int(np.ceil(xhi))):
        n = roots_into(ax, bx, x0, float(k), buf, n)
    for k in range(int(np.floor(ylo)) + 1, int(np.ceil(yhi))):
        n = roots_into(ay, by, y0, float(k), buf, n)
    buf[n] = 1.0
    n += 1
    for i in range(1, n):  # insertion sort: a handful of roots
        v = buf[i]
        j = i - 1
        while j >= 0 and buf[j] > v:
            buf[j + 1] = buf[j]
            j -= 1
        buf[j + 1] = v
    for i in range(n - 1):
        ta, tb = buf[i], buf[i + 1]
        if tb <= ta:
            continue
        tm = 0.5 * (ta + tb)
        xmid = x0 + tm * (bx + tm * ax)
        ymid = y0 + tm * (by + tm * ay)
        col = int(np.floor(xmid)) - ix0
        row = int(np.floor(ymid)) - iy0
        col = min(max(col, 0), nx - 1)
        row = min(max(row, 0), ny - 1)
        h = 0.5 * (tb - ta)
        right = float(col + ix0 + 1)
        t = tm - _G * h
        s = (right - (x0 + t * (bx + t * ax))) * (by + 2.0 * ay * t)
        t = tm + _G * h
        s += (right - (x0 + t * (bx + t * ax))) * (by + 2.0 * ay * t)
        partial[row, col] += s * h
        ya = y0 + ta * (by + ta * ay)
        yb = y0 + tb * (by + tb * ay)
        carry[row, col] += yb - ya


@njit
def kernel(lx, ly, active, row_off, col_off, height, width):
    qh, qw = active.shape
    cap = 4 * int(active.sum()) + 16
    out_pix = np.empty(cap, np.int64)
    out_quad = np.empty(cap, np.int64)
    out_area = np.empty(cap, np.float64)
    whole = np.zeros(qh * qw, np.float64)
    n_out = 0
    buf = np.empty(256, np.float64)
    partial = np.zeros((8, 8), np.float64)
    carry = np.zeros((8, 8), np.float64)
    px = np.empty(8, np.float64)
    py = np.empty(8, np.float64)
    for r in range(qh):
        for c in range(qw):
            if not active[r, c]:
                continue
            # the ring: corner, side middle, corner, ... (counter-clockwise in source pixel space)
            r2, c2 = 2 * r, 2 * c
            px[0], py[0] = lx[r2, c2], ly[r2, c2]
            px[1], py[1] = lx[r2, c2 + 1], ly[r2, c2 + 1]
            px[2], py[2] = lx[r2, c2 + 2], ly[r2, c2 + 2]
            px[3], py[3] = lx[r2 + 1, c2 + 2], ly[r2 + 1, c2 + 2]
            px[4], py[4] = lx[r2 + 2, c2 + 2], ly[r2 + 2, c2 + 2]
            px[5], py[5] = lx[r2 + 2, c2 + 1], ly[r2 + 2, c2 + 1]
            px[6], py[6] = lx[r2 + 2, c2], ly[r2 + 2, c2]
            px[7], py[7] = lx[r2 + 1, c2], ly[r2 + 1, c2]
            xmin, xmax, ymin, ymax = px[0], px[0], py[0], py[0]
            for i in range(1, 8):
                xmin = min(xmin, px[i])
                xmax = max(xmax, px[i])
                ymin = min(ymin, py[i])
                ymax = max(ymax, py[i])
            for s in range(4):  # a side bulging past its three points: its turning point
                a, m, b = 2 * s, 2 * s + 1, (2 * s + 2) % 8
                lo, hi = turning(px[a], px[m], px[b])
                xmin, xmax = min(xmin, lo), max(xmax, hi)
                lo, hi = turning(py[a], py[m], py[b])
                ymin, ymax = min(ymin, lo), max(ymax, hi)
            if not (np.isfinite(xmin) and np.isfinite(xmax) and np.isfinite(ymin) and np.isfinite(ymax)):
                continue
            ix0 = int(np.floor(xmin))
            iy0 = int(np.floor(ymin))
            nx = int(np.floor(xmax)) + 1 - ix0
            ny = int(np.floor(ymax)) + 1 - iy0
            if ny > partial.shape[0] or nx > partial.shape[1]:
                partial = np.zeros((max(ny, partial.shape[0]), max(nx, partial.shape[1])), np.float64)
                carry = np.zeros_like(partial)
            for i in range(ny):
                for j in range(nx):
                    partial[i, j] = 0.0
                    carry[i, j] = 0.0
            need = 2 * (nx + ny) + 8
            if need > buf.shape[0]:
                buf = np.empty(2 * need, np.float64)
            fx, fy = float(ix0), float(iy0)
            for s in range(4):
                a, m, b = 2 * s, 2 * s + 1, (2 * s + 2) % 8
                side_into(
                    px[a] - fx,
                    py[a] - fy,
                    px[m] - fx,
                    py[m] - fy,
                    px[b] - fx,
                    py[b] - fy,
                    0,
                    0,
                    nx,
                    ny,
                    partial,
                    carry,
                    buf,
                )
            # Green's theorem along each row: a cell's area is its partial plus the carries left of it
            total = 0.0
            for i in range(ny):
                run = 0.0
                for j in range(nx):
                    partial[i, j] += run
                    run += carry[i, j]
                    total += partial[i, j]
            sign = 1.0 if total >= 0.0 else -1.0
            q = r * qw + c
            whole[q] = sign * total
            for i in range(ny):
                gr = iy0 + i - row_off
                if gr < 0 or gr >= height:
                    continue
                for j in range(nx):
                    gc = ix0 + j - col_off
                    if gc < 0 or gc >= width:
                        continue
                    v = sign * partial[i, j]
                    if v <= _TINY:
                        continue
                    if n_out == cap:
                        cap *= 2
                        out_pix = np.concatenate((out_pix, np.empty(cap - n_out, np.int64)))
                        out_quad = np.concatenate((out_quad, np.empty(cap - n_out, np.int64)))
                        out_area = np.concatenate((out_area, np.empty(cap - n_out, np.float64)))
                    out_pix[n_out] = gr * width + gc
                    out_quad[n_out] = q
                    out_area[n_out] = min(v, 1.0) if v < 1.0 + 1e-12 else v
                    n_out += 1
    return out_pix[:n_out], out_quad[:n_out], out_area[:n_out], whole


@njit
def separable_sums(x, sr, rstarts, wy, sc, cstarts, wx):
    """``Σ_rows wy · Σ_cols wx · x`` per (target row, target column) of a north-up piece: for each target row the
    weighted source rows are added one after the other in order (each product rounded, then added), then for each
    target column the weighted columns of that sum, likewise. One pass, no temporaries."""
    ntr = rstarts.shape[0]
    ntc = cstarts.shape[0]
    w = x.shape[1]
    part = np.empty(w, np.float64)
    out = np.empty((ntr, ntc), np.float64)
    for i in range(ntr):
        a = rstarts[i]
        b = rstarts[i + 1] if i + 1 < ntr else sr.shape[0]
        r = sr[a]
        wv = wy[a]
        for c in range(w):
            part[c] = x[r, c] * wv
        for k in range(a + 1, b):
            r = sr[k]
            wv = wy[k]
            for c in range(w):
                part[c] += x[r, c] * wv
        for j in range(ntc):
            a2 = cstarts[j]
            b2 = cstarts[j + 1] if j + 1 < ntc else sc.shape[0]
            acc = part[sc[a2]] * wx[a2]
            for k in range(a2 + 1, b2):
                acc += part[sc[k]] * wx[k]
            out[i, j] = acc
    return out
