"""Every write is checked: a full disk (a real small file system) gives the right file or one clear line and exit 2,
never a plausible broken file; a resumed run continues only its own job (issue 16: "nothing lost, nothing wrong").

The small file system is a tmpfs of a few hundred kilobytes when the tests run as root (CI does), else the same
runs with ``RLIMIT_FSIZE`` (the process may not grow a file past the limit: the kernel refuses the write with
EFBIG), a real fault either way. Every run is a real ``rastercover`` process.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import rasterio

from rastercover.cli.demo import demo_data

ROOT = os.geteuid() == 0
BOUNDS = ["--bounds", "-3000000", "1000000", "3000000", "7000000", "--resolution", "3000", "--crs", "EPSG:2964"]
METHODS = ["-m", "LAST_VALUE_AT_PIXEL_CENTROID", "-m", "COUNT_OF_VALUES_AT_PIXEL_CENTROID"]
METHODS += ["-m", "AREA_WEIGHTED_MEAN_OF_VALUES"]


def _job(out: Path, *extra: str) -> list[str]:
    trees, _relief = demo_data()
    return ["rasterize", trees, "--value", "VEG_ID", *BOUNDS, *METHODS, "--tile-size", "256x256", "--no-progress",
            *extra, "-o", str(out)]  # fmt: skip


class Disk:
    """A small file system at ``path`` (tmpfs as root), or a file size limit for the processes run on it."""

    def __init__(self, path: Path, kb: int) -> None:
        self.path, self.kb = path, kb

    def run(self, args: list[str]) -> subprocess.CompletedProcess:
        limit = None if ROOT else self.kb * 1024

        def preexec() -> None:
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        return subprocess.run(
            [sys.executable, "-m", "rastercover.cli.main", *args],
            capture_output=True,
            text=True,
            preexec_fn=preexec,
            timeout=300,
        )

    def grow(self, kb: int) -> None:
        """More room (``mount -o remount,size=``), as a user frees space."""
        self.kb = kb
        if ROOT:
            subprocess.run(["mount", "-o", f"remount,size={kb}k", str(self.path)], check=True)

    def leftovers(self) -> list[str]:
        return sorted(os.listdir(self.path))


@contextmanager
def small_disk(tmp_path: Path, kb: int):
    path = tmp_path / f"disk{kb}"
    path.mkdir()
    if ROOT:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kb}k", "tmpfs", str(path)], check=True)
    try:
        yield Disk(path, kb)
    finally:
        if ROOT:
            subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture(scope="module")
def reference_file(tmp_path_factory) -> Path:
    """The job, written on a disk with room."""
    out = tmp_path_factory.mktemp("ref") / "r.tif"
    proc = subprocess.run([sys.executable, "-m", "rastercover.cli.main", *_job(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def reference(reference_file) -> np.ndarray:
    """The job's pixels."""
    with rasterio.open(reference_file) as ds:
        return ds.read()


def _read(out: Path) -> np.ndarray:
    if out.suffix == ".zarr":
        import xarray as xr

        with xr.open_dataarray(out, engine="zarr", mask_and_scale=False) as da:
            return da.values
    with rasterio.open(out / "index.vrt" if out.is_dir() else out) as ds:
        return ds.read()


def _one_line_error(proc: subprocess.CompletedProcess, out: Path) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith("_tiff")]  # libtiff's own stderr note
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"rastercover: error: {out}: "), lines[0]
    return lines[0]


FAULT = ("no space left on the device", "a file grew past the largest file", "the device refused a write")


# sizes that cut each output at a different point: the first tiles, or the last flush (the overviews of a COG)
@pytest.mark.parametrize("kb", [150, 1300])
@pytest.mark.parametrize(
    "name,extra",
    [("r.tif", []), ("c.tif", ["--cog"]), ("tiles", []), ("tiles", ["--workers", "2"]), ("z.zarr", [])],
    ids=["geotiff", "cog", "folder", "folder-2-workers", "zarr"],
)
def test_a_full_disk_gives_the_right_file_or_one_clear_error_and_nothing_under_the_name(
    tmp_path, reference, kb, name, extra
):
    with small_disk(tmp_path, kb) as disk:
        out = disk.path / name
        proc = disk.run(_job(out, *extra))
        if proc.returncode == 0:  # it fitted: then every pixel is right
            assert np.array_equal(_read(out), reference, equal_nan=True)
            return
        assert proc.returncode == 2, proc.stderr
        line = _one_line_error(proc, out)
        assert any(f in line for f in FAULT), line
        assert disk.leftovers() == []  # nothing under the final name, no partial work left behind


