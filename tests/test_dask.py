"""``executor="dask"`` and ``rasterize_lazy``: identical results to the local engine, faults, progress, errors.

One module-scoped local cluster of 2 worker processes (behind nannies) serves every test but the one that
checks the cluster a run starts for itself.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np
import pyogrio.raw
import pytest
import rasterio
import shapely
from affine import Affine
from shapely.geometry import LineString, MultiPoint, Point

import rastercover
from rastercover import Grid
from rastercover.cli.main import main
from rastercover.engine import plan_blocks
from rastercover.errors import InputError, UnknownOptionError, ValueRangeError

pytest.importorskip("distributed", reason="dask.distributed is not installed (pip install 'rastercover[dask]')")

import distributed

CRS = "EPSG:3857"
EXACT_METHODS = [
    "SUM_OF_AREAS",
    "PROPORTION_OF_COVERED_AREA",
    "VALUE_OF_MERGED_BIGGEST",
    "AREA_WEIGHTED_MEAN_OF_VALUES",
    "SUM_OF_LENGTHS",
    "VALUE_OF_LONGEST",
    "COUNT_OF_POINTS",
    "COUNT_OF_GEOMETRIES",
    "MEAN_OF_VALUES_AT_PIXEL_CENTROID",
    "MAJORITY_OF_VALUES_AT_PIXEL_CENTROID",
    "COVERED_FRACTION_BY_VALUE",
]
POSTGIS_METHODS = [
    "COUNT_OF_VALUES_AT_PIXEL_CENTROID",
    "MEAN_OF_VALUES_AT_PIXEL_CENTROID",
    "COUNT_OF_LINESTRINGS",
    "COUNT_OF_POINTS",
    "VALUE_OF_MERGED_BIGGEST",
    "SUM_OF_AREAS",
    "SUM_OF_LENGTHS",
    "AREA_WEIGHTED_MEAN_OF_VALUES",
]


def scene(seed: int, bounds: tuple[float, ...], n: int = 40) -> list:
    """Random polygons, lines and points (some without value) over ``bounds``."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = bounds
    pairs = []
    for i in range(n):
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if i % 3 == 0:
            pairs.append((Point(x, y).buffer(rng.uniform(1, 15), quad_segs=4), float(rng.integers(0, 5))))
        elif i % 3 == 1:
            pairs.append((LineString(rng.uniform(-20, 20, (4, 2)) + np.array([x, y])), float(rng.integers(0, 5))))
        else:
            pairs.append((MultiPoint(rng.uniform(-5, 5, (3, 2)) + np.array([x, y])), None))
    return pairs


# a skewed grid with a part left empty (the features stay in its first 60 %): empty blocks too
SKEWED = Grid(23, 17, Affine(2.5, 0.5, 1000, -0.25, -2.0, 5000), CRS, tile_size=(5, 4))
NORTH_UP = Grid(60, 50, Affine(2.0, 0, 1000, 0, -2.0, 5000), CRS, tile_size=10)


def _pairs(seed: int, grid: Grid, n: int = 40) -> list:
    x0, y0, x1, y1 = grid.bounds
    return scene(seed, (x0, y0, x0 + 0.6 * (x1 - x0), y1) if grid is NORTH_UP else grid.bounds, n)


