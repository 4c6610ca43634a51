"""rastercover: rasterize vector coverages onto a reference grid, tile for tile, and deliver rasters as files.

Examples
--------
>>> import rastercover
>>> "MEAN_OF_VALUES_AT_PIXEL_CENTROID" in rastercover.available_methods()
True
"""

from .api import RasterizePlan, RasterizeResult, open_grid, open_vector, plan_rasterize, rasterize, run_plan
from .engine import Extent, InvalidPolicy
from .errors import (
    AccuracyWarning,
    AlignmentError,
    CRSError,
    GeometryError,
    InputError,
    MissingColumnError,
    NoSpaceError,
    OutputError,
    RastercoverError,
    SourceError,
    TooLargeError,
    UnknownMethodError,
    UnknownOptionError,
    ValueRangeError,
)
from .export import (
    DEFAULT_FLOAT_NODATA,
    ExportedFile,
    ExportPlan,
    ExportResult,
    export,
    export_file,
    open_coverage,
    plan_export,
    run_export,
)
from .features import Features
from .formats import FORMATS, Format, available_formats, format_for_path, get_format
from .grid import Grid, Tile, Window
from .io import FileCoverage, FileVectorSource, MemoryVectorSource
from .lazy import rasterize_lazy, regrid_lazy
from .methods import EMPTY_NODATA, Hits, Kind, Method, available_methods, get_method, register
from .regridding import plan_regrid, regrid

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_FLOAT_NODATA",
    "EMPTY_NODATA",
    "FORMATS",
    "AccuracyWarning",
    "AlignmentError",
    "CRSError",
    "ExportPlan",
    "ExportResult",
    "ExportedFile",
    "Extent",
    "Features",
    "FileCoverage",
    "FileVectorSource",
    "Format",
    "GeometryError",
    "Grid",
    "Hits",
    "InputError",
    "InvalidPolicy",
    "Kind",
    "MemoryVectorSource",
    "Method",
    "MissingColumnError",
    "NoSpaceError",
    "OutputError",
    "RastercoverError",
    "RasterizePlan",
    "RasterizeResult",
    "SourceError",
    "Tile",
    "TooLargeError",
    "UnknownMethodError",
    "UnknownOptionError",
    "ValueRangeError",
    "Window",
    "__version__",
    "available_formats",
    "available_methods",
    "export",
    "export_file",
    "format_for_path",
    "get_format",
    "get_method",
    "open_coverage",
    "open_grid",
    "open_vector",
    "plan_export",
    "plan_rasterize",
    "plan_regrid",
    "rasterize",
    "rasterize_lazy",
    "register",
    "regrid",
    "regrid_lazy",
    "run_export",
    "run_plan",
]
