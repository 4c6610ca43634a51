"""The exact-semantics methods (spec sections 1-3) against a slow, obviously correct per-pixel shapely oracle.

Covers every method of ``rastercover.methods.exact.EXACT_METHODS`` and the family ``COVERED_FRACTION_BY_VALUE``.

The oracle works pixel by pixel. Areas: the map-space pixel polygon (the image of the unit square through the
grid's transform) intersected with the feature's polygonal part (the union of its polygons) by shapely. Lines and
points: in the grid's pixel space (the map-space geometry through the grid's own ``grid.to_pixel``), with the
half-open ownership rule applied literally: pixel ``(r, c)`` owns ``[c, c+1) x [r, r+1)``; a piece of segment lying
on the pixel's right (``x = c+1``) or bottom (``y = r+1``) line belongs to the neighbour; lengths are measured in
map space, segment by segment (a line retracing itself counts twice). The table of spec sections 2/3 is then
applied in plain Python.

Inputs are built on a 1/4-pixel lattice, so vertices sit on pixel edges and corners and lines run along pixel
edges. On north-up grids with dyadic pixel sizes the map <-> pixel round trip is exact, and the oracle is too
(exact ties are ties: lattice areas differ by far more than the 1e-10 tie tolerance or not at all). Skewed,
rotated and decimal grids round the lattice by ~1e-15 pixel: there polygons stay on the lattice (areas are robust
to that) while lines and points are moved off it by 1/7 pixel, so that no ownership decision hangs on rounding.
"""

from __future__ import annotations

import functools
import itertools
import math
import statistics
from collections import Counter

import numpy as np
import pyogrio
import pytest
import shapely
from affine import Affine
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import (
    GeometryCollection,
    LineString,
    MultiLineString,
    MultiPoint,
    MultiPolygon,
    Point,
    Polygon,
)

import rastercover
from rastercover import Grid
from rastercover.kernels import compiled
from rastercover.methods.exact import EXACT_METHODS

CRS = "EPSG:3857"
NODATA = -9999.0
FAMILY = "COVERED_FRACTION_BY_VALUE"
METHODS = tuple(m.name for m in EXACT_METHODS)
QUALIFY = 1e-9  # a polygon qualifies when its area exceeds this fraction of the pixel area (spec 2)
TIE = 1e-10  # areas / lengths closer than this (fraction of a pixel) are equal in the oracle
Q = 4  # lattice: vertices on multiples of 1/Q pixel
OFF = 1 / 7  # moves lines and points off the lattice on rounding grids

# the methods whose results must be equal, not close
EXACT_EQUAL = {m.name for m in EXACT_METHODS if m.categorical} | {
    "COUNT_OF_POLYGONS",
    "COUNT_OF_LINESTRINGS",
    "COUNT_OF_POINTS",
    "COUNT_OF_GEOMETRIES",
    "COUNT_OF_DISTINCT_VALUES",
    "COUNT_OF_VALUES_ALL_TOUCHED",
    "MIN_OF_VALUES_ALL_TOUCHED",
    "MAX_OF_VALUES_ALL_TOUCHED",
}


@pytest.fixture(autouse=True, scope="module")
def _compiled_kernels():
    """The oracle checks the compiled kernels (a run uses numpy and GEOS until a process has done much work; they give
    the same bits: checked below)."""
    with compiled.forms("compiled"):
        yield


def test_the_oracle_knows_every_exact_method():
    # if a method is added to EXACT_METHODS the oracle below must learn it (REDUCERS raises KeyError otherwise)
    assert len(METHODS) == len(set(METHODS)) == 29
    assert set(METHODS) == set(REDUCERS)
    assert rastercover.methods.available_methods()[FAMILY].name == FAMILY


# ============================================================================================ helpers
def run(pairs, grid: Grid, methods=METHODS, **kw) -> dict[str, np.ndarray]:
    """rastercover.rasterize as ``{band name: (height, width) float64 array}``."""
    da = rastercover.rasterize(pairs, grid, methods=list(methods), assume_crs=CRS, dtype="float64", nodata=NODATA, **kw)
    assert da.dims == ("band", "y", "x")
    assert da.shape[1:] == (grid.height, grid.width)
    assert da.dtype == np.float64
    names = [str(b) for b in da.coords["band"].values]
    assert len(names) == len(set(names)) == da.shape[0]
    return {b: np.asarray(da.values[i]) for i, b in enumerate(names)}


def assert_same_bits(got: dict, want: dict, context: str = "") -> None:
    """The same bands with the same float64 values, bit for bit."""
    assert list(got) == list(want)
    for m in want:
        same = got[m].view(np.uint64) == want[m].view(np.uint64)
        if not same.all():
            bad = [(int(r), int(c), float(got[m][r, c]), float(want[m][r, c])) for r, c in zip(*np.nonzero(~same))]
            raise AssertionError(f"{m}{context}: {int((~same).sum())} pixel(s) differ, (row, col, got, want) {bad[:6]}")


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


def parts(geom, types: tuple[str, ...]) -> list:
    """The non-empty single parts of ``geom`` whose type is in ``types`` (multi-parts and collections flattened)."""
    if geom is None or geom.is_empty:
        return []
    if geom.geom_type in ("MultiPolygon", "MultiLineString", "MultiPoint", "GeometryCollection"):
        return [p for g in geom.geoms for p in parts(g, types)]
    return [geom] if geom.geom_type in types else []


def polygons_of(geom) -> list:
    return parts(geom, ("Polygon",))


def lines_of(geom) -> list:
    return parts(geom, ("LineString", "LinearRing"))


def points_of(geom) -> list:
    return parts(geom, ("Point",))


