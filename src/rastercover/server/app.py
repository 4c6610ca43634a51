"""The FastAPI application: catalogue metadata and exports as JSON/file endpoints, problem details on errors.

Endpoints (see ``/openapi.json``):

- ``GET /healthz``: ``{"status": "ok"}``, open even when an API key is set;
- ``GET /coverages``, ``GET /coverages/{id}``: a coverage's CRS, bounds (and WGS 84 bounds for a web map),
  resolution, size, bands, dtype, nodata, tiling, export formats and links;
- ``GET /layers``, ``GET /layers/{id}``: a vector layer's CRS, bounds, feature count, geometry type and fields;
- ``GET|POST /coverages/{id}/export``: the export of :func:`rastercover.export.export_file` as an attachment.

Clients name coverages and layers by their catalogue id only (``clip_layer`` is a layer id, never a path);
errors are RFC 9457 problem details (:mod:`rastercover.server.problems`), and messages never show the
server's paths: a catalogue source in a message is replaced by its id, any other server path by its file name
(:mod:`rastercover.server.redact`). Numbers must be finite (JSON's ``1e400`` is infinite): a request with
another is a 422 naming the field. An entry whose source cannot be read is listed with ``"available": false``
and its ``problem``; a request on it is a 503 problem. Exports run ``Settings.max_exports`` at a time (429 with
``Retry-After`` beyond, :mod:`rastercover.server.limits`); GDAL's block cache is bounded when the service
starts (``Settings.gdal_cache_mb``). With an API key, the access log shows ``api_key=***``.

Examples
--------
>>> import os, tempfile, numpy as np, rasterio
>>> from affine import Affine
>>> from fastapi.testclient import TestClient
>>> d = tempfile.mkdtemp()
>>> with rasterio.open(os.path.join(d, "dem.tif"), "w", driver="GTiff", width=4, height=2, count=1,
...                    dtype="uint8", crs="EPSG:32198", transform=Affine(10, 0, 0, 0, -10, 20)) as ds:
...     ds.write(np.arange(8, dtype="uint8").reshape(1, 2, 4))
>>> client = TestClient(create_app(Catalog.from_sources([d])))
>>> meta = client.get("/coverages/dem").json()
>>> meta["crs"]["label"], meta["bounds"], meta["width"], meta["height"]
('EPSG:32198', [0.0, 0.0, 40.0, 20.0], 4, 2)
>>> r = client.get("/coverages/dem/export", params={"bbox": "0,0,20,20"})
>>> r.status_code, r.headers["content-type"], r.headers["content-disposition"]
(200, 'image/tiff; application=geotiff', 'attachment; filename="dem_bbox.tif"')
>>> r = client.get("/coverages/nope")
>>> r.status_code, r.headers["content-type"], r.json()["title"]
(404, 'application/problem+json', 'Not found')
"""

from __future__ import annotations

import contextlib
import hmac
import importlib
import importlib.util
import logging
import math
from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Security
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.security import APIKeyHeader, APIKeyQuery
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..crs import crs_label
from ..errors import CRSError, InputError, SourceError, TooLargeError
from ..export import export_file
from ..formats import available_formats
from ..geojson import read_geometry
from ..io.registry import location_kind
from .catalog import Catalog, CoverageEntry, LayerEntry, UnavailableError
from .jobs import JobManager, jobs_router
from .limits import ExportSlots, set_gdal_cache, trim_memory
from .problems import PROBLEM_MEDIA_TYPE, BadRequestError, Unauthorized, install_problem_handlers, problem_for
from .rasterize import rasterize_router
from .redact import Redactor, install_access_log_filter
from .responses import TempFileResponse
from .settings import Settings

__all__ = ["ExportBody", "ExportQuery", "create_app"]

log = logging.getLogger("rastercover.server")

_ID = Path(description="A catalogue id (see /coverages and /layers).", pattern=r"^[A-Za-z0-9_.-]+$", max_length=200)
_PROBLEM = {"description": "Problem details (RFC 9457)", "content": {PROBLEM_MEDIA_TYPE: {}}}
_ERRORS: dict[int | str, dict[str, Any]] = {s: _PROBLEM for s in (400, 401, 404, 413, 422, 503)}
#: A feature id: a whole number as a database or a GeoPackage holds one (64 bits), or a text.
_FEATURE_ID = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)] | str


