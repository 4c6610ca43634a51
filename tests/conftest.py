"""Shared fixtures: small rasters built in code, the bundled real datasets, a throwaway PostGIS; the skip policy.

A test skips only when something it needs is not installed, and says what. ``./scripts/test`` (the whole check,
which installs everything first) sets ``RASTERCOVER_NO_SKIP=1``: then any skip is a failure with its reason.
"""

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

NO_SKIP_ENV = "RASTERCOVER_NO_SKIP"
NO_SKIP = os.environ.get(NO_SKIP_ENV) == "1"
REALDATA = Path(__file__).resolve().parent / "realdata"  # real public datasets, bundled (licences: its README.md)
INSTALL_HINT = "run ./scripts/test (as root it installs them; otherwise it prints the apt-get command to run)"
NEEDS_ROOT = "needs root"  # the start of the reason of the only skips allowed under RASTERCOVER_NO_SKIP=1, as non-root


def _allowed(report) -> bool:
    """A skip allowed in a run that skips nothing: a test that mounts a file system, when not run as root."""
    return os.geteuid() != 0 and NEEDS_ROOT in _skip_reason(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With ``RASTERCOVER_NO_SKIP=1`` (``./scripts/test`` sets it) a skipped test is a failure that says why.

    The one exception: the tests that mount a small file system skip when not run as root (CI runs as root).
    """
    outcome = yield
    report = outcome.get_result()
    if NO_SKIP and report.skipped and not hasattr(report, "wasxfail") and not _allowed(report):
        report.outcome = "failed"
        report.longrepr = f"{_skip_reason(report)}\n{NO_SKIP_ENV}=1: this run skips nothing ({INSTALL_HINT})"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """The same for a whole module skipped while it is collected (``pytest.importorskip`` at module level)."""
    outcome = yield
    report = outcome.get_result()
    if NO_SKIP and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"{_skip_reason(report)}\n{NO_SKIP_ENV}=1: this run skips nothing ({INSTALL_HINT})"


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: reason")
        return f"skipped at {longrepr[0]}:{longrepr[1]}: {longrepr[2]}"
    return f"skipped: {longrepr}"


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
    """The real public datasets bundled with the tests (``tests/realdata``; licences in its README.md)."""
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
