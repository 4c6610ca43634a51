"""``POST /rasterize``: a vector coverage + a grid + methods → the raster file, directly or as a job.

The request names its features either inline (``features``: a GeoJSON ``FeatureCollection``, ``Feature`` or
geometry, with the numbers of ``value`` in a property) or as a catalogue layer (``layer``: a layer id of
``/layers``, ``value`` one of its columns), and its grid either as a catalogue coverage to align with (``like``:
pixel for pixel, the coverage's lattice and CRS) or explicitly (``grid``: CRS, bounds snapped to the
resolution like ``gdal_rasterize -tap``, resolution). ``bbox`` (in ``bbox_crs``) or ``crop_to_features`` restrict
the output to the grid's pixels meeting that box, on the same lattice. The methods, ``semantics``, ``invalid``,
``dtype`` and ``nodata`` are those of :func:`rastercover.rasterize`; ``format`` any export format.

Inline features are in ``crs``, else in the CRS their GeoJSON ``"crs"`` member names, else in the grid's CRS
(the rule of an export's clip); inline features of which none meets the grid are refused (``422``: the usual
cause is lon/lat coordinates without ``"crs": "EPSG:4326"``).

Everything is checked before any work starts (``4xx`` at once, never a failed job for a typo): numbers must be
finite (JSON's ``1e400`` reads as infinity) and an explicit grid's bounds and resolution must make a raster
(``422`` naming the field); a layer's ``value`` column fits PostgreSQL's identifiers (63 bytes) when the layer
is a PostGIS table. Then a request of at most ``Settings.direct_pixels`` output pixels (bands included) is
answered with the file (taking one of the ``Settings.max_exports`` export slots: ``429`` when none is free), a
larger one (or one sent with ``Prefer: respond-async``) becomes a job: ``202 Accepted`` with ``Location:
/jobs/{id}`` (see :mod:`rastercover.server.jobs`). Over ``Settings.max_pixels``: ``413``. A value the band's type
cannot hold (``1e308`` in an ``int16`` band) is a ``422``, or a failed job saying so.

Examples
--------
>>> import os, tempfile, numpy as np, rasterio
>>> from affine import Affine
>>> from fastapi.testclient import TestClient
>>> from rastercover.server.app import create_app
>>> from rastercover.server.catalog import Catalog
>>> d = tempfile.mkdtemp()
>>> with rasterio.open(os.path.join(d, "dem.tif"), "w", driver="GTiff", width=4, height=2, count=1,
...                    dtype="uint8", crs="EPSG:32198", transform=Affine(10, 0, 0, 0, -10, 20)) as ds:
...     ds.write(np.zeros((1, 2, 4), dtype="uint8"))
>>> client = TestClient(create_app(Catalog.from_sources([d])))
>>> square = {"type": "Polygon", "coordinates": [[[0, 0], [20, 0], [20, 20], [0, 20], [0, 0]]]}
>>> body = {"features": {"type": "Feature", "properties": {"h": 7}, "geometry": square},
...         "value": "h", "like": "dem", "methods": ["AREA_WEIGHTED_MEAN_OF_VALUES"]}
>>> r = client.post("/rasterize", json=body)
>>> r.status_code, r.headers["content-disposition"]
(200, 'attachment; filename="rasterized.tif"')
>>> with rasterio.MemoryFile(r.content) as f, f.open() as ds:
...     ds.read(1).tolist()
[[7.0, 7.0, -9999.0, -9999.0], [7.0, 7.0, -9999.0, -9999.0]]
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import shapely
from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.concurrency import run_in_threadpool

from ..api import DEFAULT_METHODS, RasterizePlan, band_type, open_vector, plan_rasterize
from ..api import run_plan as run_library_plan
from ..crs import as_crs, crs_label, same_crs
from ..errors import CRSError, InputError, TooLargeError
from ..exporting import export_file, open_coverage
from ..features import Features
from ..formats import get_format
from ..geojson import read_features, read_property
from ..grid import Grid
from ..io.registry import location_kind
from ..io.reproject import ReprojectedSource
from ..io.vector_memory import MemoryVectorSource
from .catalog import Catalog
from .jobs import Job, JobManager, ResultFile
from .limits import ExportSlots
from .responses import TempFileResponse
from .settings import Settings

__all__ = [
    "PLAN_RESPONSES",
    "PREFER_HEADER",
    "GridSpec",
    "RasterizeBody",
    "ServicePlan",
    "answer_plan",
    "check_column",
    "check_nodata",
    "check_raster_bounds",
    "check_resolution",
    "rasterize_router",
    "run_plan",
]

#: Longest identifier PostgreSQL keeps (NAMEDATALEN - 1 bytes): a longer one is silently truncated.
PG_IDENTIFIER_BYTES = 63
#: Most pixels a side of a grid (GDAL's and numpy's sizes are 32-bit signed).
_MAX_SIDE = 2**31 - 1


# ---------------------------------------------------------------------- request
class GridSpec(BaseModel):
    """An explicit north-up grid: CRS, bounds (snapped outward to multiples of the resolution), resolution."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    crs: str = Field(description="The grid's CRS, e.g. EPSG:32198.", examples=["EPSG:32198"])
    bounds: list[float] = Field(min_length=4, max_length=4, description="[xmin, ymin, xmax, ymax] in crs.")
    resolution: float | list[float] = Field(description="Pixel size: R, or [XRES, YRES] (positive).")
    tile_size: int = Field(256, ge=16, le=4096, description="Tile size of the computation (pixels).")

    @field_validator("resolution")
    @classmethod
    def _positive(cls, v: float | list[float]) -> float | list[float]:
        return check_resolution(v)

    @model_validator(mode="after")
    def _a_raster(self) -> GridSpec:
        check_raster_bounds(self.bounds, self.resolution)
        return self


