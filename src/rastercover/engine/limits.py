"""Size guards: what a plan refuses before reading anything, so that no face runs out of memory or time.

Every face runs plans (:func:`rastercover.plan_rasterize`, :func:`rastercover.exporting.plan_export`), and the plans
call these checks as soon as the output grid is known, before the source is opened or a pixel read: the
command line, the Python API, lazy arrays and the HTTP service refuse the same requests with the same
:class:`~rastercover.errors.TooLargeError`, whose one-line message gives the figure and the option that
raises the limit.

The rules, and their defaults (``max_pixels`` counts pixels times bands):

* **A result held in memory** (``output=None``: a DataArray): pixels x bands x the band type's size at most
  half the memory available when the plan is made (:func:`available_memory`), unless ``max_pixels`` is given
  (then it is the limit). A lazy result holds nothing until computed: no default limit.
* **One file** (a GeoTIFF or COG, an export in any format): at most :data:`MAX_FILE_PIXELS` (``2**36``, about
  6.9e10: a 262144 x 262144 px band, 256 GiB of float32 before compression), unless ``max_pixels`` is given.
  Beyond it a single file takes hours to write and read and most tools choke on it; a tile folder, a ``.zarr``
  store or a PostGIS table hold such a coverage in pieces, written in parallel and resumable. A GeoTIFF
  cannot exceed :data:`~rastercover.grid.MAX_SIDE` px a side whatever the limit (the :class:`Grid` refuses
  larger sides already).
* **Pieces** (a tile folder, a ``.zarr`` store, a PostGIS table): no pixel limit unless ``max_pixels`` is
  given; the tiling rules below bound them.
* **The tiling** (:func:`check_tiling`). Every tile costs the same fixed work whatever its size (a block entry,
  a file, chunk or row with its header, an entry in every index; about a millisecond), so a tiling is refused
  when:

  - the layout has more than :data:`MAX_LAYOUT_TILES` (10^8) tiles: planning keeps one byte per tile of the
    layout (the map of the tiles a sparse coverage has, or that features reach);
  - the output would hold more than :data:`MAX_TILES` (10^7) tiles (with ``extent="touched"``: the tiles the
    features' envelopes reach, counted when the plan knows them);
  - tiles are smaller than :data:`MIN_TILE_PIXELS` (256 px, e.g. 16 x 16) and there are more than
    :data:`SMALL_TILINGS` (10^4) of them: such a tiling spends more on its tiles than on their pixels.

  A small grid may be tiled any way. The message gives the count and a ``--tile-size`` that fits.

Examples
--------
>>> check_size(1_000_000, 1_000_000, 1, 4, output="file")
Traceback (most recent call last):
...
rastercover.errors.TooLargeError: the output would be one file of 1000000x1000000 px x 1 band(s) = 1.0e12 pixels, ...
>>> check_tiling(2500, 2500, (1, 1), 6_250_000)
Traceback (most recent call last):
...
rastercover.errors.TooLargeError: a tiling of 6250000 tiles of 1x1 px ... e.g. 256x256 (100 tiles)
"""

from __future__ import annotations

import math
import os

from ..errors import TooLargeError

__all__ = [
    "MAX_FILE_PIXELS",
    "MAX_LAYOUT_TILES",
    "MAX_TILES",
    "MIN_TILE_PIXELS",
    "OUTPUTS",
    "SMALL_TILINGS",
    "available_memory",
    "check_size",
    "check_tiling",
    "count_text",
    "memory_pixel_limit",
    "too_many_tiles",
]

#: The most pixels (bands included) one output file holds unless ``max_pixels`` says otherwise.
MAX_FILE_PIXELS = 2**36
#: The most tiles a plan's layout may have (planning keeps one byte per tile of the layout).
MAX_LAYOUT_TILES = 10**8
#: The most tiles an output may hold.
MAX_TILES = 10**7
#: Tiles smaller than this many pixels are refused when there are more than :data:`SMALL_TILINGS` of them.
MIN_TILE_PIXELS = 256
#: Up to this many tiles, any tile size is accepted.
SMALL_TILINGS = 10**4
#: What an output is, for the size rules: held in memory, one file, pieces (tiles, chunks, rows), or a lazy array.
OUTPUTS = ("memory", "file", "pieces", "lazy")
#: Assumed available memory where the system does not say (bytes).
_FALLBACK_MEMORY = 4 * 2**30


