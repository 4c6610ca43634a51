"""PostGIS locations: ``postgresql://[user[:password]@]host[:port]/dbname?table=schema.name[&column=geom]``.

A location is a libpq connection URL plus two parameters of ours: ``table`` (``name`` or ``schema.name``;
double-quote a part that holds a dot, ``"my.schema"."roads"``) and ``column`` (the geometry or raster column,
found in ``geometry_columns`` / ``raster_columns`` when not given). Every other URL parameter, and libpq's
environment variables (``PGPASSWORD``, ``PGSSLMODE``, ``~/.pgpass``, ...), go to libpq untouched.

Table and column names only ever reach SQL through :class:`psycopg.sql.Identifier`; the one piece of SQL a user
supplies is a ``where`` filter, and it is documented as such. Passwords never appear in messages: see
:meth:`PgLocation.describe`.

Examples
--------
>>> loc = PgLocation.parse("postgresql://me:secret@db.example:5433/gis?table=forest.Stands&column=geom&sslmode=require")
>>> loc.schema, loc.table, loc.column
('forest', 'Stands', 'geom')
>>> loc.conninfo
'postgresql://me:secret@db.example:5433/gis?sslmode=require'
>>> loc.describe()
'postgresql://me@db.example:5433/gis?sslmode=require&table=forest.Stands'
>>> PgLocation.parse('postgresql:///gis?table="my.schema"."Odd;Name"').schema
'my.schema'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from ..errors import InputError, NoSpaceError, OutputError, SourceError

__all__ = [
    "MAX_IDENTIFIER_BYTES",
    "PgLocation",
    "check_identifier",
    "connect",
    "error_text",
    "is_pg_location",
    "pg_error",
    "pg_write_error",
    "split_table_name",
]

_SCHEMES = ("postgresql://", "postgres://")


def is_pg_location(value: Any) -> bool:
    """True when ``value`` is a string naming a PostGIS location (``postgresql://...``)."""
    return isinstance(value, str) and value.lower().startswith(_SCHEMES)


#: PostgreSQL's longest identifier, in bytes (NAMEDATALEN - 1); it cuts longer names without a word.
MAX_IDENTIFIER_BYTES = 63


def check_identifier(name: str | None, what: str = "table") -> None:
    """Refuse a name PostgreSQL would silently cut to 63 bytes (two long names would then be one table).

    Examples
    --------
    >>> check_identifier("forest_heights")
    >>> check_identifier("x" * 64)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rastercover.errors.InputError: table name 'xxx...' is 64 bytes long; PostgreSQL cuts names to 63 bytes ...
    """
    if name is not None and len(name.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        raise InputError(
            f"{what} name {name!r} is {len(name.encode('utf-8'))} bytes long; PostgreSQL cuts names to "
            f"{MAX_IDENTIFIER_BYTES} bytes (it would be another name, shared with any other name that starts the "
            "same): use a shorter name"
        )


def split_table_name(text: str) -> tuple[str | None, str]:
    """``(schema, name)`` from ``name``, ``schema.name`` or double-quoted parts (``""`` escapes a quote).

    Examples
    --------
    >>> split_table_name('public."Weird; DROP TABLE x"')
    ('public', 'Weird; DROP TABLE x')
    """
    parts: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == '"':
            j, buf = i + 1, []
            while True:
                k = text.find('"', j)
                if k < 0:
                    raise InputError(f"table={text!r}: unbalanced double quote")
                buf.append(text[j:k])
                if k + 1 < n and text[k + 1] == '"':
                    buf.append('"')
                    j = k + 2
                    continue
                break
            parts.append("".join(buf))
            i = k + 1
        else:
            k = text.find(".", i)
            k = n if k < 0 else k
            parts.append(text[i:k])
            i = k
            if i < n and text[i] != ".":
                raise InputError(f"table={text!r}: cannot read it as schema.name")
        if i < n:
            if text[i] != ".":
                raise InputError(f"table={text!r}: expected a dot after {parts[-1]!r}")
            i += 1
            if i == n:
                raise InputError(f"table={text!r}: the name after the dot is missing")
    if not parts or any(p == "" for p in parts) or len(parts) > 2:
        raise InputError(f"table={text!r}: give the table as name or schema.name")
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


def _join_url(scheme: str, netloc: str, path: str, query: str) -> str:
    """A libpq URL from its parts, keeping ``//`` when the host is empty (``postgresql:///gis``: libpq's default
    host, e.g. ``$PGHOST``), which :func:`urllib.parse.urlunsplit` drops (``postgresql:/gis`` is no URL to libpq).

    Examples
    --------
    >>> _join_url("postgresql", "", "/gis", "sslmode=require")
    'postgresql:///gis?sslmode=require'
    """
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


@dataclass(frozen=True)
class PgLocation:
    """A parsed PostGIS location: where to connect, which table, which column."""

    conninfo: str
    schema: str | None
    table: str
    column: str | None = None

    @classmethod
    def parse(cls, url: str, *, table_required: bool = True) -> PgLocation:
        """Read a ``postgresql://`` URL with ``table=`` (and optional ``column=``) parameters."""
        if not is_pg_location(url):
            raise InputError(f"{url!r} is not a PostGIS location: write postgresql://host/dbname?table=schema.name")
        parts = urlsplit(url)
        ours: dict[str, str] = {}
        rest: list[tuple[str, str]] = []
        for key, val in parse_qsl(parts.query, keep_blank_values=True):
            if key in ("table", "column"):
                if key in ours:
                    raise InputError(f"{_redact(url)}: {key}= is given twice")
                ours[key] = val
            else:
                rest.append((key, val))
        conninfo = _join_url(parts.scheme, parts.netloc, parts.path, urlencode(rest, quote_via=quote))
        table = ours.get("table", "").strip()
        if not table:
            if table_required:
                raise InputError(
                    f"{_redact(url)}: name the table with ?table=schema.name (e.g. postgresql://host/db?table=public.forest)"
                )
            return cls(conninfo, None, "", ours.get("column") or None)
        schema, name = split_table_name(table)
        column = ours.get("column") or None
        for what, ident in (("schema", schema), ("table", name), ("column", column)):
            check_identifier(ident, what)
        return cls(conninfo, schema, name, column)

    @property
    def qualified(self) -> str:
        """``schema.table`` as written by the user (for messages)."""
        return f"{self.schema}.{self.table}" if self.schema else self.table

    def describe(self) -> str:
        """The location for messages: the URL without its password (whatever characters the password holds)."""
        parts = urlsplit(self.conninfo)
        userinfo, at, hostport = parts.netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}@{hostport}" if at else hostport
        query = [_redact(p) for p in parts.query.split("&") if p]
        if self.table:
            query.append(f"table={self.qualified}")
        # and through the text filter: a raw / in a password ends the host part for urlsplit
        return _redact(_join_url(parts.scheme, netloc, parts.path, "&".join(query)))

    def with_table(self, schema: str | None, table: str, column: str | None = None) -> PgLocation:
        """The same database, another table."""
        return PgLocation(self.conninfo, schema, table, column)

    def identifier(self):
        """The table as a :class:`psycopg.sql.Identifier` (schema-qualified when a schema is given)."""
        from psycopg import sql

        return sql.Identifier(self.schema, self.table) if self.schema else sql.Identifier(self.table)


# user:password@ in free text: the password runs to an @, through quotes and spaces, and on through further
# "...@" pieces (a raw @ in it, which a URL should percent-encode); at worst, an @ in a later parameter makes it
# remove more than the password, never less
_PASSWORD = re.compile(r"(://[^:/@?#\s]*):[^@]*@(?:[^@\s/]*@)*")


def _redact(text: str) -> str:
    """``text`` with any URL password removed (``password=`` parameters included)."""
    text = _PASSWORD.sub(r"\1@", text)
    return re.sub(r"(?i)(password=)[^&\s]*", r"\1***", text)


def error_text(exc: BaseException) -> str:
    """The server's primary message of a database error (else its first line)."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    return primary or (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def pg_write_error(loc: PgLocation, exc: BaseException, doing: str, kept: str | None = None) -> OutputError:
    """The :class:`OutputError` of a failed write to ``loc``: a :class:`NoSpaceError` when the database server's
    disk is full (SQLSTATE 53100); ``kept`` names the partial table that keeps the tiles written so far."""
    text = pg_error(loc, exc, doing)
    if kept:
        text += f"; the tiles written so far are kept in {kept}: run again with --resume to continue, or drop it"
    if getattr(exc, "sqlstate", None) == "53100":
        return NoSpaceError(f"{text} (the database server's disk is full: free space on it first)")
    return OutputError(text)


def pg_error(loc: PgLocation, exc: BaseException, doing: str) -> str:
    """One line about a database error while ``doing`` something with ``loc``, without any password."""
    text = error_text(exc)
    password = urlsplit(loc.conninfo).password
    if password:
        text = text.replace(unquote(password), "***").replace(password, "***")
    return f"{loc.describe()}: {doing} failed: {_redact(text)}"


def connect(loc: PgLocation, *, autocommit: bool = False):
    """A psycopg connection to ``loc``'s database; a clear :class:`SourceError` when it cannot be made."""
    try:
        import psycopg
    except ImportError:
        raise InputError(
            "PostGIS support needs psycopg: pip install 'rastercover[postgis]' (or pip install 'psycopg[binary]')"
        ) from None
    try:
        return psycopg.connect(loc.conninfo, autocommit=autocommit, application_name="rastercover")
    except psycopg.Error as exc:
        raise SourceError(pg_error(loc, exc, "connecting")) from None
