"""Write the output coverage as a PostGIS raster table that PostGIS treats as its own.

One row per output tile (``rid``, ``rast``), the rids of the reference table when the grid came from one
(else ``row * tile columns + col + 1``). Tiles are encoded as raster WKB in Python and sent with binary
``COPY`` in batches into a partial table (``rid integer``, ``rast bytea``) whose name is derived from the
target's. When every tile is there, one transaction turns the column into ``raster``
(``ST_RastFromWKB``), adds ``AddRasterConstraints`` (so ``raster_columns`` reports SRID, scale, block size,
alignment, pixel types, nodata, extent) and a GiST index on ``ST_ConvexHull(rast)``, and renames the table to
its final name: nothing half-written ever appears under that name.

An interrupted run leaves its partial table (each committed batch stays); ``resume=True`` continues it,
computing only the missing tiles, after checking that it was started with the same grid, bands and types.
A run without ``resume`` starts the partial table afresh. ``if_exists`` says what to do when the target
exists: ``fail`` (default), ``replace`` it, or ``append`` the new tiles to it.

Examples
--------
>>> sink = PostgisRasterSink("postgresql://localhost/gis?table=public.heights", if_exists="replace")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..crs import as_crs
from ..errors import CRSError, OutputError
from ..grid import Grid, Tile, Window
from ..options import Option
from .pg import PgLocation, connect, pg_error, pg_write_error
from .resume import JobInfo, refuse_other_job, resolve_job, tiles_digest
from .wkb_raster import encode_raster, pixel_type_of

__all__ = ["IfExists", "PostgisRasterSink", "PostgisTileWriter", "partial_table_name", "tile_rid"]

_BATCH_BYTES = 32 << 20
# named arguments: the positional (name, name, name) call is ambiguous with the VARIADIC text[] variant
_CONSTRAINTS = "SELECT {}RasterConstraints(rastschema => {{}}, rasttable => {{}}, rastcolumn => {{}}, srid => true)"


def tile_rid(tile: Tile, rids: dict[tuple[int, int], int], tile_cols: int) -> int:
    """The rid of an output tile: the reference table's rid of that tile when the grid came from a table with
    rids (never an invented one: a tile the reference lacks is an error), else its row-major position + 1.

    Examples
    --------
    >>> from affine import Affine
    >>> g = Grid(4, 4, Affine(1, 0, 0, 0, -1, 4), None, 2)
    >>> tile_rid(g.tile(1, 0), {}, 2), tile_rid(g.tile(1, 0), {(1, 0): 17}, 2)
    (3, 17)
    """
    if rids:
        rid = rids.get(tile.index)
        if rid is None:
            raise OutputError(
                f"tile {tile.index} is not a tile of the reference table, which gives every output tile its rid; "
                "rasterize onto the reference's own tiles (no --tile-size)"
            )
        return rid
    return tile.row * tile_cols + tile.col + 1


class IfExists(Option):
    """What to do when the target raster table exists."""

    FAIL = "fail"
    REPLACE = "replace"
    APPEND = "append"


def partial_table_name(table: str) -> str:
    """The partial table's name for target ``table``: stable (so a run can resume), at most 63 bytes.

    Examples
    --------
    >>> partial_table_name("heights")
    'heights__rc_partial_c10ca8'
    """
    digest = hashlib.sha1(table.encode()).hexdigest()[:6]
    stem = table.encode()[:36].decode("utf-8", "ignore")
    return f"{stem}__rc_partial_{digest}"


def srid_of_crs(conn, crs: Any) -> int:
    """The SRID the database uses for ``crs``: its EPSG code when ``spatial_ref_sys`` has it."""
    crs = as_crs(crs)
    if crs is None:
        raise CRSError("the grid has no CRS: a PostGIS raster needs an SRID")
    code = crs.to_epsg()
    if code is not None:
        row = conn.execute(
            "SELECT srid FROM spatial_ref_sys WHERE upper(auth_name) = 'EPSG' AND auth_srid = %s "
            "ORDER BY srid = %s DESC",
            (code, code),
        ).fetchone()
        if row is not None:
            return int(row[0])
    raise CRSError(
        f"the grid's CRS ({crs.name}) has no EPSG code known to the database; add it to spatial_ref_sys or "
        "rasterize onto a grid in an EPSG CRS"
    )


def _fast_toast(conn) -> None:
    """Compress the tiles this session stores with lz4 where the server has it (about 3x faster than pglz).

    Only this connection's default changes; dumps and restores are unaffected (compression is per value and
    ``pg_dump`` writes the data uncompressed by the server's TOAST).
    """
    import psycopg

    try:
        conn.execute("SET default_toast_compression = 'lz4'")
    except psycopg.Error:  # PostgreSQL < 14, or built without lz4: keep the server's default
        pass


class PostgisTileWriter:
    """Inserts tiles into the partial table over its own connection; picklable, so worker processes write their
    tiles themselves (each opens one connection, on first use, and commits one ``COPY`` per block written).
    """

    local_path = None  # a database: any worker that reaches it writes

    def stores_nothing_for(self, values: Sequence[float]) -> bool:
        """Every tile is a row: constant tiles are written too."""
        return False

    def __init__(
        self,
        loc: PgLocation,
        schema: str,
        partial: str,
        column: str,
        srid: int,
        nodata: float,
        pixel_type: str,
        dtype: np.dtype,
        rids: dict[tuple[int, int], int],
        tile_cols: int,
    ) -> None:
        self.loc, self.schema, self.partial, self.column = loc, schema, partial, column
        self.srid, self.nodata, self.pixel_type, self.dtype = srid, nodata, pixel_type, np.dtype(dtype)
        self.rids, self.tile_cols = rids, tile_cols
        self._conn = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_conn": None}

    def _rid(self, tile: Tile) -> int:
        return tile_rid(tile, self.rids, self.tile_cols)

    def _copy(self, rows: list[tuple[int, bytes]]) -> None:
        import psycopg
        from psycopg import sql

        loc = self.loc
        try:
            if self._conn is None or self._conn.closed:
                self._conn = connect(loc, autocommit=True)
                _fast_toast(self._conn)
            with self._conn.transaction(), self._conn.cursor() as cur:
                with cur.copy(
                    sql.SQL("COPY {} (rid, {}) FROM STDIN (FORMAT BINARY)").format(
                        sql.Identifier(self.schema, self.partial), sql.Identifier(self.column)
                    )
                ) as copy:
                    copy.set_types(["int4", "bytea"])
                    for row in rows:
                        copy.write_row(row)
        except psycopg.Error as exc:
            raise pg_write_error(loc, exc, "writing tiles from a worker", f"{self.schema}.{self.partial}") from None

    def write(self, window: Window, data: np.ndarray, tiles: Sequence[Tile]) -> None:
        """Encode each tile's part of ``data`` (which covers ``window``) and insert them in one transaction."""
        rows = []
        for t in tiles:
            part = np.ascontiguousarray(data[(slice(None), *t.window.relative_to(window).slices)])
            rows.append((self._rid(t), encode_raster(part, t.grid.transform, self.srid, self.nodata, self.pixel_type)))
        self._copy(rows)

    def write_constant(self, tiles: Sequence[Tile], values: Sequence[float]) -> None:
        """Tiles whose band ``i`` is ``values[i]`` everywhere."""
        rows = []
        for t in tiles:
            block = np.empty((len(values), t.window.height, t.window.width), dtype=self.dtype)
            for i, v in enumerate(values):
                block[i] = v
            rows.append((self._rid(t), encode_raster(block, t.grid.transform, self.srid, self.nodata, self.pixel_type)))
        self._copy(rows)


