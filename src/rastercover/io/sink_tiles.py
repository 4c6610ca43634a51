"""A tile folder: one GeoTIFF per output tile (``r{row}_c{col}.tif``) and ``index.vrt`` mosaicking them.

The folder is built in place under the stable name ``.{name}.partial`` beside the target (see
:mod:`rastercover.io.resume`) and renamed when complete. Each tile file is written under a temporary name and
renamed, so a tile file under its final name is complete: that is how a resumed run (``resume=True``) knows
which tiles an interrupted run finished. Memory does not grow with the number of tiles: each tile file is
written and closed at once, and ``index.vrt`` is written band by band, tile by tile (its text for 15 bands of
10000 tiles is 60 MB). A tile is encoded in memory and its bytes written by Python, so a failed write (a
full disk) raises at once and never leaves a tile file that looks complete (see :mod:`rastercover.io.checked`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from xml.sax.saxutils import escape

import numpy as np

from ..grid import TILE_STEM, Grid, Tile, Window
from .atomic import check_target, commit, discard
from .checked import checks_writes, encode_raster
from .gtiff import constant_block, gtiff_profile
from .gtiff_template import ConstantTile
from .pam import band_class_lines
from .resume import (
    JobInfo,
    PartialOutput,
    drop_marks,
    job_fingerprint,
    partial_sibling,
    release_partial,
    resolve_job,
    start_partial,
)
from .vrt import gdal_type_name, vrt_xml

__all__ = ["TileFolderSink", "TileWriter", "constant_values", "write_vrt"]


class TileWriter:
    """Writes tile files into a folder; picklable, so worker processes write their tiles themselves.

    Each file is written under a hidden temporary name and renamed: a file named ``r{row}_c{col}.tif`` is
    always complete. Constant tiles (the empty tiles of ``extent="full"``) are encoded once per size and
    values and copied with their own origin (:class:`~rastercover.io.gtiff_template.ConstantTile`).
    """

    def __init__(
        self, folder: str, bands: Sequence[str], dtype: np.dtype, nodata: float, output_label: str | None = None
    ) -> None:
        self.folder, self.bands, self.dtype, self.nodata = folder, list(bands), np.dtype(dtype), nodata
        self.output_label = output_label or folder
        self.failure_note: str | None = None
        self._profiles: dict[tuple[int, int], dict] = {}
        self._constants: dict[tuple, ConstantTile | None] = {}

    @property
    def local_path(self) -> str:
        """The folder the tiles go to (workers that do not see it must not write)."""
        return self.folder

    def stores_nothing_for(self, values: Sequence[float]) -> bool:
        """Every tile is a file: constant tiles are written too."""
        return False

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_profiles"], state["_constants"] = {}, {}  # caches are rebuilt in the process that writes
        return state

    def _profile(self, tile: Tile) -> dict:
        """The creation options of ``tile``'s file (cached per tile size: the CRS is converted once)."""
        tg = tile.grid
        key = (tg.width, tg.height)
        base = self._profiles.get(key)
        if base is None:
            tiled = tg.tile_width % 16 == 0 and tg.tile_height % 16 == 0 and tg.width >= 16 and tg.height >= 16
            base = gtiff_profile(tg, len(self.bands), self.dtype, self.nodata, tiled=tiled)
            if tiled:
                base.update(blockxsize=min(tg.tile_width, 1024), blockysize=min(tg.tile_height, 1024))
                base.pop("sparse_ok", None)
            self._profiles[key] = base
        return {**base, "transform": tg.transform}

    def _put(self, tile: Tile, write) -> None:
        """Create ``tile``'s file by calling ``write(temporary path)``, then rename it to its name."""
        final = os.path.join(self.folder, f"{tile.name}.tif")
        tmp = os.path.join(self.folder, f".{tile.name}.part-{uuid.uuid4().hex[:12]}.tif")
        try:
            write(tmp)
            os.replace(tmp, final)
        except BaseException:
            discard(tmp)
            raise

    @property
    def write_path(self) -> str:
        """Where the bytes go (for the free-space figure of an error)."""
        return self.folder

    def _write_tile(self, tile: Tile, data: np.ndarray) -> None:
        def fill(ds) -> None:
            ds.write(data)
            for i, name in enumerate(self.bands, start=1):
                ds.set_band_description(i, name)

        self._store(tile, encode_raster(self._profile(tile), fill))

    def _copy_tile(self, tile: Tile, encoded: bytes) -> None:
        """Store a constant tile rendered from its template."""
        self._store(tile, encoded)

    def _store(self, tile: Tile, encoded: bytes) -> None:
        """Write ``tile``'s file from its bytes (a failed write raises: see :mod:`rastercover.io.checked`)."""

        def copy(path: str) -> None:
            with open(path, "wb") as f:
                f.write(encoded)

        self._put(tile, copy)

    @checks_writes
    def write(self, window: Window, data: np.ndarray, tiles: Sequence[Tile]) -> None:
        """Write each tile's part of ``data`` (which covers ``window``); a tile whose bands are each one value
        (a tile of a busy block that no feature reaches) is copied from its constant template."""
        for t in tiles:
            part = data[(slice(None), *t.window.relative_to(window).slices)]
            values = constant_values(part)
            if values is None:
                self._write_tile(t, part)
            else:
                self._write_constant_tile(t, values)

    @checks_writes
    def write_constant(self, tiles: Sequence[Tile], values: Sequence[float]) -> None:
        """Write tiles whose band ``i`` is ``values[i]`` everywhere."""
        values = np.asarray(values, dtype=self.dtype)
        for t in tiles:
            self._write_constant_tile(t, values)

    def _write_constant_tile(self, tile: Tile, values: np.ndarray) -> None:
        key = (tile.window.width, tile.window.height, values.tobytes())
        if key not in self._constants:
            pixels = constant_block(tile.window.height, tile.window.width, values, self.dtype)
            self._constants[key] = ConstantTile.build(self._profile(tile), pixels, self.bands)
        template = self._constants[key]
        if template is not None:
            self._copy_tile(tile, template.render(tile.grid.transform))
        else:
            self._write_tile(tile, constant_block(tile.window.height, tile.window.width, values, self.dtype))


