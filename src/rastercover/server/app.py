"""The FastAPI application: catalogue metadata and exports as JSON/file endpoints, problem details on errors.

Endpoints (see ``/openapi.json``):

- ``GET /healthz``: ``{"status": "ok"}``, open even when an API key is set;
- ``GET /coverages``, ``GET /coverages/{id}``: a coverage's CRS, bounds (and WGS 84 bounds for a web map),
  resolution, size, bands, dtype, nodata, tiling, export formats and links;
- ``GET /layers``, ``GET /layers/{id}``: a vector layer's CRS, bounds, feature count, geometry type and fields;
- ``GET /layers/{id}/features``: a layer's first features as GeoJSON in WGS 84 for a web map (simplified, at most
  :data:`MAP_FEATURES` features and :data:`MAP_VERTICES` vertices), each with the id an export's ``clip_id`` takes;
- ``GET|POST /coverages/{id}/export``: an export (:func:`rastercover.exporting.plan_export` and
  :func:`~rastercover.exporting.run_export`, every option of ``rastercover export``) as an attachment, or as a job:
  with ``Prefer: respond-async`` (GET or POST), or a POST whose output is over ``Settings.direct_pixels`` (the rule
  of ``POST /rasterize``), the answer is ``202`` with ``Location: /jobs/{id}``; the job's progress counts the
  chunks read and written (the tiles, with ``per_tile``) and its result is the file. A GET without the header
  always answers the file: it is the link a browser, ``curl`` or a desktop client downloads;
- ``POST /rasterize`` (:mod:`rastercover.server.rasterize`): features (inline or a layer id) onto a grid, and
  ``POST /regrid`` (:mod:`rastercover.server.regrid`): a coverage id onto another coverage's grid or an explicit
  one, with exact overlap areas; the file, or a job (``202``, ``/jobs/{id}`` with progress) when large.

Clients name coverages and layers by their catalogue id only: ``clip_layer`` is a layer id (a feature of it is the
clip) or a coverage id (its footprint is the clip, ``clip_id`` a PostGIS raster's rid or a tile's file name),
never a path;
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
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import shapely
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Security
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader, APIKeyQuery
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..crs import crs_label
from ..errors import CRSError, InputError, SourceError, TooLargeError
from ..exporting import ExportPlan, plan_export, run_export
from ..formats import available_formats, get_format
from ..geojson import read_geometry
from ..io.registry import location_kind
from ..ops.deliver import what
from .catalog import Catalog, CoverageEntry, LayerEntry, UnavailableError
from .jobs import Job, JobManager, ResultFile, jobs_router
from .limits import ExportSlots, set_gdal_cache, trim_memory
from .problems import PROBLEM_MEDIA_TYPE, BadRequestError, Unauthorized, install_problem_handlers, problem_for
from .rasterize import check_column, rasterize_router
from .redact import Redactor, install_access_log_filter
from .regrid import regrid_router
from .responses import TempFileResponse
from .settings import Settings

__all__ = ["MAP_FEATURES", "MAP_VERTICES", "MAX_BUFFER_SEGMENTS", "ExportBody", "ExportQuery", "create_app"]

log = logging.getLogger("rastercover.server")

_ID = Path(description="A catalogue id (see /coverages and /layers).", pattern=r"^[A-Za-z0-9_.-]+$", max_length=200)
_PROBLEM = {"description": "Problem details (RFC 9457)", "content": {PROBLEM_MEDIA_TYPE: {}}}
_ERRORS: dict[int | str, dict[str, Any]] = {s: _PROBLEM for s in (400, 401, 404, 413, 422, 503)}
#: A feature id: a whole number as a database or a GeoPackage holds one (64 bits), or a text.
_FEATURE_ID = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)] | str
#: Most segments per quarter circle a client may ask of a clip's buffer (the clip's vertices grow with it).
MAX_BUFFER_SEGMENTS = 100
#: Features ``GET /layers/{id}/features`` sends at most (its ``limit``), and its default.
MAP_FEATURES, _MAP_FEATURES_DEFAULT = 5000, 1000
#: Vertices ``GET /layers/{id}/features`` sends at most (after simplification).
MAP_VERTICES = 50_000
#: A tile's file name, as a coverage clip's ``clip_id`` may give it (a name, never a path).
_TILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}")
_PREFER = Header(
    description="respond-async: answer with a job (202, Location: /jobs/{id}) instead of the file.",
    examples=["respond-async"],
)


# ---------------------------------------------------------------------- request models
class _ExportOptions(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)  # JSON's 1e400 is inf: a 422 naming the field

    format: str = Field("gtiff", description="Format key: gtiff, cog, aaigrid, xyz, png, jpeg, netcdf, gpkg.")
    bbox_crs: str | None = Field(None, description="CRS of bbox (default: the coverage's), e.g. EPSG:4326.")
    clip_crs: str | None = Field(None, description="CRS of clip (default: its GeoJSON crs, else the coverage's).")
    clip_layer: str | None = Field(
        None,
        description="Clip by a feature of this catalogue layer (a layer id of /layers, with clip_id), or by the "
        "footprint of this catalogue coverage (a coverage id of /coverages; see clip_footprint).",
        max_length=200,
    )
    clip_id: _FEATURE_ID | None = Field(
        None,
        description="The feature's id in clip_layer: its FID or primary key, or its value in clip_id_column. For a "
        "coverage: a PostGIS raster table's rid, or the file name of one tile of a tile folder (none: the whole "
        "coverage's footprint).",
    )
    clip_id_column: str | None = Field(
        None,
        description="Match clip_id against this column of the layer instead of its FID or primary key (default: "
        "the layer's id_column in the catalogue).",
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00-\x1f\x7f]+$",
    )
    clip_footprint: Literal["extent", "data"] | None = Field(
        None,
        description="With a coverage as clip_layer: its outline (extent, the default) or the polygon of its "
        "pixels with data (data).",
    )
    crop: Literal["bounds", "postgis"] | None = Field(
        None,
        description="Crop to the clip's bounds snapped outward to the pixel grid (bounds, the default) or to the "
        "window PostGIS's ST_Clip gives (postgis): the same pixels kept, a nodata column or row more or less.",
    )
    buffer: float = Field(0.0, description="Buffer the clip by this distance in coverage units.")
    buffer_segments: int | None = Field(
        None,
        ge=1,
        le=MAX_BUFFER_SEGMENTS,
        description="Segments per quarter circle of the buffer's rounded corners (default 8, as PostGIS's "
        "ST_Buffer quad_segs).",
    )
    envelope: bool = Field(False, description="Use the clip's bounding box (before buffer).")
    all_touched: bool = Field(False, description="Keep every pixel the clip touches, not only centres inside.")
    crs: str | None = Field(None, description="Warp to this CRS.")
    resampling: str = Field("nearest", description="Resampling of a warp (nearest, bilinear, cubic, average...).")
    dtype: str | None = Field(None, description="Output pixel type (uint8 ... float64).")
    nodata: float | str | None = Field(None, description="Output nodata value (a number or nan).")
    zipped: bool | None = Field(None, description="Deliver as a zip with sidecars (default: the format's own).")
    per_tile: bool = Field(
        False, description="Write each storage tile the bbox or clip meets as its own file, delivered as one zip."
    )
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
        from ..io.ogr import pyogrio as load_pyogrio

        pyogrio = load_pyogrio()

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


@dataclass
class _Options:
    """An export request's options, checked and resolved: ids replaced by the catalogue's sources."""

    format: str
    zipped: bool | None
    name: str | None
    values: dict[str, Any]  # the library's options (plan_export's keyword arguments)
    clip_coverage: CoverageEntry | None = None  # a coverage as clip_layer (its rasters need not form a coverage)


def _export_options(catalog: Catalog, settings: Settings, opts: _ExportOptions) -> _Options:
    """Check the cheap things (bbox, clip size, ids) and give the library's options; no source is opened."""
    values = opts.model_dump()
    if isinstance(opts, ExportQuery) and opts.bbox is not None:
        values["bbox"] = _parse_bbox(opts.bbox)
    if opts.clip is not None:
        _check_clip(opts.clip, settings.max_vertices)
    fmt, zipped, name = values.pop("format"), values.pop("zipped"), values.pop("filename")
    clip_id_column = values.pop("clip_id_column")
    source_id = values.pop("clip_layer")
    clip_coverage = None
    if source_id is not None:
        source = catalog.clip_source(source_id)
        if isinstance(source, LayerEntry):
            column = clip_id_column or source.id_column
            check_column(column, source.source, "clip_id_column")
            values.update(clip_layer=source.source, clip_layer_name=source.layer, clip_id_column=column)
        else:  # a coverage's footprint: the id is a rid or a tile's file name, never a path
            clip_id = values.get("clip_id")
            if isinstance(clip_id, str) and not _TILE_NAME.fullmatch(clip_id):
                raise BadRequestError(
                    f"clip_id {clip_id[:100]!r}: with a coverage as clip_layer, give a PostGIS raster's rid or the "
                    "file name of one of its tiles (letters, digits, '.', '_', '-'), or no clip_id for its footprint"
                )
            values.update(clip_layer=source.source, clip_id_column=clip_id_column)
            clip_coverage = source
    elif clip_id_column is not None:
        values["clip_id_column"] = clip_id_column  # the library says it needs a clip_layer
    if values["nodata"] is None:
        values.pop("nodata")
    if not values["per_tile"]:
        values.pop("per_tile")  # options the library gained lately are passed only when asked for
    values = {k: v for k, v in values.items() if v is not None or k in ("bbox", "clip")}
    return _Options(fmt, zipped, name, values, clip_coverage)


