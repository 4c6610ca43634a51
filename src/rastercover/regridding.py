"""The regrid verb: a raster coverage onto a reference grid, exactly, tile for tile (spec section 6).

Examples
--------
>>> import numpy as np, xarray as xr, rastercover
>>> from affine import Affine
>>> counts = xr.DataArray(np.array([[[4.0, 8.0], [2.0, 6.0]]]), dims=("band", "y", "x"),
...                       attrs={"transform": Affine(10, 0, 0, 0, -10, 20), "crs": "EPSG:32630"})
>>> target = rastercover.Grid(1, 1, Affine(20, 0, 0, 0, -20, 20), "EPSG:32630")
>>> da = rastercover.regrid(counts, target, methods=["SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES", "VALID_FRACTION"])
>>> da.values[:, 0, 0].tolist()
[20.0, 1.0]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from .api import RasterizePlan, _too_large, check_run, run_plan
from .engine import DEFAULT_BLOCK_PIXELS, Extent, Job
from .engine.executors import check_executor
from .engine.regrid import BandMethod, Regridding, check_bridgeable
from .errors import CRSError, InputError
from .grid import Grid
from .io.raster_source import open_raster_source
from .methods import Method, available_methods, resolve_methods
from .methods.raster import fraction_of

__all__ = ["DEFAULT_REGRID_METHODS", "plan_regrid", "raster_classes", "regrid", "target_grid"]

DEFAULT_REGRID_METHODS = ("AREA_WEIGHTED_MEAN_OF_RASTER_VALUES_2",)
#: Distinct values a band may have for one band per class (``FRACTION_OF_RASTER_VALUE`` without a list).
MAX_CLASSES = 256


def target_grid(
    like: Any = None,
    *,
    bounds: Sequence[float] | None = None,
    resolution: float | Sequence[float] | None = None,
    crs: Any = None,
    tile_size: Any = None,
) -> tuple[Grid, dict, int | None]:
    """The target grid of a regridding, its tile ids and SRID: ``like`` (a :class:`Grid` or a reference coverage,
    tile for tile), or ``bounds`` + ``resolution`` + ``crs`` (a north-up grid snapped to the resolution)."""
    from .api import _output_grid

    if like is not None:
        if bounds is not None or resolution is not None:
            raise InputError("give the target grid once: like= (a reference), or bounds= with resolution= and crs=")
        return _output_grid(like, tile_size, None, None)
    if bounds is None or resolution is None or crs is None:
        raise InputError(
            "no target grid: give like= (a reference raster, tile folder or table), or bounds=, resolution= and crs="
        )
    grid = Grid.from_bounds(bounds, resolution, crs, tile_size=tile_size if tile_size is not None else 256)
    return grid, {}, None


def raster_classes(source: Any, band: int) -> np.ndarray:
    """The distinct valid values of ``band`` (0-based among those read) of a raster source, sorted.

    Raises
    ------
    InputError
        More than :data:`MAX_CLASSES` of them (a continuous band): list the classes instead.
    """
    seen: set[float] = set()
    for piece in source.scan():
        v = piece.data[band]
        seen.update(np.unique(v[~np.isnan(v)]).tolist())
        if len(seen) > MAX_CLASSES:
            raise InputError(
                f"band {source.bands[band]} of {source.describe()} has more than {MAX_CLASSES} distinct values: it "
                "does not look like classes; list the classes you want as FRACTION_OF_RASTER_VALUE:v1,v2,..."
            )
    return np.array(sorted(seen))


def _band_methods(specs: list, source: Any) -> list[BandMethod]:
    out: list[BandMethod] = []
    family = [
        s
        for s in specs
        if not isinstance(s, Method) and str(s).partition(":")[0].strip().upper() == "FRACTION_OF_RASTER_VALUE"
    ]
    if family and getattr(source, "mixed_float", False):
        raise InputError(
            f"{source.describe()} has rows of float32 and rows of float64 pixels: a class such as 0.1 is a different "
            "number in each, so FRACTION_OF_RASTER_VALUE cannot tell them apart; cast the rows to one pixel type "
            "(ST_MapAlgebra, or raster2pgsql with -t and one type)"
        )
    for b in range(source.count):
        methods = resolve_methods(specs, lambda b=b: raster_classes(source, b))
        for m in methods:
            if m.name.startswith("FRACTION_OF_RASTER_VALUE:") and isinstance(m.reduce, partial):
                m = fraction_of(m.reduce.args[0], source.dtype)  # the class as the band's type holds it
            if not m.kind.raster:
                raise InputError(
                    f"{m.name} rasterizes vector features; regrid takes the raster methods (`rastercover methods "
                    "--raster` lists them), e.g. AREA_WEIGHTED_MEAN_OF_RASTER_VALUES"
                )
            name = m.name if source.count == 1 else f"band{source.bands[b]}:{m.name}"
            out.append(BandMethod(m, b, name))
    names = [m.name for m in out]
    for n in names:
        if names.count(n) > 1:
            raise InputError(f"method {n} is asked twice")
    return out


def plan_regrid(
    source: Any,
    like: Any = None,
    *,
    bounds: Sequence[float] | None = None,
    resolution: float | Sequence[float] | None = None,
    crs: Any = None,
    methods: str | Method | Sequence[str | Method] = DEFAULT_REGRID_METHODS,
    bands: Sequence[int] | None = None,
    extent: str | Extent = "full",
    output: str | os.PathLike | None = None,
    workers: int = 1,
    dtype: Any = "float32",
    nodata: float = -9999,
    tile_size: Any = None,
    cog: bool | str | os.PathLike = False,
    overwrite: bool = False,
    block_pixels: int = DEFAULT_BLOCK_PIXELS,
    if_exists: str | None = None,
    resume: bool = False,
    executor: str = "local",
    max_pixels: int | None = None,
    lazy: bool = False,
) -> RasterizePlan:
    """Check a regridding and open its source and target grid: the plan :func:`~rastercover.run_plan` runs.

    The options are :func:`regrid`'s. Nothing is computed or written; every error a user can cause is raised
    here.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from affine import Affine
    >>> da = xr.DataArray(np.ones((2, 4, 4)), dims=("band", "y", "x"),
    ...                   attrs={"transform": Affine(1, 0, 0, 0, -1, 4), "crs": "EPSG:3857"})
    >>> plan = plan_regrid(da, bounds=(0, 0, 4, 4), resolution=2, crs="EPSG:3857", methods=["VALID_FRACTION"])
    >>> plan.bands, plan.grid.shape
    (('band1:VALID_FRACTION', 'band2:VALID_FRACTION'), (2, 2))
    """
    specs = [methods] if isinstance(methods, str | Method) else list(methods)
    if not specs:
        raise InputError("no method given: name at least one (see `rastercover methods --raster`)")
    for spec in specs:
        if not isinstance(spec, Method) and str(spec).partition(":")[0].strip().upper() not in available_methods():
            resolve_methods([spec])  # the unknown-method error, with suggestions
    extent = Extent.parse(extent)
    run = check_run(
        executor=executor,
        workers=workers,
        block_pixels=block_pixels,
        dtype=dtype,
        nodata=nodata,
        output=output,
        cog=cog,
        overwrite=overwrite,
        resume=resume,
        if_exists=if_exists,
        lazy=lazy,
        extent=extent,
    )
    grid, tile_ids, srid = target_grid(like, bounds=bounds, resolution=resolution, crs=crs, tile_size=tile_size)
    if grid.crs is None:
        raise CRSError("the target grid has no CRS; give it one")
    limits = run.limits
    _too_large(grid, len(specs), max_pixels, **limits)
    src = open_raster_source(source, bands=bands)
    method_list = _band_methods(specs, src)
    _too_large(grid, len(method_list), max_pixels, **limits)
    reg = Regridding.of(src, grid)
    check_bridgeable(reg, grid)
    job = Job(reg, grid, tuple(method_list), extent, run.dtype, run.nodata)
    # blocks hold a bounded number of source pixels too: a fine source onto a coarse grid gets smaller blocks
    per_target = 1.0 / max(reg.source_pixel_area, 1e-12)
    block = max(1, int(block_pixels / max(1.0, per_target * reg.sub * reg.sub)))
    sink_options = {
        **run.sink_options,
        "overview_resampling": "nearest" if all(m.categorical for m in method_list) else "average",
    }
    return RasterizePlan(job, run.output, sink_options, tile_ids, srid, run.cog_path, workers, run.executor, block)


def regrid(
    source: Any,
    like: Any = None,
    *,
    bounds: Sequence[float] | None = None,
    resolution: float | Sequence[float] | None = None,
    crs: Any = None,
    methods: str | Method | Sequence[str | Method] = DEFAULT_REGRID_METHODS,
    bands: Sequence[int] | None = None,
    extent: str | Extent = "full",
    output: str | os.PathLike | None = None,
    workers: int = 1,
    dtype: Any = "float32",
    nodata: float = -9999,
    tile_size: Any = None,
    cog: bool | str | os.PathLike = False,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
    block_pixels: int = DEFAULT_BLOCK_PIXELS,
    if_exists: str | None = None,
    resume: bool = False,
    executor: str = "local",
    scheduler: Any = None,
    notify: Callable[[str], None] | None = None,
    max_pixels: int | None = None,
):
    """Regrid a raster coverage onto a target grid, one band per (source band, method), tile by tile.

    Every valid source pixel is a feature whose geometry is the pixel's quadrilateral (sides straight in the
    source CRS) and whose value is the band value; overlap areas are exact and measured in the target CRS
    (``docs/methods.md``, "Raster sources").

    Parameters
    ----------
    source
        A raster file, a ``.vrt``, a tile folder, a ``.zarr`` store, an ``xarray.DataArray`` with ``transform`` and
        ``crs`` attributes, or a PostGIS raster table (``postgresql://host/db?table=name``: its rows may overlap and
        need not share one grid; their order is the rid).
    like
        The target grid: a :class:`Grid`, a reference raster, tile folder, ``.zarr`` store or PostGIS raster
        table (its tiles, rids and SRID: tile for tile).
    bounds, resolution, crs
        Instead of ``like``: a north-up grid covering ``bounds`` (in ``crs``) at ``resolution``, snapped to it.
    methods
        Raster method names (``rastercover methods --raster``); ``FRACTION_OF_RASTER_VALUE`` makes one band per
        class (the band's distinct values, or ``FRACTION_OF_RASTER_VALUE:1,2,5``).
    bands
        1-based source bands, all when None; with several, bands are named ``band{n}:{METHOD}``.
    extent, output, workers, dtype, nodata, tile_size, cog, overwrite, progress, block_pixels, if_exists, resume,
    executor, scheduler, notify, max_pixels
        As for :func:`rastercover.rasterize`.

    Returns
    -------
    xarray.DataArray or RasterizeResult
    """
    check_executor(executor, scheduler)
    plan = plan_regrid(
        source,
        like,
        bounds=bounds,
        resolution=resolution,
        crs=crs,
        methods=methods,
        bands=bands,
        extent=extent,
        output=output,
        workers=workers,
        dtype=dtype,
        nodata=nodata,
        tile_size=tile_size,
        cog=cog,
        overwrite=overwrite,
        block_pixels=block_pixels,
        if_exists=if_exists,
        resume=resume,
        executor=executor,
        max_pixels=max_pixels,
    )
    return run_plan(plan, progress=progress, notify=notify, scheduler=scheduler)
