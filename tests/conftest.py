"""Shared fixtures: small rasters and vector files built in code, and the real datasets of ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("ci")

SHARED_ENV = "RASTERCOVER_SHARED"


def shared_dir() -> Path:
    """The shared folder (real datasets): ``$RASTERCOVER_SHARED`` if set, else ``shared`` beside the repository."""
    env = os.environ.get(SHARED_ENV)
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[2] / "shared"


REALDATA = shared_dir() / "realdata"


def write_raster(
    path, width, height, transform, crs="EPSG:32198", *, dtype="float32", tiled=False, block=256, nodata=None, value=0
):
    """Write a one-band GeoTIFF filled with ``value`` and return its path."""
    profile = dict(
        driver="GTiff", width=width, height=height, count=1, dtype=dtype, crs=crs, transform=transform, nodata=nodata
    )
    if tiled:
        profile.update(tiled=True, blockxsize=block, blockysize=block)
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(np.full((1, height, width), value, dtype=dtype))
    return str(path)


@pytest.fixture
def realdata() -> Path:
    """The real datasets (``realdata`` of the shared folder); skipped when absent, an error when set but wrong."""
    if not REALDATA.is_dir():
        where = f"no real datasets at {REALDATA}"
        if os.environ.get(SHARED_ENV):
            pytest.fail(f"{where}: {SHARED_ENV} names a folder without realdata/")
        pytest.skip(f"{where}: put the shared folder beside the repository (../shared) or set {SHARED_ENV}")
    return REALDATA


@pytest.fixture
def north_up() -> Affine:
    return Affine(30, 0, 150000, 0, -30, 420000)


@pytest.fixture(scope="session")
def pg_cluster():
    """A throwaway PostGIS cluster for the whole run (see tests/pgcluster.py); skipped only outside CI."""
    from tests.pgcluster import find_bindir, start_cluster

    try:
        import psycopg
    except ImportError:
        psycopg = None
    if find_bindir() is None or psycopg is None:
        if os.environ.get("RASTERCOVER_REQUIRE_POSTGIS") == "1":
            pytest.fail("PostGIS tests are required here: install postgresql-15-postgis-3 and psycopg")
        pytest.skip("PostgreSQL with PostGIS (postgresql-15-postgis-3) or psycopg is not installed")
    cluster = start_cluster()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def pg_url(pg_cluster) -> str:
    """libpq URL of the throwaway database (postgis and postgis_raster installed)."""
    return pg_cluster.url()


@pytest.fixture
def pg_conn(pg_url):
    """An autocommit psycopg connection to the throwaway database."""
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        yield conn
