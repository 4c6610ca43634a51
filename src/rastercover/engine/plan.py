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

import math
from dataclasses import dataclass

from ..grid import Grid, Tile, Window
from ..options import Option

__all__ = ["DEFAULT_BLOCK_PIXELS", "Block", "Extent", "plan_blocks"]

#: Pixels per block by default (half a megapixel: 7 x 7 tiles of 100 px, 2 x 4 tiles of 256 px). Measured at
#: scale 16 of the benchmark workload (serial, exact area and centroid methods, tiles of 100 and 256 px), blocks
#: of 2^19 px ran 7-18 % faster than blocks of 2^20 (a block's dense temporaries stay in cache); 2^18 was faster
#: still for the exact area methods but slower for the centroid ones (more reads of the same features).
DEFAULT_BLOCK_PIXELS = 1 << 19


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
    """Cut the tile layout into near-square blocks of at most ``max_pixels`` pixels (at least one tile).

    A sparse grid's blocks hold only its tiles; a block without any is left out, and a block's window is the
    smallest rectangle of its tiles. Blocks are numbered in order, from 0.

    Examples
    --------
    >>> from affine import Affine
    >>> g = Grid(300, 300, Affine(1, 0, 0, 0, -1, 300), None, 100, present=[(0, 0), (2, 1), (2, 2)])
    >>> [(b.window, [t.index for t in b.tiles]) for b in plan_blocks(g, 90_000)]
    [(Window(col_off=0, row_off=0, width=300, height=300), [(0, 0), (2, 1), (2, 2)])]
    >>> [[t.index for t in b.tiles] for b in plan_blocks(g, 40_000)]
    [[(0, 0)], [(2, 1)], [(2, 2)]]
    """
    n_rows, n_cols = grid.tile_layout
    tile_px = grid.tile_width * grid.tile_height
    per_block = max(1, max_pixels // tile_px)
    side = max(1, math.isqrt(per_block))
    bc = min(n_cols, side)
    br = min(n_rows, max(1, per_block // bc))
    mask = grid.present.mask if grid.present is not None else None
    blocks = []
    for r0 in range(0, n_rows, br):
        for c0 in range(0, n_cols, bc):
            r1, c1 = min(r0 + br, n_rows), min(c0 + bc, n_cols)
            if mask is None:
                tiles = tuple(grid.tile(r, c) for r in range(r0, r1) for c in range(c0, c1))
            else:
                tiles = tuple(grid.tile(r, c) for r in range(r0, r1) for c in range(c0, c1) if mask[r, c])
                if not tiles:
                    continue
            rows = [t.row for t in tiles]
            cols = [t.col for t in tiles]
            window = grid.window_of_tiles(min(rows), max(rows) + 1, min(cols), max(cols) + 1)
            blocks.append(Block(len(blocks), window, tiles))
    return blocks
