"""One GeoTIFF for the whole coverage: tiled, deflate; optionally a Cloud Optimized GeoTIFF with overviews.

Tiles that are empty and equal to nodata are not written at all (a sparse file reads them back as nodata).
The file is written under a temporary name and renamed when complete; every write GDAL makes to it is checked
(:mod:`rastercover.io.checked`), so a full disk is an error, never a truncated file.

**Memory.** The file's internal blocks (256 px for tiles of 100) do not line up with the engine's blocks of
tiles, and GDAL keeps every block written in its cache until the file is closed (its default cache is 5 % of the
RAM): the pixels of a whole output stayed in memory. When the engine says which rows are final
(:meth:`GeoTiffSink.final_rows`, before each block it hands over), the sink keeps the internal blocks not yet
complete in its own buffers, and hands GDAL each block once, whole, in the file's order (row by row of blocks,
left to right), with GDAL's cache bounded (:func:`~rastercover.io.gtiff.bounded_gdal_cache`): memory holds the
blocks of the rows still being computed, not the file. A single band's file is the same, byte for byte, as when
GDAL flushed all of it at close; a file of several bands holds its blocks band by band within each block
(GDAL flushed them band after band at close).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from ..grid import Grid, Tile, Window
from ..pixel_values import is_nodata
from .atomic import check_target, commit, discard, temporary_sibling
from .checked import WriteCheck, checks_writes, uninterrupted, verify_copy
from .gtiff import WRITE_CACHE_BYTES, bounded_gdal_cache, constant_block, gtiff_profile
from .pam import write_class_tables

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
        self._cache = None
        self._check = WriteCheck()
        self._rows: _BlockRows | None = None  # buffered blocks, once the engine says which rows are final
        self._classes: list = []  # per band, value -> class name (or None), for NAME.aux.xml
        self._direct = False  # a write went straight to GDAL (no final_rows before it): no buffering after it
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
        profile = gtiff_profile(grid, len(bands), dtype, nodata)
        self._env = rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True)
        self._env.__enter__()
        # room for a few whole blocks of every band: an edge block's two writes never see it leave in between
        block_bytes = profile["blockysize"] * profile["blockxsize"] * self.dtype.itemsize
        self._cache = bounded_gdal_cache(max(WRITE_CACHE_BYTES, 4 * len(self.bands) * block_bytes))
        self._cache.__enter__()
        self._check = WriteCheck()
        self._rows, self._direct = None, False
        with uninterrupted():
            self._ds = rasterio.open(self._tmp, "w", opener=self._check, **profile)
            for i, name in enumerate(self.bands, start=1):
                self._ds.set_band_description(i, name)
        self._block = (profile["blockysize"], profile["blockxsize"])
        self._classes = []

    def describe_bands(self, bands: Sequence[dict]) -> None:
        """Describe each band: ``{"metadata": {KEY: text}, "classes": {value: name} or None}`` per band.

        The metadata items go into the file (GDAL's band metadata: ``gdalinfo``, rasterio's ``tags(band)``); the
        class names into ``NAME.aux.xml`` beside it (:mod:`rastercover.io.pam`), written when the file is.
        """
        for i, info in enumerate(bands, start=1):
            if info.get("metadata"):
                self._ds.update_tags(i, **info["metadata"])
        self._classes = [info.get("classes") for info in bands]

    def final_rows(self, row: int) -> None:
        """No later write touches the pixel rows above ``row``: hand GDAL the blocks complete above it.

        The engine calls it before each block of tiles it hands over. From the first call on, the sink buffers
        the internal blocks not yet complete and writes each one once, whole, in file order (see the module's
        notes); without it every write goes straight to GDAL.
        """
        if self._rows is None:
            if self._direct or self._block == (self.grid.tile_height, self.grid.tile_width):
                return  # tiles that are whole blocks: GDAL writes each one at once, as it comes (no cache)
            self._rows = _BlockRows(self.grid, self._block, len(self.bands), self.dtype, self.nodata)
        self._hand_over(self._rows.complete_above(row))

    def _hand_over(self, blocks: Iterable[tuple[Window, np.ndarray]]) -> None:
        """Write pixels to GDAL (whole internal blocks, in file order, when buffered)."""
        from rasterio.windows import Window as RioWindow

        wrote = False
        with uninterrupted():
            for w, d in blocks:
                self._ds.write(d, window=RioWindow(w.col_off, w.row_off, w.width, w.height))
                wrote = True
        if wrote:
            self._check.raise_for(self.path, self._tmp)  # a block GDAL flushed may have failed without a word

    def _parts(self, window: Window, data: np.ndarray, tiles: Sequence[Tile]) -> list[tuple[Window, np.ndarray]]:
        full = sum(t.window.width * t.window.height for t in tiles) == window.width * window.height
        if full:
            return [(window, data)]
        return [(t.window, data[(slice(None), *t.window.relative_to(window).slices)]) for t in tiles]

    @checks_writes
    def write(self, window: Window, data: np.ndarray, tiles: Sequence[Tile]) -> None:
        if self._rows is not None:
            for w, d in self._parts(window, data, tiles):
                self._rows.put(w, d)
            return
        self._direct = True
        self._hand_over(self._parts(window, data, tiles))

    @checks_writes
    def write_constant(self, tiles: Sequence[Tile], values: Sequence[float]) -> None:
        if all(is_nodata(v, self.nodata) for v in values):
            return  # sparse: unwritten blocks read back as nodata
        if self._rows is not None:
            for t in tiles:
                self._rows.fill(t.window, values)
            return
        self._direct = True
        for t in tiles:
            w = t.window
            self._hand_over([(w, constant_block(w.height, w.width, values, self.dtype))])

    @checks_writes
    def close(self) -> str:
        try:
            if self._rows is not None:
                self._hand_over(self._rows.complete_above(self.grid.height))
                self._rows = None
            with uninterrupted():
                self._ds.close()
            self._ds = None
            self._exit_cache()
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
            with uninterrupted():
                write_class_tables(self._tmp, self._classes)  # TMP.aux.xml: it follows the file
                commit(self._tmp, self.path, side_file=True)
            self._tmp = None
        finally:
            self._exit_env()
        return self.path

    def abort(self) -> None:
        self._rows = None
        if self._ds is not None:
            try:
                self._ds.close()
            except Exception:
                pass
            self._ds = None
        if self._tmp:
            discard(self._tmp)
            discard(self._tmp + ".aux.xml")
            self._tmp = None
        self._exit_env()

    def _exit_cache(self) -> None:
        if self._cache is not None:
            self._cache.__exit__(None, None, None)
            self._cache = None

    def _exit_env(self) -> None:
        self._exit_cache()
        if self._env is not None:
            self._env.__exit__(None, None, None)
            self._env = None


class _BlockRows:
    """The internal blocks of a GeoTIFF not yet handed to GDAL, which leave in file order once their rows are final.

    A block starts as nodata (what GDAL fills a new block with). A block that received only constant tiles (the
    empty tiles of a count, 0) is kept as the list of those constants, an array only once pixels come or when it
    is handed over, one block at a time: the rows still being computed cost memory where they hold pixels.

    Examples
    --------
    >>> from affine import Affine
    >>> g = Grid(40, 40, Affine(1, 0, 0, 0, -1, 40), None, 10)
    >>> rows = _BlockRows(g, (16, 16), 1, np.dtype("float32"), -9999.0)
    >>> rows.put(Window(10, 0, 10, 20), np.ones((1, 20, 10), "float32"))
    >>> rows.fill(Window(30, 0, 10, 10), [0.0])
    >>> [(w.col_off, w.row_off, w.width, w.height) for w, _ in rows.complete_above(20)]  # block row 0 is final
    [(0, 0, 16, 16), (16, 0, 16, 16), (32, 0, 8, 15), (32, 15, 8, 1)]
    >>> w, d = next(rows.complete_above(40))
    >>> (w.row_off, w.height), d[0, 3:5, 10:12].tolist()  # rows 16-19 written, the rest nodata
    ((16, 16), [[1.0, 1.0], [-9999.0, -9999.0]])
    """

    def __init__(self, grid: Grid, block: tuple[int, int], bands: int, dtype: np.dtype, nodata: float) -> None:
        self.height, self.width = grid.height, grid.width
        self.bh, self.bw = block
        self.bands, self.dtype = bands, np.dtype(dtype)
        self.fill_value = np.asarray(nodata).astype(self.dtype) if nodata is not None else self.dtype.type(0)
        self.blocks: dict[tuple[int, int], np.ndarray | list] = {}  # an array, or a list of (slices, values)
        self.whole: dict[tuple[int, int], bool] = {}  # whether the block's first piece covered all its pixels
        self.next_row = 0  # the first block row not handed over yet

    def _window(self, by: int, bx: int) -> Window:
        r0, c0 = by * self.bh, bx * self.bw
        return Window(c0, r0, min(self.bw, self.width - c0), min(self.bh, self.height - r0))

    def _pieces(self, window: Window):
        """``(block key, its slices, the window's slices)`` of each block ``window`` meets."""
        r0, c0 = window.row_off, window.col_off
        r1, c1 = r0 + window.height, c0 + window.width
        for by in range(r0 // self.bh, -(-r1 // self.bh)):
            if by < self.next_row:
                raise RuntimeError(f"pixels of row {max(r0, by * self.bh)} arrived after it was declared final")
            for bx in range(c0 // self.bw, -(-c1 // self.bw)):
                bw = self._window(by, bx)
                y0, y1 = max(r0, bw.row_off), min(r1, bw.row_off + bw.height)
                x0, x1 = max(c0, bw.col_off), min(c1, bw.col_off + bw.width)
                if (by, bx) not in self.blocks:
                    self.blocks[(by, bx)] = []
                    self.whole[(by, bx)] = (y1 - y0, x1 - x0) == (bw.height, bw.width)
                yield (
                    (by, bx),
                    (slice(y0 - bw.row_off, y1 - bw.row_off), slice(x0 - bw.col_off, x1 - bw.col_off)),
                    (slice(y0 - r0, y1 - r0), slice(x0 - c0, x1 - c0)),
                )

    def _array(self, key: tuple[int, int]) -> np.ndarray:
        """The block's pixels as an array (made from its constants the first time)."""
        arr = self.blocks[key]
        if isinstance(arr, list):
            w = self._window(*key)
            fills, arr = arr, np.full((self.bands, w.height, w.width), self.fill_value)
            for inner, vals in fills:
                arr[(slice(None), *inner)] = vals[:, None, None]
            self.blocks[key] = arr
        return arr

    def put(self, window: Window, data: np.ndarray) -> None:
        """Store ``data`` (bands, rows, cols) over ``window``."""
        for key, inner, outer in self._pieces(window):
            self._array(key)[(slice(None), *inner)] = data[(slice(None), *outer)]

    def fill(self, window: Window, values: Sequence[float]) -> None:
        """Set band ``i`` to ``values[i]`` over ``window``."""
        vals = np.asarray(values).astype(self.dtype)
        for key, inner, _outer in self._pieces(window):
            block = self.blocks[key]
            if isinstance(block, list):
                block.append((inner, vals))
            else:
                block[(slice(None), *inner)] = vals[:, None, None]

    def complete_above(self, row: int) -> Iterator[tuple[Window, np.ndarray]]:
        """Take the blocks of the block rows that end at or above pixel row ``row`` (all at the grid's bottom), in
        file order, as the writes that hand them to GDAL (one block's array at a time).

        A block is one write, except a block on the grid's right or bottom edge whose first piece did not cover
        all its pixels: GDAL filled such a block with nodata before the first piece went in, padding included
        (a write covering all its pixels leaves GDAL's fresh buffer as it is), so it is handed over in two
        writes, the first one partial, to get the same padding.
        """
        last = row // self.bh if row < self.height else -(-self.height // self.bh)  # block rows before it
        rows = range(self.next_row, last)
        self.next_row = max(self.next_row, last)
        keys = sorted(k for k in self.blocks if k[0] in rows)
        for key in keys:
            w, d = self._window(*key), self._array(key)
            del self.blocks[key]
            edge = (w.height, w.width) != (self.bh, self.bw)
            if self.whole.pop(key) or not edge:
                yield w, d
            elif w.height > 1:
                yield Window(w.col_off, w.row_off, w.width, w.height - 1), d[:, :-1]
                yield Window(w.col_off, w.row_off + w.height - 1, w.width, 1), d[:, -1:]
            else:
                yield Window(w.col_off, w.row_off, w.width - 1, 1), d[:, :, :-1]
                yield Window(w.col_off + w.width - 1, w.row_off, 1, 1), d[:, :, -1:]
            del d