def check_resolution(v: float | list[float]) -> float | list[float]:
    """A pixel size ``R`` or ``[XRES, YRES]``, positive (a pydantic validator: ``ValueError`` otherwise)."""
    values = [v] if isinstance(v, float | int) else v
    if len(values) not in (1, 2) or not all(r > 0 for r in values):
        raise ValueError("give one or two positive numbers: R, or [XRES, YRES]")
    return v


def check_raster_bounds(bounds: list[float], resolution: float | list[float]) -> None:
    """The bounds are a box, and at this resolution a raster GDAL can make (at most 2**31 - 1 px a side); a
    pydantic validator's check: ``ValueError`` otherwise."""
    x0, y0, x1, y1 = bounds
    xres, yres = (resolution, resolution) if isinstance(resolution, float | int) else (resolution[0], resolution[-1])
    if not (x0 < x1 and y0 < y1):
        raise ValueError(f"bounds {bounds} are empty: give [xmin, ymin, xmax, ymax] with xmin < xmax")
    sides = ((x1 - x0) / xres, (y1 - y0) / yres)
    if not all(math.isfinite(n) and n <= _MAX_SIDE for n in sides):
        raise ValueError(
            f"bounds {bounds} at resolution {resolution} make a grid of {sides[0]:.3g} x {sides[1]:.3g} "
            f"pixels, more than a raster can be ({_MAX_SIDE} a side): give a coarser resolution or smaller bounds"
        )


