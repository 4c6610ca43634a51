"""Centre-hit kernel: hand-computed cases of the centre rule (spec section 2) in block pixel space.

Pixel ``(r, c)`` has its centre at ``(c + 0.5, r + 0.5)``; a centre on a boundary is decided by the point
``(c + 0.5 - ε, r + 0.5 - ε²)``. So on an axis-parallel box, centres on the left or top edge are out and centres
on the right or bottom edge are in ("top" is the smaller row, pixel space has y growing downwards).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import GeometryCollection, LineString, MultiPolygon, Point, Polygon, box

from rastercover.kernels import centre_hits, polygon_edges, polygonal_parts
from rastercover.kernels.centre import scanline_crossings


def hit_masks(geoms, height: int, width: int) -> np.ndarray:
    """Boolean ``(n_features, height, width)``: which centres each geometry's polygonal parts contain."""
    arr = np.empty(len(geoms), dtype=object)
    arr[:] = list(geoms)
    edges = polygon_edges(arr, np.arange(len(geoms), dtype=np.int64))
    pixel, feature = centre_hits(*edges, height=height, width=width)
    assert pixel.dtype.kind == "i" and feature.dtype.kind == "i"
    assert len(pixel) == len(feature)
    # documented order: sorted by feature, then pixel; and no (pixel, feature) pair twice
    key = feature * (height * width) + pixel
    assert np.all(np.diff(key) > 0)
    assert np.all((pixel >= 0) & (pixel < height * width))
    out = np.zeros((len(geoms), height, width), dtype=bool)
    out[feature, pixel // width, pixel % width] = True
    return out


def mask(height: int, width: int, cells) -> np.ndarray:
    m = np.zeros((height, width), dtype=bool)
    for r, c in cells:
        m[r, c] = True
    return m


def assert_mask(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.astype(int).tolist() == np.asarray(expected).astype(int).tolist()


def rect(height: int, width: int, rows, cols) -> np.ndarray:
    return mask(height, width, [(r, c) for r in rows for c in cols])


# ---------------------------------------------------------------------------------------------- polygon_edges
def test_polygon_edges_of_a_box():
    x0, y0, x1, y1, owner = polygon_edges(np.array([box(0, 0, 2, 1)]), np.array([7]))
    assert len(x0) == 4 and owner.tolist() == [7, 7, 7, 7]
    segs = {((a, b), (c, d)) for a, b, c, d in zip(x0, y0, x1, y1, strict=True)}
    # the four sides, each once, as directed segments between consecutive ring vertices
    undirected = {frozenset(s) for s in segs}
    assert undirected == {
        frozenset({(0.0, 0.0), (2.0, 0.0)}),
        frozenset({(2.0, 0.0), (2.0, 1.0)}),
        frozenset({(2.0, 1.0), (0.0, 1.0)}),
        frozenset({(0.0, 1.0), (0.0, 0.0)}),
    }


def test_polygon_edges_with_holes_parts_and_collections():
    with_hole = Polygon([(0, 0), (6, 0), (6, 6), (0, 6)], [[(1, 1), (2, 1), (2, 2)], [(3, 3), (4, 3), (4, 4), (3, 4)]])
    multi = MultiPolygon([box(0, 0, 1, 1), box(2, 2, 3, 3)])
    gc = GeometryCollection([LineString([(0, 0), (5, 5)]), Point(1, 1), box(0, 0, 1, 1)])
    nested = GeometryCollection([GeometryCollection([box(0, 0, 1, 1)]), MultiPolygon([box(2, 0, 3, 1)])])
    only_lines = GeometryCollection([LineString([(0, 0), (5, 5)]), Point(1, 1)])
    geoms = np.array([with_hole, multi, gc, LineString([(0, 0), (1, 1)]), Polygon(), nested, only_lines], dtype=object)
    x0, y0, x1, y1, owner = polygon_edges(geoms, np.arange(len(geoms)))
    counts = np.bincount(owner, minlength=len(geoms)).tolist()
    # 4 + 3 + 4 edges (no edge joins one ring to the next), 4 + 4, 4, none for lines, points and empties
    assert counts == [11, 8, 4, 0, 0, 8, 0]
    # every edge is a real side: its end points are consecutive vertices of one ring, never a jump between rings
    for a, b, c, d, o in zip(x0, y0, x1, y1, owner, strict=True):
        parts, _ = polygonal_parts(geoms[[o]], np.array([0]))
        rings = shapely.union_all([p.boundary for p in parts])
        assert rings.covers(LineString([(a, b), (c, d)])), (o, a, b, c, d)


def test_polygonal_parts_flattens_and_keeps_owners():
    geoms = np.array(
        [
            MultiPolygon([box(0, 0, 1, 1), box(2, 2, 3, 3)]),
            LineString([(0, 0), (1, 1)]),
            GeometryCollection([Point(0, 0), box(5, 5, 6, 6), GeometryCollection([box(7, 7, 8, 8)])]),
            Polygon(),
        ],
        dtype=object,
    )
    parts, owner = polygonal_parts(geoms, np.array([10, 11, 12, 13]))
    assert owner.tolist() == [10, 10, 12, 12]
    assert all(p.geom_type == "Polygon" and not p.is_empty for p in parts)
    assert sorted(p.bounds for p in parts) == [(0, 0, 1, 1), (2, 2, 3, 3), (5, 5, 6, 6), (7, 7, 8, 8)]


def test_polygon_edges_of_nothing():
    x0, y0, x1, y1, owner = polygon_edges(np.array([], dtype=object), np.array([], dtype=np.int64))
    assert len(x0) == len(y0) == len(x1) == len(y1) == len(owner) == 0
    pixel, feature = centre_hits(x0, y0, x1, y1, owner, height=3, width=3)
    assert len(pixel) == len(feature) == 0


# ---------------------------------------------------------------------------------------------- centre rule
def test_box_edges_on_centres_left_top_out_right_bottom_in():
    # edges x = 0.5, 2.5 and y = 0.5, 2.5 run through centres: columns/rows 0 (left, top) out, 2 (right, bottom) in
    got = hit_masks([box(0.5, 0.5, 2.5, 2.5)], 4, 4)[0]
    assert_mask(got, rect(4, 4, [1, 2], [1, 2]))


def test_box_edges_between_centres():
    got = hit_masks([box(0, 0, 2, 3)], 4, 4)[0]
    assert_mask(got, rect(4, 4, [0, 1, 2], [0, 1]))


def test_docstring_example():
    got = hit_masks([box(0.5, 0.5, 2.5, 1.5)], 2, 3)[0]
    assert_mask(got, mask(2, 3, [(1, 1), (1, 2)]))


def test_vertices_on_centres():
    # diamond centred on (1.5, 1.5) with its four vertices on centres (1.5, .5), (2.5, 1.5), (1.5, 2.5), (.5, 1.5)
    diamond = Polygon([(1.5, 0.5), (2.5, 1.5), (1.5, 2.5), (0.5, 1.5)])
    got = hit_masks([diamond], 3, 3)[0]
    # interior centre (1.5, 1.5) in; right vertex: (2.5 - ε, 1.5 - ε²) is inside; top, left, bottom vertices out
    assert_mask(got, mask(3, 3, [(1, 1), (1, 2)]))
    # the same diamond in reverse orientation: the ring direction does not matter
    got_rev = hit_masks([diamond.reverse()], 3, 3)[0]
    assert_mask(got_rev, got)


def test_triangle_vertex_on_centre_at_the_bottom():
    # apex at the centre (1.5, 2.5), pointing down: (1.5 - ε, 2.5 - ε²) lies left of the apex -> out
    tri = Polygon([(0, 0), (3, 0), (1.5, 2.5)])
    got = hit_masks([tri], 3, 3)[0]
    # row 0 (y=.5): x in (.3, 2.7) -> centres .5, 1.5, 2.5 in; row 1 (y=1.5): x in (.9, 2.1) -> 1.5 only
    assert_mask(got, mask(3, 3, [(0, 0), (0, 1), (0, 2), (1, 1)]))
    # pointing up, apex on the centre (1.5, 0.5): (1.5 - ε, 0.5 - ε²) is above the apex -> out
    up = Polygon([(0, 3), (3, 3), (1.5, 0.5)])
    got = hit_masks([up], 3, 3)[0]
    assert_mask(got, mask(3, 3, [(1, 1), (2, 0), (2, 1), (2, 2)]))


def test_diagonal_edge_through_centres_partitions():
    # x + y = 4 runs through the centres (.5, 3.5), (1.5, 2.5), (2.5, 1.5), (3.5, .5)
    lower = Polygon([(0, 0), (4, 0), (0, 4)])  # x + y < 4: the perturbed point (x - ε, y - ε²) is inside
    upper = Polygon([(4, 0), (4, 4), (0, 4)])
    got = hit_masks([lower, upper], 4, 4)
    rr, cc = np.mgrid[0:4, 0:4]
    assert_mask(got[0], (rr + cc <= 3))
    assert_mask(got[1], (rr + cc > 3))
    # y = x runs through the centres (k + .5, k + .5): (x - ε, y - ε²) has y > x
    below = Polygon([(0, 0), (4, 0), (4, 4)])  # y < x
    above = Polygon([(0, 0), (4, 4), (0, 4)])  # y > x
    got = hit_masks([below, above], 4, 4)
    assert_mask(got[0], (rr < cc))
    assert_mask(got[1], (rr >= cc))


def test_slope_one_third_through_centres():
    # the edge (0, 0)-(6, 2) has slope 1/3 and crosses y = .5 at x = 1.5 and y = 1.5 at x = 4.5 (both centres)
    below_right = Polygon([(0, 0), (6, 0), (6, 2)])  # y < x / 3, i.e. x > 3y
    above_left = Polygon([(0, 0), (6, 2), (0, 2)])
    got = hit_masks([below_right, above_left], 2, 6)
    # perturbed (x - ε, y - ε²) satisfies x - 3y = -ε + 3ε² < 0: on-edge centres go to the upper-left polygon
    expected = mask(2, 6, [(0, 2), (0, 3), (0, 4), (0, 5), (1, 5)])
    assert_mask(got[0], expected)
    assert_mask(got[1], ~expected)


def test_hole_boundary_through_centres():
    outer = [(0, 0), (5, 0), (5, 5), (0, 5)]
    hole = [(1.5, 1.5), (3.5, 1.5), (3.5, 3.5), (1.5, 3.5)]
    ring = Polygon(outer, [hole])
    filler = Polygon(hole)
    got = hit_masks([ring, filler], 5, 5)
    in_hole = rect(5, 5, [2, 3], [2, 3])  # hole's left/top edges keep their centres in the ring, right/bottom not
    assert_mask(got[1], in_hole)
    assert_mask(got[0], ~in_hole)


def test_hole_touching_the_outer_ring_at_a_centre():
    # a triangular hole whose vertex touches the outer ring's bottom edge at the centre (2.5, 4.5)
    poly = Polygon([(0, 0), (5, 0), (5, 4.5), (0, 4.5)], [[(2.5, 4.5), (1, 1.25), (4, 1.25)]])
    assert poly.is_valid
    got = hit_masks([poly], 5, 5)[0]
    # (2.5 - ε, 4.5 - ε²) is just inside the outer ring and just left of the hole's vertex: outside the hole -> in
    assert got[4, 2]
    # the hole spans x in (1.12, 3.88) at y = 1.5, (1.58, 3.42) at y = 2.5 and (2.04, 2.96) at y = 3.5
    assert_mask(got, ~mask(5, 5, [(1, 1), (1, 2), (1, 3), (2, 2), (3, 2)]))


def test_multipolygon_parts_touching_at_a_centre():
    mp = MultiPolygon([box(0.5, 0.5, 2.5, 2.5), box(2.5, 2.5, 4.5, 4.5)])
    assert mp.is_valid
    got = hit_masks([mp], 6, 6)[0]
    # the shared corner (2.5, 2.5) goes to the first part: (2.5 - ε, 2.5 - ε²) is inside it
    assert_mask(got, (rect(6, 6, [1, 2], [1, 2]) | rect(6, 6, [3, 4], [3, 4])))


def test_geometry_collection_polygon_and_line():
    gc = GeometryCollection([box(0, 0, 2, 1), LineString([(0.5, 0.5), (5.5, 0.5)]), Point(4.5, 0.5)])
    got = hit_masks([gc, LineString([(0.5, 1.5), (5.5, 1.5)]), Point(2.5, 1.5)], 2, 6)
    assert_mask(got[0], mask(2, 6, [(0, 0), (0, 1)]))
    assert not got[1].any() and not got[2].any()


def test_overlapping_polygons_of_one_feature_fill_their_union():
    # a valid GeometryCollection may hold overlapping polygons: the feature's polygonal part is their union
    gc = GeometryCollection([box(0, 0, 2, 1), box(1, 0, 3, 1)])
    assert gc.is_valid
    assert_mask(hit_masks([gc], 1, 3)[0], np.ones((1, 3), dtype=bool))
    # a polygon with a hole plus the hole's filler, in one collection: the whole outer ring, hole boundary included
    outer = [(0, 0), (5, 0), (5, 5), (0, 5)]
    hole = [(1.5, 1.5), (3.5, 1.5), (3.5, 3.5), (1.5, 3.5)]
    filled = GeometryCollection([Polygon(outer, [hole]), Polygon(hole)])
    assert_mask(hit_masks([filled], 5, 5)[0], np.ones((5, 5), dtype=bool))
    # nested: a collection holding the same box twice and a multipolygon overlapping it
    nested = GeometryCollection(
        [
            box(0.5, 0.5, 2.5, 2.5),
            GeometryCollection([box(0.5, 0.5, 2.5, 2.5)]),
            MultiPolygon([box(1.5, 1.5, 3.5, 3.5)]),
        ]
    )
    assert_mask(hit_masks([nested], 4, 4)[0], rect(4, 4, [1, 2], [1, 2]) | rect(4, 4, [2, 3], [2, 3]))


def test_ring_orientation_does_not_matter():
    # shells and holes given clockwise or counter-clockwise, in any combination
    outer = [(0, 0), (5, 0), (5, 5), (0, 5)]
    hole = [(1.5, 1.5), (3.5, 1.5), (3.5, 3.5), (1.5, 3.5)]
    expected = ~rect(5, 5, [2, 3], [2, 3])
    for shell in (outer, outer[::-1]):
        for h in (hole, hole[::-1]):
            assert_mask(hit_masks([Polygon(shell, [h])], 5, 5)[0], expected)
            assert_mask(hit_masks([GeometryCollection([Polygon(shell, [h]), box(8, 8, 9, 9)])], 5, 5)[0], expected)


def test_features_are_independent():
    a = box(0.5, 0.5, 2.5, 2.5)
    b = Polygon([(1.5, 0.5), (2.5, 1.5), (1.5, 2.5), (0.5, 1.5)])
    together = hit_masks([a, b, a], 3, 3)
    assert_mask(together[0], hit_masks([a], 3, 3)[0])
    assert_mask(together[1], hit_masks([b], 3, 3)[0])
    assert_mask(together[2], together[0])


# ---------------------------------------------------------------------------------------------- outside the block
def test_polygon_reaching_outside_the_block():
    # block of 3 rows x 4 cols; the box starts left of and above the block and ends on centres
    got = hit_masks([box(-3, -2, 2.5, 1.5)], 3, 4)[0]
    assert_mask(got, rect(3, 4, [0, 1], [0, 1, 2]))
    # a box covering the whole block and more
    got = hit_masks([box(-10, -10, 100, 100)], 3, 4)[0]
    assert got.all()
    # a polygon that covers the block except a notch, all its vertices outside the block
    notched = Polygon([(-5, -5), (9, -5), (9, 9), (2.5, 9), (2.5, 1.5), (1.5, 1.5), (1.5, 9), (-5, 9)])
    got = hit_masks([notched], 3, 4)[0]
    # notch x in [1.5, 2.5], y >= 1.5: only the centre (2.5, 2.5) falls in it ((1.5, y) is on its left side,
    # (x, 1.5) on its top side: both stay in the polygon)
    assert_mask(got, ~mask(3, 4, [(2, 2)]))


def test_polygons_entirely_outside_the_block():
    geoms = [
        box(-5, 0, -0.5, 3),  # left
        box(4.5, 0, 9, 3),  # right of the last centre 3.5
        box(0, -4, 4, 0.5),  # above: bottom edge on the first row's centres -> in!
        box(0, 2.5, 4, 7),  # below: top edge on the last row's centres -> out
        box(0, 3, 4, 7),  # below the block
    ]
    got = hit_masks(geoms, 3, 4)
    assert not got[0].any() and not got[1].any() and not got[3].any() and not got[4].any()
    assert_mask(got[2], rect(3, 4, [0], range(4)))


def test_polygon_crossing_the_block_right_of_centres_only():
    # crossings with x beyond the block's last centre are clipped; the parity must still be right
    got = hit_masks([box(3.75, -1, 50, 9), box(-50, -1, 0.5, 9), box(-50, -1, 50, 0.25)], 3, 4)
    assert not got[0].any()  # x > 3.75: no centre (last centre 3.5)
    assert_mask(got[1], rect(3, 4, range(3), [0]))
    assert not got[2].any()


# ---------------------------------------------------------------------------------------------- empty results
def test_empty_results():
    slivers = [
        box(0.6, -1, 0.9, 5),  # vertical sliver between two centre columns
        box(-1, 1.6, 7, 1.9),  # horizontal sliver between two centre rows
        Polygon([(0.6, 0.6), (1.4, 0.6), (1.4, 1.4)]),  # inside one pixel, away from its centre
        box(0.5, 0.5, 1.5, 0.5 + 1e-9),  # top edge on centres, bottom edge above the next row
        LineString([(0.5, 0.5), (3.5, 0.5)]),
        Point(1.5, 1.5),
        Polygon(),
    ]
    got = hit_masks(slivers, 3, 4)
    assert not got.any()


def test_zero_width_polygon_and_horizontal_edges_never_cross():
    # a degenerate (zero-area) ring along the centre row: horizontal edges do not cross the scanline
    flat = Polygon([(0, 0.5), (3, 0.5), (3, 0.5), (0, 0.5)])
    x0, y0, x1, y1, owner = polygon_edges(np.array([flat]), np.array([0]))
    pixel, feature = centre_hits(x0, y0, x1, y1, owner, height=2, width=4)
    assert len(pixel) == 0


# ---------------------------------------------------------------------------------------------- exact fallback
# An edge, with exactly representable end points, that passes exactly through the centre (2.5, 1.5): the
# crossing is 5/2 in rational arithmetic, but the double formula x0 + (y - y0) * dx / dy gives 2.4999999999999996,
# whose floor(x - .5) would be 1 instead of 2. Found by search; see _naive_k below.
P0 = (-1.0688189247094897, -5.637637849418979)
P1 = (4.660040163466704, 5.820080326933407)


def _naive_k(x0, y0, x1, y1, row):
    x = x0 + ((row + 0.5) - y0) * (x1 - x0) / (y1 - y0)
    return int(np.floor(x - 0.5))


def _exact_k(x0, y0, x1, y1, row):
    fx0, fy0 = Fraction(x0), Fraction(y0)
    x = fx0 + (Fraction(2 * row + 1, 2) - fy0) * (Fraction(x1) - fx0) / (Fraction(y1) - fy0)
    return int((x - Fraction(1, 2)).__floor__())


def test_exact_fallback_on_an_edge_the_float_formula_misplaces():
    (x0, y0), (x1, y1) = P0, P1
    assert _exact_k(x0, y0, x1, y1, 1) == 2
    assert _naive_k(x0, y0, x1, y1, 1) == 1  # the float formula alone would put the crossing left of the centre
    for a, b in ((P0, P1), (P1, P0)):
        edge, row, k = scanline_crossings(
            np.array([a[0]]), np.array([a[1]]), np.array([b[0]]), np.array([b[1]]), height=3
        )
        assert row.tolist() == [0, 1, 2]
        assert k.tolist() == [_exact_k(a[0], a[1], b[0], b[1], r) for r in range(3)]
        assert k[1] == 2


def test_exact_fallback_decides_the_centre_hit():
    (x0, y0), (x1, y1) = P0, P1
    # polygon to the right of the edge (and a mirror one to its left): the centre (2.5, 1.5) on the edge is
    # decided by (2.5 - ε, 1.5 - ε²), which is left of the edge
    right = Polygon([P0, P1, (x1 + 20, y0)])
    left = Polygon([P0, P1, (x0 - 20, y1)])
    assert right.is_valid and left.is_valid
    assert shapely.touches(right, Point(2.5, 1.5)) and shapely.touches(left, Point(2.5, 1.5))
    got = hit_masks([right, left], 3, 6)
    assert not got[0][1, 2] and got[1][1, 2]
    # and the two polygons share the edge: together they hit each centre of the block inside their union once
    union_box = shapely.union(right, left)
    for r in range(3):
        for c in range(6):
            if shapely.contains_properly(union_box, Point(c + 0.5, r + 0.5)):
                assert got[0][r, c] != got[1][r, c]


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    p=st.integers(1, 9),
    q=st.integers(-9, 9).filter(bool),
    m1=st.integers(1, 2**40),
    m2=st.integers(1, 2**40),
    col=st.integers(0, 5),
    row=st.integers(0, 5),
)
def test_crossings_through_a_centre_are_exact(p, q, m1, m2, col, row):
    # edges through the centre (col + .5, row + .5) with rational slope q / p and end points with many
    # significant bits, so the double formula rounds; the kernel must still return the exact floor(x - .5)
    s1, s2 = m1 * 2.0**-38, m2 * 2.0**-38  # up to 4, exact multiples of 2^-38
    xc, yc = col + 0.5, row + 0.5
    x0, y0, x1, y1 = xc - p * s1, yc - q * s1, xc + p * s2, yc + q * s2
    # the constructed coordinates are exact, so the edge really passes through the centre
    assert Fraction(x0) == Fraction(xc) - p * Fraction(s1) and Fraction(y1) == Fraction(yc) + q * Fraction(s2)
    edge, rows, k = scanline_crossings(np.array([x0]), np.array([y0]), np.array([x1]), np.array([y1]), height=6)
    assert k.tolist() == [_exact_k(x0, y0, x1, y1, int(r)) for r in rows]
    assert k[rows.tolist().index(row)] == col


FAR = st.integers(0, 42).flatmap(lambda e: st.integers(2**e, 2 ** (e + 1)))  # log-uniform up to ~1e13


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    p=st.integers(1, 9),
    q=st.integers(-9, 9).filter(bool),
    m1=FAR,
    m2=FAR,
    col=st.integers(0, 5),
    row=st.integers(0, 5),
)
def test_crossings_of_edges_from_far_away_are_exact(p, q, m1, m2, col, row):
    # the same with end points up to ~1e13 pixels away (integers + .5, exact): the double formula's error grows
    # with the operands, and every crossing (on a centre or not) must still get the exact floor(x - .5)
    xc, yc = col + 0.5, row + 0.5
    x0, y0, x1, y1 = xc - p * m1, yc - q * m1, xc + p * m2, yc + q * m2
    edge, rows, k = scanline_crossings(np.array([x0]), np.array([y0]), np.array([x1]), np.array([y1]), height=6)
    assert k.tolist() == [_exact_k(x0, y0, x1, y1, int(r)) for r in rows]
    assert k[rows.tolist().index(row)] == col


