"""The service's settings: limits, API key, CORS. One frozen value shared by every router.

Examples
--------
>>> s = Settings(api_key="k", max_pixels=1_000_000)
>>> s.max_pixels, s.max_vertices, s.api_key_required, s.max_exports, s.gdal_cache_mb
(1000000, 100000, True, 4, 256)

Memory
------
What the service holds at most is about: the Python process and its libraries (about 150 MB), plus GDAL's
block cache (``gdal_cache_mb``, shared by every request), plus the working memory of each export running
(``max_exports`` of them) and of each job running (``max_jobs``): about 50 MB each for exports of up to
3000 x 3000 px of float32 (more for bigger ones). With the defaults: about 150 + 256 + 6 x 50 = 700 MB whatever
the load (``benchmarks/bench_service_memory.py``, 16 clients: a peak of 591 MB, 241 MB once idle; 1,353 MB
and 1,301 MB before these bounds); requests over ``max_exports`` are refused with 429 rather than queued.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    """Limits and access of the service (the spec's "Bad input and safety").

    Attributes
    ----------
    api_key
        When set, every endpoint but ``/healthz`` needs it (``X-API-Key`` header or ``api_key`` query
        parameter). Default: the ``RASTERCOVER_API_KEY`` environment variable, else none.
    max_pixels
        Pixels per export or rasterize output, bands included (413 above).
    max_vertices
        Vertices of a clip geometry or of a GeoJSON body (413 above).
    max_body_bytes
        Size of a request body (413 above).
    max_jobs
        Jobs (rasterize and export) running at once (others wait in the queue).
    max_queued
        Jobs waiting for a free slot at most (429 when ``max_jobs`` run and this many wait).
    job_ttl
        Seconds a finished job's result is kept for download before it is deleted.
    direct_pixels
        A rasterize request (or an export POST) up to this many pixels is answered directly; larger ones become
        jobs (202). An export GET is always answered directly unless it says ``Prefer: respond-async``.
    cors_origins
        Origins allowed by CORS (none: CORS off).
    max_exports
        Exports answered at once (``/coverages/{id}/export``, WCS GetCoverage, a ``/rasterize`` answered
        directly); one more is refused with 429 and ``Retry-After: export_retry_after``.
    export_retry_after
        Seconds a client refused for ``max_exports`` is asked to wait.
    gdal_cache_mb
        GDAL's block cache in MB, set when the service starts (0: leave GDAL's own default, 5 % of the RAM).
    """

    api_key: str | None = None
    max_pixels: int = 100_000_000
    max_vertices: int = 100_000
    max_body_bytes: int = 10 * 1024 * 1024
    max_jobs: int = 2
    max_queued: int = 8
    job_ttl: float = 3600.0
    direct_pixels: int = 4_000_000
    cors_origins: tuple[str, ...] = ()
    max_exports: int = 4
    export_retry_after: int = 5
    gdal_cache_mb: int = 256

    @property
    def api_key_required(self) -> bool:
        """True when requests need the API key."""
        return bool(self.api_key)

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        """Settings with ``api_key`` from ``RASTERCOVER_API_KEY`` unless given."""
        if overrides.get("api_key") is None:
            overrides["api_key"] = os.environ.get("RASTERCOVER_API_KEY") or None
        return cls(**overrides)
