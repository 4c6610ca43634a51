"""Errors as HTTP answers: one table from the exception tree to a status and an RFC 9457 problem details body.

Every error of the JSON API is ``application/problem+json`` with ``type``, ``title``, ``status`` and ``detail``.
The first row of :data:`PROBLEMS` whose class the exception is an instance of decides (rows go from the most
specific class to the most general):

=======================  ======  ==========================================================================
exception                status  why
=======================  ======  ==========================================================================
NotFoundError            404     an id that names no coverage or layer of the catalogue
Unauthorized             401     a missing or wrong API key
TooLargeError            413     over a limit: pixels, clip vertices, request body size
BusyError                429     too many jobs running and waiting, or too many exports at once (with
                                 ``Retry-After``)
Conflict                 409     the resource is not in a state that has what was asked (a running job's
                                 result)
BadRequestError          400     a malformed parameter (``bbox`` not four numbers, a clip that is not WKT
                                 nor GeoJSON, a body that is not JSON)
UnknownOptionError       400     an option that is not one of its choices (format, resampling...)
UnknownMethodError       400     a method name that is not registered
MissingColumnError       422     a value column or property the layer or the features do not have
UnavailableError         503     a catalogue entry whose source cannot be read (the detail says which and
                                 why, without the server's paths)
SourceError              503     a catalogue source that fails while it is read: a server problem (logged;
                                 the detail is generic, it would name server paths)
CRSError                 422     an unknown CRS, or one that cannot be used (well-formed, unusable)
GeometryError            422     an unusable geometry (a feature without one...)
InputError               422     well-formed but unusable values: empty clip, clip or bbox outside the
                                 coverage, a band the coverage lacks, a type that cannot hold the values
NoSpaceError             507     the server's disk is full (logged; generic detail)
OutputError              422     an output that cannot be written as asked: a value the band's type cannot
                                 hold (``choose a wider dtype``)
RastercoverError         422     any other error rastercover raises on purpose: never a 500
ArithmeticError          422     a computation overflowed on the request's numbers (``1e-320`` as a
                                 resolution...): logged with its traceback, as a check is missing
ProblemAnswer            any     a problem decided earlier, answered as it is (a failed job's own problem)
anything else            500     logged with its traceback; the client gets a generic detail
=======================  ======  ==========================================================================

An exposed detail is the exception's first line, with the server's paths replaced (see
:mod:`rastercover.server.redact`). An :class:`~rastercover.errors.OutputError` that carries (or was raised
while handling) an ``OSError`` with ``errno`` ENOSPC is a 507 like a ``NoSpaceError``.

FastAPI's request validation errors are ``422`` (``400`` when the body is not JSON at all); HTTP errors of
the router (an unknown path: ``404``, a wrong method: ``405``) are problem details too.

Examples
--------
>>> from rastercover.errors import CRSError, TooLargeError
>>> status, body = problem_for(TooLargeError("4000000 pixels, the limit is 1000000"))
>>> status, body["type"], body["detail"]
(413, 'urn:rastercover:problem:too-large', '4000000 pixels, the limit is 1000000')
>>> problem_for(CRSError("unknown CRS 'EPSG:0'"))[0], problem_for(KeyError("/secret/path"))[1]["detail"]
(422, 'an unexpected error happened on the server; it was logged')
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from ..errors import (
    CRSError,
    GeometryError,
    InputError,
    MissingColumnError,
    NoSpaceError,
    OutputError,
    RastercoverError,
    SourceError,
    TooLargeError,
    UnknownMethodError,
    UnknownOptionError,
)
from .catalog import NotFoundError, UnavailableError

__all__ = [
    "PROBLEMS",
    "PROBLEM_MEDIA_TYPE",
    "BadRequestError",
    "BusyError",
    "Conflict",
    "Problem",
    "ProblemAnswer",
    "Unauthorized",
    "install_problem_handlers",
    "problem_for",
    "problem_response",
]

log = logging.getLogger("rastercover.server")

PROBLEM_MEDIA_TYPE = "application/problem+json"
_GENERIC = "an unexpected error happened on the server; it was logged"
_SOURCE = "a catalogue source cannot be read on the server; it was logged"
_NO_SPACE = "the server has no space left to write the output; it was logged: retry later, or ask for less"
_RANGE = "a number of the request is out of range for the computation; it was logged: give smaller or coarser values"


class BadRequestError(InputError):
    """A malformed request parameter (HTTP 400)."""


class Unauthorized(Exception):
    """A missing or wrong API key (HTTP 401)."""


class BusyError(Exception):
    """Too many jobs running and waiting, or exports running (HTTP 429, with ``Retry-After``): retry later.

    Parameters
    ----------
    message
        What is busy and what the limit is.
    retry_after
        Seconds the client should wait (the ``Retry-After`` header; default 10).
    """

    retry_after = 10

    def __init__(self, message: str = "", *, retry_after: int | None = None) -> None:
        super().__init__(message)
        if retry_after is not None:
            self.retry_after = int(retry_after)


class Conflict(Exception):
    """The resource is not in a state that has what was asked (HTTP 409): e.g. the result of a running job."""


class ProblemAnswer(Exception):
    """A problem already decided (status and body), answered as it is: e.g. the problem that failed a job."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(str(body.get("detail", "")))
        self.status, self.body = status, body


