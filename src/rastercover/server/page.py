"""The service's web page: ``GET /``, ``GET /coverages/{id}/preview.png`` and the static files it loads.

The page (``templates/index.html``, with ``static/app.js`` and ``static/app.css``) lists the catalogue, shows a
Leaflet map (vendored in ``static/leaflet/``: no CDN, and no base layer since tile servers may be out of reach)
with each coverage's footprint and preview and the vector layers ticked in the list (``GET /layers/{id}/features``:
clicking a feature makes it the export's clip), and a form that asks for the export as a job, shows its progress
and downloads its result. It gets its data from the JSON API (``GET /coverages``, ``GET /layers``); the formats
offered are :func:`rastercover.formats.available_formats`, written into the page when the router is made.

The API's documentation pages are served here too, from the package's own files (no CDN, no font service, so
they work offline): ``GET /docs`` (Swagger UI, vendored in ``static/swagger-ui/``) and ``GET /redoc`` (ReDoc,
``static/redoc/``), both reading ``/openapi.json``; they are off when the service has an API key.

Static files are served by Starlette's :class:`~starlette.staticfiles.StaticFiles` mounted at ``/static``
(:func:`mount_static`: a router cannot mount an application, so the app factory calls it). ``StaticFiles``
serves only files under :data:`STATIC_DIR`: a path that resolves outside it (``..``, encoded or not) or
through a symbolic link out of it is a 404.

With an API key, open the page as ``/?api_key=KEY``: the script reads the key from its own URL and adds it to
the requests it makes (the page's HTML never holds it). The static files need the key too (header, query, or the
cookie the page sets: an HttpOnly, SameSite=Strict token derived from the key, valid under ``/static`` only, that
lets the browser load the page's scripts and styles).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles

from ..formats import available_formats
from .catalog import Catalog, NotFoundError
from .preview import render_preview
from .problems import Unauthorized, problem_for, problem_response
from .settings import Settings

__all__ = ["STATIC_COOKIE", "STATIC_DIR", "TEMPLATE_DIR", "mount_static", "page_router", "static_token"]

#: The cookie that lets a browser holding the page load its static files when the service has an API key.
STATIC_COOKIE = "rastercover_static"

#: The page's static files (``app.js``, ``app.css``, ``leaflet/``, ``swagger-ui/``, ``redoc/``), served at ``/static``.
STATIC_DIR = Path(__file__).resolve().parent / "static"
#: The page's HTML template.
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"

_PREVIEW_CACHE_SIZE = 64


def static_token(api_key: str) -> str:
    """The value of :data:`STATIC_COOKIE` for ``api_key``: a keyed hash, good for the static files only.

    >>> static_token("k") == static_token("k") != static_token("other")
    True
    """
    return hmac.new(api_key.encode(), b"rastercover static files", hashlib.sha256).hexdigest()


class _KeyRequired:
    """ASGI wrapper: the wrapped app answers only requests with the API key (``X-API-Key`` header, ``api_key``
    query parameter, or the page's :data:`STATIC_COOKIE`); others get a 401 problem."""

    def __init__(self, app: Any, api_key: str) -> None:
        self.app = app
        self._key, self._token = api_key.encode(), static_token(api_key).encode()

    def _allowed(self, request: Request) -> bool:
        given = request.headers.get("x-api-key") or request.query_params.get("api_key")
        if given is not None:
            return hmac.compare_digest(given.encode(), self._key)
        cookie = request.cookies.get(STATIC_COOKIE)
        return cookie is not None and hmac.compare_digest(cookie.encode(), self._token)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not self._allowed(Request(scope)):
            status, body = problem_for(Unauthorized("give the API key: open the page as /?api_key=KEY"))
            headers = {"WWW-Authenticate": 'ApiKey header="X-API-Key"'}
            await problem_response(status, body, headers)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def mount_static(app: FastAPI, path: str = "/static") -> None:
    """Serve :data:`STATIC_DIR` at ``path`` (the page's scripts, styles and Leaflet).

    With an API key (``app.state.settings``), a request needs the key or the cookie the page sets.

    Parameters
    ----------
    app
        The application (the app factory calls this after including :func:`page_router`).
    path
        Where; the page refers to ``{root_path}/static``, so change it only with the template.
    """
    files: Any = StaticFiles(directory=STATIC_DIR, follow_symlink=False)
    settings = getattr(app.state, "settings", None)
    if settings is not None and settings.api_key_required:
        files = _KeyRequired(files, settings.api_key)
    app.mount(path, files, name="static")


def _format_options() -> str:
    options = []
    for f in available_formats():
        label = f"{f.key} ({f.driver}, {f.delivery_extension})"
        selected = " selected" if f.key == "gtiff" else ""
        options.append(f'<option value="{html.escape(f.key)}"{selected}>{html.escape(label)}</option>')
    return "\n            ".join(options)


def page_router(catalog: Catalog, settings: Settings) -> APIRouter:
    """The router of the web page and of the coverages' previews.

    Parameters
    ----------
    catalog
        The coverages whose previews are served.
    settings
        The service's settings (an API key makes previews ``private`` to caches).

    Returns
    -------
    fastapi.APIRouter
        ``GET /`` (the HTML page), ``GET /docs`` and ``GET /redoc`` (the API's documentation, without an API key)
        and ``GET /coverages/{id}/preview.png`` (PNG quick look, ``size`` query parameter: the longest side, 16 to
        2048, default 512; rendered in a worker thread and kept in a small in-memory cache; an unknown id is a 404
        problem). Call :func:`mount_static` on the app too.
    """
    router = APIRouter()
    template = (TEMPLATE_DIR / "index.html").read_text(encoding="utf-8")
    template = template.replace("{{formats}}", _format_options())
    cache: OrderedDict[tuple[str, int], bytes] = OrderedDict()
    lock = threading.Lock()
    cache_control = f"{'private' if settings.api_key_required else 'public'}, max-age=3600"

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(request: Request) -> HTMLResponse:
        prefix = request.scope.get("root_path", "").rstrip("/")
        root = html.escape(prefix, quote=True)
        page = HTMLResponse(template.replace("{{root}}", root), headers={"Cache-Control": "no-cache"})
        if settings.api_key_required:  # the request had the key: let the browser load the page's static files
            page.set_cookie(
                STATIC_COOKIE,
                static_token(settings.api_key),
                path=f"{prefix}/static",
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
        return page

    if not settings.api_key_required:  # with an API key, /openapi.json needs it, and the docs pages are off

        @router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
        def swagger_ui(request: Request) -> HTMLResponse:
            root = request.scope.get("root_path", "").rstrip("/")
            return get_swagger_ui_html(
                openapi_url=f"{root}/openapi.json",
                title="rastercover API",
                swagger_js_url=f"{root}/static/swagger-ui/swagger-ui-bundle.js",
                swagger_css_url=f"{root}/static/swagger-ui/swagger-ui.css",
                swagger_favicon_url=f"{root}/static/swagger-ui/favicon-32x32.png",
                swagger_ui_parameters={"validatorUrl": None},  # no call to swagger.io's online validator
            )

        @router.get("/redoc", response_class=HTMLResponse, include_in_schema=False)
        def redoc(request: Request) -> HTMLResponse:
            root = request.scope.get("root_path", "").rstrip("/")
            return get_redoc_html(
                openapi_url=f"{root}/openapi.json",
                title="rastercover API",
                redoc_js_url=f"{root}/static/redoc/redoc.standalone.js",
                redoc_favicon_url=f"{root}/static/swagger-ui/favicon-32x32.png",
                with_google_fonts=False,
            )

    @router.get(
        "/coverages/{coverage_id}/preview.png",
        response_class=Response,
        responses={200: {"content": {"image/png": {}}}, 404: {"description": "unknown coverage"}},
        summary="A quick look of the coverage (PNG, not for analysis)",
    )
    async def preview(coverage_id: str, size: int = Query(512, ge=16, le=2048)) -> Any:
        try:
            entry = catalog.coverage(coverage_id)
        except NotFoundError as exc:
            return problem_response(*problem_for(exc))
        key = (coverage_id, size)
        with lock:
            png = cache.get(key)
            if png is not None:
                cache.move_to_end(key)
        if png is None:

            def render() -> bytes:
                return render_preview(entry.open(), max_size=size)

            png = await run_in_threadpool(render)
            with lock:
                cache[key] = png
                while len(cache) > _PREVIEW_CACHE_SIZE:
                    cache.popitem(last=False)
        return Response(png, media_type="image/png", headers={"Cache-Control": cache_control})

    return router
