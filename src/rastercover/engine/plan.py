"""Plan the work: blocks of whole tiles (the unit handed to a worker) and the output options.

Examples
--------
>>> from affine import Affine
>>> from rastercover.grid import Grid
>>> g = Grid(2500, 2500, Affine(30, 0, 0, 0, -30, 0), 32198, 100)
>>> blocks = plan_blocks(g, max_pixels=1_000_000)
>>> len(blocks), blocks[0].window.width, len(blocks[0].tiles)
(9, 1000, 100)
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from ..errors import UnknownOptionError
from ..grid import Grid, Tile, Window

__all__ = ["DEFAULT_BLOCK_PIXELS", "Block", "Extent", "plan_blocks"]

#: Pixels per block by default (half a megapixel: 7 x 7 tiles of 100 px, 2 x 4 tiles of 256 px). Measured at
#: scale 16 of the benchmark workload (serial, exact area and centroid methods, tiles of 100 and 256 px), blocks
#: of 2^19 px ran 7-18 % faster than blocks of 2^20 (a block's dense temporaries stay in cache); 2^18 was faster
#: still for the exact area methods but slower for the centroid ones (more reads of the same features).
DEFAULT_BLOCK_PIXELS = 1 << 19


_OPTION_LABELS = {"InvalidPolicy": "invalid-geometry policy"}


class Option(enum.Enum):
    """An enum of user-facing choices, parsed from their (case-insensitive) string values."""

    @classmethod
    def parse(cls, value: object) -> Option:
        """The member named by ``value`` (a member, or its string value in any case)."""
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            what = _OPTION_LABELS.get(cls.__name__, cls.__name__.lower())
            raise UnknownOptionError(
                f"unknown {what} {value!r}: choose one of {', '.join(str(e.value) for e in cls)}"
            ) from None


class Extent(Option):
    """Which tiles of the grid the output holds."""

    FULL = "full"
    """Every tile of the reference grid (empty tiles cost almost nothing)."""
    TOUCHED = "touched"
    """Only tiles that a feature intersects."""


@dataclass(frozen=True, slots=True)
class Block:
    """A rectangle of whole tiles, processed as one unit: read once, computed once, written tile by tile."""

    index: int
    window: Window
    tiles: tuple[Tile, ...]


def plan_blocks(grid: Grid, max_pixels: int = DEFAULT_BLOCK_PIXELS) -> list[Block]:
    """Cut the tile layout into near-square blocks of at most ``max_pixels`` pixels (at least one tile)."""
    n_rows, n_cols = grid.tile_layout
    tile_px = grid.tile_width * grid.tile_height
    per_block = max(1, max_pixels // tile_px)
    side = max(1, math.isqrt(per_block))
    bc = min(n_cols, side)
    br = min(n_rows, max(1, per_block // bc))
    blocks = []
    for r0 in range(0, n_rows, br):
        for c0 in range(0, n_cols, bc):
            tiles = tuple(
                grid.tile(r, c) for r in range(r0, min(r0 + br, n_rows)) for c in range(c0, min(c0 + bc, n_cols))
            )
            first, last = tiles[0].window, tiles[-1].window
            window = Window(
                first.col_off,
                first.row_off,
                last.col_off + last.width - first.col_off,
                last.row_off + last.height - first.row_off,
            )
            blocks.append(Block(len(blocks), window, tiles))
    return blocks
