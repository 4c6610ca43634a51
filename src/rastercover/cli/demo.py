"""``rastercover demo``: rasterize a real coverage (bundled Alaska forests) onto a real reference raster."""

from __future__ import annotations

import os
from importlib import resources

import click
import numpy as np

from ..api import open_grid
from ..api import rasterize as rasterize_api
from .progress import tile_progress

__all__ = ["demo", "demo_data"]

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
    click.echo(f"forest polygons: {trees} (value column VEG_ID, class names VEGDESC)")
    with tile_progress(grid.n_tiles, enabled=progress) as advance:
        result = rasterize_api(
            trees,
            grid,
            value="VEG_ID",
            class_names="VEGDESC",
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
        descriptions = [ds.tags(b).get("DESCRIPTION", "") for b in (1, 2)]
    names = _classes(result.path)
    values, counts = np.unique(cls[cls != -1], return_counts=True)
    by_class = ", ".join(f"{names.get(int(v), '?')} ({int(v)}) {int(c)}" for v, c in zip(values, counts, strict=True))
    click.echo(f"forest pixels by class: {by_class}; non-forest {int((cls == -1).sum())}")
    for band, text in zip(result.bands, descriptions, strict=True):
        click.echo(f"  band {band}: {text}")
    click.echo(f"wrote {result}")
    click.echo(f"result: {os.path.abspath(result.path)} (class names in {os.path.basename(result.path)}.aux.xml)")


def _classes(path: str) -> dict[int, str]:
    """The class names of band 1 as GDAL reads them from ``PATH.aux.xml`` (its raster attribute table)."""
    import xml.etree.ElementTree as ET

    side = path + ".aux.xml"
    if not os.path.exists(side):
        return {}
    band = ET.parse(side).getroot().find("PAMRasterBand[@band='1']")
    rows = band.findall("GDALRasterAttributeTable/Row") if band is not None else []
    return {int(float(r[0].text)): r[1].text or "" for r in rows}
