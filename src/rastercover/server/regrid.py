"""``POST /regrid``: a catalogue raster coverage onto a target grid with exact overlap areas, directly or as a job.

The request names its source as a catalogue coverage (``source``: a coverage id of ``/coverages``; never a path or
a URL: anything else is an unknown id, ``404``) and its target grid either as another catalogue coverage
(``like``: tile for tile, its lattice and CRS) or explicitly (``bounds`` in ``crs`` at ``resolution``, snapped
outward to multiples of it). ``methods`` are raster methods (``rastercover methods --raster``:
``AREA_WEIGHTED_MEAN_OF_RASTER_VALUES``, ``SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES``, ``FRACTION_OF_RASTER_VALUE``,
``VALID_FRACTION``...), one band each per source band read (``bands``: 1-based, default all; with several they are
named ``band{n}:{METHOD}``). ``dtype``, ``nodata`` and ``tile_size`` are those of :func:`rastercover.regrid`,
``format``, ``zipped`` and ``filename`` those of ``POST /rasterize``. A PostGIS raster table is read row by row
(its rows may overlap, rid order), as :func:`rastercover.regrid` reads its URL.

It is answered as ``POST /rasterize`` is (the same code: :func:`rastercover.server.rasterize.answer_plan`):
everything is checked before any work starts (``4xx`` at once: an unknown method ``400``, a vector method, a
band the source lacks, a CRS the source cannot be taken to, a target grid the source does not meet at all
``422``, an unknown coverage ``404``, an unreadable one ``503``); then a small request is answered with the file
(taking one of the ``Settings.max_exports`` export slots: ``429`` when none is free), a large one, or one sent
with ``Prefer: respond-async``, becomes a job: ``202 Accepted`` with ``Location: /jobs/{id}``, whose progress
counts the output's tiles and whose result (``/jobs/{id}/result``) is the file. Large means more than
``Settings.direct_pixels`` output pixels (bands included) or source pixels to read (a fine source onto a coarse
grid reads many more pixels than it writes). Over ``Settings.max_pixels`` output pixels: ``413``.

Examples
--------
>>> import os, tempfile, numpy as np, rasterio
>>> from affine import Affine
>>> from fastapi.testclient import TestClient
>>> from rastercover.server.app import create_app
>>> from rastercover.server.catalog import Catalog
>>> d = tempfile.mkdtemp()
>>> with rasterio.open(os.path.join(d, "counts.tif"), "w", driver="GTiff", width=2, height=2, count=1,
...                    dtype="float32", crs="EPSG:32198", transform=Affine(10, 0, 0, 0, -10, 20)) as ds:
...     ds.write(np.array([[[4, 8], [2, 6]]], dtype="float32"))
>>> client = TestClient(create_app(Catalog.from_sources([d])))
>>> body = {"source": "counts", "bounds": [0, 0, 20, 20], "resolution": 20, "crs": "EPSG:32198",
...         "methods": ["SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES", "VALID_FRACTION"]}
>>> r = client.post("/regrid", json=body)
>>> r.status_code, r.headers["content-disposition"]
(200, 'attachment; filename="regridded.tif"')
>>> with rasterio.MemoryFile(r.content) as f, f.open() as ds:
...     ds.read()[:, 0, 0].tolist(), ds.descriptions
([20.0, 1.0], ('SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES', 'VALID_FRACTION'))
>>> client.post("/regrid", json={**body, "source": "/etc/passwd"}).status_code
404
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.concurrency import run_in_threadpool

from ..api import band_type
from ..crs import crs_label
from ..errors import CRSError, InputError
from ..formats import get_format
from ..io.registry import location_kind
from ..regridding import DEFAULT_REGRID_METHODS, plan_regrid
from .catalog import Catalog, CoverageEntry, NotFoundError
from .jobs import JobManager
from .limits import ExportSlots
from .rasterize import (
    PLAN_RESPONSES,
    PREFER_HEADER,
    ServicePlan,
    answer_plan,
    check_nodata,
    check_raster_bounds,
    check_resolution,
)
from .settings import Settings

__all__ = ["RegridBody", "plan_regrid_request", "regrid_router"]

#: What ``/openapi.json`` shows as examples of a ``POST /regrid`` body.
EXAMPLES = {
    "like": {
        "summary": "Onto another coverage's grid",
        "description": "The area-weighted mean of the source and the fraction of each target pixel it covers, on "
        "the lattice of the catalogue coverage `dem` (tile for tile).",
        "value": {
            "source": "landcover",
            "like": "dem",
            "methods": ["AREA_WEIGHTED_MEAN_OF_RASTER_VALUES", "VALID_FRACTION"],
        },
    },
    "explicit": {
        "summary": "Onto an explicit grid",
        "description": "The fraction of classes 1 and 2 in each 1 km pixel of a box, as a Cloud Optimized GeoTIFF.",
        "value": {
            "source": "landcover",
            "bounds": [150000, 300000, 250000, 420000],
            "resolution": 1000,
            "crs": "EPSG:32198",
            "methods": ["FRACTION_OF_RASTER_VALUE:1,2"],
            "bands": [1],
            "format": "cog",
        },
    },
}


# ---------------------------------------------------------------------- request
class RegridBody(BaseModel):
    """``POST /regrid``: a source coverage id + a target grid (a coverage id, or bounds + resolution + crs) +
    raster methods."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # JSON's 1e400 is inf: 422 naming the field

    source: str = Field(description="The catalogue coverage to regrid (a coverage id of /coverages).", max_length=200)
    like: str | None = Field(
        None,
        description="A catalogue coverage id: the target grid is its lattice and CRS, tile for tile (or give "
        "bounds, resolution and crs).",
        max_length=200,
    )
    bounds: list[float] | None = Field(
        None, min_length=4, max_length=4, description="Explicit target grid: [xmin, ymin, xmax, ymax] in crs."
    )
    resolution: float | list[float] | None = Field(
        None, description="Explicit target grid: the pixel size, R or [XRES, YRES] (positive)."
    )
    crs: str | None = Field(None, description="Explicit target grid: its CRS, e.g. EPSG:32198.")
    tile_size: int | None = Field(
        None,
        ge=16,
        le=4096,
        description="Tile size of the computation in pixels (the progress steps); default: like's tiling, or 256.",
    )
    methods: list[str] | str = Field(
        list(DEFAULT_REGRID_METHODS),
        description="Raster method names, one band each per source band (see `rastercover methods --raster`); "
        "FRACTION_OF_RASTER_VALUE:1,2 makes one band per listed class.",
        examples=[["AREA_WEIGHTED_MEAN_OF_RASTER_VALUES", "VALID_FRACTION"]],
    )
    bands: list[Annotated[int, Field(ge=1)]] | None = Field(
        None, min_length=1, description="1-based source bands to read (default: all)."
    )
    dtype: str = Field("float32", description="Band type (float32, float64, int16, uint8...).")
    nodata: float | str = Field(-9999, description="Nodata value (a finite number, or nan for a float type).")
    format: str = Field("gtiff", description="Output format key (gtiff, cog, aaigrid, png, netcdf...).")
    zipped: bool | None = Field(None, description="Deliver as a zip with sidecars (default: the format's own).")
    filename: str | None = Field(
        None, description="Download name stem (default: regridded).", pattern=r"^[A-Za-z0-9._-]{1,100}$"
    )

    @field_validator("resolution")
    @classmethod
    def _positive(cls, v: float | list[float] | None) -> float | list[float] | None:
        return None if v is None else check_resolution(v)

    @field_validator("nodata")
    @classmethod
    def _finite_or_nan(cls, v: float | str) -> float | str:
        return check_nodata(v)

    @model_validator(mode="after")
    def _a_raster(self) -> RegridBody:
        if self.bounds is not None and self.resolution is not None:
            check_raster_bounds(self.bounds, self.resolution)
        return self


