"""A raster coverage stored in files: one raster (GeoTIFF or any GDAL raster), a VRT, or a folder of tiles.

:class:`FileCoverage` implements :class:`rastercover.protocols.RasterCoverage`. Its grid's tiles are the
storage tiles: the file's internal blocks when it is tiled, the tile files of a folder (or the sources of a
tile VRT such as a tile folder's ``index.vrt``). A read touches only what its window needs: GDAL reads the
blocks (or VRT sources) of the window, and a folder without ``index.vrt`` opens only the tile files that the
window meets. The object holds paths and header facts only, so it pickles cheaply.

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

from ..crs import CRS
from ..errors import InputError, SourceError
from ..grid import _RASTER_SUFFIXES, Grid, Window, _grid_from_headers

__all__ = ["FileCoverage"]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _header(path: str) -> dict:
    """Everything a coverage needs from one raster's header (one open)."""
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(path) as ds:
            if ds.count == 0:
                raise SourceError(f"{path}: the raster has no band")
            if ds.transform.is_identity and ds.crs is None:
                raise SourceError(f"{path}: the raster has no georeferencing (no transform and no CRS)")
            nodata = ds.nodata
            return {
                "width": ds.width,
                "height": ds.height,
                "transform": ds.transform,
                "crs": ds.crs.to_wkt() if ds.crs else None,
                "block": ds.block_shapes[0],
                "count": ds.count,
                "dtypes": tuple(ds.dtypes),
                "nodata": None if nodata is None else float(nodata),
                "descriptions": tuple(d or "" for d in ds.descriptions),
            }
    except RasterioError as exc:
        if not os.path.exists(path):
            raise SourceError(f"{path}: no such file") from None
        raise SourceError(f"{path}: not a raster GDAL can read ({_first_line(exc)})") from None


class FileCoverage:
    """A raster coverage read from a raster file, a VRT, or a folder of aligned tiles.

    Parameters
    ----------
    path
        A raster file (any GDAL format), a ``.vrt``, or a folder of tile rasters. A folder with an
        ``index.vrt`` (what ``rasterize(..., output=folder)`` writes) is read through it; any other folder is
        mosaicked from its tile files' headers (:meth:`Grid.from_tiles` rules: one pixel lattice, one
        regular tile layout, missing tiles allowed and read as nodata).
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
        if p.is_dir():
            index = p / "index.vrt"
            if index.is_file():
                self._source = str(index)
                header = _header(self._source)
                grid = Grid.from_tiles(index)
            else:
                self._source = self.path
                header, grid = self._scan_folder(p)
            if tile_size is not None:
                raise InputError(f"{self.path}: a tile folder's tiles are its files; tile_size cannot change them")
        else:
            self._source = self.path
            header = _header(self.path)
            if p.suffix.lower() == ".vrt":
                grid = Grid.from_tiles(p)
                if tile_size is not None:
                    grid = grid.with_tile_size(tile_size)
            else:
                grid = Grid.from_raster(p, tile_size)
        self._grid = grid
        self._count = int(header["count"])
        self._dtype = np.result_type(*[np.dtype(d) for d in header["dtypes"]])
        nodata = header["nodata"]
        if nodata is not None and self._dtype.kind in "iu":
            info = np.iinfo(self._dtype)
            if np.isnan(nodata) or not (info.min <= nodata <= info.max and float(nodata).is_integer()):
                nodata = None  # a nodata value the pixel type cannot hold marks no pixel
        self._nodata = nodata
        self._band_names = tuple(header["descriptions"])

    def _scan_folder(self, folder: Path) -> tuple[dict, Grid]:
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() in _RASTER_SUFFIXES and f.is_file())
        if not files:
            raise SourceError(
                f"{folder}: the folder holds no raster tiles ({', '.join(sorted(_RASTER_SUFFIXES))}) and no index.vrt"
            )
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
        grid = _grid_from_headers(headers, str(folder))
        tiles: dict[tuple[int, int], str] = {}
        for (_name, h), f in zip(headers, files, strict=True):
            t = h["transform"]
            col, row = grid.to_pixel(np.array([t.c]), np.array([t.f]))
            index = (round(float(row[0])) // grid.tile_height, round(float(col[0])) // grid.tile_width)
            tiles[index] = str(f)
        self._tiles = tiles
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

    @property
    def band_names(self) -> tuple[str, ...]:
        """A description per band ("" when none)."""
        return self._band_names

    def describe(self) -> str:
        """The path, for messages."""
        return self.path

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
        for path, where in parts:
            inter = window.intersection(where)
            if inter is None or inter.intersection(full) is None:
                continue
            src = inter.relative_to(where)
            try:
                with rasterio.open(path) as ds:
                    rio_window = RioWindow(src.col_off, src.row_off, src.width, src.height)
                    data = ds.read(indexes, window=rio_window, out_dtype=self._dtype)
            except RasterioError as exc:
                raise SourceError(f"{path}: cannot read pixels ({_first_line(exc)})") from None
            out[(slice(None), *inter.relative_to(window).slices)] = data
        return out

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


def _both_nan(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and bool(np.isnan(a) and np.isnan(b))
