"""Running a query on the database an application gives: one runner per kind of database.

A runner opens the query's scope (a savepoint on the application's connection or session, or a connection it
opens on a DSN and closes after), streams the rows a few at a time, looks up an SRID in ``spatial_ref_sys``, and
turns the driver's errors into :class:`~rastercover.errors.SourceError` with the database's own message.

=============================================  =============================================================
the database                                   how the query runs
=============================================  =============================================================
a ``postgresql://`` DSN                        a psycopg connection opened for it (an SQLAlchemy engine for
                                               an SQLAlchemy query), closed after
a psycopg 3 ``Connection``                     ``transaction()`` (a savepoint), rows from ``stream()``
a Django connection                            ``atomic()``, rows from ``chunked_cursor()``
an SQLAlchemy engine, connection or session    ``begin_nested()`` (on a connection or session), rows with
                                               ``stream_results``
another DB-API 2 connection (psycopg2...)      a plain cursor, rows by ``fetchmany``
=============================================  =============================================================

:func:`runner_for` chooses the runner and refuses a query the database cannot run (an SQLAlchemy executable on a
psycopg connection, a ``psycopg.sql`` composition on SQLAlchemy...).

Examples
--------
Any DB-API connection runs through a plain cursor (sqlite3 here only to show it without a server):

>>> import sqlite3
>>> db = sqlite3.connect(":memory:")
>>> runner = runner_for(db, "SELECT 1 AS rast, 'a' AS name")
>>> runner.label
'a sqlite3 connection'
>>> with runner.opened():
...     names, batches = runner.rows("SELECT 1 AS rast, 'a' AS name", None)
...     names, list(batches)
(['rast', 'name'], [[(1, 'a')]])
>>> with runner.errors_as_source("query 'SELECT missing'"), runner.opened():
...     runner.rows("SELECT missing", None)
Traceback (most recent call last):
...
rastercover.errors.SourceError: query 'SELECT missing': the query failed: no such column: missing
>>> db.close()
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..errors import InputError, SourceError
from .pg import PgLocation, error_text

__all__ = ["QueryRunner", "runner_for"]

_FETCH_ROWS = 8  # rows fetched at once: rasters can be large
_SRS_SQL = "SELECT auth_name, auth_srid, srtext FROM spatial_ref_sys WHERE srid = "


class QueryRunner:
    """How to run a query on one kind of database: open, stream the rows, look up an SRID, name its errors.

    Made by :func:`runner_for`. Use it as ``with runner.errors_as_source(what), runner.opened():``, then
    :meth:`rows` (once) and :meth:`srs` inside the block.

    Attributes
    ----------
    label : str
        The database, for messages (a DSN without its password, ``Django database 'default'``...).
    error_types : tuple of exception types
        The driver's errors, which :meth:`errors_as_source` turns into :class:`~rastercover.errors.SourceError`.
    """

    label = "the database"
    error_types: tuple[type[BaseException], ...] = ()

    @contextlib.contextmanager
    def opened(self) -> Iterator[None]:
        """The query's scope: a savepoint on the application's connection, or a connection closed after it."""
        yield

    def rows(self, query: Any, params: Any) -> tuple[list[str] | None, Iterator[Sequence[Sequence[Any]]]]:
        """Run ``query`` with ``params``: its column names (None when it returns no rows) and its rows, in batches.

        The rows are fetched as the batches are consumed (within :meth:`opened`), a few at a time.
        """
        raise NotImplementedError

    def srs(self, srid: int) -> tuple | None:
        """``(auth_name, auth_srid, srtext)`` of ``srid`` in ``spatial_ref_sys``, None when it is not there."""
        raise NotImplementedError

    @contextlib.contextmanager
    def errors_as_source(self, what: str) -> Iterator[None]:
        """Raise the driver's errors as :class:`~rastercover.errors.SourceError`: "``what``: the query failed: ..."."""
        try:
            yield
        except self.error_types as exc:
            raise SourceError(f"{what}: the query failed: {_db_message(exc)}") from None


