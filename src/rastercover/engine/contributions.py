"""Contribution kinds: how each is computed for a block, once, and shared by every method that reads it.

A contribution is one entry per (pixel, feature) pair, with an optional weight (an area, a length). Adding a
kind means adding a kernel and one entry in :data:`COMPUTERS`; the engine loop does not change.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..grid import Window
from ..kernels import centre_hits, polygon_edges
from ..methods import Kind

__all__ = ["COMPUTERS", "compute_centre"]

Contribution = tuple[np.ndarray, np.ndarray, np.ndarray | None]


def compute_centre(geoms: np.ndarray, window: Window) -> Contribution:
    """Centre hits of the polygonal parts of ``geoms`` (grid pixel space) in ``window``: ``(pixel, feature, None)``.

    ``pixel`` is the flat index inside the window.
    """
    edges = polygon_edges(geoms, np.arange(len(geoms), dtype=np.int64))
    pixel, feature = centre_hits(
        *edges, height=window.height, width=window.width, row_off=window.row_off, col_off=window.col_off
    )
    return pixel, feature, None


COMPUTERS: dict[Kind, Callable[[np.ndarray, Window], Contribution]] = {Kind.CENTRE: compute_centre}