class _Pairs(Sequence):
    """``(row, col)`` pairs of two index arrays (``np.nonzero``'s: row-major), made when asked for."""

    def __init__(self, rows: np.ndarray, cols: np.ndarray) -> None:
        self.rows, self.cols = rows, cols

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):
        return int(self.rows[i]), int(self.cols[i])

    def __iter__(self):
        return zip(self.rows.tolist(), self.cols.tolist(), strict=True)


def write_vrt(
    f,
    grid: Grid,
    bands: Sequence[str],
    dtype,
    nodata: float,
    tiles: Sequence[tuple[int, int]],
    band_lines: Sequence[Sequence[str]] = (),
) -> None:
    """Write to the text file ``f`` the text of :func:`~rastercover.io.vrt.vrt_xml` mosaicking the tiles ``(row,
    col)`` of ``grid``, a tile at a time: the whole text (60 MB for 15 bands of 10000 tiles) is never in memory.

    The header and each band's opening come from :func:`~rastercover.io.vrt.vrt_xml` itself (a band with no tile);
    a tile's source is written here, as ``vrt_xml`` writes it (``tests/test_streaming.py`` compares the two).

    Examples
    --------
    >>> import io
    >>> from affine import Affine
    >>> g = Grid(250, 100, Affine(1, 0, 0, 0, -1, 100), "EPSG:3857", 100)
    >>> f = io.StringIO()
    >>> write_vrt(f, g, ["A", "B"], "int16", -1, [(0, 0), (0, 2)])
    >>> f.getvalue() == vrt_xml(g, ["A", "B"], "int16", -1, [g.tile(0, 0), g.tile(0, 2)])
    True
    """
    gdal_type = gdal_type_name(dtype)
    text = vrt_xml(grid, bands, dtype, nodata, [], band_lines)  # header, then per band its opening and closing
    close_band = "  </VRTRasterBand>\n"
    parts = text.split(close_band)  # [header + band 1 opening, band 2 opening, ..., end of the dataset]
    for i, opening in enumerate(parts[:-1], start=1):
        f.write(opening)
        for r, c in tiles:
            tile = grid.tile(r, c)
            w = tile.window
            f.write(
                "    <SimpleSource>\n"
                f'      <SourceFilename relativeToVRT="1">{tile.name}.tif</SourceFilename>\n'
                f"      <SourceBand>{i}</SourceBand>\n"
                f'      <SourceProperties RasterXSize="{w.width}" RasterYSize="{w.height}" DataType="{gdal_type}"/>\n'
                f'      <SrcRect xOff="0" yOff="0" xSize="{w.width}" ySize="{w.height}"/>\n'
                f'      <DstRect xOff="{w.col_off}" yOff="{w.row_off}" xSize="{w.width}" ySize="{w.height}"/>\n'
                "    </SimpleSource>\n"
            )
        f.write(close_band)
    f.write(parts[-1])


def constant_values(data: np.ndarray) -> np.ndarray | None:
    """The value of each band of ``data`` (bands, rows, cols) when each band is one value throughout, else None.

    Values are compared bit for bit (a NaN equals a NaN of the same payload, -0.0 differs from 0.0), so a tile
    copied from a constant template holds exactly the bits it was given.

    Examples
    --------
    >>> constant_values(np.array([[[0, 0], [0, 0]], [[7, 7], [7, 7]]], dtype="int16")).tolist()
    [0, 7]
    >>> constant_values(np.array([[[np.nan, 1.0]]])) is None
    True
    """
    flat = data.reshape(data.shape[0], -1)
    if flat.shape[1] == 0:
        return None
    bits = flat.view(np.dtype(f"u{flat.dtype.itemsize}")) if flat.dtype.kind == "f" else flat
    return flat[:, 0].copy() if bool((bits == bits[:, :1]).all()) else None


