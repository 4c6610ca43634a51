"""Bounds on what the service holds at once: export slots, and GDAL's block cache.

Each export (``/coverages/{id}/export``, WCS GetCoverage, a ``/rasterize`` answered directly) takes one of
``Settings.max_exports`` slots while its file is computed and written; when every slot is taken, the request is
refused at once with 429 and ``Retry-After`` (:class:`~rastercover.server.problems.BusyError`) rather than
queued, so that neither memory nor waiting requests pile up. Sending the finished file needs no slot.

GDAL keeps the blocks it reads in a cache shared by the whole process, up to 5 % of the RAM by default, and
keeps them: :func:`set_gdal_cache` bounds it when the service starts (``Settings.gdal_cache_mb``). And the C
allocator (glibc's) keeps the memory exports free in its heaps rather than give it back: when the last running
export ends, :func:`trim_memory` asks it to give back what it can (``malloc_trim``), so that a server between
bursts of exports holds about its idle size plus GDAL's cache.

Examples
--------
>>> slots = ExportSlots(1)
>>> with slots.hold():
...     slots.in_use
...     try:
...         with slots.hold():
...             pass
...     except Exception as exc:
...         print(type(exc).__name__, exc.retry_after)
1
BusyError 5
>>> slots.in_use
0
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import threading
from collections.abc import Callable, Iterator

from .problems import BusyError

__all__ = ["ExportSlots", "gdal_cache_bytes", "set_gdal_cache", "trim_memory"]


class ExportSlots:
    """At most ``limit`` exports at once; one more gets :class:`BusyError` (HTTP 429) at once.

    Parameters
    ----------
    limit
        Slots (at least 1).
    retry_after
        Seconds a refused client is asked to wait (``Retry-After``).
    on_idle
        Called (in a thread of its own) each time the last slot taken is given back.
    """

    def __init__(self, limit: int, retry_after: int = 5, on_idle: Callable[[], None] | None = None) -> None:
        self.limit, self.retry_after = max(1, int(limit)), int(retry_after)
        self._on_idle = on_idle
        self._used = 0
        self._lock = threading.Lock()

    @property
    def in_use(self) -> int:
        """Slots taken now."""
        return self._used

    def acquire(self, what: str = "export") -> None:
        """Take a slot; :class:`BusyError` when every one is taken (then nothing is taken)."""
        with self._lock:
            if self._used >= self.limit:
                raise BusyError(
                    f"{self._used} exports are running, the limit is {self.limit}: retry the {what} in "
                    f"{self.retry_after} s",
                    retry_after=self.retry_after,
                )
            self._used += 1

    def release(self) -> None:
        """Give a slot back."""
        with self._lock:
            self._used = max(0, self._used - 1)
            idle = self._used == 0
        if idle and self._on_idle is not None:
            threading.Thread(target=self._on_idle, name="rastercover-idle", daemon=True).start()

    @contextlib.contextmanager
    def hold(self, what: str = "export") -> Iterator[None]:
        """A slot for the ``with`` block (:meth:`acquire`, then :meth:`release` however the block ends)."""
        self.acquire(what)
        try:
            yield
        finally:
            self.release()


def gdal_cache_bytes() -> int:
    """The size of GDAL's block cache now, in bytes."""
    from rasterio.env import get_gdal_config

    value = get_gdal_config("GDAL_CACHEMAX")
    return int(value) if value is not None else 0


def set_gdal_cache(mb: int) -> None:
    """Bound GDAL's block cache to ``mb`` MB for the whole process (0: leave it as it is, GDAL's default).

    rasterio passes ``GDAL_CACHEMAX`` to ``GDALSetCacheMax64`` in bytes, so that it applies at once, also to
    a cache already in use (GDAL reads the environment variable only once, at its first use).
    """
    if mb and mb > 0:
        from rasterio.env import set_gdal_config

        set_gdal_config("GDAL_CACHEMAX", int(mb) * 1024 * 1024)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows): nothing to trim
        return None


def trim_memory() -> None:
    """Give the memory the C allocator holds free back to the system (glibc's ``malloc_trim``; else nothing)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
