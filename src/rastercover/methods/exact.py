"""Methods that read exact areas, merged areas, coverage, owned lengths and owned points (spec sections 2, 3).

A polygon *qualifies* for a pixel when its exact area there exceeds ``1e-9`` of the pixel area; a line when
the pixel owns a positive length of it; a point geometry when the pixel owns one of its points. NULL values
are ignored by every method that reads the value column, and such geometries still count where no value is
read. Ties between areas or lengths go to the larger value.

Examples
--------
>>> from rastercover.methods import get_method
>>> m = get_method("value_of_merged_biggest")
>>> m.kind.value, m.needs_value, m.categorical
('merged_area', True, True)
"""

from __future__ import annotations

from functools import partial

import numpy as np

from .centroid import _count, _first, _last, _majority, _max, _mean, _min, _stddev, _sum
from .reductions import pick_best, pixel_count, pixel_min, pixel_sum
from .registry import Hits, Kind, Method, MethodFamily, class_label, register

__all__ = ["EXACT_METHODS", "covered_fraction_of"]


# -- counts -------------------------------------------------------------------------------------------
def _count_qualifying(h: Hits) -> np.ndarray:
    q = h.qualifying()
    return pixel_count(q.pixel, h.size)


def _count_all(h: Hits) -> np.ndarray:
    return pixel_count(h.pixel, h.size)


