"""The ``*_AT_PIXEL_CENTROID`` methods against a slow, obviously correct oracle (spec sections 2 and 3).

The oracle works pixel by pixel in pixel space: the map-space geometry goes through the grid's own
``grid.to_pixel`` (so transform rounding is not under test), then shapely decides each centre: strictly inside a
polygonal part -> in; off every part -> out; on a boundary -> the answer at the perturbed point
``(xc - d, yc - d²)`` for a small ``d`` (checked to agree for two values of ``d``, which holds because inputs sit on
a 1/4-pixel lattice, so boundary features are far apart compared with ``d``). The per-pixel results are then
computed with plain Python.

On grids whose map <-> pixel round trip rounds (skewed, rotated, decimal pixel sizes) the lattice is blurred by
~1e-15 pixel: a vertex meant to sit on a centre's row may end up 5e-15 below it, and no representable ``d`` has
``d²`` below that. There the boundary cases are decided by the definition itself, in exact rational arithmetic:
membership of ``(xc - ε, yc - ε²)`` as ``ε -> 0+`` by the parity of its +x ray's edge crossings
(:func:`symbolic_inside`). On lattice inputs both ways are computed and must agree.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import Counter
from fractions import Fraction

import numpy as np
import pytest
import rasterio.features
import shapely
from affine import Affine
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import GeometryCollection, LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon

import rastercover
from rastercover import Grid

CRS = "EPSG:3857"
NODATA = -9999.0
METHODS = (
    "COUNT_OF_VALUES_AT_PIXEL_CENTROID",
    "MEAN_OF_VALUES_AT_PIXEL_CENTROID",
    "SUM_OF_VALUES_AT_PIXEL_CENTROID",
    "MIN_OF_VALUES_AT_PIXEL_CENTROID",
    "MAX_OF_VALUES_AT_PIXEL_CENTROID",
    "MAJORITY_OF_VALUES_AT_PIXEL_CENTROID",
    "STDDEV_OF_VALUES_AT_PIXEL_CENTROID",
    "FIRST_VALUE_AT_PIXEL_CENTROID",
    "LAST_VALUE_AT_PIXEL_CENTROID",
)
APPROX = {"MEAN_OF_VALUES_AT_PIXEL_CENTROID", "STDDEV_OF_VALUES_AT_PIXEL_CENTROID"}
Q = 4  # vertices on multiples of 1/Q pixel: integers, half-integers (centres) and quarters


# ============================================================================================ helpers
def run(pairs, grid: Grid, methods=METHODS, **kw) -> dict[str, np.ndarray]:
    """rastercover.rasterize as a ``{method: (height, width) float64 array}`` dict."""
    methods = list(methods)
    da = rastercover.rasterize(pairs, grid, methods=methods, assume_crs=CRS, dtype="float64", nodata=NODATA, **kw)
    assert da.dims == ("band", "y", "x")
    assert da.shape == (len(methods), grid.height, grid.width)
    assert list(da.coords["band"].values) == methods
    assert da.dtype == np.float64
    return {m: np.asarray(da.sel(band=m).values) for m in methods}


def to_pixel_geom(geom, grid: Grid):
    def fn(xy):
        col, row = grid.to_pixel(xy[:, 0], xy[:, 1])
        return np.column_stack([col, row])

    return shapely.transform(geom, fn)


def to_map_geom(geom, grid: Grid):
    def fn(xy):
        x, y = grid.to_map(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, fn)


def polygon_parts(geom) -> list[Polygon]:
    """The non-empty polygons of a geometry, collections flattened."""
    if geom is None or geom.is_empty:
        return []
    if geom.geom_type == "Polygon":
        return [geom]
    if geom.geom_type in ("MultiPolygon", "GeometryCollection"):
        return [p for g in geom.geoms for p in polygon_parts(g)]
    return []


def centres(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.mgrid[0:height, 0:width]
    return (cols + 0.5).ravel(), (rows + 0.5).ravel()


def symbolic_inside(parts: list[Polygon], xc: float, yc: float) -> bool:
    """Is ``(xc - ε, yc - ε²)`` inside the union of ``parts`` for infinitesimal ``ε > 0``? Exact rationals.

    Crossing parity of the ray from the perturbed point towards +x. An edge ``a -> b`` straddles the ray's line
    ``y = yc - ε²`` iff exactly one end point has ``y >= yc``. Where it crosses ``y = yc`` at ``x``, it crosses the
    ray's line at ``x - ε²·dx/dy``, which is right of ``xc - ε`` iff ``x >= xc`` (the ``ε`` term wins over ``ε²``).
    """
    X, Y = Fraction(xc), Fraction(yc)
    for poly in parts:
        crossings = 0
        for ring in (poly.exterior, *poly.interiors):
            pts = [(Fraction(x), Fraction(y)) for x, y in ring.coords]
            for (ax, ay), (bx, by) in itertools.pairwise(pts):
                if (ay >= Y) == (by >= Y):
                    continue
                x = ax + (Y - ay) * (bx - ax) / (by - ay)
                crossings += x >= X
        if crossings % 2:
            return True
    return False


def oracle_inside(geom_px, width: int, height: int, *, on_lattice: bool = True) -> np.ndarray:
    """Boolean (height, width): which pixel centres the pixel-space geometry contains (centre rule).

    ``on_lattice``: the geometry sits exactly on the 1/Q lattice, so boundary cases can be (and are) also checked
    with shapely at a perturbed point.
    """
    parts = polygon_parts(geom_px)
    n = width * height
    if not parts:
        return np.zeros((height, width), dtype=bool)
    xc, yc = centres(width, height)
    pts = shapely.points(xc, yc)
    interior = np.zeros(n, dtype=bool)
    touch = np.zeros(n, dtype=bool)
    for p in parts:
        interior |= shapely.contains_properly(p, pts)
        touch |= shapely.intersects(p, pts)
    result = interior.copy()
    on_boundary = np.nonzero(touch & ~interior)[0]
    if len(on_boundary) == 0:
        return result.reshape(height, width)
    symbolic = np.array([symbolic_inside(parts, xc[i], yc[i]) for i in on_boundary], dtype=bool)
    if on_lattice:
        for d in (1e-6, 1e-5):
            q = shapely.points(xc[on_boundary] - d, yc[on_boundary] - d * d)
            inside_q = np.zeros(len(q), dtype=bool)
            for p in parts:
                cp = shapely.contains_properly(p, q)
                # the perturbed point must be off every boundary, or d is too large for this input
                assert (cp == shapely.intersects(p, q)).all(), "oracle: perturbed point on a boundary"
                inside_q |= cp
            assert (inside_q == symbolic).all(), f"oracle: shapely at d={d} and the exact perturbation disagree"
    result[on_boundary] = symbolic
    return result.reshape(height, width)


def majority(vals: list[float]) -> float:
    counts = Counter(vals)
    best = max(counts.values())
    return min(v for v, k in counts.items() if k == best)


REDUCE = {
    "COUNT_OF_VALUES_AT_PIXEL_CENTROID": lambda v: float(len(v)),
    "MEAN_OF_VALUES_AT_PIXEL_CENTROID": lambda v: statistics.mean(v) if v else NODATA,
    "SUM_OF_VALUES_AT_PIXEL_CENTROID": lambda v: math.fsum(v),
    "MIN_OF_VALUES_AT_PIXEL_CENTROID": lambda v: min(v) if v else NODATA,
    "MAX_OF_VALUES_AT_PIXEL_CENTROID": lambda v: max(v) if v else NODATA,
    "MAJORITY_OF_VALUES_AT_PIXEL_CENTROID": lambda v: majority(v) if v else NODATA,
    "STDDEV_OF_VALUES_AT_PIXEL_CENTROID": lambda v: statistics.pstdev(v) if v else NODATA,
    "FIRST_VALUE_AT_PIXEL_CENTROID": lambda v: v[0] if v else NODATA,
    "LAST_VALUE_AT_PIXEL_CENTROID": lambda v: v[-1] if v else NODATA,
}


def is_null(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def oracle(pairs, grid: Grid, methods=METHODS, *, on_lattice: bool = True) -> dict[str, np.ndarray]:
    """Per-pixel expected results of ``methods`` for map-space ``(geometry, value)`` pairs.

    ``on_lattice``: the pixel-space geometries sit exactly on the 1/Q lattice (see :func:`oracle_inside`).
    """
    w, h = grid.width, grid.height
    per_pixel: list[list[list[float]]] = [[[] for _ in range(w)] for _ in range(h)]
    for geom, value in pairs:  # feature order
        if is_null(value):
            continue
        inside = oracle_inside(to_pixel_geom(geom, grid), w, h, on_lattice=on_lattice)
        for r, c in zip(*np.nonzero(inside), strict=True):
            per_pixel[r][c].append(float(value))
    return {m: np.array([[REDUCE[m](per_pixel[r][c]) for c in range(w)] for r in range(h)]) for m in methods}


def assert_method_equal(method: str, got: np.ndarray, want: np.ndarray, context: str = "") -> None:
    if method in APPROX:
        ok = np.isclose(got, want, rtol=1e-9, atol=1e-9)
    else:
        ok = got == want
    if not ok.all():
        bad = [(int(r), int(c), float(got[r, c]), float(want[r, c])) for r, c in zip(*np.nonzero(~ok), strict=True)]
        raise AssertionError(f"{method}{context}: (row, col, got, expected) {bad[:10]}")


def assert_results_equal(got: dict, want: dict, context: str = "") -> None:
    assert got.keys() == want.keys()
    for m in got:
        assert_method_equal(m, got[m], want[m], context)


# ============================================================================================ strategies
def lattice(lo: float, hi: float):
    """Coordinates on the 1/Q lattice in [lo, hi], half of them on centre lines (``k + 0.5``)."""
    quarters = st.integers(math.ceil(lo * Q), math.floor(hi * Q)).map(lambda k: k / Q)
    if math.floor(hi - 0.5) < math.ceil(lo - 0.5):
        return quarters
    halves = st.integers(math.ceil(lo - 0.5), math.floor(hi - 0.5)).map(lambda k: k + 0.5)
    return st.one_of(halves, quarters)


def offset(n: int):
    """Lattice offsets in [-n, n], half of them whole pixels (which keep a vertex on a centre on one)."""
    return st.one_of(st.integers(-n, n).map(float), st.integers(-n * Q, n * Q).map(lambda k: k / Q))


@st.composite
def a_box(draw, w, h, max_side=5):
    x0 = draw(lattice(-2, w + 1))
    y0 = draw(lattice(-2, h + 1))
    dx = draw(st.integers(1, max_side * Q)) / Q
    dy = draw(st.integers(1, max_side * Q)) / Q
    return shapely.box(x0, y0, x0 + dx, y0 + dy)


@st.composite
def a_triangle(draw, w, h):
    ax, ay = draw(lattice(-2, w + 2)), draw(lattice(-2, h + 2))
    pts = [(ax, ay)] + [(ax + draw(offset(4)), ay + draw(offset(4))) for _ in range(2)]
    tri = Polygon(pts)
    assume(tri.area > 0)
    return tri


@st.composite
def a_hull(draw, w, h):
    ax, ay = draw(lattice(-2, w + 2)), draw(lattice(-2, h + 2))
    n = draw(st.integers(3, 7))
    pts = MultiPoint([(ax + draw(offset(4)), ay + draw(offset(4))) for _ in range(n)])
    hull = pts.convex_hull
    assume(hull.geom_type == "Polygon")
    return hull


@st.composite
def a_star(draw, w, h):
    """A star-shaped polygon: lattice vertices sorted by angle around a lattice point."""
    ax, ay = draw(lattice(-1, w + 1)), draw(lattice(-1, h + 1))
    n = draw(st.integers(3, 9))
    ks = draw(
        st.lists(
            st.tuples(st.integers(-4 * Q, 4 * Q), st.integers(-4 * Q, 4 * Q)).filter(lambda t: t != (0, 0)),
            min_size=n,
            max_size=n,
        )
    )
    by_dir = {}
    for kx, ky in ks:
        g = math.gcd(kx, ky)
        by_dir.setdefault((kx // g, ky // g), (kx, ky))  # one vertex per direction
    ordered = sorted(by_dir.values(), key=lambda t: math.atan2(t[1], t[0]))
    assume(len(ordered) >= 3)
    poly = Polygon([(ax + kx / Q, ay + ky / Q) for kx, ky in ordered])
    assume(poly.is_valid and poly.area > 0)
    return poly


def simple_shape(w, h):
    return st.one_of(a_box(w, h), a_triangle(w, h), a_hull(w, h), a_star(w, h))


@st.composite
def a_polygon_with_holes(draw, w, h):
    """An outer ring (a box, or sometimes a star or hull) with one or two box or triangle holes inside it."""
    outer = draw(st.one_of(a_box(w, h, max_side=8), a_box(w, h, max_side=8), a_star(w, h), a_hull(w, h)))
    x0, y0, x1, y1 = outer.bounds
    assume(x1 - x0 >= 3 / Q and y1 - y0 >= 3 / Q)
    xs, ys = lattice(x0 + 1 / Q, x1 - 1 / Q), lattice(y0 + 1 / Q, y1 - 1 / Q)  # strictly inside the bounds
    holes = []
    for _ in range(draw(st.integers(1, 2))):
        if draw(st.booleans()):
            hx0, hx1 = sorted(draw(st.lists(xs, min_size=2, max_size=2, unique=True)))
            hy0, hy1 = sorted(draw(st.lists(ys, min_size=2, max_size=2, unique=True)))
            holes.append(shapely.box(hx0, hy0, hx1, hy1))
        else:
            tri = Polygon([(draw(xs), draw(ys)) for _ in range(3)])
            assume(tri.area > 0)
            holes.append(tri)
    poly = Polygon(outer.exterior.coords, [hole.exterior.coords for hole in holes])
    assume(poly.is_valid)
    return poly


@st.composite
def a_multipolygon(draw, w, h):
    parts = draw(st.lists(st.one_of(simple_shape(w, h), a_polygon_with_holes(w, h)), min_size=2, max_size=3))
    mp = MultiPolygon(parts)
    assume(mp.is_valid)
    return mp


@st.composite
def a_line(draw, w, h):
    n = draw(st.integers(2, 4))
    return LineString([(draw(lattice(-1, w + 1)), draw(lattice(-1, h + 1))) for _ in range(n)])


@st.composite
def a_point(draw, w, h):
    return Point(draw(lattice(-1, w + 1)), draw(lattice(-1, h + 1)))


@st.composite
def a_collection(draw, w, h):
    """Polygons (they may overlap: a collection is valid anyway), a line and a point, maybe a multilinestring,
    in one GeometryCollection: its polygonal part is the union of its polygons."""
    polygons = draw(st.lists(st.one_of(simple_shape(w, h), a_polygon_with_holes(w, h)), min_size=1, max_size=3))
    members = [*polygons, draw(a_line(w, h)), draw(a_point(w, h))]
    if draw(st.booleans()):
        members.append(MultiLineString([draw(a_line(w, h)), draw(a_line(w, h))]))
    order = draw(st.permutations(members))
    gc = GeometryCollection(order)
    assume(gc.is_valid)  # (a degenerate line makes it invalid)
    return gc


def pixel_geometry(w, h):
    polygonal = st.one_of(simple_shape(w, h), a_polygon_with_holes(w, h), a_multipolygon(w, h), a_collection(w, h))
    others = st.one_of(a_line(w, h), a_point(w, h))
    return st.one_of(polygonal, polygonal, polygonal, others)


# Dyadic values, so that sums and means are exact whatever the order; -9999 (the nodata) never occurs.
VALUES = st.one_of(
    st.none(),
    st.integers(-3, 3).map(float),  # small set: ties for MAJORITY, repeated values
    st.integers(-80, 80).map(lambda k: k / 8),
    st.sampled_from([1024.5, -4096.25, 0.0]),
)

PIXEL_SIZES = (0.25, 0.5, 1.0, 2.0, 3.0, 10.0, 30.0)


@st.composite
def north_up_grid(draw, max_side=12):
    w = draw(st.integers(1, max_side))
    h = draw(st.integers(1, max_side))
    sx = draw(st.sampled_from(PIXEL_SIZES))
    sy = draw(st.sampled_from(PIXEL_SIZES))
    c = draw(st.integers(-4000, 4000)) / 4
    f = draw(st.integers(-4000, 4000)) / 4
    south_up = draw(st.integers(0, 9)) == 0
    return Grid(w, h, Affine(sx, 0, c, 0, sy if south_up else -sy, f), CRS)


NORTH_UP = north_up_grid()


@st.composite
def skewed_grid(draw, max_side=12):
    """A rotated and/or sheared grid (``A`` not rectilinear in general, but 90° rotations occur too)."""
    w = draw(st.integers(1, max_side))
    h = draw(st.integers(1, max_side))
    angle = draw(st.one_of(st.sampled_from([90.0, 180.0, 270.0, 30.0]), st.floats(-180, 180)))
    shear = draw(st.one_of(st.just(0.0), st.floats(-40, 40)))
    sx = draw(st.floats(0.1, 50))
    sy = draw(st.floats(0.1, 50))
    c = draw(st.floats(-1e6, 1e6))
    f = draw(st.floats(-1e6, 1e6))
    a = Affine.translation(c, f) @ Affine.rotation(angle) @ Affine.shear(shear, 0) @ Affine.scale(sx, -sy)
    assume(not a.is_degenerate)
    return Grid(w, h, a, CRS)


@st.composite
def decimal_grid(draw, max_side=12):
    """A north-up grid with decimal (non-dyadic) pixel sizes and origin: map <-> pixel rounds."""
    w = draw(st.integers(1, max_side))
    h = draw(st.integers(1, max_side))
    sx = draw(st.sampled_from([0.1, 0.2, 0.3, 0.7, 1.1, 3.3, 25.4]))
    sy = draw(st.sampled_from([0.1, 0.2, 0.3, 0.7, 1.1, 3.3, 25.4]))
    c = draw(st.integers(-100_000, 100_000)) / 10
    f = draw(st.integers(-100_000, 100_000)) / 10
    return Grid(w, h, Affine(sx, 0, c, 0, -sy, f), CRS)


ROUNDING = st.one_of(skewed_grid(), decimal_grid())


def tiling():
    """Keyword arguments for rasterize that cut the grid into small tiles and blocks (or not)."""
    tile = st.one_of(st.just(None), st.integers(1, 6), st.tuples(st.integers(1, 6), st.integers(1, 6)))
    return st.fixed_dictionaries({"tile_size": tile, "block_pixels": st.sampled_from([1, 16, 64, 4_000_000])})


@st.composite
def scene(draw, grids, max_features=6):
    """``(grid, pairs)``: features built on the pixel lattice, mapped to map space with the grid's ``A``.

    ``grids`` is ``NORTH_UP`` (map <-> pixel exact) or ``ROUNDING`` (skewed or decimal grids: it rounds).
    """
    grid = draw(grids)
    n = draw(st.integers(1, max_features))
    geoms_px = draw(st.lists(pixel_geometry(grid.width, grid.height), min_size=n, max_size=n))
    values = draw(st.lists(VALUES, min_size=n, max_size=n))
    pairs = [(to_map_geom(g, grid), v) for g, v in zip(geoms_px, values, strict=True)]
    if grids is NORTH_UP:
        # north-up dyadic grids: the map <-> pixel round trip is exact, the lattice survives intact
        for g, (m, _) in zip(geoms_px, pairs, strict=True):
            assert shapely.equals_exact(to_pixel_geom(m, grid), g, tolerance=0)
    else:
        # other grids round; an input the round trip makes invalid would be repaired by the library (make_valid),
        # which is a different geometry than the oracle's: such inputs are outside this test
        assume(all(shapely.is_valid(to_pixel_geom(m, grid)) for m, _ in pairs))
    return grid, pairs


# ============================================================================================ oracle tests
@settings(max_examples=150, deadline=None, derandomize=True)
@given(sc=scene(NORTH_UP), tiles=tiling())
def test_all_methods_match_the_oracle_north_up(sc, tiles):
    grid, pairs = sc
    grid = grid.with_tile_size(tiles["tile_size"])
    got = run(pairs, grid, block_pixels=tiles["block_pixels"])
    assert_results_equal(got, oracle(pairs, grid))


@settings(max_examples=100, deadline=None, derandomize=True)
@given(sc=scene(ROUNDING))
def test_all_methods_match_the_oracle_skewed(sc):
    # one block at the grid's origin: the library sees exactly the oracle's pixel-space coordinates
    grid, pairs = sc
    got = run(pairs, grid)
    assert_results_equal(got, oracle(pairs, grid, on_lattice=False))


@settings(max_examples=80, deadline=None, derandomize=True)
@given(sc=scene(ROUNDING), tiles=tiling())
def test_all_methods_match_the_oracle_skewed_tiled(sc, tiles):
    grid, pairs = sc
    grid = grid.with_tile_size(tiles["tile_size"])
    got = run(pairs, grid, block_pixels=tiles["block_pixels"])
    assert_results_equal(got, oracle(pairs, grid, on_lattice=False))


def test_oracle_on_a_hand_computed_case():
    # grid of 4x3 pixels of 10 m, origin (100, 230); boxes with edges on centres (pixel coords x.5)
    grid = Grid(4, 3, Affine(10, 0, 100, 0, -10, 230), CRS)
    a = shapely.box(105, 205, 125, 230)  # pixel cols .5..2.5, rows 0..2.5: centres x in {1.5, 2.5}, rows 0..2
    b = shapely.box(115, 200, 140, 215)  # pixel cols 1.5..4, rows 1.5..3: x in {2.5, 3.5}, y in {2.5}
    pairs = [(a, 2.0), (b, 6.0), (shapely.box(100, 200, 140, 230), None), (LineString([(100, 225), (140, 225)]), 9.0)]
    want = oracle(pairs, grid)
    count = np.array([[0, 1, 1, 0], [0, 1, 1, 0], [0, 1, 2, 1]], dtype=float)
    assert (want["COUNT_OF_VALUES_AT_PIXEL_CENTROID"] == count).all()
    n = NODATA
    assert (want["LAST_VALUE_AT_PIXEL_CENTROID"] == [[n, 2, 2, n], [n, 2, 2, n], [n, 2, 6, 6]]).all()
    assert (want["FIRST_VALUE_AT_PIXEL_CENTROID"] == [[n, 2, 2, n], [n, 2, 2, n], [n, 2, 2, 6]]).all()
    assert (want["SUM_OF_VALUES_AT_PIXEL_CENTROID"] == [[0, 2, 2, 0], [0, 2, 2, 0], [0, 2, 8, 6]]).all()
    assert (want["STDDEV_OF_VALUES_AT_PIXEL_CENTROID"] == [[n, 0, 0, n], [n, 0, 0, n], [n, 0, 2, 0]]).all()
    assert (want["MAJORITY_OF_VALUES_AT_PIXEL_CENTROID"] == [[n, 2, 2, n], [n, 2, 2, n], [n, 2, 2, 6]]).all()
    assert_results_equal(run(pairs, grid), want)


def test_majority_tie_goes_to_the_smaller_value_and_stddev_is_population():
    grid = Grid(2, 1, Affine(1, 0, 0, 0, -1, 1), CRS)
    everywhere = shapely.box(-1, -1, 3, 2)
    pairs = [(everywhere, 5.0), (everywhere, 1.0), (everywhere, 5.0), (everywhere, 1.0), (everywhere, 3.0)]
    got = run(pairs, grid)
    assert got["MAJORITY_OF_VALUES_AT_PIXEL_CENTROID"].tolist() == [[1.0, 1.0]]
    assert got["FIRST_VALUE_AT_PIXEL_CENTROID"].tolist() == [[5.0, 5.0]]
    assert got["LAST_VALUE_AT_PIXEL_CENTROID"].tolist() == [[3.0, 3.0]]
    assert np.allclose(got["STDDEV_OF_VALUES_AT_PIXEL_CENTROID"], statistics.pstdev([5, 1, 5, 1, 3]), rtol=1e-12)
    assert got["COUNT_OF_VALUES_AT_PIXEL_CENTROID"].tolist() == [[5.0, 5.0]]


# ============================================================================================ partition property
@st.composite
def rectangle_coverage(draw, w, h):
    """Lattice rectangles cut from a box: a grid of cells whose cells are merged along rows (T-junctions)."""
    xs = sorted(draw(st.lists(lattice(-1, w + 1), min_size=2, max_size=6, unique=True)))
    ys = sorted(draw(st.lists(lattice(-1, h + 1), min_size=2, max_size=6, unique=True)))
    pieces = []
    for y0, y1 in itertools.pairwise(ys):
        cuts = [xs[0]] + [x for x in xs[1:-1] if draw(st.booleans())] + [xs[-1]]
        pieces += [shapely.box(x0, y0, x1, y1) for x0, x1 in itertools.pairwise(cuts)]
    return pieces, shapely.box(xs[0], ys[0], xs[-1], ys[-1])


@st.composite
def triangulation_coverage(draw, w, h):
    """The Delaunay triangles of lattice points: they cover the convex hull without gap or overlap."""
    pts = draw(st.lists(st.tuples(lattice(-1, w + 1), lattice(-1, h + 1)), min_size=3, max_size=12, unique=True))
    hull = MultiPoint(pts).convex_hull
    assume(hull.geom_type == "Polygon")
    tris = [t for t in shapely.delaunay_triangles(MultiPoint(pts)).geoms if t.area > 0]
    return tris, hull


@st.composite
def voronoi_coverage(draw, w, h):
    """Voronoi cells of lattice sites, clipped to a lattice box (kept only if they form a valid coverage)."""
    sites = draw(st.lists(st.tuples(lattice(0, w), lattice(0, h)), min_size=2, max_size=8, unique=True))
    frame = shapely.box(-0.5, -0.5, w + 0.5, h + 0.5)
    cells = shapely.voronoi_polygons(MultiPoint(sites), extend_to=frame.buffer(10))
    pieces = [shapely.intersection(c, frame) for c in cells.geoms]
    pieces = [p for p in pieces if p.geom_type == "Polygon" and p.area > 0]
    assume(shapely.coverage_is_valid(np.array(pieces, dtype=object)))
    assume(abs(sum(p.area for p in pieces) - frame.area) < 1e-9)
    return pieces, frame


@st.composite
def holes_and_fillers(draw, w, h):
    """A polygon with holes plus one polygon filling each hole."""
    poly = draw(a_polygon_with_holes(w, h))
    return [poly] + [Polygon(r.coords) for r in poly.interiors], Polygon(poly.exterior.coords)


@st.composite
def coverage_scene(draw, grids):
    grid = draw(grids)
    w, h = grid.width, grid.height
    pieces, union = draw(
        st.one_of(
            rectangle_coverage(w, h), triangulation_coverage(w, h), voronoi_coverage(w, h), holes_and_fillers(w, h)
        )
    )
    # node T-junctions (a vertex of one piece inside another's edge) so that neighbours share every vertex: then
    # the coverage stays a coverage when a rounding transform moves the vertices
    vertices = shapely.union_all([MultiPoint(p.exterior.coords) for p in pieces])
    pieces = [shapely.remove_repeated_points(shapely.snap(p, vertices, 1e-9)) for p in pieces]
    # (always true but for rare Voronoi cells with vertices a hair apart)
    assume(shapely.coverage_is_valid(np.array(pieces, dtype=object)))
    # a coverage: no overlap (the areas add up to the area of the union) and no gap (the union is ``union``)
    merged = shapely.union_all(pieces)
    assert math.isclose(sum(p.area for p in pieces), merged.area, rel_tol=1e-12)
    assert math.isclose(shapely.symmetric_difference(merged, union).area, 0, abs_tol=1e-9)
    values = draw(st.lists(st.integers(1, 9).map(float), min_size=len(pieces), max_size=len(pieces)))
    return grid, pieces, union, values


@settings(max_examples=100, deadline=None, derandomize=True)
@given(sc=coverage_scene(NORTH_UP), tiles=tiling())
def test_partition_gives_each_centre_to_exactly_one_polygon(sc, tiles):
    grid, pieces, union, values = sc
    grid = grid.with_tile_size(tiles["tile_size"])
    pairs = [(to_map_geom(p, grid), v) for p, v in zip(pieces, values, strict=True)]
    got = run(pairs, grid, ["COUNT_OF_VALUES_AT_PIXEL_CENTROID", "LAST_VALUE_AT_PIXEL_CENTROID"], **tiles)
    count = got["COUNT_OF_VALUES_AT_PIXEL_CENTROID"]
    assert set(np.unique(count).tolist()) <= {0.0, 1.0}
    inside_union = oracle_inside(union, grid.width, grid.height)
    assert (count == inside_union).all(), np.argwhere(count != inside_union).tolist()
    # and the owner is the polygon the oracle gives the centre to
    assert_results_equal(
        {"LAST_VALUE_AT_PIXEL_CENTROID": got["LAST_VALUE_AT_PIXEL_CENTROID"]},
        oracle(pairs, grid, ["LAST_VALUE_AT_PIXEL_CENTROID"], on_lattice=False),  # Voronoi vertices are off-lattice
    )


@settings(max_examples=80, deadline=None, derandomize=True)
@given(sc=coverage_scene(ROUNDING), tiles=tiling())
def test_partition_on_skewed_grids(sc, tiles):
    # map-space vertices shared by two pieces stay shared (same input, same rounding), so the coverage stays
    # gap- and overlap-free in the library's pixel space whatever the transform does
    grid, pieces, union, values = sc
    grid = grid.with_tile_size(tiles["tile_size"])
    pairs = [(to_map_geom(p, grid), v) for p, v in zip(pieces, values, strict=True)]
    count = run(pairs, grid, ["COUNT_OF_VALUES_AT_PIXEL_CENTROID"], **tiles)["COUNT_OF_VALUES_AT_PIXEL_CENTROID"]
    assert set(np.unique(count).tolist()) <= {0.0, 1.0}
    # away from the union's boundary (where the round trip's rounding decides), the count is the union's
    union_px = to_pixel_geom(to_map_geom(union, grid), grid)
    xc, yc = centres(grid.width, grid.height)
    pts = shapely.points(xc, yc)
    far = (shapely.distance(union_px.boundary, pts) > 1e-9).reshape(grid.height, grid.width)
    inside = shapely.contains(union_px, pts).reshape(grid.height, grid.width)
    assert (count[far] == inside[far]).all()


# ============================================================================================ GDAL
@st.composite
def float_scene(draw):
    """Random float polygons (no lattice) on a north-up grid; values distinct integers; no NULL."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    w, h = int(rng.integers(1, 13)), int(rng.integers(1, 13))
    sx, sy = rng.uniform(0.2, 40), rng.uniform(0.2, 40)
    grid = Grid(w, h, Affine(sx, 0, rng.uniform(-1e5, 1e5), 0, -sy, rng.uniform(-1e5, 1e5)), CRS)
    geoms_px = []
    for _ in range(int(rng.integers(1, 7))):
        kind = rng.integers(0, 4)
        cx, cy = rng.uniform(-1, w + 1), rng.uniform(-1, h + 1)
        if kind == 0:  # box
            g = shapely.box(cx, cy, cx + rng.uniform(0.1, 6), cy + rng.uniform(0.1, 6))
        elif kind == 1:  # convex hull
            g = MultiPoint(np.column_stack([cx + rng.uniform(-4, 4, 6), cy + rng.uniform(-4, 4, 6)])).convex_hull
        else:  # star, maybe with a hole (a shrunken copy around the star's centre)
            n = int(rng.integers(3, 12))
            ang = np.sort(rng.uniform(0, 2 * np.pi, n))
            rad = rng.uniform(0.5, 5, n)
            ring = np.column_stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)])
            holes = [np.column_stack([cx + 0.3 * rad * np.cos(ang), cy + 0.3 * rad * np.sin(ang)])] if kind == 3 else []
            g = Polygon(ring, holes)
        if g.geom_type != "Polygon" or not g.is_valid or g.area == 0:
            continue
        geoms_px.append(g)
    assume(geoms_px)
    values = [float(v) for v in rng.permutation(np.arange(1, 100))[: len(geoms_px)]]
    return grid, [to_map_geom(g, grid) for g in geoms_px], values


