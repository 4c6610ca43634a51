"""The public verbs: open sources and sinks, wire them to the engine.

Examples
--------
>>> import shapely, rastercover
>>> from affine import Affine
>>> grid = rastercover.Grid(4, 2, Affine(10, 0, 0, 0, -10, 20), "EPSG:32198", tile_size=2)
>>> stands = [(shapely.box(0, 0, 20, 20), 12.5), (shapely.box(15, 0, 40, 20), 30.0)]
>>> da = rastercover.rasterize(stands, grid, methods=["MEAN_OF_VALUES_AT_PIXEL_CENTROID",
...                            "COUNT_OF_VALUES_AT_PIXEL_CENTROID"], assume_crs="EPSG:32198")
>>> da.sel(band="MEAN_OF_VALUES_AT_PIXEL_CENTROID").values.tolist()
[[12.5, 12.5, 30.0, 30.0], [12.5, 12.5, 30.0, 30.0]]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .crs import as_crs, crs_label, same_crs
from .engine import DEFAULT_BLOCK_PIXELS, Extent, InvalidPolicy, Job, Semantics, run
from .engine.distributed import check_executor, require_dask
from .errors import CRSError, InputError
from .grid import Grid
from .io import (
    FileCoverage,
    FileVectorSource,
    GeoTiffSink,
    MemorySink,
    MemoryVectorSource,
    ReprojectedSource,
    TileFolderSink,
)
from .io.atomic import check_target
from .io.coverage_zarr import is_zarr_path
from .io.pg import is_pg_location
from .io.raster_grid import grid_of_raster, grid_of_tiles
from .io.reproject import distinct_values_of
from .methods import Method, available_methods, get_method, resolve_methods

__all__ = ["DEFAULT_METHODS", "RasterizeResult", "band_type", "open_grid", "open_vector", "rasterize"]

DEFAULT_METHODS = ("LAST_VALUE_AT_PIXEL_CENTROID",)


@dataclass(frozen=True)
class RasterizeResult:
    """What :func:`rasterize` wrote when given an output path."""

    path: str
    format: str
    grid: Grid = field(repr=False)
    bands: tuple[str, ...]
    dtype: str
    nodata: float
    tiles_written: int
    cog: str | None = None

    def __str__(self) -> str:
        return (
            f"{self.path}: {self.format}, {self.grid.width}x{self.grid.height} px, {len(self.bands)} band(s) "
            f"{', '.join(self.bands)} ({self.dtype}, nodata {self.nodata:g}), {self.tiles_written} tile(s), "
            f"{crs_label(self.grid.crs)}" + (f"; COG {self.cog}" if self.cog else "")
        )


def open_grid(like: Grid | str | os.PathLike, tile_size: Any = None) -> Grid:
    """A grid from a :class:`Grid`, a raster file, a folder/VRT of tiles, a ``.zarr`` store or a PostGIS raster
    table.

    ``tile_size`` overrides the tiling.

    Examples
    --------
    >>> from affine import Affine
    >>> open_grid(Grid(10, 10, Affine(1, 0, 0, 0, -1, 10)), tile_size=5).tile_layout
    (2, 2)
    """
    if isinstance(like, Grid):
        return like if tile_size is None else like.with_tile_size(tile_size)
    if is_pg_location(like):
        from .io.raster_postgis import PostgisRasterCoverage

        grid = PostgisRasterCoverage(like).grid
        return grid if tile_size is None else grid.with_tile_size(tile_size)
    path = os.fspath(like)
    if is_zarr_path(path):
        from .io.coverage_zarr import ZarrCoverage

        grid = ZarrCoverage(path).grid  # its chunks are its tiles
        return grid if tile_size is None else grid.with_tile_size(tile_size)
    if os.path.isdir(path):  # the coverage's own grid: its tiles, where they are
        grid = FileCoverage(path).grid
        return grid if tile_size is None else grid.with_tile_size(tile_size)
    return grid_of_raster(path, tile_size) if not path.lower().endswith(".vrt") else _vrt_grid(path, tile_size)


def _vrt_grid(path: str, tile_size: Any) -> Grid:
    grid = grid_of_tiles(path)
    return grid if tile_size is None else grid.with_tile_size(tile_size)


def open_vector(
    source: Any,
    *,
    layer: str | int | None = None,
    value: str | None = None,
    where: str | None = None,
    assume_crs: Any = None,
) -> Any:
    """A vector source from a path, a GeoDataFrame, ``(geometry, value)`` pairs, or a source object."""
    if is_pg_location(source):
        from .io.vector_postgis import PostgisVectorSource

        return PostgisVectorSource(source, value=value, where=where, assume_crs=assume_crs)
    if isinstance(source, str | os.PathLike):
        return FileVectorSource(os.fspath(source), layer=layer, value=value, where=where, assume_crs=assume_crs)
    if where is not None:
        raise InputError("where= filters only apply to files and PostGIS tables; filter the data first")
    if hasattr(source, "geometry") and hasattr(source, "crs") and hasattr(source, "columns"):
        return MemoryVectorSource.from_geodataframe(source, value=value, assume_crs=assume_crs)
    if all(hasattr(source, a) for a in ("read", "crs", "bounds", "describe")):
        return source
    if isinstance(source, Iterable):
        if value is not None:
            raise InputError("value= names a column; (geometry, value) pairs carry their values themselves")
        return MemoryVectorSource.from_pairs(source, crs=assume_crs)
    raise InputError(f"cannot read features from a {type(source).__name__}: give a path, a GeoDataFrame or pairs")


def band_type(dtype: Any, nodata: float | None) -> tuple[np.dtype, float]:
    """The numpy type and nodata of output bands, checked: a raster band type, and a nodata it holds exactly.

    Examples
    --------
    >>> band_type("uint8", 255)
    (dtype('uint8'), 255.0)
    >>> band_type("uint8", -1)
    Traceback (most recent call last):
    ...
    rastercover.errors.InputError: nodata -1 does not fit a uint8 band; pick a value in [0, 255]
    """
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise InputError(f"unknown dtype {dtype!r}: use e.g. float32, float64, int16, int32, uint8") from None
    if dt.kind not in "iuf" or dt.itemsize > 8 or dt == np.float16:
        raise InputError(f"dtype {dt.name} cannot be a raster band: use float32, float64, int8..int64 or uint8..uint64")
    if nodata is None:
        raise InputError("nodata cannot be None: give a value (default -9999)")
    try:
        nodata = float(nodata)
    except (TypeError, ValueError):
        raise InputError(f"nodata {nodata!r} is not a number: give e.g. -9999, 0 or nan") from None
    if dt.kind in "iu":
        info = np.iinfo(dt)
        if np.isnan(nodata) or not float(nodata).is_integer() or not info.min <= nodata <= info.max:
            raise InputError(
                f"nodata {nodata:g} does not fit a {dt.name} band; pick a value in [{info.min}, {info.max}]"
            )
    elif dt == np.float32 and not np.isnan(nodata) and float(np.float32(nodata)) != nodata:
        raise InputError(f"nodata {nodata!r} is not exactly representable as float32; pick e.g. -9999")
    return dt, nodata


def _build_job(
    source: Any,
    grid: Grid | str | os.PathLike,
    *,
    layer: str | int | None,
    value: str | None,
    where: str | None,
    methods: str | Method | Sequence[str | Method],
    extent: str | Extent,
    dtype: Any,
    nodata: float,
    tile_size: Any,
    assume_crs: Any,
    invalid: str | InvalidPolicy,
    semantics: str | Semantics,
) -> tuple[Job, Any, Any]:
    """Check the options, open the grid and the source: the job, and the reference table's rids and SRID."""
    specs = [methods] if isinstance(methods, str | Method) else list(methods)
    if not specs:
        raise InputError("no method given: name at least one (see `rastercover methods`)")
    for spec in specs:  # fail on a bad name before opening anything
        if not isinstance(spec, Method):
            available = available_methods()
            if str(spec).partition(":")[0].strip().upper() not in available:
                get_method(str(spec))
    extent = Extent.parse(extent)
    invalid = InvalidPolicy.parse(invalid)
    semantics = Semantics.parse(semantics)
    dt, nodata = band_type(dtype, nodata)
    ref_rids, ref_srid = None, None
    if is_pg_location(grid):
        from .io.raster_postgis import PostgisRasterCoverage

        reference = PostgisRasterCoverage(grid)
        grid = reference.grid
        ref_srid = reference.srid or None
        if tile_size is None:
            ref_rids = reference.rids
    grid = open_grid(grid, tile_size)
    if grid.crs is None:
        raise CRSError("the reference grid has no CRS; give the raster a CRS (or build the Grid with crs=)")
    src = open_vector(source, layer=layer, value=value, where=where, assume_crs=assume_crs)

    def classes() -> np.ndarray:
        if getattr(src, "value", "pairs") is None:
            raise InputError("one band per class needs a value column: name it with --value / value=")
        return distinct_values_of(src)

    method_list = resolve_methods(specs, classes)
    seen = set()
    for m in method_list:
        if m.name in seen:
            raise InputError(f"method {m.name} is asked twice")
        seen.add(m.name)
    needs_value = [m.name for m in method_list if m.needs_value]
    if needs_value and getattr(src, "value", "pairs") is None:
        raise InputError(f"{', '.join(needs_value)} read(s) a value column: name it with --value / value=")
    if src.crs is None:
        raise CRSError(f"{src.describe()} has no CRS: pass assume_crs=")
    if not same_crs(src.crs, grid.crs):
        src = ReprojectedSource(src, grid.crs)
        _ = src.bounds  # fail now, not in a worker, when the CRSs cannot be bridged
    elif as_crs(src.crs) is None:
        raise CRSError(f"{src.describe()}: unknown CRS")
    return Job(src, grid, tuple(method_list), extent, dt, nodata, invalid, semantics), ref_rids, ref_srid


