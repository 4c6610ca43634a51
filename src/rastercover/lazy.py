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

__all__ = ["rasterize_lazy"]


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
    job = plan.job
    array = lazy_array(job, plan.block_pixels)
    return to_dataarray(array, job.grid, [m.name for m in job.methods], job.nodata)