@settings(max_examples=150, deadline=None, derandomize=True)
@given(sc=float_scene())
def test_last_value_equals_gdal_rasterize(sc):
    grid, geoms, values = sc
    # precondition of the spec's claim: no centre on a horizontal edge or a vertex (nor, with random floats,
    # anywhere near a boundary at all)
    xc, yc = centres(grid.width, grid.height)
    pts = shapely.points(xc, yc)
    for g in geoms:
        assume((shapely.distance(to_pixel_geom(g, grid).boundary, pts) > 1e-7).all())
    got = run(list(zip(geoms, values, strict=True)), grid, ["LAST_VALUE_AT_PIXEL_CENTROID"])
    gdal = rasterio.features.rasterize(
        zip(geoms, values, strict=True),
        out_shape=(grid.height, grid.width),
        transform=grid.transform,
        fill=NODATA,
        dtype="float64",
    )
    assert_method_equal("LAST_VALUE_AT_PIXEL_CENTROID", got["LAST_VALUE_AT_PIXEL_CENTROID"], gdal, " vs GDAL")


def test_last_value_equals_gdal_on_vertical_edges_through_centres():
    # GDAL's own rule on vertical edges: a centre on a polygon's left edge is out, on its right edge in
    grid = Grid(6, 3, Affine(2, 0, 0, 0, -2, 6), CRS)
    geoms = [shapely.box(1, 0.5, 7, 5.5), shapely.box(7, 0.5, 11, 5.5)]  # x = 1, 7, 11: centre columns 0, 3, 5
    got = run(list(zip(geoms, [1.0, 2.0], strict=True)), grid, ["LAST_VALUE_AT_PIXEL_CENTROID"])
    gdal = rasterio.features.rasterize(
        zip(geoms, [1.0, 2.0], strict=True), out_shape=(3, 6), transform=grid.transform, fill=NODATA, dtype="float64"
    )
    n = NODATA
    assert got["LAST_VALUE_AT_PIXEL_CENTROID"].tolist() == [[n, 1, 1, 1, 2, 2]] * 3
    assert (got["LAST_VALUE_AT_PIXEL_CENTROID"] == gdal).all()