def is_null(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def pixel_boxes(w: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel-space unit squares, row-major, with their rows and columns."""
    rows, cols = (a.ravel() for a in np.mgrid[0:h, 0:w])
    return shapely.box(cols, rows, cols + 1, rows + 1), rows, cols


# ============================================================================================ the oracle
class Contribution:
    """One feature's per-pixel area, owned length and owned point members (flat arrays, row-major)."""

    def __init__(self, geom, value, grid: Grid, px_map: np.ndarray, px_boxes: np.ndarray, rows, cols) -> None:
        n = len(px_map)
        self.value = None if is_null(value) else float(value)
        self.polys = polygons_of(geom)  # map space
        self.area = np.zeros(n)
        if self.polys:
            polygonal = shapely.union_all(self.polys)  # a collection's overlapping polygons: their union
            self.area = shapely.area(shapely.intersection(polygonal, px_map))
        geom_px = to_pixel_geom(geom, grid)
        self.length = np.zeros(n)
        for line in lines_of(geom_px):
            for p, q in itertools.pairwise(np.asarray(line.coords)[:, :2]):
                if (p == q).all():
                    continue
                pieces = shapely.intersection(LineString([p, q]), px_boxes)  # closed squares
                for i in np.nonzero(shapely.length(pieces) > 0)[0]:
                    xy = shapely.get_coordinates(pieces[i])
                    if (xy[:, 0] == cols[i] + 1).all() or (xy[:, 1] == rows[i] + 1).all():
                        continue  # on the right or bottom line: the neighbour's
                    self.length[i] += to_map_geom(pieces[i], grid).length
        self.points = np.zeros(n, dtype=int)
        for pt in points_of(geom_px):
            x, y = pt.x, pt.y
            self.points += (cols <= x) & (x < cols + 1) & (rows <= y) & (y < rows + 1)


def majority(vals: list[float]) -> float:
    counts = Counter(vals)
    best = max(counts.values())
    return min(v for v, k in counts.items() if k == best)


def tied(cands: list[tuple[float, float]], biggest: bool, tol: float) -> set[float]:
    """Values of the ``(measure, value)`` candidates with the largest (or smallest) measure, ties included."""
    if not cands:
        return {NODATA}
    best = max(m for m, _ in cands) if biggest else min(m for m, _ in cands)
    return {v for m, v in cands if abs(m - best) <= tol}


def pick(cands: list[tuple[float, float]], biggest: bool, tol: float) -> float:
    """Value of the ``(measure, value)`` with the largest (or smallest) measure; a tie goes to the larger value."""
    return max(tied(cands, biggest, tol))


class Pixel:
    """Everything the table of spec 2/3 reads in one pixel."""

    def __init__(self, contribs: list[Contribution], merged: dict[float, float], cover: float, i: int, pa, ltol):
        self.pa, self.area_tol, self.length_tol = pa, TIE * pa, ltol
        self.areas = [(c.area[i], c.value) for c in contribs if c.area[i] > QUALIFY * pa]  # qualifying polygons
        self.sum_areas = math.fsum(c.area[i] for c in contribs)
        self.lines = [(c.length[i], c.value) for c in contribs if c.length[i] > 0]
        self.points = [c.value for c in contribs if c.points[i] > 0]
        self.geoms = [c.value for c in contribs if c.area[i] > QUALIFY * pa or c.length[i] > 0 or c.points[i] > 0]
        self.merged = [(a, v) for v, a in merged.items() if a > QUALIFY * pa]
        self.cover = cover

    def valued(self, items):
        return [(m, v) for m, v in items if v is not None]

    def touched_values(self) -> list[float]:
        return [v for _, v in self.areas if v is not None]  # in feature order


def _weighted(items, floor: float) -> float:
    if not items:
        return NODATA
    s = math.fsum(m for m, _ in items)
    return math.fsum(m * v for m, v in items) / max(s, floor)


# the methods that pick one candidate by its area or length: (candidates, biggest?, tie tolerance)
PICKS = {
    "VALUE_OF_BIGGEST": lambda p: (p.valued(p.areas), True, p.area_tol),
    "VALUE_OF_SMALLEST": lambda p: (p.valued(p.areas), False, p.area_tol),
    "VALUE_OF_MERGED_BIGGEST": lambda p: (p.merged, True, p.area_tol),
    "VALUE_OF_MERGED_SMALLEST": lambda p: (p.merged, False, p.area_tol),
    "VALUE_OF_LONGEST": lambda p: (p.valued(p.lines), True, p.length_tol),
}

REDUCERS = {
    **{m: (lambda p, f=f: pick(*f(p))) for m, f in PICKS.items()},
    "COUNT_OF_POLYGONS": lambda p: float(len(p.areas)),
    "COUNT_OF_LINESTRINGS": lambda p: float(len(p.lines)),
    "COUNT_OF_POINTS": lambda p: float(len(p.points)),
    "COUNT_OF_GEOMETRIES": lambda p: float(len(p.geoms)),
    "MIN_AREA": lambda p: min((a for a, _ in p.areas), default=NODATA),
    "SUM_OF_AREAS": lambda p: p.sum_areas,
    "SUM_OF_LENGTHS": lambda p: math.fsum(m for m, _ in p.lines),
    "DENSITY_OF_LENGTHS": lambda p: math.fsum(m for m, _ in p.lines) / p.pa,
    "PROPORTION_OF_COVERED_AREA": lambda p: p.cover / p.pa,
    "AREA_WEIGHTED_MEAN_OF_VALUES": lambda p: _weighted(p.valued(p.areas), p.pa),
    "AREA_WEIGHTED_MEAN_OF_VALUES_2": lambda p: _weighted(p.valued(p.areas), 0.0),
    "COUNT_OF_DISTINCT_VALUES": lambda p: float(len({v for v in p.geoms if v is not None})),
    "LENGTH_WEIGHTED_MEAN_OF_VALUES": lambda p: _weighted(p.valued(p.lines), 0.0),
    "SUM_OF_VALUES": lambda p: math.fsum(v for v in p.points if v is not None),
    "MEAN_OF_VALUES": lambda p: statistics.mean(vs) if (vs := [v for v in p.points if v is not None]) else NODATA,
    "COUNT_OF_VALUES_ALL_TOUCHED": lambda p: float(len(p.touched_values())),
    "MEAN_OF_VALUES_ALL_TOUCHED": lambda p: statistics.mean(v) if (v := p.touched_values()) else NODATA,
    "SUM_OF_VALUES_ALL_TOUCHED": lambda p: math.fsum(p.touched_values()),
    "MIN_OF_VALUES_ALL_TOUCHED": lambda p: min(p.touched_values(), default=NODATA),
    "MAX_OF_VALUES_ALL_TOUCHED": lambda p: max(p.touched_values(), default=NODATA),
    "MAJORITY_OF_VALUES_ALL_TOUCHED": lambda p: majority(v) if (v := p.touched_values()) else NODATA,
    "STDDEV_OF_VALUES_ALL_TOUCHED": lambda p: statistics.pstdev(v) if (v := p.touched_values()) else NODATA,
    "FIRST_VALUE_ALL_TOUCHED": lambda p: v[0] if (v := p.touched_values()) else NODATA,
    "LAST_VALUE_ALL_TOUCHED": lambda p: v[-1] if (v := p.touched_values()) else NODATA,
}


def oracle(pairs, grid: Grid, methods=METHODS, family=True, classes=None) -> dict[str, np.ndarray]:
    """Expected results of ``methods`` (and of the family: one band per class, by default per distinct value of
    the features) for map-space ``(geometry, value)`` pairs."""
    w, h = grid.width, grid.height
    pa = grid.pixel_area
    boxes, rows, cols = pixel_boxes(w, h)
    px_map = to_map_geom(boxes, grid)
    pairs = [(g, v) for g, v in pairs if g is not None and not g.is_empty]
    contribs = [Contribution(g, v, grid, px_map, boxes, rows, cols) for g, v in pairs]
    # merged areas: the true union of each value's polygons
    by_value: dict[float, list] = {}
    for c in contribs:
        if c.value is not None and c.polys:
            by_value.setdefault(c.value, []).extend(c.polys)
    merged = {v: shapely.area(shapely.intersection(shapely.union_all(ps), px_map)) for v, ps in by_value.items()}
    all_polys = [p for c in contribs for p in c.polys]
    cover = shapely.area(shapely.intersection(shapely.union_all(all_polys), px_map)) if all_polys else np.zeros(w * h)
    length_tol = TIE * (abs(grid.transform.a) + abs(grid.transform.b) + abs(grid.transform.d) + abs(grid.transform.e))
    pixels = [Pixel(contribs, {v: a[i] for v, a in merged.items()}, cover[i], i, pa, length_tol) for i in range(w * h)]
    out = {m: np.array([REDUCERS[m](p) for p in pixels], dtype=float).reshape(h, w) for m in methods}
    if family:
        if classes is None:
            classes = sorted({c.value for c in contribs if c.value is not None})
        for v in classes:
            frac = merged.get(v, np.zeros(w * h)) / pa
            out[f"{FAMILY}:{v:.15g}"] = frac.reshape(h, w)
    return out


def tolerance(name: str, grid: Grid, pairs) -> float:
    """Absolute tolerance of a measured band."""
    side = abs(grid.transform.a) + abs(grid.transform.b) + abs(grid.transform.d) + abs(grid.transform.e)
    vmax = 1 + max((abs(v) for _, v in pairs if not is_null(v)), default=0)
    if name in ("SUM_OF_AREAS", "MIN_AREA"):
        return 1e-9 * grid.pixel_area
    if name == "SUM_OF_LENGTHS":
        return 1e-9 * side
    if name == "DENSITY_OF_LENGTHS":
        return 1e-9 * side / grid.pixel_area
    if name == "PROPORTION_OF_COVERED_AREA" or name.startswith(FAMILY):
        return 1e-9
    return 1e-9 * vmax  # values and weighted means of values


def assert_results_match(got: dict, want: dict, grid: Grid, pairs, context: str = "") -> None:
    """Equal bands (categorical methods and counts: ties must go to the larger value) or close ones (measures)."""
    assert list(got) == list(want), f"band names{context}: got {list(got)}, expected {list(want)}"
    for m in want:
        g, w = got[m], want[m]
        if m in EXACT_EQUAL:
            ok = g == w
        else:
            ok = np.isclose(g, w, rtol=1e-9, atol=tolerance(m, grid, pairs))
        if not ok.all():
            bad = [(int(r), int(c), float(g[r, c]), float(w[r, c])) for r, c in zip(*np.nonzero(~ok))]
            raise AssertionError(f"{m}{context}: (row, col, got, expected) {bad[:8]}")


# ============================================================================================ strategies
def lattice(lo: float, hi: float, shift: float = 0.0):
    """Coordinates on the 1/Q lattice in [lo, hi] (+ ``shift``), half of them whole pixels (edges, corners)."""
    quarters = st.integers(math.ceil(lo * Q), math.floor(hi * Q)).map(lambda k: k / Q + shift)
    if math.ceil(lo) > math.floor(hi):
        return quarters
    whole = st.integers(math.ceil(lo), math.floor(hi)).map(lambda k: k + shift)
    return st.one_of(whole, quarters)


def offset(n: int):
    return st.one_of(st.integers(-n, n).map(float), st.integers(-n * Q, n * Q).map(lambda k: k / Q))


class Box:
    """Where features are drawn, in pixel space: ``[x0, x1] x [y0, y1]``; ``shift`` moves lines and points."""

    def __init__(self, x0, x1, y0, y1, shift=0.0):
        self.x0, self.x1, self.y0, self.y1, self.shift = x0, x1, y0, y1, shift

    def x(self, shift=0.0):
        return lattice(self.x0, self.x1, shift)

    def y(self, shift=0.0):
        return lattice(self.y0, self.y1, shift)


@st.composite
def a_box(draw, b: Box, max_side=4):
    x0, y0 = draw(lattice(b.x0, b.x1 - 1 / Q)), draw(lattice(b.y0, b.y1 - 1 / Q))
    x1 = min(x0 + draw(st.integers(1, max_side * Q)) / Q, b.x1)
    y1 = min(y0 + draw(st.integers(1, max_side * Q)) / Q, b.y1)
    return shapely.box(x0, y0, x1, y1)


def _or_a_box(poly, ax, ay):
    """``poly`` if it is a valid polygon with area, else a unit box at ``(ax, ay)`` (no rejected examples)."""
    if poly.geom_type == "Polygon" and poly.is_valid and poly.area > 0:
        return poly
    return shapely.box(ax, ay, ax + 1, ay + 1)


@st.composite
def a_triangle(draw, b: Box):
    ax, ay = draw(b.x()), draw(b.y())
    tri = Polygon([(ax, ay)] + [(ax + draw(offset(3)), ay + draw(offset(3))) for _ in range(2)])
    return _or_a_box(tri, ax, ay)


@st.composite
def a_star(draw, b: Box):
    """A star-shaped polygon: lattice vertices sorted by angle around a lattice point (else their hull)."""
    ax, ay = draw(b.x()), draw(b.y())
    n = draw(st.integers(3, 8))
    ks = draw(st.lists(st.tuples(st.integers(-3 * Q, 3 * Q), st.integers(-3 * Q, 3 * Q)), min_size=n, max_size=n))
    by_dir = {}
    for kx, ky in ks:
        if (kx, ky) != (0, 0):
            g = math.gcd(kx, ky)
            by_dir.setdefault((kx // g, ky // g), (kx, ky))
    ordered = sorted(by_dir.values(), key=lambda t: math.atan2(t[1], t[0]))
    if len(ordered) < 3:
        return shapely.box(ax, ay, ax + 1, ay + 1)
    pts = [(ax + kx / Q, ay + ky / Q) for kx, ky in ordered]
    poly = Polygon(pts)
    if not (poly.is_valid and poly.area > 0):
        poly = MultiPoint(pts).convex_hull
    return _or_a_box(poly, ax, ay)


@st.composite
def a_polygon_with_holes(draw, b: Box):
    """An outer ring with one to three box or triangle holes; holes that would make it invalid are left out."""
    outer = draw(st.one_of(a_box(b, max_side=6), a_star(b)))
    x0, y0, x1, y1 = outer.bounds
    if x1 - x0 < 3 / Q or y1 - y0 < 3 / Q:
        return outer
    xs, ys = lattice(x0 + 1 / Q, x1 - 1 / Q), lattice(y0 + 1 / Q, y1 - 1 / Q)
    holes = []
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            hx0, hx1 = sorted(draw(st.lists(xs, min_size=2, max_size=2, unique=True)))
            hy0, hy1 = sorted(draw(st.lists(ys, min_size=2, max_size=2, unique=True)))
            hole = shapely.box(hx0, hy0, hx1, hy1)
        else:
            hole = Polygon([(draw(xs), draw(ys)) for _ in range(3)])
        candidate = Polygon(outer.exterior.coords, [h.exterior.coords for h in [*holes, hole]])
        if hole.area > 0 and candidate.is_valid:
            holes.append(hole)
    return Polygon(outer.exterior.coords, [h.exterior.coords for h in holes])


def simple_polygon(b: Box):
    return st.one_of(a_box(b), a_triangle(b), a_star(b))


@st.composite
def a_multipolygon(draw, b: Box):
    """Parts that do not overlap (those that would are left out); they may share edges and corners."""
    polys = draw(st.lists(st.one_of(simple_polygon(b), a_polygon_with_holes(b)), min_size=2, max_size=3))
    kept = [polys[0]]
    for p in polys[1:]:
        if MultiPolygon([*kept, p]).is_valid:
            kept.append(p)
    return MultiPolygon(kept)


@st.composite
def a_line(draw, b: Box):
    s = b.shift
    kind = draw(st.sampled_from(["free", "free", "edge", "retrace"]))
    if kind == "edge" and not s:  # along a pixel edge (an integer line), maybe beyond it
        at = draw(st.integers(math.ceil(b.y0), math.floor(b.y1)).map(float))
        lo, hi = sorted(draw(st.lists(b.x(), min_size=2, max_size=2, unique=True)))
        line = LineString([(lo, at), (hi, at)])
        return shapely.affinity.affine_transform(line, [0, 1, 1, 0, 0, 0]) if draw(st.booleans()) else line
    n = draw(st.integers(2, 4))
    pts = [(draw(b.x(s)), draw(b.y(s))) for _ in range(n)]
    if kind == "retrace":
        pts = pts + pts[-2::-1]  # there and back: counts twice
    return LineString(pts)


@st.composite
def a_point(draw, b: Box):
    return Point(draw(b.x(b.shift)), draw(b.y(b.shift)))


@st.composite
def a_collection(draw, b: Box):
    """Polygons that may overlap (a collection is valid anyway), a line, a point, maybe more."""
    members = draw(st.lists(st.one_of(simple_polygon(b), a_polygon_with_holes(b)), min_size=1, max_size=3))
    members += [draw(a_line(b)), draw(a_point(b))]
    if draw(st.booleans()):
        members.append(MultiPoint(draw(st.lists(a_point(b), min_size=1, max_size=3))))
    return GeometryCollection(members)


def polygonal(b: Box):
    return st.one_of(simple_polygon(b), simple_polygon(b), a_polygon_with_holes(b), a_multipolygon(b), a_collection(b))


def linear(b: Box):
    return st.one_of(a_line(b), a_line(b), st.lists(a_line(b), min_size=1, max_size=3).map(MultiLineString))


def punctual(b: Box):
    return st.one_of(a_point(b), st.lists(a_point(b), min_size=1, max_size=4).map(MultiPoint))


@st.composite
def features(draw, b: Box, polygons=(1, 5), lines=(0, 3), points=(0, 3)):
    """A mix of polygonal, linear and point features in random layer order, with values."""
    geoms = []
    for strategy, (lo, hi) in ((polygonal(b), polygons), (linear(b), lines), (punctual(b), points)):
        n = draw(st.integers(lo, hi))
        geoms += draw(st.lists(strategy, min_size=n, max_size=n))
    geoms = draw(st.permutations(geoms))
    values = draw(st.lists(VALUES, min_size=len(geoms), max_size=len(geoms)))
    return geoms, values


# dyadic values (sums exact in any order); a few small integers, so that values repeat; NULL as None and NaN
VALUES = st.one_of(
    st.none(),
    st.just(math.nan),
    st.sampled_from([1.0, 2.0, 3.0]),
    st.sampled_from([1.0, 2.0, 3.0]),
    st.sampled_from([1.0, 2.0, 3.0]),
    st.integers(-80, 80).map(lambda k: k / 8),
)

PIXEL_SIZES = (0.25, 0.5, 1.0, 2.0, 3.0, 10.0, 30.0)


@st.composite
def north_up_grid(draw, max_side=7):
    w, h = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    sx, sy = draw(st.sampled_from(PIXEL_SIZES)), draw(st.sampled_from(PIXEL_SIZES))
    c, f = draw(st.integers(-4000, 4000)) / 4, draw(st.integers(-4000, 4000)) / 4
    south_up = draw(st.integers(0, 9)) == 0
    return Grid(w, h, Affine(sx, 0, c, 0, sy if south_up else -sy, f), CRS)


@st.composite
def skewed_grid(draw, max_side=7):
    """Rotated and/or sheared (90-degree rotations too), or north-up with decimal pixel sizes: all round."""
    w, h = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    if draw(st.integers(0, 3)) == 0:
        sx = draw(st.sampled_from([0.1, 0.3, 0.7, 1.1, 25.4]))
        sy = draw(st.sampled_from([0.1, 0.2, 0.3, 3.3, 25.4]))
        return Grid(w, h, Affine(sx, 0, draw(st.integers(-9999, 9999)) / 10, 0, -sy, 0.3), CRS)
    angle = draw(st.one_of(st.sampled_from([90.0, 180.0, 270.0, 30.0]), st.floats(-180, 180)))
    shear = draw(st.one_of(st.just(0.0), st.floats(-40, 40)))
    sx, sy = draw(st.floats(0.1, 50)), draw(st.floats(0.1, 50))
    c, f = draw(st.floats(-1e6, 1e6)), draw(st.floats(-1e6, 1e6))
    a = Affine.translation(c, f) @ Affine.rotation(angle) @ Affine.shear(shear, 0) @ Affine.scale(sx, -sy)
    assume(not a.is_degenerate)
    return Grid(w, h, a, CRS)


def tiling():
    """Small tiles and blocks, so that features cross several of each."""
    tile = st.one_of(st.integers(1, 4), st.tuples(st.integers(1, 4), st.integers(1, 4)), st.just(256))
    return st.fixed_dictionaries({"tile_size": tile, "block_pixels": st.sampled_from([1, 4, 16, 1 << 20])})


@st.composite
def scene(draw, rounding: bool, max_polygons=5):
    """``(grid, pairs)``: lattice features (pixel space) around and across the grid, mapped to map space."""
    grid = draw(skewed_grid() if rounding else north_up_grid())
    w, h = grid.width, grid.height
    if draw(st.booleans()):  # around and across the grid
        b = Box(-1.5, w + 1.5, -1.5, h + 1.5, OFF if rounding else 0.0)
    else:  # crowded into a corner of it: overlaps everywhere
        b = Box(-0.5, min(w, 3), -0.5, min(h, 3), OFF if rounding else 0.0)
    geoms_px, values = draw(features(b, polygons=(1, max_polygons)))
    pairs = [(to_map_geom(g, grid), v) for g, v in zip(geoms_px, values)]
    if rounding:
        # the library repairs a geometry the round trip made invalid; that is another geometry than the oracle's
        assume(all(shapely.is_valid(to_pixel_geom(m, grid)) for m, _ in pairs))
        # no ownership decision may hang on rounding: lines stay away from every pixel corner
        corners = shapely.points(*np.mgrid[-3 : grid.width + 4, -3 : grid.height + 4].reshape(2, -1))
        for m, _ in pairs:
            for line in lines_of(to_pixel_geom(m, grid)):
                assume(shapely.distance(line, corners).min() > 1e-6)
    else:
        for g, (m, _) in zip(geoms_px, pairs):  # north-up dyadic grids: the lattice survives the round trip
            assert shapely.equals_exact(to_pixel_geom(m, grid), g, tolerance=0)
    return grid, pairs


def has_values(pairs) -> bool:
    return any(not is_null(v) for g, v in pairs if not g.is_empty)


def check_scene(grid, pairs, tiles=None):
    kw = {} if tiles is None else {"block_pixels": tiles["block_pixels"]}
    if tiles is not None:
        grid = grid.with_tile_size(tiles["tile_size"])
    family = has_values(pairs)
    got = run(pairs, grid, [*METHODS, FAMILY] if family else METHODS, **kw)
    want = oracle(pairs, grid, family=family)
    assert_results_match(got, want, grid, pairs, f" on {grid!r} with {tiles}")


# ============================================================================================ 1. oracle tests
@settings(max_examples=150)
@given(sc=scene(rounding=False), tiles=tiling())
def test_every_method_matches_the_oracle_on_north_up_grids(sc, tiles):
    check_scene(*sc, tiles)


@settings(max_examples=100)
@given(sc=scene(rounding=True), tiles=tiling())
def test_every_method_matches_the_oracle_on_skewed_and_rotated_grids(sc, tiles):
    check_scene(*sc, tiles)


@settings(max_examples=50)
@given(sc=scene(rounding=False, max_polygons=7), tiles=tiling())
def test_shared_values_merge_by_true_union(sc, tiles):
    # every feature gets one of two values: the merged methods and the class fractions see real unions
    grid, pairs = sc
    pairs = [(g, [1.0, 2.0][i % 2]) for i, (g, _) in enumerate(pairs)]
    check_scene(grid, pairs, tiles)


# ============================================================================================ 2. conservation
@st.composite
def contained_scene(draw, rounding: bool):
    """Features drawn anywhere, and a grid (with a margin) that holds all of them."""
    b = Box(0, 8, 0, 8, OFF if rounding else 0.0)
    geoms, values = draw(features(b, polygons=(0, 5), lines=(0, 4), points=(0, 4)))
    assume(geoms)
    x0, y0, x1, y1 = shapely.total_bounds(np.array(geoms, dtype=object))
    ox, oy = math.floor(x0) - 1, math.floor(y0) - 1
    w, h = math.ceil(x1) - ox + 1, math.ceil(y1) - oy + 1
    grid = draw(skewed_grid() if rounding else north_up_grid())
    grid = Grid(w, h, grid.transform, CRS)
    pairs = [(to_map_geom(shapely.affinity.translate(g, -ox, -oy), grid), v) for g, v in zip(geoms, values)]
    if rounding:
        assume(all(shapely.is_valid(to_pixel_geom(m, grid)) for m, _ in pairs))
    return grid, pairs


def union_area(geoms) -> float:
    polys = [p for g in geoms for p in polygons_of(g)]
    return shapely.union_all(polys).area if polys else 0.0


@settings(max_examples=80)
@given(sc=st.one_of(contained_scene(False), contained_scene(True)), tiles=tiling())
def test_conservation_laws(sc, tiles):
    grid, pairs = sc
    grid = grid.with_tile_size(tiles["tile_size"])
    family = has_values(pairs)
    methods = [
        "SUM_OF_AREAS",
        "SUM_OF_LENGTHS",
        "DENSITY_OF_LENGTHS",
        "COUNT_OF_POINTS",
        "PROPORTION_OF_COVERED_AREA",
    ]
    got = run(pairs, grid, [*methods, FAMILY] if family else methods, block_pixels=tiles["block_pixels"])
    pa = grid.pixel_area
    geoms = [g for g, _ in pairs]
    # Σ SUM_OF_AREAS = Σ area(g) (a feature's area is that of its polygonal part: a collection's union)
    areas = math.fsum(union_area([g]) for g in geoms)
    assert math.isclose(got["SUM_OF_AREAS"].sum(), areas, rel_tol=1e-9, abs_tol=1e-9 * pa)
    # Σ SUM_OF_LENGTHS = Σ length(g) of the linear parts, every metre once
    lengths = math.fsum(ln.length for g in geoms for ln in lines_of(g))
    side = abs(grid.transform.a) + abs(grid.transform.e) + abs(grid.transform.b) + abs(grid.transform.d)
    assert math.isclose(got["SUM_OF_LENGTHS"].sum(), lengths, rel_tol=1e-9, abs_tol=1e-9 * side)
    assert math.isclose(got["DENSITY_OF_LENGTHS"].sum() * pa, lengths, rel_tol=1e-9, abs_tol=1e-9 * side)
    # Σ COUNT_OF_POINTS = point features, counted once per pixel holding members of them
    n_points = 0
    for g in geoms:
        cells = set()
        for p in points_of(to_pixel_geom(g, grid)):
            cells.add((math.floor(p.x), math.floor(p.y)))
        n_points += len(cells)
    assert got["COUNT_OF_POINTS"].sum() == n_points
    if not any(points_of(g) for g in geoms):
        assert got["COUNT_OF_POINTS"].sum() == 0
    # Σ PROPORTION_OF_COVERED_AREA · pixel area = area of the union of all polygons
    cover = union_area(geoms)
    assert math.isclose(got["PROPORTION_OF_COVERED_AREA"].sum() * pa, cover, rel_tol=1e-9, abs_tol=1e-9 * pa)
    assert (got["PROPORTION_OF_COVERED_AREA"] >= 0).all() and (got["PROPORTION_OF_COVERED_AREA"] <= 1).all()
    if family:
        for v in sorted({float(v) for _, v in pairs if not is_null(v)}):
            band = got[f"{FAMILY}:{v:.15g}"]
            want = union_area([g for g, w in pairs if not is_null(w) and float(w) == v])
            assert math.isclose(band.sum() * pa, want, rel_tol=1e-9, abs_tol=1e-9 * pa), v


@st.composite
def voronoi_coverage(draw, rounding: bool):
    """Voronoi cells of random sites, clipped to a box inside the grid: no gap, no overlap."""
    grid = draw(skewed_grid() if rounding else north_up_grid())
    w, h = grid.width, grid.height
    frame = shapely.box(draw(st.integers(0, 1)) / 4, draw(st.integers(0, 1)) / 4, w - draw(st.integers(0, 1)) / 4, h)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(2, 12))
    if draw(st.booleans()):
        sites = np.column_stack([rng.uniform(0, w, n), rng.uniform(0, h, n)])
    else:  # lattice sites: bisectors through pixel edges, corners and centres
        sites = np.column_stack([rng.integers(0, w * Q + 1, n) / Q, rng.integers(0, h * Q + 1, n) / Q])
    sites = np.unique(sites, axis=0)
    assume(len(sites) >= 2)
    cells = shapely.voronoi_polygons(MultiPoint(sites), extend_to=frame.buffer(10))
    pieces = [shapely.intersection(c, frame) for c in cells.geoms]
    pieces = [p for p in pieces if p.geom_type == "Polygon" and p.area > 0]
    assume(pieces)
    # node T-junctions so that neighbours share their vertices, as a coverage must
    vertices = shapely.union_all([MultiPoint(p.exterior.coords) for p in pieces])
    pieces = [shapely.remove_repeated_points(shapely.snap(p, vertices, 1e-9)) for p in pieces]
    assume(all(p.is_valid and p.geom_type == "Polygon" for p in pieces))
    assume(shapely.coverage_is_valid(np.array(pieces, dtype=object)))
    assert math.isclose(sum(p.area for p in pieces), frame.area, rel_tol=1e-9)
    values = [float(v) for v in rng.integers(1, 5, len(pieces))]  # shared values: merged unions
    pairs = [(to_map_geom(p, grid), v) for p, v in zip(pieces, values)]
    if rounding:
        assume(all(shapely.is_valid(to_pixel_geom(m, grid)) for m, _ in pairs))
    return grid, frame, pairs


@settings(max_examples=60)
@given(sc=st.one_of(voronoi_coverage(False), voronoi_coverage(True)), tiles=tiling())
def test_a_coverage_gives_each_centre_once_and_class_fractions_add_up(sc, tiles):
    grid, frame, pairs = sc
    grid = grid.with_tile_size(tiles["tile_size"])
    methods = ["COUNT_OF_VALUES_AT_PIXEL_CENTROID", "PROPORTION_OF_COVERED_AREA", "SUM_OF_AREAS", FAMILY]
    got = run(pairs, grid, methods, block_pixels=tiles["block_pixels"])
    count = got["COUNT_OF_VALUES_AT_PIXEL_CENTROID"]
    assert set(np.unique(count).tolist()) <= {0.0, 1.0}
    # every centre strictly inside the frame is in exactly one cell
    rows, cols = np.mgrid[0 : grid.height, 0 : grid.width]
    inside = shapely.contains_properly(frame, shapely.points(cols + 0.5, rows + 0.5))
    far = shapely.distance(frame.boundary, shapely.points(cols + 0.5, rows + 0.5)) > 1e-6
    assert (count[inside & far] == 1).all() and (count[~inside & far] == 0).all()
    fractions = [a for name, a in got.items() if name.startswith(FAMILY + ":")]
    assert len(fractions) == len({v for _, v in pairs})
    total = np.sum(fractions, axis=0)
    assert np.allclose(total, got["PROPORTION_OF_COVERED_AREA"], rtol=0, atol=1e-9)
    # no overlap: the sum of the areas is the covered area
    assert np.allclose(
        got["SUM_OF_AREAS"], got["PROPORTION_OF_COVERED_AREA"] * grid.pixel_area, atol=1e-9 * grid.pixel_area
    )
    # the proportion is the frame's share of the pixel
    boxes, _, _ = pixel_boxes(grid.width, grid.height)
    want = shapely.area(shapely.intersection(frame, boxes)).reshape(grid.shape)
    assert np.allclose(got["PROPORTION_OF_COVERED_AREA"], want, rtol=0, atol=1e-9)


# ============================================================================================ 3. hand-computed cases
def test_merge_counts_overlaps_once_and_nulls_still_count():
    # two pixels of 2 x 1 map units; pixel space: col = x / 2, row = 1 - y
    grid = Grid(2, 1, Affine(2, 0, 0, 0, -1, 1), CRS)
    pairs = [
        (shapely.box(0, 0, 0.75, 1), 5.0),  # A: 0.75 in pixel 0
        (shapely.box(0.25, 0, 1, 1), 5.0),  # B: 0.75, overlaps A on 0.5; value 5 covers x 0..1 = 1.0 merged
        (shapely.box(0.875, 0, 2, 1), 7.0),  # C: 1.125 in pixel 0
        (shapely.box(2, 0, 3, 1), 3.0),  # D: 1.0 in pixel 1
        (shapely.box(2, 0, 2.5, 1), None),  # E: 0.5 in pixel 1, NULL value
    ]
    got = run(pairs, grid, [*METHODS, FAMILY], semantics="exact")
    n = NODATA
    # value 5 merged (true union) covers 1.0 < C's 1.125 < 1.5 (the sum of A and B, the postgis "merge")
    assert got["VALUE_OF_MERGED_BIGGEST"].tolist() == [[7, 3]]
    assert got["VALUE_OF_MERGED_SMALLEST"].tolist() == [[5, 3]]
    assert got["VALUE_OF_BIGGEST"].tolist() == [[7, 3]]
    assert got["VALUE_OF_SMALLEST"].tolist() == [[5, 3]]  # A and B tie at 0.75, both 5
    assert got["SUM_OF_AREAS"].tolist() == [[2.625, 1.5]]  # overlaps counted as often as they occur
    assert got["MIN_AREA"].tolist() == [[0.75, 0.5]]  # E's NULL value is not read: its area counts
    assert got["COUNT_OF_POLYGONS"].tolist() == [[3, 2]]
    assert got["COUNT_OF_GEOMETRIES"].tolist() == [[3, 2]]
    assert got["COUNT_OF_DISTINCT_VALUES"].tolist() == [[2, 1]]
    assert got["COUNT_OF_VALUES_ALL_TOUCHED"].tolist() == [[3, 1]]
    assert got["PROPORTION_OF_COVERED_AREA"].tolist() == [[1.0, 0.5]]
    assert got[f"{FAMILY}:3"].tolist() == [[0, 0.5]]
    assert got[f"{FAMILY}:5"].tolist() == [[0.5, 0]]
    assert got[f"{FAMILY}:7"].tolist() == [[0.5625, 0]]
    assert [k for k in got if k.startswith(FAMILY)] == [f"{FAMILY}:3", f"{FAMILY}:5", f"{FAMILY}:7"]
    # (0.75·5 + 0.75·5 + 1.125·7) / 2.625; pixel 1: E is ignored, D covers half the pixel: 3·1 / max(1, 2)
    assert np.allclose(got["AREA_WEIGHTED_MEAN_OF_VALUES"], [[15.375 / 2.625, 1.5]], rtol=1e-12)
    assert np.allclose(got["AREA_WEIGHTED_MEAN_OF_VALUES_2"], [[15.375 / 2.625, 3.0]], rtol=1e-12)
    assert got["MEAN_OF_VALUES_ALL_TOUCHED"].tolist() == [[17 / 3, 3]]
    assert got["FIRST_VALUE_ALL_TOUCHED"].tolist() == [[5, 3]]
    assert got["LAST_VALUE_ALL_TOUCHED"].tolist() == [[7, 3]]
    assert got["MAJORITY_OF_VALUES_ALL_TOUCHED"].tolist() == [[5, 3]]
    # no lines, no points
    for m in ("SUM_OF_LENGTHS", "DENSITY_OF_LENGTHS", "COUNT_OF_LINESTRINGS", "COUNT_OF_POINTS", "SUM_OF_VALUES"):
        assert got[m].tolist() == [[0, 0]], m
    for m in ("VALUE_OF_LONGEST", "LENGTH_WEIGHTED_MEAN_OF_VALUES", "MEAN_OF_VALUES"):
        assert got[m].tolist() == [[n, n]], m
    assert_results_match(got, oracle(pairs, grid), grid, pairs)


def test_two_overlapping_unit_squares_of_one_value_are_merged_once():
    grid = Grid(3, 1, Affine(1, 0, 0, 0, -1, 1), CRS, tile_size=1)
    pairs = [(shapely.box(0, 0, 2, 1), 4.0), (shapely.box(1, 0, 3, 1), 4.0), (shapely.box(1, 0, 3, 1), 6.0)]
    got = run(pairs, grid, ["SUM_OF_AREAS", "PROPORTION_OF_COVERED_AREA", "VALUE_OF_MERGED_BIGGEST", f"{FAMILY}:4,6,9"])
    assert got["SUM_OF_AREAS"].tolist() == [[1, 3, 2]]
    assert got["PROPORTION_OF_COVERED_AREA"].tolist() == [[1, 1, 1]]
    assert got[f"{FAMILY}:4"].tolist() == [[1, 1, 1]]  # not 2 in the middle pixel
    assert got[f"{FAMILY}:6"].tolist() == [[0, 1, 1]]
    assert got[f"{FAMILY}:9"].tolist() == [[0, 0, 0]]  # a listed class that no feature has
    # merged: 4 and 6 both cover the middle and right pixels fully; a tie goes to the larger value
    assert got["VALUE_OF_MERGED_BIGGEST"].tolist() == [[4, 6, 6]]


def test_ties_go_to_the_larger_value():
    grid = Grid(1, 1, Affine(1, 0, 0, 0, -1, 1), CRS)
    pairs = [
        (shapely.box(0, 0, 0.5, 1), 9.0),
        (shapely.box(0.5, 0, 1, 1), 2.0),
        (LineString([(0, 0.25), (0.5, 0.25)]), 1.0),
        (LineString([(0.5, 0.75), (1, 0.75)]), 8.0),
    ]
    methods = ["VALUE_OF_BIGGEST", "VALUE_OF_SMALLEST", "VALUE_OF_MERGED_BIGGEST", "VALUE_OF_MERGED_SMALLEST"]
    got = run(pairs, grid, [*methods, "VALUE_OF_LONGEST", "LENGTH_WEIGHTED_MEAN_OF_VALUES"])
    for m in methods:
        assert got[m].tolist() == [[9.0]], m
    assert got["VALUE_OF_LONGEST"].tolist() == [[8.0]]
    assert got["LENGTH_WEIGHTED_MEAN_OF_VALUES"].tolist() == [[4.5]]


def test_a_line_on_a_pixel_edge_belongs_to_exactly_one_pixel():
    # 2 x 2 pixels of 1 m, north-up, origin (0, 2): pixel row = 2 - y, col = x
    grid = Grid(2, 2, Affine(1, 0, 0, 0, -1, 2), CRS)
    horizontal = LineString([(0, 1), (2, 1)])  # pixel row 1: owned by the lower map row
    vertical = LineString([(1, 0), (1, 2)])  # pixel col 1
    assert run([(horizontal, 1.0)], grid, ["SUM_OF_LENGTHS"])["SUM_OF_LENGTHS"].tolist() == [[0, 0], [1, 1]]
    got = run([(vertical, 1.0)], grid, ["SUM_OF_LENGTHS", "COUNT_OF_LINESTRINGS"])
    assert got["SUM_OF_LENGTHS"].tolist() == [[0, 1], [0, 1]]
    assert got["COUNT_OF_LINESTRINGS"].tolist() == [[0, 1], [0, 1]]
    # along the top (pixel row 0) and left (pixel col 0) sides of the grid: inside the grid
    top_left = LineString([(0, 0), (0, 2), (2, 2)])
    assert run([(top_left, 1.0)], grid, ["SUM_OF_LENGTHS"])["SUM_OF_LENGTHS"].tolist() == [[2, 1], [1, 0]]
    # a diagonal through a pixel corner gives nothing to the two pixels it only touches
    diag = LineString([(0, 0), (2, 2)])
    got = run([(diag, 5.0)], grid, ["SUM_OF_LENGTHS", "COUNT_OF_LINESTRINGS", "VALUE_OF_LONGEST"])
    s = math.sqrt(2)
    assert np.allclose(got["SUM_OF_LENGTHS"], [[0, s], [s, 0]], rtol=1e-12, atol=0)
    assert got["COUNT_OF_LINESTRINGS"].tolist() == [[0, 1], [1, 0]]
    assert got["VALUE_OF_LONGEST"].tolist() == [[NODATA, 5], [5, NODATA]]
    # lengths are in map units, on a skewed grid too: pixel (0, 0) spans x 0..3 along its top edge
    skew = Grid(2, 1, Affine(3, 1, 0, 0, -2, 2), CRS)
    edge = LineString([(0, 0), (6, 0)])  # the bottom side of the grid in pixel space is row 1: outside
    inner = LineString([(1, 0), (7, 0)])  # pixel row 1 again: outside (the half-open grid ends there)
    top = LineString([(0, 2), (6, 2)])  # pixel row 0, cols 0..2
    got = run([(edge, 1.0), (inner, 1.0), (top, 1.0)], skew, ["SUM_OF_LENGTHS", "COUNT_OF_LINESTRINGS"])
    assert got["SUM_OF_LENGTHS"].tolist() == [[3, 3]]
    assert got["COUNT_OF_LINESTRINGS"].tolist() == [[1, 1]]


def test_a_point_on_a_pixel_corner_is_counted_once():
    grid = Grid(2, 2, Affine(1, 0, 0, 0, -1, 2), CRS)
    corner = Point(1, 1)  # pixel space (1, 1): owned by pixel (row 1, col 1)
    got = run([(corner, 3.0)], grid, ["COUNT_OF_POINTS", "COUNT_OF_GEOMETRIES", "SUM_OF_VALUES", "MEAN_OF_VALUES"])
    assert got["COUNT_OF_POINTS"].tolist() == [[0, 0], [0, 1]]
    assert got["COUNT_OF_GEOMETRIES"].tolist() == [[0, 0], [0, 1]]
    assert got["SUM_OF_VALUES"].tolist() == [[0, 0], [0, 3]]
    assert got["MEAN_OF_VALUES"].tolist() == [[NODATA, NODATA], [NODATA, 3]]
    # members of one multipoint: once per pixel holding any; a point on an edge goes to one pixel
    multi = MultiPoint([(0.5, 1.5), (0.25, 1.75), (1.5, 0.5), (1, 1.5)])
    got = run([(multi, 2.0), (Point(0, 0.5), None)], grid, ["COUNT_OF_POINTS", "SUM_OF_VALUES", "MEAN_OF_VALUES"])
    assert got["COUNT_OF_POINTS"].tolist() == [[1, 1], [1, 1]]
    assert got["SUM_OF_VALUES"].tolist() == [[2, 2], [0, 2]]  # the NULL point is counted, not summed
    assert got["MEAN_OF_VALUES"].tolist() == [[2, 2], [NODATA, 2]]
    # the grid's right and bottom sides are outside it
    got = run([(MultiPoint([(2, 1), (1, 0), (2, 0)]), 1.0)], grid, ["COUNT_OF_POINTS"])
    assert got["COUNT_OF_POINTS"].tolist() == [[0, 0], [0, 0]]


def test_a_null_polygon_is_counted_but_its_value_is_not_read():
    grid = Grid(1, 1, Affine(4, 0, 0, 0, -4, 4), CRS)  # pixel area 16
    pairs = [(shapely.box(0, 0, 4, 2), None), (shapely.box(0, 2, 2, 4), 6.0)]
    got = run(pairs, grid)
    assert got["COUNT_OF_POLYGONS"].tolist() == [[2]]
    assert got["SUM_OF_AREAS"].tolist() == [[12]]
    assert got["MIN_AREA"].tolist() == [[4]]
    assert got["PROPORTION_OF_COVERED_AREA"].tolist() == [[0.75]]
    assert got["AREA_WEIGHTED_MEAN_OF_VALUES"].tolist() == [[6 * 4 / 16]]  # NULL area does not dilute
    assert got["AREA_WEIGHTED_MEAN_OF_VALUES_2"].tolist() == [[6]]
    assert got["VALUE_OF_BIGGEST"].tolist() == [[6]]  # the NULL polygon is bigger, but has no value
    assert got["VALUE_OF_MERGED_SMALLEST"].tolist() == [[6]]
    assert got["COUNT_OF_VALUES_ALL_TOUCHED"].tolist() == [[1]]
    assert got["COUNT_OF_DISTINCT_VALUES"].tolist() == [[1]]
    # only NULL values: value methods are empty, counts and areas are not
    got = run([(shapely.box(0, 0, 4, 4), math.nan)], grid)
    assert got["COUNT_OF_POLYGONS"].tolist() == [[1]]
    assert got["SUM_OF_AREAS"].tolist() == [[16]]
    for m in (
        "VALUE_OF_BIGGEST",
        "AREA_WEIGHTED_MEAN_OF_VALUES",
        "VALUE_OF_MERGED_BIGGEST",
        "MEAN_OF_VALUES_ALL_TOUCHED",
    ):
        assert got[m].tolist() == [[NODATA]], m
    assert got["COUNT_OF_VALUES_ALL_TOUCHED"].tolist() == [[0]]


def test_a_sliver_below_the_qualifying_threshold_does_not_qualify():
    grid = Grid(2, 1, Affine(1, 0, 0, 0, -1, 1), CRS)
    # 1e-10 of pixel 1 (below 1e-9): it does not qualify there, but its area is summed
    sliver = shapely.box(0, 0, 1 + 1e-10, 1)
    got = run([(sliver, 3.0)], grid, ["COUNT_OF_POLYGONS", "VALUE_OF_BIGGEST", "SUM_OF_AREAS", "MIN_AREA"])
    assert got["COUNT_OF_POLYGONS"].tolist() == [[1, 0]]
    assert got["VALUE_OF_BIGGEST"].tolist() == [[3, NODATA]]
    assert got["MIN_AREA"].tolist() == [[1, NODATA]]
    assert np.allclose(got["SUM_OF_AREAS"], [[1, 1e-10]], rtol=1e-5, atol=0)


# ============================================================================================ 4. degenerate input
def test_degenerate_geometries_do_not_crash_and_are_repaired():
    grid = Grid(3, 3, Affine(1, 0, 0, 0, 1, 0), CRS, tile_size=2)  # south-up: pixel space = map space
    bowtie = Polygon([(0, 0), (2, 2), (2, 0), (0, 2), (0, 0)])  # make_valid: two triangles of area 1
    flat = Polygon([(0, 0), (1, 1), (2, 2), (0, 0)])  # zero-area ring
    repeated = Polygon([(0, 1), (0, 1), (1, 1), (1, 1), (1, 2), (0, 2), (0, 1)])  # a unit square
    zero_line = LineString([(0.5, 0.5), (0.5, 0.5)])
    stutter = LineString([(0, 2.5), (0, 2.5), (1.5, 2.5), (1.5, 2.5), (3, 2.5)])
    overlapping = GeometryCollection([shapely.box(2, 0, 3, 2), shapely.box(2, 1, 3, 3)])  # union: 3 pixels
    pairs = [
        (bowtie, 1.0),
        (flat, 2.0),
        (repeated, 3.0),
        (zero_line, 4.0),
        (stutter, 5.0),
        (overlapping, 6.0),
        (Polygon(), 7.0),
        (LineString(), 8.0),
        (Point(), 9.0),
        (GeometryCollection(), 10.0),
        (MultiPolygon(), None),
    ]
    got = run(pairs, grid, [*METHODS, FAMILY], block_pixels=4)
    # bowtie: half of each pixel of [0, 2]²; the repeated square: pixel (row 1, col 0); the collection's union
    assert got["SUM_OF_AREAS"].tolist() == [[0.5, 0.5, 1], [1.5, 0.5, 1], [0, 0, 1]]
    assert got["COUNT_OF_POLYGONS"].tolist() == [[1, 1, 1], [2, 1, 1], [0, 0, 1]]
    assert got["PROPORTION_OF_COVERED_AREA"].tolist() == [[0.5, 0.5, 1], [1, 0.5, 1], [0, 0, 1]]
    assert got["SUM_OF_LENGTHS"].tolist() == [[0, 0, 0], [0, 0, 0], [1, 1, 1]]
    assert got["COUNT_OF_LINESTRINGS"].tolist() == [[0, 0, 0], [0, 0, 0], [1, 1, 1]]
    assert got["COUNT_OF_POINTS"].sum() == 0  # a collapsed line is not a point
    assert got[f"{FAMILY}:6"].tolist() == [[0, 0, 1], [0, 0, 1], [0, 0, 1]]  # union, not 2 in the middle
    # classes are the layer's values, including those of features the repair empties (flat, zero_line)
    assert [k for k in got if k.startswith(FAMILY)] == [f"{FAMILY}:{v}" for v in (1, 2, 3, 4, 5, 6)]
    assert got[f"{FAMILY}:2"].sum() == 0
    assert got["COUNT_OF_GEOMETRIES"].tolist() == [[1, 1, 1], [2, 1, 1], [1, 1, 2]]
    # the same, checked by the oracle on the repaired geometries
    repaired = [(shapely.make_valid(g, method="structure", keep_collapsed=False), v) for g, v in pairs]
    assert_results_match(got, oracle(repaired, grid, classes=[1, 2, 3, 4, 5, 6]), grid, pairs)


@pytest.mark.parametrize(
    "geom",
    [
        Polygon([(0, 0), (3, 0), (3, 3), (0, 3)], [[(1, 1), (2, 1), (2, 2), (1, 2)], [(1, 1), (2, 1), (2, 2), (1, 2)]]),
        Polygon([(0, 0), (3, 0), (3, 3), (0, 3)], [[(0, 0), (3, 0), (3, 3), (0, 3)]]),  # hole = shell: nothing
        # (a hole outside its shell: see test_a_repair_reaching_beyond_the_envelope_is_seen_by_every_block)
        Polygon([(0, 0), (3, 0), (3, 3), (0, 3)], [[(1, 3), (2, 3), (1.5, 4)]]),  # hole outside, touching
        Polygon([(0, 0), (2, 0), (2, 1), (3, 1), (2, 1), (2, 2), (0, 2), (0, 0)]),  # spike
        Polygon([(0, 0), (3, 0), (0, 3), (3, 3), (0, 0)]),  # hourglass
        MultiPolygon([shapely.box(0, 0, 2, 2), shapely.box(1, 1, 3, 3)]),  # overlapping parts
        MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)]),  # parts sharing an edge
        Polygon([(0, 0), (1e-13, 0), (1e-13, 1e-13), (0, 0)]),  # a speck
        LineString([(0, 0), (3, 3), (0, 0)]),  # retraced
        GeometryCollection([Polygon([(0, 0), (2, 2), (2, 0), (0, 2)]), LineString([(1, 1), (1, 1)]), Point(1, 1)]),
    ],
    ids=lambda g: g.geom_type,
)
def test_invalid_inputs_are_repaired_and_conserved(geom):
    grid = Grid(6, 6, Affine(1, 0, -0.5, 0, 1, -0.5), CRS, tile_size=(3, 2))
    got = run([(geom, 1.0), (Point(3, 3), 2.0)], grid, [*METHODS, FAMILY], block_pixels=6)
    geom_px = to_pixel_geom(geom, grid)
    fixed = geom_px if geom_px.is_valid else shapely.make_valid(geom_px, method="structure", keep_collapsed=False)
    assert math.isclose(got["SUM_OF_AREAS"].sum(), union_area([fixed]), rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(got["SUM_OF_LENGTHS"].sum(), sum(ln.length for ln in lines_of(fixed)), rel_tol=1e-9)
    assert np.isfinite(np.stack(list(got.values()))).all()
    repaired = [(to_map_geom(fixed, grid), 1.0), (Point(3, 3), 2.0)]
    assert_results_match(got, oracle(repaired, grid, classes=[1.0, 2.0]), grid, repaired)


# ============================================================================================ src bugs found
def test_a_fully_covered_pixel_has_all_of_its_area_whatever_the_blocks():
    # A polygon covering pixel (0, 1) entirely, with vertices on that pixel's left side at y = 5/12 and 7/12
    # (where a triangle meets a box: the union of lattice shapes). Its area in the pixel is exactly 1, as is the
    # box's: a tie, which goes to the larger value (spec 2), 2. Whatever the tiles and blocks.
    grid = Grid(2, 1, Affine(1, 0, 0, 0, 1, 0), CRS)  # south-up: pixel space = map space
    cell = shapely.box(1, 0, 2, 1)
    notched = shapely.union(Polygon([(1.5, 0.5), (0, 0.25), (1.5, 0.75)]), cell)
    assert notched.geom_type == "Polygon" and shapely.intersection(notched, cell).area == 1.0
    methods = ["VALUE_OF_BIGGEST", "VALUE_OF_MERGED_BIGGEST", f"{FAMILY}:2"]
    for kw in ({}, {"tile_size": 1, "block_pixels": 1}):
        got = run([(notched, 2.0), (cell, 1.0)], grid, methods, **kw)
        found = {m: got[m][0, 1] for m in methods}
        assert found == {"VALUE_OF_BIGGEST": 2.0, "VALUE_OF_MERGED_BIGGEST": 2.0, f"{FAMILY}:2": 1.0}, (
            f"SRC BUG (kernels/area.py): with {kw or 'one block'} a pixel the polygon covers entirely gets area "
            f"{found[FAMILY + ':2']!r} instead of 1 when the block starts at that pixel (the carries of edges on the "
            "block's left side do not sum to exactly 1), so the 1-vs-1 tie goes to the smaller value and the "
            f"result depends on tile_size/block_pixels: {found}"
        )


def test_identical_polygons_have_identical_areas():
    # Two features with the same triangle and values 1 and 2: in every pixel their areas are equal, so each pick
    # is a tie, which goes to the larger value (spec 2): 2 everywhere the triangle is, for BIGGEST and SMALLEST
    # alike. In pixel (0, 1) the triangle covers 5/12.
    grid = Grid(2, 2, Affine(1, 0, 0, 0, 1, 0), CRS)  # south-up: pixel space = map space
    tri = Polygon([(2, 1.25), (2, 0.25), (0.5, 1.25)])
    assert math.isclose(shapely.intersection(tri, shapely.box(1, 0, 2, 1)).area, 5 / 12, rel_tol=1e-15)
    methods = ["VALUE_OF_BIGGEST", "VALUE_OF_SMALLEST", "MIN_AREA"]
    for pairs in ([(tri, 1.0), (tri, 2.0)], [(tri, 2.0), (tri, 1.0)]):
        got = run(pairs, grid, methods)
        assert math.isclose(got["MIN_AREA"][0, 1], 5 / 12, rel_tol=1e-12)
        assert got["VALUE_OF_BIGGEST"].tolist() == [[2, 2], [2, 2]]
        assert got["VALUE_OF_SMALLEST"].tolist() == [[2, 2], [2, 2]], (
            "SRC BUG (kernels/area.py, polygon_areas): two identical polygons get different areas in pixel (0, 1) "
            "(0.4166666666666667 and 0.4166666666666669): a cell's area is a difference of running sums "
            "(np.cumsum) taken over the entries of *every* owner of the block, so its rounding depends on the "
            "features processed before it. "
            f"The 5/12-vs-5/12 tie then goes by feature order, not to the larger value: {got['VALUE_OF_SMALLEST']}"
        )


def _invalid_layer(kind: str, geoms, values, tmp_path, request):
    """``(source, source options)`` holding ``geoms`` as ``kind``: Python pairs, a file, a PostGIS table."""
    if kind == "pairs":
        return list(zip(geoms, values)), {"assume_crs": CRS}
    if kind == "postgis":
        url, conn = request.getfixturevalue("pg_url"), request.getfixturevalue("pg_conn")
        from tests.pgload import load_features

        load_features(conn, "repairs", geoms, values, srid=3857)
        return f"{url}?table=repairs", {"value": "value"}
    driver = {"gpkg": "GPKG", "geojson": "GeoJSON", "fgb": "FlatGeobuf"}[kind]
    path = str(tmp_path / f"repairs.{kind}")
    pyogrio.raw.write(
        path,
        shapely.to_wkb(np.asarray(geoms)),
        [np.asarray(values)],
        ["value"],
        geometry_type="Unknown",
        crs=CRS,
        driver=driver,
    )
    return path, {"value": "value"}


@pytest.mark.parametrize("kind", ["pairs", "gpkg", "geojson", "fgb", "postgis"])
def test_a_repair_reaching_beyond_the_envelope_is_seen_by_every_block(kind, tmp_path, request):
    # An invalid polygon: a hole outside its shell. make_valid (structure) turns it into the shell plus a triangle
    # of area 0.5 at (4..5, 4..5), outside GEOS's envelope of the input (the shell's): every source selects
    # features by the box of all their vertices, so every block that the repair reaches reads the feature (OGR's
    # own bbox filter would not: it asks GEOS whether the invalid geometry meets the box). The repaired geometry
    # is what is rasterized (spec: invalid polygons are repaired), whatever the tiles and blocks.
    grid = Grid(6, 6, Affine(1, 0, 0, 0, 1, 0), CRS)  # south-up: pixel space = map space
    bad = Polygon([(0, 0), (3, 0), (3, 3), (0, 3)], [[(4, 4), (5, 4), (5, 5)]])
    fixed = shapely.make_valid(bad, method="structure", keep_collapsed=False)
    assert not bad.is_valid and fixed.area == 9.5 and bad.bounds == (0, 0, 3, 3)
    # and a bow-tie: two triangles of area 1 meeting at (4, 0.5)
    bowtie = Polygon([(2, 0), (6, 1), (6, 0), (2, 1)])
    source, options = _invalid_layer(kind, [bad, bowtie], [1.0, 2.0], tmp_path, request)
    for kw in ({}, {"tile_size": 2, "block_pixels": 4}, {"tile_size": 1, "block_pixels": 1}):
        da = rastercover.rasterize(
            source, grid, methods=["SUM_OF_AREAS", "VALUE_OF_BIGGEST"], dtype="float64", nodata=NODATA, **options, **kw
        )
        got = da.sel(band="SUM_OF_AREAS").values
        assert got.sum() == 9.5 + 2.0 and got[4, 4] == 0.5, (
            f"{kind}, {kw or 'one block'}: SUM_OF_AREAS sums to {got.sum()} (pixel (4, 4): {got[4, 4]}), not 11.5: "
            "a block that only the repaired part reaches did not read the feature"
        )
        assert got[0].tolist() == [1, 1, 1.75, 0.25, 0.25, 0.75]
        biggest = da.sel(band="VALUE_OF_BIGGEST").values
        assert biggest[4].tolist() == [NODATA] * 4 + [1, NODATA] and biggest[0].tolist() == [1, 1, 1, 2, 2, 2]


def test_a_reprojected_layer_is_read_by_every_block_its_projected_edges_cross():
    # A box 10 degrees wide in lon/lat rasterized on a Quebec Lambert grid: its projected edges are straight chords
    # between the projected corners, and its top chord lies some 13 km from the projected 47th parallel. Blocks
    # selecting features by their own box taken back to lon/lat missed it where the chord leaves the box of the
    # source polygon (SUM_OF_AREAS 6.0e8 or 5.4e8 m² instead of 9.0e8 depending on the blocks); selected by their
    # projected vertices, every block sees it.
    from pyproj import Transformer

    box = shapely.box(-76, 46.0, -66, 47.0)
    fwd = Transformer.from_crs(4326, 32198, always_xy=True)
    projected = Polygon(np.column_stack(fwd.transform(*np.asarray(box.exterior.coords).T)))
    cx, cy = fwd.transform(-71.0, 47.0)
    grid = Grid(60, 80, Affine(500.0, 0, cx - 15000, 0, -500.0, cy + 23000), "EPSG:32198")
    want = shapely.intersection(projected, shapely.box(*grid.bounds)).area
    got = []
    for tile, block in ((256, 1 << 20), (10, 100), (4, 16)):
        da = rastercover.rasterize(
            [(box, 1.0)],
            grid.with_tile_size(tile),
            methods=["SUM_OF_AREAS"],
            assume_crs="EPSG:4326",
            dtype="float64",
            nodata=NODATA,
            block_pixels=block,
        )
        got.append({"SUM_OF_AREAS": da.values[0]})
        assert math.isclose(got[-1]["SUM_OF_AREAS"].sum(), want, rel_tol=1e-9), (tile, block, got[-1], want)
        assert_same_bits(got[-1], got[0], f" with tiles {tile}, blocks of {block} px")


def test_every_source_bounds_hold_the_repaired_parts():
    # the layer's bounds (what decides which blocks may hold a feature) are those of every vertex, holes included
    bad = Polygon([(0, 0), (3, 0), (3, 3), (0, 3)], [[(4, 4), (5, 4), (5, 5)]])
    src = rastercover.io.MemoryVectorSource.from_pairs([(bad, 1.0)], crs=CRS)
    assert src.bounds == (0.0, 0.0, 5.0, 5.0)
    assert len(src.read((4.2, 4.2, 4.8, 4.8))) == 1 and len(src.read((5.5, 5.5, 6, 6))) == 0


def test_twins_tie_the_same_way_whatever_the_blocks():
    # The same star-shaped polygon three times: as drawn, reversed, and starting at another vertex, with values 1, 3
    # and 2, on a skewed grid. In every pixel the three areas are equal, bit for bit, whatever the block: every pick
    # is a tie, which goes to the larger value (spec 2), 3; MIN_AREA is that area; merging changes nothing.
    star = Polygon([(0.3, 0.2), (3.1, 1.0), (5.7, 0.4), (4.2, 2.9), (6.1, 5.3), (2.9, 4.1), (0.5, 5.8), (1.7, 2.6)])
    ring = list(star.exterior.coords)[:-1]
    twins = [star, shapely.reverse(star), Polygon(ring[3:] + ring[:3])]
    grid = Grid(7, 6, Affine(2.5, 0.5, 1000, -0.25, -2.0, 5000), CRS)
    pairs = [(to_map_geom(g, grid), v) for g, v in zip(twins, (1.0, 3.0, 2.0))]
    methods = ["VALUE_OF_BIGGEST", "VALUE_OF_SMALLEST", "VALUE_OF_MERGED_BIGGEST", "MIN_AREA", "SUM_OF_AREAS"]
    first = None
    for tile, block in ((256, 1 << 20), (1, 1), (2, 4), ((3, 2), 6)):
        got = run(pairs, grid.with_tile_size(tile), methods, block_pixels=block)
        covered = got["SUM_OF_AREAS"] > 0
        assert covered.sum() > 20
        assert (got["VALUE_OF_BIGGEST"][covered] == 3).all() and (got["VALUE_OF_SMALLEST"][covered] == 3).all()
        assert (got["VALUE_OF_MERGED_BIGGEST"][covered] == 3).all()
        assert np.array_equal(got["SUM_OF_AREAS"], 3 * got["MIN_AREA"] * covered)
        first = first or got
        assert_same_bits(got, first, f" with tiles {tile}, blocks of {block} px")


def test_unions_of_big_polygons_are_the_same_in_every_block():
    # Overlapping discs of 129 vertices, values 1 and 2, across the grid's aligned chunks (64 px), where a
    # polygon with many vertices is cut before a union: the covered fraction and the merged areas are the same,
    # bit for bit, whatever the tiles and blocks, and add up to the union's area.
    grid = Grid(150, 140, Affine(1, 0, 0, 0, 1, 0), CRS)  # south-up: pixel space = map space
    discs = [Point(x, y).buffer(r, quad_segs=32) for x, y, r in ((60, 62, 40.3), (95.5, 70.2, 45.1), (70, 100, 30))]
    pairs = list(zip(discs, (1.0, 1.0, 2.0)))
    methods = ["PROPORTION_OF_COVERED_AREA", "VALUE_OF_MERGED_BIGGEST", f"{FAMILY}:1", f"{FAMILY}:2"]
    first = None
    for tile, block in ((256, 1 << 20), (16, 256), ((50, 30), 1500)):
        got = run(pairs, grid.with_tile_size(tile), methods, block_pixels=block)
        assert math.isclose(got["PROPORTION_OF_COVERED_AREA"].sum(), union_area(discs), rel_tol=1e-9)
        assert math.isclose(got[f"{FAMILY}:1"].sum(), union_area(discs[:2]), rel_tol=1e-9)
        first = first or got
        assert_same_bits(got, first, f" with tiles {tile}, blocks of {block} px")


def test_a_point_a_hair_inside_a_block_in_pixel_space_is_read_by_that_block():
    # x = 0.9 is a hair left of the map x of column 6 (0.1 * 6 + 0.3 = 0.9000000000000001), but its column,
    # (0.9 - 0.3) / 0.1, is 6.000000000000001: pixel 6 owns the point. The block starting at column 6 must read it
    # (engine/compute.py reads a block's features by its map box padded by a hair, then keeps those meeting the
    # block in pixel space).
    grid = Grid(8, 1, Affine(0.1, 0, 0.3, 0, -1.0, 1.0), CRS)
    assert (
        grid.to_map(np.array([6.0]), np.array([0.0]))[0][0] > 0.9
        and grid.to_pixel(np.array([0.9]), np.array([0.5]))[0][0] >= 6
    )
    for kw in ({}, {"tile_size": 1, "block_pixels": 1}, {"tile_size": 2, "block_pixels": 4}):
        got = run([(Point(0.9, 0.5), 1.0)], grid, ["COUNT_OF_POINTS"], **kw)["COUNT_OF_POINTS"]
        assert got.tolist() == [[0, 0, 0, 0, 0, 0, 1, 0]], kw


# ============================================================================================ 5. layouts
# Every method gives the same raster, bit for bit, whatever the tile size and the blocks (``block_pixels``): a
# pixel's arithmetic may not depend on the block it is computed in (which features it holds, where it starts).
@st.composite
def an_invalid_polygon(draw, b: Box):
    """What ``make_valid`` repairs: bow-ties, holes outside or across their shell, overlapping parts, any ring."""
    ax, ay = draw(b.x()), draw(b.y())
    kind = draw(st.sampled_from(["bow-tie", "hole outside", "overlapping parts", "any ring"]))
    if kind == "bow-tie":
        dx, dy = draw(offset(3)), draw(offset(3))
        return Polygon([(ax, ay), (ax + dx, ay + dy), (ax + dx, ay), (ax, ay + dy)])
    if kind == "hole outside":
        shell = draw(a_box(b))
        hx, hy = draw(b.x()), draw(b.y())
        return Polygon(shell.exterior.coords, [[(hx, hy), (hx + draw(offset(2)), hy), (hx, hy + draw(offset(2)))]])
    if kind == "overlapping parts":
        return MultiPolygon([draw(a_box(b)), draw(st.one_of(a_box(b), a_triangle(b)))])
    return Polygon([(ax + draw(offset(3)), ay + draw(offset(3))) for _ in range(draw(st.integers(3, 6)))])


def a_twin(draw, geom):
    """``geom`` again, as it is, with its vertices reversed, or with its ring starting at another vertex."""
    how = draw(st.sampled_from(["same", "reversed", "rolled"]))
    if how == "reversed":
        return shapely.reverse(geom)
    if how == "rolled" and geom.geom_type == "Polygon" and not geom.interiors and len(geom.exterior.coords) > 3:
        ring = list(geom.exterior.coords)[:-1]
        k = draw(st.integers(1, len(ring) - 1))
        return Polygon(ring[k:] + ring[:k])
    return geom


@st.composite
def layout_scene(draw):
    """``(grid, pairs)``: lattice features of every kind around and across a north-up or skewed grid, invalid
    polygons, and twins (the same geometry again with another value or the same: ties)."""
    rounding = draw(st.booleans())
    grid = draw(skewed_grid(max_side=9) if rounding else north_up_grid(max_side=9))
    w, h = grid.width, grid.height
    if draw(st.booleans()):
        b = Box(-1.5, w + 1.5, -1.5, h + 1.5)
    else:
        b = Box(-0.5, min(w, 3.5), -0.5, min(h, 3.5))  # crowded: overlaps and ties everywhere
    geoms, values = draw(features(b, polygons=(0, 5), lines=(0, 2), points=(0, 2)))
    for bad in draw(st.lists(an_invalid_polygon(b), max_size=3)):
        geoms.append(bad)
        values.append(draw(VALUES))
    for i in draw(st.lists(st.integers(0, max(len(geoms) - 1, 0)), max_size=3 if geoms else 0)):
        geoms.append(a_twin(draw, geoms[i]))
        values.append(draw(st.one_of(st.just(values[i]), VALUES)))
    assume(geoms)
    order = draw(st.permutations(range(len(geoms))))
    pairs = []
    for i in order:
        g = to_map_geom(geoms[i], grid)
        ux, uy = draw(st.sampled_from([0, 0, -1, 1, -2, 2])), draw(st.sampled_from([0, 0, -1, 1, -2, 2]))
        if ux or uy:  # a hair off the lattice: map coordinates a few ulps beside a pixel edge or a block's box
            g = shapely.transform(g, lambda xy, u=(ux, uy): _ulps(xy, u))
        pairs.append((g, values[i]))
    return grid, pairs


def _ulps(xy: np.ndarray, ulps: tuple[int, int]) -> np.ndarray:
    out = xy.copy()
    for axis, n in enumerate(ulps):
        for _ in range(abs(n)):
            out[:, axis] = np.nextafter(out[:, axis], np.inf if n > 0 else -np.inf)
    return out


def every_method(pairs) -> list[str]:
    """Every built-in method (not those other tests register for a while: a doctest's method outlives its globals)."""
    available = rastercover.available_methods()
    names = [
        n
        for n in _builtin_methods()
        if isinstance(available[n], rastercover.methods.Method) and not available[n].kind.raster
    ]
    return [*names, FAMILY] if has_values(pairs) else names


@functools.cache
def _builtin_methods() -> tuple[str, ...]:
    """The registered method names in a fresh interpreter: the built-in ones (and installed plug-ins)."""
    import json
    import subprocess
    import sys

    code = "import json, rastercover; print(json.dumps(list(rastercover.available_methods())))"
    return tuple(json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True).stdout))


