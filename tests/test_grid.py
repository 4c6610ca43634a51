"""Grid: tiles, windows, pixel space, constructors (spec section 1)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from affine import Affine
from hypothesis import given
from hypothesis import strategies as st

from rastercover import AlignmentError, CRSError, Grid, InputError, SourceError, open_grid
from rastercover.grid import Window
from rastercover.io.raster_grid import grid_of_tiles

from .conftest import write_raster

sizes = st.integers(1, 300)
tiles = st.integers(4, 120)


@given(w=sizes, h=sizes, tw=tiles, th=tiles)
def test_tiles_partition_the_grid(w, h, tw, th):
    g = Grid(w, h, Affine(2, 0, 10, 0, -2, 50), "EPSG:3857", (tw, th))
    cover = np.zeros((h, w), dtype=int)
    for t in g.tiles():
        cover[t.window.slices] += 1
        assert 0 < t.window.width <= tw and 0 < t.window.height <= th
        assert t.grid.transform == g.transform @ Affine.translation(t.window.col_off, t.window.row_off)
        assert g.tile(*t.index) == t
    assert (cover == 1).all()
    assert g.n_tiles == len(list(g.tiles())) == -(-w // tw) * -(-h // th)


@given(
    w=sizes,
    h=sizes,
    tw=tiles,
    th=tiles,
    c0=st.integers(0, 299),
    r0=st.integers(0, 299),
    ww=st.integers(1, 100),
    wh=st.integers(1, 100),
)
def test_tiles_of_a_window_are_exactly_those_intersecting_it(w, h, tw, th, c0, r0, ww, wh):
    g = Grid(w, h, Affine(1, 0, 0, 0, -1, 0), None, (tw, th))
    win = Window(c0, r0, ww, wh)
    got = {t.index for t in g.tiles(win)}
    want = {
        t.index
        for t in g.tiles()
        if t.window.col_off < c0 + ww
        and c0 < t.window.col_off + t.window.width
        and t.window.row_off < r0 + wh
        and r0 < t.window.row_off + t.window.height
    }
    assert got == want


@given(
    a=st.floats(0.1, 100),
    b=st.floats(-50, 50),
    d=st.floats(-50, 50),
    e=st.floats(-100, -0.1),
    c=st.floats(-1e6, 1e6),
    f=st.floats(-1e6, 1e6),
)
def test_to_pixel_inverts_to_map_on_skewed_grids(a, b, d, e, c, f):
    t = Affine(a, b, c, d, e, f)
    if abs(t.determinant) < 1e-3:
        return
    g = Grid(10, 10, t, None)
    cols = np.array([0.0, 0.5, 3.25, 9.75])
    rows = np.array([0.0, 7.5, 1.0, 2.125])
    x, y = g.to_map(cols, rows)
    c2, r2 = g.to_pixel(x, y)
    scale = 1 + np.abs(np.array([c, f])).max() / min(abs(a), abs(e), 1)
    assert np.allclose(c2, cols, atol=1e-9 * scale) and np.allclose(r2, rows, atol=1e-9 * scale)


def test_north_up_pixel_space_is_exact_on_centres_and_edges(north_up):
    g = Grid(2500, 2500, north_up, "EPSG:32198")
    x = 150000 + 30 * np.arange(2500) + 15.0
    col, _ = g.to_pixel(x, np.full_like(x, 420000.0))
    assert (col == np.arange(2500) + 0.5).all()


def test_grid_is_an_immutable_hashable_value(north_up):
    g = Grid(100, 50, north_up, "EPSG:32198", 25)
    h = Grid(100, 50, north_up, 32198, (25, 25))
    assert g == h and hash(g) == hash(h)
    assert pickle.loads(pickle.dumps(g)) == g
    with pytest.raises(AttributeError):
        g.width = 3  # type: ignore[misc]
    assert g != g.with_tile_size(50)
    assert g.tile_layout == (2, 4)


def test_bounds_and_window_of_a_rotated_grid():
    t = Affine.translation(100, 200) @ Affine.rotation(30) @ Affine.scale(2, -2)
    g = Grid(10, 20, t, "EPSG:3857")
    corners = g.corners()
    assert g.bounds == (corners[:, 0].min(), corners[:, 1].min(), corners[:, 0].max(), corners[:, 1].max())
    # the window of the grid's own bounds covers the whole grid (clipped)
    assert g.pixel_window(g.bounds) == Window(0, 0, 10, 20)
    assert g.pixel_area == pytest.approx(4.0)


def test_pixel_window_snaps_outward_and_returns_none_outside():
    g = Grid(100, 100, Affine(1, 0, 0, 0, -1, 100), None)
    assert g.pixel_window((10.5, 50, 20, 60.2)) == Window(10, 39, 10, 11)
    assert g.pixel_window((200, 200, 300, 300)) is None
    assert g.pixel_window((-50, -50, 5, 5)) == Window(0, 95, 5, 5)


def test_from_bounds_snaps_like_tap():
    g = Grid.from_bounds((103, 7, 251, 98), 10, "EPSG:32198", tile_size="4x3")
    assert g.bounds == (100.0, 0.0, 260.0, 100.0)
    assert g.shape == (10, 16) and g.tile_size == (4, 3)
    g2 = Grid.from_bounds((0, 0, 100, 50), (10, 5), "EPSG:32198")
    assert g2.shape == (10, 10) and g2.res == (10, 5)
    with pytest.raises(InputError, match="empty"):
        Grid.from_bounds((5, 0, 1, 1), 1, "EPSG:32198")
    with pytest.raises(InputError, match="resolution"):
        Grid.from_bounds((0, 0, 1, 1), 0, "EPSG:32198")
    with pytest.raises(CRSError, match="unknown CRS"):
        Grid.from_bounds((0, 0, 1, 1), 1, "EPSG:999999")


def test_open_grid_of_a_raster_uses_block_size_when_tiled_else_256(tmp_path, north_up):
    tiled = write_raster(tmp_path / "tiled.tif", 300, 200, north_up, tiled=True, block=128)
    striped = write_raster(tmp_path / "striped.tif", 300, 200, north_up)
    g = open_grid(tiled)
    assert (g.width, g.height, g.transform, g.tile_size) == (300, 200, north_up, (128, 128))
    assert g.crs.to_epsg() == 32198
    assert open_grid(striped).tile_size == (256, 256)
    assert open_grid(striped, tile_size=100).tile_size == (100, 100)


def test_open_grid_errors(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        open_grid(tmp_path / "missing.tif")
    bad = tmp_path / "bad.tif"
    bad.write_text("not a tiff")
    with pytest.raises(SourceError, match="bad.tif"):
        open_grid(bad)


def _write_tiles(folder, grid: Grid, skip=(), name=None):
    folder.mkdir()
    for t in grid.tiles():
        if t.index in skip:
            continue
        tg = t.grid
        stem = name(t) if name else t.name
        write_raster(folder / f"{stem}.tif", tg.width, tg.height, tg.transform, crs=grid.crs.to_wkt())
    return folder


def test_grid_of_tiles_recovers_grid_layout_and_the_tiles_present(tmp_path, north_up):
    ref = Grid(250, 230, north_up, "EPSG:32198", 100)
    folder = _write_tiles(tmp_path / "tiles", ref)
    assert grid_of_tiles(folder) == ref and not grid_of_tiles(folder).is_sparse
    # a missing inner tile: the same lattice, without that tile
    folder2 = _write_tiles(tmp_path / "tiles2", ref, skip={(1, 1)})
    g2 = grid_of_tiles(folder2)
    assert g2.with_tiles(None) == ref and g2.is_sparse and not g2.has_tile(1, 1)
    assert {t.index for t in g2.tiles()} == {t.index for t in ref.tiles()} - {(1, 1)}
    # missing edge tiles shrink the union
    folder3 = _write_tiles(tmp_path / "tiles3", ref, skip={(0, 2), (1, 2), (2, 2)})
    assert grid_of_tiles(folder3) == Grid(200, 230, north_up, "EPSG:32198", 100)


def test_a_folder_of_named_tiles_keeps_tile_positions_however_many_are_missing(tmp_path, north_up):
    # r{row}_c{col} names are positions in the layout they were cut from: r1_c2 stays tile (1, 2)
    ref = Grid(250, 230, north_up, "EPSG:32198", 100)
    folder = _write_tiles(tmp_path / "named", ref, skip={(0, 0), (0, 1), (0, 2), (1, 0), (2, 0)})
    g = open_grid(folder)
    assert g.transform == ref.transform and g.shape == ref.shape
    assert sorted(t.index for t in g.tiles()) == [(1, 1), (1, 2), (2, 1), (2, 2)]
    # the same tiles under other names: laid out from their headers, the union of what is there
    other = _write_tiles(
        tmp_path / "other", ref, skip={(0, 0), (0, 1), (0, 2), (1, 0), (2, 0)}, name=lambda t: f"x{t.row}{t.col}"
    )
    u = open_grid(other)
    assert u.transform == ref.transform @ Affine.translation(100, 100) and u.shape == (130, 150)
    assert not u.is_sparse


def test_grid_of_tiles_of_a_skewed_grid(tmp_path):
    t = Affine(10, 2, 1000, 1.5, -10, 5000)
    ref = Grid(120, 90, t, "EPSG:3857", 50)
    assert grid_of_tiles(_write_tiles(tmp_path / "skew", ref)) == ref


def test_grid_of_tiles_names_a_misaligned_tile(tmp_path, north_up):
    ref = Grid(200, 200, north_up, "EPSG:32198", 100)
    folder = _write_tiles(tmp_path / "tiles", ref)
    write_raster(folder / "r1_c1.tif", 100, 100, north_up @ Affine.translation(100.5, 100))
    with pytest.raises(AlignmentError, match=r"r1_c1\.tif is misaligned"):
        grid_of_tiles(folder)


def test_grid_of_tiles_rejects_other_pixel_size_crs_and_layout(tmp_path, north_up):
    ref = Grid(200, 200, north_up, "EPSG:32198", 100)
    f1 = _write_tiles(tmp_path / "a", ref)
    write_raster(f1 / "r1_c1.tif", 100, 100, Affine(15, 0, 153000, 0, -15, 417000))
    with pytest.raises(AlignmentError, match="pixel size"):
        grid_of_tiles(f1)
    f2 = _write_tiles(tmp_path / "b", ref)
    write_raster(f2 / "r1_c1.tif", 100, 100, north_up @ Affine.translation(100, 100), crs="EPSG:3857")
    with pytest.raises(AlignmentError, match="EPSG:3857"):
        grid_of_tiles(f2)
    f3 = _write_tiles(tmp_path / "c", ref)
    write_raster(f3 / "r1_c1.tif", 60, 100, north_up @ Affine.translation(100, 100))
    with pytest.raises(AlignmentError, match="does not fit"):
        grid_of_tiles(f3)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="no raster tiles"):
        grid_of_tiles(empty)


def test_the_vrt_of_a_touched_run_keeps_the_whole_grid_and_holds_its_tiles(tmp_path, north_up):
    import shapely

    import rastercover

    ref = Grid(250, 230, north_up, "EPSG:32198", 100)
    out = tmp_path / "out"
    rastercover.rasterize(
        [(shapely.box(150000, 413100, 154500, 420000), 1.0)], ref, output=out, assume_crs="EPSG:32198", extent="touched"
    )
    g = grid_of_tiles(out / "index.vrt")
    assert g.with_tiles(None) == ref
    assert sorted(t.index for t in g.tiles()) == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    assert open_grid(out) == g


def test_sparse_grids_are_values_and_iterate_only_their_tiles():
    g = Grid(10, 10, Affine(1, 0, 0, 0, -1, 10), "EPSG:3857", 4, present=[(2, 2), (0, 1)])
    assert [t.index for t in g.tiles()] == [(0, 1), (2, 2)] and g.n_tiles == 2
    assert [t.index for t in g.tiles(Window(0, 0, 5, 5))] == [(0, 1)]
    assert pickle.loads(pickle.dumps(g)) == g and hash(pickle.loads(pickle.dumps(g.present))) == hash(g.present)
    assert g != g.with_tiles(None) and g.with_tiles(None).n_tiles == 9
    every = [(r, c) for r in range(3) for c in range(3)]
    assert Grid(10, 10, g.transform, g.crs, 4, present=every) == g.with_tiles(None)
    assert g.with_tile_size(4) is g and not g.with_tile_size(5).is_sparse
    with pytest.raises(InputError, match="outside"):
        Grid(10, 10, g.transform, g.crs, 4, present=[(3, 0)])


def test_a_tile_with_a_stored_origin_uses_exactly_those_bits():
    from rastercover.grid import TileSet

    t = Affine(0.1, 0, 0.3, 0, -0.1, 7.7)
    lattice = Grid(20, 20, t, None, 10)
    computed = lattice.tile(1, 1).grid.transform
    stored = (computed.c + 1e-16 * 4, computed.f)  # what a header may hold: the last bits differ
    g = lattice.with_tiles(TileSet((2, 2), [(0, 0), (1, 1)], {(1, 1): stored}))
    assert (g.tile(1, 1).grid.transform.c, g.tile(1, 1).grid.transform.f) == stored
    assert g.tile(0, 0).grid.transform == lattice.tile(0, 0).grid.transform


@pytest.mark.parametrize("res", [0.1, 0.3, 30.0, 1 / 3])
def test_a_box_on_pixel_edges_computed_in_floating_point_selects_exactly_those_pixels(res):
    g = Grid(100, 80, Affine(res, 0, 1000.1, 0, -res, 2000.7), None)
    for c0, r0, w, h in [(3, 4, 4, 4), (0, 0, 100, 80), (17, 0, 1, 9), (99, 79, 1, 1)]:
        x0, x1 = 1000.1 + c0 * res, 1000.1 + (c0 + w) * res
        y1, y0 = 2000.7 - r0 * res, 2000.7 - (r0 + h) * res
        assert g.pixel_window((x0, y0, x1, y1)) == Window(c0, r0, w, h)
        # and a box a real fraction of a pixel inside keeps the pixels it meets
        assert g.pixel_window((x0 + res / 4, y0 + res / 4, x1 - res / 4, y1 - res / 4)) == Window(c0, r0, w, h)


def test_tile_at_finds_the_tile_of_a_point(north_up):
    g = Grid(250, 230, north_up, "EPSG:32198", 100)
    x, y = g.to_map(np.array([150.0]), np.array([99.999]))
    assert g.tile_at(float(x[0]), float(y[0])) == (0, 1)
    assert g.tile_at(*g.tile(2, 2).grid.transform * (0, 0)) == (2, 2)
    assert g.tile_at(0, 0) is None


def test_degenerate_inputs_are_refused():
    with pytest.raises(InputError, match="positive size"):
        Grid(0, 5, Affine.identity(), None)
    with pytest.raises(InputError, match="degenerate"):
        Grid(5, 5, Affine(0, 0, 0, 0, -1, 0), None)
    with pytest.raises(InputError, match="tile size"):
        Grid(5, 5, Affine.identity(), None, "axb")


@given(
    w=st.integers(1, 60),
    h=st.integers(1, 60),
    tw=st.integers(1, 12),
    th=st.integers(1, 12),
    skew=st.booleans(),
    box=st.tuples(st.floats(-80, 80), st.floats(-80, 80), st.floats(0, 40), st.floats(0, 40)),
)
def test_the_tiles_a_box_reaches_hold_every_tile_it_meets_and_no_tile_far_from_it(w, h, tw, th, skew, box):
    import shapely

    t = Affine(1.5, 0.4, -10, 0.3, -1.25, 60) if skew else Affine(1.5, 0, -10, 0, -1.25, 60)
    g = Grid(w, h, t, "EPSG:3857", (tw, th))
    x, y, dx, dy = box
    ((r0, r1, c0, c1),) = g.tile_ranges_of_boxes(np.array([[x, y, x + dx, y + dy]]))
    got = {(r, c) for r in range(r0, r1) for c in range(c0, c1)}
    # the box in pixel space, and each tile's closed area
    corners = np.array([[x, y], [x + dx, y], [x + dx, y + dy], [x, y + dy]])
    cols, rows = g.to_pixel(corners[:, 0], corners[:, 1])
    shape = (
        shapely.Polygon(np.column_stack([cols, rows]))
        if dx and dy
        else shapely.LineString(np.column_stack([cols, rows]))
    )
    for tile in g.tiles():
        win = tile.window
        cell = shapely.box(win.col_off, win.row_off, win.col_off + win.width, win.row_off + win.height)
        if cell.intersects(shape):
            assert tile.index in got
        if tile.index in got:  # near the box's pixel-space bounds at least
            assert cell.distance(shapely.box(*shape.bounds)) <= 1e-3 + 1e-9


def test_the_tiles_of_boxes_off_the_grid_or_not_finite_are_none():
    g = Grid(10, 10, Affine(1, 0, 0, 0, -1, 10), None, 5)
    boxes = np.array([[20, 0, 30, 5], [0, 0, np.nan, 5], [-5, -5, -1, -1], [0, 0, 10, 10], [5, 5, 5, 5]], dtype=float)
    assert g.tile_ranges_of_boxes(boxes).tolist() == [[0, 0, 0, 0]] * 3 + [[0, 2, 0, 2], [0, 2, 0, 2]]