# ---------------------------------------------------------------------- request models
class _ExportOptions(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)  # JSON's 1e400 is inf: a 422 naming the field

    format: str = Field("gtiff", description="Format key: gtiff, cog, aaigrid, xyz, png, jpeg, netcdf, gpkg.")
    bbox_crs: str | None = Field(None, description="CRS of bbox (default: the coverage's), e.g. EPSG:4326.")
    clip_crs: str | None = Field(None, description="CRS of clip (default: its GeoJSON crs, else the coverage's).")
    clip_layer: str | None = Field(
        None, description="Clip by a feature of this catalogue layer (a layer id of /layers), with clip_id."
    )
    clip_id: _FEATURE_ID | None = Field(None, description="The feature's id in clip_layer.")
    buffer: float = Field(0.0, description="Buffer the clip by this distance in coverage units.")
    envelope: bool = Field(False, description="Use the clip's bounding box (before buffer).")
    all_touched: bool = Field(False, description="Keep every pixel the clip touches, not only centres inside.")
    crs: str | None = Field(None, description="Warp to this CRS.")
    resampling: str = Field("nearest", description="Resampling of a warp (nearest, bilinear, cubic, average...).")
    dtype: str | None = Field(None, description="Output pixel type (uint8 ... float64).")
    nodata: float | str | None = Field(None, description="Output nodata value (a number or nan).")
    zipped: bool | None = Field(None, description="Deliver as a zip with sidecars (default: the format's own).")
    filename: str | None = Field(
        None, description="Download name stem (default: the coverage id).", pattern=r"^[A-Za-z0-9._-]{1,100}$"
    )


class ExportQuery(_ExportOptions):
    """Export options as query parameters (``GET /coverages/{id}/export``)."""

    bbox: str | None = Field(None, description="xmin,ymin,xmax,ymax (in bbox_crs).", examples=["0,0,1000,1000"])
    clip: str | None = Field(None, description="Clip geometry as GeoJSON text or WKT.")
    bands: str | None = Field(None, description="1-based bands, e.g. 1,3 (default: all).")
    resolution: str | None = Field(None, description="Warp to this pixel size: R or XRES,YRES.")


class ExportBody(_ExportOptions):
    """Export options as a JSON body (``POST /coverages/{id}/export``)."""

    model_config = ConfigDict(extra="forbid")

    bbox: list[float] | None = Field(None, min_length=4, max_length=4, description="[xmin, ymin, xmax, ymax].")
    clip: dict[str, Any] | str | None = Field(None, description="Clip geometry: a GeoJSON object, or GeoJSON/WKT text.")
    bands: list[int] | str | None = Field(None, description="1-based bands (default: all).")
    resolution: float | list[float] | str | None = Field(None, description="Warp to this pixel size.")


# ---------------------------------------------------------------------- metadata
def _crs_info(crs: Any) -> dict[str, Any] | None:
    if crs is None:
        return None
    return {"label": crs_label(crs), "epsg": crs.to_epsg(min_confidence=90), "wkt": crs.to_wkt()}


def _wgs84(bounds: Any, crs: Any) -> list[float] | None:
    if bounds is None or crs is None:
        return None
    from pyproj import Transformer

    try:
        out = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform_bounds(*bounds, densify_pts=21)
    except Exception:  # pyproj: a CRS without a path to WGS 84
        return None
    return [float(v) for v in out] if all(math.isfinite(v) for v in out) else None


def _number(v: Any) -> Any:
    return None if v is None else (str(v) if isinstance(v, float) and not math.isfinite(v) else v)


def unavailable_metadata(entry: CoverageEntry | LayerEntry, kind: str = "coverages") -> dict[str, Any]:
    """What a listing says of an entry whose source cannot be read: its id, title and why."""
    return {
        "id": entry.id,
        "title": entry.title,
        "available": False,
        "problem": entry.problem or "its source cannot be read",
        "links": {"self": f"/{kind}/{entry.id}"},
    }


