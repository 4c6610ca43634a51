"""Method registry and the built-in methods (see ``spec/methods.md``)."""

from . import centroid as _centroid  # noqa: F401  (registers the built-in methods)
from .registry import EMPTY_NODATA, Hits, Kind, Method, available_methods, get_method, register

__all__ = ["EMPTY_NODATA", "Hits", "Kind", "Method", "available_methods", "get_method", "register"]
