"""A vector source seen in another CRS: bounding boxes go back to the source CRS, geometries come forward.

Examples
--------
>>> import shapely
>>> from rastercover.io.vector_memory import MemoryVectorSource
>>> src = MemoryVectorSource.from_pairs([(shapely.Point(-71.2, 46.8), 1)], crs="EPSG:4326")
>>> rp = ReprojectedSource(src, "EPSG:32198")
>>> [round(v) for v in rp.read(None).geometry[0].coords[0]]
[-205749, 315496]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from pyproj import Transformer

from ..crs import CRS, as_crs, crs_label
from ..errors import CRSError
from ..features import Features

__all__ = ["ReprojectedSource", "distinct_values_of"]


def distinct_values_of(source: Any) -> np.ndarray:
    """Values of every feature of ``source`` (its ``values()`` when it has one, else a full read)."""
    if hasattr(source, "values"):
        return np.asarray(source.values(), dtype=np.float64)
    return source.read(None).value


class ReprojectedSource:
    """Wrap ``source`` so that it reads and returns geometries in ``crs``."""

    def __init__(self, source: Any, crs: Any) -> None:
        self.source = source
        self._crs_wkt = as_crs(crs).to_wkt()
        self._forward: Transformer | None = None
        self._backward: Transformer | None = None

    def __getstate__(self) -> dict:
        return {"source": self.source, "_crs_wkt": self._crs_wkt, "_forward": None, "_backward": None}

    def _transformers(self) -> tuple[Transformer, Transformer]:
        if self._forward is None:
            src, dst = self.source.crs, as_crs(self._crs_wkt)
            self._forward = Transformer.from_crs(src, dst, always_xy=True)
            self._backward = Transformer.from_crs(dst, src, always_xy=True)
        return self._forward, self._backward

    @property
    def crs(self) -> CRS | None:
        return as_crs(self._crs_wkt)

    @property
    def bounds(self) -> tuple[float, float, float, float] | None:
        b = self.source.bounds
        if b is None:
            return None
        fwd, _ = self._transformers()
        out = fwd.transform_bounds(*b, densify_pts=21)
        if not np.all(np.isfinite(out)):
            raise CRSError(
                f"{self.source.describe()}: its extent cannot be expressed in {crs_label(self.crs)} "
                f"(from {crs_label(self.source.crs)}); check the CRS of the data and of the grid"
            )
        return tuple(float(v) for v in out)

    def describe(self) -> str:
        return self.source.describe()

    def values(self) -> np.ndarray:
        """The wrapped source's values."""
        return distinct_values_of(self.source)

    def read(self, bbox: tuple[float, float, float, float] | None) -> Features:
        fwd, bwd = self._transformers()
        src_bbox = None
        if bbox is not None:
            src_bbox = bwd.transform_bounds(*bbox, densify_pts=21)
            if not np.all(np.isfinite(src_bbox)):
                src_bbox = None  # the window reaches where the source CRS is undefined: read everything
        feats = self.source.read(src_bbox)
        if len(feats) == 0:
            return feats

        def project(xy: np.ndarray) -> np.ndarray:
            x, y = fwd.transform(xy[:, 0], xy[:, 1])
            return np.column_stack([x, y])

        geoms = shapely.transform(feats.geometry, project)
        bad = ~np.all(np.isfinite(shapely.bounds(geoms)), axis=1)
        if bad.any():
            raise CRSError(
                f"{self.source.describe()}: {int(bad.sum())} feature(s) cannot be projected from "
                f"{crs_label(self.source.crs)} to {crs_label(self.crs)}; check the CRS of the data"
            )
        return Features(geoms, feats.value, feats.order)
