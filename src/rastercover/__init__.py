"""rastercover: rasterize vector coverages onto a reference grid, tile for tile, and deliver rasters as files.

Examples
--------
>>> import rastercover
>>> "MEAN_OF_VALUES_AT_PIXEL_CENTROID" in rastercover.available_methods()
True
"""

from .api import RasterizeResult, open_grid, open_vector, rasterize
from .engine import Extent, InvalidPolicy
from .errors import (
    AlignmentError,
    CRSError,
    GeometryError,
    InputError,
    MissingColumnError,
    OutputError,
    RastercoverError,
    SourceError,
    UnknownMethodError,
    UnknownOptionError,
)
from .features import Features
from .grid import Grid, Tile, Window
from .io import FileVectorSource, MemoryVectorSource
from .methods import EMPTY_NODATA, Hits, Kind, Method, available_methods, get_method, register

__version__ = "0.1.0"

__all__ = [
    "EMPTY_NODATA",
    "AlignmentError",
    "CRSError",
    "Extent",
    "Features",
    "FileVectorSource",
    "GeometryError",
    "Grid",
    "Hits",
    "InputError",
    "InvalidPolicy",
    "Kind",
    "MemoryVectorSource",
    "Method",
    "MissingColumnError",
    "OutputError",
    "RastercoverError",
    "RasterizeResult",
    "SourceError",
    "Tile",
    "UnknownMethodError",
    "UnknownOptionError",
    "Window",
    "__version__",
    "available_methods",
    "get_method",
    "open_grid",
    "open_vector",
    "rasterize",
    "register",
]
