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
from .gtiff import gtiff_profile
from .vrt import vrt_xml

__all__ = ["TileFolderSink"]


class TileFolderSink:
    """Write each tile as its own GeoTIFF in the folder ``path``, plus ``index.vrt``."""

    def __init__(self, path: str | os.PathLike, *, overwrite: bool = False) -> None:
        self.path = os.fspath(path)
        check_target(self.path, overwrite=overwrite)
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            from ..errors import OutputError

            raise OutputError(f"{self.path} is a file; a tile folder output needs a folder name")
        self._tmp: str | None = None
        self._written: list[Tile] = []

    def open(self, grid: Grid, bands: Sequence[str], dtype: np.dtype, nodata: float) -> None:
        self.grid, self.bands, self.dtype, self.nodata = grid, list(bands), np.dtype(dtype), nodata
        self._tmp = temporary_sibling(self.path)
        os.mkdir(self._tmp)

    def _write_tile(self, tile: Tile, data: np.ndarray) -> None:
        import rasterio

        tg = tile.grid
        tiled = tg.tile_width % 16 == 0 and tg.tile_height % 16 == 0 and tg.width >= 16 and tg.height >= 16
        profile = gtiff_profile(tg, len(self.bands), self.dtype, self.nodata, tiled=tiled)
        if tiled:
            profile.update(blockxsize=min(tg.tile_width, 1024), blockysize=min(tg.tile_height, 1024))
            profile.pop("sparse_ok", None)
        with rasterio.open(os.path.join(self._tmp, f"{tile.name}.tif"), "w", **profile) as ds:
            ds.write(data)
            for i, name in enumerate(self.bands, start=1):
                ds.set_band_description(i, name)
        self._written.append(tile)

    def write(self, window: Window, data: np.ndarray, tiles: Sequence[Tile]) -> None:
        for t in tiles:
            self._write_tile(t, data[(slice(None), *t.window.relative_to(window).slices)])

    def write_constant(self, tiles: Sequence[Tile], values: Sequence[float]) -> None:
        for t in tiles:
            block = np.empty((len(values), t.window.height, t.window.width), dtype=self.dtype)
            for i, v in enumerate(values):
                block[i] = v
            self._write_tile(t, block)

    def close(self) -> str:
        tiles = sorted(self._written, key=lambda t: t.index)
        with open(os.path.join(self._tmp, "index.vrt"), "w", encoding="utf-8") as f:
            f.write(vrt_xml(self.grid, self.bands, self.dtype, self.nodata, tiles))
        commit(self._tmp, self.path)
        self._tmp = None
        return self.path

    def abort(self) -> None:
        if self._tmp:
            discard(self._tmp)
            self._tmp = None
