"""Contribution kinds: how each is computed for a block, once, and shared by every method that reads it.

A contribution is one entry per (pixel, feature) pair, with an optional weight (an area, a length). Adding a
kind means adding a kernel and one entry in :data:`COMPUTERS`; the engine loop does not change. A kind may
build on another one (merged areas and union coverage reuse the areas of the features that overlap nothing);
:class:`Contributions` computes each kind at most once per block.

Every contribution of a pixel depends only on the features that reach that pixel, never on the block it is
computed in: the kernels work in the grid's pixel space and add in fixed point, a union is taken per pixel
over the features overlapping there, and sums per pixel run in layer order. So any ``block_pixels``,
``tile_size`` or ``workers`` gives the same rasters, bit for bit. The compiled forms of the area kernel and of the
overlap test (:mod:`rastercover.kernels.compiled`), which a process takes up once it has done enough work, give
the same answers as numpy and GEOS, so neither does it matter when a process switches.

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
from ..kernels.edges import single_parts
from ..kernels.lines import line_lengths, line_segments, point_hits, point_parts, sum_by_pair
from ..kernels.overlap import interiors_meet
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

    # -- parts and edges, shared by the kinds ----------------------------------------------------------------
    def flat(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every single part of the block's geometries, its feature and type (flattened once for every kind)."""
        if not hasattr(self, "_flat"):
            self._flat = single_parts(self.geoms, np.arange(len(self.geoms), dtype=np.int64))
        return self._flat

    def edges(self) -> tuple[np.ndarray, ...]:
        """Ring edges of the polygonal parts of every feature (owner: the feature), for centres and areas."""
        if not hasattr(self, "_edges"):
            self._edges = polygon_edges(self.geoms, np.arange(len(self.geoms), dtype=np.int64), self.flat())
        return self._edges

    # -- polygon areas ------------------------------------------------------------------------------------
    def polygons(self) -> tuple[np.ndarray, np.ndarray]:
        """One polygonal geometry per feature with area (collections' polygons unioned), with its index."""
        if not hasattr(self, "_polys"):
            index = np.arange(len(self.geoms))
            polys, owner = polygonal_parts(self.geoms, index, self.flat())
            has = np.unique(owner)
            geoms = self.geoms[has].copy()
            coll = shapely.get_type_id(geoms) == _COLLECTION
            for i in np.nonzero(coll)[0]:  # a collection may hold overlapping polygons: fill their union
                geoms[i] = shapely.union_all(polys[owner == has[i]])
            keep = shapely.area(geoms) > 0
            self._polys = (geoms[keep], has[keep])
            # every feature's own polygons: their edges are the block's edges (see areas())
            self._polys_own = not coll.any() and bool(keep.all())
        return self._polys

    def areas(self) -> Contribution:
        """``(pixel, feature, area in map units²)`` of :meth:`polygons`."""
        geoms, index = self.polygons()
        if self._polys_own:  # the same edges, in the same order, as polygon_edges(geoms, index)
            pixel, own, area = polygon_areas(*self.edges(), **self._win())
            return pixel, own, area * self.pixel_area
        return self.areas_of(geoms, index)

    def areas_of(self, geoms: np.ndarray, owner: np.ndarray) -> Contribution:
        """``(pixel, owner, area in map units²)`` of polygonal geometries whose parts do not overlap."""
        pixel, own, area = polygon_areas(*polygon_edges(geoms, owner), **self._win())
        return pixel, own, area * self.pixel_area

    def _pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pairs ``i < j`` of :meth:`polygons` whose boxes meet, and whether their interiors do (-1: not asked yet)."""
        if not hasattr(self, "_pair_cache"):
            geoms, _ = self.polygons()
            # boxes only: the interior test answers every pair, and a pair whose boxes meet but not the geometries
            # costs it less than GEOS's ``intersects`` costs every pair (0.03 s of 0.5 s for the 15 methods)
            i, j = shapely.STRtree(geoms).query(geoms)
            keep = i < j
            self._pair_cache = (i[keep], j[keep], np.full(int(keep.sum()), -1, dtype=np.int8))
        return self._pair_cache

    def overlap_pairs(self, same: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Pairs ``i < j`` of :meth:`polygons` whose interiors meet (and whose ``same`` keys are equal, if given).

        The interior test (DE-9IM ``T********``, :func:`~rastercover.kernels.overlap.interiors_meet`) runs once per
        pair, and only on pairs that matter. Whether two features overlap is a property of the pair, the same in every
        block that holds both.
        """
        geoms, _ = self.polygons()
        if len(geoms) < 2:
            e = np.empty(0, dtype=np.int64)
            return e, e
        i, j, known = self._pairs()
        sel = np.ones(len(i), dtype=bool) if same is None else same[i] == same[j]
        todo = sel & (known < 0)
        if todo.any():
            known[todo] = interiors_meet(geoms, i[todo], j[todo])
        hit = sel & (known == 1)
        return i[hit], j[hit]

    def union_areas(self, group: np.ndarray) -> Contribution:
        """``(pixel, group, area in map units²)``: per pixel, the area of the union of each group's polygons.

        ``group`` gives, per feature of the block, its group (``-1``: left out). In a pixel, a polygon that
        overlaps no other polygon of its group reaching the pixel keeps its own area (:data:`Kind.AREA`); the
        polygons that do are unioned, in layer order, and the union measured in the pixel (a polygon covering
        the whole pixel makes the union the pixel). Which polygons reach a pixel, whether two of them overlap and
        their union do not depend on the block, so neither does the result. (A union of everything overlapping
        in the block would: its vertices, where edges cross, come out of an overlay whose input depends on the
        block.) Entries are sorted by group, then pixel.
        """
        geoms, index = self.polygons()
        area = self.hits(Kind.AREA)
        take = group[area.feature] >= 0
        pixel, feature, weight = area.pixel[take], area.feature[take], area.weight[take]
        grp = group[feature]
        pos = np.full(len(self.geoms), -1, dtype=np.int64)
        pos[index] = np.arange(len(index))
        same = np.where(group[index] >= 0, group[index], -2 - np.arange(len(index)))  # left out: no pair
        pi, pj = self.overlap_pairs(same)
        over = _pair_pixels(index[pi], index[pj], feature, pixel, self.size)
        solo = ~over
        out_pixel, out_grp, out_weight = [pixel[solo]], [grp[solo]], [weight[solo]]
        if over.any():
            op, of, ow, og = pixel[over], feature[over], weight[over], grp[over]
            # one union per (group, pixel); entries in layer order within it
            key = og * self.size + op
            order = np.lexsort((of, key))
            op, of, ow, og, key = op[order], of[order], ow[order], og[order], key[order]
            new = np.ones(len(key), dtype=bool)
            new[1:] = key[1:] != key[:-1]
            starts = np.nonzero(new)[0]
            seg = np.cumsum(new) - 1
            full = np.zeros(len(starts), dtype=bool)
            full[seg[ow >= self.pixel_area]] = True  # the kernel gives a covered pixel exactly 1
            u = np.full(len(starts), self.pixel_area)
            todo = ~full[seg]
            if todo.any():
                u[~full] = self._set_unions(geoms, pos[of[todo]], op[todo], seg[todo])
            keep = u > 0
            out_pixel.append(op[starts][keep])
            out_grp.append(og[starts][keep])
            out_weight.append(u[keep])
        pixel, grp, weight = (np.concatenate(a) for a in (out_pixel, out_grp, out_weight))
        return sum_by_pair(pixel, grp, weight)

    def _set_unions(self, geoms: np.ndarray, which: np.ndarray, pixel: np.ndarray, seg: np.ndarray) -> np.ndarray:
        """Per ``seg`` (sorted), the area (map units²) in its pixel of the union of its polygons ``geoms[which]``.

        Segments with the same polygons share one union (per aligned chunk of the grid when one of them has many
        vertices: such a polygon is cut to the chunk first), unioned in layer order and measured by the area
        kernel. A function of the polygons and the pixel only.
        """
        col, row = self.pixel_of(pixel)
        many = shapely.get_num_coordinates(geoms[which]) > _MANY
        new = np.ones(len(seg), dtype=bool)
        new[1:] = seg[1:] != seg[:-1]
        starts = np.nonzero(new)[0]
        rank = np.arange(len(seg)) - np.repeat(starts, np.diff(np.append(starts, len(seg))))
        dense = np.cumsum(new) - 1
        # a segment's polygons as one row: (chunk, polygons...), the chunk (-1, -1) when none has many vertices
        chunked = np.maximum.reduceat(many, starts)
        rows = np.full((len(starts), 2 + int(rank.max()) + 1), -1, dtype=np.int64)
        rows[:, 0] = np.where(chunked, col[starts] // _CHUNK, -1)
        rows[:, 1] = np.where(chunked, row[starts] // _CHUNK, -1)
        rows[dense, 2 + rank] = which
        sets, set_of = np.unique(rows, axis=0, return_inverse=True)
        set_of = set_of.ravel()
        # the polygons of each set, cut to its chunk where they have many vertices
        members = sets[:, 2:]
        table = np.full(members.shape, None, dtype=object)
        present = members >= 0
        table[present] = geoms[members[present]]
        cut = present & (shapely.get_num_coordinates(table) > _MANY)
        if cut.any():
            k = np.nonzero(cut)
            table[k] = _chunk_clip(geoms, members[k], sets[k[0], 0], sets[k[0], 1])
        unions = shapely.union_all(table, axis=1)
        # their areas in the pixels asked for: the kernel, as for any polygon
        up, uo, ua = self.areas_of(np.asarray(unions, dtype=object), np.arange(len(sets)))
        ukey = uo * self.size + up
        want = set_of * self.size + pixel[starts]
        at = np.minimum(np.searchsorted(ukey, want), max(len(ukey) - 1, 0))
        hit = ukey[at] == want if len(ukey) else np.zeros(len(want), dtype=bool)
        return np.where(hit, ua[at] if len(ua) else 0.0, 0.0)

    def pixel_of(self, pixel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grid column and row of flat pixel indices of the block."""
        w = self.window
        row, col = np.divmod(pixel, w.width)
        return col + w.col_off, row + w.row_off


_MANY = 64  # polygons with more vertices are cut to aligned chunks of the grid before a union
_CHUNK = 64  # px
_SUPER = 1024  # px: the cut goes through aligned super-chunks, so that it costs a big polygon's size once


def _pair_pixels(fa: np.ndarray, fb: np.ndarray, feature: np.ndarray, pixel: np.ndarray, size: int) -> np.ndarray:
    """Mask over the entries ``(feature, pixel)`` (sorted by feature, then pixel) of the features of a pair
    ``(fa[k], fb[k])`` in the pixels where both have an entry."""
    out = np.zeros(len(pixel), dtype=bool)
    if len(fa) == 0 or len(pixel) == 0:
        return out
    hkey = feature * size + pixel  # sorted
    count = np.bincount(feature, minlength=int(max(fa.max(), fb.max(), feature.max())) + 1)
    first = np.searchsorted(hkey, np.arange(len(count)) * size)
    small = np.where(count[fa] <= count[fb], fa, fb)  # walk the entries of the feature with fewer
    other = np.where(count[fa] <= count[fb], fb, fa)
    n = count[small]
    idx = np.repeat(first[small], n) + (np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n))
    want = np.repeat(other, n) * size + pixel[idx]
    at = np.minimum(np.searchsorted(hkey, want), len(hkey) - 1)
    found = hkey[at] == want
    out[idx[found]] = True
    out[at[found]] = True
    return out


def _chunk_clip(geoms: np.ndarray, which: np.ndarray, cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
    """``geoms[which]`` cut to the chunks ``(cx, cy)`` of the grid (through their super-chunk): one intersection per
    distinct (polygon, chunk), each a function of the polygon and the chunk only."""
    key = np.column_stack([which, cx, cy])
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    per = _SUPER // _CHUNK
    sup_key = np.column_stack([uniq[:, 0], uniq[:, 1] // per, uniq[:, 2] // per])
    sup, sup_inv = np.unique(sup_key, axis=0, return_inverse=True)
    x0, y0 = sup[:, 1] * _SUPER, sup[:, 2] * _SUPER
    big = shapely.intersection(geoms[sup[:, 0]], shapely.box(x0, y0, x0 + _SUPER, y0 + _SUPER))
    x0, y0 = uniq[:, 1] * _CHUNK, uniq[:, 2] * _CHUNK
    small = shapely.intersection(big[sup_inv.ravel()], shapely.box(x0, y0, x0 + _CHUNK, y0 + _CHUNK))
    return small[inv.ravel()]


def _centre(c: Contributions) -> Hits:
    pixel, feature = centre_hits(*c.edges(), **c._win())
    return c.make(pixel, feature, None)


def _area(c: Contributions) -> Hits:
    return c.make(*c.areas())


def _merged(c: Contributions) -> Hits:
    value = c.feats.value
    polygonal = np.zeros(len(c.geoms), dtype=bool)
    polygonal[c.polygons()[1]] = True
    valued = polygonal & ~np.isnan(value)
    groups, group_of = np.unique(value[valued], return_inverse=True)
    group = np.full(len(c.geoms), -1, dtype=np.int64)
    group[valued] = group_of.ravel()
    order = np.full(len(groups), np.iinfo(np.int64).max)
    np.minimum.at(order, group[valued], c.feats.order[valued])
    pixel, grp, weight = c.union_areas(group)
    return Hits(c.size, pixel, grp, groups, order, weight, c.pixel_area)


def _cover(c: Contributions) -> Hits:
    pixel, _, weight = c.union_areas(np.zeros(len(c.geoms), dtype=np.int64))
    cover = np.bincount(pixel, weights=weight, minlength=c.size)  # one entry per pixel already
    pixel = np.nonzero(cover > 0)[0]
    weight = np.minimum(cover[pixel], c.pixel_area)
    feature = np.zeros(len(pixel), dtype=np.int64)
    return Hits(c.size, pixel, feature, np.array([np.nan]), np.zeros(1, np.int64), weight, c.pixel_area)


def _length(c: Contributions) -> Hits:
    segs = line_segments(c.geoms, np.arange(len(c.geoms), dtype=np.int64), c.flat())
    return c.make(*line_lengths(*segs, **c._win(), linear=c.linear))


def _point(c: Contributions) -> Hits:
    pts, owner = point_parts(c.geoms, np.arange(len(c.geoms), dtype=np.int64), c.flat())
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
