"""The interior test of :mod:`rastercover.kernels.overlap` against GEOS (``shapely.relate_pattern``).

The compiled loop certifies pairs whose interiors do not meet and hands the others to GEOS, so the answers must be
GEOS's on any input, and a certificate must never be given to a pair whose interiors meet. Inputs: coverages (the
case the loop is for: shared edges, shared vertices, T-junctions, snapped coordinates), polygons on a small lattice
(every degenerate contact: collinear edges, vertices on edges, holes, equal polygons, multipolygons), and both under
awkward affine maps (decimal scales, large offsets).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from rastercover.kernels import overlap
from rastercover.kernels.overlap import interiors_meet


def _certified_apart(geoms: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    from rastercover.kernels._overlap_jit import NO, apart

    used, inv = np.unique(np.concatenate([i, j]), return_inverse=True)
    arrays, _ = overlap._flat(geoms[used])
    return apart(*arrays, inv[: len(i)], inv[len(i) :], overlap.BUDGET) == NO


def _check(geoms: list) -> int:
    """Every pair (and every geometry with itself): the same answers as GEOS; returns the pairs certified."""
    g = np.array([x for x in geoms if x.is_valid and not x.is_empty and x.area > 0], dtype=object)
    if len(g) == 0:
        return 0
    i, j = np.triu_indices(len(g))
    geos = shapely.relate_pattern(g[i], g[j], "T********")
    assert interiors_meet(g, i, j, compiled=True).tolist() == geos.tolist()
    assert interiors_meet(g, i, j, compiled=False).tolist() == geos.tolist()
    apart = _certified_apart(g, i, j)
    wrong = apart & geos
    assert not wrong.any(), [(g[i[k]].wkt, g[j[k]].wkt) for k in np.nonzero(wrong)[0][:3]]
    return int(apart.sum())


def _polygonal(g):
    """``g`` as a valid Polygon or MultiPolygon (its polygons with area), or None."""
    if g is None or g.is_empty:
        return None
    if not g.is_valid:
        g = shapely.make_valid(g, method="structure", keep_collapsed=False)
    parts = [p for p in shapely.get_parts(g) if p.geom_type == "Polygon" and p.area > 0]
    if not parts:
        return None
    g = parts[0] if len(parts) == 1 else shapely.union_all(parts)
    return g if g.geom_type in ("Polygon", "MultiPolygon") and g.is_valid else None


# --------------------------------------------------------------------------------------------- strategies
lattice = st.integers(0, 4)


@st.composite
def lattice_polygon(draw, depth: int = 0):
    kind = draw(st.integers(0, 4 if depth < 2 else 1))
    if kind == 0:
        x0, y0, w, h = draw(lattice), draw(lattice), draw(st.integers(1, 3)), draw(st.integers(1, 3))
        return shapely.box(x0, y0, x0 + w, y0 + h)
    if kind == 1:
        pts = draw(st.lists(st.tuples(lattice, lattice), min_size=3, max_size=6))
        return shapely.Polygon([(x / 2, y / 2) for x, y in pts])
    a, b = draw(lattice_polygon(depth + 1)), draw(lattice_polygon(depth + 1))
    a, b = shapely.make_valid(a), shapely.make_valid(b)
    try:
        if kind == 2:
            return shapely.union(a, b)
        if kind == 3:
            return shapely.difference(a, b)
        return shapely.segmentize(a, 0.5)  # extra vertices along its edges: T-junctions for its neighbours
    except shapely.errors.GEOSException:
        return a


@st.composite
def coverage(draw):
    """A Voronoi coverage of lattice sites, cut to a box; some cells with extra vertices, merged or copied."""
    sites = draw(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), min_size=3, max_size=25, unique=True))
    unit = draw(st.sampled_from([1.0, 0.5, 0.1, 1 / 3]))
    pts = shapely.multipoints(np.array(sites, dtype=float) * unit)
    cells = shapely.make_valid(shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=shapely.box(-5, -5, 20, 20))))
    if draw(st.booleans()):
        cells = shapely.intersection(cells, shapely.box(0, 0, 6 * unit + 0.25, 6 * unit + 0.25))
    cells = list(cells)
    if len(cells) > 1 and draw(st.booleans()):
        k = draw(st.integers(0, len(cells) - 2))
        choice = draw(st.integers(0, 3))
        if choice == 0:
            cells[k] = shapely.segmentize(cells[k], 0.3 * unit)
        elif choice == 1:
            cells.append(shapely.union(cells[k], cells[k + 1]))  # overlaps both
        elif choice == 2:
            cells.append(cells[k])  # a twin
        else:
            cells.append(shapely.difference(shapely.box(-6, -6, 21, 21), cells[k]))  # a cell's complement: a hole
    return cells


@st.composite
def scene(draw):
    geoms = draw(st.one_of(coverage(), st.lists(lattice_polygon(), min_size=2, max_size=8)))
    geoms = [g for g in (_polygonal(x) for x in geoms) if g is not None]
    scale = draw(st.sampled_from([1.0, 0.1, 3.7, 1e-6, 1e6, 1 / 3]))
    offset = draw(st.sampled_from([0.0, 1e3, -7.25, 123456.789]))
    if scale != 1.0 or offset != 0.0:
        geoms = list(shapely.transform(np.array(geoms, dtype=object), lambda xy: xy * scale + offset))
    return geoms


# --------------------------------------------------------------------------------------------- tests
@settings(max_examples=150)
@given(geoms=scene())
def test_the_same_answers_as_geos_and_no_certificate_for_an_overlap(geoms):
    _check(geoms)


def test_most_neighbours_of_a_coverage_are_certified():
    rng = np.random.default_rng(3)
    pts = shapely.multipoints(rng.uniform(0, 100, (300, 2)))
    cells = shapely.intersection(
        shapely.get_parts(shapely.voronoi_polygons(pts)), shapely.Polygon([(0, 0), (100, 5), (95, 100), (3, 90)])
    )
    g = np.array([c for c in cells if c.area > 0], dtype=object)
    i, j = shapely.STRtree(g).query(g)
    keep = i < j
    i, j = i[keep], j[keep]
    touching = shapely.intersects(g[i], g[j])
    apart = _certified_apart(g, i, j)
    assert touching.sum() > 500
    # the neighbours, sharing edges: GEOS is asked for few of them (cells cut by the outline end on it with rounded
    # vertices: their edges along it are collinear to rounding, which no double-precision sign certifies)
    assert apart[touching].mean() > 0.95
    assert interiors_meet(g, i, j, compiled=True).tolist() == [False] * len(i)


@pytest.mark.parametrize(
    ("a", "b", "meet"),
    [
        ("POLYGON((0 0,1 0,1 1,0 1,0 0))", "POLYGON((1 0,2 0,2 1,1 1,1 0))", False),  # a shared edge
        ("POLYGON((0 0,1 0,1 1,0 1,0 0))", "POLYGON((1 1,2 1,2 2,1 2,1 1))", False),  # a shared corner
        ("POLYGON((0 0,1 0,1 1,0 1,0 0))", "POLYGON((0 1,1 1,1 0,0 0,0 1))", True),  # twins, other vertex order
        ("POLYGON((0 0,1 0,1 1,0 1,0 0))", "POLYGON((0 0,0.5 0,1 0,1 1,0 1,0 0))", True),  # twins, a vertex more
        ("POLYGON((0 0,2 0,2 1,0 1,0 0))", "POLYGON((1 1,2 1,2 2,1 2,1 1))", False),  # a T-junction
        ("POLYGON((0 0,2 0,2 1,0 1,0 0))", "POLYGON((0.5 1,1.5 1,1.5 2,0.5 2,0.5 1))", False),  # part of an edge
        ("POLYGON((0 0,4 0,4 4,0 4,0 0),(1 1,3 1,3 3,1 3,1 1))", "POLYGON((1 1,3 1,3 3,1 3,1 1))", False),  # its hole
        ("POLYGON((0 0,4 0,4 4,0 4,0 0),(1 1,3 1,3 3,1 3,1 1))", "POLYGON((1.5 1.5,2 1.5,2 2,1.5 1.5))", False),
        ("POLYGON((0 0,4 0,4 4,0 4,0 0),(1 1,3 1,3 3,1 3,1 1))", "POLYGON((0 0,1 0,1 1,0 0))", True),
        ("POLYGON((0 0,4 0,4 4,0 4,0 0))", "POLYGON((1 1,2 1,2 2,1 2,1 1))", True),  # inside, no contact
        ("POLYGON((0 0,4 0,4 4,0 4,0 0))", "POLYGON((0 0,2 0,2 2,0 2,0 0))", True),  # inside, at a corner
        ("MULTIPOLYGON(((0 0,1 0,1 1,0 1,0 0)),((2 0,3 0,3 1,2 1,2 0)))", "POLYGON((2 0,3 0,3 1,2 1,2 0))", True),
        ("MULTIPOLYGON(((0 0,1 0,1 1,0 1,0 0)),((2 0,3 0,3 1,2 1,2 0)))", "POLYGON((1 0,2 0,2 1,1 1,1 0))", False),
        ("POLYGON((0 0,1 0,1 1,0 1,0 0))", "POLYGON((1 0,1 1,2 1,2 0,1 0))", False),  # shared edge, same way
        ("POLYGON((0 0,1 0,1 0,1 1,0 1,0 0))", "POLYGON((1 0,2 0,2 1,1 1,1 1,1 0))", False),  # repeated vertices
        ("POLYGON((0 0,1 0,1 1,0 1,0 0))", "POLYGON((2 0,3 0,3 1,2 1,2 0))", False),  # apart
        ("POLYGON((0 0,1 0,0.5 1,0 0))", "POLYGON((0 1,1 1,0.5 0.001,0 1))", True),  # edges crossing
    ],
)
def test_contacts(a, b, meet):
    g = np.array([shapely.from_wkt(a), shapely.from_wkt(b)], dtype=object)
    assert shapely.relate_pattern(g[0], g[1], "T********") == meet  # the expectation is GEOS's
    i, j = np.array([0, 1]), np.array([1, 0])
    assert interiors_meet(g, i, j, compiled=True).tolist() == [meet, meet]
    _check(list(g))


def test_a_vertex_a_hair_inside_an_edge_keeps_geoss_answer():
    """GEOS rounds the crossing points of this pair and finds no overlap, though the vertex (206.8168..., 206.8168...)
    of the first polygon lies strictly inside the second (exact arithmetic: orientation -1.85e-15): the pair is not
    certified (its edges cross), so it keeps GEOS's answer, as before the compiled loop."""
    a = shapely.from_wkt(
        "POLYGON ((206.8168129096119 206.6211931355774, 206.6211931355774 206.6211931355774, "
        "206.6211931355774 206.8168129096119, 206.8168129096119 206.8168129096119, "
        "206.8168129096119 206.6211931355774))"
    )
    b = shapely.from_wkt(
        "POLYGON ((207.33846564037054 206.68639972692225, 206.03433381347395 207.0124326836464, "
        "207.0124326836464 207.0124326836464, 207.99053155381884 207.0124326836464, "
        "207.33846564037054 206.68639972692225))"
    )
    g = np.array([a, b], dtype=object)
    geos = bool(shapely.relate_pattern(a, b, "T********"))
    assert interiors_meet(g, np.array([0]), np.array([1]), compiled=True).tolist() == [geos]
    assert not _certified_apart(g, np.array([0]), np.array([1])).any()