@pytest.mark.parametrize(
    "fmt,kb",
    # 200 KB: the work file fails; 1340 KB: the netCDF library's own writes fail and it returned success over a
    # truncated file (two million wrong pixels); 1600-3200 KB: a COG's overviews or its copy fail
    [("tif", 200), ("png", 200), ("asc", 200), ("nc", 200), ("nc", 1340), ("cog", 1600), ("cog", 3200)],
)
def test_an_export_onto_a_full_disk_gives_the_right_file_or_fails_cleanly(tmp_path, reference_file, reference, fmt, kb):
    with small_disk(tmp_path, kb) as disk:
        out = disk.path / f"e.{'tif' if fmt == 'cog' else fmt}"
        bands = ["--bands", "3"] if fmt in ("asc", "png") else []
        fmt_option = ["--format", "cog"] if fmt == "cog" else []  # else the name says it
        proc = disk.run(["export", str(reference_file), *bands, *fmt_option, "-o", str(out)])
        if proc.returncode == 0:
            with rasterio.open(out) as ds:
                subs = ds.subdatasets if ds.count == 0 else None
            got = np.stack([rasterio.open(s).read(1) for s in subs]) if subs else _read(out)
            assert np.array_equal(got, reference[[2]] if bands else reference, equal_nan=True)
            return
        assert proc.returncode == 2, proc.stderr
        line = _one_line_error(proc, out)
        assert any(f in line for f in FAULT), line
        assert disk.leftovers() == []


@pytest.mark.parametrize("name", ["tiles", "z.zarr"])
def test_a_resumable_run_keeps_its_work_on_a_full_disk_and_resumes_once_there_is_room(tmp_path, reference, name):
    with small_disk(tmp_path, 300) as disk:
        out = disk.path / name
        proc = disk.run(_job(out, "--resume"))
        assert proc.returncode == 2, proc.stderr
        line = _one_line_error(proc, out)
        assert "run again with --resume to continue" in line
        partial = disk.path / f".{name}.partial"
        assert disk.leftovers() == [partial.name]
        # another job is refused, saying what differs (here the filter)
        other = disk.run(_job(out, "--resume", "--where", "VEG_ID > 1"))
        assert other.returncode == 2
        assert "another job" in other.stderr and "where" in other.stderr, other.stderr
        disk.grow(20_000)
        proc = disk.run(_job(out, "--resume"))
        assert proc.returncode == 0, proc.stderr
        assert np.array_equal(_read(out), reference, equal_nan=True)
        assert disk.leftovers() == [name]