def coverage_metadata(entry: CoverageEntry) -> dict[str, Any]:
    """What ``GET /coverages/{id}`` answers (opens the coverage; :class:`UnavailableError` when it cannot)."""
    cov = entry.open()
    g = cov.grid
    rows, cols = g.tile_layout
    names = cov.band_names
    base = f"/coverages/{entry.id}"
    return {
        "id": entry.id,
        "title": entry.title,
        "available": True,
        "crs": _crs_info(g.crs),
        "bounds": [float(v) for v in g.bounds],
        "bounds_wgs84": _wgs84(g.bounds, g.crs),
        "resolution": [float(v) for v in g.res],
        "width": g.width,
        "height": g.height,
        "transform": [float(v) for v in tuple(g.transform)[:6]],
        "bands": [{"index": i, "name": names[i - 1] if i <= len(names) else ""} for i in range(1, cov.count + 1)],
        "dtype": str(cov.dtype),
        "nodata": _number(cov.nodata),
        "tiles": {"width": g.tile_width, "height": g.tile_height, "rows": rows, "columns": cols, "count": g.n_tiles},
        "formats": [f.key for f in available_formats()],
        "links": {"self": base, "export": f"{base}/export", "preview": f"{base}/preview.png"},
    }


def layer_metadata(entry: LayerEntry) -> dict[str, Any]:
    """What ``GET /layers/{id}`` answers (reads the layer's header; :class:`UnavailableError` when it cannot)."""
    if entry.unreadable is not None:
        raise UnavailableError(f"layer {entry.id!r} is unavailable: {entry.unreadable}")
    out: dict[str, Any] = {"id": entry.id, "title": entry.title, "available": True, "id_column": entry.id_column}
    if location_kind(entry.source) == "postgis":
        from ..io.vector_postgis import PostgisVectorSource

        try:
            src = PostgisVectorSource(entry.source)
            crs, bounds = src.crs, src.bounds
            out.update(src.layer_info())  # exact count unless the table is huge (then feature_count_estimated)
        except SourceError as exc:  # the database or the table: the layer is unavailable, not the request wrong
            raise entry.unavailable(exc) from None
    else:
        import pyogrio

        from ..crs import as_crs

        try:
            info = pyogrio.read_info(entry.source, layer=entry.layer, force_feature_count=True, force_total_bounds=True)
        except Exception as exc:  # pyogrio's DataSourceError and friends
            raise entry.unavailable(exc) from None
        crs = as_crs(info.get("crs"))
        tb = info.get("total_bounds")
        bounds = tuple(float(v) for v in tb) if tb is not None and all(math.isfinite(v) for v in tb) else None
        fields = [{"name": str(n), "type": str(t)} for n, t in zip(info["fields"], info["dtypes"], strict=False)]
        out.update(feature_count=int(info["features"]), feature_count_estimated=False)
        out.update(geometry_type=info.get("geometry_type"), fields=fields)
    out.update(crs=_crs_info(crs), bounds=list(bounds) if bounds else None, bounds_wgs84=_wgs84(bounds, crs))
    return out


