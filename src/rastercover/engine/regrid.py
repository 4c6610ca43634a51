"""Regridding: a raster source's pixels as the features of a block (spec section 6).

For a block of the target grid, the source pieces meeting it are read; their pixel lattice is placed in the
target grid's pixel space (each point's coordinates depend on its place in the raster only, never on the block
that computes it); :func:`~rastercover.kernels.regrid.quad_areas` gives
the exact overlap areas and :func:`~rastercover.kernels.regrid.centre_owners` the source pixel owning each
target centre. The contributions become :class:`~rastercover.methods.Hits` over the source pixels (values:
the band; nodata is NULL), each target pixel's entries in source order, so every sum runs in the same order in any
block: results are bit-identical across block sizes, workers and executors.

Where the CRSs differ, a side of a source pixel is a curve in the target CRS. The kernel integrates the
parabola through its ends and middle; :func:`plan_subdivision` measures, on a sample of the source's pixels
over the target grid, how far a quarter point of a side strays from that parabola, and cuts the source pixels
into ``sub x sub`` parts (doubling ``sub``) until the area error so bounded is below
:data:`AREA_ERROR_TARGET` of the larger of a source and a target pixel's area. Across CRSs the lattice's points at
multiples of ``anchor`` fine steps are transformed exactly and the others interpolated (cubic) between them, the
spacing chosen by :func:`plan_anchor` so that it adds nothing measurable; points near the raster's sides are
transformed one by one. A source crossing the target's antimeridian, or a bound above
:data:`AREA_ERROR_REFUSED` (a seam, a pole, a singular point), is refused; a bound above the target is an
:class:`~rastercover.errors.AccuracyWarning` (not when it is PROJ's own rounding, just above the aim).

Examples
--------
>>> import numpy as np, xarray as xr
>>> from affine import Affine
>>> from rastercover.grid import Grid
>>> from rastercover.io.raster_source import open_raster_source
>>> da = xr.DataArray(np.arange(4.0).reshape(1, 2, 2), dims=("band", "y", "x"),
...                   attrs={"transform": Affine(1, 0, 0, 0, -1, 2), "crs": "EPSG:3857"})
>>> target = Grid(1, 1, Affine(1, 0, 0.5, 0, -1, 1.5), "EPSG:3857")
>>> src = Regridding.of(open_raster_source(da), target)
>>> c = RegridBlock(src, target, target.window_of_tiles(0, 1, 0, 1))
>>> h = c.hits(0, Kind.RASTER_AREA)
>>> h.feature.tolist(), h.weight.tolist(), h.value.tolist()
([0, 1, 2, 3], [0.25, 0.25, 0.25, 0.25], [0.0, 1.0, 2.0, 3.0])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from ..crs import as_crs, crs_label, same_crs
from ..errors import CRSError
from ..grid import Grid, Window
from ..kernels.regrid import centre_owners, quad_areas, separable_sums
from ..methods import Hits, Kind, Method

__all__ = ["AREA_ERROR_TARGET", "BandMethod", "RegridBlock", "Regridding", "plan_subdivision"]

#: The area error aimed at, as a fraction of a source pixel's area, where the CRSs differ.
AREA_ERROR_TARGET = 1e-9
#: Largest subdivision of a source pixel (per side) the plan uses.
MAX_SUB = 64
#: Source pixels sampled per side when measuring the curvature of the pixel sides.
SAMPLE = 17
#: Widest spacing, in fine lattice steps, of the exactly transformed points across CRSs.
MAX_ANCHOR = 64


@dataclass(frozen=True)
class BandMethod:
    """One output band of a regridding: a method applied to one band of the source."""

    method: Method
    band: int
    name: str

    @property
    def kind(self) -> Kind:
        """The method's contribution kind."""
        return self.method.kind

    @property
    def reduce(self):
        """The method's reduction."""
        return self.method.reduce

    @property
    def needs_value(self) -> bool:
        """Every raster method reads values."""
        return self.method.needs_value

    @property
    def empty(self):
        """The method's empty-pixel result."""
        return self.method.empty

    @property
    def categorical(self) -> bool:
        """Class values or measurements."""
        return self.method.categorical

    @property
    def description(self) -> str:
        """One line."""
        return self.method.description

    @property
    def sums(self):
        """The method's reduction from area-weighted sums, or None."""
        return self.method.sums