@dataclass
class _Planned:
    """A checked export, planned into a folder of its own: how it runs, and how it is delivered."""

    plan: ExportPlan
    folder: str
    filename: str
    media_type: str
    values: dict[str, Any]
    describe: dict[str, Any]

    @property
    def steps(self) -> int:
        """The chunks the export reads and writes (a job's progress total)."""
        return int(self.describe["request"]["chunks"])

    def run(self, job: Job | None = None) -> ResultFile:
        """Write the file (reporting each chunk to ``job``); the folder is left to the caller (or the job)."""
        progress = None
        if job is not None:
            job.phase = "exporting"
            progress = job.advance
        try:
            stem = self.filename.rsplit(".", 1)[0]
            if self.plan.request.per_tile:  # the tiles are <name>[_bbox]_r0_c0...; the zip is <name>[_bbox]_tiles
                stem = stem.removesuffix("_tiles")
            out = run_export(self.plan, member_stem=stem, progress=progress, class_names=self.plan.zipped)
        except ArithmeticError as exc:  # a check missing in the library: still the request's numbers
            raise _out_of_range(exc, self.values) from None
        return ResultFile(out.path, self.filename, self.media_type)

    def discard(self) -> None:
        """Delete the folder and whatever is in it."""
        shutil.rmtree(self.folder, ignore_errors=True)