def _count_distinct(h: Hits) -> np.ndarray:
    if len(h.pixel) == 0:
        return np.zeros(h.size)
    classes, group = np.unique(h.feature_value[h.feature], return_inverse=True)
    key = np.sort(h.pixel * len(classes) + group)
    new = np.ones(len(key), dtype=bool)
    new[1:] = key[1:] != key[:-1]
    return pixel_count(key[new] // len(classes), h.size)


# -- areas --------------------------------------------------------------------------------------------
def _biggest(h: Hits) -> np.ndarray:
    q = h.qualifying()
    return pick_best(q.pixel, q.value, h.size, q.weight, largest=True)


def _smallest(h: Hits) -> np.ndarray:
    q = h.qualifying()
    return pick_best(q.pixel, q.value, h.size, q.weight, largest=False)


def _min_area(h: Hits) -> np.ndarray:
    q = h.qualifying()
    return pixel_min(q.pixel, q.weight, h.size)


def _sum_weights(h: Hits) -> np.ndarray:
    return pixel_sum(h.pixel, h.weight, h.size)


def _share(pixel: np.ndarray, area: np.ndarray, h: Hits) -> np.ndarray:
    """Summed areas per pixel as a share of the pixel, at most 1 (in place: no temporary array of the block)."""
    out = pixel_sum(pixel, area, h.size)
    out /= h.pixel_area
    return np.minimum(out, 1.0, out=out)


def _proportion(h: Hits) -> np.ndarray:
    return _share(h.pixel, h.weight, h)


def _weighted_sums(q: Hits) -> tuple[np.ndarray, np.ndarray]:
    """``(Σ w, Σ w·v)`` per pixel, computed once per contributions (both area-weighted means read them)."""
    if "_weighted_sums" not in q.__dict__:
        s = pixel_sum(q.pixel, q.weight, q.size)
        q.__dict__["_weighted_sums"] = (s, pixel_sum(q.pixel, q.weight * q.value, q.size))
    return q.__dict__["_weighted_sums"]


def _weighted(h: Hits, floor_to_pixel: bool, *, lengths: bool = False) -> np.ndarray:
    # areas qualify above the spec's relative threshold; any positive owned length counts (spec section 3)
    q = h.where(h.weight > 0) if lengths else h.qualifying()
    s, n = _weighted_sums(q)
    # weights are positive: a pixel has an entry exactly where their sum is positive
    has = s > 0
    denom = np.maximum(s, h.pixel_area) if floor_to_pixel else s
    out = np.full(h.size, np.nan)
    np.divide(n, denom, out=out, where=has)
    return out


def _area_weighted_mean(h: Hits) -> np.ndarray:
    return _weighted(h, True)


def _area_weighted_mean_2(h: Hits) -> np.ndarray:
    return _weighted(h, False)


# -- lengths and points -------------------------------------------------------------------------------
def _longest(h: Hits) -> np.ndarray:
    return pick_best(h.pixel, h.value, h.size, h.weight, largest=True)


def _length_weighted_mean(h: Hits) -> np.ndarray:
    return _weighted(h, False, lengths=True)


def _density(h: Hits) -> np.ndarray:
    return pixel_sum(h.pixel, h.weight, h.size) / h.pixel_area


def _sum_values(h: Hits) -> np.ndarray:
    return pixel_sum(h.pixel, h.value, h.size)


# -- one band per class -------------------------------------------------------------------------------
def _fraction_of(value: float, h: Hits) -> np.ndarray:
    keep = h.value == value
    return _share(h.pixel[keep], h.weight[keep], h)


def covered_fraction_of(value: float) -> Method:
    """The ``COVERED_FRACTION_BY_VALUE`` band of one class: fraction of the pixel its polygons cover.

    Examples
    --------
    >>> covered_fraction_of(3).name
    'COVERED_FRACTION_BY_VALUE:3'
    """
    return Method(
        f"COVERED_FRACTION_BY_VALUE:{class_label(value)}",
        Kind.MERGED_AREA,
        partial(_fraction_of, float(value)),
        empty=0.0,
        description=f"fraction of the pixel covered by polygons of value {class_label(value)}",
    )


# -- ALL_TOUCHED variants of the centroid methods -----------------------------------------------------
def _touched(reduce, h: Hits) -> np.ndarray:
    return reduce(h.qualifying())


_TOUCHED = (
    ("COUNT_OF_VALUES", _count, 0.0, False, "number of polygons with a non-NULL value"),
    ("MEAN_OF_VALUES", _mean, None, False, "mean of the values of the polygons"),
    ("SUM_OF_VALUES", _sum, 0.0, False, "sum of the values of the polygons (0 if none)"),
    ("MIN_OF_VALUES", _min, None, False, "smallest value among the polygons"),
    ("MAX_OF_VALUES", _max, None, False, "largest value among the polygons"),
    ("MAJORITY_OF_VALUES", _majority, None, True, "most frequent value among the polygons (tie: smaller)"),
    ("STDDEV_OF_VALUES", _stddev, None, False, "population standard deviation of the polygons' values"),
    ("FIRST_VALUE", _first, None, True, "value of the first polygon in layer order"),
    ("LAST_VALUE", _last, None, True, "value of the last polygon in layer order"),
)


def _methods() -> tuple[Method, ...]:
    A, M, C, L, P, G = Kind.AREA, Kind.MERGED_AREA, Kind.COVER, Kind.LENGTH, Kind.POINT, Kind.GEOMETRY
    table = [
        ("COUNT_OF_POLYGONS", A, _count_qualifying, False, 0.0, False, "qualifying polygonal geometries"),
        ("COUNT_OF_LINESTRINGS", L, _count_all, False, 0.0, False, "linear geometries the pixel owns length of"),
        ("COUNT_OF_POINTS", P, _count_all, False, 0.0, False, "point geometries with a point in the pixel"),
        ("COUNT_OF_GEOMETRIES", G, _count_all, False, 0.0, False, "qualifying geometries of any type"),
        ("VALUE_OF_BIGGEST", A, _biggest, True, None, True, "value of the polygon with the largest area here"),
        ("VALUE_OF_SMALLEST", A, _smallest, True, None, True, "value of the polygon with the smallest area here"),
        (
            "VALUE_OF_MERGED_BIGGEST",
            M,
            _biggest,
            True,
            None,
            True,
            "value whose polygons (merged, overlaps counted once) cover the most of the pixel",
        ),
        (
            "VALUE_OF_MERGED_SMALLEST",
            M,
            _smallest,
            True,
            None,
            True,
            "value whose merged polygons cover the least of the pixel (among qualifying ones)",
        ),
        ("MIN_AREA", A, _min_area, False, None, False, "smallest area of a qualifying polygon here, map units²"),
        ("SUM_OF_AREAS", A, _sum_weights, False, 0.0, False, "sum of the polygons' areas here, map units²"),
        ("SUM_OF_LENGTHS", L, _sum_weights, False, 0.0, False, "length of lines the pixel owns, map units"),
        ("DENSITY_OF_LENGTHS", L, _density, False, 0.0, False, "owned line length per unit area (1/map units)"),
        (
            "PROPORTION_OF_COVERED_AREA",
            C,
            _proportion,
            False,
            0.0,
            False,
            "fraction of the pixel covered by the union of the polygons, in [0, 1]",
        ),
        (
            "AREA_WEIGHTED_MEAN_OF_VALUES",
            A,
            _area_weighted_mean,
            True,
            None,
            False,
            "Σ area·value / max(Σ area, pixel area): uncovered area counts as 0",
        ),
        (
            "AREA_WEIGHTED_MEAN_OF_VALUES_2",
            A,
            _area_weighted_mean_2,
            True,
            None,
            False,
            "Σ area·value / Σ area over the polygons in the pixel",
        ),
        ("COUNT_OF_DISTINCT_VALUES", G, _count_distinct, True, 0.0, False, "distinct non-NULL values here"),
        ("VALUE_OF_LONGEST", L, _longest, True, None, True, "value of the line with the longest owned length"),
        (
            "LENGTH_WEIGHTED_MEAN_OF_VALUES",
            L,
            _length_weighted_mean,
            True,
            None,
            False,
            "Σ length·value / Σ length over the lines the pixel owns length of",
        ),
        ("SUM_OF_VALUES", P, _sum_values, True, 0.0, False, "sum of the values of the point geometries here"),
        ("MEAN_OF_VALUES", P, _mean, True, None, False, "mean of the values of the point geometries here"),
    ]
    out = [
        Method(name, kind, fn, needs_value=nv, empty=empty, categorical=cat, description=desc)
        for name, kind, fn, nv, empty, cat, desc in table
    ]
    for stem, fn, empty, cat, desc in _TOUCHED:
        out.append(
            Method(
                f"{stem}_ALL_TOUCHED",
                A,
                partial(_touched, fn),
                needs_value=True,
                empty=empty,
                categorical=cat,
                description=f"{desc} overlapping the pixel with positive area",
            )
        )
    return tuple(out)


EXACT_METHODS = tuple(register(m, replace=True) for m in _methods())
register(
    MethodFamily(
        "COVERED_FRACTION_BY_VALUE",
        Kind.MERGED_AREA,
        covered_fraction_of,
        description="one band per class value: fraction of the pixel covered by polygons of that value",
    ),
    replace=True,
)
