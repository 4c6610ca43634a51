"""The files backend: any other path. Vector files (any OGR format), rasters (any GDAL format, a VRT, a folder of
tiles) and outputs (a ``.tif``/``.tiff`` is one GeoTIFF or COG; any other path a tile folder)."""

from __future__ import annotations

import os
from typing import Any

from ..errors import InputError
from .registry import Backend, is_path, refuse, register_backend

__all__ = ["FILES", "is_geotiff_path"]


def is_geotiff_path(location: Any) -> bool:
    """True for a path that names one GeoTIFF (``.tif`` or ``.tiff``, any case)."""
    return is_path(location) and os.fspath(location).lower().endswith((".tif", ".tiff"))


def _vector(location: Any, *, layer: Any = None, value: Any = None, where: Any = None, assume_crs: Any = None) -> Any:
    from .vector_file import FileVectorSource

    return FileVectorSource(os.fspath(location), layer=layer, value=value, where=where, assume_crs=assume_crs)


def _coverage(location: Any, *, tile_size: Any = None) -> Any:
    from .coverage_file import FileCoverage

    return FileCoverage(location, tile_size=tile_size)


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
    from .atomic import check_target

    path = os.fspath(location)
    if is_geotiff_path(path):
        refuse("a GeoTIFF", resume=resume, if_exists=if_exists, cog_path=cog_path)
        if dry_run:
            check_target(path, overwrite=overwrite)
            return None
        from .sink_geotiff import GeoTiffSink

        return GeoTiffSink(path, cog=cog, overview_resampling=overview_resampling or "nearest", overwrite=overwrite)
    refuse("a tile folder", cog=cog, if_exists=if_exists)
    if dry_run:
        check_target(path, overwrite=overwrite)
        return None
    from .sink_tiles import TileFolderSink

    return TileFolderSink(path, overwrite=overwrite, resume=resume, job=job)


def _clip_feature(
    location: Any, feature_id: Any, layer: str | None, id_column: str | None, footprint: str = "extent"
) -> Any:
    from .clip_raster import check_footprint, is_raster_path

    path = os.fspath(location)
    check_footprint(footprint)
    if is_raster_path(path):
        from .clip_raster import read_raster_footprint

        refuse(f"a raster clip layer ({path})", clip_layer_name=layer, clip_id_column=id_column)
        return read_raster_footprint(path, feature_id, footprint=footprint)
    if footprint != "extent":
        raise InputError(f"{path} is a vector layer: clip_footprint={footprint!r} applies to a raster clip layer")
    from .clip_feature import read_file_feature

    return read_file_feature(path, feature_id, layer, id_column)


FILES = register_backend(
    Backend(
        "files",
        is_path,
        vector=_vector,
        coverage=_coverage,
        sink=_sink,
        clip_feature=_clip_feature,
        priority=50,
        one_file=lambda location: is_geotiff_path(location),
    )
)
