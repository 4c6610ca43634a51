"""The HTTP service (``rastercover serve``): catalogue, export endpoints, web page and OGC WCS.

Needs the ``server`` extra (FastAPI, uvicorn): ``pip install 'rastercover[server]'``.
"""

from .catalog import Catalog, CoverageEntry, LayerEntry, NotFoundError

__all__ = ["Catalog", "CoverageEntry", "LayerEntry", "NotFoundError"]
