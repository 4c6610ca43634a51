"""The small protocols the engine sees: a vector source and a raster sink.

Backends implement them (``FileVectorSource``, ``MemoryVectorSource``, ``GeoTiffSink``, ``TileFolderSink``,
``MemorySink`` ...); the engine never imports a concrete backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .crs import CRS
from .features import Features
from .grid import Grid, Tile, Window

__all__ = ["DetachedWriter", "RasterCoverage", "RasterSink", "VectorSource"]


@runtime_checkable
class VectorSource(Protocol):
    """Features that can be read by bounding box.

    A source must be picklable (it travels to worker processes) and cheap to pickle: hold a path or a
    connection string, not the data, unless the data is small and in memory already.
    """

    @property
    def crs(self) -> CRS | None:
        """The CRS of the geometries, or None when unknown."""

    @property
    def bounds(self) -> tuple[float, float, float, float] | None:
        """Bounding box of all features in the source CRS, or None when empty."""

    def describe(self) -> str:
        """A short name for messages (a path and layer, a table)."""

    def read(self, bbox: tuple[float, float, float, float] | None) -> Features:
        """Features whose geometry may intersect ``bbox`` (in the source CRS); all when None."""


class DetachedWriter(Protocol):
    """Writes tiles of a sink from another process (a worker): picklable, holding no open handle.

    ``local_path`` is the file-system path the writer writes under (None for a database): a worker that does
    not see it must not write there (the engine then sends the pixels back to the sink instead).
    """

    local_path: str | None

    def write(self, window: Window, data: np.ndarray, tiles: Sequence[Tile]) -> None:
        """Write ``tiles``, all inside ``window``; ``data`` (bands, rows, cols) covers the window."""

    def write_constant(self, tiles: Sequence[Tile], values: Sequence[float]) -> None:
        """Write ``tiles`` whose every pixel of band ``i`` is ``values[i]``."""

    def stores_nothing_for(self, values: Sequence[float]) -> bool:
        """True when constant tiles of ``values`` need no write at all (a store's fill value)."""


class RasterSink(Protocol):
    """Where the engine hands finished tiles.

    Every sink implements every method: a sink that cannot resume answers ``done_tiles()`` with an empty set, one
    whose tiles cannot be written by other processes answers ``detached_writer()`` with None. ``label`` says
    what it writes ("GeoTIFF", "tile folder", "PostGIS raster table" ...).

    Two methods are optional: a sink with ``final_rows(row: int) -> None`` is told, before each block the engine
    hands it, that no later block writes above pixel row ``row`` (the single GeoTIFF uses it to write its internal
    blocks in file order, in bounded memory: :meth:`rastercover.io.sink_geotiff.GeoTiffSink.final_rows`); a sink
    with ``describe_bands(bands: Sequence[dict]) -> None`` gets, right after ``open``, per band
    ``{"metadata": {"METHOD": ..., "DESCRIPTION": ...}, "classes": {value: name} or None}`` (the GeoTIFF writes
    them into the file and its ``.aux.xml``, a tile folder into its ``index.vrt``; memory keeps them as the
    DataArray's attrs).
    """

    label: str

    def open(self, grid: Grid, bands: Sequence[str], dtype: np.dtype, nodata: float) -> None:
        """Prepare to receive tiles of ``grid``; fail here (before any work) when the output is unusable."""

    def done_tiles(self) -> set[tuple[int, int]]:
        """Tiles an interrupted run already wrote (after :meth:`open` of a resumed output); the engine skips them."""

    def detached_writer(self) -> DetachedWriter | None:
        """A writer worker processes use directly (then :meth:`record` what they wrote), or None."""

    def record(self, tiles: Sequence[Tile]) -> None:
        """Note ``tiles`` written by the detached writer."""

    def write(self, window: Window, data: np.ndarray, tiles: Sequence[Tile]) -> None:
        """Write ``tiles``, all inside ``window``; ``data`` (bands, rows, cols) covers the window."""

    def write_constant(self, tiles: Sequence[Tile], values: Sequence[float]) -> None:
        """Write ``tiles`` whose every pixel of band ``i`` is ``values[i]`` (empty tiles: cheap)."""

    def close(self) -> Any:
        """Finish: make the output appear under its final name, return what was written."""

    def abort(self) -> None:
        """Give up: remove everything written so far; the final name is left untouched."""


@runtime_checkable
class RasterCoverage(Protocol):
    """A raster coverage to read from: one raster file, a folder or VRT of aligned tiles, a PostGIS raster table.

    ``grid`` is the coverage's pixel lattice, with its storage tiles as the grid's tiles (a sparse grid when
    some are missing); reads are by pixel window of that grid and touch only the tiles the window needs.

    rastercover's own coverages also have ``name`` (a short name for output files), ``tile_ids``
    (``(row, col) -> id`` of stored tiles that the store numbers, a raster table's rids; else empty) and
    ``srid`` (a PostGIS SRID, else None). Any other object with the members below is a coverage too: the
    registry gives it those three from its ``describe()`` (:func:`rastercover.io.registry.open_coverage`).
    A coverage may also name the classes of its bands (the optional ``class_tables``: per band ``{value:
    name}`` or None), which an export carries to the formats that keep them.
    """

    @property
    def grid(self) -> Grid:
        """The coverage's pixel lattice and tiling (CRS included)."""

    @property
    def count(self) -> int:
        """Number of bands."""

    @property
    def dtype(self) -> np.dtype:
        """Pixel type of the bands (the widest one when they differ)."""

    @property
    def nodata(self) -> float | None:
        """Nodata value of the bands (None when they declare none)."""

    @property
    def band_names(self) -> tuple[str, ...]:
        """A description per band ("" when none)."""

    def describe(self) -> str:
        """A short name for messages (a path, a table)."""

    def read(self, window: Window, bands: Sequence[int] | None = None) -> np.ndarray:
        """Pixels of ``window`` as (bands, rows, cols); ``bands`` are 1-based, all when None.

        Pixels that no stored tile covers are ``nodata`` (0 when the coverage has none).
        """
