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
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine

from .crs import CRS, as_crs, crs_label, same_crs
from .errors import AlignmentError, InputError, SourceError

__all__ = ["DEFAULT_TILE_SIZE", "TILE_STEM", "Grid", "Tile", "Window"]

DEFAULT_TILE_SIZE = 256
_RASTER_SUFFIXES = {".tif", ".tiff", ".img", ".asc", ".jp2", ".png", ".nc", ".rst", ".bil", ".gpkg"}
_ALIGN_TOL = 1e-6  # in pixels


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
        w, h = (int(v) for v in value)
    if w <= 0 or h <= 0:
        raise InputError(f"tile size must be positive, got {w}x{h}")
    return w, h


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
    _inverse: Affine = field(repr=False, compare=False, hash=False)

    def __init__(
        self,
        width: int,
        height: int,
        transform: Affine,
        crs: Any = None,
        tile_size: int | Sequence[int] | str | None = None,
    ) -> None:
        width, height = int(width), int(height)
        if width <= 0 or height <= 0:
            raise InputError(f"a grid needs a positive size, got {width}x{height} pixels")
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
        object.__setattr__(self, "_inverse", ~transform)

    def __repr__(self) -> str:
        t = self.transform
        return (
            f"Grid({self.width}x{self.height} px, tiles {self.tile_width}x{self.tile_height}, "
            f"transform=({t.a:g}, {t.b:g}, {t.c:g}, {t.d:g}, {t.e:g}, {t.f:g}), crs={crs_label(self.crs)})"
        )

    def __reduce__(self):
        wkt = self.crs.to_wkt() if self.crs is not None else None
        return (Grid, (self.width, self.height, self.transform, wkt, (self.tile_width, self.tile_height)))

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

        Examples
        --------
        >>> from affine import Affine
        >>> g = Grid(100, 100, Affine(1, 0, 0, 0, -1, 100))
        >>> g.pixel_window((10.5, 50, 20, 60.2))
        Window(col_off=10, row_off=39, width=10, height=11)
        """
        x0, y0, x1, y1 = (float(v) for v in bounds)
        cols, rows = self.to_pixel(np.array([x0, x1, x1, x0]), np.array([y0, y0, y1, y1]))
        c0, c1 = math.floor(cols.min()), math.ceil(cols.max())
        r0, r1 = math.floor(rows.min()), math.ceil(rows.max())
        if clip:
            c0, r0 = max(c0, 0), max(r0, 0)
            c1, r1 = min(c1, self.width), min(r1, self.height)
        if c1 <= c0 or r1 <= r0:
            if c1 == c0 and 0 <= c0 <= self.width and r1 > r0:  # a vertical sliver: one column
                c1 = min(c0 + 1, self.width)
                c0 = c1 - 1
            elif r1 == r0 and 0 <= r0 <= self.height and c1 > c0:
                r1 = min(r0 + 1, self.height)
                r0 = r1 - 1
            else:
                return None
        return Window(c0, r0, c1 - c0, r1 - r0)

    def subgrid(self, window: Window) -> Grid:
        """The grid of a window (same CRS and tile size), its transform moved to the window's origin."""
        return Grid(
            window.width,
            window.height,
            self.transform @ Affine.translation(window.col_off, window.row_off),
            self.crs,
            (self.tile_width, self.tile_height),
        )

    def with_tile_size(self, tile_size: int | Sequence[int] | str | None) -> Grid:
        """The same lattice with another tile layout."""
        return Grid(self.width, self.height, self.transform, self.crs, tile_size)

    def aligned_with(self, other: Grid) -> bool:
        """True when both grids share one pixel lattice (same CRS, pixel size, skew; integer offset)."""
        if not same_crs(self.crs, other.crs):
            return False
        a, b = self.transform, other.transform
        if not np.allclose([a.a, a.b, a.d, a.e], [b.a, b.b, b.d, b.e], rtol=1e-9, atol=0):
            return False
        col, row = self.to_pixel(np.array([b.c]), np.array([b.f]))
        return bool(abs(col[0] - round(col[0])) < _ALIGN_TOL and abs(row[0] - round(row[0])) < _ALIGN_TOL)

    # ------------------------------------------------------------------ tiles
    @property
    def tile_layout(self) -> tuple[int, int]:
        """Number of tile ``(rows, cols)``."""
        return -(-self.height // self.tile_height), -(-self.width // self.tile_width)

    @property
    def n_tiles(self) -> int:
        """Number of tiles in the layout."""
        rows, cols = self.tile_layout
        return rows * cols

    def tile(self, row: int, col: int) -> Tile:
        """The tile at ``(row, col)`` of the layout."""
        n_rows, n_cols = self.tile_layout
        if not (0 <= row < n_rows and 0 <= col < n_cols):
            raise IndexError(f"tile ({row}, {col}) is outside the {n_rows}x{n_cols} layout")
        c0, r0 = col * self.tile_width, row * self.tile_height
        w = min(self.tile_width, self.width - c0)
        h = min(self.tile_height, self.height - r0)
        return Tile(self, row, col, Window(c0, r0, w, h))

    def tiles(self, window: Window | None = None) -> Iterator[Tile]:
        """Tiles in row-major order; with ``window``, only the tiles that intersect it."""
        r0, r1, c0, c1 = self.tile_range(window)
        for r in range(r0, r1):
            for c in range(c0, c1):
                yield self.tile(r, c)

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

        Examples
        --------
        >>> g = Grid.from_bounds((103, 7, 251, 98), 10, "EPSG:32198")
        >>> g.bounds, g.shape
        ((100.0, 0.0, 260.0, 100.0), (10, 16))
        """
        if isinstance(resolution, int | float | np.number):
            xres = yres = float(resolution)
        else:
            xres, yres = (float(v) for v in resolution)
        if not (xres > 0 and yres > 0 and math.isfinite(xres) and math.isfinite(yres)):
            raise InputError(f"resolution must be positive, got {resolution!r}")
        x0, y0, x1, y1 = (float(v) for v in bounds)
        if not (x1 > x0 and y1 > y0):
            raise InputError(f"bounds {tuple(bounds)} are empty: give XMIN YMIN XMAX YMAX with XMIN < XMAX")
        sx0, sy0 = math.floor(x0 / xres) * xres, math.floor(y0 / yres) * yres
        sx1, sy1 = math.ceil(x1 / xres) * xres, math.ceil(y1 / yres) * yres
        width = max(1, round((sx1 - sx0) / xres))
        height = max(1, round((sy1 - sy0) / yres))
        return cls(width, height, Affine(xres, 0, sx0, 0, -yres, sy1), crs, tile_size)

    @classmethod
    def from_raster(cls, path: str | os.PathLike, tile_size: int | Sequence[int] | str | None = None) -> Grid:
        """The grid of any GDAL raster; tile size defaults to its block size when it is tiled, else 256x256.

        Examples
        --------
        >>> import rastercover, tempfile, numpy as np, rasterio
        >>> from affine import Affine
        >>> p = tempfile.mktemp(suffix=".tif")
        >>> with rasterio.open(p, "w", driver="GTiff", width=300, height=200, count=1, dtype="uint8",
        ...                    crs="EPSG:32198", transform=Affine(30, 0, 0, 0, -30, 6000),
        ...                    tiled=True, blockxsize=128, blockysize=128) as ds:
        ...     ds.write(np.zeros((1, 200, 300), "uint8"))
        >>> Grid.from_raster(p).tile_size
        (128, 128)
        """
        header = _raster_header(path)
        if tile_size is None:
            bh, bw = header["block"]
            tiled = bh > 1 and bw < header["width"]
            tile_size = (bw, bh) if tiled else None
        return cls(header["width"], header["height"], header["transform"], header["crs"], tile_size)

    @classmethod
    def from_tiles(cls, path: str | os.PathLike) -> Grid:
        """The union grid and tile layout of a folder (or a VRT) of aligned tile rasters.

        Every tile must share the pixel size, skew and CRS and sit on one pixel lattice; the tiles must form
        a regular layout (all the same size but the last column and row). A misaligned tile is reported by
        file name. Missing tiles are allowed: the grid covers the union of the tiles present.
        """
        path = Path(path)
        if not path.exists():
            raise SourceError(f"{path}: no such file or folder (give a folder of tiles or a .vrt)")
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in _RASTER_SUFFIXES and p.is_file())
            if not files:
                raise SourceError(f"{path}: the folder holds no raster tiles ({', '.join(sorted(_RASTER_SUFFIXES))})")
            headers = [(p.name, _raster_header(p)) for p in files]
            return _grid_from_headers(headers, str(path))
        if path.suffix.lower() == ".vrt":
            return _grid_from_vrt(path)
        raise SourceError(f"{path}: not a folder of tiles nor a .vrt; for a single raster use Grid.from_raster")


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
        """The tile as a grid of its own."""
        return self.parent.subgrid(self.window)

    @property
    def name(self) -> str:
        """File stem used by tile folders: ``r{row}_c{col}`` (read back by :data:`TILE_STEM`)."""
        return f"r{self.row}_c{self.col}"


#: The stem of a tile folder's files, ``r{row}_c{col}`` (groups: row, col).
TILE_STEM = re.compile(r"^r(\d+)_c(\d+)$")


# ---------------------------------------------------------------------- raster headers and tile layouts
def _raster_header(path: str | os.PathLike) -> dict:
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(path) as ds:
            if ds.transform.is_identity and ds.crs is None and not ds.gcps[0]:
                raise SourceError(f"{path}: the raster has no georeferencing (no transform and no CRS)")
            if ds.gcps[0] and ds.transform.is_identity:
                raise SourceError(f"{path}: the raster is georeferenced by GCPs only; warp it to a grid first")
            return {
                "width": ds.width,
                "height": ds.height,
                "transform": ds.transform,
                "crs": ds.crs.to_wkt() if ds.crs else None,
                "block": ds.block_shapes[0] if ds.count else (1, ds.width),
            }
    except RasterioError as exc:
        raise SourceError(f"{path}: cannot read it as a raster ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _grid_from_headers(headers: list[tuple[str, dict]], where: str) -> Grid:
    """Union grid of tile headers ``(name, header)`` after checking they share one lattice."""
    name0, h0 = headers[0]
    t0 = h0["transform"]
    crs0 = as_crs(h0["crs"])
    lin0 = np.array([t0.a, t0.b, t0.d, t0.e])
    inv0 = ~Affine(t0.a, t0.b, 0, t0.d, t0.e, 0)
    rects = []
    for name, h in headers:
        t = h["transform"]
        if not same_crs(as_crs(h["crs"]), crs0):
            raise AlignmentError(
                f"{where}: tile {name} is in {crs_label(as_crs(h['crs']))} but {name0} is in {crs_label(crs0)}"
            )
        lin = np.array([t.a, t.b, t.d, t.e])
        if not np.allclose(lin, lin0, rtol=1e-9, atol=1e-12 * np.abs(lin0).max()):
            raise AlignmentError(
                f"{where}: tile {name} has pixel size/skew {tuple(lin)} but {name0} has {tuple(lin0)}; "
                "tiles must share one pixel size"
            )
        col, row = inv0 @ (t.c - t0.c, t.f - t0.f)
        if abs(col - round(col)) > _ALIGN_TOL or abs(row - round(row)) > _ALIGN_TOL:
            raise AlignmentError(
                f"{where}: tile {name} is misaligned: its origin falls at pixel ({col:.6f}, {row:.6f}) of "
                f"{name0}'s lattice, not on a pixel corner; resample it onto the common grid"
            )
        rects.append((name, round(col), round(row), h["width"], h["height"]))
    return _layout_grid(rects, t0, crs0, where)


def _layout_grid(rects: list[tuple[str, int, int, int, int]], t0: Affine, crs: CRS | None, where: str) -> Grid:
    c_min = min(r[1] for r in rects)
    r_min = min(r[2] for r in rects)
    width = max(r[1] + r[3] for r in rects) - c_min
    height = max(r[2] + r[4] for r in rects) - r_min
    tw = max(r[3] for r in rects)
    th = max(r[4] for r in rects)
    seen: dict[tuple[int, int], str] = {}
    for name, c, r, w, h in rects:
        c, r = c - c_min, r - r_min
        if c % tw or r % th or w != min(tw, width - c) or h != min(th, height - r):
            raise AlignmentError(
                f"{where}: tile {name} ({w}x{h} px at column {c}, row {r}) does not fit the {tw}x{th} tile "
                "layout of the other tiles"
            )
        key = (r // th, c // tw)
        if key in seen:
            raise AlignmentError(f"{where}: tiles {seen[key]} and {name} cover the same place")
        seen[key] = name
    transform = t0 @ Affine.translation(c_min, r_min)
    return Grid(width, height, transform, crs, (tw, th))


def _grid_from_vrt(path: Path) -> Grid:
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise SourceError(f"{path}: not a readable VRT ({exc})") from None
    header = _raster_header(path)
    t = header["transform"]
    band = root.find("VRTRasterBand")
    sources = [] if band is None else [s for s in band if s.find("DstRect") is not None]
    if not sources:
        return Grid(header["width"], header["height"], t, header["crs"])
    rects = []
    for s in sources:
        fn = s.findtext("SourceFilename", default="?")
        d = s.find("DstRect").attrib
        vals = [float(d[k]) for k in ("xOff", "yOff", "xSize", "ySize")]
        if any(abs(v - round(v)) > _ALIGN_TOL for v in vals):
            raise AlignmentError(
                f"{path}: tile {fn} is misaligned: it lands at pixel ({vals[0]:.6f}, {vals[1]:.6f}) of the "
                "VRT, not on a pixel corner; resample it onto the common grid"
            )
        rects.append((fn, *(round(v) for v in vals)))
    grid = _layout_grid(rects, t, as_crs(header["crs"]), str(path))
    return grid
