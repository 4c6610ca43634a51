"""Methods that read centre hits: the ``*_AT_PIXEL_CENTROID`` family (spec sections 2 and 3).

A polygon contributes to a pixel when it contains the pixel centre (centre rule with symbolic perturbation);
lines and points have no interior and never do. NULL values are ignored by every method here.

Examples
--------
>>> from rastercover.methods import get_method
>>> get_method("MEAN_OF_VALUES_AT_PIXEL_CENTROID").kind.value
'centre'
"""

from __future__ import annotations

import numpy as np

from .reductions import (
    pick_best,
    pixel_count,
    pixel_max,
    pixel_mean,
    pixel_min,
    pixel_mode,
    pixel_std,
    pixel_sum,
)
from .registry import Hits, Kind, Method, register

__all__ = ["CENTROID_METHODS"]


def _count(h: Hits) -> np.ndarray:
    return pixel_count(h.pixel, h.size)


def _mean(h: Hits) -> np.ndarray:
    return pixel_mean(h.pixel, h.value, h.size)


def _sum(h: Hits) -> np.ndarray:
    return pixel_sum(h.pixel, h.value, h.size)


def _min(h: Hits) -> np.ndarray:
    return pixel_min(h.pixel, h.value, h.size)


def _max(h: Hits) -> np.ndarray:
    return pixel_max(h.pixel, h.value, h.size)


def _majority(h: Hits) -> np.ndarray:
    return pixel_mode(h.pixel, h.value, h.size)


def _stddev(h: Hits) -> np.ndarray:
    return pixel_std(h.pixel, h.value, h.size)


def _first(h: Hits) -> np.ndarray:
    return pick_best(h.pixel, h.value, h.size, h.order, largest=False)


def _last(h: Hits) -> np.ndarray:
    return pick_best(h.pixel, h.value, h.size, h.order, largest=True)


CENTROID_METHODS = tuple(
    register(m, replace=True)
    for m in (
        Method(
            "COUNT_OF_VALUES_AT_PIXEL_CENTROID",
            Kind.CENTRE,
            _count,
            empty=0.0,
            description="number of polygons with a non-NULL value that contain the pixel centre",
        ),
        Method(
            "MEAN_OF_VALUES_AT_PIXEL_CENTROID",
            Kind.CENTRE,
            _mean,
            description="mean of the values of the polygons that contain the pixel centre",
        ),
        Method(
            "SUM_OF_VALUES_AT_PIXEL_CENTROID",
            Kind.CENTRE,
            _sum,
            empty=0.0,
            description="sum of the values of the polygons that contain the pixel centre (0 if none)",
        ),
        Method(
            "MIN_OF_VALUES_AT_PIXEL_CENTROID",
            Kind.CENTRE,
            _min,
            description="smallest value among the polygons that contain the pixel centre",
        ),
        Method(
            "MAX_OF_VALUES_AT_PIXEL_CENTROID",
            Kind.CENTRE,
            _max,
            description="largest value among the polygons that contain the pixel centre",
        ),
        Method(
            "MAJORITY_OF_VALUES_AT_PIXEL_CENTROID",
            Kind.CENTRE,
            _majority,
            categorical=True,
            description="most frequent value among the polygons containing the centre (tie: smaller value)",
        ),
        Method(
            "STDDEV_OF_VALUES_AT_PIXEL_CENTROID",
            Kind.CENTRE,
            _stddev,
            description="population standard deviation of the values of the polygons containing the centre",
        ),
        Method(
            "FIRST_VALUE_AT_PIXEL_CENTROID",
            Kind.CENTRE,
            _first,
            categorical=True,
            description="value of the first polygon in layer order that contains the pixel centre",
        ),
        Method(
            "LAST_VALUE_AT_PIXEL_CENTROID",
            Kind.CENTRE,
            _last,
            categorical=True,
            description="value of the last polygon in layer order containing the centre (= ST_Union of "
            "ST_AsRaster, gdal_rasterize)",
        ),
    )
)