def _explicit(body: RegridBody) -> bool:
    """Whether the request gives its target grid explicitly (refusing a half-given or twice-given one)."""
    given = {"bounds": body.bounds, "resolution": body.resolution, "crs": body.crs}
    named = [k for k, v in given.items() if v is not None]
    if body.like is not None:
        if named:
            raise InputError(
                f"give the target grid once: like= (a coverage id) or bounds=, resolution= and crs=, not both "
                f"(got like= and {', '.join(f'{k}=' for k in named)})"
            )
        return False
    if len(named) < 3:
        missing = ", ".join(f"{k}=" for k in given if given[k] is None)
        raise InputError(
            "give the target grid: like= (a coverage id to align with) or bounds=, resolution= and crs= "
            f"(missing {missing})"
        )
    return True


def _coverage(catalog: Catalog, id: str, field: str, *, open_it: bool = True) -> tuple[CoverageEntry, Any]:
    """The catalogue coverage ``id`` (``field`` of the request): its entry, opened (``503`` when it cannot be), or
    not opened with ``open_it=False`` (a regridding source that is a PostGIS table: read row by row, its rows need
    not form the regular tiling a coverage must)."""
    try:
        entry = catalog.coverage(id)
    except NotFoundError as exc:
        if id in catalog.layers:  # a vector layer: the other verb
            raise NotFoundError(
                f"{field}: {id!r} is a vector layer, not a raster coverage; regrid reads a coverage of /coverages "
                "(rasterize a layer with POST /rasterize)"
            ) from None
        raise NotFoundError(f"{field}: {exc}") from None
    return entry, (entry.open() if open_it else None)


