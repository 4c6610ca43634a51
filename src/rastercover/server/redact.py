"""Keeping the server's paths and the API key out of what the service sends and logs.

:class:`Redactor` rewrites a message before it leaves the server (a problem's ``detail``, a failed job's
reason, a WCS exception report): a catalogue source becomes its id, any other path under a served folder or
a temporary folder becomes its file name, and a database location becomes "the database". Messages keep what
the user can act on (which coverage, which file name, what is wrong), never where the server keeps it.

:func:`redact_query` and :class:`AccessLogFilter` keep the API key out of the logs: uvicorn's access log writes
each request's path with its query, and a key given as ``?api_key=`` would be written with it.

Examples
--------
>>> from rastercover.server.catalog import Catalog
>>> cat = Catalog()
>>> _ = cat.add_coverage("/srv/data/dem.tif")
>>> redact = Redactor(cat, temp_dirs=["/var/tmp/rc"])
>>> redact("/srv/data/dem.tif: band 4 does not exist; /srv/data/dem.tif.aux.xml is stale")
'dem: band 4 does not exist; dem.tif.aux.xml is stale'
>>> redact("GDAL could not write /var/tmp/rc/rastercover-x1/out.nc (disk full)")
'GDAL could not write out.nc (disk full)'
>>> redact_query("/coverages?api_key=s3cret&bbox=1,2,3,4")
'/coverages?api_key=***&bbox=1,2,3,4'
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_plus

__all__ = ["AccessLogFilter", "Redactor", "install_access_log_filter", "redact_query"]

#: The query parameter that carries the API key (``fastapi.security.APIKeyQuery``'s name).
KEY_PARAMETER = "api_key"
_HIDDEN = "***"
_PATH_TAIL = r"""[^\s'"<>|;,()\[\]{}]*"""
_DATABASE = re.compile(r"postgres(?:ql)?://\S+", re.IGNORECASE)


class Redactor:
    """A function ``text -> text`` that replaces the server's paths in a message.

    Parameters
    ----------
    catalog
        Its entries' sources become their ids; the folders holding them are hidden (a path under one becomes
        its file name).
    temp_dirs
        More folders to hide (where exports and jobs are written); the system's temporary folder always is.
    """

    def __init__(self, catalog: Any, temp_dirs: Iterable[str | None] = ()) -> None:
        from .catalog import _source_forms

        pairs: dict[str, str] = {}
        roots: set[str] = set()
        for entry in [*catalog.coverages.values(), *catalog.layers.values()]:
            for form in _source_forms(entry.source):
                pairs.setdefault(form, entry.id)
            if "://" not in entry.source:
                for form in {os.path.abspath(entry.source), os.path.realpath(entry.source)}:
                    roots.add(os.path.dirname(form.rstrip("/\\")))
        for d in [*temp_dirs, tempfile.gettempdir()]:
            if d:
                roots.update({os.path.abspath(d), os.path.realpath(d)})
        self._ids = pairs
        sources = sorted(pairs, key=len, reverse=True)
        self._sources = re.compile("|".join(rf"{re.escape(s)}(?![\w.-])" for s in sources)) if sources else None
        hidden = sorted((r for r in roots if len(os.path.normpath(r).strip("/\\")) > 0), key=len, reverse=True)
        self._roots = (
            re.compile("|".join(rf"{re.escape(r)}(?=$|[/\\\s'\"),;:\]]){_PATH_TAIL}" for r in hidden))
            if hidden
            else None
        )

    def __call__(self, text: str) -> str:
        if self._sources is not None:
            text = self._sources.sub(lambda m: self._ids[m.group(0)], text)
        if self._roots is not None:
            text = self._roots.sub(_file_name, text)
        return _DATABASE.sub("the database", text)


def _file_name(match: re.Match) -> str:
    name = os.path.basename(match.group(0).rstrip("/\\"))
    return name or "(a server folder)"


def redact_query(text: str) -> str:
    """``text`` (a path with its query, or a query) with the value of every ``api_key`` parameter hidden.

    A parameter counts as the key when its name decodes to ``api_key`` (``api%5Fkey`` does too), as the
    service reads it.

    >>> redact_query("/wcs?SERVICE=WCS&api%5Fkey=abc&x=1"), redact_query("api_key=a&api_key=b")
    ('/wcs?SERVICE=WCS&api%5Fkey=***&x=1', 'api_key=***&api_key=***')
    """
    path, sep, query = text.rpartition("?") if "?" in text else ("", "", text)
    if "=" not in query:
        return text
    parts = []
    for part in query.split("&"):
        name, eq, _ = part.partition("=")
        if eq and unquote_plus(name).strip().lower() == KEY_PARAMETER:
            part = f"{name}={_HIDDEN}"
        parts.append(part)
    return f"{path}{sep}{'&'.join(parts)}"


class AccessLogFilter(logging.Filter):
    """Hides the API key in the request lines of an access log (uvicorn's ``uvicorn.access`` records)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(redact_query(a) if isinstance(a, str) and "=" in a else a for a in record.args)
        elif isinstance(record.msg, str) and not record.args and "=" in record.msg:
            record.msg = " ".join(redact_query(w) for w in record.msg.split(" "))
        return True


def install_access_log_filter(logger_name: str = "uvicorn.access") -> None:
    """Add an :class:`AccessLogFilter` to ``logger_name`` (once, however many apps are made)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, AccessLogFilter) for f in logger.filters):
        logger.addFilter(AccessLogFilter())