def test_an_unwritable_output_is_one_line_before_anything_is_computed(tmp_path):
    for out in ["/proc/o.tif", "/proc/o", "/proc/o.zarr"]:
        proc = subprocess.run(
            [sys.executable, "-m", "rastercover.cli.main", *_job(Path(out))], capture_output=True, text=True
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith(f"rastercover: error: {out}") and proc.stderr.count("\n") == 1, proc.stderr


# ------------------------------------------------------------------------------------------ values that do not fit
def _features(values):
    import shapely

    return [(shapely.box(10 * i, 0, 10 * i + 10, 10), v) for i, v in enumerate(values)]


def _grid():
    from affine import Affine

    from rastercover import Grid

    return Grid(2 * 10, 2, Affine(5, 0, 0, 0, -5, 10), "EPSG:3857", tile_size=4)


def _rasterize(values, methods, **kw):
    import warnings

    import rastercover

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy RuntimeWarning may reach the user
        return rastercover.rasterize(_features(values), _grid(), methods=methods, assume_crs="EPSG:3857", **kw)


def test_values_too_large_for_the_band_or_for_float64_are_clear_errors_never_infinite_pixels():
    from rastercover import ValueRangeError

    last = ["LAST_VALUE_AT_PIXEL_CENTROID"]
    # 1e308 holds in float64 exactly, not in float32 (it would silently become inf), nor in int16
    assert _rasterize([1e308, 5.0], last, dtype="float64").values[0, 0, 0] == 1e308
    with pytest.raises(ValueRangeError, match="gives 1e\\+308, which does not fit the float32 band.*float64"):
        _rasterize([1e308, 5.0], last)
    with pytest.raises(ValueRangeError, match="does not fit the int16 band"):
        _rasterize([1e308, 5.0], last, dtype="int16")
    # an area-weighted mean of 1e308 overflows float64 on the way (area x value): an error, not an inf pixel
    with pytest.raises(ValueRangeError, match="AREA_WEIGHTED_MEAN_OF_VALUES overflows float64"):
        _rasterize([1e308, 5.0], ["AREA_WEIGHTED_MEAN_OF_VALUES"], dtype="float64")
    # so do sums numpy does not flag (np.bincount), here of two features of 1e308 on one pixel
    import shapely

    import rastercover

    twice = [(shapely.box(0, 0, 20, 10), 1e308), (shapely.box(0, 0, 20, 10), 1e308)]
    for m in (
        "MEAN_OF_VALUES_AT_PIXEL_CENTROID",
        "SUM_OF_VALUES_AT_PIXEL_CENTROID",
        "STDDEV_OF_VALUES_AT_PIXEL_CENTROID",
    ):
        with pytest.raises(ValueRangeError, match=f"{m} overflows float64"):
            rastercover.rasterize(twice, _grid(), methods=[m], dtype="float64", assume_crs="EPSG:3857")
    # postgis semantics: PostgreSQL refuses the cast to real too
    with pytest.raises(ValueRangeError, match="float32 that PostGIS"):
        _rasterize([1e308, 5.0], ["MEAN_OF_VALUES_AT_PIXEL_CENTROID"], semantics="postgis")
    # an infinite value is bad data, named by its feature
    with pytest.raises(ValueRangeError, match="feature 1 has the value -inf; a value must be finite"):
        _rasterize([5.0, -np.inf], last)
    with pytest.raises(ValueError, match="nodata 1e\\+40 does not fit a float32 band"):
        _rasterize([5.0], last, nodata=1e40)


def test_nan_values_are_null_quietly():
    da = _rasterize([np.nan, 5.0], ["AREA_WEIGHTED_MEAN_OF_VALUES", "SUM_OF_VALUES_AT_PIXEL_CENTROID"])
    assert da.values[0, 0, :4].tolist() == [-9999.0, -9999.0, 5.0, 5.0]  # NULL: no value where it lies alone
    assert da.values[1, 0, :4].tolist() == [0.0, 0.0, 5.0, 5.0]


def test_postgis_names_over_63_bytes_are_refused_not_cut():
    from rastercover import InputError
    from rastercover.io.registry import check_sink

    long = "forest_height_" + "x" * 50  # 64 bytes: PostgreSQL would cut it to 63 and name another table
    with pytest.raises(InputError, match="64 bytes long; PostgreSQL cuts names to 63 bytes"):
        check_sink(f"postgresql://localhost/db?table=public.{long}")
    with pytest.raises(InputError, match="column name"):
        check_sink(f"postgresql://localhost/db?table=public.ok&column={'é' * 32}")  # 64 bytes in UTF-8
    check_sink(f"postgresql://localhost/db?table=public.{long[:63]}")  # 63 bytes: fine


def test_a_full_database_disk_is_a_no_space_error_and_leaves_no_table(tmp_path, pg_url, pg_conn):
    """The output table's tablespace on a 400 KB file system: PostgreSQL's "could not extend file" (SQLSTATE 53100)
    is a NoSpaceError naming the table; no table is left under its name, the partial table is kept (and said)."""
    import pwd
    from urllib.parse import quote

    from rastercover import NoSpaceError, rasterize

    if not ROOT:  # PostgreSQL runs as this user: no file system can be mounted for it
        pytest.skip("needs root to mount a small file system for a tablespace (CI runs as root)")
    base = Path(tempfile.mkdtemp(prefix="rc-tablespace-"))  # outside pytest's folder, which postgres cannot enter
    base.chmod(0o755)
    with small_disk(base, 400) as disk:
        pw = pwd.getpwnam("postgres")
        os.chown(disk.path, pw.pw_uid, pw.pw_gid)
        pg_conn.execute(f"CREATE TABLESPACE rc_small LOCATION '{disk.path}'")
        try:
            options = quote("-c default_tablespace=rc_small")
            out = f"{pg_url}?options={options}&table=public.full_out"
            trees, _relief = demo_data()
            kept = r"kept in public\.full_out__rc_partial_\w+: run again with --resume"
            with pytest.raises(NoSpaceError, match=rf"table=public\.full_out: .*{kept}.*server's disk is full"):
                rasterize(
                    trees, _alaska_grid(), value="VEG_ID", output=out,
                    methods=["AREA_WEIGHTED_MEAN_OF_VALUES", "COUNT_OF_VALUES_AT_PIXEL_CENTROID"],
                )  # fmt: skip
            left = pg_conn.execute(
                "SELECT relname FROM pg_class WHERE relname LIKE 'full\\_out%' AND relkind = 'r'"
            ).fetchall()
            assert [r[0][:21] for r in left] == ["full_out__rc_partial_"]  # no final table: the partial, as said
            pg_conn.execute(f"DROP TABLE {left[0][0]}")
        finally:
            pg_conn.execute("DROP TABLESPACE IF EXISTS rc_small")
    shutil.rmtree(base, ignore_errors=True)


def _alaska_grid():
    from affine import Affine

    from rastercover import Grid

    return Grid(2000, 2000, Affine(3000, 0, -3000000, 0, -3000, 7000000), "EPSG:2964", tile_size=256)


def test_the_service_answers_507_and_fails_the_job_when_its_disk_is_full(tmp_path):
    """The service's working folder on a 16 KB file system: an export and a rasterization are 507 problems (never a
    200 with a broken file), a job is ``failed`` with the reason, and nothing is left in the folder."""
    from fastapi.testclient import TestClient

    from rastercover.server.app import create_app
    from rastercover.server.catalog import Catalog
    from rastercover.server.settings import Settings

    served = Path(demo_data()[1]).parent  # the bundled relief and forest
    with small_disk(tmp_path, 16) as disk:
        if not ROOT:  # the server runs in this process: a file size limit would stop pytest itself
            pytest.skip("needs root to mount a small file system (CI runs as root)")
        app = create_app(Catalog.from_sources([served]), Settings(direct_pixels=10**9), temp_dir=str(disk.path))
        with TestClient(app) as c:
            relief = next(x["id"] for x in c.get("/coverages").json() if x["id"].startswith("sr_"))
            r = c.get(f"/coverages/{relief}/export")
            assert r.status_code == 507 and r.headers["content-type"] == "application/problem+json", r.text
            body = {"layer": "trees", "value": "VEG_ID", "like": relief}
            body["methods"] = ["COUNT_OF_VALUES_AT_PIXEL_CENTROID"]
            r = c.post("/rasterize", json=body)
            assert r.status_code == 507, r.text
            assert str(disk.path) not in r.text
            job = c.post("/rasterize", json=body, headers={"Prefer": "respond-async"}).json()
            assert c.app.state.jobs.wait(job["id"], timeout=120).status == "failed"
            status = c.get(f"/jobs/{job['id']}").json()
            assert status["error"]["status"] == 507 and str(disk.path) not in str(status)
            assert c.get(f"/jobs/{job['id']}/result").status_code == 507
        assert disk.leftovers() == []


def test_a_run_never_takes_over_the_partial_output_of_a_live_run(tmp_path):
    """Two runs on one tile folder: the second is refused while the first lives, and proceeds once it is dead."""
    import rastercover

    out = tmp_path / "tiles"
    partial = tmp_path / ".tiles.partial"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from rastercover.io.resume import start_partial; "
         f"start_partial({str(partial)!r}, resume=False, fingerprint='{{}}', what='x'); print('ready', flush=True); "
         "sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "ready"
        for resume in (False, True):
            with pytest.raises(rastercover.OutputError, match=rf"another run \(process {holder.pid}\) is writing it"):
                _rasterize([5.0], ["LAST_VALUE_AT_PIXEL_CENTROID"], output=out, resume=resume)
        assert partial.is_dir()  # untouched
    finally:
        holder.kill()
        holder.wait()
    _rasterize([5.0], ["LAST_VALUE_AT_PIXEL_CENTROID"], output=out)  # its writer is dead: started afresh
    assert sorted(os.listdir(tmp_path)) == ["tiles"]


def test_a_zarr_store_whose_creation_met_a_full_disk_is_removed_or_recreated_never_resumed_half_made(
    tmp_path, reference
):
    """A disk that fills while the store's metadata is written: without --resume nothing is left; with --resume the
    half-made store is started afresh once there is room (it was resumed, and committed without its spatial_ref,
    with exit 0)."""
    import xarray as xr

    with small_disk(tmp_path, 40) as disk:
        out = disk.path / "z.zarr"
        proc = disk.run(_job(out))
        assert proc.returncode == 2 and disk.leftovers() == [], proc.stderr
        proc = disk.run(_job(out, "--resume"))
        assert proc.returncode == 2, proc.stderr
        disk.grow(20_000)
        proc = disk.run(_job(out, "--resume"))
        assert proc.returncode == 0, proc.stderr
        with xr.open_zarr(out) as ds:  # readable, with its CRS and transform
            ref = ds["spatial_ref"].attrs
            assert ref["GeoTransform"].split()[1] == "3000.0" and "Alaska Albers" in ref["crs_wkt"]
        assert np.array_equal(_read(out), reference, equal_nan=True)


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_signal_while_gdal_writes_a_geotiff_is_a_clean_interruption_not_a_write_error(tmp_path, sig):
    """Ctrl-C or SIGTERM raised while GDAL was inside rastercover's checked file (a write) printed tracebacks from
    rasterio's C callbacks and then a false "the device refused a write" error with exit 2."""
    import signal
    import time

    trees, _relief = demo_data()
    out = tmp_path / "k.tif"
    args = [trees, "--value", "VEG_ID", "--bounds", "-6232946.67", "-735684.66", "6363148.44", "9275122.97",
            "--resolution", "500", "--crs", "EPSG:2964", "--tile-size", "512x512", "--no-progress",
            "-m", "LAST_VALUE_AT_PIXEL_CENTROID", "-m", "AREA_WEIGHTED_MEAN_OF_VALUES", "--workers", "2"]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "rastercover.cli.main", "rasterize", *args, "-o", str(out)],
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until GDAL writes the file: its temporary copy grows
        parts = [p for p in tmp_path.iterdir() if p.name.startswith(".k.tif.part-")]
        if parts and parts[0].exists() and parts[0].stat().st_size > 200_000:
            break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("the run never wrote its GeoTIFF")
    if sig == "SIGINT":
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the process group
    else:
        proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == (143 if sig == "SIGTERM" else 130), err
    assert "Traceback" not in err and "refused a write" not in err and "Exception ignored" not in err, err
    assert sorted(os.listdir(tmp_path)) == []


