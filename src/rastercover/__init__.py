"""rastercover: rasterize vector coverages onto a reference grid, tile for tile, and deliver rasters as files.

Examples
--------
>>> import rastercover
>>> "MEAN_OF_VALUES_AT_PIXEL_CENTROID" in rastercover.available_methods()
True
"""

from typing import TYPE_CHECKING

from ._exports import lazy_exports

if TYPE_CHECKING:
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
    from .exporting import (
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

_EXPORTS = {
    "RasterizePlan": ".api",
    "RasterizeResult": ".api",
    "open_grid": ".api",
    "open_vector": ".api",
    "plan_rasterize": ".api",
    "rasterize": ".api",
    "run_plan": ".api",
    "Extent": ".engine",
    "InvalidPolicy": ".engine",
    "AccuracyWarning": ".errors",
    "AlignmentError": ".errors",
    "CRSError": ".errors",
    "GeometryError": ".errors",
    "InputError": ".errors",
    "MissingColumnError": ".errors",
    "NoSpaceError": ".errors",
    "OutputError": ".errors",
    "RastercoverError": ".errors",
    "SourceError": ".errors",
    "TooLargeError": ".errors",
    "UnknownMethodError": ".errors",
    "UnknownOptionError": ".errors",
    "ValueRangeError": ".errors",
    "DEFAULT_FLOAT_NODATA": ".exporting",
    "ExportedFile": ".exporting",
    "ExportPlan": ".exporting",
    "ExportResult": ".exporting",
    "export": ".exporting",
    "export_file": ".exporting",
    "open_coverage": ".exporting",
    "plan_export": ".exporting",
    "run_export": ".exporting",
    "Features": ".features",
    "FORMATS": ".formats",
    "Format": ".formats",
    "available_formats": ".formats",
    "format_for_path": ".formats",
    "get_format": ".formats",
    "Grid": ".grid",
    "Tile": ".grid",
    "Window": ".grid",
    "FileCoverage": ".io",
    "FileVectorSource": ".io",
    "MemoryVectorSource": ".io",
    "rasterize_lazy": ".lazy",
    "regrid_lazy": ".lazy",
    "EMPTY_NODATA": ".methods",
    "Hits": ".methods",
    "Kind": ".methods",
    "Method": ".methods",
    "available_methods": ".methods",
    "get_method": ".methods",
    "register": ".methods",
    "plan_regrid": ".regridding",
    "regrid": ".regridding",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

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