def same(a, b) -> bool:
    """Bit-for-bit equal arrays (NaN payloads included)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.fixture(scope="module")
def client():
    from rastercover.engine.distributed import local_cluster

    cluster = local_cluster(2)  # what a run without scheduler= starts
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


# ============================================================================================ cluster of the run
def test_a_run_without_scheduler_starts_and_closes_its_own_cluster():
    pairs = _pairs(1, NORTH_UP)
    want = rastercover.rasterize(pairs, NORTH_UP, methods="SUM_OF_AREAS", assume_crs=CRS, block_pixels=400)
    messages, seen = [], []
    got = rastercover.rasterize(
        pairs,
        NORTH_UP,
        methods="SUM_OF_AREAS",
        assume_crs=CRS,
        block_pixels=400,
        executor="dask",
        workers=1,
        notify=messages.append,
        progress=seen.append,
    )
    assert same(got.values, want.values) and got.values.sum() > 0
    assert sum(seen) == NORTH_UP.n_tiles == 30
    # the dashboard (bokeh, in the dask extra) shows the run's tasks; its link is what the CLI prints
    assert len(messages) == 1 and messages[0].startswith("dask dashboard: http://")
    with pytest.raises(ValueError):  # the run's client is closed: no default client is left behind
        distributed.get_client()


# ============================================================================================ identical results
@pytest.mark.parametrize("grid", [SKEWED, NORTH_UP], ids=["skewed", "north-up"])
@pytest.mark.parametrize("extent", ["full", "touched"])
def test_exact_semantics_are_identical_to_local(client, grid, extent):
    pairs = _pairs(20240607, grid)
    kw = dict(methods=EXACT_METHODS, assume_crs=CRS, dtype="float64", extent=extent, block_pixels=40)
    want = rastercover.rasterize(pairs, grid, **kw)
    got = rastercover.rasterize(pairs, grid, executor="dask", scheduler=client, **kw)
    assert list(got.band.values) == list(want.band.values)
    assert same(got.values, want.values)
    assert got.attrs == want.attrs and got.x.values.tolist() == want.x.values.tolist()
    band = list(want.band.values)
    assert want.values[band.index("SUM_OF_AREAS")].clip(0).sum() > 0
    assert want.values[band.index("SUM_OF_LENGTHS")].clip(0).sum() > 0
    assert want.values[band.index("COUNT_OF_POINTS")].clip(0).sum() > 0


@pytest.mark.parametrize("extent", ["full", "touched"])
def test_postgis_semantics_are_identical_to_local(client, extent):
    pairs = _pairs(99, NORTH_UP, 60)
    kw = dict(methods=POSTGIS_METHODS, assume_crs=CRS, semantics="postgis", extent=extent, block_pixels=200)
    want = rastercover.rasterize(pairs, NORTH_UP, **kw)
    got = rastercover.rasterize(pairs, NORTH_UP, executor="dask", scheduler=client, **kw)
    assert same(got.values, want.values)
    assert (want.values[POSTGIS_METHODS.index("SUM_OF_AREAS")] > 0).sum() > 10


def test_geotiff_output_is_identical_and_progress_counts_every_tile(client, tmp_path):
    pairs = _pairs(5, NORTH_UP)
    kw = dict(methods=["SUM_OF_AREAS", "COUNT_OF_POINTS"], assume_crs=CRS, block_pixels=200)
    rastercover.rasterize(pairs, NORTH_UP, output=tmp_path / "local.tif", **kw)
    seen: list[int] = []
    res = rastercover.rasterize(
        pairs, NORTH_UP, output=tmp_path / "dask.tif", executor="dask", scheduler=client, progress=seen.append, **kw
    )
    assert res.tiles_written == NORTH_UP.n_tiles == 30
    assert sum(seen) == 30 and len(seen) == len(plan_blocks(NORTH_UP, 200)) == 18  # reported block by block
    with rasterio.open(tmp_path / "local.tif") as a, rasterio.open(tmp_path / "dask.tif") as b:
        want, got = a.read(), b.read()
        assert a.profile == b.profile and a.descriptions == b.descriptions
    assert same(got, want) and got[0].clip(0).sum() > 0


def _tile_folder(path) -> dict[str, np.ndarray]:
    tiles = {}
    for name in sorted(os.listdir(path)):
        if name.endswith(".tif"):
            with rasterio.open(os.path.join(path, name)) as ds:
                tiles[name] = ds.read()
    return tiles


@pytest.fixture
def gpkg(tmp_path) -> str:
    """The north-up scene's polygons as a GeoPackage: workers read their blocks from the file."""
    geoms = [g for g, _ in _pairs(11, NORTH_UP, 60) if g.geom_type == "Polygon"]
    path = str(tmp_path / "stands.gpkg")
    values = [np.arange(len(geoms), dtype=float)]
    pyogrio.raw.write(path, shapely.to_wkb(np.array(geoms)), values, ["v"], geometry_type="Polygon", crs=CRS)
    return path