def test_an_interruption_inside_a_checked_write_is_raised_as_itself(tmp_path, capfd):
    """A real signal arriving exactly while GDAL is inside the checked file's write, delivered as the command
    line's handlers deliver Ctrl-C (deferred to the end of the GDAL call): the interruption comes out of
    checked_raster as itself, with nothing printed from rasterio's C callbacks (it came out as a "writing
    failed" OutputError after two "Exception ignored" tracebacks)."""
    import signal

    import rastercover.io.checked as checked

    hits = []

    def handler(signum, frame):
        f = frame
        while f is not None:
            if f.f_code.co_filename == checked.__file__ and f.f_code.co_name == "write":
                hits.append(1)
                signal.setitimer(signal.ITIMER_REAL, 0)
                if not checked.defer_interruption(KeyboardInterrupt()):
                    raise KeyboardInterrupt
                return
            f = f.f_back

    data = np.random.default_rng(0).random((1, 4096, 4096)).astype("float32")  # incompressible: many writes
    profile = dict(driver="GTiff", width=4096, height=4096, count=1, dtype="float32", tiled=True, compress="deflate")
    previous = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
        with pytest.raises(KeyboardInterrupt):
            for _ in range(20):  # until a tick lands inside a write
                with checked.checked_raster(str(tmp_path / "a.tif"), **profile) as ds, checked.uninterrupted():
                    ds.write(data)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert hits
    err = capfd.readouterr().err
    assert "Exception ignored" not in err and "Traceback" not in err, err
