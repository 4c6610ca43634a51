"""The PostGIS backend: ``postgresql://`` / ``postgres://`` locations with ``?table=schema.name``.

Vector tables are sources, raster tables are coverages and sinks, a table's row is a clip feature. psycopg is
an optional extra: its modules are imported when a location is opened, and a missing one is one clear error.
"""

from __future__ import annotations

from typing import Any

from ..errors import InputError, SourceError
from .pg import is_pg_location
from .registry import Backend, refuse, register_backend

__all__ = ["POSTGIS"]


def _need_psycopg(what: str):
    def wrap(fn):
        def opened(*args: Any, **kwargs: Any) -> Any:
            try:
                import psycopg  # noqa: F401
            except ImportError:
                raise SourceError(f"PostGIS {what} need psycopg: pip install 'rastercover[postgis]'") from None
            return fn(*args, **kwargs)

        return opened

    return wrap


@_need_psycopg("vector tables")
def _vector(location: Any, *, layer: Any = None, value: Any = None, where: Any = None, assume_crs: Any = None) -> Any:
    from .vector_postgis import PostgisVectorSource

    if layer is not None:
        raise InputError("layer= names a layer of a file; a PostGIS location names its table: ?table=schema.name")
    return PostgisVectorSource(location, value=value, where=where, assume_crs=assume_crs)


@_need_psycopg("raster tables")
def _coverage(location: Any, *, tile_size: Any = None) -> Any:
    from .raster_postgis import PostgisRasterCoverage

    if tile_size is not None:
        raise InputError(f"{location}: a raster table's tiles are its rows; tile_size cannot change them")
    return PostgisRasterCoverage(location)


@_need_psycopg("raster tables")
def _raster_source(location: Any, *, bands: Any = None) -> Any:
    from .raster_source import PostgisRowsRasterSource

    return PostgisRowsRasterSource(location, bands)


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
    refuse("a PostGIS raster table", cog=cog)
    if dry_run:
        from .pg import PgLocation
        from .sink_postgis import IfExists

        PgLocation.parse(location)
        IfExists.parse(if_exists or "fail")
        return None
    return _postgis_sink()(
        location,
        if_exists=if_exists or ("replace" if overwrite else "fail"),
        resume=resume,
        rids=rids,
        srid=srid,
        job=job,
    )


@_need_psycopg("raster outputs")
def _postgis_sink() -> Any:
    from .sink_postgis import PostgisRasterSink

    return PostgisRasterSink


@_need_psycopg("tables")
def _clip_feature(
    location: Any, feature_id: Any, layer: str | None, id_column: str | None, footprint: str = "extent"
) -> Any:
    from .clip_feature import read_postgis_feature

    return read_postgis_feature(str(location), feature_id, layer, id_column, footprint)


POSTGIS = register_backend(
    Backend(
        "postgis",
        is_pg_location,
        vector=_vector,
        coverage=_coverage,
        sink=_sink,
        clip_feature=_clip_feature,
        priority=10,
        raster_source=_raster_source,
    )
)
