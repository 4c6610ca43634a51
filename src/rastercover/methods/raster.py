"""Methods of a raster source (regridding), with the PostGIS Add-ons' ``ST_GlobalRasterUnion`` names (spec 6).

A raster source's features are its valid pixels: ``Hits.feature`` is a source pixel, its value the band value
(nodata: NULL, never seen by a method that reads values), its order the source order (a table's rid, then the
pixel's place). :data:`Kind.RASTER_CENTRE` pairs a target pixel with the source pixels owning its centre
(half-open, so one per source raster at most); :data:`Kind.RASTER_AREA` with every source pixel overlapping it,
weighted by the exact overlap area ``a`` in target map units², ``Hits.feature_area`` holding each source
pixel's whole area ``|S|``.

Examples
--------
>>> from rastercover.methods import get_method
>>> m = get_method("SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES")
>>> m.kind.value, m.empty, m.categorical
('raster_area', 0.0, False)
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from ..kernels.lines import sum_by_pair
from .centroid import _count, _first, _max, _mean, _min, _stddev, _sum
from .reductions import pixel_count, pixel_max, pixel_min, pixel_sum
from .registry import Hits, Kind, Method, MethodFamily, class_label, register

__all__ = ["RASTER_METHODS", "fraction_of"]


def _range(h: Hits) -> np.ndarray:
    return _max(h) - _min(h)


def _weighted_sum(h: Hits) -> np.ndarray:
    return pixel_sum(h.pixel, h.weight * h.value, h.size)


def _proportional_sum(h: Hits) -> np.ndarray:
    share = h.weight / h.feature_area[h.feature]
    return pixel_sum(h.pixel, share * h.value, h.size)


_FULL = 1e-12  # a covered area within this fraction of the pixel's area is the whole pixel (rounding)


def _share(area: np.ndarray, pixel_area: float) -> np.ndarray:
    """``area / pixel_area``, a share within :data:`_FULL` of a whole number of pixels exactly that number (a pixel
    covered by source pixels is covered once, not 0.9999999999999998 times)."""
    share = area / pixel_area
    whole = np.rint(share)
    return np.where(np.abs(share - whole) <= _FULL * np.maximum(whole, 1.0), whole, share)


def _weighted_mean(h: Hits, floor_to_pixel: bool) -> np.ndarray:
    s = pixel_sum(h.pixel, h.weight, h.size)
    n = pixel_sum(h.pixel, h.weight * h.value, h.size)
    has = pixel_count(h.pixel, h.size) > 0
    # uncovered area counts as 0; an area covered to rounding is covered (a constant source gives the constant)
    denom = np.where(s >= h.pixel_area * (1 - _FULL), s, h.pixel_area) if floor_to_pixel else s
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(has, n / np.where(has, denom, 1.0), np.nan)


def _has(total: np.ndarray, pixel_area: float) -> np.ndarray:
    return total > 1e-12 * pixel_area  # the overlaps the kernel keeps: above 1e-12 of a pixel


def _weighted_sum_s(s) -> np.ndarray:
    return s(s.value)


def _proportional_sum_s(s) -> np.ndarray:
    return s(s.value / s.whole)


def _weighted_mean_s(s, floor_to_pixel: bool) -> np.ndarray:
    area = s.area
    n = s(s.value)
    has = _has(area, s.pixel_area)
    denom = np.where(area >= s.pixel_area * (1 - _FULL), area, s.pixel_area) if floor_to_pixel else area
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(has, n / np.where(has, denom, 1.0), np.nan)


def _valid_fraction_s(s) -> np.ndarray:
    return _share(s.area, s.pixel_area)


def _fraction_of_s(value: float, s) -> np.ndarray:
    return _share(s((s.value == value).astype(np.float64)), s.pixel_area)


def _valid_fraction(h: Hits) -> np.ndarray:
    # not capped at 1: overlapping rows of a table cover a pixel more than once (spec 6: Σ a_i / A)
    return _share(pixel_sum(h.pixel, h.weight, h.size), h.pixel_area)


def _fraction_of(value: float, h: Hits) -> np.ndarray:
    keep = h.value == value
    return _share(pixel_sum(h.pixel[keep], h.weight[keep], h.size), h.pixel_area)


def _round40(share: np.ndarray) -> np.ndarray:
    """``share`` to 40 significant bits (equal shares computed along other edges compare equal), never clamped:
    overlapping rows cover a pixel more than once, and a class covering it twice beats one covering it once."""
    mant, expo = np.frexp(share)
    return np.ldexp(np.round(mant * 2.0**40) / 2.0**40, expo)


def _majority(h: Hits) -> np.ndarray:
    """The class with the largest summed area per pixel; a tie (to 40 significant bits) goes to the smaller."""
    out = np.full(h.size, np.nan)
    if len(h.pixel) == 0:
        return out
    classes, cls = np.unique(h.value, return_inverse=True)
    pixel, cls, area = sum_by_pair(h.pixel, cls.ravel(), h.weight)
    area = _round40(_share(area, h.pixel_area))  # equal shares computed from other pixels tie exactly
    order = np.lexsort((cls, -area, pixel))
    p = pixel[order]
    first = np.ones(len(p), dtype=bool)
    first[1:] = p[1:] != p[:-1]
    out[p[first]] = classes[cls[order][first]]
    return out


def _min_overlapping(h: Hits) -> np.ndarray:
    return pixel_min(h.pixel, h.value, h.size)


def _max_overlapping(h: Hits) -> np.ndarray:
    return pixel_max(h.pixel, h.value, h.size)


def fraction_of(value: float, dtype: Any = None) -> Method:
    """The ``FRACTION_OF_RASTER_VALUE`` band of one class: the share of the target pixel its source pixels cover.

    With the source's pixel ``dtype``, the class is the value of that type nearest to ``value`` (a float32 band
    holds 0.100000001490116 for 0.1), named by its shortest form in that type.

    Examples
    --------
    >>> fraction_of(23).name
    'FRACTION_OF_RASTER_VALUE:23'
    >>> m = fraction_of(0.1, "float32")
    >>> m.name, m.reduce.args[0]
    ('FRACTION_OF_RASTER_VALUE:0.1', 0.10000000149011612)
    """
    label = class_label(value)
    if dtype is not None and np.dtype(dtype).kind == "f" and np.dtype(dtype).itemsize < 8:
        held = np.asarray(value, dtype=np.float64).astype(dtype)
        value, label = float(held), class_label(float(str(held)))
    return Method(
        f"FRACTION_OF_RASTER_VALUE:{label}",
        Kind.RASTER_AREA,
        partial(_fraction_of, float(value)),
        empty=0.0,
        sums=partial(_fraction_of_s, float(value)),
        description=f"share of the pixel covered by source pixels of value {class_label(value)}",
    )


def _methods() -> tuple[Method, ...]:
    C, A = Kind.RASTER_CENTRE, Kind.RASTER_AREA
    at = "the source pixels owning the pixel centre"
    table = [
        ("COUNT_OF_RASTER_VALUES_AT_PIXEL_CENTROID", C, _count, 0.0, False, f"number of {at}"),
        ("FIRST_RASTER_VALUE_AT_PIXEL_CENTROID", C, _first, None, True, f"value of the first of {at}"),
        ("MIN_OF_RASTER_VALUES_AT_PIXEL_CENTROID", C, _min, None, False, f"smallest value of {at}"),
        ("MAX_OF_RASTER_VALUES_AT_PIXEL_CENTROID", C, _max, None, False, f"largest value of {at}"),
        ("SUM_OF_RASTER_VALUES_AT_PIXEL_CENTROID", C, _sum, 0.0, False, f"sum of the values of {at}"),
        ("MEAN_OF_RASTER_VALUES_AT_PIXEL_CENTROID", C, _mean, None, False, f"mean of the values of {at}"),
        (
            "STDDEVP_OF_RASTER_VALUES_AT_PIXEL_CENTROID",
            C,
            _stddev,
            None,
            False,
            f"population standard deviation of the values of {at}",
        ),
        ("RANGE_OF_RASTER_VALUES_AT_PIXEL_CENTROID", C, _range, None, False, f"largest minus smallest value of {at}"),
        ("AREA_WEIGHTED_SUM_OF_RASTER_VALUES", A, _weighted_sum, 0.0, False, "sum of overlap area x value"),
        (
            "SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES",
            A,
            _proportional_sum,
            0.0,
            False,
            "sum of value x the share of each source pixel inside the pixel: the conservative sum of counts",
        ),
        (
            "AREA_WEIGHTED_MEAN_OF_RASTER_VALUES",
            A,
            partial(_weighted_mean, floor_to_pixel=True),
            None,
            False,
            "sum of area x value over the larger of the covered area and the pixel area (uncovered counts as 0)",
        ),
        (
            "AREA_WEIGHTED_MEAN_OF_RASTER_VALUES_2",
            A,
            partial(_weighted_mean, floor_to_pixel=False),
            None,
            False,
            "sum of area x value over the covered area: the mean of the valid source data",
        ),
        ("MAJORITY_OF_RASTER_VALUES", A, _majority, None, True, "class covering the most of the pixel (tie: smaller)"),
        ("VALID_FRACTION", A, _valid_fraction, 0.0, False, "share of the pixel covered by valid source pixels"),
        ("MIN_OF_RASTER_VALUES", A, _min_overlapping, None, False, "smallest value of the source pixels overlapping"),
        ("MAX_OF_RASTER_VALUES", A, _max_overlapping, None, False, "largest value of the source pixels overlapping"),
    ]
    sums = {
        "AREA_WEIGHTED_SUM_OF_RASTER_VALUES": _weighted_sum_s,
        "SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES": _proportional_sum_s,
        "AREA_WEIGHTED_MEAN_OF_RASTER_VALUES": partial(_weighted_mean_s, floor_to_pixel=True),
        "AREA_WEIGHTED_MEAN_OF_RASTER_VALUES_2": partial(_weighted_mean_s, floor_to_pixel=False),
        "VALID_FRACTION": _valid_fraction_s,
    }
    out = [
        Method(name, kind, fn, needs_value=True, empty=empty, description=desc, categorical=cat, sums=sums.get(name))
        for name, kind, fn, empty, cat, desc in table
    ]
    return tuple(register(m, replace=True) for m in out)


RASTER_METHODS = _methods()

register(
    MethodFamily(
        "FRACTION_OF_RASTER_VALUE",
        Kind.RASTER_AREA,
        fraction_of,
        description="one band per class: share of the pixel covered by source pixels of that class",
    ),
    replace=True,
)
