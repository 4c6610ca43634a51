"""Raster coverages as *sources* of a regridding: their pixels, read by bounding box, as pieces of lattice.

A piece is a rectangle of one raster's pixel lattice with its values (float64, nodata as NaN), where it sits in
that raster (so a pixel has the same identity whichever block reads it) and the raster's rank in the source
order. Two kinds of source:

- :class:`CoverageRasterSource`: one lattice (a raster file, a VRT, a tile folder, a ``.zarr`` store, an
  in-memory array): a bounding box gives one piece, missing tiles read as nodata.
- :class:`PostgisRowsRasterSource`: a PostGIS raster table whose rows are rasters of their own, which may
  overlap and need not share one grid: each row meeting the box is a piece, in rid order (spec section 6).

Examples
--------
>>> import numpy as np, xarray as xr
>>> from affine import Affine
>>> da = xr.DataArray(np.array([[[1.0, -9999.0], [3.0, 4.0]]], dtype="float32"), dims=("band", "y", "x"),
...                   attrs={"transform": Affine(10, 0, 0, 0, -10, 20), "crs": "EPSG:3857", "nodata": -9999.0})
>>> src = open_raster_source(da)
>>> [p.data.tolist() for p in src.pieces((0, 0, 20, 20))]
[[[[1.0, nan], [3.0, 4.0]]]]
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from affine import Affine

from ..crs import CRS, as_crs
from ..errors import InputError, SourceError
from ..grid import Grid, Window
from . import registry

__all__ = ["CoverageRasterSource", "PostgisRowsRasterSource", "RasterPiece", "open_raster_source"]

#: Pixels read at a time when scanning a whole source (its classes, its total).
SCAN_PIXELS = 1 << 22


@dataclass(frozen=True, eq=False)
class RasterPiece:
    """A rectangle of one source raster: ``data`` (bands, rows, cols) float64, NaN where nodata.

    ``transform`` is the raster's whole lattice (pixel ``(0, 0)`` at its origin), ``window`` where ``data`` sits in
    it, ``size`` the raster's ``(width, height)``, ``rank`` its place in the source order.
    """

    rank: int
    transform: Affine
    size: tuple[int, int]
    window: Window
    data: np.ndarray


def _as_float(data: np.ndarray, nodatas: Sequence[float | None]) -> np.ndarray:
    """Pixels as float64 with every band's nodata (and NaN) as NaN."""
    out = data.astype(np.float64)
    for b, nd in enumerate(nodatas):
        if nd is not None and not np.isnan(nd):
            out[b][data[b] == np.asarray(nd).astype(data.dtype) if _fits(nd, data.dtype) else False] = np.nan
    return out


def _fits(value: float, dtype: np.dtype) -> bool:
    """True when ``value`` is a value of ``dtype`` (a nodata outside an integer type's range matches nothing)."""
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return float(value).is_integer() and info.min <= value <= info.max
    return True