# ============================================================================================ tiling, workers
@settings(max_examples=80, deadline=None, derandomize=True)
@given(sc=st.one_of(scene(NORTH_UP), scene(ROUNDING)), tiles=tiling())
def test_results_do_not_depend_on_tiles_and_blocks(sc, tiles):
    grid, pairs = sc
    one = run(pairs, grid.with_tile_size(max(grid.width, grid.height)))
    assert_results_equal(run(pairs, grid.with_tile_size(tiles["tile_size"]), block_pixels=tiles["block_pixels"]), one)


@settings(max_examples=10, deadline=None, derandomize=True)
@given(
    sc=st.one_of(scene(NORTH_UP), scene(ROUNDING)),
    tile=st.one_of(st.integers(1, 4), st.tuples(st.integers(1, 4), st.integers(1, 4))),
    block_pixels=st.sampled_from([1, 8, 20]),
)
def test_two_worker_processes_give_the_same_result(sc, tile, block_pixels):
    grid, pairs = sc
    tiled = grid.with_tile_size(tile)
    serial = run(pairs, tiled, block_pixels=block_pixels)
    assert_results_equal(run(pairs, tiled, block_pixels=block_pixels, workers=2), serial, " (workers=2)")
    assert_results_equal(serial, run(pairs, grid))


