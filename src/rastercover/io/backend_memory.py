"""The memory backend: objects rather than locations. Vector features given as a GeoDataFrame, ``(geometry,
value)`` pairs or a source object; a coverage object; ``None`` as an output: an ``xarray.DataArray``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from ..errors import InputError
from .registry import Backend, refuse, register_backend

__all__ = ["MEMORY", "CoverageObject"]


def _is_geodataframe(obj: Any) -> bool:
    return all(hasattr(obj, a) for a in ("geometry", "crs", "columns"))


def _is_source(obj: Any) -> bool:
    from ..protocols import VectorSource

    return isinstance(obj, VectorSource)


def _is_coverage(obj: Any) -> bool:
    from ..protocols import RasterCoverage
    from .coverage_array import is_dataarray

    return isinstance(obj, RasterCoverage) or is_dataarray(obj)


def _recognises(obj: Any) -> bool:
    return obj is None or _is_geodataframe(obj) or _is_source(obj) or _is_coverage(obj) or isinstance(obj, Iterable)


def _vector(source: Any, *, layer: Any = None, value: Any = None, where: Any = None, assume_crs: Any = None) -> Any:
    from .vector_memory import MemoryVectorSource

    if source is None:
        raise InputError("no features given: pass a path, a GeoDataFrame or (geometry, value) pairs")
    if where is not None:
        raise InputError("where= filters only apply to files and PostGIS tables; filter the data first")
    if layer is not None:
        raise InputError("layer= names a layer of a file; features in memory have none")
    if _is_geodataframe(source):
        return MemoryVectorSource.from_geodataframe(source, value=value, assume_crs=assume_crs)
    if _is_source(source):
        return source
    if value is not None:
        raise InputError("value= names a column; (geometry, value) pairs carry their values themselves")
    return MemoryVectorSource.from_pairs(source, crs=assume_crs)


class CoverageObject:
    """A coverage object of the caller's, with the members rastercover's own coverages add to the protocol:
    ``name`` (from its ``describe()`` unless it has one), ``tile_ids`` (none) and ``srid`` (none). Every other
    attribute is the object's own.

    Examples
    --------
    >>> class Mine:
    ...     def describe(self):
    ...         return "/data/my dem.tif"
    >>> c = CoverageObject(Mine())
    >>> c.name, c.tile_ids, c.srid
    ('my dem', {}, None)
    """

    def __init__(self, coverage: Any) -> None:
        self.__dict__["_coverage"] = coverage

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["_coverage"], name)

    def __getstate__(self) -> dict:
        return {"_coverage": self.__dict__["_coverage"]}

    def __setstate__(self, state: dict) -> None:
        self.__dict__["_coverage"] = state["_coverage"]

    @property
    def name(self) -> str:
        """The object's ``name``, else the stem of what ``describe()`` says."""
        own = getattr(self.__dict__["_coverage"], "name", None)  # the one place a member may be missing
        if own:
            return str(own)
        text = os.path.basename(str(self.__dict__["_coverage"].describe()).rstrip("/\\")) or "coverage"
        return os.path.splitext(text)[0] or text

    @property
    def tile_ids(self) -> dict[tuple[int, int], int]:
        """No stored tile ids."""
        return {}

    @property
    def srid(self) -> None:
        """No PostGIS SRID."""
        return None


def _coverage(obj: Any, *, tile_size: Any = None) -> Any:
    if not _is_coverage(obj):
        raise InputError(
            f"cannot open a raster coverage from a {type(obj).__name__}: give a path (raster file, .vrt, tile "
            "folder, .zarr), a postgresql:// URL or a RasterCoverage"
        )
    if tile_size is not None:
        raise InputError("tile_size applies to a raster file's grid; this coverage's tiles are its own")
    from .coverage_array import ArrayCoverage, is_dataarray

    if is_dataarray(obj):
        return ArrayCoverage(obj)
    if isinstance(obj, CoverageObject) or type(obj).__module__.startswith("rastercover."):
        return obj  # rastercover's own coverages have every member
    return CoverageObject(obj)


def _sink(
    location: Any,
    *,
    overwrite: bool = False,
    resume: bool = False,
    cog: bool = False,
    overview_resampling: str | None = None,
    if_exists: str | None = None,
    rids: dict | None = None,
    srid: int | None = None,
    cog_path: str | None = None,
    job: Any = None,
    dry_run: bool = False,
) -> Any:
    from .sink_memory import MemorySink

    if location is not None:
        raise InputError(f"cannot write to a {type(location).__name__}: give a path, a postgresql:// URL or None")
    refuse("an in-memory result", resume=resume, if_exists=if_exists, cog_path=cog_path)
    if cog:
        raise InputError("cog=True needs a .tif output; in memory, write the DataArray yourself")
    return None if dry_run else MemorySink()


MEMORY = register_backend(Backend("memory", _recognises, vector=_vector, coverage=_coverage, sink=_sink, priority=90))
