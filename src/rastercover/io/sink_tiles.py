"""A tile folder: one GeoTIFF per output tile (``r{row}_c{col}.tif``) and ``index.vrt`` mosaicking them.

The folder is built under a temporary name beside the target and renamed when complete. Memory does not
grow with the number of tiles: each tile file is written and closed at once.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ..grid import Grid, Tile, Window
from .atomic import check_target, commit, discard, temporary_sibling
from .gtiff import constant_block, gtiff_profile
from .vrt import vrt_xml

__all__ = ["TileFolderSink", "TileWriter"]


class TileWriter:
    """Writes tile files into a folder; picklable, so worker processes write their tiles themselves."""

    def __init__(self, folder: str, bands: Sequence[str], dtype: np.dtype, nodata: float) -> None:
        self.folder, self.bands, self.dtype, self.nodata = folder, list(bands), np.dtype(dtype), nodata

    def _write_tile(self, tile: Tile, data: np.ndarray) -> None:
        import rasterio

        tg = tile.grid
        tiled = tg.tile_width % 16 == 0 and tg.tile_height % 16 == 0 and tg.width >= 16 and tg.height >= 16
        profile = gtiff_profile(tg, len(self.bands), self.dtype, self.nodata, tiled=tiled)
        if tiled:
            profile.update(blockxsize=min(tg.tile_width, 1024), blockysize=min(tg.tile_height, 1024))
            profile.pop("sparse_ok", None)
        with rasterio.open(os.path.join(self.folder, f"{tile.name}.tif"), "w", **profile) as ds:
            ds.write(data)
            for i, name in enumerate(self.bands, start=1):
                ds.set_band_description(i, name)

    def write(self, window: Window, data: np.ndarray, tiles: Sequence[Tile]) -> None:
        """Write each tile's part of ``data`` (which covers ``window``)."""
        for t in tiles:
            self._write_tile(t, data[(slice(None), *t.window.relative_to(window).slices)])

    def write_constant(self, tiles: Sequence[Tile], values: Sequence[float]) -> None:
        """Write tiles whose band ``i`` is ``values[i]`` everywhere."""
        for t in tiles:
            self._write_tile(t, constant_block(t.window.height, t.window.width, values, self.dtype))


class TileFolderSink:
    """Write each tile as its own GeoTIFF in the folder ``path``, plus ``index.vrt``.

    Tile files are independent, so the engine lets worker processes write them (:meth:`detached_writer`)
    and only records here which tiles exist.
    """

    def __init__(self, path: str | os.PathLike, *, overwrite: bool = False) -> None:
        self.path = os.fspath(path)
        check_target(self.path, overwrite=overwrite)
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            from ..errors import OutputError

            raise OutputError(f"{self.path} is a file; a tile folder output needs a folder name")
        self._tmp: str | None = None
        self._written: list[tuple[int, int]] = []
        self._writer: TileWriter | None = None

    def open(self, grid: Grid, bands: Sequence[str], dtype: np.dtype, nodata: float) -> None:
        self.grid, self.bands, self.dtype, self.nodata = grid, list(bands), np.dtype(dtype), nodata
        self._tmp = temporary_sibling(self.path)
        os.mkdir(self._tmp)
        self._writer = TileWriter(self._tmp, bands, dtype, nodata)

    def detached_writer(self) -> TileWriter:
        """A writer that worker processes use directly; report what they wrote with :meth:`record`."""
        return self._writer

    def record(self, tiles: Sequence[Tile]) -> None:
        """Note tiles written by a detached writer."""
        self._written.extend(t.index for t in tiles)

    def write(self, window: Window, data: np.ndarray, tiles: Sequence[Tile]) -> None:
        self._writer.write(window, data, tiles)
        self.record(tiles)

    def write_constant(self, tiles: Sequence[Tile], values: Sequence[float]) -> None:
        self._writer.write_constant(tiles, values)
        self.record(tiles)

    def close(self) -> str:
        tiles = [self.grid.tile(r, c) for r, c in sorted(self._written)]
        with open(os.path.join(self._tmp, "index.vrt"), "w", encoding="utf-8") as f:
            f.write(vrt_xml(self.grid, self.bands, self.dtype, self.nodata, tiles))
        commit(self._tmp, self.path)
        self._tmp = None
        return self.path

    def abort(self) -> None:
        if self._tmp:
            discard(self._tmp)
            self._tmp = None
