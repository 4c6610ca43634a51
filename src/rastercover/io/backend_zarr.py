"""The Zarr backend: ``.zarr`` stores (or folders holding Zarr metadata) as coverages and sinks."""

from __future__ import annotations

from typing import Any

from .coverage_zarr import is_zarr_path
from .registry import Backend, refuse, register_backend

__all__ = ["ZARR"]


def _coverage(location: Any, *, tile_size: Any = None) -> Any:
    from ..errors import InputError
    from .coverage_zarr import ZarrCoverage

    if tile_size is not None:
        raise InputError(f"{location}: a Zarr store's tiles are its chunks; tile_size cannot change them")
    return ZarrCoverage(location)


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
    refuse("a .zarr store", cog=cog, if_exists=if_exists)
    if dry_run:
        from .atomic import check_target

        check_target(location, overwrite=overwrite)
        return None
    from .sink_zarr import ZarrSink

    return ZarrSink(location, overwrite=overwrite, resume=resume, job=job)


ZARR = register_backend(Backend("zarr", is_zarr_path, coverage=_coverage, sink=_sink, priority=20))
