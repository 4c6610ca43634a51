"""Contribution kinds: how each is computed for a block, once, and shared by every method that reads it.

A contribution is one entry per (pixel, feature) pair, with an optional weight (an area, a length). Adding a
kind means adding a kernel and one entry in :data:`COMPUTERS`; the engine loop does not change. A kind may
build on another one (merged areas and union coverage reuse the areas of the features that overlap nothing);
:class:`Contributions` computes each kind at most once per block.

Examples
--------
>>> import numpy as np, shapely
>>> from rastercover.features import Features
>>> from rastercover.grid import Window
>>> from rastercover.methods import Kind
>>> feats = Features.from_arrays([shapely.box(0, 0, 1.5, 1), shapely.box(1, 0, 2, 1)], [1.0, 1.0])
>>> c = Contributions(feats.geometry, feats, Window(0, 0, 2, 1), pixel_area=1.0)
>>> c.hits(Kind.AREA).weight.tolist(), c.hits(Kind.MERGED_AREA).weight.tolist()
([1.0, 0.5, 1.0], [1.0, 1.0])
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import shapely

from ..features import Features
from ..grid import Window
from ..kernels import centre_hits, polygon_edges, polygonal_parts
from ..kernels.area import polygon_areas
from ..kernels.lines import line_lengths, line_segments, point_hits, point_parts, sum_by_pair
from ..methods import Hits, Kind
from ..methods.registry import AREA_QUALIFY

__all__ = ["COMPUTERS", "Contributions"]

Contribution = tuple[np.ndarray, np.ndarray, np.ndarray | None]

_COLLECTION = 7


class Contributions:
    """Lazily computed, cached contributions of one block's features (geometries in grid pixel space).

    Parameters
    ----------
    geoms
        The block's geometries in the grid's pixel space (valid).
    feats
        Their values and layer order.
    window
        The block's window.
    pixel_area
        ``|det A|``, map units² per pixel.
    linear
        ``(a, b, d, e)`` of the grid's transform, to measure lengths in map units.
    """

    def __init__(
        self,
        geoms: np.ndarray,
        feats: Features,
        window: Window,
        pixel_area: float,
        linear: tuple[float, float, float, float] | None = None,
    ) -> None:
        self.geoms = geoms
        self.feats = feats
        self.window = window
        self.pixel_area = pixel_area
        self.linear = linear or (1.0, 0.0, 0.0, 1.0)
        self.size = window.width * window.height
        self._cache: dict[Kind, Hits] = {}
        self._valued: dict[Kind, Hits] = {}

    def hits(self, kind: Kind, *, values: bool = False) -> Hits:
        """Contributions of ``kind``; with ``values``, only those of features with a non-NULL value."""
        if kind not in self._cache:
            self._cache[kind] = COMPUTERS[kind](self)
        if not values:
            return self._cache[kind]
        if kind not in self._valued:
            self._valued[kind] = self._cache[kind].with_values()
        return self._valued[kind]

    def _win(self) -> dict:
        w = self.window
        return {"height": w.height, "width": w.width, "row_off": w.row_off, "col_off": w.col_off}

    def make(self, pixel: np.ndarray, feature: np.ndarray, weight: np.ndarray | None) -> Hits:
        """Hits over the block's features."""
        return Hits(self.size, pixel, feature, self.feats.value, self.feats.order, weight, self.pixel_area)

    # -- polygon areas ------------------------------------------------------------------------------------
    def polygons(self) -> tuple[np.ndarray, np.ndarray]:
        """One polygonal geometry per feature with area (collections' polygons unioned), with its index."""
        if not hasattr(self, "_polys"):
            index = np.arange(len(self.geoms))
            polys, owner = polygonal_parts(self.geoms, index)
            has = np.unique(owner)
            geoms = self.geoms[has].copy()
            coll = shapely.get_type_id(geoms) == _COLLECTION
            for i in np.nonzero(coll)[0]:  # a collection may hold overlapping polygons: fill their union
                geoms[i] = shapely.union_all(polys[owner == has[i]])
            keep = shapely.area(geoms) > 0
            self._polys = (geoms[keep], has[keep])
        return self._polys

    def areas_of(self, geoms: np.ndarray, owner: np.ndarray) -> Contribution:
        """``(pixel, owner, area in map units²)`` of polygonal geometries whose parts do not overlap."""
        pixel, own, area = polygon_areas(*polygon_edges(geoms, owner), **self._win())
        return pixel, own, area * self.pixel_area

    def _pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pairs ``i < j`` of :meth:`polygons` whose interiors meet (computed once per block)."""
        if not hasattr(self, "_pair_cache"):
            geoms, _ = self.polygons()
            i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
            keep = i < j
            self._pair_cache = (i[keep], j[keep], np.full(int(keep.sum()), -1, dtype=np.int8))
        return self._pair_cache

    def overlapping(self, same: np.ndarray | None = None) -> np.ndarray:
        """Mask over :meth:`polygons` of those whose interior meets another's (of equal ``same`` key, if given).

        The interior test (DE-9IM ``T********``) runs once per pair, and only on pairs that matter.
        """
        geoms, _ = self.polygons()
        out = np.zeros(len(geoms), dtype=bool)
        if len(geoms) < 2:
            return out
        i, j, known = self._pairs()
        sel = np.ones(len(i), dtype=bool) if same is None else same[i] == same[j]
        todo = sel & (known < 0)
        if todo.any():
            known[todo] = shapely.relate_pattern(geoms[i[todo]], geoms[j[todo]], "T********")
        hit = sel & (known == 1)
        out[i[hit]] = True
        out[j[hit]] = True
        return out


def _centre(c: Contributions) -> Hits:
    edges = polygon_edges(c.geoms, np.arange(len(c.geoms), dtype=np.int64))
    pixel, feature = centre_hits(*edges, **c._win())
    return c.make(pixel, feature, None)


def _area(c: Contributions) -> Hits:
    geoms, index = c.polygons()
    return c.make(*c.areas_of(geoms, index))


def _merged(c: Contributions) -> Hits:
    geoms, index = c.polygons()
    value = c.feats.value[index]
    valued = ~np.isnan(value)
    groups, group_all = np.unique(np.where(valued, value, np.inf), return_inverse=True)
    over = c.overlapping(same=np.where(valued, group_all, -1 - np.arange(len(value))))[valued]
    geoms, index, group_of = geoms[valued], index[valued], group_all[valued]
    groups = groups[: int(valued.any()) and group_of.max() + 1]
    order = np.full(len(groups), np.iinfo(np.int64).max)
    np.minimum.at(order, group_of, c.feats.order[index])
    area = c.hits(Kind.AREA)
    # features overlapping no other of their value keep their own areas; the others are unioned per value
    solo = np.zeros(len(c.geoms), dtype=bool)
    solo[index[~over]] = True
    group_of_feature = np.full(len(c.geoms), -1)
    group_of_feature[index] = group_of
    take = solo[area.feature]
    pixel, grp, weight = area.pixel[take], group_of_feature[area.feature[take]], area.weight[take]
    if over.any():
        og = group_of[over]
        ug = np.unique(og)
        unions = np.array([shapely.union_all(geoms[over][og == g]) for g in ug], dtype=object)
        up, ui, uw = c.areas_of(unions, np.arange(len(ug)))
        pixel, grp, weight = np.concatenate([pixel, up]), np.concatenate([grp, ug[ui]]), np.concatenate([weight, uw])
    pixel, grp, weight = sum_by_pair(pixel, grp, weight)
    return Hits(c.size, pixel, grp, groups, order, weight, c.pixel_area)


def _cover(c: Contributions) -> Hits:
    geoms, index = c.polygons()
    over = c.overlapping()
    area = c.hits(Kind.AREA)
    solo = np.zeros(len(c.geoms), dtype=bool)
    solo[index[~over]] = True
    take = solo[area.feature]
    pixel, weight = area.pixel[take], area.weight[take]
    if over.any():
        up, _, uw = c.areas_of(np.array([shapely.union_all(geoms[over])], dtype=object), np.zeros(1, np.int64))
        pixel, weight = np.concatenate([pixel, up]), np.concatenate([weight, uw])
    cover = np.bincount(pixel, weights=weight, minlength=c.size)
    pixel = np.nonzero(cover > 0)[0]
    weight = np.minimum(cover[pixel], c.pixel_area)
    feature = np.zeros(len(pixel), dtype=np.int64)
    return Hits(c.size, pixel, feature, np.array([np.nan]), np.zeros(1, np.int64), weight, c.pixel_area)


def _length(c: Contributions) -> Hits:
    segs = line_segments(c.geoms, np.arange(len(c.geoms), dtype=np.int64))
    return c.make(*line_lengths(*segs, **c._win(), linear=c.linear))


def _point(c: Contributions) -> Hits:
    pts, owner = point_parts(c.geoms, np.arange(len(c.geoms), dtype=np.int64))
    xy = shapely.get_coordinates(pts)
    return c.make(*point_hits(xy[:, 0], xy[:, 1], owner, **c._win()))


def _geometry(c: Contributions) -> Hits:
    area = c.hits(Kind.AREA)
    ok = area.weight > AREA_QUALIFY * c.pixel_area
    length = c.hits(Kind.LENGTH)
    point = c.hits(Kind.POINT)
    pixel = np.concatenate([area.pixel[ok], length.pixel, point.pixel])
    feature = np.concatenate([area.feature[ok], length.feature, point.feature])
    # each kind has one entry per (pixel, feature); only features of several kinds (collections) repeat
    kinds = np.zeros(len(c.geoms), dtype=np.int8)
    for h in (area, length, point):
        seen = np.zeros(len(c.geoms), dtype=np.int8)
        seen[h.feature] = 1
        kinds += seen
    if (kinds > 1).any():
        key = np.sort(feature * c.size + pixel)
        new = np.ones(len(key), dtype=bool)
        new[1:] = key[1:] != key[:-1]
        pixel, feature = key[new] % c.size, key[new] // c.size
    return c.make(pixel, feature, None)


COMPUTERS: dict[Kind, Callable[[Contributions], Hits]] = {
    Kind.CENTRE: _centre,
    Kind.AREA: _area,
    Kind.MERGED_AREA: _merged,
    Kind.COVER: _cover,
    Kind.LENGTH: _length,
    Kind.POINT: _point,
    Kind.GEOMETRY: _geometry,
}