def test_geometries_of_other_types_and_big_pairs_go_to_geos(monkeypatch):
    g = np.array(
        [
            shapely.box(0, 0, 1, 1),
            shapely.GeometryCollection([shapely.box(1, 0, 2, 1)]),
            shapely.Point(0.5, 0.5).buffer(0.6, quad_segs=64),
        ],
        dtype=object,
    )
    i, j = np.array([0, 0, 1]), np.array([1, 2, 2])
    geos = shapely.relate_pattern(g[i], g[j], "T********").tolist()
    assert interiors_meet(g, i, j, compiled=True).tolist() == geos
    monkeypatch.setattr(overlap, "BUDGET", 10)
    assert interiors_meet(g[[0, 0]], np.array([0]), np.array([1]), compiled=True).tolist() == [True]


def test_the_compiled_loop_is_loaded_once_geos_has_done_enough(monkeypatch):
    from rastercover.kernels import compiled

    g = np.array([shapely.box(k, 0, k + 1, 1) for k in range(100)], dtype=object)
    i, j = np.arange(99), np.arange(1, 100)
    calls = []
    real = shapely.relate_pattern
    monkeypatch.setattr(overlap.shapely, "relate_pattern", lambda a, b, p: calls.append(len(a)) or real(a, b, p))
    # the load cost, whether numba's cache is warm or not (an earlier test may have looked while it was cold)
    monkeypatch.setattr(compiled, "_cost", {"rastercover.kernels._overlap_jit": 150 * overlap._GEOS_PAIR_SECONDS})
    monkeypatch.setattr(compiled, "IMPORT_SECONDS", 0.0)
    monkeypatch.setattr(compiled, "_spent", {})
    monkeypatch.delitem(sys.modules, "rastercover.kernels._overlap_jit", raising=False)
    assert not interiors_meet(g, i, j).any()  # 99 pairs: GEOS
    assert calls == [99]
    assert not interiors_meet(g, i, j).any()  # 198 pairs' worth: the compiled loop, which certifies them all
    assert calls == [99]
    assert "rastercover.kernels._overlap_jit" in sys.modules
    assert not interiors_meet(g, i[:70], j[:70]).any()  # loaded: it takes every batch from 64 pairs
    assert calls == [99]
