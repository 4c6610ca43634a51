"""The backend registry: the one place that looks at a location and picks the backend that opens it.

A *location* is what a user writes: a path (a GeoPackage, a GeoTIFF, a tile folder, a ``.zarr`` store), a
``postgresql://...?table=...`` URL, or an object (a GeoDataFrame, ``(geometry, value)`` pairs, a coverage or a
source object, ``None`` for an in-memory result). Each backend module registers a :class:`Backend`: how it
recognises a location and how it opens one in each *role* it plays (a vector source, a raster coverage, a
sink, a clip feature). The four resolvers, :func:`open_vector`, :func:`open_coverage`, :func:`open_grid` and
:func:`open_sink`, ask the registry; no other module inspects a location string. A new backend is a new
module that calls :func:`register_backend` (or a ``rastercover.backends`` entry point naming one).

Backends are tried in order of ``priority`` (lowest first), then registration order; the built-in ones are
PostGIS (``postgresql://``), Zarr (``.zarr``), files (any other path) and memory (objects).

Examples
--------
>>> backend_for("postgresql://localhost/gis?table=public.landcover", "coverage").name
'postgis'
>>> backend_for("out.zarr", "sink").name, backend_for("forest.tif", "sink").name
('zarr', 'files')
>>> backend_for(None, "sink").name
'memory'
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import InputError

__all__ = [
    "ROLES",
    "Backend",
    "backend_for",
    "backends",
    "check_cog_path",
    "check_sink",
    "location_kind",
    "open_clip_feature",
    "open_coverage",
    "open_grid",
    "open_sink",
    "open_vector",
    "register_backend",
    "writes_one_file",
]

#: What a backend can open a location as.
ROLES = ("vector", "coverage", "sink", "clip_feature")

_ROLE_WORDS = {
    "vector": "vector features",
    "coverage": "a raster coverage",
    "sink": "an output",
    "clip_feature": "a clip feature",
}


@dataclass(frozen=True)
class Backend:
    """How one backend recognises a location and opens it in each role it plays.

    Attributes
    ----------
    name
        A short name (``"postgis"``, ``"zarr"``, ``"files"``, ``"memory"``), also :func:`location_kind`'s answer.
    recognises
        ``location -> bool``: True when this backend owns the location (cheap: no I/O beyond a stat).
    vector, coverage, sink, clip_feature
        Factories per role, ``None`` when the backend does not play it: ``vector(location, **options)``,
        ``coverage(location, tile_size=None)``, ``sink(location, **options)`` (see :func:`open_sink`),
        ``clip_feature(location, feature_id, layer, id_column, footprint) -> (geometry, crs)``.
    priority
        Backends with a lower priority are asked first.
    raster_source
        ``raster_source(location, bands=None)``: the location as a regridding source, when it is not read as its
        coverage's one lattice (a PostGIS table: row by row); None: :func:`open_raster_source` wraps the coverage.
    one_file
        ``location -> bool``: True when the backend writes the output ``location`` as one file (a GeoTIFF), whose
        size the plans bound; None: never (tiles, chunks or rows).
    """

    name: str
    recognises: Callable[[Any], bool]
    vector: Callable[..., Any] | None = None
    coverage: Callable[..., Any] | None = None
    sink: Callable[..., Any] | None = None
    clip_feature: Callable[..., Any] | None = None
    priority: int = 100
    raster_source: Callable[..., Any] | None = None
    one_file: Callable[[Any], bool] | None = None

    def plays(self, role: str) -> bool:
        """True when the backend opens locations as ``role``."""
        return getattr(self, role) is not None


_BACKENDS: list[Backend] = []
_BUILTIN = (
    "rastercover.io.backend_postgis",
    "rastercover.io.backend_zarr",
    "rastercover.io.backend_files",
    "rastercover.io.backend_memory",
)
_LOADED = False


def register_backend(backend: Backend, *, replace: bool = False) -> Backend:
    """Add a backend (a name already registered is replaced only with ``replace=True``) and return it."""
    for i, b in enumerate(_BACKENDS):
        if b.name == backend.name:
            if not replace and b is not backend:
                raise InputError(f"a backend named {backend.name} is registered already; pass replace=True")
            _BACKENDS[i] = backend
            break
    else:
        _BACKENDS.append(backend)
    _BACKENDS.sort(key=lambda b: b.priority)  # stable: registration order within a priority
    return backend


def _load() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    import importlib
    from importlib.metadata import entry_points

    for module in _BUILTIN:
        importlib.import_module(module)
    for ep in entry_points(group="rastercover.backends"):
        obj = ep.load()
        if isinstance(obj, Backend):
            register_backend(obj, replace=True)


def backends() -> list[Backend]:
    """The registered backends, in the order they are asked."""
    _load()
    return list(_BACKENDS)


def backend_for(location: Any, role: str) -> Backend:
    """The backend that opens ``location`` as ``role`` (one of :data:`ROLES`).

    Raises
    ------
    InputError
        No backend recognises the location in that role (the message says what is accepted).
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    _load()
    for b in _BACKENDS:
        if b.plays(role) and b.recognises(location):
            return b
    accepted = {
        "vector": "a path to a vector file, a postgresql:// URL, a GeoDataFrame or (geometry, value) pairs",
        "coverage": "a raster file, .vrt, tile folder or .zarr path, a postgresql:// URL or a RasterCoverage",
        "sink": "a .tif path, a folder, a .zarr path, a postgresql:// URL, or None for an in-memory result",
        "clip_feature": "a vector or raster file path, a tile folder or a postgresql:// URL",
    }[role]
    raise InputError(f"cannot open {_ROLE_WORDS[role]} from a {type(location).__name__}: give {accepted}")


