"""Whether the interiors of two polygonal geometries meet (DE-9IM ``T********``), for many pairs at once.

``shapely.relate_pattern`` answers it, at about 10 µs a pair of 40-vertex polygons: on a coverage (neighbours
share edges and never overlap) that was over a third of ``PROPORTION_OF_COVERED_AREA``. Here a compiled loop
(:mod:`rastercover.kernels._overlap_jit`) certifies, in under 2 µs a pair and from exact sign tests only, that the
interiors of most such neighbours do not meet (all but one of the 9000 pairs of the benchmark's forest polygons),
and hands every other pair to ``shapely.relate_pattern``; it also takes the pairs whose boxes meet but not the
polygons, which spares GEOS's ``intersects`` filter. The answers are GEOS's, whichever way they are found (below:
why a certified answer is also GEOS's). :mod:`rastercover.kernels.compiled` says when the loop is used.

**Why a certified "no" is right.** ``A`` and ``B`` are valid polygonal geometries: each is the closure of its
interior, its boundary is the union of its rings' edges, and the interior of each of its polygons is connected.

*Lemma.* If the interiors meet, then the boundary of ``A`` meets the interior of ``B``, or the boundary of ``B``
meets the interior of ``A``, or a polygon of ``A`` equals a polygon of ``B``. (Suppose neither boundary meets the
other's interior, and ``x`` is in both interiors. The component ``U`` of ``int B`` holding ``x`` is connected and
misses ``∂A``, so it lies in ``int A`` (it meets ``int A`` at ``x``, and ``int A`` and ``ext A`` would split it
otherwise); so ``U`` lies in the component ``V`` of ``int A`` holding ``x``, and likewise ``V ⊆ U``: the two
polygons have the same interior, hence are equal, being closures of their interiors.)

1. A vertex of ``A`` is classified against ``B`` as ON (equal to a vertex of ``B``), IN, OUT or UNKNOWN. It is on
   no edge of ``B`` when it lies outside each edge's box or the orientation of the edge's ends and the vertex is
   certified non-zero; then the parity of the edges crossing the ray towards ``+x`` (half-open rule on ``y``, each
   side decided by an exact comparison or a certified orientation) says IN or OUT. Outside ``B``'s box is OUT.
2. An edge ``e = [p, q]`` of ``A`` is *clear* of ``int B`` when it is an edge of ``B`` (it lies on ``∂B``), or when
   every edge ``f`` of ``B`` is disjoint from it (boxes apart, or ``f``'s ends strictly on one side of ``e``'s line,
   or the converse) or meets it only at a common end (equal coordinates, ``f``'s other end off ``e``'s line), and
   ``p`` (or ``q``) is OUT: then ``[p, q)`` misses ``∂B`` and holds a point of ``ext B``, so it lies in ``ext B``,
   and ``q``, in its closure, is not in ``int B`` (and is OUT itself when no edge of ``B`` ends there: the loop
   carries OUT along such edges without locating their vertices).
3. NO: every edge of ``A`` is clear of ``int B``, every edge of ``B`` of ``int A`` (no boundary meets the other's
   interior), and every polygon of ``A`` (or of ``B``) has a vertex OUT of the other geometry (it equals no polygon
   of the other). By the lemma, the interiors do not meet.

Orientation signs come from Shewchuk's orient2d first stage: the double-precision determinant and its error bound.
A sign the bound cannot certify, an exact zero (shared edges of a coverage are recognised by equal coordinates
first), or a coordinate difference that could underflow or overflow in the products gives UNKNOWN, and the pair
goes to GEOS: the loop never guesses.

**Why GEOS gives the same answer.** A pair certified apart has boundaries that meet only where they share whole
edges or vertices (equal coordinates): GEOS finds no crossing whose point it would have to round, its orientation
tests agree with the certified signs, and its answer is exact, hence "no". GEOS is not exact everywhere: where a
vertex lies within rounding of the other polygon's edge, it can miss an overlap that exact arithmetic finds. Such a
pair is never certified here (its edges cross), so it keeps GEOS's answer, as before.

Examples
--------
>>> import numpy as np, shapely
>>> g = np.array([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1), shapely.box(0.5, 0.5, 1.5, 2)])
>>> interiors_meet(g, np.array([0, 0, 1]), np.array([1, 2, 2]), compiled=True).tolist()
[False, True, True]
"""

