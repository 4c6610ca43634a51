"""``rastercover export``: a raster coverage (or a clipped piece of it) as a file; ``rastercover formats``."""

from __future__ import annotations

from typing import Any

import click

from ..errors import InputError
from ..exporting import plan_export, run_export
from ..formats import FORMATS, available_formats, missing_formats
from ..ops.warp import RESAMPLING
from ..pixel_values import DTYPES
from .progress import tile_progress

__all__ = ["export", "formats", "read_clip_option"]


def read_clip_option(value: str | None) -> str | None:
    """The text of a ``--clip`` value: GeoJSON or WKT as given, or the content of ``@FILE``."""
    if value is None or not value.startswith("@"):
        return value
    path = value[1:]
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise InputError(f"--clip {value}: cannot read {path} ({exc.strerror or exc})") from None


@click.command()
@click.argument("coverage")
@click.option(
    "-o",
    "--output",
    required=True,
    metavar="OUTPUT",
    help="File to write (its extension picks the format), or an existing folder (the name is made).",
)
@click.option(
    "--format",
    "format_key",
    metavar="KEY",
    help=f"Output format: {', '.join(f.key for f in FORMATS)} (`rastercover formats` lists them).",
)
@click.option("--bbox", nargs=4, type=float, metavar="XMIN YMIN XMAX YMAX", help="Export the pixels meeting it.")
@click.option("--bbox-crs", metavar="CRS", help="CRS of --bbox (default: the coverage's).")
@click.option("--clip", metavar="GEOJSON|WKT|@FILE", help="Keep the pixels whose centre is inside; crop to it.")
@click.option("--clip-crs", metavar="CRS", help="CRS of --clip (default: its GeoJSON crs, else the coverage's).")
@click.option(
    "--clip-layer",
    metavar="VECTOR_SOURCE",
    help="Clip by one feature of this vector file or postgresql://...?table= layer (with --clip-id).",
)
@click.option("--clip-layer-name", metavar="NAME", help="Layer of a multi-layer --clip-layer file.")
@click.option("--clip-id", metavar="ID", help="The feature's id: its FID (a table's primary key), or see next.")
@click.option("--clip-id-column", metavar="COL", help="Match --clip-id against this column instead of the FID.")
@click.option("--buffer", type=float, default=0.0, metavar="D", help="Buffer the clip by D coverage units.")
@click.option(
    "--buffer-segments",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Segments per quarter circle of the buffer's rounded corners (default 8, as PostGIS's ST_Buffer).",
)
@click.option(
    "--clip-footprint",
    type=click.Choice(["extent", "data"], case_sensitive=False),
    default=None,
    help="With a raster --clip-layer: clip by its outline (extent, the default) or by its pixels with data.",
)
@click.option("--envelope", is_flag=True, help="Use the clip's bounding box (before --buffer).")
@click.option(
    "--crop",
    type=click.Choice(["bounds", "postgis"], case_sensitive=False),
    default=None,
    help="Crop to the clip's bounds snapped outward (bounds, the default, as rasterio.mask) or to the window "
    "PostGIS's ST_Clip gives (postgis): the same pixels kept, a nodata column or row more or less.",
)
@click.option("--all-touched", is_flag=True, help="Keep every pixel the clip touches.")
@click.option("--bands", metavar="1,2", help="Bands to export, 1-based (default: all).")
@click.option("--crs", metavar="CRS", help="Warp to this CRS (EPSG:4326, a WKT or PROJ string...).")
@click.option("--resolution", metavar="R|XRES,YRES", help="Warp to this pixel size (output CRS units).")
@click.option(
    "--resampling",
    type=click.Choice(list(RESAMPLING), case_sensitive=False),
    default="nearest",
    show_default=True,
    help="Resampling of a warp.",
)
@click.option("--dtype", metavar="TYPE", help=f"Output pixel type: {', '.join(DTYPES)}.")
@click.option("--nodata", metavar="V", help="Output nodata value (pixels without data get it).")
@click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Refuse an output of more pixels (bands included); default 2^36 (6.9e10), what one file can sensibly hold.",
)
@click.option(
    "--per-tile",
    is_flag=True,
    help="Write each storage tile the bbox or clip meets as its own file: -o is then a folder or a .zip.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
def export(
    coverage: str,
    output: str,
    format_key: str | None,
    bbox: tuple[float, float, float, float] | None,
    bbox_crs: str | None,
    clip: str | None,
    clip_crs: str | None,
    buffer: float,
    buffer_segments: int | None,
    clip_footprint: str | None,
    envelope: bool,
    crop: str | None,
    all_touched: bool,
    clip_layer: str | None,
    clip_layer_name: str | None,
    clip_id: str | None,
    clip_id_column: str | None,
    bands: str | None,
    crs: str | None,
    resolution: str | None,
    resampling: str,
    dtype: str | None,
    nodata: str | None,
    max_pixels: int | None,
    per_tile: bool,
    overwrite: bool,
    progress: bool | None,
) -> None:
    """Export the raster COVERAGE (a raster file, a .vrt, a tile folder or a PostGIS table) as one file.

    A piece spanning many tiles is mosaicked into one raster on the coverage's own pixel grid (no
    resampling unless --crs or --resolution ask for a warp). Examples:

    \b
      rastercover export dem.tif -o dem.asc                 # dem.asc + dem.prj
      rastercover export tiles/ -o piece.tif --clip @burned.geojson --buffer 1000 --envelope
      rastercover export landcover/ -o lc.tif --clip-layer burned.gpkg --clip-id 2 --envelope --buffer 1000
      rastercover export dem.tif -o out/ --format aaigrid --bbox 262900 4455000 270000 4460000
      rastercover export dem.tif -o dem_ll.tif --crs EPSG:4326 --resampling bilinear
      rastercover export tiles/ -o burned_tiles.zip --per-tile --clip-layer burned.gpkg --clip-id 2

    A progress bar (chunks read and written) shows on stderr when it is a terminal (--progress forces it).
    """
    # options the library gained lately are passed only when given, so their defaults stay the library's
    extra: dict[str, Any] = {}
    if buffer_segments is not None:
        extra["buffer_segments"] = buffer_segments
    if clip_footprint is not None:
        extra["clip_footprint"] = clip_footprint.lower()
    if crop is not None:
        extra["crop"] = crop.lower()
    if per_tile:
        extra["per_tile"] = True
    plan = plan_export(
        coverage,
        output,
        overwrite=overwrite,
        format=format_key,
        bbox=bbox or None,
        bbox_crs=bbox_crs,
        clip=read_clip_option(clip),
        clip_crs=clip_crs,
        clip_layer=clip_layer,
        clip_layer_name=clip_layer_name,
        clip_id=clip_id,
        clip_id_column=clip_id_column,
        buffer=buffer,
        envelope=envelope,
        all_touched=all_touched,
        bands=bands,
        crs=crs,
        resolution=resolution,
        resampling=resampling.lower(),
        dtype=dtype,
        nodata=nodata,
        max_pixels=max_pixels,
        **extra,
    )
    with tile_progress(plan.steps, enabled=progress, unit="chunk", desc="export") as advance:
        result = run_export(plan, progress=advance)
    click.echo(f"wrote {result}")


@click.command()
def formats() -> None:
    """List the export formats this GDAL build can write, one line each."""
    rows = []
    for f in available_formats():
        ext = f.extension if f.delivery_extension == f.extension else f"{f.delivery_extension} ({f.extension})"
        rows.append((f.key, f.driver, ext, f.media_type, f.notes))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row[:4], widths, strict=True)) + "  " + row[4])
    missing = missing_formats()
    if missing:
        names = ", ".join(f"{f.key} (GDAL driver {f.driver})" for f in missing)
        click.echo(f"not available in this GDAL build: {names}")
