"""The compiled loop of :mod:`rastercover.kernels.overlap` (numba, cached on disk), imported when first used.

Module-level functions, so that numba's on-disk cache finds them again in every process. The reasoning that makes
every answer exact is in :mod:`rastercover.kernels.overlap`; the functions here say which of its steps they
implement. ``G`` is the tuple of flat arrays :func:`flat_arrays` completes:
``(x, y, ring_start, part_ring, geom_part, bbox, ring_chunk, chunk_box)``.
"""

import numba
import numpy as np

njit = numba.njit(cache=True, nogil=True)

OUT, IN, ON, UNKNOWN, NOT_YET = 0, 1, 2, 3, 4  # a vertex against the other geometry
NO, UNDECIDED = 0, -1  # whether a pair's interiors meet

# Shewchuk's orient2d error bound (first stage): (3 + 16 eps) eps with eps = 2^-53
_CCW_BOUND = (3.0 + 16.0 * 2.0**-53) * 2.0**-53
# coordinate differences outside [_SMALL, _LARGE] in magnitude (0 aside) could underflow or overflow in a product
_SMALL = 1e-150
_LARGE = 1e150
CLEAR, UNCERTAIN = -1, -9  # _meets_only_at_ends: clear (CLEAR - 1, - 2, - 3: which ends are touched), or not
CHUNK = 8  # consecutive edges of a ring under one box: a box apart skips them at once


@njit
def _safe(d):
    a = abs(d)
    return a == 0.0 or (_SMALL <= a <= _LARGE)


@njit
def orient(ax, ay, bx, by, cx, cy):
    """Sign of the orientation of ``(a, b, c)`` (``+1``: ``c`` left of ``a → b``), or 0 when it is zero or the
    double-precision filter cannot certify it (Shewchuk's orient2d, first stage: the signs it returns are exact)."""
    acx = ax - cx
    bcx = bx - cx
    acy = ay - cy
    bcy = by - cy
    if not (_safe(acx) and _safe(bcx) and _safe(acy) and _safe(bcy)):
        return 0
    detleft = acx * bcy
    detright = acy * bcx
    det = detleft - detright
    if detleft > 0.0:
        if detright <= 0.0:  # the signs of the products are exact: det's sign is theirs
            return 1 if det > 0.0 else (-1 if det < 0.0 else 0)
        detsum = detleft + detright
    elif detleft < 0.0:
        if detright >= 0.0:
            return 1 if det > 0.0 else (-1 if det < 0.0 else 0)
        detsum = -detleft - detright
    else:
        return 1 if det > 0.0 else (-1 if det < 0.0 else 0)
    bound = _CCW_BOUND * detsum
    if det > 0.0 and det >= bound:
        return 1
    if det < 0.0 and -det >= bound:
        return -1
    return 0


@njit
def flat_chunks(x, y, ring_start):
    """Chunks of up to CHUNK consecutive edges of each ring: ``ring_chunk`` (chunk offsets per ring) and each
    chunk's box ``(xmin, ymin, xmax, ymax)``."""
    n_rings = len(ring_start) - 1
    ring_chunk = np.zeros(n_rings + 1, np.int64)
    for r in range(n_rings):
        n_edges = max(ring_start[r + 1] - 1 - ring_start[r], 0)
        ring_chunk[r + 1] = ring_chunk[r] + (n_edges + CHUNK - 1) // CHUNK
    box = np.empty((ring_chunk[-1], 4), np.float64)
    for r in range(n_rings):
        for c in range(ring_chunk[r], ring_chunk[r + 1]):
            lo = ring_start[r] + (c - ring_chunk[r]) * CHUNK
            hi = min(lo + CHUNK, ring_start[r + 1] - 1)  # edges [lo, hi): vertices lo..hi
            x0, y0, x1, y1 = x[lo], y[lo], x[lo], y[lo]
            for k in range(lo + 1, hi + 1):
                x0, x1 = min(x0, x[k]), max(x1, x[k])
                y0, y1 = min(y0, y[k]), max(y1, y[k])
            box[c, 0], box[c, 1], box[c, 2], box[c, 3] = x0, y0, x1, y1
    return ring_chunk, box


