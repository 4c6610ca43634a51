"""The grid: the value type at the centre of rastercover.

A :class:`Grid` is a pixel lattice (width, height, an :class:`affine.Affine` transform, a CRS) cut into a
regular layout of tiles. A :class:`Tile` is a sub-grid with a ``(row, col)`` index in that layout; edge
tiles may be smaller. Every alignment question (window of a bounding box, tiles of a window, pixel space of
a geometry) is answered here, and skewed or rotated transforms work everywhere.

Examples
--------
>>> from affine import Affine
>>> g = Grid(250, 200, Affine(30, 0, 150000, 0, -30, 420000), "EPSG:32198", tile_size=100)
>>> g.tile_layout
(2, 3)
>>> t = g.tile(1, 2)
>>> (t.window.col_off, t.window.row_off, t.window.width, t.window.height)
(200, 100, 50, 100)
>>> t.grid.transform.c, t.grid.transform.f
(156000.0, 417000.0)
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from affine import Affine

from .crs import CRS, as_crs, crs_label, same_crs
from .errors import AlignmentError, InputError

__all__ = [
    "ALIGN_TOL",
    "DEFAULT_TILE_SIZE",
    "MAX_SIDE",
    "TILE_STEM",
    "Grid",
    "Tile",
    "TileSet",
    "Window",
    "snap_pixel",
]

DEFAULT_TILE_SIZE = 256

#: The most pixels a grid may have along a side: GDAL's (and so a GeoTIFF's, a VRT's) limit on a raster's width
#: and height, ``2**31 - 1``. Pixel indexes and counts then stay exact in int64 and pixel coordinates in float64.
MAX_SIDE = 2**31 - 1

#: The one alignment tolerance, in pixels: a coordinate this close to a whole pixel is on it (a box edge on a
#: pixel edge computed in floating point, a tile origin read from a header, a tile of a VRT).
ALIGN_TOL = 1e-6


def snap_pixel(v: np.ndarray | float) -> np.ndarray:
    """Pixel coordinates within :data:`ALIGN_TOL` of a whole number, moved onto it; others unchanged.

    Examples
    --------
    >>> snap_pixel(np.array([3.0000000001, 2.5, -0.9999999999])).tolist()
    [3.0, 2.5, -1.0]
    """
    v = np.asarray(v, dtype=float)
    k = np.round(v)
    return np.where(np.abs(v - k) <= ALIGN_TOL, k, v)


@dataclass(frozen=True, slots=True)
class Window:
    """A rectangle of pixels: column and row offsets, width and height.

    Examples
    --------
    >>> Window(10, 20, 5, 4).slices
    (slice(20, 24, None), slice(10, 15, None))
    """

    col_off: int
    row_off: int
    width: int
    height: int

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices for indexing a 2-D array of the parent."""
        return (
            slice(self.row_off, self.row_off + self.height),
            slice(self.col_off, self.col_off + self.width),
        )

    def relative_to(self, other: Window) -> Window:
        """This window with offsets counted from ``other``'s origin."""
        return Window(self.col_off - other.col_off, self.row_off - other.row_off, self.width, self.height)

    def intersection(self, other: Window) -> Window | None:
        """The pixels both windows hold, or None when they share none.

        Examples
        --------
        >>> Window(0, 0, 10, 10).intersection(Window(5, 8, 10, 10))
        Window(col_off=5, row_off=8, width=5, height=2)
        >>> Window(0, 0, 2, 2).intersection(Window(2, 0, 2, 2)) is None
        True
        """
        c0, r0 = max(self.col_off, other.col_off), max(self.row_off, other.row_off)
        c1 = min(self.col_off + self.width, other.col_off + other.width)
        r1 = min(self.row_off + self.height, other.row_off + other.height)
        return Window(c0, r0, c1 - c0, r1 - r0) if c1 > c0 and r1 > r0 else None

    def union(self, other: Window) -> Window:
        """The smallest window holding both.

        Examples
        --------
        >>> Window(0, 0, 2, 2).union(Window(5, 1, 1, 4))
        Window(col_off=0, row_off=0, width=6, height=5)
        """
        c0, r0 = min(self.col_off, other.col_off), min(self.row_off, other.row_off)
        c1 = max(self.col_off + self.width, other.col_off + other.width)
        r1 = max(self.row_off + self.height, other.row_off + other.height)
        return Window(c0, r0, c1 - c0, r1 - r0)


