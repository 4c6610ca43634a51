"""Real process faults: a run killed with ``kill -9``, ``SIGTERM``, Ctrl-C, an error; and what it leaves behind.

Local workers die with their parent (even killed with ``SIGKILL``), the pool is stopped on every way out of a
run, the Dask cluster a run starts for itself dies with it, and the temporary file a killed run leaves beside
its output is removed by the next run writing that output, never the file of a run still writing it.

The runs are real command lines on the bundled Alaska data, on a grid fine enough to run for many seconds;
every wait polls ``/proc`` with a deadline. Linux only (``/proc``).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import shapely
from affine import Affine

import rastercover
from rastercover import Grid
from rastercover.api import plan_rasterize
from rastercover.engine import run
from rastercover.io.atomic import sweep_stale, temporary_owner, temporary_sibling, writer_alive, writer_tag
from rastercover.io.sink_memory import MemorySink

if not sys.platform.startswith("linux"):
    pytest.skip("these faults are observed through /proc (Linux)", allow_module_level=True)

ALASKA = Path(rastercover.__file__).parent / "data" / "alaska"
BIG = [  # 24000 x 24000 pixels, 8836 tiles: over a minute of work on 3 workers; every test stops it early
    str(ALASKA / "trees.shp"),
    *("--bounds", "-3000000", "1000000", "3000000", "7000000", "--resolution", "250", "--crs", "EPSG:2964"),
    *("--value", "VEG_ID", "-m", "AREA_WEIGHTED_MEAN_OF_VALUES", "--tile-size", "256x256", "--no-progress"),
]
SMALL = [*BIG[: BIG.index("--resolution") + 1], "20000", *BIG[BIG.index("--resolution") + 2 :]]  # 300 x 300 px


def _command() -> list[str]:
    script = Path(sys.executable).with_name("rastercover")
    return [str(script)] if script.exists() else [sys.executable, "-m", "rastercover.cli.main"]


def start(args: list[str], **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [*_command(), "rasterize", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw
    )


def finish(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([*_command(), "rasterize", *args], capture_output=True, text=True, timeout=120)


def _stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/PID/stat`` from the state on (field 3), or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, waiting for a parent to reap it, has ended)."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid``."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat(int(name))
            if fields is not None and int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                out.append(int(name))
    return sorted(out)


def wait_for(condition, timeout: float, what: str, proc: subprocess.Popen | None = None):
    """Poll ``condition`` until it is true (returned) or ``timeout`` seconds pass (a failure saying ``what``)."""
    deadline = time.monotonic() + timeout
    while True:
        got = condition()
        if got:
            return got
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the run ended ({proc.returncode}) before {what}: {proc.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(0.05)


def temporaries(folder: Path, name: str = "out.tif") -> list[Path]:
    return sorted(folder.glob(f".{name}.part-*"))


def ignores_sigint(pid: int) -> bool:
    """Whether ``pid`` ignores SIGINT (a local worker does once its initializer has run)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next(int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigIgn:"))
    return bool(mask & (1 << (signal.SIGINT - 1)))


def cmdline(pid: int) -> str:
    """The command line of ``pid``, or "" for a process gone since it was listed (a short-lived child such as
    the ``uname -p`` Dask's version check starts)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except OSError:
        return ""


def busy(proc: subprocess.Popen, folder: Path, workers: int, *, cmd: str = "") -> list[int]:
    """Wait until ``proc`` has ``workers`` worker processes (whose command line holds ``cmd``; local workers:
    initialized) and has written blocks into its temporary output; return the workers' pids."""

    def ready():
        kids = [k for k in children(proc.pid) if cmd in cmdline(k)]
        if not cmd and not all(ignores_sigint(k) for k in kids):
            return None
        tmp = temporaries(folder)
        try:
            size = tmp[0].stat().st_size if tmp else 0
        except FileNotFoundError:  # the run ended and committed it in between
            size = 0
        return kids if len(kids) >= workers and size > 1000 else None

    return wait_for(ready, 90, f"{workers} workers busy writing", proc)


def tag_of(pid: int) -> str:
    """The writer tag of another process of this host, as its temporary names carry it."""
    _, _, scope, boot = writer_tag().split("-")
    return f"{pid}-{_stat(pid)[19]}-{scope}-{boot}"


# ---------------------------------------------------------------------------------------------- kill -9
def test_local_workers_die_with_a_parent_killed_by_sigkill_and_the_next_run_cleans_up(tmp_path):
    out = tmp_path / "out.tif"
    proc = start([*BIG, "--workers", "3", "-o", str(out)])
    workers = busy(proc, tmp_path, 3)
    assert len(workers) == 3
    proc.kill()
    proc.wait()
    wait_for(lambda: not any(alive(w) for w in workers), 5, "the workers of the killed run are gone")
    left = temporaries(tmp_path)
    assert len(left) == 1 and temporary_owner(str(left[0])).startswith(f"{proc.pid}-")
    assert writer_alive(temporary_owner(str(left[0]))) is False

    again = finish([*SMALL, "-o", str(out)])
    assert again.returncode == 0, again.stderr
    assert "removed 1 temporary file(s) left by dead runs writing out.tif" in again.stderr
    assert left[0].name in again.stderr
    assert temporaries(tmp_path) == [] and out.exists()


def test_the_local_dask_cluster_of_a_run_dies_with_a_parent_killed_by_sigkill(tmp_path):
    pytest.importorskip("distributed")
    proc = start([*BIG, "--executor", "dask", "--workers", "2", "-o", str(tmp_path / "out.tif")])
    busy(proc, tmp_path, 2, cmd="spawn_main")
    family = children(proc.pid)  # the workers (their nannies live in the parent) and multiprocessing's tracker
    proc.kill()
    proc.wait()
    wait_for(lambda: not any(alive(p) for p in family), 10, f"the cluster's processes {family} are gone")


# ---------------------------------------------------------------------------------------------- clean aborts
def test_sigterm_aborts_the_run_and_keeps_the_temporary_file_of_a_live_run(tmp_path):
    out = tmp_path / "out.tif"
    proc = start([*BIG, "--workers", "2", "-o", str(out)])
    workers = busy(proc, tmp_path, 2)
    (theirs,) = temporaries(tmp_path)

    # a second run on the same output, meanwhile: it must not take the first one's file for garbage
    other = finish([*SMALL, "-o", str(out)])
    assert other.returncode == 0, other.stderr
    assert "removed" not in other.stderr
    assert theirs.exists() and proc.poll() is None

    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "terminated by SIGTERM" in err
    assert not any(alive(w) for w in workers)
    assert temporaries(tmp_path) == []  # the run removed its own temporary file
    assert out.exists()  # the second run's output, untouched


def test_ctrl_c_stops_the_workers_and_leaves_nothing(tmp_path):
    proc = start([*BIG, "--workers", "2", "-o", str(tmp_path / "out.tif")], start_new_session=True)
    workers = busy(proc, tmp_path, 2)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: to every process of the group
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err  # the workers ignore SIGINT: the parent stops them
    assert not any(alive(w) for w in workers)
    assert os.listdir(tmp_path) == []


class _FailingSink(MemorySink):
    """A memory sink whose second write fails."""

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error, self.writes = error, 0

    def write(self, window, data, tiles) -> None:
        self.writes += 1
        if self.writes == 2:
            raise self.error
        super().write(window, data, tiles)


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_an_error_in_the_parent_terminates_the_workers_at_once(error):
    rng = np.random.default_rng(3)
    shapes = [(shapely.Point(x, y).buffer(r), 1.0) for x, y, r in rng.uniform((0, 0, 20), (2000, 2000, 300), (300, 3))]
    grid = Grid(400, 400, Affine(5, 0, 0, 0, -5, 2000), "EPSG:32198", 50)
    plan = plan_rasterize(shapes, grid, methods=["SUM_OF_AREAS"], assume_crs="EPSG:32198", workers=2)
    before = set(multiprocessing.active_children()), set(threading.enumerate())
    with pytest.raises(type(error)):
        run(plan.job, _FailingSink(error), workers=2, block_pixels=10_000)
    # stopped when the run returned, not when the garbage collector lets the pool go; and the pool's manager
    # thread has ended (a worker killed mid-result once left it waiting forever: the interpreter hung at exit)
    assert set(multiprocessing.active_children()) - before[0] == set()
    assert set(threading.enumerate()) - before[1] == set()


# ---------------------------------------------------------------------------------------------- fallback watcher
def test_the_fallback_watcher_ends_a_child_whose_parent_dies(tmp_path):
    """Where prctl is missing, a thread polls the parent's pid: exercised here on Linux in a grandchild."""
    code = (
        "import os, sys, threading, time\n"
        "from rastercover.engine.workers import _watch_parent\n"
        "parent = os.getpid()  # before the fork: a child asking later may already have a new parent\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()\n"
        "    time.sleep(60)\n"
        "    os._exit(0)\n"
        "print(pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    middle = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    child = int(middle.stdout.readline())
    assert alive(child)
    middle.kill()
    middle.wait()
    wait_for(lambda: not alive(child), 5, "the orphan ends itself")


# ---------------------------------------------------------------------------------------------- stale files
def test_sweep_removes_only_the_leftovers_of_dead_writers(tmp_path, caplog):
    target = tmp_path / "out.tif"
    _, _, scope, boot = writer_tag().split("-")

    dead = subprocess.Popen(["true"])
    dead_tag = tag_of(dead.pid)
    dead.wait()  # reaped: the pid is gone
    zombie = subprocess.Popen(["sleep", "60"])
    zombie_tag = tag_of(zombie.pid)
    zombie.kill()  # not reaped yet: a zombie has closed its files, it is dead too
    wait_for(lambda: not alive(zombie.pid), 5, "the zombie")
    live = subprocess.Popen(["sleep", "60"])
    try:
        live_tag = tag_of(live.pid)
        pid, start, _, _ = live_tag.split("-")
        names = {
            "dead": f".out.tif.part-{dead_tag}-0123abcd.tif",
            "dead folder": f".out.tif.part-{dead_tag}-4567abcd",
            "zombie": f".out.tif.part-{zombie_tag}-89abcdef.tif",
            "reused pid": f".out.tif.part-{pid}-{int(start) - 1}-{scope}-{boot}-00000001.tif",
            "previous boot": f".out.tif.part-{pid}-{start}-{scope}-{'0000' if boot != '0000' else '1111'}-02.tif",
            "live": f".out.tif.part-{live_tag}-00000002.tif",
            "this process": os.path.basename(temporary_sibling(str(target))) + ".tif",
            "another host": f".out.tif.part-{pid}-{start}-{'f' * 6 if scope != 'f' * 6 else 'e' * 6}-{boot}-03.tif",
            "older rastercover": ".out.tif.part-0123456789ab.tif",
            "another output": f".other.tif.part-{dead_tag}-00000004.tif",
        }
        for what, name in names.items():
            if what == "dead folder":
                (tmp_path / name).mkdir()
                (tmp_path / name / "x.tif").write_bytes(b"x")
            else:
                (tmp_path / name).write_bytes(b"x")
        with caplog.at_level("WARNING", logger="rastercover.io.atomic"):
            removed = sweep_stale(str(target))
        gone = {"dead", "dead folder", "zombie", "reused pid", "previous boot"}
        assert sorted(os.path.basename(p) for p in removed) == sorted(names[w] for w in gone)
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n for w, n in names.items() if w not in gone)
        text = caplog.text
        assert "removed 5 temporary file(s) left by dead runs writing out.tif" in text
        assert names["another host"] in text and names["older rastercover"] in text  # reported, kept
        assert names["live"] not in text and names["this process"] not in text
        caplog.clear()
        with caplog.at_level("WARNING", logger="rastercover.io.atomic"):
            assert sweep_stale(str(target)) == []
        assert caplog.text == ""  # what cannot be judged is reported once
    finally:
        live.kill()
        live.wait()
        zombie.wait()