def count_text(n: float) -> str:
    """A count as people read it in a message: exact below ten million, then ``1.2e12``.

    Examples
    --------
    >>> count_text(78000), count_text(10**12), count_text(2**36)
    ('78000', '1.0e12', '6.9e10')
    """
    if n < 10**7:
        return str(int(n))
    mantissa, exponent = f"{n:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _bytes(n: float) -> str:
    """A size in B, kB, MB, GB, TB, PB (powers of 1000), e.g. ``16 TB``."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 999.5 or unit == "PB":
            return f"{n:.0f} {unit}" if n >= 10 or unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    raise AssertionError  # pragma: no cover


def _cgroup_room() -> int | None:
    """Bytes this process's cgroup (v2) may still allocate under its ``memory.max``, or None without a limit."""
    try:
        with open("/proc/self/cgroup", encoding="ascii") as f:
            path = next((line.split("::", 1)[1].strip() for line in f if line.startswith("0::")), None)
        if path is None:
            return None
        base = os.path.join("/sys/fs/cgroup", path.lstrip("/"))
        with open(os.path.join(base, "memory.max"), encoding="ascii") as f:
            limit = f.read().strip()
        if limit == "max":
            return None
        with open(os.path.join(base, "memory.current"), encoding="ascii") as f:
            current = int(f.read().strip())
        return max(0, int(limit) - current)
    except (OSError, ValueError):
        return None


def available_memory() -> int:
    """Bytes of memory available to this process now: the system's available memory (``MemAvailable``:
    free memory plus the caches it can reclaim), or less when a cgroup limit (a container) leaves less room.

    Falls back to free pages (``os.sysconf``), then to 4 GiB where the system says nothing.

    Examples
    --------
    >>> available_memory() > 0
    True
    """
    found = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    found = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        found = None
    if found is None:
        try:
            found = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            found = _FALLBACK_MEMORY
    room = _cgroup_room()
    return found if room is None else min(found, room)