def rasterize(
    source: Any,
    grid: Grid | str | os.PathLike,
    *,
    layer: str | int | None = None,
    value: str | None = None,
    where: str | None = None,
    methods: str | Method | Sequence[str | Method] = DEFAULT_METHODS,
    extent: str | Extent = "full",
    output: str | os.PathLike | None = None,
    workers: int = 1,
    dtype: Any = "float32",
    nodata: float = -9999,
    tile_size: Any = None,
    assume_crs: Any = None,
    cog: bool | str | os.PathLike = False,
    overwrite: bool = False,
    invalid: str | InvalidPolicy = "fix",
    semantics: str | Semantics = "exact",
    progress: Callable[[int], None] | None = None,
    block_pixels: int = DEFAULT_BLOCK_PIXELS,
    if_exists: str | None = None,
    resume: bool = False,
    executor: str = "local",
    scheduler: Any = None,
    notify: Callable[[str], None] | None = None,
):
    """Rasterize a vector coverage onto ``grid``, one band per method, tile by tile.

    Parameters
    ----------
    source
        A vector file path (any OGR format), a GeoDataFrame, ``(geometry, value)`` pairs, or a source object.
    grid
        A :class:`Grid`, a reference raster file, a folder/VRT of aligned tiles, or a PostGIS raster table
        (``postgresql://host/db?table=schema.name``: its tiles, tile size and SRID).
    layer, value, where
        Layer of a multi-layer file, numeric value column, attribute filter: OGR SQL for a file, an SQL boolean
        expression for a PostGIS table (the one piece of SQL a user supplies; it runs with the connecting
        role's rights).
    methods
        Method names (see ``rastercover methods``); one band each, described by the method name.
    extent
        ``"full"``: every tile of the grid; ``"touched"``: only tiles the features intersect.
    output
        None: return an ``xarray.DataArray`` (band, y, x). A path ending in ``.tif``/``.tiff``: one GeoTIFF.
        A ``postgresql://host/db?table=schema.name`` location: a PostGIS raster table (one row per tile, rids
        of the reference table when the grid came from one, raster constraints and a GiST index).
        A path ending in ``.zarr``: a Zarr store (one array chunked by tiles, see :mod:`rastercover.io.sink_zarr`).
        Any other path: a tile folder (``r{row}_c{col}.tif`` + ``index.vrt``).
    workers
        Number of local processes (with ``executor="dask"`` and no scheduler: of the local Dask cluster's
        worker processes); results are identical for any number.
    dtype, nodata
        Band type and nodata value (default float32, -9999).
    tile_size
        Override the grid's tile size (``N``, ``(W, H)`` or ``"WxH"``).
    assume_crs
        CRS of features that carry none (a file with a CRS keeps its own).
    cog
        With a ``.tif`` output, ``True`` writes a Cloud Optimized GeoTIFF with overviews. With a tile folder,
        ``.zarr`` or PostGIS output, a ``.tif`` path: after the run the whole output is assembled into that COG
        (overviews: nearest for categorical methods, average otherwise).
    overwrite
        Replace an existing output.
    invalid
        ``"fix"`` (repair invalid polygons with ``make_valid``) or ``"error"``.
    semantics
        ``"exact"`` (default: what the method names promise, spec section 2) or ``"postgis"`` (the results of
        PostGIS Add-ons' ``ST_ExtractToRaster`` for its 15 methods, quirks included, spec section 4).
    progress
        Called with the number of tiles finished, block by block.
    if_exists
        For a PostGIS output that exists: ``"fail"`` (default; ``"replace"`` with ``overwrite=True``),
        ``"replace"`` or ``"append"``.
    resume
        For a PostGIS table, a tile folder or a ``.zarr`` store: continue what an interrupted run left,
        computing only missing tiles. A PostGIS run always leaves its partial table; a tile folder or store
        is built in place as ``.{name}.partial`` beside the output, kept when a ``resume=True`` run fails
        (see :mod:`rastercover.io.resume`).
    executor
        ``"local"`` (this process, or ``workers`` local processes) or ``"dask"``: blocks of tiles run on a Dask
        cluster (``pip install 'rastercover[dask]'``), results identical bit for bit. Workers read their blocks'
        features from the source themselves; a tile folder output is written by the workers when they see it
        (a shared file system), else by this process.
    scheduler
        With ``executor="dask"``: the scheduler's address (``tcp://HOST:PORT``) or a ``distributed.Client``;
        None starts a local cluster of ``workers`` processes for the run. See :func:`rastercover.rasterize_lazy`
        for a lazy dask-backed result.
    notify
        Called with one-line messages about the run (the Dask dashboard link, when there is one).

    Returns
    -------
    xarray.DataArray or RasterizeResult
    """
    executor = check_executor(executor, scheduler)
    if executor == "dask":
        require_dask()
    job, ref_rids, ref_srid = _build_job(
        source,
        grid,
        layer=layer,
        value=value,
        where=where,
        methods=methods,
        extent=extent,
        dtype=dtype,
        nodata=nodata,
        tile_size=tile_size,
        assume_crs=assume_crs,
        invalid=invalid,
        semantics=semantics,
    )
    grid, method_list, dt, nodata = job.grid, list(job.methods), job.dtype, job.nodata

    resampling = "nearest" if all(m.categorical for m in method_list) else "average"
    cog_path = _check_file_options(output, cog, if_exists, resume, overwrite)
    cog = cog is True
    if output is None:
        sink = MemorySink()
        fmt = "memory"
    elif is_pg_location(output):
        from .io.sink_postgis import PostgisRasterSink

        if cog:
            raise InputError("cog=True needs a .tif output; beside a PostGIS table, name the COG: cog='OUT.tif'")
        sink = PostgisRasterSink(
            output,
            if_exists=if_exists or ("replace" if overwrite else "fail"),
            resume=resume,
            rids=ref_rids,
            srid=ref_srid,
        )
        fmt = "PostGIS raster table"
    else:
        out = os.fspath(output)
        if out.lower().endswith((".tif", ".tiff")):
            sink = GeoTiffSink(out, cog=cog, overview_resampling=resampling, overwrite=overwrite)
            fmt = "COG" if cog else "GeoTIFF"
        else:
            if cog:
                raise InputError("cog=True needs a .tif output; beside a tile folder or .zarr: cog='OUT.tif'")
            if is_zarr_path(out):
                from .io.sink_zarr import ZarrSink

                sink = ZarrSink(out, overwrite=overwrite, resume=resume)
                fmt = "Zarr store"
            else:
                sink = TileFolderSink(out, overwrite=overwrite, resume=resume)
                fmt = "tile folder"
    result, written = run(
        job,
        sink,
        workers=workers,
        executor=executor,
        scheduler=scheduler,
        block_pixels=block_pixels,
        progress=progress,
        notify=notify,
    )
    if output is None:
        return result
    if cog_path is not None:  # the whole output, assembled into one COG with overviews
        from .export import export

        export(result, cog_path, format="cog", overview_resampling=resampling, overwrite=overwrite)
    return RasterizeResult(
        result, fmt, grid, tuple(m.name for m in method_list), dt.name, nodata, written, cog=cog_path
    )


