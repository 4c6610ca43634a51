"""``rastercover regrid``: a raster coverage onto a reference grid, exactly, one band per (source band, method)."""

from __future__ import annotations

import click

from ..engine.executors import check_executor
from ..regridding import plan_regrid
from .common import grid_options, reference_grid, run_options, run_with_progress

__all__ = ["regrid"]


@click.command()
@click.argument("source")
@grid_options
@click.option(
    "-m",
    "--method",
    "methods",
    multiple=True,
    required=True,
    metavar="METHOD",
    help="Raster method (repeat for several bands); `rastercover methods --raster` lists them. "
    "FRACTION_OF_RASTER_VALUE makes one band per class (FRACTION_OF_RASTER_VALUE:1,2 for listed classes).",
)
@click.option(
    "--bands",
    metavar="N[,N...]",
    help="Source bands to regrid (1-based, comma-separated; default all). Several bands are named band{N}:{METHOD}.",
)
@run_options
def regrid(
    source,
    like,
    like_tiles,
    bounds,
    resolution,
    crs,
    methods,
    bands,
    tile_size,
    extent,
    dtype,
    nodata,
    workers,
    executor,
    scheduler,
    block_pixels,
    cog,
    overwrite,
    if_exists,
    resume,
    max_pixels,
    progress,
    output,
) -> None:
    """Regrid the raster coverage SOURCE (a raster file, .vrt, tile folder, .zarr or PostGIS raster table) onto a
    reference grid with exact overlap areas: sums conserved, class fractions, area-weighted means."""
    grid = reference_grid(like, like_tiles, bounds, resolution, crs, tile_size)
    check_executor(executor, scheduler)
    band_list = None
    if bands:
        try:
            band_list = [int(b) for b in bands.split(",") if b.strip()]
        except ValueError:
            raise click.BadParameter(
                f"{bands!r}: give 1-based band numbers such as 1,3", param_hint="--bands"
            ) from None
    plan = plan_regrid(
        source,
        grid,
        methods=list(methods),
        bands=band_list,
        extent=extent,
        output=output,
        workers=workers,
        executor=executor,
        block_pixels=block_pixels,
        dtype=dtype,
        nodata=nodata,
        cog=True if cog == "" else (cog or False),
        overwrite=overwrite,
        if_exists=if_exists,
        resume=resume,
        tile_size=None if bounds else tile_size,
        max_pixels=max_pixels,
    )
    reg = plan.job.source
    if not reg.same:
        click.echo(
            f"source pixels cut into {reg.sub}x{reg.sub} for the CRS change; area error bound "
            f"{reg.area_error:.1e} of a source pixel",
            err=True,
        )
    run_with_progress(plan, progress=progress, scheduler=scheduler, desc="regrid")
