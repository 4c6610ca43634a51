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