@njit
def vertex_class(vx, vy, g, G):
    """Where ``(vx, vy)`` lies against geometry ``g`` (step 1): OUT, IN, ON (a vertex of ``g``) or UNKNOWN (on an
    edge, or not certified). The crossings of the ray towards +x, counted with the half-open rule on y: a point on no
    edge is IN when their number is odd."""
    x, y, ring_start, part_ring, geom_part, bbox, ring_chunk, cbox = G
    if vx < bbox[g, 0] or vx > bbox[g, 2] or vy < bbox[g, 1] or vy > bbox[g, 3]:
        return OUT
    parity = 0
    for r in range(part_ring[geom_part[g]], part_ring[geom_part[g + 1]]):
        for c in range(ring_chunk[r], ring_chunk[r + 1]):
            # a chunk wholly above, below or left of the point neither holds it nor crosses the ray
            if cbox[c, 3] < vy or cbox[c, 1] > vy or cbox[c, 2] < vx:
                continue
            lo = ring_start[r] + (c - ring_chunk[r]) * CHUNK
            for k in range(lo, min(lo + CHUNK, ring_start[r + 1] - 1)):
                ax, ay, bx, by = x[k], y[k], x[k + 1], y[k + 1]
                if (ax == vx and ay == vy) or (bx == vx and by == vy):
                    return ON
                crosses = (ay > vy) != (by > vy)
                if min(ax, bx) <= vx <= max(ax, bx) and min(ay, by) <= vy <= max(ay, by):
                    s = orient(ax, ay, bx, by, vx, vy)
                    if s == 0:
                        return UNKNOWN  # on the edge, or not certified
                    if crosses and (by > ay) == (s > 0):  # the crossing is right of the point
                        parity ^= 1
                elif crosses and vx < min(ax, bx):
                    parity ^= 1
    return IN if parity else OUT


@njit
def _outside_box(vx, vy, g, bbox):
    """True when the point is outside ``g``'s (closed) box: in ``g``'s exterior."""
    return vx < bbox[g, 0] or vx > bbox[g, 2] or vy < bbox[g, 1] or vy > bbox[g, 3]


@njit
def _box_apart(x0, y0, x1, y1, g, bbox):
    """True when the box ``(x0, y0, x1, y1)`` and ``g``'s (closed) box are disjoint."""
    return x1 < bbox[g, 0] or x0 > bbox[g, 2] or y1 < bbox[g, 1] or y0 > bbox[g, 3]


@njit
def _cls(k, first, other, cls, G):
    """Class of vertex ``k`` against geometry ``other``, computed once (memo ``cls``, indexed from ``first``)."""
    c = cls[k - first]
    if c == NOT_YET:
        c = vertex_class(G[0][k], G[1][k], other, G)
        cls[k - first] = c
    return c


@njit
def _opposite_on_axis(cx, cy, ex, ey, ox, oy):
    """True when ``[c, e]`` and ``[c, o]`` lie on one vertical or horizontal line, on either side of ``c`` (then they
    meet only at ``c``); exact comparisons."""
    if cx == ex and cx == ox:
        return (ey > cy) != (oy > cy)
    if cy == ey and cy == oy:
        return (ex > cx) != (ox > cx)
    return False


@njit
def _same_edge(px, py, qx, qy, k, x, y):
    """True when edge ``k`` has the ends ``p`` and ``q`` (either way round)."""
    rx, ry, sx, sy = x[k], y[k], x[k + 1], y[k + 1]
    return (px == rx and py == ry and qx == sx and qy == sy) or (px == sx and py == sy and qx == rx and qy == ry)


