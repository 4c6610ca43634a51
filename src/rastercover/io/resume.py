"""Partial outputs that a later run can continue: the tile folder and the Zarr store.

A file output is built in place under a stable hidden name beside the target, ``.{name}.partial``, and
renamed to its final name when complete. While it is being built it holds a ``.rastercover/`` folder with
``job.json`` (the whole job: the source's identity, methods, semantics, grid, type, nodata, tiling; checked
when resuming), ``owner`` (the writing process, :func:`~rastercover.io.atomic.writer_tag`: a run never takes over
the partial output of a live one) and, for outputs whose
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
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InputError, OutputError
from ..grid import Grid
from .atomic import discard, writer_alive, writer_tag

__all__ = [
    "MARK_DIR",
    "JobInfo",
    "PartialOutput",
    "drop_marks",
    "fingerprint_differences",
    "job_fingerprint",
    "mark_done",
    "marked_tiles",
    "partial_sibling",
    "refuse_other_job",
    "release_partial",
    "resolve_job",
    "start_partial",
    "tiles_digest",
]

MARK_DIR = ".rastercover"
_MARK = re.compile(r"^r\d+_c\d+(-[0-9a-f]+)?$")


class PartialOutput:
    """What a sink built under ``.{name}.partial`` says of it when a write fails (a mixin: the sink has ``path``,
    ``resume`` and ``_tmp``, its partial output once it holds one)."""

    path: str
    resume: bool
    _tmp: str | None

    @property
    def write_path(self) -> str:
        """Where the bytes go (for the free-space figure of an error)."""
        return self._tmp or self.path

    @property
    def failure_note(self) -> str | None:
        """What a failed ``resume=True`` run keeps for the next one."""
        if self.resume and self._tmp:
            return f"the tiles written so far are kept in {self._tmp}: run again with --resume to continue"
        return None


def partial_sibling(path: str) -> str:
    """The stable name under which the output ``path`` is built: ``.{name}.partial`` in the same folder."""
    parent, name = os.path.split(os.path.abspath(path.rstrip("/\\") or path))
    return os.path.join(parent, f".{name}.partial")


#: What a sink is told of the job: a mapping, a function giving one (called once, when the output opens: a
#: table's row count is only read when the output resumes), or None.
JobInfo = Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None


def resolve_job(job: JobInfo) -> dict | None:
    """The job's mapping (calling ``job`` when it is a function), as a plain dict, or None."""
    if callable(job):
        job = job()
    return None if job is None else dict(job)


def job_fingerprint(
    grid: Grid, bands: Sequence[str], dtype: np.dtype | str, nodata: float, job: Mapping[str, Any] | None = None
) -> str:
    """What a resumed run must share with the interrupted one, as JSON text: the grid (and the tiles a sparse one
    has), bands, type, nodata, and ``job``: the rest of the job (the source's identity, the semantics, the
    extent...; see :func:`rastercover.api.job_identity`)."""
    nodata = float(nodata)
    return json.dumps(
        {
            "rastercover": 1,
            "job": dict(job) if job is not None else None,
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


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: value}


def _short(value: Any) -> str:
    text = json.dumps(value)
    if len(text) <= 60:
        return text
    return '"...' + text[-56:] if isinstance(value, str) else text[:57] + "..."  # a location differs at its end


def fingerprint_differences(before: str, now: str) -> list[str]:
    """What differs between two job fingerprints, one ``name: before -> now`` line each (names dotted).

    Examples
    --------
    >>> a = json.dumps({"bands": ["A"], "job": {"source": {"where": "h > 10"}}})
    >>> b = json.dumps({"bands": ["A"], "job": {"source": {"where": "h > 20"}}})
    >>> fingerprint_differences(a, b)
    ['job.source.where: "h > 10" -> "h > 20"']
    """
    try:
        old = _flatten(json.loads(before))
    except ValueError:
        return ["the interrupted run's record is unreadable"]
    new = _flatten(json.loads(now))
    keys = sorted(set(old) | set(new))
    missing = object()
    lines = []
    for k in keys:
        a, b = old.get(k, missing), new.get(k, missing)
        if a != b:
            lines.append(f"{k}: {'(none)' if a is missing else _short(a)} -> {'(none)' if b is missing else _short(b)}")
    return lines


def refuse_other_job(what: str, partial: str, before: str, now: str) -> None:
    """Raise the :class:`InputError` of a resume whose interrupted run was another job, saying what differs."""
    diffs = fingerprint_differences(before, now)
    shown = "; ".join(diffs[:4]) + (f"; and {len(diffs) - 4} more" if len(diffs) > 4 else "")
    raise InputError(
        f"{what}: the interrupted run ({partial}) was another job ({shown}); run the same job to continue it, or "
        "run again without --resume (resume=False) to start afresh"
    )


def _write_text(path: str, text: str) -> None:
    tmp = f"{path}.part-{uuid.uuid4().hex[:12]}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def start_partial(path: str, *, resume: bool, fingerprint: str, what: str) -> bool:
    """Create the partial folder ``path``, or (``resume`` and one exists) check it; True when continuing one.

    Raises
    ------
    OutputError
        When a live run (another process) is building the partial output now.
    InputError
        When resuming a partial output that another job started (another source, filter, grid, methods, type,
        nodata...): the message says what differs.
    """
    meta = os.path.join(path, MARK_DIR, "job.json")
    owner = os.path.join(path, MARK_DIR, "owner")
    if os.path.isfile(owner):  # a run writing it now must not lose its work to this one (resuming or not)
        with open(owner, encoding="utf-8") as f:
            tag = f.read().strip()
        if tag != writer_tag() and writer_alive(tag):
            raise OutputError(
                f"{what}: another run (process {tag.split('-')[0]}) is writing it now ({path}); wait for it to end, "
                "or write elsewhere"
            )
    if resume and os.path.isfile(meta):
        with open(meta, encoding="utf-8") as f:
            before = f.read()
        if before != fingerprint:
            refuse_other_job(what, path, before, fingerprint)
        os.makedirs(os.path.join(path, MARK_DIR, "done"), exist_ok=True)
        _write_text(owner, writer_tag())
        return True
    discard(path)
    os.makedirs(os.path.join(path, MARK_DIR, "done"))
    _write_text(meta, fingerprint)
    _write_text(owner, writer_tag())
    return False


def release_partial(path: str) -> None:
    """Give up this process's claim on the partial output ``path`` (a failed ``resume=True`` run keeps the partial
    output for a later run, from any process: the process that failed may live on, a notebook after an error)."""
    owner = os.path.join(path, MARK_DIR, "owner")
    try:
        with open(owner, encoding="utf-8") as f:
            mine = f.read().strip() == writer_tag()
        if mine:
            os.remove(owner)
    except OSError:
        pass


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