def _source_pixels(plan: Any) -> int:
    """An estimate of the source pixels a regridding reads (bands included): the target's pixels times the source
    pixels per target pixel, at most the source's own pixels."""
    reg = plan.job.source
    grid, src = plan.grid, reg.source
    per_target = 1.0 / max(float(reg.source_pixel_area), 1e-12)
    estimate = grid.width * grid.height * per_target
    lattice = getattr(src, "grid", None)
    if lattice is not None:
        estimate = min(estimate, lattice.width * lattice.height)
    return int(min(estimate * max(1, int(getattr(src, "count", 1))), 2**62))


def _meets(plan: Any, source_id: str) -> None:
    """Refuse a target grid the source does not reach at all (its file would be nodata only): the usual cause is
    bounds in another CRS than ``crs`` says, or the wrong coverage."""
    where = plan.job.source.bounds  # the source's bounds in the target CRS, padded by a source pixel
    gx0, gy0, gx1, gy1 = plan.grid.bounds
    if where is None or where[0] > gx1 or where[2] < gx0 or where[1] > gy1 or where[3] < gy0:
        shown = "" if where is None else f" (the source's bounds there: {tuple(round(v, 6) for v in where)})"
        raise InputError(
            f"coverage {source_id!r} does not meet the target grid {tuple(round(v, 6) for v in plan.grid.bounds)} in "
            f"{crs_label(plan.grid.crs)}{shown}: check the grid's bounds and crs"
        )


