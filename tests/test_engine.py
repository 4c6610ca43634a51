"""The engine: block planning, bounded reads, empty blocks that cost nothing, identical results across executors."""

from __future__ import annotations

import numpy as np
import shapely
from affine import Affine
from hypothesis import given
from hypothesis import strategies as st

import rastercover
from rastercover import Features, Grid
from rastercover.crs import as_crs
from rastercover.engine import plan_blocks


@given(
    w=st.integers(1, 400),
    h=st.integers(1, 400),
    tw=st.integers(8, 100),
    th=st.integers(8, 100),
    budget=st.integers(1, 50_000),
)
def test_blocks_cover_every_tile_once_and_respect_the_budget(w, h, tw, th, budget):
    g = Grid(w, h, Affine(1, 0, 0, 0, -1, 0), None, (tw, th))
    blocks = plan_blocks(g, budget)
    seen = [t.index for b in blocks for t in b.tiles]
    assert sorted(seen) == sorted(t.index for t in g.tiles())
    for b in blocks:
        area = sum(t.window.width * t.window.height for t in b.tiles)
        assert area == b.window.width * b.window.height  # blocks are rectangles of whole tiles
        assert len(b.tiles) == 1 or area <= max(budget, tw * th)


class RecordingSource:
    """A source that remembers every bounding box it was asked for."""

    def __init__(self, geoms, values):
        self.features = Features.from_arrays(geoms, values)
        self.tree = shapely.STRtree(self.features.geometry)
        self.reads: list[tuple[tuple, int]] = []

    crs = as_crs("EPSG:32198")

    @property
    def bounds(self):
        return tuple(shapely.total_bounds(self.features.geometry))

    def describe(self):
        return "recording source"

    def read(self, bbox):
        idx = np.sort(self.tree.query(shapely.box(*bbox)))
        self.reads.append((bbox, len(idx)))
        return self.features.take(idx)


def test_reads_are_per_block_and_skip_blocks_outside_the_layer():
    grid = Grid(1000, 1000, Affine(10, 0, 0, 0, -10, 10000), "EPSG:32198", 50)
    # 100 small squares in the north-west quarter only
    geoms = [
        shapely.box(x, 10000 - y - 50, x + 50, 10000 - y) for x in range(100, 5000, 500) for y in range(100, 5000, 500)
    ]
    src = RecordingSource(geoms, np.arange(100.0))
    seen = []
    da = rastercover.rasterize(
        src, grid, methods="COUNT_OF_VALUES_AT_PIXEL_CENTROID", block_pixels=62_500, progress=seen.append
    )
    assert sum(seen) == 400 and int(da.values.sum()) == 100 * 25
    # 16 blocks of 250x250 px; only the 4 over the layer's extent are read, each with its own features only
    assert len(src.reads) == 4
    assert all(n == 25 for _, n in src.reads)


def test_results_do_not_depend_on_tiles_blocks_or_workers(tmp_path):
    rng = np.random.default_rng(7)
    centres = rng.uniform(0, 3000, size=(60, 2))
    geoms = [shapely.Point(x, y).buffer(r, quad_segs=5) for (x, y), r in zip(centres, rng.uniform(50, 400, 60))]
    values = [None if i % 7 == 0 else float(v) for i, v in enumerate(rng.integers(1, 9, 60))]
    methods = [
        "MEAN_OF_VALUES_AT_PIXEL_CENTROID",
        "MAJORITY_OF_VALUES_AT_PIXEL_CENTROID",
        "FIRST_VALUE_AT_PIXEL_CENTROID",
        "STDDEV_OF_VALUES_AT_PIXEL_CENTROID",
    ]
    base = Grid(300, 310, Affine(10, 0, 0, 0, -10, 3000), "EPSG:32198", 300)
    ref = rastercover.rasterize(list(zip(geoms, values)), base, methods=methods, assume_crs="EPSG:32198").values
    for tile, block, workers in [(37, 10_000, 1), (64, 40_000, 2), (100, 4_000_000, 2)]:
        got = rastercover.rasterize(
            list(zip(geoms, values)),
            base.with_tile_size(tile),
            methods=methods,
            assume_crs="EPSG:32198",
            block_pixels=block,
            workers=workers,
        ).values
        assert np.array_equal(got, ref), (tile, block, workers)