def test_block_offsets_do_not_change_a_centre_decision():
    # A north-up grid with decimal pixel sizes. In the user's decimal coordinates the triangle's long edge runs
    # exactly through the centre of pixel (row 3, col 6), map (6995.45, -5226.5); in doubles the centre ends
    # up within 1e-12 pixel of the edge, on one side of it. Which side must not depend on how the grid is cut
    # into tiles and blocks (moving geometries to block-relative pixel space, col - col_off, would round a second
    # time, and a block starting at another column could see the centre on the other side).
    grid = Grid(12, 12, Affine(0.3, 0, 6993.5, 0, -0.2, -5225.8), CRS)
    tri = shapely.from_wkt("POLYGON ((6992.45 -5223.5, 6999.65 -5230.7, 6999.65 -5223.5, 6992.45 -5223.5))")
    pairs = [(tri, 1.0)]
    whole = run(pairs, grid, ["COUNT_OF_VALUES_AT_PIXEL_CENTROID"])["COUNT_OF_VALUES_AT_PIXEL_CENTROID"]
    assert_results_equal(
        {"COUNT_OF_VALUES_AT_PIXEL_CENTROID": whole},
        oracle(pairs, grid, ["COUNT_OF_VALUES_AT_PIXEL_CENTROID"], on_lattice=False),
    )
    for tile, block_pixels in [(4, 16), (3, 9), (1, 1), ((7, 2), 14)]:
        got = run(pairs, grid.with_tile_size(tile), ["COUNT_OF_VALUES_AT_PIXEL_CENTROID"], block_pixels=block_pixels)
        assert_method_equal(
            "COUNT_OF_VALUES_AT_PIXEL_CENTROID",
            got["COUNT_OF_VALUES_AT_PIXEL_CENTROID"],
            whole,
            f" tile_size={tile} block_pixels={block_pixels}",
        )


