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
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ..grid import Grid, Tile, Window
from ..options import Option

__all__ = ["DEFAULT_BLOCK_PIXELS", "Block", "BlockPlan", "Extent", "block_shape", "plan_blocks"]

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


def block_shape(grid: Grid, max_pixels: int = DEFAULT_BLOCK_PIXELS) -> tuple[int, int]:
    """``(rows, cols)`` of tiles in a block of ``grid``: near-square, at most ``max_pixels`` pixels, one tile at
    least.

    Examples
    --------
    >>> from affine import Affine
    >>> block_shape(Grid(2500, 2500, Affine(30, 0, 0, 0, -30, 0), 32198, 100), 1_000_000)
    (10, 10)
    """
    n_rows, n_cols = grid.tile_layout
    per_block = max(1, max_pixels // (grid.tile_width * grid.tile_height))
    side = max(1, math.isqrt(per_block))
    bc = min(n_cols, side)
    br = min(n_rows, max(1, per_block // bc))
    return br, bc


class BlockPlan(Sequence[Block]):
    """The blocks of a grid, made when asked for: a sequence of :class:`Block` that holds a few numbers for a
    grid with every tile, and two small arrays per tile for a sparse one, however large the grid.

    Iterating makes each block (and its tiles) in turn, so a run over a million tiles never holds them all;
    :meth:`windows` gives every block's window at once, as arrays, for questions about all of them.
    """

    def __init__(self, grid: Grid, max_pixels: int = DEFAULT_BLOCK_PIXELS) -> None:
        self.grid = grid
        self._br, self._bc = block_shape(grid, max_pixels)
        n_rows, n_cols = grid.tile_layout
        self._blocks_per_row = -(-n_cols // self._bc)
        self._n_block_rows = -(-n_rows // self._br)
        self._rr = self._cc = self._starts = None
        if grid.present is not None:
            rr, cc = np.nonzero(grid.present.mask)  # row-major
            bid = (rr // self._br) * self._blocks_per_row + cc // self._bc
            order = np.argsort(bid, kind="stable")  # by block, row-major within each
            rr, cc, bid = rr[order], cc[order], bid[order]
            first = np.flatnonzero(np.r_[True, bid[1:] != bid[:-1]]) if len(bid) else np.empty(0, dtype=np.int64)
            self._rr, self._cc = rr.astype(np.int64), cc.astype(np.int64)
            self._starts = np.r_[first, len(bid)].astype(np.int64)

    def __len__(self) -> int:
        if self._starts is not None:
            return len(self._starts) - 1
        return self._n_block_rows * self._blocks_per_row

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._block(j) for j in range(*i.indices(len(self)))]
        n = len(self)
        j = operator.index(i)
        if j < 0:
            j += n
        if not 0 <= j < n:
            raise IndexError(f"block {i} of {n}")
        return self._block(j)

    def __iter__(self) -> Iterator[Block]:
        for j in range(len(self)):
            yield self._block(j)

    def __repr__(self) -> str:
        return f"BlockPlan({len(self)} blocks of up to {self._br}x{self._bc} tiles of {self.grid!r})"

    def _block(self, j: int) -> Block:
        grid = self.grid
        if self._starts is None:
            n_rows, n_cols = grid.tile_layout
            r0, c0 = (j // self._blocks_per_row) * self._br, (j % self._blocks_per_row) * self._bc
            r1, c1 = min(r0 + self._br, n_rows), min(c0 + self._bc, n_cols)
            tiles = tuple(grid.tile(r, c) for r in range(r0, r1) for c in range(c0, c1))
            return Block(j, grid.window_of_tiles(r0, r1, c0, c1), tiles)
        a, b = int(self._starts[j]), int(self._starts[j + 1])
        rr, cc = self._rr[a:b].tolist(), self._cc[a:b].tolist()
        tiles = tuple(grid.tile(r, c) for r, c in zip(rr, cc, strict=True))
        return Block(j, grid.window_of_tiles(min(rr), max(rr) + 1, min(cc), max(cc) + 1), tiles)

    def windows(self) -> np.ndarray:
        """Every block's window as an int64 array of rows ``(col_off, row_off, width, height)``, in block order.

        Examples
        --------
        >>> from affine import Affine
        >>> plan_blocks(Grid(300, 200, Affine(1, 0, 0, 0, -1, 200), None, 100), 20_000).windows().tolist()
        [[0, 0, 100, 200], [100, 0, 100, 200], [200, 0, 100, 200]]
        """
        grid = self.grid
        n_rows, n_cols = grid.tile_layout
        if self._starts is None:
            j = np.arange(len(self), dtype=np.int64)
            r0, c0 = (j // self._blocks_per_row) * self._br, (j % self._blocks_per_row) * self._bc
            r1, c1 = np.minimum(r0 + self._br, n_rows), np.minimum(c0 + self._bc, n_cols)
        elif len(self) == 0:
            return np.empty((0, 4), dtype=np.int64)
        else:
            starts = self._starts[:-1]
            r0 = np.minimum.reduceat(self._rr, starts)
            r1 = np.maximum.reduceat(self._rr, starts) + 1
            c0 = np.minimum.reduceat(self._cc, starts)
            c1 = np.maximum.reduceat(self._cc, starts) + 1
        x0, y0 = c0 * grid.tile_width, r0 * grid.tile_height
        x1, y1 = np.minimum(c1 * grid.tile_width, grid.width), np.minimum(r1 * grid.tile_height, grid.height)
        return np.column_stack([x0, y0, x1 - x0, y1 - y0]).astype(np.int64)


def plan_blocks(grid: Grid, max_pixels: int = DEFAULT_BLOCK_PIXELS) -> BlockPlan:
    """Cut the tile layout into near-square blocks of at most ``max_pixels`` pixels (at least one tile).

    A sparse grid's blocks hold only its tiles; a block without any is left out, and a block's window is the
    smallest rectangle of its tiles. Blocks are numbered in order, from 0. The blocks are made when asked for
    (a :class:`BlockPlan`): planning costs memory in proportion to a sparse grid's tiles, and nothing more for a
    grid with every tile, however many.

    Examples
    --------
    >>> from affine import Affine
    >>> g = Grid(300, 300, Affine(1, 0, 0, 0, -1, 300), None, 100, present=[(0, 0), (2, 1), (2, 2)])
    >>> [(b.window, [t.index for t in b.tiles]) for b in plan_blocks(g, 90_000)]
    [(Window(col_off=0, row_off=0, width=300, height=300), [(0, 0), (2, 1), (2, 2)])]
    >>> [[t.index for t in b.tiles] for b in plan_blocks(g, 40_000)]
    [[(0, 0)], [(2, 1)], [(2, 2)]]
    """
    return BlockPlan(grid, max_pixels)