@settings(max_examples=80)
@given(sc=layout_scene(), layouts=st.lists(tiling(), min_size=2, max_size=2))
def test_every_method_gives_the_same_bits_whatever_the_tiles_and_blocks(sc, layouts):
    grid, pairs = sc
    methods = every_method(pairs)
    # one block holding the whole grid, with numpy and GEOS alone; one pixel per tile and per block; two drawn
    # layouts (with the compiled kernels)
    with compiled.forms("numpy"):
        want = run(pairs, grid.with_tile_size(256), methods, block_pixels=1 << 20)
    for lay in [{"tile_size": 1, "block_pixels": 1}, *layouts]:
        got = run(pairs, grid.with_tile_size(lay["tile_size"]), methods, block_pixels=lay["block_pixels"])
        assert_same_bits(got, want, f" on {grid!r} with {lay}")


# ============================================================================================ 6. workers
def test_two_workers_give_the_same_arrays_as_one():
    rng = np.random.default_rng(20240607)
    grid = Grid(23, 17, Affine(2.5, 0.5, 1000, -0.25, -2.0, 5000), CRS, tile_size=(5, 4))
    b = shapely.box(*grid.bounds)
    pairs = []
    for i in range(40):
        x, y = rng.uniform(b.bounds[0], b.bounds[2]), rng.uniform(b.bounds[1], b.bounds[3])
        if i % 3 == 0:
            pairs.append((Point(x, y).buffer(rng.uniform(1, 15), quad_segs=4), float(rng.integers(0, 5))))
        elif i % 3 == 1:
            pairs.append((LineString(rng.uniform(-20, 20, (4, 2)) + np.array([x, y])), float(rng.integers(0, 5))))
        else:
            pairs.append((MultiPoint(rng.uniform(-5, 5, (3, 2)) + np.array([x, y])), None))
    methods = [
        "SUM_OF_AREAS",
        "PROPORTION_OF_COVERED_AREA",
        "VALUE_OF_MERGED_BIGGEST",
        "AREA_WEIGHTED_MEAN_OF_VALUES",
        "SUM_OF_LENGTHS",
        "VALUE_OF_LONGEST",
        "COUNT_OF_POINTS",
        "COUNT_OF_GEOMETRIES",
        FAMILY,
    ]
    one = run(pairs, grid, methods, block_pixels=40, workers=1)
    two = run(pairs, grid, methods, block_pixels=40, workers=2)
    assert list(one) == list(two)
    for m in one:
        assert np.array_equal(one[m], two[m]), m
    assert one["SUM_OF_AREAS"].sum() > 0 and one["SUM_OF_LENGTHS"].sum() > 0 and one["COUNT_OF_POINTS"].sum() > 0