def _plan(entry: CoverageEntry, options: _Options, settings: Settings, temp_dir: str | None) -> _Planned:
    """Open the coverage and plan the export into a new folder (every check of the library runs here)."""
    fmt = get_format(options.format)
    per_tile = bool(options.values.get("per_tile"))
    zipped = options.zipped
    if zipped is None:
        zipped = fmt.zip_default or per_tile
    elif per_tile and not zipped:
        raise InputError("per_tile is delivered as a zip of the tiles' files: drop zipped=false")
    if fmt.zip_default and not zipped:
        raise InputError(f"{fmt.key} is delivered as a zip (the data file alone would lose its CRS)")
    ext = ".zip" if zipped else fmt.extension
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", options.name or entry.id).strip("._") or "coverage"
    cov = entry.open()  # a coverage clip_layer is not opened as a coverage: only its row's or file's footprint
    folder = tempfile.mkdtemp(prefix="rastercover-export-", dir=temp_dir)
    try:
        plan = plan_export(
            cov,
            os.path.join(folder, f"{base}{ext}"),
            overwrite=True,
            format=fmt.key,
            max_pixels=settings.max_pixels,
            **options.values,
        )
        filename = f"{base}{what(plan.request)}{'_tiles' if per_tile else ''}{ext}"
        g = plan.out_grid
        describe = {
            "request": {
                "coverage": entry.id,
                "format": fmt.key,
                "filename": filename,
                "crs": crs_label(g.crs) if g.crs is not None else None,
                "bounds": [float(v) for v in g.bounds],
                "width": g.width,
                "height": g.height,
                "bands": list(plan.bands),
                "pixels": plan.pixels,
                "chunks": plan.steps,
            }
        }
    except ArithmeticError as exc:  # a check missing in the library: still the request's numbers
        shutil.rmtree(folder, ignore_errors=True)
        raise _out_of_range(exc, options.values) from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return _Planned(plan, folder, filename, fmt.media_type_of(filename), options.values, describe)


def _job_answer(jobs: JobManager, planned: _Planned, request: Request, *, asked: bool) -> JSONResponse:
    """Run ``planned`` as a job: ``202 Accepted`` with its status and ``Location: /jobs/{id}``."""
    try:
        job = jobs.submit(
            planned.run, title="export", info=planned.describe, folder=planned.folder, total=planned.steps
        )
    except BaseException:
        planned.discard()
        raise
    base = request.scope.get("root_path", "")
    headers = {"Location": f"{base}/jobs/{job.id}"}
    if asked:
        headers["Preference-Applied"] = "respond-async"
    return JSONResponse(job.describe(base), status_code=202, headers=headers)