def _tile_size(value: int | Sequence[int] | None) -> tuple[int, int]:
    if value is None:
        return DEFAULT_TILE_SIZE, DEFAULT_TILE_SIZE
    if isinstance(value, int | np.integer):
        w = h = int(value)
    elif isinstance(value, str):
        parts = value.lower().replace(" ", "").split("x")
        try:
            w, h = (int(parts[0]), int(parts[-1]))
        except ValueError:
            raise InputError(f"tile size {value!r} is not WIDTHxHEIGHT, e.g. 256x256") from None
    else:
        try:
            w, h = (_whole(v, "tile size") for v in value)
        except TypeError:
            raise InputError(f"tile size {value!r} is not N, (WIDTH, HEIGHT) or 'WxH', e.g. 256x256") from None
    if w <= 0 or h <= 0:
        raise InputError(f"tile size must be positive, got {w}x{h}")
    return w, h


def _whole(value: Any, what: str) -> int:
    """``value`` as an int; an :class:`InputError` naming ``what`` for NaN, an infinity or a fraction."""
    try:
        out = int(value)
    except (OverflowError, ValueError):
        raise InputError(f"{what} must be a whole number of pixels, got {value!r}") from None
    if isinstance(value, float | np.floating) and out != value:
        raise InputError(f"{what} must be a whole number of pixels, got {value!r}")
    return out


@dataclass(frozen=True, slots=True, init=False)
class TileSet:
    """The tiles a sparse coverage has, in a grid's tile layout, and the exact origins some of them declare.

    A coverage is a grid plus the tiles it has: a tile folder with missing tiles, a PostGIS raster table with
    gaps, a VRT with holes. A grid carrying a ``TileSet`` (``Grid(..., present=...)``) iterates only those
    tiles, so planning, writing and reading all see the same set. ``origins`` holds, for the tiles whose stored
    header places them at an origin that differs in the last bits from the one the lattice computes
    (``transform * (col_off, row_off)``), that stored origin: a tile's own grid then uses it exactly (PostGIS
    computes each tile's pixels from its own header).

    Examples
    --------
    >>> ts = TileSet((2, 3), [(0, 0), (1, 2)])
    >>> len(ts), (1, 2) in ts, (0, 1) in ts, ts.indexes()
    (2, True, False, [(0, 0), (1, 2)])
    """

    layout: tuple[int, int]
    _bits: bytes
    _count: int
    origins: tuple[tuple[tuple[int, int], tuple[float, float]], ...]
    _lookup: dict = field(repr=False, compare=False, hash=False)
    _mask: np.ndarray = field(repr=False, compare=False, hash=False)

    def __init__(
        self,
        layout: tuple[int, int],
        indexes: Iterable[tuple[int, int]] | np.ndarray,
        origins: Mapping[tuple[int, int], tuple[float, float]] | None = None,
    ) -> None:
        rows, cols = (int(v) for v in layout)
        if isinstance(indexes, np.ndarray) and indexes.dtype == bool:
            if indexes.shape != (rows, cols):
                raise InputError(f"a tile mask of shape {indexes.shape} does not fit a {rows}x{cols} layout")
            mask = indexes
        else:
            mask = np.zeros((rows, cols), dtype=bool)
            for r, c in indexes:
                if not (0 <= r < rows and 0 <= c < cols):
                    raise InputError(f"tile ({r}, {c}) is outside the {rows}x{cols} tile layout")
                mask[r, c] = True
        origins = dict(origins or {})
        for key in origins:
            if not mask[key]:
                raise InputError(f"tile {key} has an origin but is not one of the tiles")
        object.__setattr__(self, "layout", (rows, cols))
        object.__setattr__(self, "_bits", np.packbits(mask, axis=None).tobytes())
        object.__setattr__(self, "_count", int(mask.sum()))
        object.__setattr__(
            self,
            "origins",
            tuple(sorted(((int(r), int(c)), (float(x), float(y))) for (r, c), (x, y) in origins.items())),
        )
        object.__setattr__(self, "_lookup", dict(self.origins))
        mask = mask.copy()
        mask.flags.writeable = False
        object.__setattr__(self, "_mask", mask)

    def __reduce__(self):
        return (TileSet, (self.layout, self.mask, dict(self.origins)))

    @property
    def mask(self) -> np.ndarray:
        """A boolean array of the layout's shape (read-only): True where the tile exists."""
        return self._mask

    def __len__(self) -> int:
        return self._count

    def __contains__(self, index: object) -> bool:
        r, c = index  # type: ignore[misc]
        rows, cols = self.layout
        return bool(0 <= r < rows and 0 <= c < cols and self._mask[r, c])

    def indexes(self) -> list[tuple[int, int]]:
        """The tiles, in row-major order."""
        rr, cc = np.nonzero(self.mask)
        return list(zip(rr.tolist(), cc.tolist(), strict=True))

    def origin(self, index: tuple[int, int]) -> tuple[float, float] | None:
        """The stored origin of a tile whose header differs from the lattice's computation, else None."""
        return self._lookup.get(index)


