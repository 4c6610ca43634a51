"""The engine: block planning, bounded reads, empty blocks that cost nothing, identical results across executors."""

from __future__ import annotations

import numpy as np
import shapely
from affine import Affine
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import rastercover
from rastercover import Features, Grid
from rastercover.crs import as_crs
from rastercover.engine import plan_blocks

from .test_methods_exact import layout_scene


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


def test_the_compiled_kernels_give_the_bits_of_numpy_and_geos_whatever_the_blocks_and_workers():
    """A coverage (Voronoi cells: neighbours share edges) plus overlapping discs, with values shared between cells
    and discs: unions per pixel wherever polygons of a group overlap. The compiled overlap test certifies most
    neighbours apart and leaves the rest to GEOS, the compiled area kernel repeats numpy's arithmetic: the rasters
    are those of numpy and GEOS alone, bit for bit, in every layout."""
    from rastercover.kernels import compiled

    rng = np.random.default_rng(11)
    frame = shapely.box(0, 0, 3000, 3000)
    cells = shapely.intersection(
        shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(rng.uniform(0, 3000, (150, 2))))), frame
    )
    discs = [
        shapely.Point(x, y).buffer(r, quad_segs=6)
        for (x, y), r in zip(rng.uniform(0, 3000, (25, 2)), rng.uniform(40, 300, 25))
    ]
    geoms = [*cells, *discs]
    values = [float(v) for v in rng.integers(1, 5, len(geoms))]
    methods = [
        "PROPORTION_OF_COVERED_AREA",
        "VALUE_OF_MERGED_BIGGEST",
        "VALUE_OF_MERGED_SMALLEST",
        "COVERED_FRACTION_BY_VALUE",
    ]
    base = Grid(150, 160, Affine(20, 0, 0, 0, -20, 3100), "EPSG:32198", 150)
    pairs = list(zip(geoms, values))
    with compiled.forms("numpy"):
        ref = rastercover.rasterize(pairs, base, methods=methods, assume_crs="EPSG:32198").values
    with compiled.forms("compiled"):
        for tile, block, workers in [(150, 1 << 20, 1), (17, 900, 1), (40, 6_400, 2)]:
            got = rastercover.rasterize(
                pairs,
                base.with_tile_size(tile),
                methods=methods,
                assume_crs="EPSG:32198",
                block_pixels=block,
                workers=workers,
            ).values
            assert np.array_equal(got.view(np.uint32), ref.view(np.uint32)), (tile, block, workers)


