"""Options every command that runs a plan shares (``rasterize``, ``regrid``): the output, its type, how the blocks
run, and the progress bar."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import click

from ..engine import DEFAULT_BLOCK_PIXELS
from ..errors import InputError
from ..grid import Grid

__all__ = ["grid_options", "reference_grid", "run_options", "run_with_progress"]

_GRID_OPTIONS = [
    click.option(
        "--like",
        metavar="RASTER",
        help="Reference raster (a file, a .zarr store, or a PostGIS raster table "
        "postgresql://HOST/DB?table=SCHEMA.NAME): the output lines up with its pixels and tiles.",
    ),
    click.option("--like-tiles", metavar="DIR_OR_VRT", help="Reference folder (or VRT) of aligned tiles."),
    click.option(
        "--bounds", nargs=4, type=float, metavar="XMIN YMIN XMAX YMAX", help="Grid extent (with --resolution, --crs)."
    ),
    click.option("--resolution", type=float, help="Pixel size for --bounds."),
    click.option("--crs", help="CRS of the --bounds grid, e.g. EPSG:32198."),
]


_OPTIONS = [
    click.option("--tile-size", metavar="WxH", help="Output tile size (default: the reference's)."),
    click.option(
        "--extent",
        type=click.Choice(["full", "touched"], case_sensitive=False),
        default="full",
        show_default=True,
        help="Every tile of the grid, or only tiles the features touch.",
    ),
    click.option("--dtype", default="float32", show_default=True, help="Band type."),
    click.option("--nodata", type=float, default=-9999, show_default=True, help="Nodata value."),
    click.option(
        "--workers",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        help="Local processes (with --executor dask and no --scheduler: the local Dask cluster's worker processes).",
    ),
    click.option(
        "--executor",
        type=click.Choice(["local", "dask"], case_sensitive=False),
        default="local",
        show_default=True,
        help="local: this machine's processes; dask: a Dask cluster (pip install 'rastercover[dask]').",
    ),
    click.option(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="Address of the Dask scheduler to use with --executor dask (default: a local cluster for the run).",
    ),
    click.option(
        "--block-pixels",
        type=click.IntRange(min=1),
        default=DEFAULT_BLOCK_PIXELS,
        show_default=True,
        help="Pixels per block, the unit of work (one task on Dask): whole tiles, at least one. Smaller blocks are "
        "more tasks with less memory each.",
    ),
    click.option(
        "--cog",
        is_flag=False,
        flag_value="",
        default=None,
        metavar="[OUT.tif]",
        help="With a .tif output: write it as a Cloud Optimized GeoTIFF. With a tile folder, .zarr or PostGIS "
        "output: --cog OUT.tif assembles the whole output into that COG (with overviews) after the run.",
    ),
    click.option("--overwrite", is_flag=True, help="Replace an existing output."),
    click.option(
        "--if-exists",
        type=click.Choice(["fail", "replace", "append"], case_sensitive=False),
        default=None,
        help="PostGIS output that exists: fail (default), replace it, or append the new tiles.",
    ),
    click.option(
        "--resume",
        is_flag=True,
        help="PostGIS, tile folder or .zarr output: continue an interrupted run (only missing tiles); a tile folder "
        "or .zarr run started with --resume keeps its partial .NAME.partial when it fails.",
    ),
    click.option(
        "--max-pixels",
        type=click.IntRange(min=1),
        default=None,
        metavar="N",
        help="Refuse an output of more pixels (bands included). Default: one .tif at most 2^36 (6.9e10); a tile "
        "folder, .zarr or PostGIS table no limit. Tilings of over 10 million tiles (or 10,000 tiles under 256 px) "
        "are refused whatever the limit: choose --tile-size.",
    ),
    click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal)."),
    click.option(
        "-o",
        "--output",
        required=True,
        metavar="OUTPUT",
        help="A .tif file (one GeoTIFF), a PostGIS raster table (postgresql://HOST/DB?table=SCHEMA.NAME), "
        "a .zarr store, or any other name (a tile folder with index.vrt).",
    ),
]


def run_options(command: Callable) -> Callable:
    """Apply the shared options to ``command`` (in the order ``--help`` shows them)."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def grid_options(command: Callable) -> Callable:
    """Apply the reference-grid options (``--like``, ``--like-tiles``, ``--bounds`` ...) to ``command``."""
    for option in reversed(_GRID_OPTIONS):
        command = option(command)
    return command


def reference_grid(
    like: str | None, like_tiles: str | None, bounds: tuple, resolution: float | None, crs: str | None, tile_size: Any
) -> Any:
    """The reference grid the options name: a location (the plan opens it: its tiles, a table's rids), or the
    :class:`Grid` of ``--bounds``, ``--resolution`` and ``--crs`` (tiled by ``--tile-size``)."""
    given = [n for n, v in (("--like", like), ("--like-tiles", like_tiles), ("--bounds", bounds)) if v]
    if len(given) != 1:
        raise InputError(
            "give exactly one reference grid: --like RASTER, --like-tiles DIR_OR_VRT, "
            "or --bounds XMIN YMIN XMAX YMAX --resolution RES --crs CRS"
            + (f" (got {' and '.join(given)})" if given else "")
        )
    if bounds:
        if resolution is None or crs is None:
            raise InputError("--bounds needs --resolution and --crs")
        return _grid_of_bounds(bounds, resolution, crs, tile_size)
    return like or like_tiles


def _grid_of_bounds(bounds: tuple[float, ...], resolution: float, crs: str, tile_size: str | None) -> Grid:
    """The grid of ``--bounds``, ``--resolution``, ``--crs``: numbers that are not finite (``1e400`` reads as
    infinity, ``nan``), a resolution that is not positive or a grid too large for a raster are errors naming the
    option."""
    names = ("XMIN", "YMIN", "XMAX", "YMAX")
    for name, v in zip(names, bounds, strict=True):
        if not math.isfinite(v):
            raise InputError(f"--bounds {' '.join(f'{b:g}' for b in bounds)}: {name} is {v:g}, give finite numbers")
    if not (math.isfinite(resolution) and resolution > 0):
        raise InputError(f"--resolution {resolution:g}: give a positive pixel size, e.g. --resolution 30")
    try:
        lattice = Grid.from_bounds(bounds, resolution, None)
    except InputError as exc:
        raise InputError(f"--bounds {' '.join(f'{b:g}' for b in bounds)} --resolution {resolution:g}: {exc}") from None
    return Grid(lattice.width, lattice.height, lattice.transform, crs, tile_size)


def run_with_progress(plan: Any, *, progress: bool | None, scheduler: Any, desc: str) -> None:
    """Run ``plan`` with a progress bar of its tiles (messages such as Dask's dashboard above it) and say what was
    written."""
    import sys

    from tqdm import tqdm

    from ..api import run_plan
    from .progress import tile_progress

    def notify(message: str) -> None:
        tqdm.write(message, file=sys.stderr)

    with tile_progress(plan.n_tiles, enabled=progress, desc=desc) as advance:
        result = run_plan(plan, progress=advance, notify=notify, scheduler=scheduler)
    click.echo(f"wrote {result}")
