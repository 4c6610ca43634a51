"""``rastercover rasterize``: a vector coverage onto a reference grid, one band per method."""

from __future__ import annotations

import click

from ..api import plan_rasterize
from ..engine.executors import check_executor
from .common import grid_options, reference_grid, run_options, run_with_progress

__all__ = ["rasterize"]


@click.command()
@click.argument("source")
@click.option("--layer", help="Layer of a multi-layer file.")
@click.option(
    "--where",
    "where",
    metavar="FILTER",
    help='Attribute filter, e.g. "height > 10": OGR SQL for a file, an SQL boolean expression for a PostGIS '
    "table (the one piece of SQL you supply; it runs with your database role's rights).",
)
@grid_options
@click.option("--value", metavar="COLUMN", help="Numeric column holding each feature's value.")
@click.option(
    "--class-names",
    metavar="COLUMN",
    help="Column naming the values of --value (e.g. VEGDESC for VEG_ID): bands of value methods get the names as "
    "categories and an attribute table, read by GDAL and QGIS (in OUT.tif.aux.xml, a tile folder's index.vrt, a Zarr "
    "store's attributes).",
)
@click.option(
    "-m",
    "--method",
    "methods",
    multiple=True,
    required=True,
    metavar="METHOD",
    help="Method (repeat for several bands); `rastercover methods` lists them.",
)
@click.option("--assume-crs", metavar="CRS", help="CRS of a source that has none.")
@click.option(
    "--invalid",
    type=click.Choice(["fix", "error"], case_sensitive=False),
    default="fix",
    show_default=True,
    help="Repair invalid polygons, or stop on the first one.",
)
@click.option(
    "--semantics",
    type=click.Choice(["exact", "postgis"], case_sensitive=False),
    default="exact",
    show_default=True,
    help="exact: what the method names promise; postgis: ST_ExtractToRaster's results, quirks included.",
)
@run_options
def rasterize(
    source,
    layer,
    where,
    like,
    like_tiles,
    bounds,
    resolution,
    crs,
    value,
    class_names,
    methods,
    tile_size,
    extent,
    dtype,
    nodata,
    workers,
    executor,
    scheduler,
    block_pixels,
    cog,
    assume_crs,
    invalid,
    semantics,
    overwrite,
    if_exists,
    resume,
    max_pixels,
    progress,
    output,
) -> None:
    """Rasterize the vector coverage SOURCE onto a reference grid, one band per method."""
    grid = reference_grid(like, like_tiles, bounds, resolution, crs, tile_size)
    check_executor(executor, scheduler)
    plan = plan_rasterize(
        source,
        grid,
        layer=layer,
        value=value,
        where=where,
        methods=list(methods),
        extent=extent,
        output=output,
        workers=workers,
        executor=executor,
        block_pixels=block_pixels,
        dtype=dtype,
        nodata=nodata,
        assume_crs=assume_crs,
        cog=True if cog == "" else (cog or False),
        overwrite=overwrite,
        if_exists=if_exists,
        resume=resume,
        tile_size=None if bounds else tile_size,
        invalid=invalid,
        semantics=semantics,
        max_pixels=max_pixels,
        class_names=class_names,
    )
    run_with_progress(plan, progress=progress, scheduler=scheduler, desc="rasterize")