class Problem(NamedTuple):
    """A row of :data:`PROBLEMS`: the class, its status, its ``type`` slug and ``title``; ``expose`` sends the
    exception's message as ``detail`` (otherwise a generic detail is sent, and the error is logged)."""

    cls: type[BaseException]
    status: int
    slug: str
    title: str
    expose: bool = True


#: The one table: first matching row wins.
PROBLEMS: tuple[Problem, ...] = (
    Problem(NotFoundError, 404, "not-found", "Not found"),
    Problem(Unauthorized, 401, "unauthorized", "API key missing or wrong"),
    Problem(TooLargeError, 413, "too-large", "Request too large"),
    Problem(BusyError, 429, "busy", "Too many requests"),
    Problem(Conflict, 409, "conflict", "Not available in this state"),
    Problem(BadRequestError, 400, "bad-request", "Malformed request"),
    Problem(UnknownOptionError, 400, "unknown-option", "Unknown option value"),
    Problem(UnknownMethodError, 400, "unknown-method", "Unknown method"),
    Problem(MissingColumnError, 422, "missing-column", "No such column or property"),
    Problem(UnavailableError, 503, "unavailable", "Catalogue entry unavailable"),
    Problem(SourceError, 503, "source-error", "Catalogue source unreadable", expose=False),
    Problem(CRSError, 422, "crs", "Unusable coordinate reference system"),
    Problem(GeometryError, 422, "geometry", "Unusable geometry"),
    Problem(InputError, 422, "invalid-input", "Unusable input"),
    Problem(NoSpaceError, 507, "no-space", "Insufficient storage", expose=False),
    Problem(OutputError, 422, "output-error", "Output could not be written"),
    Problem(RastercoverError, 422, "invalid-input", "Unusable input"),
    Problem(ArithmeticError, 422, "out-of-range", "Number out of range", expose=False),
)
_UNEXPECTED = Problem(Exception, 500, "internal", "Internal server error", expose=False)


def _type(slug: str) -> str:
    return f"urn:rastercover:problem:{slug}"


def problem_for(exc: BaseException, redact: Callable[[str], str] | None = None) -> tuple[int, dict[str, Any]]:
    """The status and problem details body of ``exc`` (see the table in the module's docstring).

    ``redact`` rewrites an exposed detail (the service replaces catalogue sources by their ids).
    """
    if isinstance(exc, ProblemAnswer):
        return exc.status, dict(exc.body)
    row = next((p for p in PROBLEMS if isinstance(exc, p.cls)), _UNEXPECTED)
    if isinstance(exc, OutputError) and _no_space(exc):
        row = next(p for p in PROBLEMS if p.cls is NoSpaceError)
    if row.expose:
        detail = str(exc).splitlines()[0] if str(exc) else row.title
        if redact is not None:
            detail = redact(detail)
    else:
        if row is _UNEXPECTED or row.cls is ArithmeticError:
            log.error("unexpected error answering a request", exc_info=exc)
        else:
            log.error("%s: %s", type(exc).__name__, exc)
        detail = {SourceError: _SOURCE, NoSpaceError: _NO_SPACE, ArithmeticError: _RANGE}.get(row.cls, _GENERIC)
    return row.status, {"type": _type(row.slug), "title": row.title, "status": row.status, "detail": detail}


def _no_space(exc: BaseException) -> bool:
    """True when ``exc`` says, or was raised while handling an error that says, that a device is full."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if getattr(exc, "errno", None) == errno.ENOSPC:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def problem_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
    """A ``JSONResponse`` with the problem media type."""
    from fastapi.responses import JSONResponse

    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _validation_body(exc: Any) -> tuple[int, dict[str, Any]]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, {"type": _type("bad-request"), "title": "Malformed request", "status": 400,
                     "detail": "the request body is not valid JSON"}  # fmt: skip
    parts = []
    for e in errors[:5]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{where or 'request'}: {e.get('msg', 'invalid')}")
    body = {"type": _type("validation"), "title": "Invalid request parameters", "status": 422}
    body["detail"] = "; ".join(parts) or "invalid request"
    body["errors"] = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in errors]
    return 422, body


def install_problem_handlers(app: Any, redact: Callable[[str], str] | None = None) -> None:
    """Answer every error of ``app`` (a FastAPI application) with problem details."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    async def on_error(request, exc):
        status, body = problem_for(exc, redact)
        headers = {"WWW-Authenticate": 'ApiKey header="X-API-Key"'} if status == 401 else None
        if isinstance(exc, BusyError):
            headers = {"Retry-After": str(exc.retry_after)}
        return problem_response(status, body, headers)

    async def on_validation(request, exc):
        return problem_response(*_validation_body(exc))

    async def on_http(request, exc):
        from http import HTTPStatus

        row = next((p for p in PROBLEMS if p.status == exc.status_code and p.expose), None)
        try:
            phrase = HTTPStatus(exc.status_code).phrase
        except ValueError:
            phrase = "HTTP error"
        kind, title = (_type(row.slug), row.title) if row else ("about:blank", phrase)
        detail = exc.detail if isinstance(exc.detail, str) else phrase
        body = {"type": kind, "title": title, "status": exc.status_code, "detail": detail}
        return problem_response(exc.status_code, body, getattr(exc, "headers", None))

    for row in PROBLEMS:
        app.add_exception_handler(row.cls, on_error)
    app.add_exception_handler(ProblemAnswer, on_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(Exception, on_error)
