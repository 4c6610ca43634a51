"""Per-tile hot loops on numpy arrays in pixel space. They know nothing of files, CRSs or databases."""

from .centre import centre_hits
from .edges import polygon_edges, polygonal_parts

__all__ = ["centre_hits", "polygon_edges", "polygonal_parts"]