# ============================================================================================ NULL values
@settings(max_examples=80, deadline=None, derandomize=True)
@given(sc=scene(NORTH_UP), nan_for_none=st.booleans(), tiles=tiling())
def test_null_values_are_ignored_by_every_method(sc, nan_for_none, tiles):
    grid, pairs = sc
    grid = grid.with_tile_size(tiles["tile_size"])
    if nan_for_none:
        pairs = [(g, math.nan if v is None else v) for g, v in pairs]
    got = run(pairs, grid, block_pixels=tiles["block_pixels"])
    valued = [(g, v) for g, v in pairs if not is_null(v)]
    if valued:
        want = run(valued, grid, block_pixels=tiles["block_pixels"])
    else:
        want = {m: np.full(grid.shape, NODATA) for m in METHODS}
        want["COUNT_OF_VALUES_AT_PIXEL_CENTROID"][:] = 0
        want["SUM_OF_VALUES_AT_PIXEL_CENTROID"][:] = 0
    assert_results_equal(got, want)


def test_only_null_polygons_give_empty_results():
    grid = Grid(3, 2, Affine(1, 0, 0, 0, -1, 2), CRS, tile_size=2)
    got = run([(shapely.box(0, 0, 3, 2), None), (shapely.box(0, 0, 1, 1), math.nan)], grid, block_pixels=4)
    for m, arr in got.items():
        empty = 0.0 if m in ("COUNT_OF_VALUES_AT_PIXEL_CENTROID", "SUM_OF_VALUES_AT_PIXEL_CENTROID") else NODATA
        assert (arr == empty).all(), m


