"""Atomic outputs: write under a temporary name beside the target, then rename.

The temporary name says who writes it: ``.{name}.part-{pid}-{start}-{scope}-{boot}-{random}`` (plus whatever
suffix the caller adds), with the writer's process id, its start time (clock ticks since boot, from
``/proc/PID/stat``: a reused pid has another one), a digest of its host name and pid namespace (``scope``: the
pids it can see) and of the boot (``boot``). A run killed with ``kill -9``, or by a power cut, leaves its
temporary file behind; the next run that makes a temporary name beside the same output (:func:`temporary_sibling`)
removes the leftovers whose writer is dead, and only those (:func:`sweep_stale`): a run still writing the same
output name keeps its file. Files it cannot judge (written from another host or container, or named by an older
rastercover without a writer) are left and reported once. Notices go to the ``rastercover.io.atomic`` logger at
WARNING level (without logging set up, Python prints them on stderr).

Examples
--------
>>> import tempfile, os
>>> d = tempfile.mkdtemp()
>>> tmp = temporary_sibling(os.path.join(d, "out.tif"))
>>> os.path.dirname(tmp) == d and os.path.basename(tmp).startswith(".out.tif.part-")
True
>>> writer_alive(temporary_owner(tmp))  # this process writes it
True
>>> open(tmp, "w").close()
>>> sweep_stale(os.path.join(d, "out.tif"))  # a live writer's file is kept
[]
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import socket
import sys
import uuid

from ..errors import OutputError

__all__ = [
    "check_target",
    "commit",
    "discard",
    "sweep_stale",
    "temporary_owner",
    "temporary_sibling",
    "writer_alive",
    "writer_tag",
]

log = logging.getLogger(__name__)

#: what follows ``.{name}.part-`` in a temporary name: the writer's tag, a random part, the caller's suffix
_PART = re.compile(r"^(?P<owner>\d+-\d+-[0-9a-f]{6}-[0-9a-f]{4})-[0-9a-f]+(?:\..*)?$")
_TAG: tuple[int, str] | None = None  # (pid, tag): recomputed in a forked child
_ZOMBIE = -1
_REPORTED: set[str] = set()  # leftovers already reported as kept by this process


def check_target(path: str, *, overwrite: bool) -> None:
    """Fail early when ``path`` cannot be written: its folder is missing, or it exists and may not be replaced."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise OutputError(f"{path}: the folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{path}: the folder {parent} is not writable")
    if os.path.lexists(path) and not overwrite:
        raise OutputError(f"{path} exists already; remove it or pass --overwrite / overwrite=True")
    probe = os.path.join(parent, f".{os.path.basename(path)}.probe-{uuid.uuid4().hex[:12]}")
    try:  # os.access trusts permission bits: a read-only or pseudo file system (/proc) says so only when written
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise OutputError(f"{path}: cannot create a file in {parent} ({exc.strerror}); pick another folder") from None
    os.remove(probe)


def temporary_sibling(path: str) -> str:
    """A fresh hidden name in the same folder as ``path`` (same file system, so rename is atomic).

    The name carries this process's :func:`writer_tag`; leftovers of dead runs writing ``path`` are removed
    first (:func:`sweep_stale`).
    """
    parent, name = os.path.split(os.path.abspath(path))
    try:
        sweep_stale(path)
    except OSError:  # an unreadable folder: the write itself will say so
        pass
    return os.path.join(parent, f".{name}.part-{writer_tag()}-{uuid.uuid4().hex[:8]}")


def writer_tag() -> str:
    """This process as a temporary name records it: ``{pid}-{start}-{scope}-{boot}``.

    ``start`` is the process's start time in clock ticks since boot (0 where ``/proc`` is missing), ``scope`` a
    digest of the host name and the pid namespace, ``boot`` a digest of the kernel's boot id (``0000`` where
    unknown). See :func:`writer_alive`.

    Examples
    --------
    >>> pid, start, scope, boot = writer_tag().split("-")
    >>> int(pid) == os.getpid() and len(scope) == 6 and len(boot) == 4
    True
    """
    global _TAG
    pid = os.getpid()
    if _TAG is None or _TAG[0] != pid:
        start = max(0, _start_ticks(pid) or 0)
        _TAG = (pid, f"{pid}-{start}-{_scope()}-{_boot()}")
    return _TAG[1]


def temporary_owner(tmp: str) -> str | None:
    """The :func:`writer_tag` in the temporary name ``tmp`` (a path or a base name); None when it has none.

    Examples
    --------
    >>> temporary_owner("/data/.out.tif.part-4242-1234567-0a1b2c-3d4e-deadbeef.tif")
    '4242-1234567-0a1b2c-3d4e'
    >>> temporary_owner(".out.tif.part-0123456789ab.tif") is None  # an older rastercover's name
    True
    """
    base = os.path.basename(tmp)
    at = base.rfind(".part-")
    return _owner_in(base[at + len(".part-") :]) if at >= 0 else None


def _owner_in(rest: str) -> str | None:
    """The writer tag in what follows ``.part-`` in a temporary name."""
    m = _PART.match(rest)
    return m.group("owner") if m else None


