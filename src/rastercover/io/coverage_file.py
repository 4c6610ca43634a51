"""A raster coverage stored in files: one raster (GeoTIFF or any GDAL raster), a VRT, or a folder of tiles.

:class:`FileCoverage` implements :class:`rastercover.protocols.RasterCoverage`. Its grid's tiles are the
storage tiles: the file's internal blocks when it is tiled, the tile files of a folder (or the sources of a
tile VRT such as a tile folder's ``index.vrt``). A read touches only what its window needs: GDAL reads the
blocks (or VRT sources) of the window, and a folder without ``index.vrt`` opens only the tile files that the
window meets. The object holds paths and header facts only, so it pickles cheaply.

A folder whose files are all named ``r{row}_c{col}`` (rastercover's tile folders) is laid out from the names
and at most three headers, so opening one of thousands of tiles costs milliseconds; every other tile is
checked against the layout when a read first opens it (same size, lattice, CRS, bands, type and nodata), so a
misplaced tile is still reported by name before any output is written. Other folders are scanned whole.

Examples
--------
>>> import tempfile, os, numpy as np, rasterio
>>> from affine import Affine
>>> from rastercover.grid import Window
>>> folder = tempfile.mkdtemp()
>>> for i in range(2):                          # two 4x4 tiles side by side, no index.vrt
...     with rasterio.open(os.path.join(folder, f"t{i}.tif"), "w", driver="GTiff", width=4, height=4,
...                        count=1, dtype="int16", nodata=-1, crs="EPSG:32198",
...                        transform=Affine(10, 0, 40 * i, 0, -10, 40)) as ds:
...         ds.write(np.full((1, 4, 4), i + 1, "int16"))
>>> cov = FileCoverage(folder)
>>> cov.grid.shape, cov.grid.tile_size, cov.count, cov.dtype, cov.nodata
((4, 8), (4, 4), 1, dtype('int16'), -1.0)
>>> cov.read(Window(2, 0, 4, 1)).tolist()
[[[1, 1, 2, 2]]]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from affine import Affine

from ..crs import CRS, as_crs, same_crs
from ..errors import AlignmentError, InputError, SourceError
from ..grid import ALIGN_TOL, TILE_STEM, Grid, Window
from .pam import read_class_tables
from .raster_grid import (
    RASTER_SUFFIXES,
    first_line,
    grid_of_header,
    grid_of_headers,
    grid_of_tiles,
    header_of,
    read_header,
)

__all__ = ["FileCoverage"]


def _header(path: str) -> dict:
    """Everything a coverage needs from one raster's header (one open): a georeferenced raster with bands."""
    header = read_header(path)
    if header["count"] == 0:
        raise SourceError(f"{path}: the raster has no band")
    return header


