"""``rastercover demo``: rasterize a real coverage (bundled Alaska forests) onto a real reference raster."""

from __future__ import annotations

import os
from importlib import resources

import click

from ..api import open_grid
from ..api import rasterize as rasterize_api
from .progress import tile_progress

__all__ = ["demo", "demo_data"]

_CLASSES = {24: "evergreen", 25: "mixed", 50: "deciduous"}


def demo_data() -> tuple[str, str]:
    """Paths of the bundled forest polygons and reference raster."""
    base = resources.files("rastercover") / "data" / "alaska"
    return str(base / "trees.shp"), str(base / "SR_50M_alaska_nad.tif")


@click.command()
@click.option(
    "-o", "--output", default="demo-output/alaska_forest.tif", show_default=True, help="Where to write the GeoTIFF."
)
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
def demo(output: str, progress: bool | None) -> None:
    """Rasterize Alaska's forest polygons (VMAP0, public domain) onto a shaded-relief raster's grid."""
    trees, relief = demo_data()
    grid = open_grid(relief, tile_size=256)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    click.echo(f"reference grid: {relief}\n  {grid}")
    click.echo(f"forest polygons: {trees} (value column VEG_ID)")
    with tile_progress(grid.n_tiles, enabled=progress) as advance:
        result = rasterize_api(
            trees,
            grid,
            value="VEG_ID",
            methods=["LAST_VALUE_AT_PIXEL_CENTROID", "COUNT_OF_VALUES_AT_PIXEL_CENTROID"],
            output=output,
            dtype="int16",
            nodata=-1,
            overwrite=True,
            progress=advance,
        )
    import rasterio

    with rasterio.open(result.path) as ds:
        cls = ds.read(1)
    counts = ", ".join(f"{_CLASSES.get(v, v)} {int((cls == v).sum())}" for v in sorted(_CLASSES))
    click.echo(f"forest pixels by class: {counts}; non-forest {int((cls == -1).sum())}")
    click.echo(f"wrote {result}")
    click.echo(f"result: {os.path.abspath(result.path)}")