@dataclass(frozen=True, slots=True, init=False)
class Grid:
    """A georeferenced pixel lattice cut into tiles.

    Parameters
    ----------
    width, height
        Size in pixels.
    transform
        Maps pixel space ``(col, row)`` to map space ``(x, y)``; any GDAL geotransform, skew included.
    crs
        Anything :func:`rastercover.crs.as_crs` accepts, or ``None`` for an unknown CRS.
    tile_size
        ``N``, ``(width, height)`` or ``"WxH"``; default 256x256. Tiles start at the grid's origin.
    present
        The tiles a sparse coverage has (a :class:`TileSet` of this layout, or the ``(row, col)`` indexes);
        ``None``: every tile of the layout. :meth:`tiles` yields only these, so a rasterization "tile for
        tile" onto a sparse reference writes exactly its tiles.

    Examples
    --------
    >>> from affine import Affine
    >>> g = Grid(4, 3, Affine(10, 0, 0, 0, -10, 30), 3857, tile_size=(2, 2))
    >>> g.bounds
    (0.0, 0.0, 40.0, 30.0)
    >>> [t.index for t in g.tiles()]
    [(0, 0), (0, 1), (1, 0), (1, 1)]
    """

    width: int
    height: int
    transform: Affine
    crs: CRS | None
    tile_width: int
    tile_height: int
    present: TileSet | None = field(repr=False)
    _inverse: Affine = field(repr=False, compare=False, hash=False)

    def __init__(
        self,
        width: int,
        height: int,
        transform: Affine,
        crs: Any = None,
        tile_size: int | Sequence[int] | str | None = None,
        present: TileSet | Iterable[tuple[int, int]] | None = None,
    ) -> None:
        width, height = _whole(width, "a grid's width"), _whole(height, "a grid's height")
        if width <= 0 or height <= 0:
            raise InputError(f"a grid needs a positive size, got {width}x{height} pixels")
        if width > MAX_SIDE or height > MAX_SIDE:
            raise InputError(
                f"a grid of {width}x{height} pixels is larger than a raster can be ({MAX_SIDE} px a side): "
                "give a coarser resolution or smaller bounds"
            )
        if not isinstance(transform, Affine):
            transform = Affine(*transform) if len(transform) != 6 else Affine.from_gdal(*transform)
        if transform.is_degenerate or not all(math.isfinite(v) for v in transform[:6]):
            raise InputError(f"the grid transform {tuple(transform[:6])} is degenerate (zero pixel size)")
        tw, th = _tile_size(tile_size)
        object.__setattr__(self, "width", width)
        object.__setattr__(self, "height", height)
        object.__setattr__(self, "transform", transform)
        object.__setattr__(self, "crs", as_crs(crs))
        object.__setattr__(self, "tile_width", tw)
        object.__setattr__(self, "tile_height", th)
        layout = (-(-height // th), -(-width // tw))
        if present is not None and not isinstance(present, TileSet):
            present = TileSet(layout, present)
        if present is not None:
            if present.layout != layout:
                raise InputError(f"the tile set is laid out {present.layout}, the grid's tiles {layout}")
            if len(present) == 0:
                raise InputError("a grid needs at least one tile")
            if len(present) == layout[0] * layout[1] and not present.origins:
                present = None  # every tile: not sparse
        object.__setattr__(self, "present", present)
        object.__setattr__(self, "_inverse", ~transform)

    def __repr__(self) -> str:
        t = self.transform
        sparse = f", {len(self.present)} of {self.tile_layout[0] * self.tile_layout[1]} tiles" if self.present else ""
        return (
            f"Grid({self.width}x{self.height} px, tiles {self.tile_width}x{self.tile_height}{sparse}, "
            f"transform=({t.a:g}, {t.b:g}, {t.c:g}, {t.d:g}, {t.e:g}, {t.f:g}), crs={crs_label(self.crs)})"
        )

    def __reduce__(self):
        wkt = self.crs.to_wkt() if self.crs is not None else None
        size = (self.tile_width, self.tile_height)
        return (Grid, (self.width, self.height, self.transform, wkt, size, self.present))

    # ------------------------------------------------------------------ geometry of the lattice
    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``, the shape of a band array."""
        return self.height, self.width

    @property
    def tile_size(self) -> tuple[int, int]:
        """``(tile_width, tile_height)``."""
        return self.tile_width, self.tile_height

    @property
    def is_rectilinear(self) -> bool:
        """True when the transform has no rotation or skew."""
        return self.transform.b == 0 and self.transform.d == 0

    @property
    def pixel_area(self) -> float:
        """Area of one pixel in map units², ``|det A|``."""
        return abs(self.transform.determinant)

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size ``(x, y)`` along the pixel axes, in map units (always positive)."""
        t = self.transform
        return math.hypot(t.a, t.d), math.hypot(t.b, t.e)

    def corners(self, window: Window | None = None) -> np.ndarray:
        """Map coordinates of the four corners of the grid (or of a window), shape (4, 2)."""
        w = window or Window(0, 0, self.width, self.height)
        cols = np.array([w.col_off, w.col_off + w.width, w.col_off + w.width, w.col_off], dtype=float)
        rows = np.array([w.row_off, w.row_off, w.row_off + w.height, w.row_off + w.height], dtype=float)
        x, y = self.to_map(cols, rows)
        return np.column_stack([x, y])

    def window_bounds(self, window: Window) -> tuple[float, float, float, float]:
        """Map-space bounding box ``(xmin, ymin, xmax, ymax)`` of a window."""
        c = self.corners(window)
        return float(c[:, 0].min()), float(c[:, 1].min()), float(c[:, 0].max()), float(c[:, 1].max())

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """Map-space bounding box of the whole grid."""
        return self.window_bounds(Window(0, 0, self.width, self.height))

    def to_pixel(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map coordinates to fractional pixel coordinates ``(col, row)``.

        North-up grids divide (``col = (x - c) / a``), which is exact wherever the result is representable,
        so vertices on pixel edges and centres stay exactly there. Other grids apply ``A⁻¹``.

        Examples
        --------
        >>> from affine import Affine
        >>> g = Grid(10, 10, Affine(30, 0, 150000, 0, -30, 420000))
        >>> g.to_pixel(np.array([150015.0]), np.array([419985.0]))
        (array([0.5]), array([0.5]))
        """
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        t = self.transform
        if self.is_rectilinear:
            return (x - t.c) / t.a, (y - t.f) / t.e
        inv = self._inverse
        dx, dy = x - t.c, y - t.f
        return inv.a * dx + inv.b * dy, inv.d * dx + inv.e * dy

    def to_map(self, col: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fractional pixel coordinates to map coordinates (``A · (col, row)``)."""
        col = np.asarray(col, dtype=float)
        row = np.asarray(row, dtype=float)
        t = self.transform
        return t.a * col + t.b * row + t.c, t.d * col + t.e * row + t.f

    def pixel_window(self, bounds: Sequence[float], *, clip: bool = True) -> Window | None:
        """Smallest window of whole pixels covering a map-space bounding box; ``None`` if outside.

        This is the one rule every face uses (export, the CLI, the HTTP export, WCS, ``/rasterize``): a pixel
        is in when its area meets the box. An edge of the box within :data:`ALIGN_TOL` of a pixel edge (a box
        on pixel edges computed in floating point) is on that edge, so it adds no row or column.

        Examples
        --------
        >>> from affine import Affine
        >>> g = Grid(100, 100, Affine(1, 0, 0, 0, -1, 100))
        >>> g.pixel_window((10.5, 50, 20, 60.2))
        Window(col_off=10, row_off=39, width=10, height=11)
        >>> g = Grid(100, 100, Affine(0.1, 0, 0, 0, -0.1, 10))
        >>> g.pixel_window((0.1 * 3, 10 - 0.1 * 7, 0.1 * 7, 10 - 0.1 * 3))   # edges off by float noise
        Window(col_off=3, row_off=3, width=4, height=4)
        """
        x0, y0, x1, y1 = (float(v) for v in bounds)
        if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
            raise InputError(f"the box {tuple(bounds)} has a coordinate that is not a finite number")
        cols, rows = self.to_pixel(np.array([x0, x1, x1, x0]), np.array([y0, y0, y1, y1]))
        cols, rows = snap_pixel(cols), snap_pixel(rows)
        if not (np.isfinite(cols).all() and np.isfinite(rows).all()):
            return None
        big = 4.0 * (self.width + self.height) + 4.0  # far outside: clamp before int() (no overflow)
        cols, rows = np.clip(cols, -big, big), np.clip(rows, -big, big)
        c0, c1 = math.floor(cols.min()), math.ceil(cols.max())
        r0, r1 = math.floor(rows.min()), math.ceil(rows.max())
        # a box of zero width (height) is a line: the column (row) it lies on, the one after a pixel edge (the
        # last one on the grid's far edge). Decided before clipping: a box of positive width that only touches
        # the grid from outside meets no pixel's area, so it gets no column.
        if c1 == c0 and r1 > r0 and 0 <= c0 <= self.width:  # a vertical sliver: one column
            c0 = min(c0, self.width - 1)
            c1 = c0 + 1
        elif r1 == r0 and c1 > c0 and 0 <= r0 <= self.height:
            r0 = min(r0, self.height - 1)
            r1 = r0 + 1
        if clip:
            c0, r0 = max(c0, 0), max(r0, 0)
            c1, r1 = min(c1, self.width), min(r1, self.height)
        if c1 <= c0 or r1 <= r0:
            return None
        return Window(c0, r0, c1 - c0, r1 - r0)

    def window_of_tiles(self, r0: int, r1: int, c0: int, c1: int) -> Window:
        """The pixel window of the tile rectangle ``rows r0..r1-1, cols c0..c1-1`` (edge tiles clipped)."""
        x0, y0 = c0 * self.tile_width, r0 * self.tile_height
        x1, y1 = min(c1 * self.tile_width, self.width), min(r1 * self.tile_height, self.height)
        return Window(x0, y0, x1 - x0, y1 - y0)

    def tile_at(self, x: float, y: float) -> tuple[int, int] | None:
        """``(row, col)`` of the tile holding the map point ``(x, y)`` (whether the coverage has it or not);
        None outside the grid. A point on a tile edge belongs to the tile right of / below it.

        Examples
        --------
        >>> from affine import Affine
        >>> Grid(250, 200, Affine(30, 0, 0, 0, -30, 6000), None, 100).tile_at(3015.0, 2990.0)
        (1, 1)
        """
        col, row = self.to_pixel(np.array([x]), np.array([y]))
        c, r = math.floor(float(snap_pixel(col)[0])), math.floor(float(snap_pixel(row)[0]))
        if not (0 <= c < self.width and 0 <= r < self.height):
            return None
        return r // self.tile_height, c // self.tile_width

    def subgrid(self, window: Window) -> Grid:
        """The grid of a window (same CRS and tile size), its transform moved to the window's origin.

        The sub-grid has every tile of its own layout (a window need not fall on the parent's tiles).
        """
        return Grid(
            window.width,
            window.height,
            self.transform @ Affine.translation(window.col_off, window.row_off),
            self.crs,
            (self.tile_width, self.tile_height),
        )

    def with_tile_size(self, tile_size: int | Sequence[int] | str | None) -> Grid:
        """The same lattice with another tile layout (every tile: a sparse grid's tiles are of its layout).

        The same tile size keeps the grid as it is, sparse tiles included.
        """
        if tile_size is not None and _tile_size(tile_size) == self.tile_size:
            return self
        return Grid(self.width, self.height, self.transform, self.crs, tile_size)

    def with_tiles(self, present: TileSet | Iterable[tuple[int, int]] | None) -> Grid:
        """The same grid holding only the tiles ``present`` (``None``: every tile)."""
        return Grid(self.width, self.height, self.transform, self.crs, self.tile_size, present)

    @property
    def is_sparse(self) -> bool:
        """True when the grid holds only some tiles of its layout."""
        return self.present is not None and len(self.present) < self.tile_layout[0] * self.tile_layout[1]

    def aligned_with(self, other: Grid) -> bool:
        """True when both grids share one pixel lattice (same CRS, pixel size, skew; integer offset)."""
        if not same_crs(self.crs, other.crs):
            return False
        a, b = self.transform, other.transform
        if not np.allclose([a.a, a.b, a.d, a.e], [b.a, b.b, b.d, b.e], rtol=1e-9, atol=0):
            return False
        col, row = self.to_pixel(np.array([b.c]), np.array([b.f]))
        return bool(abs(col[0] - round(col[0])) <= ALIGN_TOL and abs(row[0] - round(row[0])) <= ALIGN_TOL)

    def offset_of(self, other: Grid) -> tuple[int, int]:
        """``(col, row)`` of ``other``'s origin in this grid's pixels, for a grid on the same lattice.

        Raises
        ------
        AlignmentError
            When ``other`` is not on this grid's lattice.
        """
        if not self.aligned_with(other):
            raise AlignmentError(f"{other!r} is not on the pixel lattice of {self!r}")
        col, row = self.to_pixel(np.array([other.transform.c]), np.array([other.transform.f]))
        return round(float(col[0])), round(float(row[0]))

    # ------------------------------------------------------------------ tiles
    @property
    def tile_layout(self) -> tuple[int, int]:
        """Number of tile ``(rows, cols)``."""
        return -(-self.height // self.tile_height), -(-self.width // self.tile_width)

    @property
    def n_tiles(self) -> int:
        """Number of tiles the grid has (of a sparse grid: its tiles, not its layout's)."""
        if self.present is not None:
            return len(self.present)
        rows, cols = self.tile_layout
        return rows * cols

    def lacks(self, window: Window) -> np.ndarray | None:
        """Which pixels of ``window`` lie in tiles the grid does not have: a boolean array, or None when it has
        every tile the window meets (always, for a grid that is not sparse).

        Examples
        --------
        >>> g = Grid(4, 2, Affine(1, 0, 0, 0, -1, 2), tile_size=2, present=[(0, 0)])
        >>> g.lacks(Window(1, 0, 2, 1)).tolist()
        [[False, True]]
        """
        if self.has_every_tile(window):
            return None
        out = np.ones((window.height, window.width), dtype=bool)
        for tile in self.tiles(window):
            part = tile.window.intersection(window)
            if part is not None:
                out[part.relative_to(window).slices] = False
        return out if out.any() else None

    def has_every_tile(self, window: Window) -> bool:
        """True when the grid has every tile ``window`` meets (cheap: looks at the tile set, not at pixels)."""
        if self.present is None:
            return True
        r0, r1, c0, c1 = self.tile_range(window)
        return bool(self.present.mask[r0:r1, c0:c1].all())

    def has_tile(self, row: int, col: int) -> bool:
        """True when the grid has tile ``(row, col)`` (every tile of the layout unless sparse)."""
        if self.present is not None:
            return (row, col) in self.present
        n_rows, n_cols = self.tile_layout
        return 0 <= row < n_rows and 0 <= col < n_cols

    def tile(self, row: int, col: int) -> Tile:
        """The tile at ``(row, col)`` of the layout (of a sparse grid too: e.g. to name it)."""
        n_rows, n_cols = self.tile_layout
        if not (0 <= row < n_rows and 0 <= col < n_cols):
            raise IndexError(f"tile ({row}, {col}) is outside the {n_rows}x{n_cols} layout")
        c0, r0 = col * self.tile_width, row * self.tile_height
        w = min(self.tile_width, self.width - c0)
        h = min(self.tile_height, self.height - r0)
        return Tile(self, row, col, Window(c0, r0, w, h))

    def tiles(self, window: Window | None = None) -> Iterator[Tile]:
        """The grid's tiles in row-major order; with ``window``, only those that intersect it.

        A sparse grid yields only the tiles it has.
        """
        r0, r1, c0, c1 = self.tile_range(window)
        if self.present is None:
            for r in range(r0, r1):
                for c in range(c0, c1):
                    yield self.tile(r, c)
            return
        sub = self.present.mask[r0:r1, c0:c1]
        for r, c in zip(*np.nonzero(sub), strict=True):
            yield self.tile(int(r) + r0, int(c) + c0)

    def tile_range(self, window: Window | None = None) -> tuple[int, int, int, int]:
        """Half-open tile index ranges ``(row0, row1, col0, col1)`` of the tiles intersecting a window."""
        n_rows, n_cols = self.tile_layout
        if window is None:
            return 0, n_rows, 0, n_cols
        c0, r0 = max(window.col_off, 0), max(window.row_off, 0)
        c1 = min(window.col_off + window.width, self.width)
        r1 = min(window.row_off + window.height, self.height)
        if c1 <= c0 or r1 <= r0:
            return 0, 0, 0, 0
        return r0 // self.tile_height, -(-r1 // self.tile_height), c0 // self.tile_width, -(-c1 // self.tile_width)

    def tile_ranges_of_boxes(self, bounds: np.ndarray, *, pad: float = ALIGN_TOL) -> np.ndarray:
        """For each map-space box ``(xmin, ymin, xmax, ymax)`` (an array of shape (n, 4)), the half-open tile
        index ranges ``(row0, row1, col0, col1)`` of the layout's tiles whose closed area meets the box grown by
        ``pad`` pixels (whether the coverage has them or not); shape (n, 4), int64, all zeros for a box off the
        grid or with a coordinate that is not finite.

        Vectorised: the tiles that the envelopes of many features may reach, in one call. A tile that only
        shares an edge with a box is included (a superset is what planning needs: the exact test comes later).

        Examples
        --------
        >>> from affine import Affine
        >>> g = Grid(250, 200, Affine(1, 0, 0, 0, -1, 200), None, 100)
        >>> g.tile_ranges_of_boxes(np.array([[150.0, 150.0, 160.0, 160.0], [99.5, 0.0, 100.0, 1.0],
        ...                                   [300.0, 0.0, 310.0, 10.0]])).tolist()
        [[0, 1, 1, 2], [1, 2, 0, 2], [0, 0, 0, 0]]
        """
        b = np.asarray(bounds, dtype=float).reshape(-1, 4)
        n = len(b)
        xs = b[:, [0, 2, 2, 0]]
        ys = b[:, [1, 1, 3, 3]]
        cols, rows = self.to_pixel(xs.ravel(), ys.ravel())
        cols, rows = cols.reshape(n, 4), rows.reshape(n, 4)
        with np.errstate(invalid="ignore"):
            cmin, cmax = cols.min(axis=1) - pad, cols.max(axis=1) + pad
            rmin, rmax = rows.min(axis=1) - pad, rows.max(axis=1) + pad
            ok = (
                np.isfinite(cols).all(axis=1)
                & np.isfinite(rows).all(axis=1)
                & (cmax >= 0)
                & (cmin <= self.width)
                & (rmax >= 0)
                & (rmin <= self.height)
            )
        n_rows, n_cols = self.tile_layout
        out = np.zeros((n, 4), dtype=np.int64)
        if not ok.any():
            return out
        cmin, cmax, rmin, rmax = (
            np.clip(v[ok], 0.0, float(s))
            for v, s in ((cmin, self.width), (cmax, self.width), (rmin, self.height), (rmax, self.height))
        )
        # a tile t covers pixels [t * size, (t + 1) * size] (closed): the first one meeting [lo, hi] is
        # ceil(lo / size) - 1, the last floor(hi / size)
        c0 = np.maximum(np.ceil(cmin / self.tile_width) - 1, 0).astype(np.int64)
        c1 = np.minimum(np.floor(cmax / self.tile_width), n_cols - 1).astype(np.int64) + 1
        r0 = np.maximum(np.ceil(rmin / self.tile_height) - 1, 0).astype(np.int64)
        r1 = np.minimum(np.floor(rmax / self.tile_height), n_rows - 1).astype(np.int64) + 1
        out[ok] = np.column_stack([r0, r1, c0, c1])
        return out

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_bounds(
        cls,
        bounds: Sequence[float],
        resolution: float | Sequence[float],
        crs: Any,
        tile_size: int | Sequence[int] | str | None = None,
    ) -> Grid:
        """A north-up grid covering ``bounds``, snapped to multiples of the resolution (``gdal_rasterize -tap``).

        Bounds and resolution must be finite numbers (``1e400`` reads as infinity), the resolution positive, and
        the grid at most :data:`MAX_SIDE` pixels a side; anything else is an :class:`InputError` naming
        ``bounds`` or ``resolution``.

        Examples
        --------
        >>> g = Grid.from_bounds((103, 7, 251, 98), 10, "EPSG:32198")
        >>> g.bounds, g.shape
        ((100.0, 0.0, 260.0, 100.0), (10, 16))
        >>> Grid.from_bounds((0, 0, 1e400, 1), 1, "EPSG:3857")
        Traceback (most recent call last):
        ...
        rastercover.errors.InputError: bounds 0 0 inf 1 must be finite numbers: XMAX is inf
        """
        try:
            if isinstance(resolution, int | float | np.number):
                xres = yres = float(resolution)
            else:
                xres, yres = (float(v) for v in resolution)
        except (TypeError, ValueError):
            raise InputError(f"resolution {resolution!r} is not a number or a pair (XRES, YRES)") from None
        if not (xres > 0 and yres > 0 and math.isfinite(xres) and math.isfinite(yres)):
            raise InputError(f"resolution must be a positive finite number, got {resolution!r}")
        try:
            x0, y0, x1, y1 = (float(v) for v in bounds)
        except (TypeError, ValueError):
            raise InputError(f"bounds {bounds!r} are not four numbers XMIN YMIN XMAX YMAX") from None
        shown = " ".join(f"{v:.15g}" for v in (x0, y0, x1, y1))
        for name, v in zip(("XMIN", "YMIN", "XMAX", "YMAX"), (x0, y0, x1, y1), strict=True):
            if not math.isfinite(v):
                raise InputError(f"bounds {shown} must be finite numbers: {name} is {v}")
        if not (x1 > x0 and y1 > y0):
            raise InputError(f"bounds {shown} are empty: give XMIN YMIN XMAX YMAX with XMIN < XMAX")
        if not (math.isfinite(x1 - x0) and math.isfinite(y1 - y0)):
            raise InputError(f"bounds {shown} span more than a number can hold: give bounds a computer can measure")
        scaled = (x0 / xres, y0 / yres, x1 / xres, y1 / yres)
        if not all(abs(v) < 2.0**62 for v in scaled):  # whole pixels counted from 0 must fit an int64
            raise InputError(
                f"bounds {shown} at resolution {resolution!r} lie {max(abs(v) for v in scaled):.3g} pixels from the "
                "origin, more than a grid can count: give a coarser resolution or bounds nearer the origin"
            )
        sx0, sy0 = math.floor(scaled[0]) * xres, math.floor(scaled[1]) * yres
        sx1, sy1 = math.ceil(scaled[2]) * xres, math.ceil(scaled[3]) * yres
        fw, fh = (sx1 - sx0) / xres, (sy1 - sy0) / yres
        if not (fw <= MAX_SIDE + 0.5 and fh <= MAX_SIDE + 0.5):
            raise InputError(
                f"bounds {shown} at resolution {resolution!r} make a grid of {fw:.3g}x{fh:.3g} pixels, more than a "
                f"raster can be ({MAX_SIDE} px a side): give a coarser resolution or smaller bounds"
            )
        width = max(1, round(fw))
        height = max(1, round(fh))
        return cls(width, height, Affine(xres, 0, sx0, 0, -yres, sy1), crs, tile_size)


@dataclass(frozen=True, slots=True)
class Tile:
    """One tile of a grid's layout: its ``(row, col)`` index and its pixel window in the parent grid.

    Examples
    --------
    >>> from affine import Affine
    >>> g = Grid(150, 150, Affine(1, 0, 0, 0, -1, 150), tile_size=100)
    >>> g.tile(1, 1).grid.shape
    (50, 50)
    """

    parent: Grid = field(repr=False)
    row: int
    col: int
    window: Window

    @property
    def index(self) -> tuple[int, int]:
        """``(row, col)`` in the tile layout."""
        return self.row, self.col

    @property
    def grid(self) -> Grid:
        """The tile as a grid of its own; its origin is the one its stored header declares when the parent's
        tile set records one (exactly those bits), else the lattice's."""
        present = self.parent.present
        origin = present.origin(self.index) if present is not None else None
        if origin is None:
            return self.parent.subgrid(self.window)
        t = self.parent.transform
        transform = Affine(t.a, t.b, origin[0], t.d, t.e, origin[1])
        return Grid(self.window.width, self.window.height, transform, self.parent.crs, self.parent.tile_size)

    @property
    def name(self) -> str:
        """File stem used by tile folders: ``r{row}_c{col}`` (read back by :data:`TILE_STEM`)."""
        return f"r{self.row}_c{self.col}"


#: The stem of a tile folder's files, ``r{row}_c{col}`` (groups: row, col).
TILE_STEM = re.compile(r"^r(\d+)_c(\d+)$")
