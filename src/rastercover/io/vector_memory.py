"""Vector features held in memory: a GeoDataFrame, or (geometry, value) pairs from Python.

Examples
--------
>>> import shapely
>>> src = MemoryVectorSource.from_pairs([(shapely.box(0, 0, 1, 1), 3.0), ({"type": "Point",
...     "coordinates": [5, 5]}, None)], crs="EPSG:3857")
>>> len(src.read((0.5, 0.5, 2, 2)))
1
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import shapely

from ..crs import CRS, as_crs
from ..errors import CRSError, InputError, MissingColumnError, SourceError
from ..features import Features, vertex_bounds
from .class_names import class_table

__all__ = ["MemoryVectorSource", "vertex_bounds"]


def _to_geometry(obj: Any) -> shapely.Geometry:
    if isinstance(obj, shapely.Geometry):
        return obj
    if isinstance(obj, bytes):
        return shapely.from_wkb(obj)
    if isinstance(obj, str):
        return shapely.from_wkt(obj)
    if hasattr(obj, "__geo_interface__") or isinstance(obj, dict):
        return shapely.geometry.shape(obj)
    raise InputError(f"cannot read {type(obj).__name__} as a geometry: give shapely geometries, WKT, WKB or GeoJSON")


class MemoryVectorSource:
    """Features already in memory, with a CRS.

    Use :meth:`from_geodataframe` or :meth:`from_pairs`; both take ``assume_crs`` for data without a CRS.
    """

    def __init__(
        self,
        features: Features,
        crs: CRS | None,
        name: str = "in-memory features",
        value: str | None = "value",
        names: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.value = value  # the value column's name, or None when the features carry no values
        # columns that may name the values (class_names): each aligned with ``features`` as given
        self._names = {k: (features.value, v) for k, v in (names or {}).items()}
        self._features = features.sorted()
        self._crs_wkt = crs.to_wkt() if crs is not None else None
        self._name = name
        self._tree: shapely.STRtree | None = None
        self._vertex_boxes: np.ndarray | None = None
        if len(self._features) == 0:
            raise SourceError(f"{name} is empty: it has no features")

    @classmethod
    def from_geodataframe(cls, gdf: Any, value: str | None = None, assume_crs: Any = None) -> MemoryVectorSource:
        """Features of a GeoDataFrame (its active geometry column), in row order."""
        if value is not None and value not in gdf.columns:
            cols = [c for c in gdf.columns if c != gdf.geometry.name]
            raise MissingColumnError(f"the GeoDataFrame has no column {value!r}; its columns are {', '.join(cols)}")
        crs = as_crs(gdf.crs) if gdf.crs is not None else as_crs(assume_crs)
        if crs is None:
            raise CRSError("the GeoDataFrame has no CRS: set gdf.crs or pass assume_crs=")
        geoms = np.asarray(gdf.geometry.values, dtype=object)
        vals = None
        if value is not None:
            col = gdf[value]
            try:
                vals = col.astype("float64").to_numpy(na_value=np.nan)
            except (TypeError, ValueError):
                raise MissingColumnError(f"column {value!r} is not numeric; the value column must be") from None
        keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        feats = Features.from_arrays(geoms[keep], None if vals is None else vals[keep], np.nonzero(keep)[0])
        return cls(feats, crs, "the GeoDataFrame", value)

    @classmethod
    def from_pairs(cls, items: Iterable, crs: Any = None) -> MemoryVectorSource:
        """Features from ``(geometry, value)`` pairs (or bare geometries); ``crs`` is required."""
        if crs is None:
            raise CRSError("features given as (geometry, value) pairs have no CRS: pass assume_crs=")
        geoms, vals = [], []
        for item in items:
            if isinstance(item, tuple | list) and len(item) == 2:
                g, v = item
            else:
                g, v = item, None
            geoms.append(_to_geometry(g))
            try:
                vals.append(np.nan if v is None else float(v))
            except (TypeError, ValueError):
                raise InputError(f"value {v!r} is not a number") from None
        arr = np.array(geoms, dtype=object)
        keep = ~(shapely.is_missing(arr) | shapely.is_empty(arr)) if len(arr) else np.zeros(0, dtype=bool)
        feats = Features.from_arrays(arr[keep], np.array(vals)[keep], np.nonzero(keep)[0])
        return cls(feats, as_crs(crs), "the (geometry, value) features")

    @property
    def crs(self) -> CRS | None:
        return as_crs(self._crs_wkt)

    @property
    def bounds(self) -> tuple[float, float, float, float] | None:
        """Bounding box of every vertex of every feature (holes included: see :func:`vertex_bounds`)."""
        b = self._boxes()
        return (
            float(np.nanmin(b[:, 0])),
            float(np.nanmin(b[:, 1])),
            float(np.nanmax(b[:, 2])),
            float(np.nanmax(b[:, 3])),
        )

    def _boxes(self) -> np.ndarray:
        if self._vertex_boxes is None:
            self._vertex_boxes = vertex_bounds(self._features.geometry)
        return self._vertex_boxes

    def describe(self) -> str:
        return self._name

    def class_names(self, column: str) -> dict[float, str | None]:
        """``{value: name or None}`` from the naming column ``column`` given with the features (``names=``); see
        :func:`rastercover.io.class_names.class_table`."""
        if not self._names:
            raise InputError(f"{self._name} has no attribute table to read class names from")
        if column not in self._names:
            given = ", ".join(self._names)
            raise MissingColumnError(f"{self._name} have no column {column!r} to name classes (given: {given})")
        values, names = self._names[column]
        if not self.value:
            raise InputError(f"{self._name}: class names name the values of the value column: give one")
        return class_table(values, names, column, self._name)

    def identity(self) -> dict:
        """What makes these features these features, for a resumed run to compare: a digest of their geometries
        (WKB), values and order, and the CRS."""
        import hashlib

        f = self._features
        h = hashlib.sha256()
        for wkb in shapely.to_wkb(f.geometry):
            h.update(wkb)
        h.update(np.ascontiguousarray(f.value, dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(f.order, dtype=np.int64).tobytes())
        h.update((self._crs_wkt or "").encode())
        return {"kind": "memory", "name": self._name, "value": self.value, "features": len(f), "digest": h.hexdigest()}

    def values(self) -> np.ndarray:
        """Every feature's value (NaN for NULL)."""
        return self._features.value

    def read(self, bbox: tuple[float, float, float, float] | None) -> Features:
        """Features whose vertices' bounding box (:func:`vertex_bounds`) meets ``bbox`` (all when None), in order."""
        if bbox is None:
            return self._features
        if self._tree is None:
            self._tree = shapely.STRtree(shapely.box(*self._boxes().T))
        idx = np.sort(self._tree.query(shapely.box(*bbox)))
        return self._features.take(idx)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_tree"] = None
        return state
