"""A vector source seen in another CRS: features are selected by their projected vertices, geometries come forward.

A projected geometry has straight edges between the projected vertices, so it is not the projection of the
source geometry: a long edge along a parallel, say, becomes a chord that may lie far from the projected parallel,
outside the source-CRS box of the feature seen from the target CRS. A block that selected features by its own box
taken back to the source CRS would miss the features whose chords cross it, and which blocks see a feature would
depend on how the grid is cut. So the first use indexes the layer once: the box of every feature's projected
vertices (and of its source vertices); a read takes the features whose projected box meets the box asked for,
reading from the source the box of their source boxes.

Examples
--------
>>> import shapely
>>> from rastercover.io.vector_memory import MemoryVectorSource
>>> src = MemoryVectorSource.from_pairs([(shapely.Point(-71.2, 46.8), 1)], crs="EPSG:4326")
>>> rp = ReprojectedSource(src, "EPSG:32198")
>>> [round(v) for v in rp.read(None).geometry[0].coords[0]]
[-205749, 315496]
>>> len(rp.read((-205800, 315400, -205700, 315500))), len(rp.read((0, 0, 10, 10)))
(1, 0)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from pyproj import Transformer

from ..crs import CRS, as_crs, crs_label
from ..errors import CRSError, InputError
from ..features import Features
from .vector_memory import vertex_bounds

__all__ = ["ReprojectedSource", "distinct_values_of", "source_identity"]


def distinct_values_of(source: Any) -> np.ndarray:
    """Values of every feature of ``source`` (its ``values()`` when it has one, else a full read)."""
    if hasattr(source, "values"):
        return np.asarray(source.values(), dtype=np.float64)
    return source.read(None).value


def _meets(boxes: np.ndarray, bbox) -> np.ndarray:
    x0, y0, x1, y1 = bbox
    return (boxes[:, 0] <= x1) & (boxes[:, 2] >= x0) & (boxes[:, 1] <= y1) & (boxes[:, 3] >= y0)


def source_identity(source: Any) -> dict:
    """What makes a vector source that source, for a resumed run to compare with the interrupted one: the
    source's own ``identity()`` (a file's path, layer, filter, size and time; a table's rows...), or, for a
    source object without one, its description.

    Examples
    --------
    >>> import shapely
    >>> from rastercover.io.vector_memory import MemoryVectorSource
    >>> src = MemoryVectorSource.from_pairs([(shapely.box(0, 0, 1, 1), 2.0)], crs="EPSG:3857")
    >>> source_identity(src)["features"]
    1
    """
    identity = getattr(source, "identity", None)
    if callable(identity):
        return dict(identity())
    return {"kind": type(source).__name__, "describe": source.describe()}


class ReprojectedSource:
    """Wrap ``source`` so that it reads and returns geometries in ``crs``."""

    def __init__(self, source: Any, crs: Any) -> None:
        self.source = source
        self._crs_wkt = as_crs(crs).to_wkt()
        self._forward: Transformer | None = None
        self._backward: Transformer | None = None
        self._index: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def __getstate__(self) -> dict:
        # the index (a few numbers per feature) travels: a worker does not scan the layer again
        return {
            "source": self.source,
            "_crs_wkt": self._crs_wkt,
            "_forward": None,
            "_backward": None,
            "_index": self._index,
        }

    def _transformers(self) -> tuple[Transformer, Transformer]:
        if self._forward is None:
            src, dst = self.source.crs, as_crs(self._crs_wkt)
            self._forward = Transformer.from_crs(src, dst, always_xy=True)
            self._backward = Transformer.from_crs(dst, src, always_xy=True)
        return self._forward, self._backward

    def _project(self, feats: Features) -> tuple[np.ndarray, np.ndarray]:
        """The geometries of ``feats`` in the target CRS, and which of them project to finite coordinates."""
        fwd, _ = self._transformers()

        def project(xy: np.ndarray) -> np.ndarray:
            x, y = fwd.transform(xy[:, 0], xy[:, 1])
            return np.column_stack([x, y])

        geoms = shapely.transform(feats.geometry, project)
        return geoms, np.all(np.isfinite(shapely.bounds(geoms)), axis=1)

    def _unprojectable(self, n: int) -> CRSError:
        return CRSError(
            f"{self.source.describe()}: {n} feature(s) cannot be projected from "
            f"{crs_label(self.source.crs)} to {crs_label(self.crs)}; check the CRS of the data"
        )

    def _layer_index(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``order, projected box, source box, finite`` of every feature (one scan of the layer, then kept)."""
        if self._index is None:
            feats = self.source.read(None)
            geoms, finite = self._project(feats)
            tbox = vertex_bounds(geoms).reshape(-1, 4)
            self._index = (feats.order, tbox, vertex_bounds(feats.geometry).reshape(-1, 4), finite)
        return self._index

    @property
    def crs(self) -> CRS | None:
        return as_crs(self._crs_wkt)

    @property
    def bounds(self) -> tuple[float, float, float, float] | None:
        """Bounding box of the projected vertices of every feature that projects."""
        _order, tbox, _sbox, finite = self._layer_index()
        if not finite.any():
            raise CRSError(
                f"{self.source.describe()}: its extent cannot be expressed in {crs_label(self.crs)} "
                f"(from {crs_label(self.source.crs)}); check the CRS of the data and of the grid"
            )
        b = tbox[finite]
        return float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max())

    def describe(self) -> str:
        return self.source.describe()

    def identity(self) -> dict:
        """The wrapped source's identity (see :func:`source_identity`); the target CRS is the grid's."""
        return source_identity(self.source)

    def values(self) -> np.ndarray:
        """The wrapped source's values."""
        return distinct_values_of(self.source)

    def class_names(self, column: str) -> dict[float, str | None]:
        """The wrapped source's class names (a reprojection changes no attribute)."""
        names = getattr(self.source, "class_names", None)
        if not callable(names):
            raise InputError(f"{self.describe()} has no attribute table to read class names from")
        return names(column)

    def read(self, bbox: tuple[float, float, float, float] | None) -> Features:
        """Features whose projected vertices' box meets ``bbox`` (all when None), in the target CRS, in order."""
        if bbox is None:
            feats = self.source.read(None)
        else:
            order, tbox, sbox, finite = self._layer_index()
            want = finite & _meets(tbox, bbox)
            # a feature that does not project fails the read of the blocks its source box reaches, as it always did
            _, bwd = self._transformers()
            src_bbox = bwd.transform_bounds(*bbox, densify_pts=21)
            bad = ~finite & (_meets(sbox, src_bbox) if np.all(np.isfinite(src_bbox)) else True)
            if bad.any():
                raise self._unprojectable(int(bad.sum()))
            if not want.any():
                return Features.empty()
            s = sbox[want]
            feats = self.source.read((s[:, 0].min(), s[:, 1].min(), s[:, 2].max(), s[:, 3].max()))
            feats = feats.take(np.isin(feats.order, order[want]))
        if len(feats) == 0:
            return feats
        geoms, finite = self._project(feats)
        if not finite.all():
            raise self._unprojectable(int((~finite).sum()))
        return Features(geoms, feats.value, feats.order)