# A polygon reaching very far outside the block (1e8 pixels) whose edge passes exactly through the centre
# (1.5, 0.5). The edge is y = x - 1 (slope 1); all coordinates are exact doubles.
FAR0 = (-794097046.5, -794097047.5)
FAR1 = (126721185.5, 126721184.5)


def test_far_vertices_edge_through_a_centre():
    # region below the edge (y < x - 1 in pixel space); (1.5 - ε, .5 - ε²) lies above it -> the centre is out
    tri = Polygon([FAR0, FAR1, (FAR1[0], FAR0[1])])
    assert tri.is_valid and shapely.touches(tri, Point(1.5, 0.5))
    assert not shapely.contains(tri, Point(1.5 - 1e-6, 0.5 - 1e-12))
    got = hit_masks([tri], 2, 4)[0]
    # row 0 (y = .5): crossing at x = 1.5 -> columns 2, 3 (x = 2.5, 3.5); row 1 (y = 1.5): x = 2.5 -> column 3
    assert_mask(got, mask(2, 4, [(0, 2), (0, 3), (1, 3)]))


@pytest.mark.parametrize("scale", [1e3, 1e5, 1e7, 1e9, 1e11])
def test_far_vertices_edge_through_centres_slope_one_third(scale):
    # the edge x = 3y + 1.5 - 1.5 = 3y (through the centres (1.5, .5) and (4.5, 1.5)), with end points far out
    m = float(int(scale)) + 1.0
    a = (-3 * m, -m)
    b = (3 * (m + 7), m + 7)
    right = Polygon([a, (b[0], a[1]), b])  # x > 3y
    assert right.is_valid
    got = hit_masks([right], 2, 6)[0]
    expected = mask(2, 6, [(0, 2), (0, 3), (0, 4), (0, 5), (1, 5)])
    assert_mask(got, expected)