def _db_message(exc: BaseException) -> str:
    """The driver's own message (primary, detail, hint) of an error, whichever layer wraps it."""
    seen = exc
    for _ in range(4):  # SQLAlchemy's .orig, Django's __cause__
        inner = getattr(seen, "orig", None) or seen.__cause__
        if inner is None or inner is seen:
            break
        seen = inner
    text = error_text(seen)
    diag = getattr(seen, "diag", None)
    for attr, label in (("message_detail", ""), ("message_hint", "hint: ")):
        extra = getattr(diag, attr, None) if diag is not None else None
        if extra:
            text += f" ({label}{' '.join(str(extra).split())})"
    return text


def _dbapi_cursor_rows(cur: Any, query: Any, params: Any) -> tuple[list[str] | None, Iterator[Sequence[Any]]]:
    if params is None:
        cur.execute(query)
    else:
        cur.execute(query, params)
    names = None if cur.description is None else [d[0] for d in cur.description]
    return names, _batches(cur.fetchmany, names is not None)


def _batches(fetchmany: Callable[[int], Sequence[Any]], has_rows: bool) -> Iterator[Sequence[Any]]:
    """The rows of a result, :data:`_FETCH_ROWS` at a time (none for a statement that returns no rows)."""
    while has_rows:
        batch = fetchmany(_FETCH_ROWS)
        if not batch:
            return
        yield batch


class _Psycopg(QueryRunner):
    """A psycopg 3 connection (the application's, or one opened on a DSN and closed after)."""

    def __init__(self, conn: Any, *, own: bool = False, label: str | None = None) -> None:
        import psycopg

        self.conn, self.own = conn, own
        self.error_types = (psycopg.Error,)
        self.label = label or _psycopg_label(conn)
        self._cursor: Any = None
        self._stream: Any = None

    @contextlib.contextmanager
    def opened(self) -> Iterator[None]:
        try:
            with self.conn.transaction():  # a savepoint inside the application's transaction
                try:
                    yield
                finally:
                    if self._stream is not None:  # it holds the connection's lock until closed
                        self._stream.close()
                    if self._cursor is not None:
                        self._cursor.close()
        finally:
            if self.own:
                self.conn.close()

    def rows(self, query: Any, params: Any) -> tuple[list[str] | None, Iterator[Sequence[Sequence[Any]]]]:
        self._cursor = cur = self.conn.cursor()
        self._stream = stream = cur.stream(query, params)  # rows as they arrive, not the whole result at once
        first = next(stream, None)
        names = None if cur.description is None else [d.name for d in cur.description]

        def batches() -> Iterator[Sequence[Sequence[Any]]]:
            if first is None:
                return
            yield [first]
            for one in stream:
                yield [one]

        return names, batches()

    def srs(self, srid: int) -> tuple | None:
        return self.conn.execute(_SRS_SQL + "%s", (srid,)).fetchone()


def _psycopg_label(conn: Any) -> str:
    try:
        info = conn.info
        user = f"{info.user}@" if info.user else ""
        host = info.host or "localhost"
        if host.startswith("/"):
            host = "localhost"
        return f"postgresql://{user}{host}:{info.port}/{info.dbname}"
    except Exception:
        return "a psycopg connection"