# ============================================================================================ several methods
@settings(max_examples=40, deadline=None, derandomize=True)
@given(sc=scene(NORTH_UP), methods=st.permutations(METHODS), k=st.integers(1, len(METHODS)), tiles=tiling())
def test_several_methods_in_one_call_equal_one_at_a_time(sc, methods, k, tiles):
    grid, pairs = sc
    grid = grid.with_tile_size(tiles["tile_size"])
    chosen = methods[:k]
    together = run(pairs, grid, chosen, block_pixels=tiles["block_pixels"])
    for m in chosen:
        alone = run(pairs, grid, [m], block_pixels=tiles["block_pixels"])
        assert (alone[m] == together[m]).all(), m


# ============================================================================================ collections
def test_collection_of_overlapping_polygons_counts_its_union_once():
    # a GeometryCollection is valid even when its polygons overlap; its polygonal part is their union, and a
    # centre in the overlap is inside the feature (interior of the union), counted once
    grid = Grid(3, 1, Affine(1, 0, 0, 0, -1, 1), CRS)
    gc = GeometryCollection([shapely.box(0, 0, 2, 1), shapely.box(1, 0, 3, 1)])
    assert gc.is_valid
    got = run([(gc, 5.0)], grid, ["COUNT_OF_VALUES_AT_PIXEL_CENTROID", "LAST_VALUE_AT_PIXEL_CENTROID"])
    assert got["COUNT_OF_VALUES_AT_PIXEL_CENTROID"].tolist() == [[1.0, 1.0, 1.0]]
    assert got["LAST_VALUE_AT_PIXEL_CENTROID"].tolist() == [[5.0, 5.0, 5.0]]