class RasterizeBody(BaseModel):
    """``POST /rasterize``: features (inline or a layer id) + a grid (a coverage id or explicit) + methods."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # JSON's 1e400 is inf: 422 naming the field

    features: dict[str, Any] | None = Field(
        None, description="Inline features: a GeoJSON FeatureCollection, Feature or geometry (give this or layer)."
    )
    layer: str | None = Field(
        None, description="A catalogue layer id (see /layers) to rasterize (give this or features).", max_length=200
    )
    value: str | None = Field(
        None, description="The property (inline) or column (layer) holding the numbers the methods read."
    )
    class_names: str | None = Field(
        None, description="The property (inline) or column (layer) naming the numbers of value (VEGDESC for VEG_ID): "
        "the bands of value methods get them as category names and an attribute table, in the .aux.xml a zip "
        "delivers with the file (gtiff, cog or aaigrid, zipped).", max_length=200,
    )  # fmt: skip
    crs: str | None = Field(
        None, description="CRS of inline features (default: their GeoJSON crs member, else the grid's CRS)."
    )
    like: str | None = Field(
        None, description="A catalogue coverage id: align the output with it pixel for pixel (or give grid).",
        max_length=200,
    )  # fmt: skip
    grid: GridSpec | None = Field(None, description="An explicit grid (or give like).")
    bbox: list[float] | None = Field(
        None, min_length=4, max_length=4, description="Only the grid's pixels meeting [xmin, ymin, xmax, ymax]."
    )
    bbox_crs: str | None = Field(None, description="CRS of bbox (default: the grid's).")
    crop_to_features: bool = Field(False, description="Only the grid's pixels meeting the features' bounds.")
    methods: list[str] | str = Field(
        list(DEFAULT_METHODS), description="Method names, one band each (see `rastercover methods`).",
        examples=[["AREA_WEIGHTED_MEAN_OF_VALUES"]],
    )  # fmt: skip
    semantics: Literal["exact", "postgis"] = Field("exact", description="exact, or the results of ST_ExtractToRaster.")
    invalid: Literal["fix", "error"] = Field("fix", description="Repair invalid polygons (fix) or refuse them.")
    dtype: str = Field("float32", description="Band type (float32, float64, int16, uint8...).")
    nodata: float | str = Field(-9999, description="Nodata value (a finite number, or nan for a float type).")
    format: str = Field("gtiff", description="Output format key (gtiff, cog, aaigrid, png, netcdf...).")
    zipped: bool | None = Field(None, description="Deliver as a zip with sidecars (default: the format's own).")
    filename: str | None = Field(
        None, description="Download name stem (default: rasterized).", pattern=r"^[A-Za-z0-9._-]{1,100}$"
    )

    @field_validator("nodata")
    @classmethod
    def _finite_or_nan(cls, v: float | str) -> float | str:
        return check_nodata(v)


def check_nodata(v: float | str) -> float | str:
    """A nodata value: a finite number, or a text that reads as one or as nan (a pydantic validator's check)."""
    if isinstance(v, str):
        try:
            number = float(v)
        except ValueError:
            raise ValueError(f"{v!r} is not a number: give e.g. -9999, 0 or nan") from None
        if math.isinf(number):
            raise ValueError(f"{v!r} is infinite: give a finite number, or nan for a float type")
    return v


@dataclass
class ServicePlan:
    """A checked request of a verb that runs a library plan (``/rasterize``, ``/regrid``): the plan, and how the
    service delivers it.

    Attributes
    ----------
    plan
        The library's :class:`~rastercover.api.RasterizePlan` (written to a GeoTIFF in the request's folder).
    format, zipped, name
        The export format, zip choice and download name stem of the file sent.
    describe
        What the job's status shows of the request (``{"request": {...}}``).
    title, phase
        The job's title (``rasterize``) and its phase while the plan runs (``rasterizing``).
    work
        Other work of the request counted in pixels (a regridding's source pixels read), or None: the larger of
        it and the output's pixels (:attr:`size`) decides between a direct answer and a job.
    """

    plan: RasterizePlan
    format: str
    zipped: bool | None
    name: str
    describe: dict[str, Any]
    title: str = "rasterize"
    phase: str = "rasterizing"
    work: int | None = None

    @property
    def pixels(self) -> int:
        """Output pixels, bands included."""
        return self.plan.pixels

    @property
    def size(self) -> int:
        """What decides between a direct answer and a job: :attr:`work`, else :attr:`pixels`."""
        return self.pixels if self.work is None else max(self.pixels, self.work)


def _inline_source(body: RasterizeBody, grid: Grid, settings: Settings) -> Any:
    geoms, values, declared = read_features(body.features, value=body.value, what="the features")
    given = as_crs(body.crs)
    if given is not None and declared is not None and not same_crs(given, declared):
        raise CRSError(
            f"the features' GeoJSON says they are in {crs_label(declared)} but crs is {crs_label(given)}: give one"
        )
    vertices = int(shapely.get_num_coordinates(geoms).sum())
    if vertices > settings.max_vertices:
        raise TooLargeError(
            f"the features have {vertices} vertices, the limit is {settings.max_vertices}: simplify them, or "
            "rasterize a catalogue layer (layer=) instead"
        )
    crs = given or declared or grid.crs
    names = None
    if body.class_names is not None:
        names = {body.class_names: read_property(body.features, body.class_names, what="the features")}
    source = MemoryVectorSource(Features.from_arrays(geoms, values), crs, "the request's features", body.value, names)
    if not same_crs(crs, grid.crs):
        source = ReprojectedSource(source, grid.crs)
    bounds = source.bounds
    gx0, gy0, gx1, gy1 = grid.bounds
    if bounds is None or bounds[0] > gx1 or bounds[2] < gx0 or bounds[1] > gy1 or bounds[3] < gy0:
        where = (
            "" if bounds is None else f" (their bounds in {crs_label(grid.crs)}: {tuple(round(v, 6) for v in bounds)})"
        )
        hint = "" if (given or declared) else '; lon/lat features need "crs": "EPSG:4326"'
        raise InputError(
            f"none of the features meets the grid {tuple(round(v, 6) for v in grid.bounds)}{where}: check their "
            f"coordinates and CRS{hint}"
        )
    return source


def check_column(value: str | None, source: str, field: str = "value") -> None:
    """Refuse a column name (of request ``field``) a PostGIS layer cannot have: PostgreSQL would truncate it to its
    first 63 bytes, and so match another column."""
    if value is None or location_kind(source) != "postgis":
        return
    size = len(value.encode("utf-8"))
    if size > PG_IDENTIFIER_BYTES:
        raise InputError(
            f"{field}: the column name is {size} bytes long; PostgreSQL names are at most {PG_IDENTIFIER_BYTES} "
            "bytes, so the layer has no such column"
        )


def _explicit_grid(spec: GridSpec) -> Grid:
    """The grid of ``grid=`` (its numbers were checked by :class:`GridSpec`; anything left is a 422 too)."""
    try:
        return Grid.from_bounds(spec.bounds, spec.resolution, as_crs(spec.crs), spec.tile_size)
    except (OverflowError, ZeroDivisionError) as exc:
        raise InputError(f"grid: bounds {spec.bounds} at resolution {spec.resolution} make no raster ({exc})") from None


def plan_request(body: RasterizeBody, catalog: Catalog, settings: Settings) -> ServicePlan:
    """Check a request and resolve its ids, grid and source (reads headers, never the features); the checks
    and errors of the options are :func:`rastercover.api.plan_rasterize`'s, as for every face."""
    if (body.features is None) == (body.layer is None):
        raise InputError("give the features either inline (features=GeoJSON) or as a catalogue layer (layer=ID)")
    if (body.like is None) == (body.grid is None):
        raise InputError("give the grid either as a coverage id to align with (like=ID) or explicitly (grid=)")
    if body.layer is not None and body.crs is not None:
        raise InputError("crs= is the CRS of inline features; a catalogue layer has its own")
    fmt = get_format(body.format)
    band_type(body.dtype, body.nodata)  # before the grid and features are opened
    zipped = fmt.zip_default if body.zipped is None else body.zipped
    if body.class_names is not None and not (fmt.keeps_class_names and zipped):
        raise InputError(
            "class_names: the names travel in an .aux.xml beside the data file, which only a zip delivers: ask for "
            "zipped=true with format gtiff, cog or aaigrid"
        )
    if body.like is not None:
        reference: Any = catalog.coverage(body.like).open()
        grid = reference.grid
        if grid.crs is None:
            raise CRSError(f"coverage {body.like!r} has no CRS: it cannot be a rasterize grid")
    else:
        grid = reference = _explicit_grid(body.grid)
    if body.features is not None:
        source = _inline_source(body, grid, settings)
        origin = "inline features"
    else:
        entry = catalog.layer(body.layer)
        check_column(body.value, entry.source)
        check_column(body.class_names, entry.source, "class_names")
        source = open_vector(entry.source, layer=entry.layer, value=body.value)
        if source.crs is None:
            raise CRSError(f"layer {entry.id!r} has no CRS: it cannot be rasterized")
        origin = f"layer {entry.id}"
    bbox, bbox_crs = body.bbox, body.bbox_crs
    if body.crop_to_features:
        if body.bbox is not None:
            raise InputError("give bbox= or crop_to_features=true, not both")
        bbox, bbox_crs = source.bounds, source.crs
        if bbox is None:
            raise InputError("crop_to_features: the features have no extent")
    specs = [body.methods] if isinstance(body.methods, str) else list(body.methods)
    if not specs:
        raise InputError("no method given: name at least one (see `rastercover methods`)")
    plan = plan_rasterize(
        source,
        reference,
        methods=specs,
        dtype=body.dtype,
        nodata=body.nodata,
        semantics=body.semantics,
        invalid=body.invalid,
        bbox=bbox,
        bbox_crs=bbox_crs,
        max_pixels=settings.max_pixels,
        class_names=body.class_names,
    )
    g = plan.grid
    describe = {
        "request": {
            "features": origin,
            "grid": {"crs": crs_label(g.crs), "bounds": [float(v) for v in g.bounds], "width": g.width,
                     "height": g.height},
            "methods": list(plan.bands),
            "format": fmt.key,
            "pixels": plan.pixels,
        }
    }  # fmt: skip
    return ServicePlan(plan, fmt.key, body.zipped, body.filename or "rasterized", describe)


# ---------------------------------------------------------------------- work
def run_plan(plan: ServicePlan, folder: str, job: Job | None = None) -> ResultFile:
    """Run ``plan`` into ``folder`` (a GeoTIFF, then converted to its format); with a ``job``, report progress to
    it (the plan's tiles, in its ``phase``)."""
    tif = os.path.join(folder, f"{plan.name}.tif")
    progress: Callable[[int], None] | None = None
    if job is not None:
        job.total, job.phase = plan.plan.n_tiles, plan.phase
        progress = job.advance
    run_library_plan(plan.plan.to(tif), progress=progress)
    if plan.format == "gtiff" and not plan.zipped:
        return ResultFile(tif, f"{plan.name}.tif", get_format("gtiff").media_type)
    if job is not None:
        job.check()
        job.phase = "encoding"
    out = export_file(open_coverage(tif), format=plan.format, zipped=plan.zipped, name=plan.name, dir=folder)
    os.remove(tif)
    return ResultFile(out.path, out.filename, out.media_type)


# ---------------------------------------------------------------------- HTTP
#: The OpenAPI answers of a verb that runs a plan (besides the problems every route declares).
PLAN_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The raster file, as an attachment (small requests).", "content": {"*/*": {}}},
    202: {"description": "A job was created (large requests, or Prefer: respond-async): poll Location (/jobs/{id})."},
}
PREFER_HEADER = Header(
    description="respond-async: always answer with a job (202, Location: /jobs/{id}).", examples=["respond-async"]
)


def wants_async(prefer: str | None) -> bool:
    """Whether a ``Prefer`` header asks for an asynchronous answer (``respond-async``)."""
    return prefer is not None and "respond-async" in prefer.lower()


async def answer_plan(
    plan: ServicePlan,
    request: Request,
    prefer: str | None,
    *,
    settings: Settings,
    jobs: JobManager,
    temp_dir: str | None = None,
    slots: ExportSlots | None = None,
) -> Response:
    """Answer a checked request: the file (``200``, taking one of ``slots`` while it is computed), or a job
    (``202`` with ``Location: /jobs/{id}``) when ``plan.size`` is over ``Settings.direct_pixels`` or the client
    sent ``Prefer: respond-async``."""
    asked = wants_async(prefer)
    if plan.size > settings.direct_pixels or asked:
        job = jobs.submit(lambda j: run_plan(plan, j.folder, j), title=plan.title, info=plan.describe)
        base = request.scope.get("root_path", "")
        headers = {"Location": f"{base}/jobs/{job.id}"}
        if asked:
            headers["Preference-Applied"] = "respond-async"
        return JSONResponse(job.describe(base), status_code=202, headers=headers)
    with slots.hold(plan.title) if slots is not None else contextlib.nullcontext():
        folder = tempfile.mkdtemp(prefix=f"rastercover-{plan.title}-", dir=temp_dir)
        try:
            out = await run_in_threadpool(run_plan, plan, folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    return TempFileResponse(
        out.path,
        media_type=out.media_type,
        filename=out.filename,
        cleanup=lambda: shutil.rmtree(folder, ignore_errors=True),
    )


def rasterize_router(
    catalog: Catalog,
    settings: Settings,
    jobs: JobManager,
    temp_dir: str | None = None,
    slots: ExportSlots | None = None,
) -> APIRouter:
    """The ``POST /rasterize`` endpoint (jobs are run by ``jobs``; see :func:`.jobs.jobs_router` for /jobs); a
    request answered directly takes one of ``slots`` while it is computed (none: no bound)."""
    router = APIRouter(tags=["rasterize"])

    @router.post("/rasterize", response_class=FileResponse, responses=PLAN_RESPONSES)
    async def rasterize_endpoint(
        body: RasterizeBody,
        request: Request,
        prefer: Annotated[str | None, PREFER_HEADER] = None,
    ) -> Response:
        """Rasterize features (inline GeoJSON or a catalogue layer) onto a grid with methods; the file or a job."""
        plan = await run_in_threadpool(plan_request, body, catalog, settings)
        return await answer_plan(plan, request, prefer, settings=settings, jobs=jobs, temp_dir=temp_dir, slots=slots)

    return router
