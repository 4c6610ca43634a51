"""Contribution kinds: how each is computed for a block, once, and shared by every method that reads it.

A contribution is one entry per (pixel, feature) pair, with an optional weight (an area, a length). Adding a
kind means adding a kernel and one entry in :data:`COMPUTERS`; the engine loop does not change.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..kernels import centre_hits, polygon_edges
from ..methods import Kind

__all__ = ["COMPUTERS", "compute_centre"]

Contribution = tuple[np.ndarray, np.ndarray, np.ndarray | None]


def compute_centre(geoms: np.ndarray, height: int, width: int) -> Contribution:
    """Centre hits of the polygonal parts of ``geoms`` (block pixel space): ``(pixel, feature, None)``."""
    edges = polygon_edges(geoms, np.arange(len(geoms), dtype=np.int64))
    pixel, feature = centre_hits(*edges, height=height, width=width)
    return pixel, feature, None


COMPUTERS: dict[Kind, Callable[[np.ndarray, int, int], Contribution]] = {Kind.CENTRE: compute_centre}
