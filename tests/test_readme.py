"""The README's examples run as written, from a directory that looks like the repository's root, on the bundled
data (tests/markdown_blocks.py): the CLI, Python, PostGIS (a database ``gis`` of the throwaway cluster, reached
through libpq's environment as the README says), regridding, export and the service (started as the README
starts it, then driven with curl and GDAL's WCS client)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import psycopg
import pytest
import rasterio

from rastercover.methods import registry

from .markdown_blocks import ROOT, blocks, not_run, run_page

README = ROOT / "README.md"


@pytest.fixture
def gis_env(pg_cluster, pg_conn) -> dict[str, str]:
    """libpq's environment for a database ``gis`` with postgis and postgis_raster, as the README assumes."""
    pg_conn.execute("DROP DATABASE IF EXISTS gis WITH (FORCE)")
    pg_conn.execute("CREATE DATABASE gis")
    with psycopg.connect(pg_cluster.url("gis"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION postgis")
        conn.execute("CREATE EXTENSION postgis_raster")
    return {"PGHOST": "127.0.0.1", "PGPORT": str(pg_cluster.port), "PGUSER": "postgres"}


def test_every_readme_example_runs_as_written(tmp_path, gis_env, monkeypatch):
    # the README registers a method (which a docstring example may have registered in this process already)
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    registry._REGISTRY.pop("ANY_POLYGON_AT_PIXEL_CENTROID", None)
    env = {
        **gis_env,
        "HOME": str(tmp_path),  # GDAL's WCS client caches documents under ~/.gdal
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "RASTERCOVER_KERNELS": "numpy",  # no compile on a machine without numba's cache (the bits are the same)
    }
    work = tmp_path / "repo"
    work.mkdir()
    ran = run_page(README, work, env=env)
    runnable = [b for b in blocks(README) if b.lang in ("python", "sh")]
    assert len(ran) == len(runnable) - len(not_run(README)) and len(ran) >= 12

    # what the examples wrote holds what they say
    with rasterio.open(work / "forest_on_relief.tif") as ds:
        assert ds.count == 3 and ds.descriptions[0] == "VALUE_OF_BIGGEST"
        assert set(np.unique(ds.read(1))) - {ds.nodata} == {24, 25, 50}
        assert ds.tags(2)["METHOD"] == "PROPORTION_OF_COVERED_AREA"
    assert "<Category>Mixed Trees</Category>" in (work / "forest_on_relief.tif.aux.xml").read_text()
    assert (work / "forest_tiles" / "index.vrt").is_file()
    assert (work / "forest_biggest.asc").is_file() and (work / "forest_biggest.prj").is_file()
    with rasterio.open(work / "forest_cover.tif") as http, rasterio.open(work / "forest_on_relief.tif") as cli:
        assert np.array_equal(http.read(1), cli.read(2))  # over HTTP as on the command line, bit for bit
    with rasterio.open(work / "forest_job.tif") as job, rasterio.open(work / "forest_on_relief.tif") as cli:
        assert np.array_equal(job.read(1), cli.read(1))
    with rasterio.open(work / "landcover_on_dem.tif") as ds:
        assert ds.count == 4
    rows = subprocess.run(
        ["psql", "-At", "-d", "gis", "-c",
         "SELECT (SELECT count(*) FROM forest_on_relief), (SELECT count(*) FROM relief), "
         "(SELECT count(*) FROM relief r JOIN forest_on_relief f USING (rid) WHERE r.rast ~= f.rast)"],
        env={**env, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    out_rows, ref_rows, same_place = map(int, rows.strip().split("|"))
    assert out_rows == ref_rows == same_place > 30  # tile for tile with the reference table, rid for rid


def test_the_readme_runs_nearly_everything_it_shows():
    """The blocks not run are few, and each says why."""
    skipped = not_run(README)
    assert [b.directive[1] != "" for b in skipped] == [True] * len(skipped)
    assert len(skipped) <= 3, [b.where() for b in skipped]


def test_the_readme_links_stay_inside_the_repository():
    text = README.read_text(encoding="utf-8")
    import re

    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if target.startswith(("http://", "https://")):
            continue
        assert (ROOT / target).exists(), f"README links to {target}, which is not in the repository"
    assert "../shared" not in text


def test_the_demo_command_is_the_quick_starts(tmp_path):
    """./scripts/demo runs `rastercover demo --output demo-output/alaska_forest.tif` once installed."""
    script = (ROOT / "scripts" / "demo").read_text()
    assert "exec .venv/bin/rastercover demo --output demo-output/alaska_forest.tif" in script
    out = tmp_path / "demo.tif"
    done = subprocess.run(
        [str(Path(__import__("sys").executable).with_name("rastercover")), "demo", "--output", str(out),
         "--no-progress"], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Deciduous (24)" in done.stdout and json.dumps("Mixed Trees")[1:-1] in done.stdout
