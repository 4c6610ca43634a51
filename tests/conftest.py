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

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
if not REALDATA.exists():
    REALDATA = Path(os.environ.get("RASTERCOVER_REALDATA", "/work/shared/realdata"))


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
    if not REALDATA.exists():
        pytest.skip("../shared/realdata is not beside the project")
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