class Regridding:
    """A raster source seen from a target grid's CRS: what a regridding :class:`~rastercover.engine.Job` holds
    as its source (picklable: it holds the source, the CRSs as WKT and the subdivision).

    Attributes
    ----------
    source
        The raster source (:mod:`rastercover.io.raster_source`).
    sub
        Each source pixel is cut into ``sub x sub`` parts (1 in one CRS).
    area_error
        The bound on the area error per source pixel, as a fraction of its area (0 in one CRS).
    """

    regrids = True

    def __init__(self, source: Any, target_crs: Any, sub: int = 1, area_error: float = 0.0) -> None:
        self.source = source
        self._target_wkt = as_crs(target_crs).to_wkt()
        self._source_wkt = as_crs(source.crs).to_wkt()
        self.same = same_crs(as_crs(source.crs), as_crs(target_crs))
        self.sub = int(sub)
        self.area_error = float(area_error)
        #: Across CRSs, points of the fine lattice at multiples of this many steps are transformed exactly, the
        #: others interpolated (:func:`_lattice`).
        self.anchor = 1
        #: A source pixel's area in target pixels (a median over a sample where the CRSs differ; the finest rows').
        self.source_pixel_area = 1.0
        #: The longest side, in source units, of the parts source pixels are cut into (the coarsest pixels' side
        #: over ``sub``).
        self.part = math.inf
        self._fwd = self._inv = None
        self._bounds: tuple[float, float, float, float] | None = None
        #: One CRS, every source raster and the target north-up: overlaps are products of 1-D overlaps, so the sum
        #: methods take :class:`SeparableSums` (decided for the whole job, so every block takes the same path).
        self.separable = False

    @classmethod
    def of(cls, source: Any, grid: Grid) -> Regridding:
        """``source`` onto ``grid``, with the subdivision its CRSs need (:func:`plan_subdivision`)."""
        if source.crs is None:
            raise CRSError(f"{source.describe()} has no CRS: give the raster a CRS")
        if grid.crs is None:
            raise CRSError("the target grid has no CRS")
        r = cls(source, grid.crs)
        r.separable = r.same and bool(getattr(source, "north_up", False)) and grid.is_rectilinear
        fine = source.pixel_size / _coarsest(source)  # rows of a table may differ: planned on the coarsest
        if not r.same:
            _check_seam(r, grid)
            r.sub, r.area_error, coarse_area = plan_subdivision(r, grid)
            r.sub = max(r.sub, _sub_for_size(coarse_area))
            r.anchor, interp = plan_anchor(r, grid, coarse_area)
            r.area_error += interp
            _check_accuracy(r, grid)
            r.source_pixel_area = coarse_area * fine * fine
        else:
            r.source_pixel_area = source.pixel_size**2 / grid.pixel_area
            if not r.separable:
                r.sub = _sub_for_size(r.source_pixel_area / (fine * fine))
        r.part = _coarsest(source) / r.sub
        return r

    def sub_of(self, piece: Any) -> int:
        """How many parts a side of ``piece``'s pixels is cut into: enough that a part is at most :attr:`part` long
        (the coarsest pixels of the source take :attr:`sub`, finer ones fewer); a function of the piece only."""
        if self.sub == 1:
            return 1
        t = piece.transform
        need = math.sqrt(abs(t.a * t.e - t.b * t.d)) / self.part
        sub = 1
        while sub < need * (1 - 1e-9) and sub < MAX_SUB:
            sub *= 2
        return sub

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_fwd"] = state["_inv"] = None
        return state

    def describe(self) -> str:
        """The source's name."""
        return self.source.describe()

    def identity(self) -> dict:
        """The source's identity (a resumed run compares it)."""
        ident = getattr(self.source, "identity", None)
        return dict(ident()) if callable(ident) else {"describe": self.describe()}

    @property
    def crs(self):
        """The target CRS (what the engine compares with the grid's)."""
        return as_crs(self._target_wkt)

    def _transformers(self):
        if self._fwd is None:
            from pyproj import Transformer

            self._fwd = Transformer.from_crs(self._source_wkt, self._target_wkt, always_xy=True)
            self._inv = Transformer.from_crs(self._target_wkt, self._source_wkt, always_xy=True)
        return self._fwd, self._inv

    def to_target(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Source map coordinates to target map coordinates (inf where they cannot be transformed)."""
        if self.same:
            return x, y
        fwd, _ = self._transformers()
        with np.errstate(invalid="ignore"):
            tx, ty = fwd.transform(x, y, errcheck=False)
        return np.asarray(tx, float), np.asarray(ty, float)

    def to_source(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Target map coordinates to source map coordinates."""
        if self.same:
            return x, y
        _, inv = self._transformers()
        with np.errstate(invalid="ignore"):
            sx, sy = inv.transform(x, y, errcheck=False)
        return np.asarray(sx, float), np.asarray(sy, float)

    def source_bbox(self, bounds: tuple[float, float, float, float]) -> tuple[float, float, float, float] | None:
        """A target-CRS box as a source-CRS box that holds every source pixel meeting it (padded by two source
        pixels), or None when it cannot be transformed."""
        if self.same:
            x0, y0, x1, y1 = bounds
        else:
            _, inv = self._transformers()
            try:
                x0, y0, x1, y1 = inv.transform_bounds(*bounds, densify_pts=21)
            except Exception:
                return None
            if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
                return None
            if self.geographic:
                x0, x1 = self._longitudes(x0, x1)
        pad = 2.0 * self.source.pixel_size
        return x0 - pad, y0 - pad, x1 + pad, y1 + pad

    @cached_property
    def geographic(self) -> bool:
        """True when the source is in longitudes and latitudes (its longitudes may be -180..180 or 0..360)."""
        return not self.same and as_crs(self._source_wkt).is_geographic

    def _longitudes(self, x0: float, x1: float) -> tuple[float, float]:
        """A longitude range from PROJ (in -180..180; ``x0 > x1`` when it crosses 180) as the range of the source's
        own longitudes it means: shifted by whole turns onto the source's bounds (a 0..360 source), both sides
        where it crosses 180."""
        if x0 > x1:
            x1 += 360.0
        s0, _, s1, _ = self.source.bounds
        lo, hi = math.inf, -math.inf
        for k in (-2, -1, 0, 1, 2):
            a, b = x0 + 360.0 * k, x1 + 360.0 * k
            if a <= s1 and b >= s0:
                lo, hi = min(lo, a), max(hi, b)
        return (x0, x1) if lo > hi else (lo, hi)

    def wrap_longitudes(self, x: np.ndarray) -> np.ndarray:
        """Longitudes from PROJ (-180..180) as the source's own: in the turn starting at its western bound."""
        if not self.geographic:
            return x
        s0 = self.source.bounds[0]
        with np.errstate(invalid="ignore"):
            return s0 + np.mod(x - s0, 360.0)

    @property
    def bounds(self) -> tuple[float, float, float, float] | None:
        """The source's bounds in the target CRS (padded by a source pixel): where blocks may have data."""
        if self._bounds is None:
            x0, y0, x1, y1 = self.source.bounds
            pad = self.source.pixel_size
            x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
            if self.same:
                self._bounds = (x0, y0, x1, y1)
            else:
                fwd, _ = self._transformers()
                try:
                    b = fwd.transform_bounds(x0, y0, x1, y1, densify_pts=101)
                except Exception:
                    return None
                self._bounds = tuple(b) if all(math.isfinite(v) for v in b) else None
        return self._bounds


#: Largest side, in target pixels, of the part of a source pixel the kernel handles at once: a coarse source over a
#: fine grid is cut so that no block scans a source pixel's whole box of target cells for its own few.
MAX_PART = 64


def _sub_for_size(area: float) -> int:
    """The subdivision (a power of two, at most :data:`MAX_SUB`) that keeps a part's side within :data:`MAX_PART`
    target pixels, for source pixels of ``area`` target pixels."""
    need = math.sqrt(max(area, 0.0)) / MAX_PART
    sub = 1
    while sub < need and sub < MAX_SUB:
        sub *= 2
    return sub


def _cubic(u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cubic Lagrange weights of the anchors at -1, 1 and 2 for a point at ``u`` in [0, 1) after anchor 0 (anchor
    0's weight is what makes them sum to one: the interpolation is written as anchor 0 plus weighted differences)."""
    return -u * (u - 1) * (u - 2) / 6, -(u + 1) * u * (u - 2) / 2, (u + 1) * u * (u - 1) / 6


def _interpolate(a: np.ndarray, fine: np.ndarray, first: int, anchor: int, axis: int) -> np.ndarray:
    """``a`` (anchors at fine indices ``(first + k)·anchor`` along ``axis``) at the fine indices ``fine``."""
    k = fine // anchor
    u = (fine - k * anchor) / anchor  # exact: anchor is a power of two
    i0 = k - first
    wm, w1, w2 = _cubic(u)
    take = lambda off: np.take(a, i0 + off, axis=axis)  # noqa: E731
    shape = [1, 1]
    shape[axis] = -1
    wm, w1, w2 = (w.reshape(shape) for w in (wm, w1, w2))
    a0 = take(0)
    with np.errstate(invalid="ignore"):  # anchors past a pole (inf): NaN, then transformed one by one
        return a0 + (wm * (take(-1) - a0) + w1 * (take(1) - a0) + w2 * (take(2) - a0))


def _lattice(reg: Regridding, grid: Grid, piece, sub: int) -> tuple[np.ndarray, np.ndarray]:
    """A piece's lattice at half steps of its ``sub``-times finer lattice, in the target's pixel space:
    ``(2·h·sub + 1, 2·w·sub + 1)`` arrays of target columns and rows.

    In one CRS every point is placed exactly (two affine maps). Across CRSs the points at multiples of
    ``reg.anchor`` fine steps are transformed exactly and the others interpolated (cubic, in each direction) from
    the anchors around them, which :func:`plan_lattice` checked on a sample; every point's value depends only on
    its place in the raster, never on the block.
    """
    w = piece.window
    n = 2 * sub
    fc = w.col_off * n + np.arange(w.width * n + 1)  # fine indices in the raster's lattice
    fr = w.row_off * n + np.arange(w.height * n + 1)
    t = piece.transform

    def place(cols: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cc, rr = np.meshgrid(cols / n, rows / n)  # exact: n is a power of two
        x, y = reg.to_target(t.a * cc + t.b * rr + t.c, t.d * cc + t.e * rr + t.f)
        return grid.to_pixel(x, y)

    k = reg.anchor
    if reg.same or k <= 1:
        return place(fc, fr)
    c0, c1 = int(fc[0] // k) - 1, int(fc[-1] // k) + 2
    r0, r1 = int(fr[0] // k) - 1, int(fr[-1] // k) + 2
    ac, ar = place(np.arange(c0, c1 + 1) * k, np.arange(r0, r1 + 1) * k)
    out = []
    for a in (ac, ar):
        along = _interpolate(a, fc, c0, k, axis=1)
        out.append(_interpolate(along, fr, r0, k, axis=0))
    col, row = out
    bad = ~(np.isfinite(col) & np.isfinite(row))
    # near the raster's sides the stencil reaches anchors outside the raster (past a CRS's seam or pole, they may
    # wrap): points there are transformed one by one, as are those whose anchors fall outside the CRS's domain
    wf, hf = piece.size[0] * n, piece.size[1] * n
    bad |= ((fr // k - 1) * k < 0)[:, None] | ((fr // k + 2) * k > hf)[:, None]
    bad |= ((fc // k - 1) * k < 0)[None, :] | ((fc // k + 2) * k > wf)[None, :]
    if bad.any():
        ri, ci = np.nonzero(bad)
        cc, rr = fc[ci] / n, fr[ri] / n
        x, y = reg.to_target(t.a * cc + t.b * rr + t.c, t.d * cc + t.e * rr + t.f)
        col[ri, ci], row[ri, ci] = grid.to_pixel(x, y)
    return col, row


_TINY = 1e-12  # overlaps (in target pixels) at or below this are rounding noise, as in the kernel


def _rectilinear(t) -> bool:
    return t.b == 0 and t.d == 0


def _overlaps_1d(edges: np.ndarray, off: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(source index, target index in the window, overlap length)`` of the intervals between consecutive
    ``edges`` (target pixel coordinates, increasing or decreasing) with the target cells ``[off, off + size)``,
    sorted by source index, then target index."""
    lo = np.minimum(edges[:-1], edges[1:])
    hi = np.maximum(edges[:-1], edges[1:])
    first = np.maximum(np.floor(lo), off).astype(np.int64)
    last = np.minimum(np.ceil(hi), off + size).astype(np.int64)  # exclusive
    n = np.maximum(last - first, 0)
    src = np.repeat(np.arange(len(lo)), n)
    start = np.repeat(np.cumsum(n) - n, n)
    cell = first[src] + (np.arange(len(src)) - start)
    length = np.minimum(hi[src], cell + 1.0) - np.maximum(lo[src], cell)
    keep = length > 0
    return src[keep], cell[keep] - off, length[keep]


class RegridBlock:
    """The contributions of a raster source to one block of the target grid, per source band.

    Parameters
    ----------
    reg
        The :class:`Regridding`.
    grid
        The target grid.
    window
        The block's window of it.
    """

    def __init__(self, reg: Regridding, grid: Grid, window: Window) -> None:
        self.reg = reg
        self.grid = grid
        self.window = window
        self.size = window.width * window.height
        bbox = reg.source_bbox(grid.window_bounds(window))
        self.pieces = [] if bbox is None else reg.source.pieces(bbox)
        self._kinds: dict[Kind, tuple] = {}
        self._hits: dict[tuple[int, Kind], Hits] = {}
        offsets = np.cumsum([0] + [p.window.width * p.window.height for p in self.pieces])
        self._offsets = offsets
        if len(self.pieces) == 1:
            d = self.pieces[0].data
            self.values = d.reshape(d.shape[0], -1)  # a view
        elif self.pieces:
            self.values = np.concatenate([p.data.reshape(p.data.shape[0], -1) for p in self.pieces], axis=1)
        else:
            self.values = np.empty((reg.source.count, 0))
        self.whole = np.zeros(self.values.shape[1])

    @cached_property
    def order(self) -> np.ndarray:
        """Each source pixel's place in the source order: the pieces come in source order (a table's rids), so a
        piece's place among them, then the pixel's place in its raster (only comparisons within the block
        matter)."""
        order = [np.empty(0, np.int64)]
        for k, p in enumerate(self.pieces):
            rr, cc = np.divmod(np.arange(p.window.width * p.window.height), p.window.width)
            gid = (rr + p.window.row_off) * p.size[0] + (cc + p.window.col_off)
            order.append((np.int64(k) << 40) + gid)
        return np.concatenate(order).astype(np.int64)

    @property
    def empty(self) -> bool:
        """True when no source pixel is read."""
        return self.values.shape[1] == 0

    def _areas(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        win = self.window
        px, ft, ar = [], [], []
        for k, p in enumerate(self.pieces):
            h, w = p.window.height, p.window.width
            sub = self.reg.sub_of(p)
            active = ~np.all(np.isnan(p.data), axis=0)
            if not active.any():
                continue
            if self.reg.same and sub == 1 and _rectilinear(p.transform) and self.grid.is_rectilinear:
                pixel, quad, area, whole = self._separable(p, active)
                self.whole[self._offsets[k] : self._offsets[k + 1]] = whole
                px.append(pixel)
                ft.append(quad + self._offsets[k])
                ar.append(area)
                continue
            col, row = _lattice(self.reg, self.grid, p, sub)
            act = np.repeat(np.repeat(active, sub, axis=0), sub, axis=1) if sub > 1 else active
            pixel, quad, area, whole = quad_areas(col, row, act, win.row_off, win.col_off, win.height, win.width)
            if sub > 1:  # the parts back to their source pixel: summed in a fixed order (part, then pixel)
                qr, qc = np.divmod(quad, w * sub)
                parent = (qr // sub) * w + qc // sub
                order = np.lexsort((pixel, parent))
                pixel, parent, area = pixel[order], parent[order], area[order]
                key = parent * self.size + pixel
                new = np.ones(len(key), dtype=bool)
                new[1:] = key[1:] != key[:-1]
                starts = np.flatnonzero(new)
                pixel, quad, area = pixel[starts], parent[starts], np.add.reduceat(area, starts)
                whole = whole.reshape(h, sub, w, sub).sum(axis=(1, 3)).ravel()
            self.whole[self._offsets[k] : self._offsets[k + 1]] = whole
            px.append(pixel)
            ft.append(quad + self._offsets[k])
            ar.append(area)
        if not px:
            e = np.empty(0, np.int64)
            return e, e, np.empty(0)
        return np.concatenate(px), np.concatenate(ft), np.concatenate(ar)

    def _separable(self, p, active: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:func:`quad_areas`'s answer for a north-up piece on a north-up grid in one CRS, where an overlap is the
        product of two 1-D overlaps: the source columns against the target columns, the rows against the rows
        (the whole work is a few numpy operations per overlap; 8-10 times faster than the kernel)."""
        win = self.window
        w, h = p.window.width, p.window.height
        t = p.transform
        edges_c = p.window.col_off + np.arange(w + 1, dtype=float)
        edges_r = p.window.row_off + np.arange(h + 1, dtype=float)
        u, _ = self.grid.to_pixel(t.a * edges_c + t.c, np.full(w + 1, t.f))
        _, v = self.grid.to_pixel(np.full(h + 1, t.c), t.e * edges_r + t.f)
        sc, tc, wx = _overlaps_1d(u, win.col_off, win.width)
        sr, tr, wy = _overlaps_1d(v, win.row_off, win.height)
        whole = (np.abs(np.diff(v))[:, None] * np.abs(np.diff(u))[None, :]).ravel()
        whole = np.where(active.ravel(), whole, 0.0)
        if len(sc) == 0 or len(sr) == 0:
            e = np.empty(0, np.int64)
            return e, e, np.empty(0), whole
        # every (row pair, column pair) is an overlap: source row-major order within each target pixel
        quad = (sr[:, None] * w + sc[None, :]).ravel()
        pixel = (tr[:, None] * win.width + tc[None, :]).ravel()
        area = (wy[:, None] * wx[None, :]).ravel()
        keep = active.ravel()[quad] & (area > _TINY)
        return pixel[keep], quad[keep], area[keep], whole

    def _separable_pieces(self) -> bool:
        """True when every piece's overlaps with the target cells are products of 1-D overlaps (one CRS, north-up
        lattices, no subdivision): then :meth:`sums` can answer the sum methods without listing the overlaps."""
        return self.reg.separable and self.reg.sub == 1

    def sums(self, band: int) -> SeparableSums | None:
        """Area-weighted sums of the source band ``band`` over the block's pixels, or None where the overlaps are
        not separable."""
        if not self._separable_pieces():
            return None
        if "_pairs" not in self.__dict__:
            self._pairs = [self._pairs_of(p) for p in self.pieces]
        return SeparableSums(self, band)

    def _pairs_of(self, p) -> tuple:
        """A piece's 1-D overlaps, columns and rows, grouped by target cell (sources in order within a cell)."""
        win = self.window
        t = p.transform
        w, h = p.window.width, p.window.height
        u, _ = self.grid.to_pixel(t.a * (p.window.col_off + np.arange(w + 1, dtype=float)) + t.c, np.full(w + 1, t.f))
        _, v = self.grid.to_pixel(np.full(h + 1, t.c), t.e * (p.window.row_off + np.arange(h + 1, dtype=float)) + t.f)
        out = []
        for src, cell, length in (_overlaps_1d(u, win.col_off, win.width), _overlaps_1d(v, win.row_off, win.height)):
            order = np.lexsort((src, cell))
            src, cell, length = src[order], cell[order], length[order]
            new = np.ones(len(cell), dtype=bool)
            new[1:] = cell[1:] != cell[:-1]
            starts = np.flatnonzero(new)
            out.append((src, cell[starts], starts, length))
        whole = np.abs(np.diff(v))[:, None] * np.abs(np.diff(u))[None, :]
        return out[0], out[1], whole

    def _centres(self) -> tuple[np.ndarray, np.ndarray]:
        win = self.window
        rows, cols = np.divmod(np.arange(self.size), win.width)
        x, y = self.grid.to_map(cols + win.col_off + 0.5, rows + win.row_off + 0.5)
        sx, sy = self.reg.to_source(x, y)
        sx = self.reg.wrap_longitudes(sx)
        px, ft = [], []
        for k, p in enumerate(self.pieces):
            t = p.transform
            if _rectilinear(t):  # divide, as Grid.to_pixel: a centre on a pixel edge stays exactly on it
                c, r = (sx - t.c) / t.a, (sy - t.f) / t.e
            else:
                inv = ~t
                c = inv.a * sx + inv.b * sy + inv.c
                r = inv.d * sx + inv.e * sy + inv.f
            index, owner = centre_owners(c, r, p.size[0], p.size[1])
            orow, ocol = np.divmod(owner, p.size[0])
            lr, lc = orow - p.window.row_off, ocol - p.window.col_off
            inside = (lr >= 0) & (lr < p.window.height) & (lc >= 0) & (lc < p.window.width)
            px.append(index[inside])
            ft.append((lr * p.window.width + lc)[inside] + self._offsets[k])
        if not px:
            e = np.empty(0, np.int64)
            return e, e
        return np.concatenate(px), np.concatenate(ft)

    def _entries(self, kind: Kind) -> tuple:
        """``(pixel, feature, weight or None)`` of ``kind``: each target pixel's entries in source order."""
        if kind not in self._kinds:
            if kind is Kind.RASTER_AREA:
                pixel, feature, area = self._areas()
                weight = area * self.grid.pixel_area
            elif kind is Kind.RASTER_CENTRE:
                pixel, feature = self._centres()
                weight = None
            else:
                raise ValueError(f"a raster source gives no {kind.value} contributions")
            # no sort: the pieces come in source order and each piece's entries by source pixel, so a target
            # pixel's entries are in source order in any block (the order its sums run in)
            self._kinds[kind] = (pixel, feature, weight)
        return self._kinds[kind]

    def hits(self, band: int, kind: Kind) -> Hits:
        """The contributions of ``kind`` of the source band ``band`` (0-based among those read): nodata left out."""
        key = (band, kind)
        if key not in self._hits:
            pixel, feature, weight = self._entries(kind)
            value = self.values[band]
            keep = ~np.isnan(value[feature])
            area = self.whole * self.grid.pixel_area if kind is Kind.RASTER_AREA else None
            self._hits[key] = Hits(
                self.size,
                pixel[keep],
                feature[keep],
                value,
                self.order,
                None if weight is None else weight[keep],
                self.grid.pixel_area,
                area,
            )
        return self._hits[key]


def _coarsest(source: Any) -> float:
    """The side of the source's coarsest pixels (a table's rows may differ; one lattice has one size)."""
    return float(getattr(source, "max_pixel_size", source.pixel_size))


def _sample(reg: Regridding, grid: Grid) -> tuple[np.ndarray, np.ndarray] | None:
    """:data:`SAMPLE` x :data:`SAMPLE` source positions spread over the part of the source the target grid covers."""
    src = reg.source
    bbox = reg.source_bbox(grid.bounds)
    sb = src.bounds
    if bbox is not None:
        sb = (max(sb[0], bbox[0]), max(sb[1], bbox[1]), min(sb[2], bbox[2]), min(sb[3], bbox[3]))
    if not (sb[2] > sb[0] and sb[3] > sb[1]):
        return None
    step = _coarsest(src)
    xs = np.linspace(sb[0], max(sb[0], sb[2] - step), SAMPLE)
    ys = np.linspace(min(sb[3], sb[1] + step), sb[3], SAMPLE)
    X, Y = np.meshgrid(xs, ys)
    return X.ravel(), Y.ravel()


def _scale(area: float) -> float:
    """The area errors are stated as fractions of the larger of a source pixel's and a target pixel's area."""
    return max(area, 1.0)


class SeparableSums:
    """``s(x)``: per target pixel of a block, ``Σ a_i · x_i`` (map units²) over the valid source pixels of one band,
    where every overlap ``a_i`` is a product of 1-D overlaps: the sums over source rows first (whole rows at a
    time, per target row and source column), then over source columns, each in source order, so a target pixel's
    sum has the same bits in any block. ``value`` is the band (NaN: nodata), ``whole`` each source pixel's area.
    """

    def __init__(self, block: RegridBlock, band: int) -> None:
        self.block = block
        self.value = block.values[band]
        self.valid = ~np.isnan(self.value)
        self.size = block.size
        self.pixel_area = block.grid.pixel_area

    @cached_property
    def whole(self) -> np.ndarray:
        """Each source pixel's area (map units²)."""
        return np.concatenate([pairs[2].ravel() for pairs in self.block._pairs]) * self.pixel_area

    @cached_property
    def area(self) -> np.ndarray:
        """Per target pixel, the area its valid source pixels cover (map units²)."""
        return self(np.ones_like(self.value))

    def covered(self) -> np.ndarray:
        """Per target pixel: True where valid source pixels overlap it (more than 1e-12 of it, as the kernel)."""
        return self.area > 1e-12 * self.pixel_area

    def __call__(self, x: np.ndarray) -> np.ndarray:
        win = self.block.window
        out = np.zeros((win.height, win.width))
        x = np.where(self.valid, x, 0.0)
        offsets = self.block._offsets
        for k, (p, (cols, rows, _)) in enumerate(zip(self.block.pieces, self.block._pairs, strict=True)):
            if not len(cols[0]) or not len(rows[0]):
                continue
            grid_x = x[offsets[k] : offsets[k + 1]].reshape(p.window.height, p.window.width)
            sr, trs, rstarts, wy = rows
            sc, tcs, cstarts, wx = cols
            out[np.ix_(trs, tcs)] += separable_sums(grid_x, (sr, rstarts, wy), (sc, cstarts, wx))
        return out.ravel() * self.pixel_area


def plan_subdivision(reg: Regridding, grid: Grid) -> tuple[int, float, float]:
    """The subdivision ``sub`` (a power of two, at most :data:`MAX_SUB`) that brings the area error of the
    parabolic sides below :data:`AREA_ERROR_TARGET`, the error bound it reaches, and a source pixel's median
    area in target pixels.

    For each sample position the quarter points of a source pixel's top and left sides (cut ``sub`` times) are
    transformed and compared with the parabola through the side's ends and middle: a deviation ``d`` (target
    pixels) over a side of length ``L`` misplaces at most ``d·L`` of area, and the ``4·sub`` parts of a pixel's
    sides misplace at most ``4·sub·d·L`` (the parts inside the pixel move area between parts of the same pixel).
    The bound is stated as a fraction of the larger of the source pixel's and a target pixel's area. Halving the
    parts divides it by 4; when it stops falling the deviation is the transformation's own rounding (PROJ's
    precision) and cutting further gains nothing.
    """
    sample = _sample(reg, grid)
    if sample is None:
        return 1, 0.0, 1.0
    X, Y = sample
    step = _coarsest(reg.source)
    sub, median, previous = 1, None, math.inf
    t = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    while True:
        s = step / sub
        errs = []
        sides = []
        for dx, dy in ((s, 0.0), (0.0, -s)):  # the top side, the left side
            px = X[:, None] + t[None, :] * dx
            py = Y[:, None] + t[None, :] * dy
            tx, ty = reg.to_target(px.ravel(), py.ravel())
            c, r = (v.reshape(px.shape) for v in grid.to_pixel(tx, ty))
            length = np.hypot(c[:, 4] - c[:, 0], r[:, 4] - r[:, 0])
            for q, (w0, wm, w1) in ((1, (0.375, 0.75, -0.125)), (3, (-0.125, 0.75, 0.375))):
                pc = w0 * c[:, 0] + wm * c[:, 2] + w1 * c[:, 4]
                pr = w0 * r[:, 0] + wm * r[:, 2] + w1 * r[:, 4]
                errs.append(np.hypot(c[:, q] - pc, r[:, q] - pr) * length)
            sides.append((c[:, 4] - c[:, 0], r[:, 4] - r[:, 0]))
        (tc, tr), (lc, lr) = sides
        part = np.abs(tc * lr - tr * lc)  # a part's area
        if median is None:
            ok = part[np.isfinite(part)]
            median = float(np.median(ok)) if len(ok) else 1.0
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = 4.0 * sub * np.maximum.reduce(errs) / np.maximum(part * sub * sub, 1.0)
        rel = rel[np.isfinite(rel)]
        worst = float(rel.max()) if len(rel) else 0.0
        if worst > previous / 2:  # no longer falling: PROJ's own precision
            return sub // 2, previous, median
        if worst <= AREA_ERROR_TARGET or sub >= MAX_SUB:
            return sub, worst, median
        previous = worst
        sub *= 2


def plan_anchor(reg: Regridding, grid: Grid, coarse_area: float) -> tuple[int, float]:
    """The widest spacing of exactly transformed lattice points (a power of two of fine steps, at most
    :data:`MAX_ANCHOR`) whose cubic interpolation places every sampled point within the budget, and the area error
    bound it adds (as :func:`plan_subdivision` states it).

    At each sample position, points between four anchors along a row and along a column are interpolated and
    compared with their exact transform; a point misplaced by ``δ`` target pixels misplaces at most ``δ`` times the
    length of the sides through it, so a source pixel of side ``L`` misplaces at most ``4·(δx + δy)·L``. The
    budget is half of :data:`AREA_ERROR_TARGET`, or, where the exact transform's own rounding is larger (the
    deviation at the narrowest spacing), one and a half times that: interpolating then adds nothing measurable.
    """
    sample = _sample(reg, grid)
    if sample is None:
        return 1, 0.0
    X0, Y0 = sample
    x0, y0, x1, y1 = reg.source.bounds
    n = 2 * reg.sub
    fine = _coarsest(reg.source) / n
    side = math.sqrt(max(coarse_area, 1e-300))
    scale = _scale(coarse_area)
    errors = {}
    anchor = MAX_ANCHOR
    while anchor > 1:
        offs = np.arange(-anchor, 2 * anchor + 1)  # anchors at -anchor, 0, anchor, 2·anchor fine steps
        # the stencils inside the source, as the lattice uses them (its points near the sides are exact)
        reach = anchor * fine
        if x1 - x0 < 3 * reach or y1 - y0 < 3 * reach:
            anchor //= 2
            continue
        X = np.clip(X0, x0 + reach, x1 - 2 * reach)
        Y = np.clip(Y0, y0 + reach, y1 - 2 * reach)
        wm, w1, w2 = _cubic(np.arange(1, anchor) / anchor)
        worst = 0.0
        for dx, dy in ((fine, 0.0), (0.0, fine)):
            px = X[:, None] + offs[None, :] * dx
            py = Y[:, None] + offs[None, :] * dy
            tx, ty = reg.to_target(px.ravel(), py.ravel())
            for v in grid.to_pixel(tx, ty):
                v = v.reshape(px.shape)
                am, a0, a1, a2 = (v[:, i * anchor : i * anchor + 1] for i in range(4))
                est = a0 + (wm * (am - a0) + w1 * (a1 - a0) + w2 * (a2 - a0))
                err = np.abs(est - v[:, anchor + 1 : 2 * anchor])
                err = err[np.isfinite(err)]
                if len(err):
                    worst += float(err.max())
        errors[anchor] = 4.0 * worst * side / scale
        anchor //= 2
    if not errors:
        return 1, 0.0
    floor = errors[min(errors)]
    budget = max(AREA_ERROR_TARGET / 2, 1.5 * floor)
    for anchor in sorted(errors, reverse=True):
        if errors[anchor] <= budget:
            return anchor, errors[anchor]
    return 1, 0.0


#: Above this area error bound (a fraction of the larger pixel area) a regridding is refused: such a bound means
#: the transformation is not smooth over the source (a seam, a pole, a singularity), not a small inexactness.
AREA_ERROR_REFUSED = 1e-6


def _check_seam(reg: Regridding, grid: Grid) -> None:
    """Refuse a geographic source that crosses the target CRS's antimeridian (``lon_0 ± 180``): its pixels there
    would be torn across the target's world (a source that ends on the seam is fine)."""
    src = as_crs(reg._source_wkt)
    if not src.is_geographic or as_crs(reg._target_wkt).is_geographic:
        return
    lon0 = 0.0
    op = as_crs(reg._target_wkt).coordinate_operation
    method = (getattr(op, "method_name", "") or "").lower()
    if any(w in method for w in ("stereographic", "azimuthal", "orthographic", "gnomonic", "perspective")):
        return  # the whole globe (or hemisphere) maps around a point: no seam line
    try:
        for p in op.params:
            if "longitude" in p.name.lower() and ("origin" in p.name.lower() or "central" in p.name.lower()):
                lon0 = float(p.value)
                break
    except AttributeError:
        return
    x0, _, x1, _ = reg.source.bounds
    seam = lon0 + 180.0
    k = math.ceil((x0 - seam) / 360.0)
    s = seam + 360.0 * k
    if x0 < s < x1 and not math.isclose(s, x0) and not math.isclose(s, x1):
        raise CRSError(
            f"{reg.describe()} spans longitudes {x0:g} to {x1:g}, across the antimeridian of {crs_label(grid.crs)} "
            f"(longitude {s:g}): its pixels there would be torn across the map. Split the source at {s:g}, or "
            "regrid onto a CRS centred elsewhere"
        )


def _check_accuracy(reg: Regridding, grid: Grid) -> None:
    """Refuse a regridding whose area error bound shows a transformation that is not smooth over the source;
    warn (:class:`~rastercover.errors.AccuracyWarning`) when the bound misses :data:`AREA_ERROR_TARGET` because
    the cutting reached its most, or by more than 100 times."""
    import warnings

    from ..errors import AccuracyWarning

    if reg.area_error > AREA_ERROR_REFUSED:
        raise CRSError(
            f"{reg.describe()} cannot be regridded onto {crs_label(grid.crs)} exactly: the transformation is not "
            f"smooth over the source (a pixel's area could be misplaced by {reg.area_error:.1e} of a pixel; a "
            "seam, a pole or a singular point of the target CRS lies in it). Cut the source to the part the "
            "target grid shows, or choose a target CRS without a singularity there"
        )
    # a bound just above the aim because PROJ itself rounds at that level (the cutting stopped where the deviation
    # stopped falling) is every PROJ user's limit, recorded in the plan but not worth a warning; one left by our
    # own approximation (the most cutting reached) or well above the aim is
    if reg.area_error > AREA_ERROR_TARGET and (reg.sub >= MAX_SUB or reg.area_error > 100 * AREA_ERROR_TARGET):
        warnings.warn(
            f"regridding {reg.describe()} onto {crs_label(grid.crs)}: the area misplaced per source pixel is "
            f"bounded by {reg.area_error:.1e} of a pixel, above the {AREA_ERROR_TARGET:g} rastercover aims for "
            f"(source pixels cut {reg.sub}x{reg.sub}, the most it cuts, or PROJ's own precision)",
            AccuracyWarning,
            stacklevel=4,
        )


def check_bridgeable(reg: Regridding, grid: Grid) -> None:
    """Fail now, not in a worker, when the source cannot be placed in the target CRS."""
    if reg.bounds is None:
        raise CRSError(
            f"{reg.describe()} cannot be transformed from {crs_label(as_crs(reg._source_wkt))} to "
            f"{crs_label(grid.crs)}: its extent has no place in the target CRS"
        )
