"""Method registry and the built-in methods (see ``spec/methods.md``)."""

from . import centroid as _centroid  # noqa: F401  (registers the built-in methods)
from . import exact as _exact  # noqa: F401
from . import raster as _raster  # noqa: F401
from .registry import (
    AREA_QUALIFY,
    EMPTY_NODATA,
    Hits,
    Kind,
    Method,
    MethodFamily,
    available_methods,
    get_method,
    register,
    resolve_methods,
)

__all__ = [
    "AREA_QUALIFY",
    "EMPTY_NODATA",
    "Hits",
    "Kind",
    "Method",
    "MethodFamily",
    "available_methods",
    "get_method",
    "register",
    "resolve_methods",
]
