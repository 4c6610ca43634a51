"""A lazy rasterization: an ``xarray.DataArray`` backed by a dask array, computed block by block on demand.

Examples
--------
>>> import shapely
>>> from affine import Affine
>>> from rastercover import Grid
>>> grid = Grid(4, 2, Affine(10, 0, 0, 0, -10, 20), "EPSG:32198", tile_size=2)
>>> da = rasterize_lazy([(shapely.box(0, 0, 15, 20), 7.0)], grid, methods="SUM_OF_AREAS",
...                     assume_crs="EPSG:32198", block_pixels=4)
>>> da.chunks
((1,), (2,), (2, 2))
>>> da.compute(scheduler="sync").values.tolist()
[[[100.0, 50.0, 0.0, 0.0], [100.0, 50.0, 0.0, 0.0]]]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from .api import DEFAULT_METHODS, plan_rasterize
from .engine import DEFAULT_BLOCK_PIXELS, Extent, InvalidPolicy, Semantics
from .engine.distributed import lazy_array, require_dask
from .grid import Grid
from .io.sink_memory import to_dataarray
from .methods import Method
from .regridding import DEFAULT_REGRID_METHODS, plan_regrid

__all__ = ["rasterize_lazy", "regrid_lazy"]


def _lazy(plan: Any):
    """A plan's result as a DataArray backed by a dask array of its blocks."""
    job = plan.job
    array = lazy_array(job, plan.block_pixels)
    return to_dataarray(
        array, job.grid, [m.name for m in job.methods], job.nodata, [m.description or "" for m in job.methods]
    )


def rasterize_lazy(
    source: Any,
    grid: Grid | str | os.PathLike,
    *,
    layer: str | int | None = None,
    value: str | None = None,
    where: str | None = None,
    methods: str | Method | Sequence[str | Method] = DEFAULT_METHODS,
    extent: str | Extent = "full",
    dtype: Any = "float32",
    nodata: float = -9999,
    tile_size: Any = None,
    assume_crs: Any = None,
    invalid: str | InvalidPolicy = "fix",
    semantics: str | Semantics = "exact",
    block_pixels: int = DEFAULT_BLOCK_PIXELS,
    max_pixels: int | None = None,
):
    """:func:`rastercover.rasterize` with ``output=None``, lazily: nothing is computed until asked.

    The options are those of :func:`rastercover.rasterize` (checked, and the source and grid opened, now).
    The result has the dims, coordinates and attributes of the eager DataArray; its data is a dask array with
    one chunk per block of whole tiles (``block_pixels`` pixels at most, at least one tile), each computed by
    the engine's ``compute_block`` when needed: ``.compute()`` equals the eager result bit for bit, and a
    selection (``da[:, :500, :500].compute()``) computes only the blocks it touches. Compute it with any
    dask scheduler: threads (default), processes, or a ``distributed.Client``. Workers read their blocks'
    features from the source by bounding box. Needs ``pip install 'rastercover[dask]'``.

    Nothing is held in memory until computed, so the array may be larger than memory (compute a selection of
    it, or store it with ``.to_zarr``): no memory limit applies unless ``max_pixels`` (pixels, bands included)
    is given. An absurd tiling is refused as everywhere (:mod:`rastercover.engine.limits`).

    Returns
    -------
    xarray.DataArray
        (band, y, x), backed by a dask array.
    """
    require_dask("rasterize_lazy")
    plan = plan_rasterize(
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
        block_pixels=block_pixels,
        max_pixels=max_pixels,
        lazy=True,
    )
    return _lazy(plan)


def regrid_lazy(
    source: Any,
    like: Any = None,
    *,
    bounds: Sequence[float] | None = None,
    resolution: float | Sequence[float] | None = None,
    crs: Any = None,
    methods: str | Method | Sequence[str | Method] = DEFAULT_REGRID_METHODS,
    bands: Sequence[int] | None = None,
    extent: str | Extent = "full",
    dtype: Any = "float32",
    nodata: float = -9999,
    tile_size: Any = None,
    block_pixels: int = DEFAULT_BLOCK_PIXELS,
    max_pixels: int | None = None,
):
    """:func:`rastercover.regrid` with ``output=None``, lazily: one dask chunk per block, each computed by the
    engine when needed, equal to the eager result bit for bit (see :func:`rasterize_lazy`).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from affine import Affine
    >>> counts = xr.DataArray(np.ones((1, 4, 4)), dims=("band", "y", "x"),
    ...                       attrs={"transform": Affine(1, 0, 0, 0, -1, 4), "crs": "EPSG:3857"})
    >>> da = regrid_lazy(counts, bounds=(0, 0, 4, 4), resolution=2, crs="EPSG:3857", tile_size=1,
    ...                  methods="SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES", block_pixels=1)
    >>> da.chunks, da.compute(scheduler="sync").values.tolist()
    (((1,), (1, 1), (1, 1)), [[[4.0, 4.0], [4.0, 4.0]]])
    """
    require_dask("regrid_lazy")
    plan = plan_regrid(
        source,
        like,
        bounds=bounds,
        resolution=resolution,
        crs=crs,
        methods=methods,
        bands=bands,
        extent=extent,
        dtype=dtype,
        nodata=nodata,
        tile_size=tile_size,
        block_pixels=block_pixels,
        max_pixels=max_pixels,
        lazy=True,
    )
    return _lazy(plan)