def test_collection_of_overlapping_polygons_keeps_edges_through_centres_exact():
    # Pixel space = map space. The first triangle's edge (2.5, 4.5)-(6.5, -1.5) (y = 8.25 - 1.5x) runs exactly
    # through the centre (4.5, 1.5) of pixel (row 1, col 4); the triangle lies above it (y > 8.25 - 1.5x), and
    # (4.5 - ε, 1.5 - ε²) is below it: out. The second triangle is far from that centre (y <= .25) but crosses the
    # same edge at (16/3, .25), a point doubles cannot hold: merging the two polygons must not move the edge.
    grid = Grid(8, 6, Affine(1, 0, 0, 0, 1, 0), CRS)
    t1 = Polygon([(6.5, 0.5), (2.5, 4.5), (6.5, -1.5)])
    t2 = Polygon([(5.5, 0.25), (4.5, 0.25), (5.5, -0.75)])
    gc = GeometryCollection([t1, t2])
    assert gc.is_valid and t1.touches(Point(4.5, 1.5)) and not t2.intersects(Point(4.5, 1.5))
    want = oracle([(gc, 1.0)], grid, ["COUNT_OF_VALUES_AT_PIXEL_CENTROID"])
    assert want["COUNT_OF_VALUES_AT_PIXEL_CENTROID"][1, 4] == 0
    # the collection gives the same centres as its two polygons taken as two features (they do not share one)
    apart = run([(t1, 1.0), (t2, 1.0)], grid, ["COUNT_OF_VALUES_AT_PIXEL_CENTROID"])
    assert apart["COUNT_OF_VALUES_AT_PIXEL_CENTROID"].max() == 1
    assert_results_equal(apart, want)
    got = run([(gc, 1.0)], grid, ["COUNT_OF_VALUES_AT_PIXEL_CENTROID"])
    assert_results_equal(got, want)


