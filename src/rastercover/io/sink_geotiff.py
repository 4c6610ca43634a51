"""One GeoTIFF for the whole coverage: tiled, deflate; optionally a Cloud Optimized GeoTIFF with overviews.

Tiles that are empty and equal to nodata are not written at all (a sparse file reads them back as nodata).
The file is written under a temporary name and renamed when complete; every write GDAL makes to it is checked
(:mod:`rastercover.io.checked`), so a full disk is an error, never a truncated file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ..grid import Grid, Tile, Window
from ..pixel_values import is_nodata
from .atomic import check_target, commit, discard, temporary_sibling
from .checked import WriteCheck, checks_writes, uninterrupted, verify_copy
from .gtiff import constant_block, gtiff_profile

__all__ = ["GeoTiffSink"]


class GeoTiffSink:
    """Write tiles into one GeoTIFF at ``path``.

    Parameters
    ----------
    path
        Output file name.
    cog
        Write a Cloud Optimized GeoTIFF (internal overviews, tiles in COG order).
    overview_resampling
        Resampling of the COG overviews (``nearest`` for classes, ``average`` for measurements).
    overwrite
        Replace an existing file.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        cog: bool = False,
        overview_resampling: str = "nearest",
        overwrite: bool = False,
    ) -> None:
        self.path = os.fspath(path)
        self.cog = cog
        self.overview_resampling = overview_resampling
        self.overwrite = overwrite
        self._ds = None
        self._tmp: str | None = None
        self._env = None
        self._check = WriteCheck()
        check_target(self.path, overwrite=overwrite)

    @property
    def label(self) -> str:
        """What the sink writes."""
        return "COG" if self.cog else "GeoTIFF"

    def done_tiles(self) -> set[tuple[int, int]]:
        """A GeoTIFF is written in one go: nothing to resume."""
        return set()

    def detached_writer(self) -> None:
        """One file, written by this process only."""
        return None

    def record(self, tiles: Sequence[Tile]) -> None:
        """Not used: there is no detached writer."""
        raise NotImplementedError("a GeoTIFF sink has no detached writer")

    @property
    def write_path(self) -> str | None:
        """Where the bytes go now (the temporary file)."""
        return self._tmp

    @checks_writes
    def open(self, grid: Grid, bands: Sequence[str], dtype: np.dtype, nodata: float) -> None:
        import rasterio

        self.grid, self.bands, self.dtype, self.nodata = grid, list(bands), np.dtype(dtype), nodata
        self._tmp = temporary_sibling(self.path) + ".tif"
        self._env = rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True)
        self._env.__enter__()
        self._check = WriteCheck()
        with uninterrupted():
            self._ds = rasterio.open(
                self._tmp, "w", opener=self._check, **gtiff_profile(grid, len(bands), dtype, nodata)
            )
            for i, name in enumerate(self.bands, start=1):
                self._ds.set_band_description(i, name)

    @checks_writes
    def write(self, window: Window, data: np.ndarray, tiles: Sequence[Tile]) -> None:
        from rasterio.windows import Window as RioWindow

        full = sum(t.window.width * t.window.height for t in tiles) == window.width * window.height
        parts = (
            [(window, data)]
            if full
            else [(t.window, data[(slice(None), *t.window.relative_to(window).slices)]) for t in tiles]
        )
        with uninterrupted():
            for w, d in parts:
                self._ds.write(d, window=RioWindow(w.col_off, w.row_off, w.width, w.height))
        self._check.raise_for(self.path, self._tmp)  # a block GDAL flushed may have failed without a word

    @checks_writes
    def write_constant(self, tiles: Sequence[Tile], values: Sequence[float]) -> None:
        if all(is_nodata(v, self.nodata) for v in values):
            return  # sparse: unwritten blocks read back as nodata
        from rasterio.windows import Window as RioWindow

        for t in tiles:
            w = t.window
            block = constant_block(w.height, w.width, values, self.dtype)
            with uninterrupted():
                self._ds.write(block, window=RioWindow(w.col_off, w.row_off, w.width, w.height))

    @checks_writes
    def close(self) -> str:
        try:
            with uninterrupted():
                self._ds.close()
            self._ds = None
            self._check.raise_for(self.path, self._tmp)  # libtiff reports a failed flush on stderr only
            if self.cog:
                import rasterio.shutil

                cog_tmp = temporary_sibling(self.path) + ".tif"
                try:
                    rasterio.shutil.copy(
                        self._tmp,
                        cog_tmp,
                        driver="COG",
                        compress="DEFLATE",
                        predictor="YES",
                        overview_resampling=self.overview_resampling.upper(),
                        blocksize=512 if min(self.grid.width, self.grid.height) >= 512 else 256,
                        bigtiff="IF_SAFER",
                    )
                    verify_copy(self._tmp, cog_tmp, self.path, write_path=cog_tmp)
                except BaseException:
                    discard(cog_tmp)
                    raise
                discard(self._tmp)
                self._tmp = cog_tmp
            commit(self._tmp, self.path)
            self._tmp = None
        finally:
            self._exit_env()
        return self.path

    def abort(self) -> None:
        if self._ds is not None:
            try:
                self._ds.close()
            except Exception:
                pass
            self._ds = None
        if self._tmp:
            discard(self._tmp)
            self._tmp = None
        self._exit_env()

    def _exit_env(self) -> None:
        if self._env is not None:
            self._env.__exit__(None, None, None)
            self._env = None