# ============================================================================================ 7. real data
SWELLENDAM = "swellendam_osm_srtm/training_data.gpkg"
UTM34S = "EPSG:32734"


def _layer(path, geom_type):
    layers = pyogrio.list_layers(path)
    names = [name for name, kind in layers if kind == geom_type]
    assert names, f"{path}: no {geom_type} layer in {layers.tolist()}"
    return names


def test_swellendam_roads_lengths_are_conserved(realdata):
    path = realdata / SWELLENDAM
    assert "roads" in _layer(path, "LineString")
    roads = pyogrio.read_dataframe(path, layer="roads").to_crs(UTM34S)
    x0, y0, x1, y1 = roads.total_bounds
    grid = Grid.from_bounds((x0 - 200, y0 - 200, x1 + 200, y1 + 200), 200, UTM34S, tile_size=64)
    assert grid.width <= 300 and grid.height <= 300 and grid.n_tiles > 4
    got = run_file(path, "roads", grid, ["SUM_OF_LENGTHS", "COUNT_OF_LINESTRINGS", "DENSITY_OF_LENGTHS"])
    total = roads.geometry.length.sum()
    assert total > 100_000  # hundreds of km of roads
    assert math.isclose(got["SUM_OF_LENGTHS"].sum(), total, rel_tol=1e-6)
    assert math.isclose(got["DENSITY_OF_LENGTHS"].sum() * grid.pixel_area, total, rel_tol=1e-6)
    assert got["COUNT_OF_LINESTRINGS"].sum() >= len(roads)
    # per pixel: the length of the roads inside each (closed) pixel square; real roads do not run on pixel edges
    boxes, _, _ = pixel_boxes(grid.width, grid.height)
    px = to_map_geom(boxes, grid)
    tree = shapely.STRtree(px)
    gi, pi = tree.query(roads.geometry.values, predicate="intersects")
    lengths = shapely.length(shapely.intersection(roads.geometry.values[gi], px[pi]))
    want = np.bincount(pi, weights=lengths, minlength=len(px)).reshape(grid.shape)
    assert np.allclose(got["SUM_OF_LENGTHS"], want, rtol=1e-6, atol=1e-6)
    want_count = np.bincount(pi[lengths > 0], minlength=len(px)).reshape(grid.shape)
    assert np.array_equal(got["COUNT_OF_LINESTRINGS"], want_count)