def test_tile_folder_from_a_file_is_identical_and_written_by_the_workers(client, tmp_path, gpkg):
    kw = dict(value="v", methods=["VALUE_OF_MERGED_BIGGEST", "SUM_OF_AREAS"], block_pixels=200)
    rastercover.rasterize(gpkg, NORTH_UP, output=tmp_path / "local", **kw)
    res = rastercover.rasterize(gpkg, NORTH_UP, output=tmp_path / "dask", executor="dask", scheduler=client, **kw)
    want, got = _tile_folder(tmp_path / "local"), _tile_folder(tmp_path / "dask")
    assert len(want) == res.tiles_written == 30 and list(got) == list(want)
    assert all(same(got[k], want[k]) for k in want)
    assert (tmp_path / "dask" / "index.vrt").read_text() == (tmp_path / "local" / "index.vrt").read_text()
    assert sum(a[1].clip(0).sum() for a in want.values()) > 0


def test_a_worker_killed_mid_run_loses_nothing(client, tmp_path):
    grid = Grid(120, 100, Affine(2.0, 0, 1000, 0, -2.0, 5000), CRS, tile_size=10)  # 120 tiles, 60 blocks
    pairs = scene(3, grid.bounds, 300)
    kw = dict(methods=["SUM_OF_AREAS", "SUM_OF_LENGTHS", "COUNT_OF_POINTS"], assume_crs=CRS, block_pixels=200)
    rastercover.rasterize(pairs, grid, output=tmp_path / "serial", **kw)
    pids = client.run(os.getpid)
    assert len(pids) == 2
    victim = next(iter(pids.values()))
    killed: list[int] = []

    def kill_once(n: int) -> None:
        if not killed:
            os.kill(victim, signal.SIGKILL)
            killed.append(n)

    res = rastercover.rasterize(
        pairs, grid, output=tmp_path / "dask", executor="dask", scheduler=client, progress=kill_once, **kw
    )
    assert killed and res.tiles_written == 120
    want, got = _tile_folder(tmp_path / "serial"), _tile_folder(tmp_path / "dask")
    assert len(got) == 120 and list(got) == list(want)
    assert all(same(got[k], want[k]) for k in want)
    # the nanny restarts the worker: the cluster is whole again for the tests that follow
    deadline = time.monotonic() + 60
    while victim in (now := _pids(client)).values() or len(now) < 2:
        assert time.monotonic() < deadline, "the killed worker was not restarted"
        time.sleep(0.1)


def _pids(client) -> dict:
    try:
        return client.run(os.getpid)
    except Exception:  # a worker leaving while asked
        return {}


def test_an_error_in_a_worker_reaches_the_caller_and_leaves_no_output(client, tmp_path):
    grid = Grid(40, 40, Affine(100.0, 0, 0, 0, -100.0, 4000), CRS, tile_size=10)
    pairs = [(shapely.box(0, 0, 4000, 4000), 1.0)]
    out = tmp_path / "o.tif"
    with pytest.raises(ValueRangeError, match="does not fit the uint8 band"):
        rastercover.rasterize(
            pairs,
            grid,
            methods="SUM_OF_AREAS",
            assume_crs=CRS,
            dtype="uint8",
            nodata=255,
            output=out,
            executor="dask",
            scheduler=client,
        )
    assert not out.exists() and os.listdir(tmp_path) == []


