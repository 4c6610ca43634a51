"""A batch of features as the engine sees them: geometries, values and a global order.

Examples
--------
>>> import shapely
>>> f = Features.from_arrays([shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 3)], [1.5, None])
>>> len(f), f.value.tolist(), f.order.tolist()
(2, [1.5, nan], [0, 1])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely

__all__ = ["Features", "vertex_bounds"]


@dataclass(frozen=True, slots=True)
class Features:
    """Parallel arrays: shapely geometries, float64 values (NaN for NULL), int64 order keys.

    ``order`` is the feature's position in its layer (FID or row number): methods such as
    ``FIRST_VALUE_AT_PIXEL_CENTROID`` use it, whatever order a bounding-box read returned.
    """

    geometry: np.ndarray
    value: np.ndarray
    order: np.ndarray

    def __len__(self) -> int:
        return len(self.geometry)

    @classmethod
    def from_arrays(cls, geometry: Sequence, value: Sequence | None = None, order: Sequence | None = None) -> Features:
        """Build from sequences; ``None`` values become NaN, ``order`` defaults to positions."""
        geometry = np.asarray(geometry, dtype=object)
        n = len(geometry)
        if value is None:
            val = np.full(n, np.nan)
        else:
            val = np.array([np.nan if v is None else v for v in value], dtype=float)
        ordr = np.arange(n, dtype=np.int64) if order is None else np.asarray(order, dtype=np.int64)
        return cls(geometry, val, ordr)

    @classmethod
    def empty(cls) -> Features:
        """No features."""
        return cls(np.empty(0, dtype=object), np.empty(0), np.empty(0, dtype=np.int64))

    def take(self, index: np.ndarray) -> Features:
        """The features at ``index`` (an integer or boolean array)."""
        return Features(self.geometry[index], self.value[index], self.order[index])

    def sorted(self) -> Features:
        """The features in layer order (stable), duplicates of one order key dropped."""
        if len(self) < 2 or bool(np.all(np.diff(self.order) > 0)):
            return self
        _, first = np.unique(self.order, return_index=True)
        return self.take(first)


def vertex_bounds(geoms: np.ndarray) -> np.ndarray:
    """``(n, 4)`` bounding boxes ``xmin, ymin, xmax, ymax`` of every vertex of each geometry (NaN: none).

    Not GEOS's envelope (``shapely.bounds``), which for a polygon is its shell's: a hole drawn outside its shell
    lies outside it, and so does the part of the polygon that ``make_valid`` makes of such a hole. The repair of
    any geometry lies within the bounding box of all its vertices, so selecting features by this box gives every
    block that the repaired geometry reaches.

    Examples
    --------
    >>> bad = shapely.Polygon([(0, 0), (3, 0), (3, 3), (0, 3)], [[(4, 4), (5, 4), (5, 5)]])
    >>> shapely.bounds(bad).tolist(), vertex_bounds(np.array([bad])).tolist()
    ([0.0, 0.0, 3.0, 3.0], [[0.0, 0.0, 5.0, 5.0]])
    """
    geoms = np.asarray(geoms, dtype=object)
    out = np.full((len(geoms), 4), np.nan)
    xy, which = shapely.get_coordinates(geoms, return_index=True)
    if len(xy) == 0:
        return out
    starts = np.nonzero(np.r_[True, which[1:] != which[:-1]])[0]  # coordinates come geometry by geometry
    at = which[starts]
    out[at, 0] = np.minimum.reduceat(xy[:, 0], starts)
    out[at, 1] = np.minimum.reduceat(xy[:, 1], starts)
    out[at, 2] = np.maximum.reduceat(xy[:, 0], starts)
    out[at, 3] = np.maximum.reduceat(xy[:, 1], starts)
    return out
