"""A raster coverage from a SQL query an application writes: every raster its rows return, mosaicked onto one grid.

This is for web applications written in Python (GeoDjango, Flask + GeoAlchemy2, plain psycopg): the
developer writes the query, the request only supplies *values* bound as parameters, and the rasters the rows
return are exported like any coverage (:func:`rastercover.export`, :func:`rastercover.export_file`: bbox,
clip, buffer, warp, every format)::

    cov = rastercover.open_coverage(connection, query="SELECT rast FROM landcover WHERE rid = %s", params=[2])
    cov = rastercover.open_coverage(session, query=select(LandCover.rast).where(LandCover.rid == 2))

**Never from HTTP clients.** A query is code: never build one from request text (bind values through
``params``, or an SQLAlchemy expression). The HTTP service (``rastercover serve``) has no way to run SQL: its
clients name catalogue coverages, features and typed parameters only.

The database
    A ``postgresql://`` DSN (a connection opened for the query and closed after it), a psycopg 3 connection, a
    Django connection (``django.db.connection``, ``connections["alias"]``), an SQLAlchemy ``Engine``,
    ``Connection`` or ``Session`` (``scoped_session`` too: Flask-SQLAlchemy's ``db.session``), or any other
    DB-API 2 connection to PostgreSQL (psycopg2...). On a connection or session of the application's, the query
    runs in a savepoint (psycopg's ``transaction()``, Django's ``atomic()``, SQLAlchemy's ``begin_nested()``),
    so a failing query leaves the application's transaction usable; nothing is committed or closed that
    rastercover did not open (:mod:`rastercover.io.query_runners`).
The query
    SQL text with the driver's placeholders (``%s``, ``%(name)s``) bound to ``params`` by the driver (never
    interpolated by rastercover), a ``psycopg.sql`` composition (psycopg and DSNs), or an SQLAlchemy /
    GeoAlchemy2 executable (``select(...)``, ``text(...)`` with ``:name`` parameters in ``params``), which runs
    through SQLAlchemy: on an SQLAlchemy database, or on a DSN through a temporary engine (``postgresql+psycopg``).
The raster column
    The one named by ``column=``, else the only column, else the one named ``rast``. Its values may be the
    ``raster`` type itself (psycopg and Django give its hex WKB text, GeoAlchemy2 a ``RasterElement``), the
    bytea of ``ST_AsBinary(rast)``, or a GDAL-encoded raster (``ST_AsGDALRaster``, ``ST_AsTIFF``: any format
    GDAL reads with its georeferencing). They are told apart by their content (the raster WKB header, or a
    file's own signature) and decoded in Python (:mod:`rastercover.io.raster_values`: raster WKB by
    :mod:`rastercover.io.wkb_raster`, GDAL bytes by rasterio), so the server's ``postgis.gdal_enabled_drivers``
    matters only to queries that call ``ST_As<format>`` themselves. NULL (and empty) rasters are skipped; a query
    that returns none is refused ("the query returned no raster").

The mosaic
    Every raster must share the CRS (SRID), pixel size, skew, band count, pixel types and per-band nodata of the
    first one, and have its origin on the first one's pixel lattice (within
    :data:`~rastercover.grid.ALIGN_TOL`, a millionth of a pixel); otherwise the error says what differs, in
    which rows, and what to put in the query (``ST_Transform``, ``ST_Resample``, ``ST_SnapToGrid``,
    ``ST_SetBandNoDataValue``...). The coverage's grid is the union of their extents. Where rows overlap, **the
    later row wins wherever it has data** (per band: its nodata pixels let the earlier rows show), which is
    ``ST_Union``'s default ``LAST``: order the rows (``ORDER BY``) to choose. Pixels that no raster covers are
    the band's nodata; when the rasters declare none and leave such gaps, the coverage declares the pixel type's
    minimum, as ``ST_Union`` does, so that a gap never reads as data. When the rasters form a regular tiling (a
    raster table's tiles: one size, edge tiles smaller, filling at least a quarter of their layout), the grid
    keeps it (its tiles are the rows' rasters, the grid sparse where none is); otherwise the grid is tiled
    256x256, holding the tiles some raster meets.

Memory
    The query runs **once**, when the coverage is opened: never again per chunk read (it may be costly, or not
    deterministic). Its rows are fetched a few at a time (a server-side or streamed cursor: psycopg's
    ``stream()``, Django's ``chunked_cursor()``, SQLAlchemy's ``stream_results``; other DB-API drivers such as
    psycopg2 get their whole result from the server at once, then ``fetchmany``) and each raster is decoded
    alone, checked, and kept. Decoded pixels are kept in memory up to ``memory_limit`` bytes
    (:data:`MEMORY_LIMIT`, 64 MiB, by default); past it, every raster is written to a ``.npy`` file in a
    temporary folder (under ``spill_dir``, default the system's temporary folder) and read back through a
    memory map, only the part a window needs. So memory holds at most ``memory_limit`` of pixels plus the few
    rows being fetched and the raster being decoded, and the disk the decoded rasters (what the query returned:
    restrict it in the query). The folder is deleted by :meth:`QueryCoverage.close` (or a ``with`` block), else
    when the coverage is garbage collected. Reads paste the rasters a window meets, in row order. Coverage
    classes have no identity or fingerprint method (only vector sources do); a query coverage has none either.

Examples
--------
:func:`mosaic_rasters` builds the same coverage from raster values already at hand (no database):

>>> import numpy as np
>>> from affine import Affine
>>> from rastercover.grid import Window
>>> from rastercover.io.wkb_raster import encode_raster
>>> left = encode_raster(np.array([[1, 2], [3, 4]], "uint8"), Affine(10, 0, 0, 0, -10, 20), 32198, 0)
>>> right = encode_raster(np.array([[5, 6], [0, 8]], "uint8"), Affine(10, 0, 10, 0, -10, 30), 32198, 0)
>>> cov = mosaic_rasters([left, None, right.hex().upper()])     # WKB bytes, a NULL, the raster type's hex text
>>> cov.grid.shape, cov.grid.bounds, cov.dtype, cov.nodata
((3, 3), (0.0, 0.0, 30.0, 30.0), dtype('uint8'), 0.0)
>>> cov.read(Window(0, 0, 3, 3))[0].tolist()      # the later row wins where it has data (not its 0); gaps: 0
[[0, 5, 6], [1, 2, 8], [3, 4, 0]]
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from affine import Affine

from ..crs import CRS, as_crs, crs_label, same_crs
from ..errors import AlignmentError, CRSError, InputError, MissingColumnError, SourceError
from ..grid import ALIGN_TOL, Grid, TileSet, Window
from .query_runners import QueryRunner, runner_for
from .raster_values import DecodedRaster, decode_raster_value

__all__ = ["MEMORY_LIMIT", "QueryCoverage", "mosaic_rasters", "open_query_coverage"]

#: Bytes of decoded pixels a query coverage keeps in memory before it writes its rasters to a temporary folder.
MEMORY_LIMIT = 64 * 2**20

_SCALE_RTOL = 1e-9  # pixel size and skew: relative to the pixel size (Grid.aligned_with's tolerance)
_MAX_TILE_PIXELS = 2048 * 2048  # a regular tiling of bigger rasters is read through 256x256 tiles instead


# ====================================================================================== the mosaic
def _same_value(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


def _fmt(v: float | None) -> str:
    return "none" if v is None else f"{v:g}"


class _Mosaic:
    """Checks each raster against the first one, places it on its lattice, keeps it (in memory, then on disk)."""

    def __init__(self, what: str, memory_limit: int, spill_dir: str | None) -> None:
        self.what = what
        self.memory_limit = int(memory_limit)
        self.spill_dir = spill_dir
        self.rasters: list[DecodedRaster] = []
        self.in_memory: list[DecodedRaster] = []  # the rasters whose pixels are in memory
        self.ref: DecodedRaster | None = None
        self.held = 0  # bytes of decoded pixels in memory
        self.folder: str | None = None
        self.skipped = 0
        self.other_crs: dict[Any, int] = {}  # CRS identities of another kind than the first raster's -> first row

    def add(self, raster: DecodedRaster | None) -> None:
        if raster is None:
            self.skipped += 1
            return
        if self.ref is None:
            self.ref = raster
        else:
            self._check(raster)
        self._place(raster)
        self.rasters.append(raster)
        self.in_memory.append(raster)
        self.held += raster.data.nbytes if raster.data is not None else 0
        if self.folder is not None or self.held > self.memory_limit:
            self._spill()

    # ---------------------------------------------------------------- checks
    def _check(self, r: DecodedRaster) -> None:
        ref, what = self.ref, self.what
        assert ref is not None
        pair = f"row {r.row}'s raster and row {ref.row}'s"
        if (r.srid is None) != (ref.srid is None):  # raster WKB and GDAL-encoded: compared once SRIDs are known
            self.other_crs.setdefault(r.srid if r.srid is not None else r.crs, r.row)
        elif r.srid is not None and r.srid != ref.srid:
            raise AlignmentError(
                f"{what}: {pair} have different SRIDs ({r.srid} and {ref.srid}): transform them to one in the query "
                f"(ST_Transform(rast, {ref.srid}), or ST_Transform(rast, ref) onto a reference raster's grid)"
            )
        elif r.srid is None and not same_crs(r.crs, ref.crs):
            raise AlignmentError(
                f"{what}: {pair} are in different CRSs ({r.crs_text} and {ref.crs_text}): transform them to one in "
                "the query (ST_Transform)"
            )
        a, b = r.transform, ref.transform
        size = max(abs(b.a), abs(b.e), abs(b.b), abs(b.d))
        if max(abs(a.a - b.a), abs(a.e - b.e)) > _SCALE_RTOL * size:
            raise AlignmentError(
                f"{what}: {pair} have different pixel sizes ({a.a:g} x {a.e:g} and {b.a:g} x {b.e:g}): resample "
                f"them onto one grid in the query (ST_Resample(rast, ref), or ST_Rescale(rast, {abs(b.a):g}, "
                f"{abs(b.e):g}) with ST_SnapToGrid)"
            )
        if max(abs(a.b - b.b), abs(a.d - b.d)) > _SCALE_RTOL * size:
            raise AlignmentError(
                f"{what}: {pair} have different skews ({a.b:g}, {a.d:g} and {b.b:g}, {b.d:g}): resample them onto "
                "one grid in the query (ST_Resample(rast, ref))"
            )
        if r.count != ref.count:
            raise SourceError(
                f"{what}: {pair} have {r.count} and {ref.count} band(s): select the same bands in every row "
                "(ST_Band(rast, ARRAY[1, ...]))"
            )
        for band, (t, t0) in enumerate(zip(r.types, ref.types, strict=True), start=1):
            if t != t0:
                raise SourceError(
                    f"{what}: band {band} is {t} in row {r.row} and {t0} in row {ref.row}: give it one pixel type "
                    f"in the query (e.g. ST_MapAlgebra(rast, {band}, '{t0}', '[rast]'))"
                )
        for band, (v, v0) in enumerate(zip(r.nodata, ref.nodata, strict=True), start=1):
            if not _same_value(v, v0):
                raise SourceError(
                    f"{what}: band {band} has nodata {_fmt(v)} in row {r.row} and {_fmt(v0)} in row {ref.row}: "
                    f"give every row the same nodata in the query (ST_SetBandNoDataValue(rast, {band}, VALUE))"
                )

    def _place(self, r: DecodedRaster) -> None:
        """The raster's pixel offset on the first raster's lattice (refused when off it)."""
        ref = self.ref
        assert ref is not None
        col, row = ~ref.transform @ (r.transform.c, r.transform.f)
        ci, ri = round(col), round(row)
        if abs(col - ci) > ALIGN_TOL or abs(row - ri) > ALIGN_TOL:
            t = ref.transform
            raise AlignmentError(
                f"{self.what}: row {r.row}'s raster is not on the pixel lattice of row {ref.row}'s (its origin is "
                f"{col - ci:+.3g}, {row - ri:+.3g} px off): align it in the query (ST_SnapToGrid(rast, {t.c!r}, "
                f"{t.f!r}), or ST_Resample(rast, ref) onto a reference raster)"
            )
        r.col, r.row_px = int(ci), int(ri)

    # ---------------------------------------------------------------- memory
    def _spill(self) -> None:
        """Write the rasters held in memory to the temporary folder (made on the first spill), one file each."""
        if self.folder is None:
            self.folder = tempfile.mkdtemp(prefix="rastercover-query-", dir=self.spill_dir)
        for r in self.in_memory:
            path = os.path.join(self.folder, f"{r.row:08d}.npy")
            np.save(path, r.data, allow_pickle=False)
            r.path, r.data = path, None
        self.in_memory.clear()
        self.held = 0

    def discard(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

    # ---------------------------------------------------------------- the result
    def finish(self, crs_of_srid: Callable[[int], CRS | None], name: str) -> QueryCoverage:
        ref = self.ref
        if ref is None:
            detail = f": its {self.skipped} row(s) hold NULL or empty rasters" if self.skipped else ": no row"
            raise SourceError(f"{self.what}: the query returned no raster{detail}")
        crs = crs_of_srid(ref.srid) if ref.srid is not None else ref.crs
        for key, row in self.other_crs.items():
            other = crs_of_srid(key) if isinstance(key, int) else key
            if not same_crs(other, crs):
                raise AlignmentError(
                    f"{self.what}: row {row}'s raster and row {ref.row}'s are in different CRSs "
                    f"({crs_label(other) if other is not None else 'no CRS'} and "
                    f"{crs_label(crs) if crs is not None else 'no CRS'}): transform them to one in the query "
                    "(ST_Transform)"
                )
        grid, cols, rows = _grid_of(self.rasters, crs)
        nodata = tuple(ref.nodata)
        if None in nodata and _has_gaps(self.rasters, cols, rows, grid):
            # pixels no raster gives must read as nodata, never as 0: declare one, the type's minimum, as ST_Union
            low = np.iinfo(ref.dtype).min if ref.dtype.kind in "iu" else np.finfo(ref.dtype).min
            nodata = tuple(float(low) if v is None else v for v in nodata)
        return QueryCoverage(
            _grid=grid, _rasters=tuple(self.rasters), _cols=cols, _rows=rows, _dtype=ref.dtype, _nodata=nodata,
            _types=ref.types, _names=ref.names, _srid=ref.srid, _name=name, _what=self.what, _folder=self.folder,
            _skipped=self.skipped,
        )  # fmt: skip


def _has_gaps(rasters: Sequence[DecodedRaster], cols: np.ndarray, rows: np.ndarray, grid: Grid) -> bool:
    """True when the rasters' extents leave pixels of ``grid`` uncovered (a union of boxes in pixel units)."""
    import shapely

    boxes = shapely.box(cols, rows, cols + [r.width for r in rasters], rows + [r.height for r in rasters])
    return bool(shapely.union_all(boxes).area < grid.width * grid.height)