def test_swellendam_buildings_areas_are_conserved(realdata):
    path = realdata / SWELLENDAM
    assert "buildings" in _layer(path, "MultiPolygon")
    buildings = pyogrio.read_dataframe(path, layer="buildings").to_crs(UTM34S)
    geoms = shapely.make_valid(buildings.geometry.values, method="structure", keep_collapsed=False)
    x0, y0, x1, y1 = buildings.total_bounds
    grid = Grid.from_bounds((x0 - 100, y0 - 100, x1 + 100, y1 + 100), 100, UTM34S, tile_size=50)
    assert grid.width <= 300 and grid.height <= 300 and grid.n_tiles > 4
    methods = ["COUNT_OF_POLYGONS", "PROPORTION_OF_COVERED_AREA", "SUM_OF_AREAS"]
    got = run_file(path, "buildings", grid, methods)
    pa = grid.pixel_area
    total = shapely.area(geoms).sum()
    assert len(geoms) > 4000 and total > 100_000
    assert math.isclose(got["SUM_OF_AREAS"].sum(), total, rel_tol=1e-6)
    union = shapely.union_all(geoms).area
    assert math.isclose(got["PROPORTION_OF_COVERED_AREA"].sum() * pa, union, rel_tol=1e-6)
    assert (got["PROPORTION_OF_COVERED_AREA"] <= 1).all()
    # per pixel: every building counts where its area exceeds 1e-9 of the pixel
    boxes, _, _ = pixel_boxes(grid.width, grid.height)
    px = to_map_geom(boxes, grid)
    gi, pi = shapely.STRtree(px).query(geoms, predicate="intersects")
    areas = shapely.area(shapely.intersection(geoms[gi], px[pi]))
    assert np.allclose(
        got["SUM_OF_AREAS"], np.bincount(pi, weights=areas, minlength=len(px)).reshape(grid.shape), rtol=1e-6, atol=1e-6
    )
    count = np.bincount(pi[areas > QUALIFY * pa], minlength=len(px)).reshape(grid.shape)
    assert np.array_equal(got["COUNT_OF_POLYGONS"], count)
    assert got["COUNT_OF_POLYGONS"].sum() >= len(geoms)


