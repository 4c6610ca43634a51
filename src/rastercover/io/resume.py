"""Partial outputs that a later run can continue: the tile folder and the Zarr store.

A file output is built in place under a stable hidden name beside the target, ``.{name}.partial``, and
renamed to its final name when complete. While it is being built it holds a ``.rastercover/`` folder with
``job.json`` (the grid, bands, type and nodata of the run, checked when resuming) and, for outputs whose
tiles cannot be recognised as complete from their own files (Zarr chunks), one marker file per batch of
tiles written (``done/r{row}_c{col}-{random}``, named for the batch's first tile and listing its tiles, one
``row col`` line each; created, under a temporary name then renamed, only after the tiles' data is stored).
A file per batch, not per tile: creating a file costs about as much as storing a chunk. The
``.rastercover/`` folder is removed before the final rename.

A run started with ``resume=True`` keeps its partial output when it fails or is interrupted; the next run
with ``resume=True`` continues it (only missing tiles are computed). A run without ``resume`` starts afresh
(an existing partial output is discarded) and removes its partial output when it fails.

Examples
--------
>>> import os, tempfile
>>> from affine import Affine
>>> from rastercover.grid import Grid
>>> d = tempfile.mkdtemp()
>>> part = partial_sibling(os.path.join(d, "out.zarr"))
>>> os.path.basename(part)
'.out.zarr.partial'
>>> fp = job_fingerprint(Grid(4, 4, Affine(1, 0, 0, 0, -1, 4), "EPSG:32198", 2), ["COUNT"], "uint8", 0)
>>> start_partial(part, resume=True, fingerprint=fp, what="out.zarr")     # nothing to continue: a fresh start
False
>>> mark_done(part, [(0, 1), (1, 1)])
>>> start_partial(part, resume=True, fingerprint=fp, what="out.zarr"), sorted(marked_tiles(part))
(True, [(0, 1), (1, 1)])
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterable, Sequence

import numpy as np

from ..errors import InputError
from ..grid import Grid
from .atomic import discard

__all__ = [
    "MARK_DIR",
    "drop_marks",
    "job_fingerprint",
    "mark_done",
    "marked_tiles",
    "partial_sibling",
    "start_partial",
    "tiles_digest",
]

MARK_DIR = ".rastercover"
_MARK = re.compile(r"^r\d+_c\d+(-[0-9a-f]+)?$")


def partial_sibling(path: str) -> str:
    """The stable name under which the output ``path`` is built: ``.{name}.partial`` in the same folder."""
    parent, name = os.path.split(os.path.abspath(path.rstrip("/\\") or path))
    return os.path.join(parent, f".{name}.partial")


def job_fingerprint(grid: Grid, bands: Sequence[str], dtype: np.dtype | str, nodata: float) -> str:
    """What a resumed run must share with the interrupted one, as JSON text."""
    nodata = float(nodata)
    return json.dumps(
        {
            "rastercover": 1,
            "size": [grid.width, grid.height],
            "tile_size": list(grid.tile_size),
            "transform": list(grid.transform)[:6],
            "crs": grid.crs.to_wkt() if grid.crs is not None else None,
            "bands": list(bands),
            "dtype": np.dtype(dtype).name,
            "nodata": None if np.isnan(nodata) else nodata,
            **({"tiles": tiles_digest(grid)} if grid.present is not None else {}),
        },
        sort_keys=True,
    )


def tiles_digest(grid: Grid) -> str:
    """A digest of the tiles a sparse grid has (and their stored origins), for fingerprints."""
    import hashlib

    present = grid.present
    h = hashlib.sha256(np.packbits(present.mask, axis=None).tobytes())
    h.update(repr(present.origins).encode())
    return h.hexdigest()[:32]


def _write_text(path: str, text: str) -> None:
    tmp = f"{path}.part-{uuid.uuid4().hex[:12]}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def start_partial(path: str, *, resume: bool, fingerprint: str, what: str) -> bool:
    """Create the partial folder ``path``, or (``resume`` and one exists) check it; True when continuing one.

    Raises
    ------
    InputError
        When resuming a partial output that was started with another grid, methods, type or nodata.
    """
    meta = os.path.join(path, MARK_DIR, "job.json")
    if resume and os.path.isfile(meta):
        with open(meta, encoding="utf-8") as f:
            if f.read() != fingerprint:
                raise InputError(
                    f"{what}: the interrupted run ({path}) was started with another grid, methods, type or "
                    "nodata; run again without --resume (resume=False) to start afresh"
                )
        os.makedirs(os.path.join(path, MARK_DIR, "done"), exist_ok=True)
        return True
    discard(path)
    os.makedirs(os.path.join(path, MARK_DIR, "done"))
    _write_text(meta, fingerprint)
    return False


def mark_done(path: str, indexes: Iterable[tuple[int, int]]) -> None:
    """Record tiles ``(row, col)`` of the partial output ``path`` as completely written (one marker file)."""
    tiles = list(indexes)
    if not tiles:
        return
    r0, c0 = tiles[0]
    text = "".join(f"{r} {c}\n" for r, c in tiles)
    _write_text(os.path.join(path, MARK_DIR, "done", f"r{r0}_c{c0}-{uuid.uuid4().hex[:12]}"), text)


def marked_tiles(path: str) -> set[tuple[int, int]]:
    """Tiles recorded with :func:`mark_done`."""
    done = os.path.join(path, MARK_DIR, "done")
    if not os.path.isdir(done):
        return set()
    found: set[tuple[int, int]] = set()
    for name in os.listdir(done):
        if not _MARK.match(name):  # a marker being written (temporary name), or foreign
            continue
        with open(os.path.join(done, name), encoding="utf-8") as f:
            for line in f:
                r, c = line.split()
                found.add((int(r), int(c)))
    return found


def drop_marks(path: str) -> None:
    """Remove the bookkeeping folder before the partial output gets its final name."""
    discard(os.path.join(path, MARK_DIR))
