"""Vector features from a PostGIS table or view.

Reads are per group of tiles: a ``geom && envelope`` filter (which the GiST index serves), streamed through a
server-side cursor in binary, the WKB decoded by shapely in one vectorised call. The SRID comes from
``geometry_columns`` (or from the rows when the column is unconstrained); the engine reprojects when it
differs from the grid's CRS.

A read returns every feature whose bounding box of *all* its vertices meets the box asked for. PostGIS's own box
(``&&``, ``ST_Extent``) is, for a polygon, its exterior ring's: a hole drawn outside its shell (an invalid polygon,
which rastercover repairs into shell plus hole) lies outside it. Such features are found once, by one query
(polygons with holes whose vertices leave their box), kept in memory and added to the reads and the bounds.

Feature order (``FIRST_VALUE_AT_PIXEL_CENTROID``, ties) is the table's single-column integer primary key when
it has one, else the physical row order (``ctid``, i.e. load order for a table loaded once), else, for a view,
a stable hash of the geometry; ``order=`` names a column to use instead.

Examples
--------
>>> src = PostgisVectorSource("postgresql://localhost/gis?table=forest.stands", value="height")  # doctest: +SKIP
>>> src.read((150000, 400000, 160000, 410000)).value[:3]  # doctest: +SKIP
array([12.5, 18. ,  7. ])
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from ..crs import CRS, as_crs
from ..errors import CRSError, InputError, MissingColumnError, SourceError
from ..features import Features
from .class_names import class_table
from .pg import PgLocation, connect, error_text, pg_error

__all__ = ["PostgisVectorSource", "geometry_type_name", "pooled_connection", "resolve_relation"]

_NUMERIC = {"smallint", "integer", "bigint", "real", "double precision", "numeric", "boolean"}
_INTEGER = {"smallint", "integer", "bigint"}
_POOL: dict[tuple[int, str], Any] = {}
#: PostgreSQL types (``regtype`` names) as the dtype names pyogrio gives for a file's fields; others: ``object``.
_FIELD_DTYPES = {
    "smallint": "int16",
    "integer": "int32",
    "bigint": "int64",
    "real": "float32",
    "double precision": "float64",
    "numeric": "float64",
    "boolean": "bool",
    "date": "datetime64[D]",
    "timestamp without time zone": "datetime64[ms]",
    "timestamp with time zone": "datetime64[ms]",
}
#: PostGIS type names (``geometry_columns.type``, ``GeometryType()``) as pyogrio names them.
_GEOMETRY_NAMES = {
    "POINT": "Point",
    "LINESTRING": "LineString",
    "POLYGON": "Polygon",
    "MULTIPOINT": "MultiPoint",
    "MULTILINESTRING": "MultiLineString",
    "MULTIPOLYGON": "MultiPolygon",
    "GEOMETRYCOLLECTION": "GeometryCollection",
    "CIRCULARSTRING": "CircularString",
    "COMPOUNDCURVE": "CompoundCurve",
    "CURVEPOLYGON": "CurvePolygon",
    "MULTICURVE": "MultiCurve",
    "MULTISURFACE": "MultiSurface",
    "POLYHEDRALSURFACE": "PolyhedralSurface",
    "TRIANGLE": "Triangle",
    "TIN": "TIN",
}


def geometry_type_name(pg_type: str, z: bool = False, m: bool = False) -> str:
    """pyogrio's name of a PostGIS geometry type: ``"MULTIPOLYGON"`` is ``"MultiPolygon"``; ``"Unknown"`` for any.

    A trailing ``M`` of ``pg_type`` (``POINTM``, as ``geometry_columns`` writes it) sets ``m``.

    >>> geometry_type_name("MULTIPOLYGON"), geometry_type_name("POINT", z=True), geometry_type_name("POLYGONM")
    ('MultiPolygon', 'Point Z', 'Polygon M')
    >>> geometry_type_name("GEOMETRY"), geometry_type_name("POINTM", z=True)
    ('Unknown', 'Point ZM')
    """
    base = pg_type.strip().upper()
    if base not in _GEOMETRY_NAMES and base.endswith("M") and base[:-1] in _GEOMETRY_NAMES:
        base, m = base[:-1], True
    name = _GEOMETRY_NAMES.get(base)
    if name is None:
        return "Unknown"
    suffix = ("Z" if z else "") + ("M" if m else "")
    return f"{name} {suffix}" if suffix else name


def pooled_connection(loc: PgLocation):
    """An autocommit connection to ``loc``'s database, kept for this process and reused.

    A process forked from one holding a connection never touches (nor closes) the parent's: connections are
    keyed by process id, so the child opens its own.
    """
    key = (os.getpid(), loc.conninfo)
    conn = _POOL.get(key)
    if conn is None or conn.closed:
        conn = connect(loc, autocommit=True)
        _POOL[key] = conn
    return conn


@atexit.register
def _close_pool() -> None:
    for (pid, _), conn in list(_POOL.items()):
        if pid == os.getpid():
            try:
                conn.close()
            except Exception:  # pragma: no cover - closing at exit
                pass


@dataclass(frozen=True)
class Relation:
    """A table or view found in the catalog: its oid, exact schema and name, kind and columns."""

    oid: int
    schema: str
    name: str
    kind: str
    columns: dict[str, str]

    def identifier(self):
        from psycopg import sql

        return sql.Identifier(self.schema, self.name)


def resolve_relation(conn, loc: PgLocation) -> Relation:
    """Find ``loc``'s table in the catalog: the exact name first, then its lower-case form (unquoted SQL)."""
    query = """
        SELECT c.oid, n.nspname, c.relname, c.relkind
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relname = %(name)s AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
          AND (CASE WHEN %(schema)s::text IS NULL THEN pg_table_is_visible(c.oid) ELSE n.nspname = %(schema)s END)
    """
    candidates = [(loc.schema, loc.table)]
    lowered = (loc.schema.lower() if loc.schema else None, loc.table.lower())
    if lowered != candidates[0]:
        candidates.append(lowered)
    row = None
    for schema, name in candidates:
        row = conn.execute(query, {"schema": schema, "name": name}).fetchone()
        if row:
            break
    if row is None:
        where = f"schema {loc.schema!r}" if loc.schema else "the search path"
        raise SourceError(f"{loc.describe()}: no table or view {loc.table!r} in {where}")
    cols = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod), atttypid::regtype::text FROM pg_attribute "
        "WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        (row[0],),
    ).fetchall()
    return Relation(int(row[0]), row[1], row[2], row[3], {c[0]: c[2] for c in cols})