def memory_pixel_limit(itemsize: int, available: int | None = None) -> int:
    """The default limit of a result held in memory, in pixels (bands included): half the available memory
    divided by the band type's size.

    Examples
    --------
    >>> memory_pixel_limit(4, available=8 * 10**9)
    1000000000
    """
    if available is None:
        available = available_memory()
    return max(1, available // 2 // max(1, int(itemsize)))


def check_size(
    width: int,
    height: int,
    bands: int,
    itemsize: int,
    *,
    output: str,
    max_pixels: int | None = None,
    available: int | None = None,
) -> None:
    """Refuse an output of more pixels (bands included) than its kind allows (see the module's rules).

    Parameters
    ----------
    width, height, bands
        The output's size.
    itemsize
        Bytes per pixel of a band (4 for float32).
    output
        ``"memory"`` (a DataArray), ``"file"`` (one file), ``"pieces"`` (tiles, chunks or rows) or ``"lazy"``.
    max_pixels
        The limit given by the user (or a server): it replaces the default of every kind.
    available
        Bytes of available memory (default: :func:`available_memory`, read only for a result in memory).

    Raises
    ------
    TooLargeError
        With the figures and what to do (``max_pixels=`` / ``--max-pixels`` raises the limit).

    Examples
    --------
    >>> check_size(1_000_000, 1_000_000, 4, 4, output="memory", available=22 * 10**9)
    Traceback (most recent call last):
    ...
    rastercover.errors.TooLargeError: the result would hold 4.0e12 pixels (...: 16 TB in memory), more than half of...
    >>> check_size(100, 60, 1, 4, output="pieces", max_pixels=4000)
    Traceback (most recent call last):
    ...
    rastercover.errors.TooLargeError: the output has 6000 pixels (100x60 px x 1 band(s)), the limit is 4000 ...
    >>> check_size(70711, 70711, 1, 4, output="pieces")   # pieces: bounded by the tiling rules only
    """
    if output not in OUTPUTS:
        raise ValueError(f"unknown output kind {output!r}: one of {', '.join(OUTPUTS)}")
    n = int(width) * int(height) * int(bands)
    size = f"{width}x{height} px x {bands} band(s)"
    if max_pixels is not None:
        if n > max_pixels:
            raise TooLargeError(
                f"the output has {n} pixels ({size}), the limit is {max_pixels} "
                "(max_pixels= / --max-pixels): give a bbox, or fewer methods"
            )
        return
    if output == "memory":
        room = available_memory() if available is None else available
        limit = memory_pixel_limit(itemsize, room)
        if n > limit:
            raise TooLargeError(
                f"the result would hold {count_text(n)} pixels ({size} of {itemsize} bytes: {_bytes(n * itemsize)} in "
                f"memory), more than half of the {_bytes(room)} available: write it to a file (output=...), give a "
                "bbox, or raise max_pixels= / --max-pixels"
            )
    elif output == "file" and n > MAX_FILE_PIXELS:
        raise TooLargeError(
            f"the output would be one file of {size} = {count_text(n)} pixels, over the single-file limit of "
            f"{count_text(MAX_FILE_PIXELS)}: write a tile folder, a .zarr store or a PostGIS table, give a bbox, "
            "or raise max_pixels= / --max-pixels"
        )


def _suggest(width: int, height: int, tile: tuple[int, int]) -> str:
    """A square tile size that fits the rules on this grid, and its tile count."""
    side = max(256, 2 ** math.ceil(math.log2(max(16, math.isqrt(max(tile[0] * tile[1], 1))))))
    while True:
        n = -(-width // side) * -(-height // side)
        if n <= MAX_TILES or side >= max(width, height):
            return f"{side}x{side} ({count_text(n)} tiles)"
        side *= 2


def too_many_tiles(tile_size: tuple[int, int], n_tiles: int) -> bool:
    """True when ``n_tiles`` tiles of ``tile_size`` break a tiling rule (:func:`check_tiling` would refuse them).

    Examples
    --------
    >>> too_many_tiles((256, 256), 76_729), too_many_tiles((1, 1), 10_001), too_many_tiles((1, 1), 10_000)
    (False, True, False)
    """
    tw, th = (int(v) for v in tile_size)
    return n_tiles > MAX_TILES or (tw * th < MIN_TILE_PIXELS and n_tiles > SMALL_TILINGS)


def check_tiling(
    width: int,
    height: int,
    tile_size: tuple[int, int],
    n_tiles: int,
    *,
    layout_only: bool = False,
    touched: bool = False,
) -> None:
    """Refuse a tiling that costs more than its pixels (see the module's rules).

    Parameters
    ----------
    width, height
        The grid's size in pixels.
    tile_size
        ``(tile_width, tile_height)``.
    n_tiles
        The tiles the output holds (every tile of the layout, a sparse reference's tiles, or the tiles the
        features reach with ``extent="touched"``).
    layout_only
        Check the layout alone (with ``extent="touched"``, before the tiles the features reach are known).
    touched
        The output holds the tiles the features reach (``extent="touched"``); the message then does not suggest it.

    Raises
    ------
    TooLargeError
        With the count and a ``--tile-size`` that fits.

    Examples
    --------
    >>> check_tiling(2500, 2500, (100, 100), 625)
    >>> check_tiling(100, 100, (1, 1), 10_000)          # a small grid: any tiling
    >>> check_tiling(1_000_000, 1_000_000, (256, 256), 15_264_649)
    Traceback (most recent call last):
    ...
    rastercover.errors.TooLargeError: the output would hold 1.5e7 tiles ... e.g. 512x512 (3818116 tiles)...
    """
    tw, th = (int(v) for v in tile_size)
    rows, cols = -(-int(height) // th), -(-int(width) // tw)
    layout = rows * cols
    grid = f"{width}x{height} px"
    fix = f"give a larger --tile-size (tile_size=), e.g. {_suggest(width, height, (tw, th))}"
    if layout > MAX_LAYOUT_TILES:
        raise TooLargeError(
            f"a layout of {count_text(layout)} tiles of {tw}x{th} px ({rows} rows x {cols} columns over {grid}) is "
            f"more than the {count_text(MAX_LAYOUT_TILES)} a plan can map: {fix}, or a bbox"
        )
    if layout_only:
        return
    if n_tiles > MAX_TILES:
        raise TooLargeError(
            f"the output would hold {count_text(n_tiles)} tiles of {tw}x{th} px ({grid}), more than the "
            f"{count_text(MAX_TILES)} a plan may hold: {fix}"
            + (", or a bbox" if touched else ", a bbox, or extent touched")
        )
    if tw * th < MIN_TILE_PIXELS and n_tiles > SMALL_TILINGS:
        raise TooLargeError(
            f"a tiling of {count_text(n_tiles)} tiles of {tw}x{th} px ({grid}) is absurd: tiles under "
            f"{MIN_TILE_PIXELS} px cost more than their pixels when there are over {count_text(SMALL_TILINGS)} of "
            f"them; {fix}"
        )