# ============================================================================================ lazy result
@pytest.mark.parametrize("extent", ["full", "touched"])
def test_lazy_dataarray_is_chunked_by_blocks_and_computes_the_eager_result(client, extent):
    pairs = _pairs(8, NORTH_UP)
    kw = dict(methods=EXACT_METHODS, assume_crs=CRS, extent=extent, block_pixels=400)
    want = rastercover.rasterize(pairs, NORTH_UP, **kw)
    lazy = rastercover.rasterize_lazy(pairs, NORTH_UP, **kw)
    assert lazy.chunks == ((len(want.band),), (20, 20, 10), (20, 20, 20))  # blocks of 2x2 tiles
    assert lazy.dims == want.dims and lazy.attrs == want.attrs
    assert all(lazy[c].values.tolist() == want[c].values.tolist() for c in ("band", "x", "y"))
    assert lazy.spatial_ref.attrs == want.spatial_ref.attrs
    got = lazy.compute()  # on the module's cluster (its client is the default one)
    assert same(got.values, want.values)
    corner = lazy[:, :20, :20].compute(scheduler="sync")  # one block only
    assert same(corner.values, want.values[:, :20, :20])


# ============================================================================================ errors and CLI
def test_executor_errors():
    pairs = [(shapely.box(1000, 4900, 1010, 4910), 1.0)]
    with pytest.raises(UnknownOptionError, match="unknown executor 'spark': choose one of local, dask"):
        rastercover.rasterize(pairs, NORTH_UP, assume_crs=CRS, executor="spark")
    with pytest.raises(InputError, match="applies to executor='dask' only"):
        rastercover.rasterize(pairs, NORTH_UP, assume_crs=CRS, scheduler="tcp://127.0.0.1:8786")


def test_missing_dask_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    pairs = [(shapely.box(1000, 4900, 1010, 4910), 1.0)]
    with pytest.raises(InputError, match=r"pip install 'rastercover\[dask\]'"):
        rastercover.rasterize(pairs, NORTH_UP, assume_crs=CRS, executor="dask")
    with pytest.raises(InputError, match=r"rasterize_lazy needs dask .*pip install 'rastercover\[dask\]'"):
        rastercover.rasterize_lazy(pairs, NORTH_UP, assume_crs=CRS)


