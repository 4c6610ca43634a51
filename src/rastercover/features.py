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

__all__ = ["Features"]


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
