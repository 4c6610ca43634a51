"""Sources and sinks: files (vector layers, rasters, tile folders, Zarr) and PostGIS (vector and raster tables).

Each backend is a module of its own."""

from .coverage_file import FileCoverage
from .reproject import ReprojectedSource
from .sink_geotiff import GeoTiffSink
from .sink_memory import MemorySink
from .sink_tiles import TileFolderSink
from .vector_file import FileVectorSource
from .vector_memory import MemoryVectorSource

__all__ = [
    "FileCoverage",
    "FileVectorSource",
    "GeoTiffSink",
    "MemorySink",
    "MemoryVectorSource",
    "ReprojectedSource",
    "TileFolderSink",
]