# ---------------------------------------------------------------------------------------------- lazy planning
def reference_blocks(grid, budget):
    """The blocks as the engine first made them: every tile of every block rectangle, one by one."""
    import math

    n_rows, n_cols = grid.tile_layout
    per_block = max(1, budget // (grid.tile_width * grid.tile_height))
    side = max(1, math.isqrt(per_block))
    bc = min(n_cols, side)
    br = min(n_rows, max(1, per_block // bc))
    out = []
    for r0 in range(0, n_rows, br):
        for c0 in range(0, n_cols, bc):
            tiles = [
                (r, c)
                for r in range(r0, min(r0 + br, n_rows))
                for c in range(c0, min(c0 + bc, n_cols))
                if grid.has_tile(r, c)
            ]
            if tiles:
                rows, cols = [r for r, _ in tiles], [c for _, c in tiles]
                window = grid.window_of_tiles(min(rows), max(rows) + 1, min(cols), max(cols) + 1)
                out.append((len(out), window, tiles))
    return out


@given(
    w=st.integers(1, 300),
    h=st.integers(1, 300),
    tw=st.integers(3, 60),
    th=st.integers(3, 60),
    budget=st.integers(1, 20_000),
    density=st.sampled_from([None, 0.02, 0.3, 0.9]),
    seed=st.integers(0, 2**16),
)
def test_a_block_plan_makes_the_same_blocks_one_at_a_time(w, h, tw, th, budget, density, seed):
    from rastercover.engine.plan import BlockPlan

    g = Grid(w, h, Affine(1, 0, 0, 0, -1, 0), None, (tw, th))
    if density is not None:
        mask = np.random.default_rng(seed).random(g.tile_layout) < density
        mask.flat[seed % mask.size] = True
        g = g.with_tiles(mask)
    plan = plan_blocks(g, budget)
    assert isinstance(plan, BlockPlan)
    want = reference_blocks(g, budget)
    assert [(b.index, b.window, [t.index for t in b.tiles]) for b in plan] == want
    assert len(plan) == len(want)
    assert plan.windows().tolist() == [[w.col_off, w.row_off, w.width, w.height] for _, w, _ in want]
    assert plan[-1].index == len(want) - 1 and [b.index for b in plan[1:3]] == [i for i, _, _ in want[1:3]]


@given(
    a=st.floats(0.5, 40),
    b=st.floats(-10, 10),
    d=st.floats(-10, 10),
    e=st.floats(-40, -0.5),
    box=st.tuples(st.floats(-3000, 3000), st.floats(-3000, 3000), st.floats(0, 2000), st.floats(0, 2000)),
    budget=st.integers(50, 5000),
)
def test_busy_blocks_of_a_block_plan_are_those_of_its_blocks_one_by_one(a, b, d, e, box, budget):
    from rastercover.engine import Extent, Job
    from rastercover.engine.blocks import busy_blocks
    from rastercover.methods import get_method

    assume(abs(a * e - b * d) > 0.1)
    g = Grid(97, 61, Affine(a, b, 100, d, e, -50), "EPSG:32198", (10, 7))
    x, y, dx, dy = box
    src = RecordingSource([shapely.box(x, y, x + dx, y + dy)], [1.0])
    job = Job(src, g, (get_method("SUM_OF_AREAS"),), Extent.FULL, np.dtype("float32"), -1.0)
    plan = plan_blocks(g, budget)
    assert busy_blocks(job, plan) == busy_blocks(job, list(plan))


class RecordingSink:
    """The memory sink, remembering which tiles it was given."""

    def __init__(self):
        from rastercover.io.sink_memory import MemorySink

        self.inner, self.tiles = MemorySink(), []
        self.label = "recording"

    def open(self, grid, bands, dtype, nodata):
        self.inner.open(grid, bands, dtype, nodata)

    def write(self, window, data, tiles):
        self.tiles += [t.index for t in tiles]
        self.inner.write(window, data, tiles)

    def write_constant(self, tiles, values):
        self.tiles += [t.index for t in tiles]
        self.inner.write_constant(tiles, values)

    def done_tiles(self):
        return set()

    def detached_writer(self):
        return None

    def record(self, tiles):
        raise AssertionError("no detached writer here")

    def close(self):
        return self.inner.close()

    def abort(self):
        self.inner.abort()


@settings(max_examples=60)
@given(
    sc=layout_scene(),
    tile=st.sampled_from([1, 2, 3, (3, 2), 256]),
    budget=st.sampled_from([1, 4, 16, 1 << 20]),
    semantics=st.sampled_from(["exact", "postgis"]),
)
def test_a_touched_job_narrowed_to_the_tiles_its_features_reach_writes_the_same_tiles_and_bits(
    sc, tile, budget, semantics
):
    """Invalid polygons (repairs reaching past GEOS's envelope), twins, lines, points a few ulps off pixel and block
    edges, on north-up, rotated and sheared grids: the narrowed job writes exactly the tiles, and the bits, of the
    job over every tile."""
    from rastercover.engine import Extent, Job, Semantics, run
    from rastercover.engine.blocks import narrow_to_reached
    from rastercover.io import MemoryVectorSource
    from rastercover.methods import get_method

    grid, pairs = sc
    grid = grid.with_tile_size(tile)
    names = [
        "COUNT_OF_POINTS",
        "SUM_OF_LENGTHS",
        "SUM_OF_AREAS",
        "COUNT_OF_VALUES_AT_PIXEL_CENTROID",
        "COUNT_OF_GEOMETRIES",
    ]
    src = MemoryVectorSource.from_pairs(pairs, crs=grid.crs)
    job = Job(
        src, grid, tuple(get_method(n) for n in names), Extent.TOUCHED, np.dtype("float64"), -9999.0,
        semantics=Semantics.parse(semantics),
    )  # fmt: skip
    narrowed = narrow_to_reached(job)
    assert narrowed.grid.width == grid.width and narrowed.grid.transform == grid.transform
    full, narrow = RecordingSink(), RecordingSink()
    want, n_want = run(job, full, block_pixels=budget)
    got, n_got = run(narrowed, narrow, block_pixels=budget)
    assert sorted(narrow.tiles) == sorted(full.tiles) and n_got == n_want
    assert set(full.tiles) <= {t.index for t in narrowed.grid.tiles()}
    assert np.array_equal(got.values.view(np.uint64), want.values.view(np.uint64))


def test_planning_a_touched_job_over_billions_of_pixels_follows_the_points():
    side = 70711  # 5.0e9 px, 76729 tiles of 256 px
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, side, size=(300, 2))
    grid = Grid(side, side, Affine(1, 0, 0, 0, -1, side), "EPSG:3857")
    plan = rastercover.plan_rasterize(
        list(zip(shapely.points(xy), np.ones(300))), grid, extent="touched", assume_crs="EPSG:3857",
        methods="COUNT_OF_POINTS", output=None, max_pixels=side * side,
    )  # fmt: skip
    touched = {(int((side - y) // 256), int(x // 256)) for x, y in xy}
    assert plan.n_tiles == len(touched) and {t.index for t in plan.grid.tiles()} == touched
    assert len(plan_blocks(plan.grid)) <= len(touched)


# ---------------------------------------------------------------------------------------------- memory sink
def test_the_memory_sink_holds_what_it_was_given_and_nodata_elsewhere():
    """The memory sink starts from zeroed memory and writes each pixel at most once: zero bands and zero constants are
    not written, tiles never written are filled with nodata when closed. The bits are the ones given (-0.0 kept)."""
    from rastercover.grid import Window
    from rastercover.io.sink_memory import MemorySink

    g = Grid(6, 4, Affine(1, 0, 0, 0, -1, 4), None, 2)
    for dtype, nodata in (("float32", -9999.0), ("float64", np.nan), ("int16", 0), ("uint8", 255)):
        sink = MemorySink()
        sink.open(g, ["a", "b", "c"], np.dtype(dtype), nodata)
        block = np.stack([np.full((2, 4), 3), np.zeros((2, 4)), np.arange(8).reshape(2, 4)]).astype(dtype)
        if np.dtype(dtype).kind == "f":
            block[1, 0, 0] = -0.0
        sink.write(Window(0, 0, 4, 2), block, list(g.tiles(Window(0, 0, 4, 2))))
        sink.write_constant([g.tile(1, 0), g.tile(1, 1)], [0.0, 7.0, nodata])
        out = np.asarray(sink.close().values)
        want = np.full((3, 4, 6), nodata, dtype=dtype)
        want[:, 0:2, 0:4] = block
        want[0, 2:4, 0:4], want[1, 2:4, 0:4] = 0, 7
        assert out.dtype == np.dtype(dtype)
        assert out.tobytes() == want.tobytes(), dtype