# ---------------------------------------------------------------------- export
def _parse_bbox(text: str) -> list[float]:
    parts = [p for p in text.replace(" ", ",").split(",") if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4:
        raise BadRequestError(f"bbox {text!r} is not four numbers: give xmin,ymin,xmax,ymax")
    return values


def _check_clip(clip: Any, max_vertices: int) -> None:
    try:
        geom, _ = read_geometry(clip, what="the clip")
    except CRSError:
        raise
    except InputError as exc:
        raise BadRequestError(str(exc)) from None
    n = int(shapely.get_num_coordinates(geom))
    if n > max_vertices:
        raise TooLargeError(f"the clip has {n} vertices, the limit is {max_vertices}: simplify it")


def _listed(entry: CoverageEntry | LayerEntry, kind: str) -> dict[str, Any]:
    """An entry's metadata in a listing: its own, or what is known of it when its source cannot be read."""
    try:
        return coverage_metadata(entry) if kind == "coverages" else layer_metadata(entry)
    except UnavailableError:
        return unavailable_metadata(entry, kind)


_NUMBERS = ("bbox", "resolution", "buffer", "nodata", "bands", "clip")


def _out_of_range(exc: ArithmeticError, values: dict[str, Any]) -> InputError:
    """The 422 of an export whose numbers overflowed a computation (logged with its traceback: a check is missing)."""
    log.error("an export overflowed on the request's numbers %r", values, exc_info=exc)
    given = [k for k in _NUMBERS if values.get(k) not in (None, 0.0)] or ["the request's numbers"]
    return InputError(
        f"{' or '.join(given)}: out of range for this coverage ({type(exc).__name__}); give smaller or coarser values"
    )


async def _run_export(
    catalog: Catalog,
    settings: Settings,
    temp_dir: str | None,
    id: str,
    opts: _ExportOptions,
    slots: ExportSlots | None = None,
) -> TempFileResponse:
    entry = catalog.coverage(id)
    values = opts.model_dump()
    if isinstance(opts, ExportQuery) and opts.bbox is not None:
        values["bbox"] = _parse_bbox(opts.bbox)
    if opts.clip is not None:
        _check_clip(opts.clip, settings.max_vertices)
    fmt, zipped, name = values.pop("format"), values.pop("zipped"), values.pop("filename")
    layer_id = values.pop("clip_layer")
    if layer_id is not None:
        layer = catalog.layer(layer_id)
        values.update(clip_layer=layer.source, clip_layer_name=layer.layer, clip_id_column=layer.id_column)
    if values["nodata"] is None:
        values.pop("nodata")
    values = {k: v for k, v in values.items() if v is not None or k in ("bbox", "clip")}

    def work():
        cov = entry.open()
        try:
            return export_file(
                cov,
                format=fmt,
                zipped=zipped,
                name=name or entry.id,
                dir=temp_dir,
                max_pixels=settings.max_pixels,
                **values,
            )
        except ArithmeticError as exc:  # a check missing in the library: still the request's numbers
            raise _out_of_range(exc, values) from None

    with slots.hold() if slots is not None else contextlib.nullcontext():
        out = await run_in_threadpool(work)  # waits for the thread, also when the client goes away
    # deleted however the response ends (sent, client gone, read error), not only after a complete send
    return TempFileResponse(out.path, media_type=out.media_type, filename=out.filename, cleanup=out.cleanup)


# ---------------------------------------------------------------------- safety
class _BodyLimit:
    """ASGI middleware: refuse a body over ``limit`` bytes (by its Content-Length, and by what arrives)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or ()).get(b"content-length")
        too_big = TooLargeError(f"the request body is over the limit of {self.limit} bytes")
        try:
            declared = int(length) if length is not None else 0
        except ValueError:
            declared = self.limit + 1
        if declared > self.limit:
            from .problems import problem_response

            await problem_response(*problem_for(too_big))(scope, receive, send)
            return
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    from starlette.exceptions import HTTPException

                    raise HTTPException(413, str(too_big))
            return message

        await self.app(scope, limited, send)


def _key_dependency(settings: Settings):
    header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The service's API key.")
    query = APIKeyQuery(name="api_key", auto_error=False, description="The service's API key (query form).")
    expected = (settings.api_key or "").encode()

    def require_api_key(h: str | None = Security(header), q: str | None = Security(query)) -> None:
        given = (h or q or "").encode()
        if not hmac.compare_digest(given, expected):
            raise Unauthorized("give the API key in the X-API-Key header or the api_key query parameter")

    return require_api_key


# ---------------------------------------------------------------------- routers of other modules
#: ``(module of this package, attribute)``: an ``APIRouter``, or a callable ``(catalog, settings) -> APIRouter``.
_OPTIONAL_ROUTERS = (("wcs", "wcs_router"), ("page", "page_router"))


def _include_optional_routers(app: FastAPI, catalog: Catalog, settings: Settings, dependencies: list) -> None:
    """Include the routers of modules written separately (WCS, web page), when they exist.

    A missing module is skipped; a module that exists but fails to import raises. A module with a
    ``mount_static(app)`` function gets it called after its router is included. Routers reach the
    catalogue and settings through ``request.app.state.catalog`` / ``.settings`` (or get them when they
    are factories), and sit behind the API key like every route but ``/healthz``.
    """
    for module, attr in _OPTIONAL_ROUTERS:
        name = f"{__package__}.{module}"
        if importlib.util.find_spec(name) is None:
            continue
        mod = importlib.import_module(name)
        router = getattr(mod, attr)
        if not isinstance(router, APIRouter) and callable(router):
            router = router(catalog, settings)
        app.include_router(router, dependencies=dependencies)
        if callable(getattr(mod, "mount_static", None)):  # the page's scripts and styles (public assets)
            mod.mount_static(app)


# ---------------------------------------------------------------------- the application
def create_app(catalog: Catalog, settings: Settings | None = None, *, temp_dir: str | None = None) -> FastAPI:
    """The service's FastAPI application.

    Parameters
    ----------
    catalog
        What it serves.
    settings
        Limits, API key, CORS (default: :meth:`Settings.from_env`).
    temp_dir
        Where exports are written before they are sent (and deleted): default, the system's temporary folder.

    When the application starts (its lifespan), it bounds GDAL's block cache (``settings.gdal_cache_mb``) and
    opens every catalogue entry once (:meth:`Catalog.check`: one warning per entry that cannot be read).
    """
    settings = settings or Settings.from_env()
    redact = Redactor(catalog, [temp_dir])
    jobs = JobManager(settings, temp_dir, redact)
    slots = ExportSlots(settings.max_exports, settings.export_retry_after, on_idle=trim_memory)
    install_access_log_filter()  # uvicorn's access log: api_key=***

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        set_gdal_cache(settings.gdal_cache_mb)
        await run_in_threadpool(catalog.check)
        yield
        await run_in_threadpool(jobs.shutdown)  # cancel running jobs, delete every job's folder

    open_docs = not settings.api_key_required  # with an API key, /openapi.json needs it too and /docs is off
    app = FastAPI(
        title="rastercover",
        version=__version__,
        description="Raster coverages and vector layers of a catalogue: metadata and exports as files.",
        openapi_url="/openapi.json" if open_docs else None,
        docs_url="/docs" if open_docs else None,
        redoc_url="/redoc" if open_docs else None,
        lifespan=lifespan,
    )
    app.state.catalog, app.state.settings, app.state.temp_dir = catalog, settings, temp_dir
    app.state.jobs, app.state.export_slots, app.state.redact = jobs, slots, redact
    install_problem_handlers(app, redact)
    app.add_middleware(_BodyLimit, limit=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
        )

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, str]:
        """Liveness: always ``{"status": "ok"}`` (no API key needed)."""
        return {"status": "ok"}

    deps = [Depends(_key_dependency(settings))] if settings.api_key_required else []
    api = APIRouter(dependencies=deps, responses=_ERRORS)

    @api.get("/coverages", tags=["coverages"])
    async def list_coverages() -> list[dict[str, Any]]:
        """Every coverage of the catalogue, with its metadata (``available: false`` and a ``problem`` for one
        whose source cannot be read)."""
        return [await run_in_threadpool(_listed, e, "coverages") for e in catalog.coverages.values()]

    @api.get("/coverages/{id}", tags=["coverages"])
    async def get_coverage(id: Annotated[str, _ID]) -> dict[str, Any]:
        """A coverage's CRS, bounds, resolution, size, bands, dtype, nodata, tiles, formats and links."""
        return await run_in_threadpool(coverage_metadata, catalog.coverage(id))

    @api.get("/layers", tags=["layers"])
    async def list_layers() -> list[dict[str, Any]]:
        """Every vector layer of the catalogue (clip sources), with its metadata (or ``available: false``)."""
        return [await run_in_threadpool(_listed, e, "layers") for e in catalog.layers.values()]

    @api.get("/layers/{id}", tags=["layers"])
    async def get_layer(id: Annotated[str, _ID]) -> dict[str, Any]:
        """A layer's CRS, bounds, feature count, geometry type and fields."""
        return await run_in_threadpool(layer_metadata, catalog.layer(id))

    file_response = {200: {"description": "The exported file, as an attachment.", "content": {"*/*": {}}}}
    busy = {429: _PROBLEM, 507: _PROBLEM}

    @api.get("/coverages/{id}/export", tags=["export"], response_class=FileResponse, responses=file_response | busy)
    async def export_get(id: Annotated[str, _ID], options: Annotated[ExportQuery, Query()]) -> TempFileResponse:
        """Export the coverage (or a bbox / clipped piece of it) as a file attachment."""
        return await _run_export(catalog, settings, temp_dir, id, options, slots)

    @api.post("/coverages/{id}/export", tags=["export"], response_class=FileResponse, responses=file_response | busy)
    async def export_post(id: Annotated[str, _ID], options: ExportBody) -> TempFileResponse:
        """Export as ``GET`` does, with the options in a JSON body (a GeoJSON clip object, bbox as a list)."""
        return await _run_export(catalog, settings, temp_dir, id, options, slots)

    if not open_docs:

        @api.get("/openapi.json", include_in_schema=False)
        def openapi() -> dict[str, Any]:
            return app.openapi()

    app.include_router(api)
    app.include_router(
        rasterize_router(catalog, settings, jobs, temp_dir, slots), dependencies=deps, responses={**_ERRORS, **busy}
    )
    app.include_router(jobs_router(jobs), dependencies=deps, responses={**_ERRORS, 409: _PROBLEM})
    # ---- routers of other modules (WCS, the web page) are included here, behind the same API key
    _include_optional_routers(app, catalog, settings, deps)
    return app
