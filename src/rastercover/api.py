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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np

from .crs import as_crs, bbox_in_crs, crs_label, same_crs
from .engine import DEFAULT_BLOCK_PIXELS, Extent, InvalidPolicy, Job, Semantics, run
from .engine.blocks import narrow_to_reached, worth_narrowing
from .engine.compute import to_band
from .engine.executors import check_executor, require_dask
from .engine.limits import check_size, check_tiling, too_many_tiles
from .engine.postgis import postgis_band
from .errors import CRSError, InputError, MissingColumnError, RastercoverError
from .grid import Grid, Window
from .io import registry
from .io.class_names import class_table
from .io.reproject import ReprojectedSource, distinct_values_of, source_identity
from .methods import Method, available_methods, get_method, resolve_methods

__all__ = [
    "DEFAULT_METHODS",
    "RasterizePlan",
    "RasterizeResult",
    "band_type",
    "job_identity",
    "open_grid",
    "open_vector",
    "plan_rasterize",
    "rasterize",
    "run_plan",
]

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
    table: the coverage's lattice and the tiles it has (see :func:`rastercover.io.registry.open_grid`).

    ``tile_size`` overrides the tiling.

    Examples
    --------
    >>> from affine import Affine
    >>> open_grid(Grid(10, 10, Affine(1, 0, 0, 0, -1, 10)), tile_size=5).tile_layout
    (2, 2)
    """
    return registry.open_grid(like, tile_size)


def open_vector(
    source: Any,
    *,
    layer: str | int | None = None,
    value: str | None = None,
    where: str | None = None,
    assume_crs: Any = None,
) -> Any:
    """A vector source from a path, a ``postgresql://`` URL, a GeoDataFrame, ``(geometry, value)`` pairs, or a
    source object (see :func:`rastercover.io.registry.open_vector`)."""
    return registry.open_vector(source, layer=layer, value=value, where=where, assume_crs=assume_crs)


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
    elif dt == np.float32 and np.isfinite(nodata) and abs(nodata) > float(np.finfo(np.float32).max):
        raise InputError(
            f"nodata {nodata:g} does not fit a float32 band (largest {np.finfo(np.float32).max:g}); "
            "pick e.g. -9999, or --dtype float64"
        )
    elif dt == np.float32 and not np.isnan(nodata) and float(np.float32(nodata)) != nodata:
        raise InputError(f"nodata {nodata!r} is not exactly representable as float32; pick e.g. -9999")
    return dt, nodata


@dataclass(frozen=True)
class RasterizePlan:
    """A checked rasterization: everything the work needs, nothing left to fail on user input but the data itself.

    Made by :func:`plan_rasterize` (which validates every option and opens the source's and the grid's
    headers once), run by :func:`run_plan`. Every face runs plans: :func:`rasterize`, the command line,
    the HTTP service (``/rasterize`` and its jobs) and :func:`rastercover.rasterize_lazy`, so they check the
    same things, fail with the same errors and give the same bits. A plan pickles (its source holds a path, a
    URL or small in-memory features).

    Attributes
    ----------
    job
        What the engine computes: source, grid (with the tiles it has), methods, extent, type, policies.
    output
        Where the result goes: a location (path, ``postgresql://`` URL) or None for a DataArray.
    sink_options
        The sink's options (``overwrite``, ``resume``, ``cog``, ``overview_resampling``, ``if_exists``).
    tile_ids, srid
        The reference coverage's tile ids (a raster table's rids) and SRID, kept by a PostGIS output.
    cog_path
        A COG to assemble from the whole output after the run, or None.
    workers, executor, block_pixels
        How the blocks run (results are identical for any of them).
    classes
        Per band, ``{value: class name}`` (``class_names=``) or None.
    """

    job: Job
    output: str | None = None
    sink_options: dict = field(default_factory=dict)
    tile_ids: dict = field(default_factory=dict, repr=False)
    srid: int | None = None
    cog_path: str | None = None
    workers: int = 1
    executor: str = "local"
    block_pixels: int = DEFAULT_BLOCK_PIXELS
    classes: tuple = ()

    @property
    def grid(self) -> Grid:
        """The output grid (a sparse reference's tiles only)."""
        return self.job.grid

    @property
    def bands(self) -> tuple[str, ...]:
        """One band per method."""
        return tuple(m.name for m in self.job.methods)

    @property
    def n_tiles(self) -> int:
        """Tiles of the output grid (the progress total)."""
        return self.job.grid.n_tiles

    @property
    def pixels(self) -> int:
        """Output pixels, bands included."""
        return self.job.grid.width * self.job.grid.height * len(self.job.methods)

    def to(
        self, output: str | os.PathLike | None, *, max_pixels: int | None = None, **sink_options: Any
    ) -> RasterizePlan:
        """The same plan writing to another output, checked as :func:`plan_rasterize` checks one (its size limits
        included: ``max_pixels`` as there)."""
        options = {"overwrite": False, "resume": False, "cog": False, "if_exists": None, **sink_options}
        options.setdefault("overview_resampling", self.sink_options.get("overview_resampling"))
        out = None if output is None else os.fspath(output)
        registry.check_sink(out, **options)
        g = self.job.grid
        kind = _output_kind(out, lazy=False)
        check_size(
            g.width, g.height, len(self.job.methods), self.job.dtype.itemsize, output=kind, max_pixels=max_pixels
        )
        if options["cog"] and kind != "file":
            check_size(
                g.width, g.height, len(self.job.methods), self.job.dtype.itemsize, output="file", max_pixels=max_pixels
            )
        if any(self.classes):
            _check_class_output("class names", out, None, lazy=False)
        return replace(self, output=out, sink_options=options, cog_path=None)


def _check_methods(specs: list) -> None:
    if not specs:
        raise InputError("no method given: name at least one (see `rastercover methods`)")
    for spec in specs:  # fail on a bad name before opening anything
        if not isinstance(spec, Method):
            available = available_methods()
            if str(spec).partition(":")[0].strip().upper() not in available:
                get_method(str(spec))


def _too_large(
    grid: Grid,
    bands: int,
    max_pixels: int | None,
    *,
    itemsize: int = 4,
    output: str = "pieces",
    cog: bool = False,
    extent: Extent = Extent.FULL,
) -> None:
    """Refuse, before anything is read, an output over its size limit or an absurd tiling
    (:mod:`rastercover.engine.limits`): ``output`` says what holds it (``"memory"``, one ``"file"``,
    ``"pieces"`` or ``"lazy"``), ``cog`` that a COG of the whole output is assembled after the run."""
    if max_pixels is not None and (isinstance(max_pixels, bool) or int(max_pixels) != max_pixels or max_pixels < 1):
        raise InputError(f"max_pixels must be a positive whole number of pixels, got {max_pixels!r}")
    check_size(grid.width, grid.height, bands, itemsize, output=output, max_pixels=max_pixels)
    if cog and output != "file":
        check_size(grid.width, grid.height, bands, itemsize, output="file", max_pixels=max_pixels)
    touched = extent is Extent.TOUCHED
    # with extent touched (and no lazy array over the whole lattice) the tiles are counted once the plan knows them
    check_tiling(
        grid.width, grid.height, grid.tile_size, grid.n_tiles, layout_only=touched and output != "lazy", touched=touched
    )


def _output_kind(out: str | None, lazy: bool) -> str:
    """What holds the output, for the size rules: ``"lazy"``, ``"memory"``, one ``"file"`` or ``"pieces"``.

    One file is what the registry says is one (:func:`~rastercover.io.registry.writes_one_file`: a GeoTIFF or
    COG); a tile folder, a ``.zarr`` store and a PostGIS table are pieces.
    """
    if lazy:
        return "lazy"
    if out is None:
        return "memory"
    return "file" if registry.writes_one_file(out) else "pieces"


@dataclass(frozen=True)
class RunOptions:
    """The checked options every plan shares (:func:`check_run`): how it runs, its band type, where it writes."""

    executor: str
    dtype: np.dtype
    nodata: float
    output: str | None
    sink_options: dict
    cog_path: str | None
    limits: dict


def check_run(
    *,
    executor: str,
    workers: int,
    block_pixels: int,
    dtype: Any,
    nodata: float,
    output: Any,
    cog: Any,
    overwrite: bool,
    resume: bool,
    if_exists: str | None,
    lazy: bool,
    extent: Extent,
) -> RunOptions:
    """Check the options of a plan that do not depend on its source (:func:`plan_rasterize`,
    :func:`rastercover.plan_regrid`): the executor, workers and blocks, the band type, the output and its COG;
    ``limits`` are the keyword arguments of the size checks."""
    executor = check_executor(executor, None)
    if executor == "dask":
        require_dask()
    if workers < 1:
        raise InputError(f"workers must be at least 1, got {workers}")
    if block_pixels < 1:
        raise InputError(f"block_pixels must be at least 1, got {block_pixels}")
    dt, nodata = band_type(dtype, nodata)
    out = None if output is None else os.fspath(output)
    sink_options = {"overwrite": overwrite, "resume": resume, "cog": cog is True, "if_exists": if_exists}
    cog_path = None
    if isinstance(cog, str | os.PathLike):  # a COG assembled after the run
        registry.check_sink(out, **sink_options, cog_path=os.fspath(cog))
        cog_path = registry.check_cog_path(cog, overwrite=overwrite)
    else:
        registry.check_sink(out, **sink_options)
    kind = _output_kind(out, lazy)
    limits = {"itemsize": dt.itemsize, "output": kind, "cog": cog_path is not None or cog is True, "extent": extent}
    return RunOptions(executor, dt, nodata, out, sink_options, cog_path, limits)


def _output_grid(grid: Any, tile_size: Any, bbox: Any, bbox_crs: Any) -> tuple[Grid, dict, int | None]:
    """The output grid (a :class:`Grid`, or a reference coverage's: its lattice and the tiles it has), cut to
    ``bbox`` on the same lattice; with the reference's tile ids (kept when its tiles are) and SRID."""
    tile_ids: dict = {}
    srid = None
    if isinstance(grid, Grid):
        grid = grid if tile_size is None else grid.with_tile_size(tile_size)
    else:  # a reference coverage: its lattice, the tiles it has, and their ids
        reference = registry.open_coverage(grid)
        grid = reference.grid if tile_size is None else reference.grid.with_tile_size(tile_size)
        if grid is reference.grid:
            tile_ids = dict(reference.tile_ids)
        srid = reference.srid
    if grid.crs is None:
        raise CRSError("the reference grid has no CRS; give the raster a CRS (or build the Grid with crs=)")
    if bbox is not None:
        window = grid.pixel_window(bbox_in_crs(bbox, bbox_crs, grid.crs))
        if window is None:
            raise InputError(f"the bbox {tuple(bbox)} does not meet the grid, whose bounds are {grid.bounds}")
        if window != Window(0, 0, grid.width, grid.height):
            grid, tile_ids = grid.subgrid(window), {}
    elif bbox_crs is not None:
        raise InputError("bbox_crs= is the CRS of bbox=, which is missing")
    return grid, tile_ids, srid


def _methods_of(specs: list, src: Any) -> list[Method]:
    """The methods named by ``specs`` (families expanded over the source's classes), checked against it."""

    def classes() -> np.ndarray:
        if getattr(src, "value", "pairs") is None:
            raise InputError("one band per class needs a value column: name it with --value / value=")
        return distinct_values_of(src)

    method_list = resolve_methods(specs, classes)
    seen = set()
    for m in method_list:
        if m.kind.raster:
            raise InputError(
                f"{m.name} is a method of raster sources: regrid a raster with `rastercover regrid` / "
                "rastercover.regrid(); rasterize takes the vector methods (`rastercover methods --vector`)"
            )
        if m.name in seen:
            raise InputError(f"method {m.name} is asked twice")
        seen.add(m.name)
    needs_value = [m.name for m in method_list if m.needs_value]
    if needs_value and getattr(src, "value", "pairs") is None:
        raise InputError(f"{', '.join(needs_value)} read(s) a value column: name it with --value / value=")
    return method_list


def plan_rasterize(
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
    block_pixels: int = DEFAULT_BLOCK_PIXELS,
    if_exists: str | None = None,
    resume: bool = False,
    executor: str = "local",
    bbox: Sequence[float] | None = None,
    bbox_crs: Any = None,
    max_pixels: int | None = None,
    lazy: bool = False,
    class_names: str | None = None,
) -> RasterizePlan:
    """Check a rasterization and open its source and grid: the :class:`RasterizePlan` that :func:`run_plan` runs.

    The options are :func:`rasterize`'s (``max_pixels`` included), plus ``bbox`` (in ``bbox_crs``, default the
    grid's CRS): only the grid's pixels that meet it, on the same lattice; and ``lazy``: plan a lazy result
    (:func:`rastercover.rasterize_lazy`: no output, nothing held in memory until computed, so no memory limit
    by default, and blocks over the whole lattice). Nothing is computed or written; every error a user can
    cause is raised here, and the size guards (:mod:`rastercover.engine.limits`) refuse a result too large for
    memory, one file too large, or an absurd tiling before the source is even opened.

    With ``extent="touched"`` over a large grid (many blocks, or many blocks that meet the features' bounds; see
    :func:`rastercover.engine.blocks.worth_narrowing`) the plan's grid holds only the tiles the features'
    envelopes reach (read from the source by chunks, keeping only envelopes), so the run and its progress total
    follow the features, not the grid: a grid of billions of pixels with a few thousand points plans and runs in
    seconds. The tiles written and their pixels are the same.

    Examples
    --------
    >>> import shapely
    >>> from affine import Affine
    >>> grid = Grid(4, 2, Affine(10, 0, 0, 0, -10, 20), "EPSG:32198", tile_size=2)
    >>> plan = plan_rasterize([(shapely.box(0, 0, 20, 20), 1.0)], grid, assume_crs="EPSG:32198")
    >>> plan.n_tiles, plan.bands
    (2, ('LAST_VALUE_AT_PIXEL_CENTROID',))
    >>> run_plan(plan).values.tolist()
    [[[1.0, 1.0, -9999.0, -9999.0], [1.0, 1.0, -9999.0, -9999.0]]]
    >>> plan_rasterize([(shapely.box(0, 0, 20, 20), 1.0)], Grid(10**6, 10**6, Affine(1, 0, 0, 0, -1, 0), 3857),
    ...                assume_crs="EPSG:3857")                              # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rastercover.errors.TooLargeError: the result would hold 1.0e12 pixels (...), more than half of the ... available...
    """
    specs = [methods] if isinstance(methods, str | Method) else list(methods)
    _check_methods(specs)
    extent = Extent.parse(extent)
    invalid = InvalidPolicy.parse(invalid)
    semantics = Semantics.parse(semantics)
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
    executor, dt, nodata, out, sink_options, cog_path = (
        run.executor,
        run.dtype,
        run.nodata,
        run.output,
        run.sink_options,
        run.cog_path,
    )

    grid, tile_ids, srid = _output_grid(grid, tile_size, bbox, bbox_crs)
    limits = run.limits
    _too_large(grid, len(specs), max_pixels, **limits)  # before opening the source: at least one band per method
    src = open_vector(source, layer=layer, value=value, where=where, assume_crs=assume_crs)
    method_list = _methods_of(specs, src)
    _too_large(grid, len(method_list), max_pixels, **limits)
    if src.crs is None:
        raise CRSError(f"{src.describe()} has no CRS: pass assume_crs=")
    if same_crs(src.crs, grid.crs) and as_crs(src.crs) is None:
        raise CRSError(f"{src.describe()}: unknown CRS")
    classes = _classes(source, src, class_names, method_list, (dt, nodata, semantics), out, cog_path, lazy)
    if not same_crs(src.crs, grid.crs):
        src = ReprojectedSource(src, grid.crs)
        _ = src.bounds  # fail now, not in a worker, when the CRSs cannot be bridged
    job = Job(src, grid, tuple(method_list), extent, dt, nodata, invalid, semantics)
    if extent is Extent.TOUCHED and not lazy:  # the tiles the features reach: the work follows them, not the grid
        # decided on the default blocks, so that a resumed run with other blocks narrows (fingerprints) the same
        if too_many_tiles(grid.tile_size, grid.n_tiles) or worth_narrowing(job):
            job = narrow_to_reached(job)
        check_tiling(grid.width, grid.height, grid.tile_size, job.grid.n_tiles, touched=True)
    # the overviews of named classes must hold class values (an average of 24 and 50 would read as 37's name)
    categorical = classes or all(m.categorical for m in method_list)
    sink_options["overview_resampling"] = "nearest" if categorical else "average"
    return RasterizePlan(job, out, sink_options, tile_ids, srid, cog_path, workers, executor, block_pixels, classes)


def _classes(
    source: Any, src: Any, column: str | None, methods: Sequence[Method], job_type: tuple, out: Any, cog_path: Any,
    lazy: bool,
) -> tuple:
    """Per band, ``{pixel value: class name}`` from ``column`` for the bands whose pixels are values of the value
    column (None for the others). The keys are the class values as the band stores them (rounded for integer
    bands, float32 for float32 bands; PostGIS's value path under ``semantics="postgis"``), so that a name is on
    the pixels it names; two classes landing on one pixel value, or on the nodata value, are errors."""
    if column is None:
        return ()
    where = f"class names ({column!r}, --class-names / class_names=)"
    named = [m.categorical and m.needs_value for m in methods]
    if not any(named):
        raise InputError(
            f"{where} name the values of methods whose pixels are values of the value column (such as "
            "LAST_VALUE_AT_PIXEL_CENTROID, MAJORITY_OF_VALUES_AT_PIXEL_CENTROID, VALUE_OF_BIGGEST); none of "
            f"{', '.join(m.name for m in methods)} is one"
        )
    _check_class_output(where, out, cog_path, lazy)
    if hasattr(source, "columns") and hasattr(source, "geometry"):  # a GeoDataFrame: its own attribute table
        if column not in source.columns:
            raise MissingColumnError(f"the GeoDataFrame has no column {column!r} to name classes")
        if not getattr(src, "value", None):
            raise InputError(f"{where}: they name the values of the value column: give one (value=)")
        table = class_table(source[src.value].to_numpy(dtype="float64", na_value=np.nan),
                            source[column].to_numpy(dtype=object), column, "the GeoDataFrame")  # fmt: skip
    elif callable(getattr(src, "class_names", None)):
        table = src.class_names(column)
    else:
        raise InputError(f"{where}: {src.describe()} has no attribute table to read class names from")
    if not any(name is not None for name in table.values()):
        raise InputError(f"{where}: no feature has both a value and a name in {column!r}")
    dtype, nodata, semantics = job_type
    values = np.array(sorted(table), dtype=np.float64)
    tables = []
    for m, n in zip(methods, named, strict=True):
        if not n:
            tables.append(None)
            continue
        band: dict[float, str | None] = {}  # pixel value -> name (None: values without a name land there)
        first: dict[float, float] = {}
        for v in values:
            try:  # the value as the band stores it, one at a time
                one = np.array([v])
                px = float((postgis_band(one, dtype, nodata) if semantics is Semantics.POSTGIS
                            else to_band(one, m, dtype, nodata))[0])  # fmt: skip
            except RastercoverError:
                continue  # a value the band cannot hold names no pixel: the run refuses it if a pixel gets it
            name = table[v]
            shown = f"{v:g} ({'no name' if name is None else repr(name)})"
            if name is not None and not np.isnan(nodata) and px == np.float64(np.asarray(nodata).astype(dtype)):
                raise InputError(f"{where}: class {shown} is stored as the nodata value {nodata:g} in a {dtype} "
                                 "band; choose another nodata (--nodata / nodata=)")  # fmt: skip
            if px in band and band[px] != name:  # two names, or a name on pixels of a value without one
                other = "no name" if band[px] is None else repr(band[px])
                raise InputError(f"{where}: values {first[px]:g} ({other}) and {shown} are both stored as {px:g} in "
                                 f"a {dtype} band, so a pixel of one would carry the other's name; choose a type "
                                 "that tells them apart (--dtype / dtype=), or name both the same")
            band.setdefault(px, name)
            first.setdefault(px, v)
        tables.append({px: name for px, name in band.items() if name is not None})
    return tuple(tables)


def _check_class_output(where: str, out: Any, cog_path: Any, lazy: bool) -> None:
    """Class names are written with one GeoTIFF (its ``.aux.xml``, which the COG assembled after the run
    carries too), a tile folder (its ``index.vrt``) or a Zarr store (its array's attributes), or kept on an
    in-memory DataArray; a PostGIS raster table has no place for them."""
    if lazy:
        raise InputError(f"{where}: a lazy result keeps none; rasterize to a DataArray, a .tif or a tile folder")
    if out is not None and registry.location_kind(out) not in ("files", "zarr"):
        raise InputError(
            f"{where} are written with one GeoTIFF (in its .aux.xml), a tile folder (in its index.vrt) or a Zarr "
            "store, or kept on a DataArray (attrs['classes']): a PostGIS raster table has no place for them; "
            "write the output to a .tif or a folder"
        )


def job_identity(job: Job) -> dict:
    """What a resumable output records of a job beyond its grid, bands, type and nodata, so that ``resume`` never
    continues another job: the source's identity (a file's absolute path, layer, filter, value column, feature
    count, and the size and time of its files; a table's location, filter, row count and newest row version),
    the semantics, the extent and the invalid-geometry policy (the methods are the bands, recorded with the grid).

    Examples
    --------
    >>> import shapely
    >>> from affine import Affine
    >>> plan = plan_rasterize([(shapely.box(0, 0, 1, 1), 1.0)], Grid(2, 2, Affine(1, 0, 0, 0, -1, 2), "EPSG:3857"),
    ...                       assume_crs="EPSG:3857", extent="touched")
    >>> ident = job_identity(plan.job)
    >>> ident["source"]["features"], ident["extent"], ident["semantics"]
    (1, 'touched', 'exact')
    """
    return {
        "source": source_identity(job.source),
        "semantics": job.semantics.value,
        "extent": job.extent.value,
        "invalid": job.invalid.value,
    }


def run_plan(
    plan: RasterizePlan,
    *,
    progress: Callable[[int], None] | None = None,
    notify: Callable[[str], None] | None = None,
    scheduler: Any = None,
):
    """Run a :class:`RasterizePlan`: the DataArray (no output) or what was written (a :class:`RasterizeResult`).

    ``progress`` is called with the number of tiles finished, block by block; ``notify`` with one-line messages
    (the Dask dashboard link); ``scheduler``: with ``executor="dask"``, an address or a ``distributed.Client``.
    """
    executor = check_executor(plan.executor, scheduler)
    sink = registry.open_sink(
        plan.output, **plan.sink_options, rids=plan.tile_ids, srid=plan.srid, job=partial(job_identity, plan.job)
    )
    result, written = run(
        plan.job,
        sink,
        workers=plan.workers,
        executor=executor,
        scheduler=scheduler,
        block_pixels=plan.block_pixels,
        progress=progress,
        notify=notify,
        classes=plan.classes or None,
    )
    if plan.output is None:
        return result
    if plan.cog_path is not None:  # the whole output, assembled into one COG with overviews
        from .exporting import export

        export(
            result,
            plan.cog_path,
            format="cog",
            overview_resampling=plan.sink_options["overview_resampling"],
            overwrite=plan.sink_options["overwrite"],
        )
    job = plan.job
    return RasterizeResult(
        result, sink.label, job.grid, plan.bands, job.dtype.name, job.nodata, written, cog=plan.cog_path
    )


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
    max_pixels: int | None = None,
    class_names: str | None = None,
):
    """Rasterize a vector coverage onto ``grid``, one band per method, tile by tile.

    Parameters
    ----------
    source
        A vector file path (any OGR format), a GeoDataFrame, ``(geometry, value)`` pairs, or a source object.
    grid
        A :class:`Grid`, a reference raster file, a folder/VRT of aligned tiles, a ``.zarr`` store, or a PostGIS
        raster table (``postgresql://host/db?table=schema.name``: its tiles, tile size, rids and SRID). A
        reference with missing tiles (a folder or table with gaps) gives exactly its tiles: their places, names
        and rids, never invented ones.
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
    block_pixels
        Pixels per block of whole tiles, the unit of work (one Dask task); results are identical for any value.
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
    max_pixels
        The most pixels (bands included) the output may hold; over it the call fails with
        :class:`~rastercover.errors.TooLargeError` before anything is read. Default: for a DataArray (no
        output), what half the memory available now holds in the band type; for one GeoTIFF,
        :data:`~rastercover.engine.limits.MAX_FILE_PIXELS` (``2**36``); for a tile folder, ``.zarr`` store or
        PostGIS table, no limit. Whatever the output, a tiling of more than 10 million tiles, or of more than
        10,000 tiles under 256 px each, is refused (see :mod:`rastercover.engine.limits`).
    class_names
        A column of the source's attribute table that names the values of the value column (``VEGDESC`` for
        ``VEG_ID``): the bands whose pixels are values of that column (``LAST_VALUE_AT_PIXEL_CENTROID``,
        ``VALUE_OF_BIGGEST``...) get the names as category names and a raster attribute table (one GeoTIFF:
        ``NAME.tif.aux.xml``, which GDAL and QGIS read with it, and the ``cog=`` assembled after the run; a
        tile folder: its ``index.vrt``; a DataArray, or a Zarr store's array: the attribute ``classes``, JSON
        text ``{band: {pixel value: name}}``; a PostGIS raster table has no place for them). The values are
        the pixels' (rounded for integer bands); two values stored as one pixel value (2 and 2.4 in an int16
        band) are an error unless they have the same name, a value without a name included, since its pixels
        would show the other's name. Every band also carries its method's description in its metadata
        (``DESCRIPTION``) whatever this option says. (Under ``semantics="postgis"`` the values are those PostGIS
        stores: truncated, and moved off nodata.)

    Returns
    -------
    xarray.DataArray or RasterizeResult

    Raises
    ------
    TooLargeError
        An output over ``max_pixels`` (or its default), or an absurd tiling: the message gives the figures and
        the option that changes them.
    """
    check_executor(executor, scheduler)
    plan = plan_rasterize(
        source,
        grid,
        layer=layer,
        value=value,
        where=where,
        methods=methods,
        extent=extent,
        output=output,
        workers=workers,
        dtype=dtype,
        nodata=nodata,
        tile_size=tile_size,
        assume_crs=assume_crs,
        cog=cog,
        overwrite=overwrite,
        invalid=invalid,
        semantics=semantics,
        block_pixels=block_pixels,
        if_exists=if_exists,
        resume=resume,
        executor=executor,
        max_pixels=max_pixels,
        class_names=class_names,
    )
    return run_plan(plan, progress=progress, notify=notify, scheduler=scheduler)