@njit
def _meets_only_at_ends(px, py, qx, qy, g, G):
    """The edge of ``g`` equal to ``[p, q]`` (step 3: the edge lies on ``g``'s boundary); when every edge of ``g`` is
    disjoint from ``[p, q]`` or meets it only at a common end, ``CLEAR`` minus 1 if ``p`` is such an end, minus 2 if
    ``q`` is (an end no edge of ``g`` meets is not on ``g``'s boundary); ``UNCERTAIN`` when neither is certified."""
    x, y, ring_start, part_ring, geom_part, _, ring_chunk, cbox = G
    exlo, exhi = min(px, qx), max(px, qx)
    eylo, eyhi = min(py, qy), max(py, qy)
    touched = 0
    for r in range(part_ring[geom_part[g]], part_ring[geom_part[g + 1]]):
        for c in range(ring_chunk[r], ring_chunk[r + 1]):
            if cbox[c, 2] < exlo or cbox[c, 0] > exhi or cbox[c, 3] < eylo or cbox[c, 1] > eyhi:
                continue
            lo = ring_start[r] + (c - ring_chunk[r]) * CHUNK
            for k in range(lo, min(lo + CHUNK, ring_start[r + 1] - 1)):
                rx, ry, sx, sy = x[k], y[k], x[k + 1], y[k + 1]
                if max(rx, sx) < exlo or min(rx, sx) > exhi or max(ry, sy) < eylo or min(ry, sy) > eyhi:
                    continue  # boxes apart: disjoint
                p_r = px == rx and py == ry
                p_s = px == sx and py == sy
                q_r = qx == rx and qy == ry
                q_s = qx == sx and qy == sy
                if (p_r and q_s) or (p_s and q_r):
                    return k  # the same segment
                if p_r or p_s:
                    touched |= 1
                if q_r or q_s:
                    touched |= 2
                if rx == sx and ry == sy:  # a repeated vertex of g: a point, on the edge's line or not
                    if p_r or q_r or orient(px, py, qx, qy, rx, ry) != 0:
                        continue
                    return UNCERTAIN
                if p_r or p_s or q_r or q_s:
                    # one common end (p != q, r != s, not the same segment): they meet only there unless collinear,
                    # or when collinear along an axis but on either side of it (a straight boundary of a coverage)
                    ox, oy = (sx, sy) if (p_r or q_r) else (rx, ry)
                    if orient(px, py, qx, qy, ox, oy) != 0:
                        continue
                    if p_r or p_s:
                        if _opposite_on_axis(px, py, qx, qy, ox, oy):
                            continue
                    elif _opposite_on_axis(qx, qy, px, py, ox, oy):
                        continue
                    return UNCERTAIN
                o1 = orient(px, py, qx, qy, rx, ry)
                if o1 != 0 and o1 == orient(px, py, qx, qy, sx, sy):
                    continue  # strictly on one side of the edge's line
                o3 = orient(rx, ry, sx, sy, px, py)
                if o3 != 0 and o3 == orient(rx, ry, sx, sy, qx, qy):
                    continue
                return UNCERTAIN
    return CLEAR - touched


@njit
def _next_hint(k, qx, qy, g, G):
    """The edge of ``g`` beside edge ``k`` at its end equal to ``q``: where a shared boundary would go on."""
    x, y, ring_start, part_ring, geom_part = G[0], G[1], G[2], G[3], G[4]
    for r in range(part_ring[geom_part[g]], part_ring[geom_part[g + 1]]):
        lo, hi = ring_start[r], ring_start[r + 1]
        if lo <= k < hi - 1:
            if x[k] == qx and y[k] == qy:  # shared the other way round: the edge before k
                return k - 1 if k - 1 >= lo else hi - 2
            return k + 1 if k + 1 < hi - 1 else lo
    return -1