def writer_alive(tag: str) -> bool | None:
    """Whether the writer of a :func:`writer_tag` runs still: True, False, or None when this host cannot tell.

    A writer of this host and pid namespace is dead when its pid is gone, is a zombie, or is another process
    (another start time); one of a previous boot of this host and namespace is dead. A writer elsewhere (another
    host or container) cannot be judged here: None. Where ``/proc`` is missing (macOS, BSD), or hides other
    users' processes (``hidepid``), a writer is alive while its pid is (a reused pid keeps a leftover: the safe
    side); on Windows nothing is judged.

    Examples
    --------
    >>> writer_alive(writer_tag())
    True
    >>> pid, start, scope, boot = writer_tag().split("-")
    >>> writer_alive(f"{pid}-{int(start) + 1}-{scope}-{boot}")  # the same pid, another process: dead
    False
    >>> writer_alive(f"{pid}-{start}-ffffff-{boot}") is None or _scope() == "ffffff"  # another host
    True
    """
    try:
        pid_s, start_s, scope, boot = tag.split("-")
        pid, start = int(pid_s), int(start_s)
    except ValueError:
        return None
    if scope != _scope() or sys.platform == "win32":
        return None
    if boot != _boot():
        return False  # this host and namespace before a reboot: every process of it is dead
    now = _start_ticks(pid)
    if now == _ZOMBIE:
        return False
    if now is None or now == 0 or start == 0:  # no /proc, or a process hidden from us (hidepid): its pid
        return _pid_exists(pid)
    return now == start


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


def sweep_stale(path: str) -> list[str]:
    """Remove the temporary files and folders of dead runs writing ``path``; return the paths removed.

    Only names ``.{name}.part-*`` beside ``path`` whose writer is dead (:func:`writer_alive` False) are removed:
    a run that writes the same output name now keeps its files. The removal is reported in one line on the
    module's logger; leftovers that cannot be judged (another host or container, an older rastercover) are
    reported once per process and left in place.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> pid, start, scope, boot = writer_tag().split("-")
    >>> dead = os.path.join(d, f".out.tif.part-{pid}-{int(start) + 1}-{scope}-{boot}-00c0ffee.tif")
    >>> open(dead, "w").close()
    >>> [os.path.basename(p) for p in sweep_stale(os.path.join(d, "out.tif"))] == [os.path.basename(dead)]
    True
    >>> os.path.exists(dead)
    False
    """
    parent, name = os.path.split(os.path.abspath(path))
    prefix = f".{name}.part-"
    removed: list[str] = []
    unknown: list[str] = []
    with os.scandir(parent) as entries:
        found = sorted(e.name for e in entries if e.name.startswith(prefix))
    for base in found:
        full = os.path.join(parent, base)
        owner = _owner_in(base[len(prefix) :])
        alive = writer_alive(owner) if owner is not None else None
        if alive is False:
            try:
                discard(full)
            except FileNotFoundError:  # another run removed it meanwhile
                continue
            except OSError as e:
                log.warning("%s: cannot remove the leftover of a dead run (%s)", full, e)
                continue
            removed.append(full)
        elif alive is None and full not in _REPORTED:
            _REPORTED.add(full)
            unknown.append(base)
    if removed:
        log.warning(
            "%s: removed %d temporary file(s) left by dead runs writing %s: %s",
            parent,
            len(removed),
            name,
            ", ".join(os.path.basename(p) for p in removed),
        )
    if unknown:
        log.warning(
            "%s: left %s in place (written from another host or container, or by an older rastercover): "
            "remove it when no run is writing %s",
            parent,
            ", ".join(unknown),
            name,
        )
    return removed


def _start_ticks(pid: int) -> int | None:
    """The start time of process ``pid`` in clock ticks since boot: None when ``/proc`` does not show it (gone,
    or hidden), ``_ZOMBIE`` (-1) for a zombie (it has closed its files: dead), 0 where there is no ``/proc``.
    """
    if not os.path.isdir("/proc/self"):
        return 0
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()  # after the command name, which may hold spaces
    if not fields or fields[0] in (b"Z", b"X"):
        return _ZOMBIE
    return int(fields[19])  # field 22 of proc(5), counted from the state (field 3)


def _scope() -> str:
    """A digest of the host name and the pid namespace: the processes whose pids this process can judge."""
    try:
        ns = os.readlink("/proc/self/ns/pid")
    except OSError:
        ns = ""
    return hashlib.sha1(f"{socket.gethostname()}\0{ns}".encode()).hexdigest()[:6]


def _boot() -> str:
    """A digest of the kernel's boot id, ``0000`` where unknown."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return hashlib.sha1(f.read().strip().encode()).hexdigest()[:4]
    except OSError:
        return "0000"


SIDE_FILES = (".aux.xml", ".ovr", ".msk", ".aux")
"""GDAL's side files of a raster file ``PATH``: ``PATH`` + each of these."""


def commit(tmp: str, path: str, *, side_file: bool = False) -> None:
    """Move ``tmp`` to ``path``, replacing what is there (a folder is swapped in with two renames).

    A file's GDAL side files (:data:`SIDE_FILES`: ``PATH.aux.xml`` with class names and statistics, external
    overviews ``PATH.ovr`` that QGIS's "Build pyramids" writes, masks ``PATH.msk``) describe the file they were
    written for: the one being replaced loses them first, so that no moment pairs the new pixels with the old
    file's names or overviews; with ``side_file``, ``TMP.aux.xml`` then follows the file to ``PATH.aux.xml``.
    """
    if os.path.isdir(tmp) and os.path.lexists(path):
        trash = temporary_sibling(path)
        os.replace(path, trash)
        os.replace(tmp, path)
        discard(trash)
    elif os.path.isdir(tmp):
        os.replace(tmp, path)
    else:
        for side in SIDE_FILES:
            discard(path + side)
        os.replace(tmp, path)
        if side_file and os.path.lexists(tmp + ".aux.xml"):
            os.replace(tmp + ".aux.xml", path + ".aux.xml")


def discard(path: str) -> None:
    """Remove a file or folder if it exists."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)