from __future__ import annotations

import numpy as np
import shapely

from .compiled import use_compiled
from .edges import polygon_rings

__all__ = ["interiors_meet"]

#: The compiled loop takes batches of at least this many pairs (its fixed cost is ~50 µs, GEOS's ~10 µs a pair),
#: once :func:`~rastercover.kernels.compiled.use_compiled` says so.
COMPILED_PAIRS = 64
#: Vertex pairs a pair may cost the compiled loop (its tests are quadratic); beyond, GEOS (indexed) decides it.
BUDGET = 250_000
_GEOS_PAIR_SECONDS = 10e-6  # GEOS's time for a pair of 40-vertex polygons
_POLYGON = 3
_MULTIPOLYGON = 6


def interiors_meet(geoms: np.ndarray, i: np.ndarray, j: np.ndarray, *, compiled: bool | None = None) -> np.ndarray:
    """Per pair ``(geoms[i[k]], geoms[j[k]])`` of valid polygonal geometries: do their interiors meet?

    The answers of ``shapely.relate_pattern(geoms[i], geoms[j], "T********")``, for fewer of its calls.

    Parameters
    ----------
    geoms
        Valid Polygons and MultiPolygons (pairs with other geometries are left to GEOS).
    i, j
        Indices of the pairs.
    compiled
        Certify pairs apart with the compiled loop first (True), ask GEOS only (False), or choose (None): the loop
        for batches of at least :data:`COMPILED_PAIRS` once :mod:`rastercover.kernels.compiled` says so.
    """
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    if compiled is None:
        compiled = len(i) >= COMPILED_PAIRS and use_compiled(
            "rastercover.kernels._overlap_jit", len(i) * _GEOS_PAIR_SECONDS
        )
    out = np.zeros(len(i), dtype=bool)
    todo = np.ones(len(i), dtype=bool)
    if compiled and len(i):
        from ._overlap_jit import NO, apart

        used, inv = np.unique(np.concatenate([i, j]), return_inverse=True)
        arrays, polygonal = _flat(geoms[used])
        pi, pj = inv[: len(i)], inv[len(i) :]
        todo = (apart(*arrays, pi, pj, BUDGET) != NO) | ~(polygonal[pi] & polygonal[pj])
    if todo.any():
        out[todo] = shapely.relate_pattern(geoms[i[todo]], geoms[j[todo]], "T********")
    return out


def _flat(geoms: np.ndarray) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """``(x, y, ring_start, part_ring, geom_part, bbox)`` of polygonal geometries (closed rings, parts in order),
    and which geometries are polygonal (the others get no parts)."""
    # only multi-part geometries are taken apart (get_parts copies every geometry it returns)
    tid = shapely.get_type_id(geoms)
    multi = tid == _MULTIPOLYGON
    owner = np.arange(len(geoms))
    if multi.any():
        sub, pos = shapely.get_parts(geoms[multi], return_index=True)
        parts = np.concatenate([geoms[~multi], sub])
        owner = np.concatenate([owner[~multi], owner[multi][pos]])
        order = np.argsort(owner, kind="stable")
        parts, owner = parts[order], owner[order]
    else:
        parts = np.asarray(geoms, dtype=object)
    polygon = shapely.get_type_id(parts) == _POLYGON
    polygonal = np.ones(len(geoms), dtype=bool)
    polygonal[owner[~polygon]] = False
    keep = polygonal[owner]
    parts, owner = parts[keep], owner[keep]
    geom_part = np.zeros(len(geoms) + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=len(geoms)), out=geom_part[1:])
    coords, ring_start, part_ring = polygon_rings(parts)
    x = np.ascontiguousarray(coords[:, 0], dtype=np.float64)
    y = np.ascontiguousarray(coords[:, 1], dtype=np.float64)
    bbox = np.ascontiguousarray(shapely.bounds(geoms), dtype=np.float64)
    arrays = (x, y, ring_start.astype(np.int64), part_ring.astype(np.int64), geom_part, bbox)
    return arrays, polygonal