@njit
def _edges_clear(a, b, cls, G):
    """True when every edge of ``a`` is certified clear of the interior of ``b`` (step 3)."""
    x, y, ring_start, part_ring, geom_part, bbox = G[0], G[1], G[2], G[3], G[4], G[5]
    first = ring_start[part_ring[geom_part[a]]]
    hint = -1  # the edge of b the next edge of a may equal: shared boundaries run along both rings
    for r in range(part_ring[geom_part[a]], part_ring[geom_part[a + 1]]):
        for k in range(ring_start[r], ring_start[r + 1] - 1):
            px, py, qx, qy = x[k], y[k], x[k + 1], y[k + 1]
            if _box_apart(min(px, qx), min(py, qy), max(px, qx), max(py, qy), b, bbox):
                continue  # outside b's box: no point of b
            if px == qx and py == qy:  # a repeated vertex: a point
                c = _cls(k, first, b, cls, G)
                if c == OUT or c == ON:
                    continue
                return False
            if hint >= 0 and _same_edge(px, py, qx, qy, hint, x, y):
                hint = _next_hint(hint, qx, qy, b, G)
                continue
            m = _meets_only_at_ends(px, py, qx, qy, b, G)
            if m >= 0:
                hint = _next_hint(m, qx, qy, b, G)
                continue
            if m == UNCERTAIN:
                return False
            hint = -1
            # [p, q] misses b's boundary but at touched ends: it is clear when an end is OUT, and then an untouched
            # end is OUT too (in the closure of [p, q) ⊂ ext b, and not on b's boundary): that carries OUT along a
            # chain of such edges without locating its vertices
            touched = CLEAR - m
            kp, kq = k - first, k + 1 - first
            if cls[kp] == NOT_YET and _outside_box(px, py, b, bbox):
                cls[kp] = OUT
            if cls[kq] == NOT_YET and _outside_box(qx, qy, b, bbox):
                cls[kq] = OUT
            if cls[kp] != OUT and cls[kq] != OUT:
                if not touched & 1:
                    _cls(k, first, b, cls, G)
                elif not touched & 2:
                    _cls(k + 1, first, b, cls, G)
            if cls[kp] == OUT:
                if not touched & 2:
                    cls[kq] = OUT
                continue
            if cls[kq] == OUT:
                if not touched & 1:
                    cls[kp] = OUT
                continue
            return False
    return True


@njit
def _parts_out(a, b, cls, G):
    """True when every part of ``a`` has a vertex OUT of ``b`` (step 4): one outside ``b``'s box if any, else one
    classified."""
    x, y, ring_start, part_ring, geom_part, bbox = G[0], G[1], G[2], G[3], G[4], G[5]
    first = ring_start[part_ring[geom_part[a]]]
    for p in range(geom_part[a], geom_part[a + 1]):
        lo, hi = ring_start[part_ring[p]], ring_start[part_ring[p + 1]]
        found = False
        for k in range(lo, hi):
            if cls[k - first] == OUT or _outside_box(x[k], y[k], b, bbox):
                found = True
                break
        if not found:
            for k in range(lo, hi):
                if _cls(k, first, b, cls, G) == OUT:
                    found = True
                    break
        if not found:
            return False
    return True


@njit
def apart(x, y, ring_start, part_ring, geom_part, bbox, pi, pj, budget):
    """Per pair ``(pi[k], pj[k])``: NO when their interiors certainly do not meet, else UNDECIDED (also when the
    pair has more than ``budget`` vertex pairs: the tests are quadratic, GEOS's are indexed)."""
    ring_chunk, cbox = flat_chunks(x, y, ring_start)
    G = (x, y, ring_start, part_ring, geom_part, bbox, ring_chunk, cbox)
    n = len(pi)
    out = np.empty(n, np.int8)
    nv = np.empty(len(geom_part) - 1, np.int64)
    for g in range(len(nv)):
        nv[g] = ring_start[part_ring[geom_part[g + 1]]] - ring_start[part_ring[geom_part[g]]]
    size = max(int(nv.max()) if len(nv) else 0, 1)
    cls_a = np.empty(size, np.int8)
    cls_b = np.empty(size, np.int8)
    for i in range(n):
        a, b = pi[i], pj[i]
        if bbox[a, 2] < bbox[b, 0] or bbox[b, 2] < bbox[a, 0] or bbox[a, 3] < bbox[b, 1] or bbox[b, 3] < bbox[a, 1]:
            out[i] = NO  # boxes apart
            continue
        if nv[a] * nv[b] > budget:
            out[i] = UNDECIDED
            continue
        cls_a[: nv[a]] = NOT_YET
        cls_b[: nv[b]] = NOT_YET
        if (
            _edges_clear(a, b, cls_a, G)
            and _edges_clear(b, a, cls_b, G)
            and (_parts_out(a, b, cls_a, G) or _parts_out(b, a, cls_b, G))
        ):
            out[i] = NO
        else:
            out[i] = UNDECIDED
    return out