def run_file(path, layer, grid, methods):
    da = rastercover.rasterize(path, grid, layer=layer, methods=methods, dtype="float64", block_pixels=64 * 64 * 2)
    return {str(b): np.asarray(da.values[i]) for i, b in enumerate(da.coords["band"].values)}


def test_length_weighted_mean_counts_any_positive_length():
    # spec section 3: lines the pixel owns length of (l > 0); no area threshold applies to lengths. A 1e-7 m
    # piece in a 900 m² pixel is below the area rule's 1e-9 x 900 but is still owned length.
    grid = Grid(2, 1, Affine(30, 0, 0, 0, -30, 30), "EPSG:32198", tile_size=2)
    lines = [(shapely.LineString([(5, 15), (25, 15)]), 10.0), (shapely.LineString([(30 - 1e-7, 5), (30, 5)]), 30.0)]
    da = rastercover.rasterize(
        lines,
        grid,
        methods=["LENGTH_WEIGHTED_MEAN_OF_VALUES", "VALUE_OF_LONGEST"],
        assume_crs="EPSG:32198",
        dtype="float64",
    )
    mean = da.sel(band="LENGTH_WEIGHTED_MEAN_OF_VALUES").values[0, 0]
    assert mean == pytest.approx((20 * 10 + 1e-7 * 30) / (20 + 1e-7), rel=1e-12) and mean > 10
    assert da.sel(band="VALUE_OF_LONGEST").values[0].tolist() == [10.0, -9999.0]
