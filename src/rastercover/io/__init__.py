"""Sources and sinks: files (vector layers, rasters, tile folders, Zarr) and PostGIS (vector and raster tables).

Each backend is a module of its own."""

from typing import TYPE_CHECKING

from .._exports import lazy_exports

if TYPE_CHECKING:
    from .coverage_file import FileCoverage
    from .reproject import ReprojectedSource
    from .sink_geotiff import GeoTiffSink
    from .sink_memory import MemorySink
    from .sink_tiles import TileFolderSink
    from .vector_file import FileVectorSource
    from .vector_memory import MemoryVectorSource

_EXPORTS = {
    "FileCoverage": ".coverage_file",
    "ReprojectedSource": ".reproject",
    "GeoTiffSink": ".sink_geotiff",
    "MemorySink": ".sink_memory",
    "TileFolderSink": ".sink_tiles",
    "FileVectorSource": ".vector_file",
    "MemoryVectorSource": ".vector_memory",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "FileCoverage",
    "FileVectorSource",
    "GeoTiffSink",
    "MemorySink",
    "MemoryVectorSource",
    "ReprojectedSource",
    "TileFolderSink",
]