class TileFolderSink(PartialOutput):
    """Write each tile as its own GeoTIFF in the folder ``path``, plus ``index.vrt``.

    Tile files are independent, so the engine lets worker processes write them (:meth:`detached_writer`)
    and only records here which tiles exist.

    Parameters
    ----------
    path
        The output folder.
    overwrite
        Replace an existing folder.
    resume
        Continue the partial folder ``.{name}.partial`` that an interrupted ``resume=True`` run left (after
        checking it was the same job: source, filter, methods, grid, type, nodata; ``job`` says what of the
        job beyond the grid and bands the output records): its tile files are kept and
        only missing tiles are computed. When this run fails too, its partial folder is kept for the next
        ``resume=True`` run. Without ``resume`` a partial folder is started afresh and removed on failure.
    """

    def __init__(
        self, path: str | os.PathLike, *, overwrite: bool = False, resume: bool = False, job: JobInfo = None
    ) -> None:
        self.path = os.fspath(path)
        self.job = job
        check_target(self.path, overwrite=overwrite)
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            from ..errors import OutputError

            raise OutputError(f"{self.path} is a file; a tile folder output needs a folder name")
        self.resume = resume
        self._tmp: str | None = None
        self._written: np.ndarray | None = None  # which tiles of the layout have their file: one byte a tile
        self._done: set[tuple[int, int]] = set()
        self._writer: TileWriter | None = None

    label = "tile folder"

    @checks_writes
    def open(self, grid: Grid, bands: Sequence[str], dtype: np.dtype, nodata: float) -> None:
        self.grid, self.bands, self.dtype, self.nodata = grid, list(bands), np.dtype(dtype), nodata
        tmp = partial_sibling(self.path)
        fingerprint = job_fingerprint(grid, self.bands, self.dtype, nodata, resolve_job(self.job))
        continuing = start_partial(tmp, resume=self.resume, fingerprint=fingerprint, what=self.path)
        self._tmp = tmp  # ours from here on (refused above when a live run or another job holds it: not ours to clean)
        self._written = np.zeros(grid.tile_layout, dtype=bool)
        if continuing:
            self._done = self._tile_files()
            for r, c in self._done:
                self._written[r, c] = True
        self._writer = TileWriter(self._tmp, bands, dtype, nodata, output_label=self.path)
        self._writer.failure_note = self.failure_note

    def _tile_files(self) -> set[tuple[int, int]]:
        """Tiles whose file exists in the partial folder (complete: tile files appear by rename)."""
        rows, cols = self.grid.tile_layout
        found = set()
        for name in os.listdir(self._tmp):
            stem, ext = os.path.splitext(name)
            m = TILE_STEM.match(stem)
            if ext == ".tif" and m and int(m[1]) < rows and int(m[2]) < cols:
                found.add((int(m[1]), int(m[2])))
        return found

    def done_tiles(self) -> set[tuple[int, int]]:
        """Tiles an interrupted run already wrote (resuming); the engine skips them."""
        return set(self._done)

    def detached_writer(self) -> TileWriter:
        """A writer that worker processes use directly; report what they wrote with :meth:`record`."""
        return self._writer

    def record(self, tiles: Sequence[Tile]) -> None:
        """Note tiles written by a detached writer."""
        for t in tiles:
            self._written[t.row, t.col] = True

    def write(self, window: Window, data: np.ndarray, tiles: Sequence[Tile]) -> None:
        self._writer.write(window, data, tiles)
        self.record(tiles)

    def write_constant(self, tiles: Sequence[Tile], values: Sequence[float]) -> None:
        self._writer.write_constant(tiles, values)
        self.record(tiles)

    @checks_writes
    def close(self) -> str:
        drop_marks(self._tmp)
        for name in os.listdir(self._tmp):  # leftovers of tile writes that an interruption cut short
            if name.startswith("."):
                discard(os.path.join(self._tmp, name))
        with open(os.path.join(self._tmp, "index.vrt"), "w", encoding="utf-8") as f:
            write_vrt(f, self.grid, self.bands, self.dtype, self.nodata, _Pairs(*np.nonzero(self._written)),
                      getattr(self, "_band_lines", ()))  # fmt: skip
        commit(self._tmp, self.path)
        self._tmp = None
        return self.path

    def describe_bands(self, bands: Sequence[dict]) -> None:
        """Describe each band in ``index.vrt``: its metadata items, and its class names as category names and a
        raster attribute table (:func:`rastercover.io.pam.band_class_lines`), which GDAL and QGIS read with it."""
        self._band_lines = [
            [
                "    <Metadata>",
                *(f'      <MDI key="{escape(k)}">{escape(v)}</MDI>' for k, v in b.get("metadata", {}).items()),
                "    </Metadata>",
                *(band_class_lines(b["classes"], "    ") if b.get("classes") else []),
            ]
            for b in bands
        ]

    def abort(self) -> None:
        """Remove the partial folder, or keep it (``resume=True``) for a later run to continue."""
        if self._tmp and not self.resume:
            discard(self._tmp)
        elif self._tmp:  # kept for a later run, from any process
            release_partial(self._tmp)
        self._tmp = None