def _check_file_options(output: Any, cog: Any, if_exists: str | None, resume: bool, overwrite: bool) -> str | None:
    """Check ``cog=``, ``if_exists=`` and ``resume=`` against the output; return the COG to assemble, if any."""
    pg = is_pg_location(output)
    tif = output is not None and not pg and os.fspath(output).lower().endswith((".tif", ".tiff"))
    if if_exists is not None and not pg:
        raise InputError("if_exists= applies to PostGIS outputs (postgresql://...); use overwrite= for files")
    if resume and (output is None or tif):
        raise InputError(
            "resume= applies to PostGIS tables, tile folders and .zarr stores; a GeoTIFF or an in-memory result "
            "is written in one go (write a tile folder or .zarr to resume, with cog='OUT.tif' for one file)"
        )
    if not isinstance(cog, str | os.PathLike):
        return None
    cog_path = os.fspath(cog)
    if output is None or tif:
        raise InputError(
            f"cog={cog_path!r} assembles a COG from a tile folder, .zarr or PostGIS output; with a .tif output "
            "pass cog=True, in memory write the DataArray yourself"
        )
    if not cog_path.lower().endswith((".tif", ".tiff")):
        raise InputError(f"cog={cog_path!r}: name the COG with a .tif extension")
    check_target(cog_path, overwrite=overwrite)
    return cog_path
