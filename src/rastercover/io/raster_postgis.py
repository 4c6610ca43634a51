"""A PostGIS raster table (one tile per row, as ``raster2pgsql -t`` or rastercover writes them) as a coverage.

Opening reads only the tiles' headers (``ST_MetaData``, which does not detoast pixels) and checks that they
form one regular tiling: same pixel size, skew and SRID, every tile on the same pixel lattice at a multiple
of the tile size, edge tiles allowed to be smaller. The result is a :class:`~rastercover.grid.Grid` (the
reference grid of a rasterization, the rids of its tiles kept for the output table) and a
:class:`~rastercover.protocols.RasterCoverage` whose reads fetch only the tiles a window needs, as WKB decoded in
Python, so nothing depends on ``postgis.gdal_enabled_drivers``.

Examples
--------
>>> cov = PostgisRasterCoverage("postgresql://localhost/gis?table=public.landcover")  # doctest: +SKIP
>>> cov.grid.tile_size, cov.count  # doctest: +SKIP
((100, 100), 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from affine import Affine

from ..crs import CRS, as_crs
from ..errors import AlignmentError, MissingColumnError, SourceError
from ..grid import Grid, TileSet, Window
from .pg import PgLocation, pg_error
from .vector_postgis import Relation, crs_of_srid, pooled_connection, resolve_relation
from .wkb_raster import OutDbRasterError, decode_raster, numpy_dtype_of

__all__ = ["PostgisRasterCoverage", "TilePlacement"]

_TOL = 1e-6


@dataclass(frozen=True)
class TilePlacement:
    """Where a stored tile sits in the coverage grid (pixel offsets) and how to fetch it (its key)."""

    key: Any
    rid: int | None
    col: int
    row: int
    width: int
    height: int


@dataclass(eq=False)
class PostgisRasterCoverage:
    """A raster table of a PostGIS database, named ``postgresql://...?table=schema.name[&column=rast]``."""

    location: str
    _loc: PgLocation = field(init=False, repr=False)
    _rel: Relation = field(init=False, repr=False)
    _column: str = field(init=False, default="")
    _key: str = field(init=False, default="")
    _grid: Grid = field(init=False, repr=False)
    _tiles: dict[tuple[int, int], TilePlacement] = field(init=False, repr=False)
    _srid: int = field(init=False, default=0)
    _pixel_types: tuple[str, ...] = field(init=False, default=())
    _nodata: tuple[float | None, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        import psycopg

        self._loc = PgLocation.parse(self.location)
        conn = pooled_connection(self._loc)
        try:
            self._open(conn)
        except psycopg.Error as exc:
            raise SourceError(pg_error(self._loc, exc, "reading the raster table")) from None

    def _open(self, conn) -> None:
        from psycopg import sql

        self._rel = rel = resolve_relation(conn, self._loc)
        rasters = [c for c, t in rel.columns.items() if t == "raster"]
        if self._loc.column is not None:
            if rel.columns.get(self._loc.column) != "raster":
                raise MissingColumnError(
                    f"{self.describe()} has no raster column {self._loc.column!r}; its raster columns are "
                    f"{', '.join(rasters) or '(none)'}"
                )
            self._column = self._loc.column
        elif len(rasters) == 1:
            self._column = rasters[0]
        elif not rasters:
            raise SourceError(f"{self.describe()} has no raster column: is it a vector table?")
        else:
            raise SourceError(
                f"{self.describe()} has {len(rasters)} raster columns ({', '.join(rasters)}): "
                "name one with &column=NAME in the location"
            )
        has_rid = rel.columns.get("rid") in ("integer", "bigint", "smallint")
        if has_rid:
            self._key = "rid"
        elif rel.kind in ("r", "m", "p"):
            self._key = "ctid"
        else:
            self._key = ""
        r = sql.Identifier(self._column)
        key = sql.Identifier("rid") if has_rid else sql.SQL("ctid::text" if self._key == "ctid" else "NULL")
        rows = conn.execute(
            sql.SQL(
                "SELECT {key}, {rid}, m.upperleftx, m.upperlefty, m.width, m.height, m.scalex, m.scaley, "
                "m.skewx, m.skewy, m.srid, m.numbands FROM {t}, LATERAL ST_MetaData({r}) m WHERE {r} IS NOT NULL"
            ).format(key=key, rid=sql.Identifier("rid") if has_rid else sql.SQL("NULL::int"), t=rel.identifier(), r=r)
        ).fetchall()
        if not rows:
            raise SourceError(f"{self.describe()} holds no raster")
        meta = np.array([row[2:] for row in rows], dtype=np.float64)
        ulx, uly, w, h, sx, sy, kx, ky, srid, nb = meta.T
        where = self.describe()
        for name, arr in (("pixel size", np.c_[sx, sy]), ("skew", np.c_[kx, ky])):
            if np.ptp(arr, axis=0).max() > _TOL * max(1.0, float(np.abs(arr).max())):
                raise AlignmentError(
                    f"{where}: the tiles do not share one {name}; resample them to one grid (ST_Resample) first"
                )
        if np.ptp(srid) > 0:
            raise AlignmentError(f"{where}: the tiles have several SRIDs ({', '.join(map(str, np.unique(srid)))})")
        if np.ptp(nb) > 0:
            raise SourceError(f"{where}: the tiles have different numbers of bands")
        transform0 = Affine(sx[0], kx[0], ulx[0], ky[0], sy[0], uly[0])
        cols, rows_px = Grid(1, 1, transform0).to_pixel(ulx, uly)
        ci, ri = np.rint(cols), np.rint(rows_px)
        bad = np.flatnonzero((np.abs(cols - ci) > _TOL) | (np.abs(rows_px - ri) > _TOL))
        if len(bad):
            raise AlignmentError(
                f"{where}: tile {_tile_label(rows[bad[0]])} is not on the pixel lattice of the others (it is shifted "
                f"by {cols[bad[0]] - ci[bad[0]]:+.3g}, {rows_px[bad[0]] - ri[bad[0]]:+.3g} px); realign it "
                "(ST_SnapToGrid / ST_Resample) first"
            )
        ci, ri = ci.astype(np.int64), ri.astype(np.int64)
        # the lattice is anchored on the first tile in row-major order (not on whichever row came first), so the
        # grid's bits do not depend on the order of the rows
        k = int(np.lexsort((ci, ri))[0])
        transform0 = Affine(sx[k], kx[k], ulx[k], ky[k], sy[k], uly[k])
        ci, ri = ci - ci[k], ri - ri[k]
        c0, r0 = int(ci.min()), int(ri.min())
        ci, ri = ci - c0, ri - r0
        wi, hi = w.astype(np.int64), h.astype(np.int64)
        width, height = int((ci + wi).max()), int((ri + hi).max())
        tw, th = int(wi.max()), int(hi.max())
        regular = (
            (ci % tw == 0) & (ri % th == 0) & ((wi == tw) | (ci + wi == width)) & ((hi == th) | (ri + hi == height))
        )
        bad = np.flatnonzero(~regular)
        if len(bad):
            raise AlignmentError(
                f"{where}: the tiles do not form a regular tiling of {tw}x{th} px (tile {_tile_label(rows[bad[0]])} "
                f"is {wi[bad[0]]}x{hi[bad[0]]} px at pixel {ci[bad[0]]}, {ri[bad[0]]}); retile it "
                "(raster2pgsql -t WxH, or ST_Tile)"
            )
        self._tiles = {}
        for i, row in enumerate(rows):
            idx = (int(ri[i] // th), int(ci[i] // tw))
            if idx in self._tiles:
                raise AlignmentError(
                    f"{where}: tiles {_tile_label(row)} and "
                    f"{_tile_label_of(self._tiles[idx])} cover the same place; remove the duplicate"
                )
            self._tiles[idx] = TilePlacement(row[0], row[1], int(ci[i]), int(ri[i]), int(wi[i]), int(hi[i]))
        self._srid = int(srid[0])
        crs: CRS | None = crs_of_srid(conn, self._srid) if self._srid else None
        transform = transform0 @ Affine.translation(c0, r0)
        # the tiles the table has, and the exact origins their headers declare where the lattice's own
        # computation differs in the last bits (PostGIS computes a tile's pixels from its header)
        lattice = Grid(width, height, transform, crs, tile_size=(tw, th))
        origins = {}
        for i, idx in enumerate(self._tiles):
            tile = lattice.tile(*idx)
            t = tile.grid.transform
            if (t.c, t.f) != (float(ulx[i]), float(uly[i])):
                origins[idx] = (float(ulx[i]), float(uly[i]))
        self._grid = lattice.with_tiles(TileSet(lattice.tile_layout, list(self._tiles), origins))
        first = next(iter(self._tiles.values()))
        # the first tile's bands (a view without a key: any one raster of it, the bands of all being checked alike)
        cond = self._key_condition([first.key]) if self._key else sql.SQL("{r} IS NOT NULL").format(r=r)
        bands = conn.execute(
            sql.SQL(
                "SELECT b.pixeltype, b.nodatavalue, b.isoutdb, b.path "
                "FROM (SELECT {r} FROM {t} WHERE {cond} LIMIT 1) x, "
                "LATERAL ST_BandMetaData(x.{r}, ARRAY[]::int[]) b ORDER BY b.bandnum"
            ).format(t=rel.identifier(), r=r, cond=cond)
        ).fetchall()
        outdb = [b for b in bands if b[2]]
        if outdb:
            raise SourceError(
                f"{where}: the rasters are out-db (their pixels live in files such as {outdb[0][3]}); rastercover "
                "reads in-db rasters only: load them with raster2pgsql without -R"
            )
        self._pixel_types = tuple(b[0] for b in bands)
        self._nodata = tuple(None if b[1] is None else float(b[1]) for b in bands)

    def _key_condition(self, keys: Sequence[Any]):
        from psycopg import sql

        if self._key == "rid":
            return sql.SQL("rid = ANY({})").format(sql.Literal(list(keys)))
        if self._key == "ctid":
            return sql.SQL("ctid = ANY({}::tid[])").format(sql.Literal(list(keys)))
        raise AssertionError("no key")

    @property
    def grid(self) -> Grid:
        """The coverage's grid; its tiles are the stored tiles."""
        return self._grid

    @property
    def srid(self) -> int:
        """SRID of the rasters."""
        return self._srid

    @property
    def crs(self) -> CRS | None:
        """CRS of the rasters."""
        return as_crs(self._grid.crs) if self._grid.crs is not None else None

    @property
    def tile_ids(self) -> dict[tuple[int, int], int]:
        """The rids of the stored tiles (see :attr:`rids`)."""
        return self.rids

    @property
    def rids(self) -> dict[tuple[int, int], int]:
        """``(tile row, tile col) -> rid`` of the stored tiles (empty when the table has no rid column)."""
        return {k: t.rid for k, t in self._tiles.items() if t.rid is not None}

    @property
    def count(self) -> int:
        """Number of bands."""
        return len(self._pixel_types)

    @property
    def pixel_types(self) -> tuple[str, ...]:
        """PostGIS pixel type of each band."""
        return self._pixel_types

    @property
    def dtype(self) -> np.dtype:
        """numpy type that holds every band."""
        return np.result_type(*(numpy_dtype_of(p) for p in self._pixel_types))

    @property
    def nodata(self) -> float | None:
        """Nodata value of the first band (each band's: :attr:`nodatas`)."""
        return self._nodata[0] if self._nodata else None

    @property
    def nodatas(self) -> tuple[float | None, ...]:
        """Nodata value of each band (None where a band declares none)."""
        return self._nodata

    @property
    def band_names(self) -> tuple[str, ...]:
        """PostGIS bands carry no description: empty names."""
        return ("",) * self.count

    @property
    def name(self) -> str:
        """The table's name, for output files."""
        return self._loc.table

    def describe(self) -> str:
        """The location for messages (no password)."""
        return self._loc.describe()

    def tiles_in(self, window: Window) -> list[TilePlacement]:
        """Stored tiles that intersect ``window``."""
        r0, r1, c0, c1 = self._grid.tile_range(window)
        return [t for (r, c), t in self._tiles.items() if r0 <= r < r1 and c0 <= c < c1]

    def read(self, window: Window, bands: Sequence[int] | None = None) -> np.ndarray:
        """Pixels of ``window`` as (bands, rows, cols); nodata (0 when none) where no tile is stored."""
        import psycopg
        from psycopg import sql

        bands = list(range(1, self.count + 1)) if bands is None else [int(b) for b in bands]
        for b in bands:
            if not 1 <= b <= self.count:
                raise SourceError(f"{self.describe()} has {self.count} band(s); there is no band {b}")
        fill = self.nodata if self.nodata is not None else 0
        out = np.full((len(bands), window.height, window.width), fill, dtype=self.dtype)
        wanted = self.tiles_in(window)
        if not wanted:
            return out
        r = sql.Identifier(self._column)
        if self._key:
            query = sql.SQL("SELECT {k}, ST_AsBinary({r}) FROM {t} WHERE {cond}").format(
                k=sql.SQL("ctid::text") if self._key == "ctid" else sql.Identifier("rid"),
                r=r,
                t=self._rel.identifier(),
                cond=self._key_condition([t.key for t in wanted]),
            )
        else:  # a view without rid: by extent
            xmin, ymin, xmax, ymax = self._grid.window_bounds(window)
            query = sql.SQL(
                "SELECT NULL, ST_AsBinary({r}) FROM {t} WHERE {r} && ST_MakeEnvelope({}, {}, {}, {}, {s})"
            ).format(
                *(sql.Literal(float(v)) for v in (xmin, ymin, xmax, ymax)),
                r=r,
                t=self._rel.identifier(),
                s=sql.Literal(self._srid),
            )
        conn = pooled_connection(self._loc)
        try:
            with conn.transaction(), conn.cursor(name="rastercover_tiles", binary=True) as cur:
                cur.itersize = 64
                cur.execute(query)
                for _key, wkb in cur:
                    try:
                        tile = decode_raster(wkb)
                    except OutDbRasterError:
                        raise SourceError(
                            f"{self.describe()}: a raster is out-db; rastercover reads in-db rasters only"
                        ) from None
                    c, rr = self._grid.to_pixel(np.array([tile.transform.c]), np.array([tile.transform.f]))
                    c, rr = round(float(c[0])), round(float(rr[0]))
                    tw = Window(c, rr, tile.width, tile.height)
                    ix = tw.intersection(window)
                    if ix is None:
                        continue
                    src = ix.relative_to(tw).slices
                    dst = ix.relative_to(window).slices
                    out[(slice(None), *dst)] = tile.data[[b - 1 for b in bands]][(slice(None), *src)]
        except psycopg.Error as exc:
            raise SourceError(pg_error(self._loc, exc, "reading tiles")) from None
        return out


def _tile_label(row: tuple) -> str:
    return f"rid {row[1]}" if row[1] is not None else f"at {row[2]:g}, {row[3]:g}"


def _tile_label_of(t: TilePlacement) -> str:
    return f"rid {t.rid}" if t.rid is not None else f"at pixel {t.col}, {t.row}"