class CoverageRasterSource:
    """A raster coverage on one lattice as a regridding source (files, VRTs, tile folders, ``.zarr``, arrays).

    Parameters
    ----------
    coverage
        A :class:`~rastercover.protocols.RasterCoverage`.
    bands
        1-based bands to read, all when None.
    """

    def __init__(self, coverage: Any, bands: Sequence[int] | None = None) -> None:
        self.coverage = coverage
        self.bands = _check_bands(bands, coverage.count, coverage.describe())
        per_band = getattr(coverage, "nodatas", None)
        nd = tuple(per_band) if per_band is not None else (coverage.nodata,) * coverage.count
        self.nodatas = tuple(nd[b - 1] for b in self.bands)

    @property
    def grid(self) -> Grid:
        """The source lattice."""
        return self.coverage.grid

    @property
    def crs(self) -> CRS | None:
        """The source CRS."""
        return as_crs(self.coverage.grid.crs)

    @property
    def count(self) -> int:
        """Bands read."""
        return len(self.bands)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """The lattice's bounds in the source CRS."""
        return self.coverage.grid.bounds

    @property
    def pixel_size(self) -> float:
        """Square root of a source pixel's area, in source units."""
        return float(np.sqrt(self.coverage.grid.pixel_area))

    @property
    def dtype(self) -> np.dtype:
        """The pixels' type."""
        return np.dtype(self.coverage.dtype)

    @property
    def north_up(self) -> bool:
        """True when the lattice has no skew."""
        t = self.coverage.grid.transform
        return t.b == 0 and t.d == 0

    def describe(self) -> str:
        """The coverage's name for messages."""
        return self.coverage.describe()

    def identity(self) -> dict:
        """What a resumed run compares: the coverage, its grid and the bands."""
        g = self.grid
        ident = {"kind": "raster", "describe": self.describe(), "bands": list(self.bands)}
        ident["grid"] = [g.width, g.height, list(g.transform)[:6]]
        path = getattr(self.coverage, "path", None)
        if path is not None and os.path.exists(path):
            ident["files"] = _files_state(path)
        data = getattr(self.coverage, "values_digest", None)
        if callable(data):  # an in-memory array: its values
            ident["values"] = data()
        return ident

    def pieces(self, bbox: tuple[float, float, float, float]) -> list[RasterPiece]:
        """The lattice's pixels meeting ``bbox`` (source CRS), grown by a pixel on every side."""
        g = self.grid
        win = g.pixel_window(bbox)
        if win is None:
            return []
        win = Window(win.col_off - 1, win.row_off - 1, win.width + 2, win.height + 2).intersection(
            Window(0, 0, g.width, g.height)
        )
        if win is None:
            return []
        return [self._piece(win)]

    def _piece(self, win: Window) -> RasterPiece:
        """The pixels of ``win``; where the coverage has no tile (a sparse folder or table), NaN: never a value."""
        g = self.grid
        data = _as_float(np.asarray(self.coverage.read(win, list(self.bands))), self.nodatas)
        if g.present is not None:
            have = np.zeros((win.height, win.width), dtype=bool)
            for tile in g.tiles(win):
                ix = tile.window.intersection(win)
                if ix is not None:
                    have[ix.relative_to(win).slices] = True
            data[:, ~have] = np.nan
        return RasterPiece(0, g.transform, (g.width, g.height), win, data)

    def scan(self):
        """Every piece of the source, a few million pixels at a time (for its classes or its total)."""
        g = self.grid
        rows = max(1, SCAN_PIXELS // max(1, g.width))
        for r in range(0, g.height, rows):
            yield self._piece(Window(0, r, g.width, min(rows, g.height - r)))


class PostgisRowsRasterSource:
    """A PostGIS raster table as a regridding source: each row a raster of its own, in rid order.

    Rows may overlap and need not share one grid (spec section 6); they must share the SRID and the number of
    bands. Read by bounding box with the raster column's GiST index (``&&``).
    """

    def __init__(self, location: str, bands: Sequence[int] | None = None) -> None:
        from psycopg import sql

        from .pg import PgLocation, pg_error
        from .vector_postgis import crs_of_srid, pooled_connection, resolve_relation

        self.location = location
        loc = PgLocation.parse(location) if not isinstance(location, PgLocation) else location
        self._loc = loc
        conn = pooled_connection(loc)
        try:
            rel = resolve_relation(conn, loc)
            rasters = [c for c, t in rel.columns.items() if t == "raster"]
            column = loc.column or (rasters[0] if len(rasters) == 1 else None)
            if column is None or rel.columns.get(column) != "raster":
                raise SourceError(
                    f"{loc.describe()} has raster columns {', '.join(rasters) or '(none)'}: name one with "
                    "&column=NAME in the location"
                )
            self._column = column
            self._table = rel.identifier().as_string(conn)
            self._key = "rid" if rel.columns.get("rid") in ("integer", "bigint", "smallint") else None
            r = sql.Identifier(column)
            if self._key is None and rel.kind not in ("r", "m", "p"):
                raise SourceError(
                    f"{loc.describe()} is a view without an integer rid column: its rows have no order, and "
                    "overlapping rows need one; add one, e.g. row_number() OVER (ORDER BY ...) AS rid"
                )
            if self._key is not None:
                nulls = conn.execute(
                    sql.SQL("SELECT count(*) FROM {t} WHERE rid IS NULL AND {r} IS NOT NULL").format(
                        t=rel.identifier(), r=r
                    )
                ).fetchone()[0]
                if nulls:
                    raise SourceError(
                        f"{loc.describe()} has {nulls} raster(s) with a NULL rid: the rid orders the rows (FIRST_ "
                        "methods take the first); give every row a rid"
                    )
            meta = conn.execute(
                sql.SQL(
                    "SELECT count(*), min(ST_SRID({r})), max(ST_SRID({r})), min(ST_NumBands({r})), "
                    "max(ST_NumBands({r})), ST_XMin(ST_Extent(ST_Envelope({r}))), "
                    "ST_YMin(ST_Extent(ST_Envelope({r}))), "
                    "ST_XMax(ST_Extent(ST_Envelope({r}))), ST_YMax(ST_Extent(ST_Envelope({r}))), "
                    "min(abs(ST_ScaleX({r}) * ST_ScaleY({r}) - ST_SkewX({r}) * ST_SkewY({r}))), "
                    "max(abs(ST_ScaleX({r}) * ST_ScaleY({r}) - ST_SkewX({r}) * ST_SkewY({r}))), "
                    "bool_and(ST_SkewX({r}) = 0 AND ST_SkewY({r}) = 0) "
                    "FROM {t} WHERE {r} IS NOT NULL"
                ).format(r=r, t=rel.identifier())
            ).fetchone()
            if meta is None or not meta[0]:
                raise SourceError(f"{loc.describe()} holds no raster")
            n, s0, s1, b0, b1, x0, y0, x1, y1, area, coarsest, north_up = meta
            if s0 != s1:
                raise SourceError(f"{loc.describe()}: the rasters have several SRIDs ({s0}, {s1}); use one")
            if b0 != b1:
                raise SourceError(f"{loc.describe()}: the rasters have {b0} to {b1} bands; they must all have as many")
            band_meta = conn.execute(
                sql.SQL(
                    "SELECT b.nodatavalue, b.isoutdb, b.pixeltype "
                    "FROM (SELECT {r} FROM {t} WHERE {r} IS NOT NULL LIMIT 1) x, "
                    "LATERAL ST_BandMetaData(x.{r}, ARRAY[]::int[]) b ORDER BY b.bandnum"
                ).format(r=r, t=rel.identifier())
            ).fetchall()
            all_types = conn.execute(
                sql.SQL(
                    "SELECT DISTINCT b.pixeltype FROM {t}, LATERAL ST_BandMetaData({r}, ARRAY[]::int[]) b "
                    "WHERE {r} IS NOT NULL"
                ).format(r=r, t=rel.identifier())
            ).fetchall()
            self._srid = int(s0)
            crs = crs_of_srid(conn, self._srid) if self._srid else None
            self._crs_wkt = crs.to_wkt() if crs is not None else None
        except Exception as exc:
            import psycopg

            if isinstance(exc, psycopg.Error):
                raise SourceError(pg_error(loc, exc, "reading the raster table")) from None
            raise
        if any(m[1] for m in band_meta):
            raise SourceError(
                f"{loc.describe()}: the rasters are out-db; rastercover reads in-db rasters only: load them with "
                "raster2pgsql without -R"
            )
        self.rows = int(n)
        self._count = int(b0)
        self.bands = _check_bands(bands, self._count, loc.describe())
        self.nodatas_of_first = tuple(None if m[0] is None else float(m[0]) for m in band_meta)
        from .wkb_raster import numpy_dtype_of

        types = {numpy_dtype_of(row[0]) for row in all_types}
        #: The pixels' type (the widest of every row's bands).
        self.dtype = np.result_type(*types)
        #: True when some rows hold float32 and others float64 pixels: a class value is not one number in both.
        self.mixed_float = np.dtype("float32") in types and np.dtype("float64") in types
        self._bounds = (float(x0), float(y0), float(x1), float(y1))
        self.pixel_size = float(np.sqrt(area)) if area else 1.0
        #: The side of the coarsest rows' pixels (rows need not share a grid).
        self.max_pixel_size = float(np.sqrt(coarsest)) if coarsest else self.pixel_size
        #: True when every row is north-up (no skew).
        self.north_up = bool(north_up)

    @property
    def crs(self) -> CRS | None:
        """The rasters' CRS (their SRID's)."""
        return as_crs(self._crs_wkt) if self._crs_wkt is not None else None

    @property
    def srid(self) -> int:
        """The rasters' SRID."""
        return self._srid

    @property
    def count(self) -> int:
        """Bands read."""
        return len(self.bands)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """The extent of every raster, in the source CRS."""
        return self._bounds

    def describe(self) -> str:
        """The table's name for messages."""
        return self._loc.describe()

    def identity(self) -> dict:
        """What a resumed run compares: the table, its rows and extent, and the bands."""
        return {
            "kind": "raster table",
            "describe": self.describe(),
            "rows": self.rows,
            "bounds": list(self._bounds),
            "bands": list(self.bands),
        }

    def _query(self, bbox: tuple[float, float, float, float] | None):
        from psycopg import sql

        r = sql.Identifier(self._column)
        order = sql.SQL("rid") if self._key else sql.SQL("ctid")
        cond = sql.SQL("{r} IS NOT NULL").format(r=r)
        if bbox is not None:
            cond = sql.SQL("{r} && ST_MakeEnvelope({}, {}, {}, {}, {s})").format(
                *(sql.Literal(float(v)) for v in bbox), r=r, s=sql.Literal(self._srid)
            )
        return sql.SQL("SELECT {k}, ST_AsBinary({r}) FROM {t} WHERE {c} ORDER BY {o}").format(
            k=order, r=r, t=sql.SQL(self._table), c=cond, o=order
        )

    def _read(self, bbox):
        import psycopg

        from .pg import pg_error
        from .vector_postgis import pooled_connection
        from .wkb_raster import decode_raster

        conn = pooled_connection(self._loc)
        try:
            with conn.transaction(), conn.cursor(name="rastercover_rows", binary=True) as cur:
                cur.itersize = 64
                cur.execute(self._query(bbox))
                for key, wkb in cur:
                    yield key, decode_raster(wkb)
        except psycopg.Error as exc:
            raise SourceError(pg_error(self._loc, exc, "reading rasters")) from None

    def _piece(self, key: Any, tile, bbox) -> RasterPiece | None:
        g = Grid(tile.width, tile.height, tile.transform)
        win = Window(0, 0, tile.width, tile.height) if bbox is None else g.pixel_window(bbox)
        if win is None:
            return None
        if bbox is not None:
            win = Window(win.col_off - 1, win.row_off - 1, win.width + 2, win.height + 2).intersection(
                Window(0, 0, tile.width, tile.height)
            )
        data = tile.data[[b - 1 for b in self.bands]][(slice(None), *win.slices)]
        nodatas = [tile.nodata[b - 1] for b in self.bands]
        rank = int(key) if self._key else 0
        return RasterPiece(rank, tile.transform, (tile.width, tile.height), win, _as_float(data, nodatas))

    def pieces(self, bbox: tuple[float, float, float, float]) -> list[RasterPiece]:
        """The rows meeting ``bbox`` (source CRS), each cut to the pixels meeting it (grown by a pixel)."""
        out = []
        for i, (key, tile) in enumerate(self._read(bbox)):
            p = self._piece(key if self._key else i, tile, bbox)
            if p is not None:
                out.append(p)
        if not self._key:  # ctid order: the rank is the place in the table's scan
            out = [RasterPiece(i, p.transform, p.size, p.window, p.data) for i, p in enumerate(out)]
        return out

    def scan(self):
        """Every row, whole."""
        for i, (key, tile) in enumerate(self._read(None)):
            yield self._piece(key if self._key else i, tile, None)


def _files_state(path: str) -> list:
    """A file's, or every file's under a folder (a tile folder, a ``.zarr`` store), path, size and modification
    time: a tile rewritten in place changes it (a folder's own time does not), so a resumed run sees the change."""
    root = os.path.abspath(path)
    if os.path.isfile(root):
        st = os.stat(root)
        return [root, st.st_size, st.st_mtime_ns]
    digest = hashlib.sha256()
    count = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != ".rastercover")
        for name in sorted(files):
            full = os.path.join(folder, name)
            try:
                st = os.stat(full)
            except OSError:
                continue
            digest.update(f"{os.path.relpath(full, root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            count += 1
    return [root, count, digest.hexdigest()]


def _check_bands(bands: Sequence[int] | None, count: int, where: str) -> tuple[int, ...]:
    if bands is None:
        return tuple(range(1, count + 1))
    out = []
    for b in bands:
        try:
            bi = int(b)
        except (TypeError, ValueError):
            raise InputError(f"band {b!r} is not a band number: give 1-based numbers such as 1 2") from None
        if not 1 <= bi <= count or bi != b:
            raise InputError(f"{where} has {count} band(s); there is no band {b}")
        out.append(bi)
    if not out:
        raise InputError("no band given: name at least one (1-based), or leave the bands out for all of them")
    if len(set(out)) != len(out):
        raise InputError(f"a band is asked twice in {list(out)}")
    return tuple(out)


def open_raster_source(location: Any, *, bands: Sequence[int] | None = None) -> Any:
    """A regridding source from a location (:func:`rastercover.io.registry.open_raster_source`)."""
    return registry.open_raster_source(location, bands=bands)