def location_kind(location: Any) -> str | None:
    """The name of the backend that recognises ``location`` in any role (``"postgis"``, ``"files"`` ...)."""
    _load()
    for b in _BACKENDS:
        if b.recognises(location):
            return b.name
    return None


def open_vector(location: Any, **options: Any) -> Any:
    """A vector source (:class:`~rastercover.protocols.VectorSource`) from a location.

    ``options``: ``layer``, ``value``, ``where``, ``assume_crs`` (each backend refuses what it cannot honour).
    """
    return backend_for(location, "vector").vector(location, **options)


def open_coverage(location: Any, *, tile_size: Any = None) -> Any:
    """A raster coverage (:class:`~rastercover.protocols.RasterCoverage`) from a location.

    ``tile_size`` overrides the tiling of a single raster (a tile folder's or table's tiles are its own).
    """
    return backend_for(location, "coverage").coverage(location, tile_size=tile_size)


def open_raster_source(location: Any, *, bands: Any = None) -> Any:
    """A regridding source (:mod:`rastercover.io.raster_source`) from a location: what its backend reads as one
    (a PostGIS table row by row), else its coverage as one lattice."""
    backend = backend_for(location, "coverage")
    if backend.raster_source is not None:
        return backend.raster_source(location, bands=bands)
    from .raster_source import CoverageRasterSource

    return CoverageRasterSource(backend.coverage(location), bands)


def open_grid(location: Any, tile_size: Any = None) -> Any:
    """The grid of a location: a :class:`~rastercover.grid.Grid` as it is, else the grid of its coverage (its
    lattice and the tiles it has); ``tile_size`` re-tiles it."""
    from ..grid import Grid

    if isinstance(location, Grid):
        return location if tile_size is None else location.with_tile_size(tile_size)
    grid = open_coverage(location).grid
    return grid if tile_size is None else grid.with_tile_size(tile_size)


def open_sink(location: Any, **options: Any) -> Any:
    """A raster sink (:class:`~rastercover.protocols.RasterSink`) for an output location.

    ``options``: ``overwrite``, ``resume``, ``cog`` (True for a COG), ``overview_resampling``, ``if_exists``,
    ``rids``, ``srid``, ``job`` (what a resumable output records of the job, to refuse resuming another); a
    backend that cannot honour one that is set refuses it with an :class:`InputError`.
    The sink's ``label`` says what it writes ("GeoTIFF", "tile folder" ...).
    """
    return backend_for(location, "sink").sink(location, **options)


def writes_one_file(location: Any) -> bool:
    """True when the output ``location`` is written as one file (a GeoTIFF or COG), False for pieces (a tile
    folder, a ``.zarr`` store, a PostGIS table) and for None (in memory).

    Examples
    --------
    >>> writes_one_file("out.tif"), writes_one_file("out_tiles"), writes_one_file(None)
    (True, False, False)
    """
    backend = backend_for(location, "sink")
    return backend.one_file is not None and bool(backend.one_file(location))


def check_sink(location: Any, **options: Any) -> None:
    """Check an output location and its options without creating anything (what a plan does); the same errors
    :func:`open_sink` would raise for them (a file target that exists without ``overwrite`` included)."""
    backend_for(location, "sink").sink(location, dry_run=True, **options)


def check_cog_path(path: Any, *, overwrite: bool) -> str:
    """Check the COG a run assembles after writing a tile folder, ``.zarr`` or table: a ``.tif`` that can be
    written; return its path."""
    from .atomic import check_target
    from .backend_files import is_geotiff_path

    if not is_geotiff_path(path):
        raise InputError(f"cog={path!r}: name the COG with a .tif extension")
    check_target(os.fspath(path), overwrite=overwrite)
    return os.fspath(path)


def open_clip_feature(
    location: Any, feature_id: Any, layer: str | None, id_column: str | None, footprint: str = "extent"
) -> tuple[Any, Any]:
    """One feature's geometry and CRS, by id, from a vector location; or a raster's footprint (``"extent"`` or
    ``"data"``) from a raster location."""
    return backend_for(location, "clip_feature").clip_feature(location, feature_id, layer, id_column, footprint)


def is_path(location: Any) -> bool:
    """True for a path (a string or ``os.PathLike``), the files backend's locations."""
    return isinstance(location, str | os.PathLike)


def refuse(backend: str, **options: Any) -> None:
    """Refuse sink options a backend cannot honour: each that is set (truthy) is an :class:`InputError`."""
    hints = {
        "resume": "resume= applies to PostGIS tables, tile folders and .zarr stores; a GeoTIFF or an in-memory "
        "result is written in one go (write a tile folder or .zarr to resume, with cog='OUT.tif' for one file)",
        "if_exists": "if_exists= applies to PostGIS outputs (postgresql://...); use overwrite= for files",
        "cog": "cog=True needs a .tif output; beside a tile folder, .zarr or PostGIS table, name the COG: "
        "cog='OUT.tif'",
        "cog_path": "cog='OUT.tif' assembles a COG from a tile folder, .zarr or PostGIS output; with a .tif output "
        "pass cog=True, in memory write the DataArray yourself",
    }
    for name, value in options.items():
        if value:
            raise InputError(hints.get(name, f"{name}= does not apply to {backend}"))
