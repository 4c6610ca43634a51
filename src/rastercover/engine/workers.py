"""Local worker processes that die with their parent, and pools torn down on every way out of a run.

A worker of a local process pool computes blocks for its parent and nothing else: when the parent dies, by
``kill -9`` too, the workers must go with it (they hold hundreds of megabytes, and with the ``fork`` start method
the parent's open files, the partial output among them). A ``ProcessPoolExecutor`` does not see its parent
die: its workers wait on a queue whose other end they hold themselves.

* :func:`init_worker_process`, run first in every worker: on Linux the kernel sends the worker ``SIGKILL`` when
  its parent dies (``prctl(PR_SET_PDEATHSIG)``; the parent's pid is checked right after, in case it died while
  the worker started). Where ``prctl`` is missing (macOS, BSD) a daemon thread polls the parent's pid twice a
  second and ends the worker when the worker has been handed to another parent. On Windows the pool's own
  pipes break when the parent dies, and the workers end there. The worker also ignores ``SIGINT`` and
  ``SIGHUP`` (a Ctrl-C or a closed terminal reaches every process of the group: the parent handles it and ends
  its workers) and takes ``SIGTERM``'s default action (a parent's handler inherited through ``fork`` must not
  keep it alive: :func:`stop_pool` terminates workers with it).
* :func:`stop_pool`, on every way out of a run but its end (an error, an interruption, ``SIGTERM`` made an
  exception by the command line, a consumer that stops early): pending blocks are cancelled and the workers
  terminated at once, not waited for.

``PR_SET_PDEATHSIG`` fires when the *thread* that started the worker ends: a pool must be used from the thread
that submitted its first task (the engine's pools live in one call of one generator).

Examples
--------
>>> from concurrent.futures import ProcessPoolExecutor
>>> import multiprocessing
>>> ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
>>> pool = ProcessPoolExecutor(1, mp_context=ctx, initializer=init_worker_process, initargs=(os.getpid(),))
>>> pool.submit(os.getppid).result() == os.getpid()
True
>>> stop_pool(pool)  # its one worker, idle, is terminated
1
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any

__all__ = ["die_with_parent", "init_worker_process", "stop_pool"]

PR_SET_PDEATHSIG = 1  # linux/prctl.h
WATCH_INTERVAL = 0.5  # seconds between two looks at the parent where prctl is missing


def die_with_parent(parent_pid: int) -> str:
    """In a child process: end it as soon as its parent ``parent_pid`` dies; return how (or ``"none"``).

    ``"pdeathsig"`` on Linux (the kernel kills the child), ``"watcher"`` where a thread polls the parent's pid,
    ``"none"`` on Windows (a pool's pipes break with the parent). The child ends at once if the parent is gone
    already.

    Examples
    --------
    >>> import subprocess, sys
    >>> code = "import os; from rastercover.engine.workers import die_with_parent as d; print(d(os.getppid()))"
    >>> how = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip()
    >>> how == {"linux": "pdeathsig", "win32": "none"}.get(sys.platform, "watcher")
    True
    """
    if sys.platform == "win32":
        return "none"
    how = "watcher"
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0:
                how = "pdeathsig"
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)
    if how == "watcher":
        threading.Thread(target=_watch_parent, args=(parent_pid,), name="rastercover-parent-watch", daemon=True).start()
    return how


def _watch_parent(parent_pid: int) -> None:
    """End this process when its parent is no longer ``parent_pid`` (it died: the child was handed on)."""
    while os.getppid() == parent_pid:
        time.sleep(WATCH_INTERVAL)
    os._exit(1)


def init_worker_process(parent_pid: int) -> None:
    """First thing in a local worker: die with ``parent_pid``, leave Ctrl-C and hangups to the parent, die on
    SIGTERM."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def stop_pool(pool: Any, timeout: float = 5.0) -> int:
    """Cancel the pending tasks of a ``ProcessPoolExecutor`` and terminate its workers now; return how many
    were still running.

    Workers get ``SIGTERM``, then ``SIGKILL`` after ``timeout`` seconds; the call does not wait for the
    tasks in flight. When it returns, the pool's manager thread has ended too (within ``timeout``): a worker
    killed while it sent a result leaves that thread waiting for the rest of the message, and the interpreter
    would wait for the thread at exit; closing this process's end of the results pipe, the last one once
    the workers are dead, makes it read the end of the pipe instead, mark the pool broken and end.
    """
    # the pool's own attributes (CPython's concurrent.futures.process): shutdown() lets go of them
    procs = list((getattr(pool, "_processes", None) or {}).values())
    results = getattr(pool, "_result_queue", None)
    manager = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False, cancel_futures=True)
    running = [p for p in procs if p.is_alive()]
    for p in running:
        p.terminate()
    deadline = time.monotonic() + timeout
    for p in running:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in running:
        if p.is_alive():
            p.kill()
            p.join(1.0)
    writer = getattr(results, "_writer", None)
    if writer is not None:
        writer.close()
    if manager is not None and manager is not threading.current_thread():
        manager.join(max(0.1, deadline - time.monotonic()))
    return len(running)