class _DbApi(QueryRunner):
    """Any other DB-API 2 connection to PostgreSQL (psycopg2...): a plain cursor, rows fetched a few at a time."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        module = sys.modules.get(type(conn).__module__.split(".")[0])
        error = getattr(module, "Error", None)
        self.error_types = (error,) if isinstance(error, type) and issubclass(error, BaseException) else ()
        self.label = f"a {type(conn).__module__.split('.')[0]} connection"
        self._cursor: Any = None

    @contextlib.contextmanager
    def opened(self) -> Iterator[None]:
        try:
            yield
        finally:
            if self._cursor is not None:
                self._cursor.close()

    def rows(self, query: Any, params: Any) -> tuple[list[str] | None, Iterator[Sequence[Any]]]:
        self._cursor = self.conn.cursor()
        return _dbapi_cursor_rows(self._cursor, query, params)

    def srs(self, srid: int) -> tuple | None:
        cur = self.conn.cursor()
        try:
            cur.execute(_SRS_SQL + "%s", (srid,))
            return cur.fetchone()
        finally:
            cur.close()


class _Django(QueryRunner):
    """A Django connection: the query runs in ``atomic()`` (a savepoint), rows from ``chunked_cursor()``."""

    def __init__(self, db: Any) -> None:
        from django.db import Error, connections

        self.conn = connections[db.alias]
        if self.conn.vendor != "postgresql":
            raise InputError(
                f"Django database {db.alias!r} is {self.conn.vendor}: raster queries need PostgreSQL with PostGIS"
            )
        self.error_types = (Error,)
        self.label = f"Django database {db.alias!r}"
        self._cursor: Any = None

    @contextlib.contextmanager
    def opened(self) -> Iterator[None]:
        from django.db import transaction

        with transaction.atomic(using=self.conn.alias):
            try:
                yield
            finally:
                if self._cursor is not None:
                    self._cursor.close()

    def rows(self, query: Any, params: Any) -> tuple[list[str] | None, Iterator[Sequence[Any]]]:
        self._cursor = self.conn.chunked_cursor()  # a server-side cursor: rows a few at a time
        return _dbapi_cursor_rows(self._cursor, query, params)

    def srs(self, srid: int) -> tuple | None:
        with self.conn.cursor() as cur:
            cur.execute(_SRS_SQL + "%s", [srid])
            return cur.fetchone()


class _SqlAlchemy(QueryRunner):
    """An SQLAlchemy engine, connection or session: executables run through SQLAlchemy, rows streamed."""

    def __init__(self, db: Any, *, own: bool = False) -> None:
        from sqlalchemy import exc
        from sqlalchemy.engine import Connection, Engine
        from sqlalchemy.orm import Session, scoped_session

        if isinstance(db, scoped_session):
            db = db()
        if isinstance(db, Engine):
            self.kind, engine = "engine", db
        elif isinstance(db, Connection):
            self.kind, engine = "connection", db.engine
        elif isinstance(db, Session):
            self.kind = "session"
            try:
                engine = db.get_bind()
            except Exception:
                engine = None
        else:
            raise InputError(
                f"cannot run a query on an SQLAlchemy {type(db).__name__}: give an engine, connection or session"
            )
        self.db, self.own = db, own
        self.error_types = (exc.SQLAlchemyError,)
        url = getattr(engine, "url", None)
        self.label = url.render_as_string(hide_password=True) if url is not None else "an SQLAlchemy session"
        self.conn: Any = None
        self._result: Any = None

    @contextlib.contextmanager
    def opened(self) -> Iterator[None]:
        try:
            if self.kind == "engine":
                with self.db.connect() as conn:
                    self.conn = conn
                    yield
            elif self.kind == "connection":
                self.conn = self.db
                with self.db.begin_nested():  # a savepoint in the application's transaction
                    yield
            else:
                with self.db.begin_nested():
                    self.conn = self.db.connection()
                    yield
        finally:
            if self._result is not None:
                self._result.close()
            if self.own:
                self.db.dispose()

    def rows(self, query: Any, params: Any) -> tuple[list[str] | None, Iterator[Sequence[Any]]]:
        options = {"stream_results": True, "max_row_buffer": _FETCH_ROWS}
        if isinstance(query, str):
            if isinstance(params, list):
                params = tuple(params)  # a list would mean executemany to exec_driver_sql
            result = self.conn.exec_driver_sql(query, params, execution_options=options)
        else:
            result = self.conn.execute(query, params, execution_options=options)
        self._result = result
        names = list(result.keys()) if result.returns_rows else None
        return names, _batches(result.fetchmany, names is not None)

    def srs(self, srid: int) -> tuple | None:
        from sqlalchemy import text

        row = self.conn.execute(text(_SRS_SQL + ":srid"), {"srid": srid}).fetchone()
        return None if row is None else tuple(row)


def _is_sqlalchemy(obj: Any) -> bool:
    return type(obj).__module__.startswith("sqlalchemy.")


def runner_for(db: Any, query: Any) -> QueryRunner:
    """The runner for ``db``, checking that it can run a ``query`` of this kind.

    Parameters
    ----------
    db
        A ``postgresql://`` DSN (without ``table=`` or ``column=``), a psycopg 3 connection, a Django connection,
        an SQLAlchemy engine, connection, session or ``scoped_session``, or another DB-API 2 connection.
    query
        SQL text, a ``psycopg.sql`` composition (psycopg connections and DSNs), or an SQLAlchemy executable
        (SQLAlchemy databases and DSNs); other DB-API connections take SQL text only.

    Returns
    -------
    QueryRunner
        Not opened yet: a DSN's connection (or engine) is opened here and closed when the runner's
        :meth:`~QueryRunner.opened` block ends.

    Raises
    ------
    InputError
        A database or query of a kind this function does not know, or a query that database cannot run.

    Examples
    --------
    >>> runner_for("postgresql://localhost/gis", 42)                     # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rastercover.errors.InputError: query= is a int: give SQL text (with %s placeholders for params=), ...
    >>> runner_for("postgresql://localhost/gis?table=landcover", "SELECT rast FROM landcover")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rastercover.errors.InputError: postgresql://localhost/gis?table=landcover: a query runs on the database: ...
    """
    sa_query = _is_sqlalchemy(query)
    if not (isinstance(query, str) or sa_query or type(query).__module__.startswith("psycopg.sql")):
        raise InputError(
            f"query= is a {type(query).__name__}: give SQL text (with %s placeholders for params=), a psycopg.sql "
            "composition, or an SQLAlchemy / GeoAlchemy2 select()"
        )
    if sa_query and not hasattr(query, "compile"):
        raise InputError(f"query= is an SQLAlchemy {type(query).__name__}, not a statement: give a select() or text()")
    if isinstance(db, str):
        try:
            loc = PgLocation.parse(db, table_required=False)
        except InputError:
            raise InputError(
                f"{db!r} is not a database: give a postgresql:// DSN, a connection or an SQLAlchemy engine"
            ) from None
        if loc.table or loc.column:
            raise InputError(
                f"{loc.describe()}: a query runs on the database: drop table= and column= from the DSN (name the "
                "raster column with column=)"
            )
        if sa_query:
            from sqlalchemy import create_engine
            from sqlalchemy.pool import NullPool

            url = re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", loc.conninfo)
            return _SqlAlchemy(create_engine(url, poolclass=NullPool), own=True)
        from .pg import connect

        return _Psycopg(connect(loc, autocommit=True), own=True, label=loc.describe())
    module = type(db).__module__
    if module.startswith("django."):
        if sa_query:
            raise InputError("an SQLAlchemy query runs through SQLAlchemy: give an engine, connection or session")
        return _Django(db)
    if module.startswith("sqlalchemy."):
        if type(query).__module__.startswith("psycopg.sql"):
            raise InputError(
                "a psycopg.sql query runs on a psycopg connection: give SQL text or an SQLAlchemy select()"
            )
        return _SqlAlchemy(db)
    if sa_query:
        raise InputError(
            f"an SQLAlchemy query runs through SQLAlchemy, not on a {type(db).__name__}: give an engine, connection or "
            "session (or a postgresql:// DSN)"
        )
    if module.startswith("psycopg.") or module == "psycopg":
        import psycopg

        if isinstance(db, psycopg.AsyncConnection):
            raise InputError("an async psycopg connection cannot run the query: give a psycopg.Connection or a DSN")
        if isinstance(db, psycopg.Connection):
            return _Psycopg(db)
    if callable(getattr(db, "cursor", None)):
        if not isinstance(query, str):
            raise InputError(f"on a {type(db).__name__}, give the query as SQL text")
        return _DbApi(db)
    raise InputError(
        f"cannot run a query on a {type(db).__name__}: give a postgresql:// DSN, a psycopg or Django connection, or an "
        "SQLAlchemy engine, connection or session"
    )