class FileCoverage:
    """A raster coverage read from a raster file, a VRT, or a folder of aligned tiles.

    Parameters
    ----------
    path
        A raster file (any GDAL format), a ``.vrt``, or a folder of tile rasters. A folder with an
        ``index.vrt`` (what ``rasterize(..., output=folder)`` writes) is read through it; any other folder is
        mosaicked from its tile files' headers (the rules of :func:`~rastercover.io.raster_grid.grid_of_tiles`:
        one pixel lattice, one regular tile layout, missing tiles allowed and read as nodata).
    tile_size
        Override the grid's tile size (only for a single raster; a folder's tiles are its files).

    Raises
    ------
    SourceError
        A missing path, a file GDAL cannot read, a raster without georeferencing, tiles whose band count,
        pixel type or nodata differ.
    AlignmentError
        Tiles that do not share one pixel lattice or one regular layout (the message names the tile).

    Examples
    --------
    >>> import tempfile, os, numpy as np, rasterio
    >>> from affine import Affine
    >>> p = os.path.join(tempfile.mkdtemp(), "dem.tif")
    >>> with rasterio.open(p, "w", driver="GTiff", width=3, height=2, count=1, dtype="float32",
    ...                    crs="EPSG:32198", transform=Affine(10, 0, 0, 0, -10, 20), nodata=-9999) as ds:
    ...     ds.write(np.arange(6, dtype="float32").reshape(1, 2, 3))
    ...     ds.set_band_description(1, "elevation")
    >>> cov = FileCoverage(p)
    >>> cov.name, cov.band_names, cov.grid.bounds
    ('dem', ('elevation',), (0.0, 0.0, 30.0, 20.0))
    >>> cov.read(Window(1, 1, 3, 1)).tolist()     # a window reaching past the edge: nodata there
    [[[4.0, 5.0, -9999.0]]]
    """

    def __init__(self, path: str | os.PathLike, *, tile_size: int | Sequence[int] | str | None = None) -> None:
        self.path = os.fspath(path)
        p = Path(self.path)
        if not p.exists():
            raise SourceError(f"{self.path}: no such file or folder (give a raster file, a .vrt or a tile folder)")
        self._tiles: dict[tuple[int, int], str] | None = None
        self._expect: dict | None = None  # header every tile must match, for tiles checked on first read
        self._checked: set[str] = set()
        if p.is_dir():
            index = p / "index.vrt"
            if index.is_file():
                self._source = str(index)
                header = _header(self._source)
                grid = grid_of_tiles(index)
            else:
                self._source = self.path
                header, grid = self._scan_folder(p)
            if tile_size is not None:
                raise InputError(f"{self.path}: a tile folder's tiles are its files; tile_size cannot change them")
        else:
            self._source = self.path
            header = _header(self.path)
            if p.suffix.lower() == ".vrt":
                grid = grid_of_tiles(p)
                if tile_size is not None:
                    grid = grid.with_tile_size(tile_size)
            else:
                grid = grid_of_header(header, tile_size)
        self._grid = grid
        self._count = int(header["count"])
        self._dtype = np.result_type(*[np.dtype(d) for d in header["dtypes"]])
        self._nodata = self._holdable(header["nodata"])
        per_band = header.get("nodatas") or (header["nodata"],) * self._count
        self._nodatas = tuple(self._holdable(v) for v in per_band)
        self._band_names = tuple(header["descriptions"])

    def _scan_folder(self, folder: Path) -> tuple[dict, Grid]:
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() in RASTER_SUFFIXES and f.is_file())
        if not files:
            raise SourceError(
                f"{folder}: the folder holds no raster tiles ({', '.join(sorted(RASTER_SUFFIXES))}) and no index.vrt"
            )
        named = self._named_layout(files)
        if named is not None:
            return named
        headers = [(f.name, _header(str(f))) for f in files]
        name0, h0 = headers[0]
        for name, h in headers[1:]:
            for key, what in (("count", "band count"), ("dtypes", "pixel types"), ("nodata", "nodata value")):
                same = h[key] == h0[key] or (key == "nodata" and _both_nan(h[key], h0[key]))
                if not same:
                    raise SourceError(
                        f"{folder}: tile {name} has {what} {h[key]!r} but {name0} has {h0[key]!r}; "
                        "the tiles of one coverage must agree"
                    )
        grid = grid_of_headers(headers, str(folder))
        tiles: dict[tuple[int, int], str] = {}
        for (_name, h), f in zip(headers, files, strict=True):
            t = h["transform"]
            col, row = grid.to_pixel(np.array([t.c]), np.array([t.f]))
            index = (round(float(row[0])) // grid.tile_height, round(float(col[0])) // grid.tile_width)
            tiles[index] = str(f)
        self._tiles = tiles
        return h0, grid

    def _named_layout(self, files: list[Path]) -> tuple[dict, Grid] | None:
        """The layout of ``r{row}_c{col}`` files from their names and a few headers; None to scan instead.

        The names are tile indexes of the layout they were cut from, so the grid starts at tile ``r0_c0``
        (present or not) and ends with the last row and column present: tile ``r3_c5`` is tile ``(3, 5)``.
        """
        keys: dict[tuple[int, int], Path] = {}
        for f in files:
            m = TILE_STEM.match(f.stem)
            if m is None or (int(m[1]), int(m[2])) in keys:
                return None
            keys[(int(m[1]), int(m[2]))] = f
        r1, c1 = max(r for r, _ in keys), max(c for _, c in keys)
        first = min(keys)
        inner_c = [k for k in keys if k[1] < c1]  # full width
        inner_r = [k for k in keys if k[0] < r1]  # full height
        if (c1 > 0 and not inner_c) or (r1 > 0 and not inner_r):
            return None  # the tile size cannot be read from the names' tiles: scan the headers
        picks = {first, min(k for k in keys if k[1] == c1), min(k for k in keys if k[0] == r1)}
        picks |= {min(inner_c)} if inner_c else set()
        picks |= {min(inner_r)} if inner_r else set()
        headers = {k: _header(str(keys[k])) for k in sorted(picks)}
        h0 = headers[first]
        last_col = headers[min(k for k in picks if k[1] == c1)]
        last_row = headers[min(k for k in picks if k[0] == r1)]
        tw = headers[min(inner_c)]["width"] if inner_c else last_col["width"]
        th = headers[min(inner_r)]["height"] if inner_r else last_row["height"]
        width = c1 * tw + last_col["width"]
        height = r1 * th + last_row["height"]
        origin = h0["transform"] @ Affine.translation(-first[1] * tw, -first[0] * th)
        try:
            grid = Grid(width, height, origin, h0["crs"], (tw, th), present=list(keys))
        except InputError:
            return None
        self._tiles = {k: str(f) for k, f in keys.items()}
        self._expect = h0
        self._checked = {str(keys[k]) for k in picks}
        for k, h in headers.items():  # the headers read must already agree with the layout
            if _tile_mismatch(grid, k, h, h0) is not None:
                self._tiles = None
                return None
        return h0, grid

    # ------------------------------------------------------------------ the RasterCoverage protocol
    @property
    def grid(self) -> Grid:
        """The coverage's pixel lattice and tiling (CRS included)."""
        return self._grid

    @property
    def count(self) -> int:
        """Number of bands."""
        return self._count

    @property
    def dtype(self) -> np.dtype:
        """Pixel type of the bands (the widest one when they differ)."""
        return self._dtype

    @property
    def nodata(self) -> float | None:
        """Nodata value of the bands (None when they declare none)."""
        return self._nodata

    def _holdable(self, nodata: float | None) -> float | None:
        """``nodata``, or None when the pixel type cannot hold it (it then marks no pixel)."""
        if nodata is not None and self._dtype.kind in "iu":
            info = np.iinfo(self._dtype)
            if np.isnan(nodata) or not (info.min <= nodata <= info.max and float(nodata).is_integer()):
                return None
        return nodata

    @property
    def nodatas(self) -> tuple[float | None, ...]:
        """Each band's nodata value (a VRT's or a file's bands may differ), None where a band has none."""
        return self._nodatas

    @property
    def band_names(self) -> tuple[str, ...]:
        """A description per band ("" when none)."""
        return self._band_names

    @property
    def class_tables(self) -> tuple[dict[float, str] | None, ...]:
        """Each band's class names, ``{value: name}`` or None, as GDAL keeps them beside the raster (its
        ``.aux.xml``, or a tile folder's ``index.vrt``): :func:`rastercover.io.pam.read_class_tables`. A folder
        of tiles without an index has none."""
        if self._source == self.path and os.path.isdir(self.path):
            return (None,) * self._count
        return read_class_tables(self._source, self._count)

    def describe(self) -> str:
        """The path, for messages."""
        return self.path

    @property
    def tile_ids(self) -> dict[tuple[int, int], int]:
        """Files are named by their place: no stored ids."""
        return {}

    @property
    def srid(self) -> None:
        """Files carry a CRS, not a PostGIS SRID."""
        return None

    def read(self, window: Window, bands: Sequence[int] | None = None) -> np.ndarray:
        """Pixels of ``window`` as (bands, rows, cols); ``bands`` are 1-based, all when None.

        Pixels outside the coverage, or in a tile that is missing from a folder, are ``nodata`` (0 when the
        coverage has none). Only the tiles the window meets are read.
        """
        import rasterio
        from rasterio.errors import RasterioError
        from rasterio.windows import Window as RioWindow

        indexes = self._band_indexes(bands)
        fill = 0 if self._nodata is None else self._nodata
        out = np.full((len(indexes), window.height, window.width), fill, dtype=self._dtype)
        full = Window(0, 0, self._grid.width, self._grid.height)
        if self._tiles is None:
            parts = [(self._source, Window(0, 0, self._grid.width, self._grid.height))]
        else:
            parts = [(self._tiles[t.index], t.window) for t in self._grid.tiles(window) if t.index in self._tiles]
        with rasterio.Env():
            for path, where in parts:
                inter = window.intersection(where)
                if inter is None or inter.intersection(full) is None:
                    continue
                src = inter.relative_to(where)
                try:
                    with rasterio.open(path) as ds:
                        if self._expect is not None and path not in self._checked:
                            self._check_tile(path, where, ds)
                        rio_window = RioWindow(src.col_off, src.row_off, src.width, src.height)
                        if len(set(ds.dtypes[i - 1] for i in indexes)) > 1:  # a VRT of bands of several types
                            data = np.stack([ds.read(i, window=rio_window, out_dtype=self._dtype) for i in indexes])
                        else:
                            data = ds.read(indexes, window=rio_window, out_dtype=self._dtype)
                except RasterioError as exc:
                    raise SourceError(f"{path}: cannot read pixels ({first_line(exc)})") from None
                out[(slice(None), *inter.relative_to(window).slices)] = data
        return out

    def _check_tile(self, path: str, where: Window, ds) -> None:
        """Refuse a tile of a name-laid-out folder that does not sit where its name puts it."""
        h = header_of(ds)
        index = (where.row_off // self._grid.tile_height, where.col_off // self._grid.tile_width)
        problem = _tile_mismatch(self._grid, index, h, self._expect)
        if problem is not None:
            raise AlignmentError(f"{self.path}: tile {os.path.basename(path)} {problem}")
        self._checked.add(path)

    # ------------------------------------------------------------------ conveniences
    @property
    def name(self) -> str:
        """A short name for output files: the file stem, or the folder name."""
        p = Path(self.path.rstrip("/\\") or self.path)
        return p.name if p.is_dir() else p.stem

    @property
    def crs(self) -> CRS | None:
        """The coverage's CRS (the grid's)."""
        return self._grid.crs

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """Map-space bounding box of the coverage."""
        return self._grid.bounds

    def __repr__(self) -> str:
        return f"FileCoverage({self.path!r}, {self._count} band(s) {self._dtype.name}, {self._grid!r})"

    def _band_indexes(self, bands: Sequence[int] | None) -> list[int]:
        if bands is None:
            return list(range(1, self._count + 1))
        indexes = [int(b) for b in bands]
        bad = [b for b in indexes if not 1 <= b <= self._count]
        if bad or not indexes:
            raise InputError(
                f"{self.path}: no band {bad[0] if bad else '(none given)'}: the coverage has bands 1 to {self._count}"
            )
        return indexes


def _tile_mismatch(grid: Grid, index: tuple[int, int], h: dict, h0: dict) -> str | None:
    """Why the tile header ``h`` does not fit tile ``index`` of ``grid`` (whose tiles match ``h0``), or None."""
    for key, what in (("count", "band count"), ("dtypes", "pixel types"), ("nodata", "nodata value")):
        if not (h[key] == h0[key] or (key == "nodata" and _both_nan(h[key], h0[key]))):
            return f"has {what} {h[key]!r} but the other tiles have {h0[key]!r}; the tiles of one coverage must agree"
    if h["crs"] != h0["crs"] and not same_crs(as_crs(h["crs"]), grid.crs):
        return "is in another CRS than the other tiles"
    row, col = index
    if not (0 <= row < grid.tile_layout[0] and 0 <= col < grid.tile_layout[1]):
        return "lies outside the tile layout"
    tile = grid.tile(row, col)
    if (h["width"], h["height"]) != (tile.window.width, tile.window.height):
        return (
            f"is {h['width']}x{h['height']} px but its name puts it in a {tile.window.width}x{tile.window.height} "
            f"place of the {grid.tile_width}x{grid.tile_height} layout"
        )
    t, want = h["transform"], tile.grid.transform
    lin, lin0 = np.array([t.a, t.b, t.d, t.e]), np.array([want.a, want.b, want.d, want.e])
    if not np.allclose(lin, lin0, rtol=1e-9, atol=1e-12 * np.abs(lin0).max()):
        return f"has pixel size/skew {tuple(lin)} but the other tiles have {tuple(lin0)}"
    col_px, row_px = grid.to_pixel(np.array([t.c]), np.array([t.f]))
    dc, dr = float(col_px[0]) - tile.window.col_off, float(row_px[0]) - tile.window.row_off
    if abs(dc) > ALIGN_TOL or abs(dr) > ALIGN_TOL:
        return (
            f"is misplaced: its origin falls at pixel ({float(col_px[0]):.6f}, {float(row_px[0]):.6f}) of the "
            f"folder's lattice, but its name puts it at ({tile.window.col_off}, {tile.window.row_off})"
        )
    return None


def _both_nan(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and bool(np.isnan(a) and np.isnan(b))