def _grid_of(rasters: Sequence[DecodedRaster], crs: CRS | None) -> tuple[Grid, np.ndarray, np.ndarray]:
    """The union grid of the placed rasters (anchored on the upper-left one's own header) and their offsets."""
    ci = np.array([r.col for r in rasters], dtype=np.int64)
    ri = np.array([r.row_px for r in rasters], dtype=np.int64)
    wi = np.array([r.width for r in rasters], dtype=np.int64)
    hi = np.array([r.height for r in rasters], dtype=np.int64)
    k = int(np.lexsort((ci, ri))[0])  # the grid's bits do not depend on the order of the rows
    c0, r0 = int(ci.min()), int(ri.min())
    transform = rasters[k].transform @ Affine.translation(c0 - int(ci[k]), r0 - int(ri[k]))
    ci, ri = ci - c0, ri - r0
    width, height = int((ci + wi).max()), int((ri + hi).max())
    tw, th = int(wi.max()), int(hi.max())
    regular = bool(
        np.all((ci % tw == 0) & (ri % th == 0) & ((wi == tw) | (ci + wi == width)) & ((hi == th) | (ri + hi == height)))
    )
    index = list(zip((ri // th).tolist(), (ci // tw).tolist(), strict=True))
    layout = -(-height // th) * -(-width // tw)
    if regular and len(set(index)) == len(index) and tw * th <= _MAX_TILE_PIXELS and 4 * len(index) >= layout:
        lattice = Grid(width, height, transform, crs, tile_size=(tw, th))
        origins = {}
        for r, idx in zip(rasters, index, strict=True):
            t = lattice.tile(*idx).grid.transform
            if (t.c, t.f) != (r.transform.c, r.transform.f):  # PostGIS computes a tile's pixels from its header
                origins[idx] = (r.transform.c, r.transform.f)
        return lattice.with_tiles(TileSet(lattice.tile_layout, index, origins)), ci, ri
    lattice = Grid(width, height, transform, crs)
    ts_w, ts_h = lattice.tile_size
    mask = np.zeros(lattice.tile_layout, dtype=bool)
    for c, r, w, h in zip(ci.tolist(), ri.tolist(), wi.tolist(), hi.tolist(), strict=True):
        mask[r // ts_h : -(-(r + h) // ts_h), c // ts_w : -(-(c + w) // ts_w)] = True
    return lattice.with_tiles(TileSet(lattice.tile_layout, mask)), ci, ri


# ====================================================================================== the coverage
@dataclass(eq=False)
class QueryCoverage:
    """The rasters a query returned, mosaicked on one grid: a :class:`~rastercover.protocols.RasterCoverage`.

    Made by :func:`open_query_coverage` (``rastercover.open_coverage(db, query=...)``) or :func:`mosaic_rasters`.
    It holds the decoded rasters (in memory, or in a temporary folder past ``memory_limit``): reading never runs
    the query again. :meth:`close` (or a ``with`` block) frees them at once.
    """

    _grid: Grid
    _rasters: tuple[DecodedRaster, ...]
    _cols: np.ndarray
    _rows: np.ndarray
    _dtype: np.dtype
    _nodata: tuple[float | None, ...]
    _types: tuple[str, ...]
    _names: tuple[str, ...]
    _srid: int | None
    _name: str
    _what: str
    _folder: str | None
    _skipped: int = 0

    def __post_init__(self) -> None:
        self._widths = np.array([r.width for r in self._rasters], dtype=np.int64)
        self._heights = np.array([r.height for r in self._rasters], dtype=np.int64)
        self._closed = False
        self._finalizer = (
            weakref.finalize(self, shutil.rmtree, self._folder, True) if self._folder is not None else None
        )

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_finalizer"] = None  # a copy reads the same folder; the original deletes it
        return state

    # ------------------------------------------------------------------ the RasterCoverage protocol
    @property
    def grid(self) -> Grid:
        """The union of the rasters' extents on their common pixel lattice (CRS included)."""
        return self._grid

    @property
    def count(self) -> int:
        """Number of bands."""
        return len(self._types)

    @property
    def dtype(self) -> np.dtype:
        """numpy type of the pixels (the widest of the bands' when they differ)."""
        return self._dtype

    @property
    def nodata(self) -> float | None:
        """Nodata value of the first band; see :attr:`nodatas`. None when the rasters declare none and cover the
        whole grid; where they leave gaps, the pixel type's minimum (as ``ST_Union`` declares)."""
        return self._nodata[0]

    @property
    def nodatas(self) -> tuple[float | None, ...]:
        """Nodata value of each band."""
        return self._nodata

    @property
    def band_names(self) -> tuple[str, ...]:
        """Band descriptions (GDAL-encoded rasters may carry some; PostGIS bands have none: "")."""
        return self._names

    @property
    def pixel_types(self) -> tuple[str, ...]:
        """PostGIS pixel type of each band (``8BUI``, ``32BF``...)."""
        return self._types

    @property
    def name(self) -> str:
        """A short name for output files: the first table the query reads from, else ``query``."""
        return self._name

    @property
    def srid(self) -> int | None:
        """The rasters' SRID (None for GDAL-encoded rasters, which carry a CRS)."""
        return self._srid

    @property
    def crs(self) -> CRS | None:
        """The rasters' CRS."""
        return self._grid.crs

    @property
    def tile_ids(self) -> dict[tuple[int, int], int]:
        """A query's rows carry no stored tile ids."""
        return {}

    @property
    def rasters(self) -> int:
        """How many rasters the query returned (NULL and empty ones not counted)."""
        return len(self._rasters)

    @property
    def spilled(self) -> bool:
        """True when the rasters are kept in a temporary folder rather than in memory."""
        return self._folder is not None

    def describe(self) -> str:
        """The query and the database, for messages (no password)."""
        return self._what

    def __repr__(self) -> str:
        bands = f"{self.count} band(s) {self._dtype.name}"
        return f"QueryCoverage({self._what}, {self.rasters} raster(s), {bands}, {self._grid!r})"

    def read(self, window: Window, bands: Sequence[int] | None = None) -> np.ndarray:
        """Pixels of ``window`` as (bands, rows, cols); ``bands`` are 1-based, all when None.

        The rasters the window meets are pasted in the query's row order, each where it has data (a later row
        wins); pixels no raster gives are the band's nodata (0 only where no raster leaves a gap).
        """
        if self._closed:
            raise SourceError(f"{self._what}: the coverage is closed; open the query again")
        indexes = self._band_indexes(bands)
        out = np.empty((len(indexes), window.height, window.width), dtype=self._dtype)
        for i, b in enumerate(indexes):
            fill = self._nodata[b - 1]
            out[i] = 0 if fill is None else fill
        c0, r0 = window.col_off, window.row_off
        c1, r1 = c0 + window.width, r0 + window.height
        meets = (self._cols < c1) & (self._cols + self._widths > c0)
        meets &= (self._rows < r1) & (self._rows + self._heights > r0)
        picks = [b - 1 for b in indexes]
        for k in np.flatnonzero(meets).tolist():
            r = self._rasters[k]
            where = Window(int(self._cols[k]), int(self._rows[k]), int(self._widths[k]), int(self._heights[k]))
            inter = window.intersection(where)
            if inter is None:
                continue
            data = r.data if r.data is not None else np.load(r.path, mmap_mode="r", allow_pickle=False)  # type: ignore[arg-type]
            rs, cs = inter.relative_to(where).slices
            src = np.asarray(data[:, rs, cs][picks])
            dst = out[(slice(None), *inter.relative_to(window).slices)]
            for i, b in enumerate(indexes):
                nd = self._nodata[b - 1]
                if nd is None:
                    dst[i] = src[i]
                else:
                    has = ~np.isnan(src[i]) if (math.isnan(nd) and src.dtype.kind == "f") else src[i] != nd
                    np.copyto(dst[i], src[i], where=has)
            del data
        return out

    def _band_indexes(self, bands: Sequence[int] | None) -> list[int]:
        if bands is None:
            return list(range(1, self.count + 1))
        indexes = [int(b) for b in bands]
        bad = [b for b in indexes if not 1 <= b <= self.count]
        if bad or not indexes:
            raise InputError(
                f"{self._what}: no band {bad[0] if bad else '(none given)'}: the rasters have bands 1 to {self.count}"
            )
        return indexes

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Free the rasters (delete the temporary folder); reading afterwards is an error."""
        self._closed = True
        self._rasters = ()
        if self._finalizer is not None:
            self._finalizer()

    def __enter__(self) -> QueryCoverage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def mosaic_rasters(
    values: Iterable[Any],
    *,
    crs_of_srid: Callable[[int], Any] | Mapping[int, Any] | None = None,
    name: str = "rasters",
    what: str | None = None,
    memory_limit: int | None = None,
    spill_dir: str | None = None,
) -> QueryCoverage:
    """A coverage from raster values already fetched (what a query's raster column holds), mosaicked on one grid.

    Parameters
    ----------
    values
        Raster WKB (bytes, or the hex text of the ``raster`` type), GeoAlchemy2 ``RasterElement`` objects, or
        GDAL-encoded rasters (``ST_AsTIFF`` bytes...), in row order; ``None`` (NULL) is skipped.
    crs_of_srid
        The CRS of a raster WKB's SRID (a function or a mapping); default ``EPSG:<srid>`` (0: no CRS).
        :func:`open_query_coverage` asks the database's ``spatial_ref_sys`` instead.
    name, what
        The coverage's name (for output files) and description (for messages).
    memory_limit, spill_dir
        Bytes of pixels kept in memory (default :data:`MEMORY_LIMIT`) and where the temporary folder goes past it.

    Returns
    -------
    QueryCoverage

    Raises
    ------
    SourceError
        No raster; a value that is not a raster; rasters whose bands, pixel types or nodata differ.
    AlignmentError
        Rasters in different CRSs, with different pixel sizes or skews, or off each other's pixel lattice.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> from rastercover.io.wkb_raster import encode_raster
    >>> a = encode_raster(np.zeros((2, 2), "int16"), Affine(10, 0, 0, 0, -10, 20), 32198, -1)
    >>> b = encode_raster(np.zeros((2, 2), "int16"), Affine(10, 0, 25, 0, -10, 20), 32198, -1)
    >>> mosaic_rasters([a, b])                   # doctest: +ELLIPSIS, +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    rastercover.errors.AlignmentError: rasters: row 2's raster is not on the pixel lattice of row 1's (its origin
    is +0.5, +0 px off): align it in the query (ST_SnapToGrid(rast, 0.0, 20.0), ...)
    """
    lookup = _srs_lookup(crs_of_srid)
    mosaic = _Mosaic(what or name, MEMORY_LIMIT if memory_limit is None else memory_limit, spill_dir)
    try:
        for row, value in enumerate(values, start=1):
            mosaic.add(decode_raster_value(value, row))
        return mosaic.finish(lookup, name)
    except BaseException:
        mosaic.discard()
        raise


def _srs_lookup(crs_of_srid: Callable[[int], Any] | Mapping[int, Any] | None) -> Callable[[int], CRS | None]:
    def lookup(srid: int) -> CRS | None:
        if not srid:
            return None
        if crs_of_srid is None:
            return as_crs(f"EPSG:{srid}")
        found = crs_of_srid[srid] if isinstance(crs_of_srid, Mapping) else crs_of_srid(srid)
        return as_crs(found)

    return lookup


# ====================================================================================== running the query
def open_query_coverage(
    db: Any,
    query: Any,
    params: Any = None,
    *,
    column: str | None = None,
    name: str | None = None,
    memory_limit: int | None = None,
    spill_dir: str | None = None,
) -> QueryCoverage:
    """Run ``query`` on ``db`` once and mosaic the rasters its rows return (``open_coverage(db, query=...)``).

    Parameters
    ----------
    db
        A ``postgresql://`` DSN, a psycopg 3 connection, a Django connection, an SQLAlchemy engine, connection
        or session, or another DB-API 2 connection to PostgreSQL (see the module's notes).
    query
        SQL text with the driver's placeholders, a ``psycopg.sql`` composition, or an SQLAlchemy / GeoAlchemy2
        executable (``select(...)``, ``text(...)``). Written by the application, never taken from a request.
    params
        Values bound to the placeholders by the driver (a sequence for ``%s``, a mapping for ``%(name)s`` and
        for SQLAlchemy's ``:name``).
    column
        The raster column (default: the only column, else ``rast``).
    name
        The coverage's name for output files (default: the first table the query reads from).
    memory_limit, spill_dir
        Bytes of decoded pixels kept in memory (default :data:`MEMORY_LIMIT`), and where the temporary folder
        holding the rasters past it goes (default: the system's temporary folder).

    Returns
    -------
    QueryCoverage

    Raises
    ------
    SourceError
        The query failed (the database's message), its rows have no raster column, a value is not a raster, it
        returned no raster, or the rasters' bands, pixel types or nodata differ.
    AlignmentError
        Rasters in different CRSs (SRIDs), with different pixel sizes or skews, or off each other's pixel lattice.
    InputError
        A database or query of a kind this function does not know.

    Examples
    --------
    >>> cov = open_query_coverage("postgresql://localhost/gis", "SELECT rast FROM landcover WHERE rid = %s", [2])
    ... # doctest: +SKIP
    >>> cov.grid.shape, cov.name  # doctest: +SKIP
    ((100, 100), 'landcover')
    """
    if query is None:
        raise InputError("give the query to run (query=)")
    runner = runner_for(db, query)
    what = f"query {_short(query)} on {runner.label}"
    default_name = name or _query_name(query)
    mosaic = _Mosaic(what, MEMORY_LIMIT if memory_limit is None else memory_limit, spill_dir)
    try:
        with runner.errors_as_source(what), runner.opened():
            names, batches = runner.rows(query, params)
            index, row = -1, 0
            for batch in batches:
                for values in batch:
                    if row == 0:
                        index = _column_index(names, column, what)
                    row += 1
                    try:
                        raster = decode_raster_value(values[index], row)
                    except SourceError as exc:
                        raise SourceError(f"{what}: {exc}") from None
                    mosaic.add(raster)
            cache: dict[int, CRS | None] = {}

            def lookup(srid: int) -> CRS | None:
                if srid not in cache:
                    cache[srid] = _crs_of_srid(runner, srid) if srid else None
                return cache[srid]

            return mosaic.finish(lookup, default_name)
    except BaseException:
        mosaic.discard()
        raise


def _crs_of_srid(runner: QueryRunner, srid: int) -> CRS | None:
    found = runner.srs(srid)
    if found is None:
        raise CRSError(
            f"SRID {srid} of the query's rasters is not in spatial_ref_sys: add it, or give the rasters a known SRID "
            "in the query (ST_SetSRID)"
        )
    auth, code, wkt = found
    if auth and str(auth).upper() == "EPSG" and code:
        return as_crs(f"EPSG:{code}")
    return as_crs(wkt)


def _column_index(names: list[str] | None, column: str | None, what: str) -> int:
    if names is None:
        raise SourceError(f"{what}: the query's rows have no columns: select the rasters")
    if column is not None:
        if column not in names:
            raise MissingColumnError(
                f"{what}: the query's rows have no column {column!r}; their columns are {', '.join(names) or '(none)'}"
            )
        return names.index(column)
    if len(names) == 1:
        return 0
    if "rast" in names:
        return names.index("rast")
    if not names:
        raise SourceError(f"{what}: the query's rows have no column: select the rasters")
    raise SourceError(
        f"{what}: the query's rows have {len(names)} columns ({', '.join(names)}) and none is named rast: name the "
        "raster column with column=, or alias it AS rast"
    )


def _short(query: Any) -> str:
    text = query if isinstance(query, str) else None
    if text is None:
        try:
            text = str(query)
        except Exception:
            text = type(query).__name__
    text = " ".join(text.split())
    return repr(text if len(text) <= 60 else text[:57] + "...")


_FROM = re.compile(r'\bFROM\s+((?:"[^"]+"|[A-Za-z_][\w$]*)(?:\s*\.\s*(?:"[^"]+"|[A-Za-z_][\w$]*))?)', re.IGNORECASE)


def _query_name(query: Any) -> str:
    """The first table the query reads from (for output names), else ``query``."""
    froms = getattr(query, "get_final_froms", None)
    if callable(froms):
        try:
            for f in froms():
                if getattr(f, "name", None):
                    return str(f.name)
        except Exception:
            pass
    if not isinstance(query, str):
        try:
            query = str(query)
        except Exception:
            return "query"
    m = _FROM.search(query)
    if m is None:
        return "query"
    return re.split(r"\s*\.\s*", m.group(1))[-1].strip('"') or "query"