class PostgisRasterSink:
    """Write tiles into the raster table named by ``location`` (``postgresql://...?table=schema.name``).

    Parameters
    ----------
    location
        Target table; ``&column=NAME`` names the raster column (default ``rast``).
    if_exists
        ``"fail"``, ``"replace"`` or ``"append"`` when the target exists.
    resume
        Continue the partial table an interrupted run left, computing only its missing tiles.
    rids
        ``(tile row, tile col) -> rid`` to use (from a reference raster table).
    srid
        SRID to write (default: looked up from the grid's CRS).
    """

    label = "PostGIS raster table"

    def __init__(
        self,
        location: str,
        *,
        if_exists: str | IfExists = "fail",
        resume: bool = False,
        rids: dict[tuple[int, int], int] | None = None,
        srid: int | None = None,
        job: JobInfo = None,
    ) -> None:
        import psycopg

        self.loc = PgLocation.parse(location)
        self.job = job
        self.if_exists = IfExists.parse(if_exists)
        self.resume = resume
        self.rids = dict(rids or {})
        self.srid = srid
        self.column = self.loc.column or "rast"
        self._conn = connect(self.loc, autocommit=True)
        _fast_toast(self._conn)
        try:
            self.schema = self.loc.schema or self._conn.execute("SELECT current_schema()").fetchone()[0]
            if self.schema is None:
                raise OutputError(f"{self.describe()}: no schema to create the table in; write table=schema.name")
            # one run at a time per target: a session lock, gone with this connection (the run's end or death)
            key = f"rastercover:{self.schema}.{self.loc.table}"
            if not self._conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,)).fetchone()[0]:
                raise OutputError(
                    f"{self.describe()}: another run is writing this table now; wait for it to end, or write "
                    "another table"
                )
            exists = self._exists(self.loc.table)
            if exists and self.if_exists is IfExists.FAIL:
                raise OutputError(
                    f"{self.describe()} exists already; drop it, or pass --if-exists replace|append "
                    "(if_exists='replace'|'append')"
                )
            self._target_exists = exists
        except psycopg.Error as exc:
            self._conn.close()
            raise OutputError(pg_error(self.loc, exc, "checking the target table")) from None
        except OutputError:
            self._conn.close()
            raise
        self.partial = partial_table_name(self.loc.table)
        self._buffer: list[tuple[int, bytes]] = []
        self._buffered = 0
        self._done: set[tuple[int, int]] = set()
        self._written = 0

    def describe(self) -> str:
        """The target for messages (no password)."""
        return self.loc.describe()

    # ------------------------------------------------------------------ helpers
    def _ident(self, table: str):
        from psycopg import sql

        return sql.Identifier(self.schema, table)

    def _exists(self, table: str) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s",
            (self.schema, table),
        ).fetchone()
        return row is not None

    def _rid(self, tile: Tile) -> int:
        return tile_rid(tile, self.rids, self.grid.tile_layout[1])

    def _fingerprint(self) -> str:
        g = self.grid
        return json.dumps(
            {
                "rastercover": 1,
                "job": self.job,
                "size": [g.width, g.height],
                "tile_size": list(g.tile_size),
                "transform": list(g.transform)[:6],
                "srid": self.srid,
                "bands": list(self.bands),
                "pixel_type": self.pixel_type,
                "nodata": None if np.isnan(self.nodata) else self.nodata,
                **({"tiles": tiles_digest(g)} if g.present is not None else {}),
            },
            sort_keys=True,
        )

    # ------------------------------------------------------------------ RasterSink
    def open(self, grid: Grid, bands: Sequence[str], dtype: np.dtype, nodata: float) -> None:
        """Create (or, resuming, check) the partial table."""
        import psycopg
        from psycopg import sql

        self.grid, self.bands, self.dtype, self.nodata = grid, list(bands), np.dtype(dtype), float(nodata)
        self.job = resolve_job(self.job)
        try:
            self.pixel_type = pixel_type_of(self.dtype)
        except (ValueError, TypeError) as exc:
            raise OutputError(f"{self.describe()}: {exc}") from None
        try:
            if self.srid is None:
                self.srid = srid_of_crs(self._conn, grid.crs)
            part = self._ident(self.partial)
            if self.resume and self._exists(self.partial):
                note = self._conn.execute(
                    "SELECT obj_description(to_regclass(%s), 'pg_class')",
                    (sql.Identifier(self.schema, self.partial).as_string(self._conn),),
                ).fetchone()[0]
                if note != self._fingerprint():
                    refuse_other_job(self.describe(), f"{self.schema}.{self.partial}", note or "", self._fingerprint())
                by_rid = {self._rid(t): t.index for t in grid.tiles()}
                rows = self._conn.execute(sql.SQL("SELECT rid FROM {}").format(part)).fetchall()
                self._done = {by_rid[r[0]] for r in rows if r[0] in by_rid}
            else:
                with self._conn.transaction():
                    self._conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(part))
                    self._conn.execute(
                        sql.SQL("CREATE TABLE {} (rid integer PRIMARY KEY, {} bytea NOT NULL)").format(
                            part, sql.Identifier(self.column)
                        )
                    )
                    self._conn.execute(
                        sql.SQL("COMMENT ON TABLE {} IS {}").format(part, sql.Literal(self._fingerprint()))
                    )
        except psycopg.Error as exc:
            raise pg_write_error(self.loc, exc, "creating the output table") from None

    def done_tiles(self) -> set[tuple[int, int]]:
        """Tiles an interrupted run already wrote (resuming); the engine skips them."""
        return set(self._done)

    def detached_writer(self) -> PostgisTileWriter:
        """A writer that worker processes use to insert their tiles directly; report them with :meth:`record`."""
        return PostgisTileWriter(
            self.loc,
            self.schema,
            self.partial,
            self.column,
            self.srid,
            self.nodata,
            self.pixel_type,
            self.dtype,
            self.rids,
            self.grid.tile_layout[1],
        )

    def record(self, tiles: Sequence[Tile]) -> None:
        """Note tiles a detached writer inserted (and committed)."""
        self._written += len(tiles)

    def _encode(self, tile: Tile, data: np.ndarray) -> None:
        wkb = encode_raster(data, tile.grid.transform, self.srid, self.nodata, self.pixel_type)
        self._buffer.append((self._rid(tile), wkb))
        self._buffered += len(wkb)
        self._written += 1
        if self._buffered >= _BATCH_BYTES:
            self._flush()

    def _flush(self) -> None:
        import psycopg
        from psycopg import sql

        if not self._buffer:
            return
        try:
            with self._conn.transaction(), self._conn.cursor() as cur:
                with cur.copy(
                    sql.SQL("COPY {} (rid, {}) FROM STDIN (FORMAT BINARY)").format(
                        self._ident(self.partial), sql.Identifier(self.column)
                    )
                ) as copy:
                    copy.set_types(["int4", "bytea"])
                    for row in self._buffer:
                        copy.write_row(row)
        except psycopg.Error as exc:
            raise pg_write_error(self.loc, exc, "writing tiles", f"{self.schema}.{self.partial}") from None
        self._buffer.clear()
        self._buffered = 0

    def write(self, window: Window, data: np.ndarray, tiles: Sequence[Tile]) -> None:
        """Encode and queue each tile's part of ``data``; a batch goes out when it reaches 32 MiB."""
        for t in tiles:
            self._encode(t, np.ascontiguousarray(data[(slice(None), *t.window.relative_to(window).slices)]))

    def write_constant(self, tiles: Sequence[Tile], values: Sequence[float]) -> None:
        """Tiles whose band ``i`` is ``values[i]`` everywhere."""
        for t in tiles:
            block = np.empty((len(values), t.window.height, t.window.width), dtype=self.dtype)
            for i, v in enumerate(values):
                block[i] = v
            self._encode(t, block)

    def close(self) -> str:
        """Convert, constrain, index and rename the partial table; return the target's location."""
        import psycopg
        from psycopg import sql

        self._flush()
        part, col = self._ident(self.partial), sql.Identifier(self.column)
        target = self._ident(self.loc.table)
        index_name = f"{self.loc.table.encode()[:50].decode('utf-8', 'ignore')}_{self.column}_gist"[:63]
        tmp_index = f"{self.partial}_gist"[:63]
        lit = sql.Literal
        try:
            with self._conn.transaction():
                self._conn.execute(
                    sql.SQL("ALTER TABLE {p} ALTER COLUMN {c} TYPE raster USING ST_RastFromWKB({c})").format(
                        p=part, c=col
                    )
                )
                self._conn.execute(sql.SQL("COMMENT ON TABLE {} IS NULL").format(part))
                if self.if_exists is IfExists.APPEND and self._exists(self.loc.table):
                    self._append(part, target, col)
                    self._conn.execute(sql.SQL("DROP TABLE {}").format(part))
                else:
                    if self._exists(self.loc.table):
                        self._conn.execute(sql.SQL("DROP TABLE {}").format(target))
                    self._conn.execute(
                        sql.SQL("ALTER TABLE {} RENAME TO {}").format(part, sql.Identifier(self.loc.table))
                    )
                    pkey = self._conn.execute(
                        "SELECT conname FROM pg_constraint WHERE conrelid = to_regclass(%s) AND contype = 'p'",
                        (target.as_string(self._conn),),
                    ).fetchone()
                    if pkey:
                        self._conn.execute(
                            sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                                target,
                                sql.Identifier(pkey[0]),
                                sql.Identifier(f"{self.loc.table.encode()[:55].decode('utf-8', 'ignore')}_pkey"),
                            )
                        )
                    self._conn.execute(
                        sql.SQL("CREATE INDEX {} ON {} USING gist (ST_ConvexHull({}))").format(
                            sql.Identifier(tmp_index), target, col
                        )
                    )
                    self._conn.execute(
                        sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                            sql.Identifier(self.schema, tmp_index), sql.Identifier(index_name)
                        )
                    )
                    self._conn.execute(
                        sql.SQL(_CONSTRAINTS.format("Add")).format(
                            lit(self.schema), lit(self.loc.table), lit(self.column)
                        )
                    )
            self._conn.execute(sql.SQL("ANALYZE {}").format(target))
        except psycopg.Error as exc:
            raise pg_write_error(self.loc, exc, "finishing the output table", f"{self.schema}.{self.partial}") from None
        finally:
            self._conn.close()
        return self.describe()

    def _append(self, part, target, col) -> None:
        from psycopg import sql

        lit = sql.Literal
        info = self._conn.execute(
            "SELECT srid, scale_x, scale_y, num_bands, pixel_types FROM raster_columns "
            "WHERE r_table_schema = %s AND r_table_name = %s AND r_raster_column = %s",
            (self.schema, self.loc.table, self.column),
        ).fetchone()
        if info is None:
            raise OutputError(f"{self.describe()} has no raster column {self.column!r} to append to")
        srid, sx, sy, nb, types = info
        a = self.grid.transform
        if (
            (srid and srid != self.srid)
            or (sx and abs(sx - a.a) > 1e-9 * abs(a.a))
            or (sy and abs(sy - a.e) > 1e-9 * abs(a.e))
        ):
            raise OutputError(
                f"{self.describe()} has SRID {srid} and pixel size {sx} x {sy}; the new tiles have SRID {self.srid} "
                f"and {a.a} x {a.e}: append only tiles of the same grid"
            )
        if (nb and nb != len(self.bands)) or (types and list(types) != [self.pixel_type] * len(self.bands)):
            raise OutputError(
                f"{self.describe()} holds {nb} band(s) of {', '.join(types or [])}; the new tiles have "
                f"{len(self.bands)} of {self.pixel_type}: append only tiles of the same kind"
            )
        rid_type = self._conn.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = to_regclass(%s) "
            "AND attname = 'rid' AND NOT attisdropped",
            (target.as_string(self._conn),),
        ).fetchone()
        self._conn.execute(
            sql.SQL(_CONSTRAINTS.format("Drop")).format(lit(self.schema), lit(self.loc.table), lit(self.column))
        )
        if rid_type is not None:
            clash = self._conn.execute(
                sql.SQL("SELECT count(*) FROM {} p JOIN {} t USING (rid)").format(part, target)
            ).fetchone()[0]
            offset = (
                self._conn.execute(sql.SQL("SELECT coalesce(max(rid), 0) FROM {}").format(target)).fetchone()[0]
                if clash
                else 0
            )
            self._conn.execute(
                sql.SQL("INSERT INTO {t} (rid, {c}) SELECT rid + {o}, {c} FROM {p} ORDER BY rid").format(
                    t=target, c=col, o=sql.Literal(offset), p=part
                )
            )
        else:
            self._conn.execute(
                sql.SQL("INSERT INTO {t} ({c}) SELECT {c} FROM {p} ORDER BY rid").format(t=target, c=col, p=part)
            )
        self._conn.execute(
            sql.SQL(_CONSTRAINTS.format("Add")).format(lit(self.schema), lit(self.loc.table), lit(self.column))
        )

    def abort(self) -> None:
        """Stop: the batches sent stay in the partial table (for ``resume``); the target is untouched."""
        try:
            self._buffer.clear()
            self._conn.close()
        except Exception:  # pragma: no cover - closing a broken connection
            pass