@pytest.mark.parametrize(
    "geom",
    [
        LineString([(0.5, 0.5), (2.5, 0.5)]),
        MultiLineString([[(0, 0.5), (3, 0.5)], [(1.5, 0), (1.5, 1)]]),
        Point(1.5, 0.5),
        MultiPoint([(0.5, 0.5), (1.5, 0.5)]),
        GeometryCollection([LineString([(0, 0.5), (3, 0.5)]), Point(0.5, 0.5)]),
    ],
)
def test_lines_and_points_never_hit(geom):
    grid = Grid(3, 1, Affine(1, 0, 0, 0, 1, 0), CRS)  # south-up: pixel space = map space
    got = run([(geom, 4.0)], grid)
    assert got["COUNT_OF_VALUES_AT_PIXEL_CENTROID"].tolist() == [[0.0, 0.0, 0.0]]
    assert got["MEAN_OF_VALUES_AT_PIXEL_CENTROID"].tolist() == [[NODATA] * 3]


# ---------------------------------------------------------------------------------------------- reductions
@settings(max_examples=300)
@given(
    entries=st.lists(
        st.tuples(
            st.integers(0, 5),  # pixel
            st.sampled_from([-2.0, -0.0, 0.0, 0.5, 1.0, 3.0, 1e300]),  # value
            st.one_of(st.integers(-3, 3), st.sampled_from([-(2**62), 2**62])),  # integer key (an order)
            st.sampled_from([0.0, 1e-300, 0.25, 0.5, 1e300]),  # float key (an area)
        ),
        max_size=30,
    ),
    largest=st.booleans(),
)
def test_reductions_match_a_plain_python_oracle(entries, largest):
    """pick_best, pixel_mode, pixel_mean and pixel_count against per-pixel Python, bit for bit (ties, -0.0, huge
    keys and values)."""
    from rastercover.methods.reductions import pick_best, pixel_count, pixel_mean, pixel_mode

    size = 6
    pixel = np.array([e[0] for e in entries], dtype=np.int64)
    value = np.array([e[1] for e in entries], dtype=np.float64)
    order = np.array([e[2] for e in entries], dtype=np.int64)
    area = np.array([e[3] for e in entries], dtype=np.float64)

    def same(got, want):
        assert np.asarray(got, np.float64).tobytes() == np.asarray(want, np.float64).tobytes(), (got, want)

    for key in (order, area):
        want = []
        for p in range(size):
            mine = [(k, v) for q, v, k in zip(pixel, value, key, strict=True) if q == p]
            if not mine:
                want.append(np.nan)
                continue
            best = (max if largest else min)(k for k, _ in mine)
            top = [v for k, v in mine if k == best]
            biggest = max(top)
            # a tie of -0.0 and 0.0 goes to 0.0 (the larger in IEEE's total order), whatever the entries' order
            want.append(
                0.0 if biggest == 0.0 and any(v == 0.0 and not math.copysign(1, v) < 0 for v in top) else biggest
            )
        got = pick_best(pixel, value, size, key, largest=largest)
        same(got, want)
    modes, counts = [], []
    for p in range(size):
        mine = [v for q, v in zip(pixel, value, strict=True) if q == p]
        counts.append(float(len(mine)))
        if not mine:
            modes.append(np.nan)
            continue
        c = Counter(mine)  # -0.0 and 0.0 are one value, counted under the first seen
        top = max(c.values())
        modes.append(min(v for v, n in c.items() if n == top))
    assert np.array_equal(pixel_mode(pixel, value, size), np.array(modes), equal_nan=True)
    same(pixel_count(pixel, size), counts)
    got_mean = pixel_mean(pixel, value, size)
    n = np.array(counts)
    assert np.isnan(got_mean[n == 0]).all()
    with np.errstate(over="ignore", invalid="ignore"):
        want_mean = np.bincount(pixel, weights=value, minlength=size) / np.maximum(n, 1)
    same(got_mean[n > 0], want_mean[n > 0])