def _cli(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
        raise SystemExit(0)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_cli_executor_dask_with_a_scheduler(client, tmp_path, gpkg, capsys):
    common = ["rasterize", gpkg, "--bounds", "1000", "4900", "1120", "5000", "--resolution", "2", "--crs", CRS]
    common += ["--tile-size", "10", "-m", "SUM_OF_AREAS", "--no-progress"]
    code, out, err = _cli([*common, "-o", str(tmp_path / "local.tif")], capsys)
    assert code == 0, err
    address = client.scheduler.address
    args = [*common, "--executor", "dask", "--scheduler", address, "-o", str(tmp_path / "dask.tif")]
    code, out, err = _cli(args, capsys)
    assert code == 0, err
    assert "dask.tif: GeoTIFF, 60x50 px, 1 band(s)" in out
    assert "dask dashboard: http://" in err  # a scheduler given by address: its dashboard link
    with rasterio.open(tmp_path / "local.tif") as a, rasterio.open(tmp_path / "dask.tif") as b:
        want, got = a.read(), b.read()
    assert same(got, want) and want.clip(0).sum() > 0
    with distributed.get_task_stream(client) as ts:  # one tile per block: 30 blocks, one task for each busy one
        code, out, err = _cli([*args[:-1], str(tmp_path / "small.tif"), "--block-pixels", "100"], capsys)
    assert code == 0, err
    tasks = {t["key"].rsplit("-", 1)[0] for t in ts.data if t["key"].startswith("rastercover-block-")}
    assert 1 < len(tasks) <= 30 and max(int(k.rsplit("-", 1)[1]) for k in tasks) < 30
    with rasterio.open(tmp_path / "small.tif") as b:
        assert same(b.read(), want)
    code, out, err = _cli([*common, "--scheduler", address, "-o", str(tmp_path / "x.tif")], capsys)
    assert code == 2 and "applies to executor='dask' only" in err


def test_the_dashboard_shows_the_tasks_of_a_run(client):
    """Progress in the Dask dashboard: its page answers, and its task stream holds one task per busy block."""
    import httpx

    pairs = _pairs(2, NORTH_UP)
    with distributed.get_task_stream(client) as stream:
        rastercover.rasterize(
            pairs, NORTH_UP, methods="SUM_OF_AREAS", assume_crs=CRS, block_pixels=400, executor="dask", scheduler=client
        )
    blocks = [t for t in stream.data if str(t["key"]).startswith("rastercover-block-")]
    assert len(blocks) >= 1 and all(t["status"] == "OK" for t in blocks)
    r = httpx.get(client.dashboard_link, follow_redirects=True, timeout=30, trust_env=False)
    assert r.status_code == 200 and "bokeh" in r.text.lower()


def test_local_cluster_workers_keep_glibc_malloc_trimming(client):
    """Dask's MALLOC_TRIM_THRESHOLD_ (it made every block's temporaries fresh mmaps: 1.4x slower) is not set."""
    import os

    seen = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    assert len(seen) == 2 and set(seen.values()) == {None}
    assert set(client.run(lambda: os.environ.get("OMP_NUM_THREADS")).values()) == {"1"}  # Dask's others kept


# ============================================================================================ blocks as specs
def test_a_task_carries_its_block_as_a_few_numbers_and_the_worker_rebuilds_it():
    from rastercover.engine import Block
    from rastercover.engine.distributed import block_spec, spec_block

    for b in plan_blocks(SKEWED, 60):
        assert spec_block(SKEWED, block_spec(b)) == b
    b = plan_blocks(NORTH_UP, 1200)[0]  # 4 rows x 3 columns of tiles, a resumed run left out two of them
    partial = Block(b.index, b.window, tuple(t for t in b.tiles if t.index not in {(0, 1), (3, 2)}))
    spec = block_spec(partial)
    assert spec[2:] == (0, 0, 4, 3, ((0, 1), (3, 2)))
    assert spec_block(NORTH_UP, spec) == partial
    shuffled = Block(b.index, b.window, b.tiles[::-1])  # not row-major: the tiles are listed
    assert spec_block(NORTH_UP, block_spec(shuffled)) == shuffled
    import pickle

    assert len(pickle.dumps(block_spec(plan_blocks(NORTH_UP, 3000)[0]))) < 300  # 30 tiles, a few numbers


@pytest.mark.parametrize("name", ["tiles", "out.zarr"])
def test_a_run_interrupted_locally_resumes_on_dask_with_partial_blocks(client, tmp_path, name):
    pairs = _pairs(5, NORTH_UP, 60)
    kw = dict(methods=["SUM_OF_AREAS", "COUNT_OF_POINTS"], extent="full", assume_crs=CRS)
    want = rastercover.rasterize(pairs, NORTH_UP, **kw).values
    seen = []

    def stop(n):
        seen.append(n)
        if sum(seen) >= 7:
            raise KeyboardInterrupt

    out = tmp_path / name
    with pytest.raises(KeyboardInterrupt):  # blocks of one tile: 7 of the 30 tiles written
        rastercover.rasterize(pairs, NORTH_UP, output=out, block_pixels=100, resume=True, progress=stop, **kw)
    res = rastercover.rasterize(  # blocks of 4 x 3 tiles, some with tiles already written
        pairs, NORTH_UP, output=out, block_pixels=1200, resume=True, executor="dask", scheduler=client, **kw
    )
    assert res.tiles_written == 30 - 7
    if name == "tiles":
        got = rastercover.open_coverage(str(out / "index.vrt")).read(rastercover.Window(0, 0, 60, 50))
    else:
        import xarray as xr

        got = xr.open_zarr(out, mask_and_scale=False)["rastercover"].values
    assert same(got, want)