async def _answer_export(
    app_state: Any,
    id: str,
    opts: _ExportOptions,
    request: Request,
    prefer: str | None,
    *,
    large_is_job: bool,
) -> Response:
    """The file (``200``), or a job (``202``) when the client prefers it or (``large_is_job``) when the output is
    over ``Settings.direct_pixels``. A file answered directly takes an export slot from before the export is
    planned (reading a clip feature included) until the file is written; a job takes none."""
    catalog, settings, temp_dir = app_state.catalog, app_state.settings, app_state.temp_dir
    jobs, slots = app_state.jobs, app_state.export_slots
    entry = catalog.coverage(id)
    options = _export_options(catalog, settings, opts)
    asked = prefer is not None and "respond-async" in prefer.lower()
    if asked:
        planned = await run_in_threadpool(_plan, entry, options, settings, temp_dir)
        return _job_answer(jobs, planned, request, asked=True)
    with slots.hold() if slots is not None else contextlib.nullcontext():
        planned = await run_in_threadpool(_plan, entry, options, settings, temp_dir)
        if not (large_is_job and planned.plan.pixels > settings.direct_pixels):
            try:
                out = await run_in_threadpool(planned.run)  # waits for the thread, also when the client goes away
            except BaseException:
                planned.discard()
                raise
            # deleted however the response ends (sent, client gone, read error), not only after a complete send
            return TempFileResponse(out.path, media_type=out.media_type, filename=out.filename, cleanup=planned.discard)
    return _job_answer(jobs, planned, request, asked=False)


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
        docs_url=None,  # /docs and /redoc: the page's router serves them from the package's own static files
        redoc_url=None,
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

    @api.get("/layers/{id}/features", tags=["layers"], responses={200: {"content": {"application/geo+json": {}}}})
    async def get_layer_features(
        id: Annotated[str, _ID],
        limit: Annotated[int, Query(ge=1, le=MAP_FEATURES, description="Features at most.")] = _MAP_FEATURES_DEFAULT,
    ) -> JSONResponse:
        """The layer's first features (FID or key order) for a web map: GeoJSON in WGS 84, simplified to 1/2000 of
        their extent, at most ``limit`` features and ``MAP_VERTICES`` (50,000) vertices (``truncated``: some were
        left out). Each feature's ``id`` is what an export's ``clip_id`` takes."""
        entry = catalog.layer(id)
        data = await run_in_threadpool(lambda: entry.map_features(limit=limit, max_vertices=MAP_VERTICES))
        return JSONResponse(data, media_type="application/geo+json")

    file_response = {
        200: {"description": "The exported file, as an attachment.", "content": {"*/*": {}}},
        202: {"description": "A job was created (Prefer: respond-async, or a large POST): poll Location (/jobs/{id})."},
    }
    busy = {429: _PROBLEM, 507: _PROBLEM}

    @api.get("/coverages/{id}/export", tags=["export"], response_class=FileResponse, responses=file_response | busy)
    async def export_get(
        id: Annotated[str, _ID],
        options: Annotated[ExportQuery, Query()],
        request: Request,
        prefer: Annotated[str | None, _PREFER] = None,
    ) -> Response:
        """Export the coverage (or a bbox / clipped piece of it) as a file attachment, whatever its size (a link a
        browser or ``curl`` downloads); with ``Prefer: respond-async``, as a job with progress (``202``)."""
        return await _answer_export(app.state, id, options, request, prefer, large_is_job=False)

    @api.post("/coverages/{id}/export", tags=["export"], response_class=FileResponse, responses=file_response | busy)
    async def export_post(
        id: Annotated[str, _ID],
        options: ExportBody,
        request: Request,
        prefer: Annotated[str | None, _PREFER] = None,
    ) -> Response:
        """Export as ``GET`` does, with the options in a JSON body (a GeoJSON clip object, bbox as a list). As for
        ``POST /rasterize``, an output over ``direct_pixels`` (bands included), or a request with ``Prefer:
        respond-async``, becomes a job: ``202`` with ``Location: /jobs/{id}``, whose progress counts the chunks
        read and written, and whose result (``/jobs/{id}/result``) is the file."""
        return await _answer_export(app.state, id, options, request, prefer, large_is_job=True)

    if not open_docs:

        @api.get("/openapi.json", include_in_schema=False)
        def openapi() -> dict[str, Any]:
            return app.openapi()

    app.include_router(api)
    for verb_router in (rasterize_router, regrid_router):  # verbs that run a library plan: the file or a job
        app.include_router(
            verb_router(catalog, settings, jobs, temp_dir, slots), dependencies=deps, responses={**_ERRORS, **busy}
        )
    app.include_router(jobs_router(jobs), dependencies=deps, responses={**_ERRORS, 409: _PROBLEM})
    # ---- routers of other modules (WCS, the web page) are included here, behind the same API key
    _include_optional_routers(app, catalog, settings, deps)
    return app