def plan_regrid_request(body: RegridBody, catalog: Catalog, settings: Settings) -> ServicePlan:
    """Check a request and resolve its ids and grid (reads headers, never pixels, but to list the classes of a
    ``FRACTION_OF_RASTER_VALUE`` without a list); the checks and errors of the options are
    :func:`rastercover.plan_regrid`'s, as for every face."""
    explicit = _explicit(body)
    fmt = get_format(body.format)
    band_type(body.dtype, body.nodata)  # before anything is opened
    specs = [body.methods] if isinstance(body.methods, str) else list(body.methods)
    if not specs:
        raise InputError("no method given: name at least one (see `rastercover methods --raster`)")
    entry, _ = _coverage(catalog, body.source, "source", open_it=False)
    # a PostGIS raster table is read row by row from its location (as rastercover.regrid reads its URL: its rows may
    # overlap and need not share a grid, so it is never opened as one coverage); any other coverage is the
    # catalogue's opened one (the same lattice the library would open from its path)
    if location_kind(entry.source) == "postgis":
        source = entry.source
    else:
        _, source = _coverage(catalog, body.source, "source")
        if source.grid.crs is None:
            raise CRSError(f"coverage {entry.id!r} has no CRS: it cannot be regridded")
    if explicit:
        target: dict[str, Any] = {"bounds": body.bounds, "resolution": body.resolution, "crs": body.crs}
        tile_size = body.tile_size if body.tile_size is not None else 256
    else:
        like_entry, reference = _coverage(catalog, body.like, "like")
        if reference.grid.crs is None:
            raise CRSError(f"coverage {like_entry.id!r} has no CRS: it cannot be a regrid grid")
        target, tile_size = {"like": reference}, body.tile_size
    try:
        plan = plan_regrid(
            source,
            **target,
            methods=specs,
            bands=body.bands,
            dtype=body.dtype,
            nodata=body.nodata,
            tile_size=tile_size,
            max_pixels=settings.max_pixels,
        )
    except (OverflowError, ZeroDivisionError) as exc:  # numbers the checks above let through: still the request's
        raise InputError(f"bounds {body.bounds} at resolution {body.resolution} make no raster ({exc})") from None
    g = plan.grid
    _meets(plan, entry.id)
    fmt.check_layout(len(plan.bands))  # a format that cannot hold the result: refused now, not after the work
    fmt.check_size(g.width, g.height)
    reads = _source_pixels(plan)
    describe = {
        "request": {
            "source": entry.id,
            "like": body.like,
            "grid": {"crs": crs_label(g.crs), "bounds": [float(v) for v in g.bounds], "width": g.width,
                     "height": g.height},
            "methods": list(plan.bands),
            "format": fmt.key,
            "pixels": plan.pixels,
            "source_pixels": reads,
        }
    }  # fmt: skip
    name = body.filename or "regridded"
    return ServicePlan(plan, fmt.key, body.zipped, name, describe, title="regrid", phase="regridding", work=reads)


# ---------------------------------------------------------------------- HTTP
def regrid_router(
    catalog: Catalog,
    settings: Settings,
    jobs: JobManager,
    temp_dir: str | None = None,
    slots: ExportSlots | None = None,
) -> APIRouter:
    """The ``POST /regrid`` endpoint (jobs are run by ``jobs``, as ``/rasterize``'s; see :func:`.jobs.jobs_router`
    for /jobs); a request answered directly takes one of ``slots`` while it is computed (none: no bound)."""
    router = APIRouter(tags=["regrid"])

    @router.post(
        "/regrid", response_class=FileResponse, responses=PLAN_RESPONSES, summary="Regrid a coverage onto a grid"
    )
    async def regrid_endpoint(
        body: Annotated[RegridBody, Body(openapi_examples=EXAMPLES)],
        request: Request,
        prefer: Annotated[str | None, PREFER_HEADER] = None,
    ) -> Response:
        """Regrid a catalogue raster coverage (``source``) onto a target grid: another coverage's (``like``, tile
        for tile) or an explicit one (``bounds`` in ``crs`` at ``resolution``), with raster methods whose overlap
        areas are exact (``AREA_WEIGHTED_MEAN_OF_RASTER_VALUES``, ``SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES``,
        ``FRACTION_OF_RASTER_VALUE``, ``VALID_FRACTION``...), one band per (source band, method).

        A small request is answered with the file (an attachment, ``regridded.tif`` by default); a large one (over
        ``direct_pixels`` output pixels or source pixels read) or one sent with ``Prefer: respond-async`` becomes a
        job: ``202`` with ``Location: /jobs/{id}``, whose progress counts the output's tiles and whose result
        (``/jobs/{id}/result``) is the file. Sources and grids are catalogue ids only, never paths or URLs."""
        plan = await run_in_threadpool(plan_regrid_request, body, catalog, settings)
        return await answer_plan(plan, request, prefer, settings=settings, jobs=jobs, temp_dir=temp_dir, slots=slots)

    return router