def crs_of_srid(conn, srid: int) -> CRS:
    """The CRS of a PostGIS SRID: its EPSG code when ``spatial_ref_sys`` says so, else its WKT."""
    row = conn.execute("SELECT auth_name, auth_srid, srtext FROM spatial_ref_sys WHERE srid = %s", (srid,)).fetchone()
    if row is None:
        raise CRSError(f"SRID {srid} is not in spatial_ref_sys: add it, or give the CRS with assume_crs=")
    auth, code, wkt = row
    if auth and auth.upper() == "EPSG" and code:
        return as_crs(f"EPSG:{code}")
    return as_crs(wkt)


@dataclass(eq=False)
class PostgisVectorSource:
    """A table or view of a PostGIS database, named by a ``postgresql://...?table=schema.name`` location.

    Parameters
    ----------
    location
        ``postgresql://[user[:password]@]host[:port]/dbname?table=schema.name[&column=geom]``.
    value
        Numeric column holding each feature's value (None: no value).
    where
        An SQL boolean expression on the table's columns, e.g. ``"height > 10 AND kind = 'fir'"``. This is the
        one piece of SQL a user supplies; it runs with the connecting role's rights, as any query they write.
    assume_crs
        CRS to use when the geometries have SRID 0.
    order
        Integer column giving the feature order (default: the primary key, else the row order).
    """

    location: str
    value: str | None = None
    where: str | None = None
    assume_crs: object = None
    order: str | None = None
    _loc: PgLocation = field(init=False, repr=False)
    _rel: Relation = field(init=False, repr=False)
    _geom: str = field(init=False, default="")
    _srid: int = field(init=False, default=0)
    _crs_wkt: str | None = field(init=False, default=None)
    _bounds: tuple[float, float, float, float] | None = field(init=False, default=None)
    _order_sql: Any = field(init=False, default=None)
    _beyond: tuple[Features, np.ndarray] | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        import psycopg
        from psycopg import sql

        self._loc = PgLocation.parse(self.location)
        conn = pooled_connection(self._loc)
        try:
            self._rel = rel = resolve_relation(conn, self._loc)
            geoms = [c for c, t in rel.columns.items() if t == "geometry"]
            if self._loc.column is not None:
                if self._loc.column not in rel.columns:
                    raise MissingColumnError(
                        f"{self.describe()} has no column {self._loc.column!r}; its columns are "
                        f"{', '.join(rel.columns)}"
                    )
                if rel.columns[self._loc.column] != "geometry":
                    raise SourceError(
                        f"{self.describe()}: column {self._loc.column!r} is {rel.columns[self._loc.column]}, not "
                        "geometry (a geography column: cast it in a view, geog::geometry)"
                    )
                self._geom = self._loc.column
            elif len(geoms) == 1:
                self._geom = geoms[0]
            elif not geoms:
                raise SourceError(f"{self.describe()} has no geometry column")
            else:
                raise SourceError(
                    f"{self.describe()} has {len(geoms)} geometry columns ({', '.join(geoms)}): "
                    "name one with &column=NAME in the location"
                )
            if self.value is not None:
                if self.value not in rel.columns:
                    raise MissingColumnError(
                        f"{self.describe()} has no column {self.value!r}; its columns are {', '.join(rel.columns)}"
                    )
                if rel.columns[self.value] not in _NUMERIC:
                    raise MissingColumnError(
                        f"{self.describe()}: column {self.value!r} holds {rel.columns[self.value]} values; the value "
                        "column must be numeric (cast it in a view, or pick another column)"
                    )
            self._order_sql = self._order_expression(conn)
            self._srid = self._find_srid(conn)
            if self._srid == 0:
                if self.assume_crs is None:
                    raise CRSError(
                        f"{self.describe()}: the geometries have SRID 0; name the CRS to assume "
                        "(--assume-crs EPSG:XXXX / assume_crs=) or set it with UpdateGeometrySRID"
                    )
                crs = as_crs(self.assume_crs)
            else:
                crs = crs_of_srid(conn, self._srid)
            self._crs_wkt = crs.to_wkt()
            g = sql.Identifier(self._geom)
            query = sql.SQL(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent({g}) AS e FROM {t}{w}) s"
            ).format(g=g, t=rel.identifier(), w=self._where_sql())
            try:
                row = conn.execute(query).fetchone()
            except psycopg.Error as exc:
                if self.where:
                    reason = error_text(exc)
                    raise SourceError(f"{self.describe()}: the filter {self.where!r} fails: {reason}") from None
                raise SourceError(pg_error(self._loc, exc, "reading the extent")) from None
            if row is None or row[0] is None:
                if self.where:
                    raise SourceError(f"{self.describe()}: no feature matches the filter {self.where!r}")
                raise SourceError(f"{self.describe()} is empty: it has no features")
            self._bounds = tuple(float(v) for v in row)
        except psycopg.Error as exc:
            raise SourceError(pg_error(self._loc, exc, "reading the table")) from None

    def _where_sql(self, prefix: str = " WHERE "):
        from psycopg import sql

        if not self.where:
            return sql.SQL("")
        return sql.SQL(prefix + "({})").format(sql.SQL(self.where))

    def _order_expression(self, conn) -> Any:
        from psycopg import sql

        rel = self._rel
        if self.order is not None:
            if self.order not in rel.columns:
                raise MissingColumnError(f"{self.describe()} has no column {self.order!r} to order features by")
            if rel.columns[self.order] not in _INTEGER:
                raise MissingColumnError(f"{self.describe()}: the order column {self.order!r} must be an integer")
            return sql.Identifier(self.order)
        pk = conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s AND i.indisprimary",
            (rel.oid,),
        ).fetchall()
        if len(pk) == 1 and rel.columns.get(pk[0][0]) in _INTEGER:
            return sql.Identifier(pk[0][0])
        if rel.kind in ("r", "m", "p"):
            # (block, line) of the row: load order for a table written once
            return sql.SQL("(((ctid::text::point)[0])::bigint * 65536 + ((ctid::text::point)[1])::bigint)")
        return sql.SQL("hashtextextended(encode(ST_AsEWKB({g}), 'base64'), 0)").format(g=sql.Identifier(self._geom))

    def _find_srid(self, conn) -> int:
        from psycopg import sql

        row = conn.execute(
            "SELECT srid FROM geometry_columns WHERE f_table_schema = %s AND f_table_name = %s "
            "AND f_geometry_column = %s",
            (self._rel.schema, self._rel.name, self._geom),
        ).fetchone()
        if row is not None and row[0]:
            return int(row[0])
        rows = conn.execute(
            sql.SQL(
                "SELECT DISTINCT ST_SRID({g}) FROM (SELECT {g} FROM {t} WHERE {g} IS NOT NULL LIMIT 1000) s"
            ).format(g=sql.Identifier(self._geom), t=self._rel.identifier())
        ).fetchall()
        srids = sorted(int(r[0]) for r in rows)
        if len(srids) > 1:
            raise CRSError(
                f"{self.describe()}: geometries have several SRIDs ({', '.join(map(str, srids))}); "
                "constrain the column to one (ST_Transform in a view)"
            )
        return srids[0] if srids else 0

    @property
    def crs(self) -> CRS | None:
        """The CRS of the geometry column (from its SRID, or the assumed one)."""
        return as_crs(self._crs_wkt)

    @property
    def srid(self) -> int:
        """The SRID of the geometry column (0 when unset)."""
        return self._srid

    @property
    def bounds(self) -> tuple[float, float, float, float] | None:
        """Extent of every vertex of the features passing the filter (holes outside their shell included)."""
        _feats, boxes = self._beyond_their_box()
        if len(boxes) == 0 or self._bounds is None:
            return self._bounds
        x0, y0, x1, y1 = self._bounds
        return (
            min(x0, float(boxes[:, 0].min())),
            min(y0, float(boxes[:, 1].min())),
            max(x1, float(boxes[:, 2].max())),
            max(y1, float(boxes[:, 3].max())),
        )

    def describe(self) -> str:
        """The location for messages (no password)."""
        return self._loc.describe()

    def identity(self) -> dict:
        """What makes this source this source, for a resumed run to compare: the table (its location without
        password, and oid), filter, value and order columns, and the rows the filter passes: their count and,
        for a table, the newest row version (``max(xmin)``: any insert or update since raises it)."""
        import psycopg
        from psycopg import sql

        rel = self._rel
        conn = pooled_connection(self._loc)
        try:
            if rel.kind in ("r", "p", "m"):
                query = sql.SQL("SELECT count(*), max(xmin::text::bigint) FROM {}{}")
            else:  # a view or foreign table has no row versions of its own
                query = sql.SQL("SELECT count(*), NULL FROM {}{}")
            count, newest = conn.execute(query.format(rel.identifier(), self._where_sql())).fetchone()
        except psycopg.Error as exc:
            raise SourceError(pg_error(self._loc, exc, "reading the table's row count")) from None
        return {
            "kind": "postgis",
            "location": self.describe(),
            "oid": rel.oid,
            "geometry": self._geom,
            "where": self.where,
            "value": self.value,
            "order": self.order,
            "rows": int(count),
            "newest_row_version": None if newest is None else int(newest),
        }

    #: Above this many rows (by the planner's ``pg_class.reltuples``), :meth:`layer_info` gives the estimate.
    exact_count_limit = 1_000_000

    def layer_info(self) -> dict[str, Any]:
        """Feature count, geometry type and fields, named as pyogrio names a vector file's.

        Returns
        -------
        dict
            ``feature_count`` (rows passing the filter, NULL geometries included, as a file's count is);
            ``feature_count_estimated``: True when the table (unfiltered) has over :attr:`exact_count_limit`
            rows by ``pg_class.reltuples``, whose value is then the count (counting every row of a big table
            on each request would be slow); ``geometry_type`` from the column's type modifier (``geometry_columns``:
            ``"MultiPolygon"``, ``"Point Z"``...), else, for an unconstrained column of a table counted
            exactly, the one type of its geometries, else ``"Unknown"``; ``fields``, ``[{"name", "type"}]``
            of every column but the geometry (and geography) ones, in table order, with pyogrio's dtype names
            (``int32``, ``int64``, ``float64``, ``bool``, ``datetime64[ms]``...; ``object`` for text and any other).

        Examples
        --------
        >>> PostgisVectorSource("postgresql://localhost/gis?table=forest.stands").layer_info()  # doctest: +SKIP
        {'feature_count': 3, 'feature_count_estimated': False, 'geometry_type': 'Polygon',
         'fields': [{'name': 'id', 'type': 'int32'}, {'name': 'height', 'type': 'float64'}]}
        """
        import psycopg
        from psycopg import sql

        rel = self._rel
        g = sql.Identifier(self._geom)
        conn = pooled_connection(self._loc)
        try:
            declared = conn.execute(
                "SELECT type, coord_dimension FROM geometry_columns WHERE f_table_schema = %s "
                "AND f_table_name = %s AND f_geometry_column = %s",
                (rel.schema, rel.name, self._geom),
            ).fetchone()
            geometry_type = "Unknown"
            if declared is not None and declared[0]:
                pg_type, dims = str(declared[0]).upper(), int(declared[1] or 2)
                m = pg_type.endswith("M") and pg_type[:-1] in _GEOMETRY_NAMES
                geometry_type = geometry_type_name(pg_type, z=dims - int(m) >= 3, m=m)
            estimate = None
            if not self.where and rel.kind in ("r", "m"):
                row = conn.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s", (rel.oid,)).fetchone()
                if row is not None and row[0] is not None and int(row[0]) > self.exact_count_limit:
                    estimate = int(row[0])
            if estimate is not None:
                count, kinds = estimate, []
            else:
                query = sql.SQL(
                    "SELECT count(*), array_agg(DISTINCT GeometryType({g}) || ':' || ST_Zmflag({g})::text) "
                    "FILTER (WHERE {g} IS NOT NULL) FROM {t}{w}"
                ).format(g=g, t=rel.identifier(), w=self._where_sql())
                count, kinds = conn.execute(query).fetchone()
                kinds = kinds or []
            if geometry_type == "Unknown" and len(kinds) == 1:
                pg_type, flag = kinds[0].rsplit(":", 1)  # ST_Zmflag: 0 2D, 1 M, 2 Z, 3 ZM
                geometry_type = geometry_type_name(pg_type.removesuffix("M"), z=flag in ("2", "3"), m=flag in "13")
        except psycopg.Error as exc:
            raise SourceError(pg_error(self._loc, exc, "reading the layer's description")) from None
        fields = [
            {"name": name, "type": _FIELD_DTYPES.get(t, "object")}
            for name, t in rel.columns.items()
            if t not in ("geometry", "geography")
        ]
        return {
            "feature_count": int(count),
            "feature_count_estimated": estimate is not None,
            "geometry_type": geometry_type,
            "fields": fields,
        }

    def _select(self, columns, bbox, extra=None):
        from psycopg import sql

        g = sql.Identifier(self._geom)
        conds = [sql.SQL("{g} IS NOT NULL").format(g=g)]
        if extra is not None:
            conds.append(extra)
        if bbox is not None:
            conds.append(
                sql.SQL("{g} && ST_MakeEnvelope({}, {}, {}, {}, {srid})").format(
                    *(sql.Literal(float(v)) for v in bbox), g=g, srid=sql.Literal(self._srid)
                )
            )
        if self.where:
            conds.append(sql.SQL("({})").format(sql.SQL(self.where)))
        return sql.SQL("SELECT {cols} FROM {t} WHERE {conds}").format(
            cols=sql.SQL(", ").join(columns), t=self._rel.identifier(), conds=sql.SQL(" AND ").join(conds)
        )

    def _fetch(self, query, batch: int = 20000) -> list[tuple]:
        import psycopg

        conn = pooled_connection(self._loc)
        rows: list[tuple] = []
        try:
            with conn.transaction(), conn.cursor(name="rastercover_read", binary=True) as cur:
                cur.itersize = batch
                cur.execute(query)
                while True:
                    chunk = cur.fetchmany(batch)
                    if not chunk:
                        break
                    rows.extend(chunk)
        except psycopg.Error as exc:
            raise SourceError(pg_error(self._loc, exc, "reading features")) from None
        return rows

    def values(self) -> np.ndarray:
        """The value column of every feature passing the filter (NaN for NULL)."""
        from psycopg import sql

        if not self.value:
            return np.empty(0)
        rows = self._fetch(self._select([sql.SQL("{}::float8").format(sql.Identifier(self.value))], None))
        return np.array([np.nan if r[0] is None else r[0] for r in rows], dtype=np.float64)

    def class_names(self, column: str) -> dict[float, str | None]:
        """``{value: name or None}``: the name in ``column`` of each value of the value column (rows passing the
        filter); see :func:`rastercover.io.class_names.class_table`."""
        from psycopg import sql

        if not self.value:
            raise InputError(f"{self.describe()}: class names name the values of the value column: give one")
        fields = [name for name, t in self._rel.columns.items() if t not in ("geometry", "geography")]
        if column not in fields:
            raise MissingColumnError(
                f"{self.describe()} has no column {column!r} to name classes; its columns are {', '.join(fields)}"
            )
        cols = [sql.SQL("({})::float8").format(sql.Identifier(self.value)), sql.SQL("({})::text").format(
            sql.Identifier(column))]
        rows = self._fetch(sql.SQL("SELECT DISTINCT * FROM ({}) AS q").format(self._select(cols, None)))
        return class_table([r[0] for r in rows], [r[1] for r in rows], column, self.describe())

    def _columns(self) -> list:
        """What a read selects: the 2D (linearised) geometry as WKB, the value, the order key."""
        from psycopg import sql

        g = sql.Identifier(self._geom)
        return [
            sql.SQL("ST_AsBinary(ST_Force2D(CASE WHEN ST_HasArc({g}) THEN ST_CurveToLine({g}) ELSE {g} END))").format(
                g=g
            ),
            sql.SQL("({})::float8").format(sql.Identifier(self.value)) if self.value else sql.SQL("NULL::float8"),
            sql.SQL("({})::int8").format(self._order_sql),
        ]

    def _features(self, rows: list[tuple]) -> Features:
        if not rows:
            return Features.empty()
        wkb = np.empty(len(rows), dtype=object)
        wkb[:] = [r[0] for r in rows]
        geoms = shapely.from_wkb(wkb, on_invalid="warn")
        value = np.fromiter((np.nan if r[1] is None else r[1] for r in rows), dtype=np.float64, count=len(rows))
        order = np.fromiter((r[2] for r in rows), dtype=np.int64, count=len(rows))
        keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        return Features(geoms[keep], value[keep], order[keep]).sorted()

    def _beyond_their_box(self) -> tuple[Features, np.ndarray]:
        """The features with vertices outside PostGIS's box of them (holes outside their shell), with the boxes of
        all their vertices: one query, the first time, then kept."""
        if self._beyond is None:
            from psycopg import sql

            from .vector_memory import vertex_bounds

            # on the stored geometry (curves left out: a curved hole outside its shell is not looked for)
            holed = sql.SQL(
                "NOT ST_HasArc({g}) AND (GeometryType({g}) = 'GEOMETRYCOLLECTION' OR ST_NRings({g}) > "
                "ST_NumGeometries({g})) AND NOT (Box2D(ST_Points({g})) @ Box2D({g}))"
            ).format(g=sql.Identifier(self._geom))
            feats = self._features(self._fetch(self._select(self._columns(), None, holed)))
            self._beyond = (feats, vertex_bounds(feats.geometry).reshape(-1, 4))
        return self._beyond

    def read(self, bbox: tuple[float, float, float, float] | None) -> Features:
        """Features whose box of all their vertices meets ``bbox`` (all when None), in table order."""
        feats = self._features(self._fetch(self._select(self._columns(), bbox)))
        if bbox is None:
            return feats
        beyond, boxes = self._beyond_their_box()
        x0, y0, x1, y1 = bbox
        near = (boxes[:, 0] <= x1) & (boxes[:, 2] >= x0) & (boxes[:, 1] <= y1) & (boxes[:, 3] >= y0)
        near &= ~np.isin(beyond.order, feats.order)
        if not near.any():
            return feats
        more = beyond.take(near)
        return Features(
            np.concatenate([feats.geometry, more.geometry]),
            np.concatenate([feats.value, more.value]),
            np.concatenate([feats.order, more.order]),
        ).sorted()
