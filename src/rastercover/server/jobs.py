"""Background jobs of the service: a bounded queue of long requests, their progress, results and expiry.

A job is a function that writes one file (``work(job) -> ResultFile``) run on a thread of a pool of
``Settings.max_jobs`` threads; up to ``Settings.max_queued`` more wait their turn, and a request beyond that
is refused (``BusyError``, HTTP 429) rather than queued without bound. The vocabulary is that of OGC API
- Processes: a job is ``accepted``, then ``running``, then ``successful``, ``failed`` or ``dismissed``.

While it runs, a job reports progress (``job.advance(n)`` of ``job.total`` steps: the engine's tiles for a
rasterization, the chunks read and written for an export) and
checks for cancellation at each step (``DELETE /jobs/{id}`` sets a flag; the next step raises
:class:`JobCancelled`, and the engine aborts its output). A finished job keeps its file for
``Settings.job_ttl`` seconds, then it is forgotten and its folder deleted; every job's folder is deleted when
the service stops.

Endpoints (:func:`jobs_router`): ``GET /jobs``, ``GET /jobs/{id}`` (status and progress), ``GET
/jobs/{id}/result`` (the file; ``409`` until the job is successful; a failed job answers the problem that
failed it), ``DELETE /jobs/{id}`` (cancel and forget).

Examples
--------
>>> import os, tempfile
>>> from rastercover.server.settings import Settings
>>> manager = JobManager(Settings(max_jobs=1), temp_dir=tempfile.mkdtemp())
>>> def work(job):
...     job.total = 2
...     job.advance(2)
...     path = os.path.join(job.folder, "out.txt")
...     open(path, "w").write("done")
...     return ResultFile(path, "out.txt", "text/plain")
>>> job = manager.submit(work, title="demo")
>>> manager.wait(job.id, timeout=10).status, job.progress
('successful', 1.0)
>>> open(manager.get(job.id).result.path).read()
'done'
>>> manager.shutdown()
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse

from .catalog import NotFoundError
from .problems import BusyError, Conflict, ProblemAnswer, problem_for
from .settings import Settings

__all__ = ["Job", "JobCancelled", "JobManager", "ResultFile", "jobs_router"]

log = logging.getLogger("rastercover.server")

ACCEPTED, RUNNING, SUCCESSFUL, FAILED, DISMISSED = "accepted", "running", "successful", "failed", "dismissed"
_FINISHED = (SUCCESSFUL, FAILED, DISMISSED)


class JobCancelled(Exception):
    """Raised inside a job's work at its next step once the job was cancelled."""


@dataclass(frozen=True)
class ResultFile:
    """A job's file: where it is, the name to download it under, and its media type."""

    path: str
    filename: str
    media_type: str


def _now() -> float:
    return time.time()


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(eq=False)
class Job:
    """One job: its state, progress and result. Work functions read ``folder`` and call ``advance``."""

    id: str
    title: str
    folder: str
    status: str = ACCEPTED
    total: int = 0
    done: int = 0
    phase: str = "queued"
    created: float = field(default_factory=_now)
    started: float | None = None
    finished: float | None = None
    finished_clock: float | None = field(default=None, repr=False)  # time.monotonic(): the TTL's clock
    result: ResultFile | None = None
    problem: tuple[int, dict[str, Any]] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def progress(self) -> float:
        """Fraction done, 0 to 1 (1 once successful)."""
        if self.status == SUCCESSFUL:
            return 1.0
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0

    @property
    def cancelled(self) -> bool:
        """True once a cancellation was asked."""
        return self._cancel.is_set()

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more steps done; raise :class:`JobCancelled` if the job was cancelled meanwhile."""
        if self._cancel.is_set():
            raise JobCancelled(f"job {self.id} was cancelled")
        self.done += int(n)

    def check(self) -> None:
        """Raise :class:`JobCancelled` if the job was cancelled (for work between steps)."""
        self.advance(0)

    def describe(self, base: str = "") -> dict[str, Any]:
        """The job's JSON status (``GET /jobs/{id}``)."""
        out: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "phase": self.phase,
            "progress": {"done": self.done, "total": self.total, "percent": round(100 * self.progress, 1)},
            "created": _iso(self.created),
            "started": _iso(self.started),
            "finished": _iso(self.finished),
            **self.info,
            "links": {"self": f"{base}/jobs/{self.id}"},
        }
        if self.status == SUCCESSFUL and self.result is not None:
            out["links"]["result"] = f"{base}/jobs/{self.id}/result"
            out["result"] = {"filename": self.result.filename, "media_type": self.result.media_type}
            try:
                out["result"]["bytes"] = os.path.getsize(self.result.path)
            except OSError:
                pass
        if self.problem is not None:
            out["error"] = self.problem[1]
        return out


class JobManager:
    """Runs jobs on ``settings.max_jobs`` threads, with ``settings.max_queued`` more waiting at most.

    Parameters
    ----------
    settings
        ``max_jobs``, ``max_queued`` and ``job_ttl``.
    temp_dir
        Where job folders are made (default: the system's temporary folder).
    redact
        Applied to error messages kept in a failed job's problem (hides server paths).
    """

    def __init__(
        self, settings: Settings, temp_dir: str | None = None, redact: Callable[[str], str] | None = None
    ) -> None:
        self.settings = settings
        self.temp_dir = temp_dir
        self._redact = redact or (lambda s: s)
        self._jobs: dict[str, Job] = {}
        self._done_events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max(1, settings.max_jobs), thread_name_prefix="rastercover-job")
        self._closed = False

    # ------------------------------------------------------------------ submitting
    def submit(
        self,
        work: Callable[[Job], ResultFile],
        *,
        title: str,
        info: dict[str, Any] | None = None,
        folder: str | None = None,
        total: int = 0,
    ) -> Job:
        """Queue ``work`` as a new job; ``BusyError`` (HTTP 429) when ``max_jobs + max_queued`` are active.

        Parameters
        ----------
        work
            Writes the job's file in ``job.folder`` and returns it; reports progress with ``job.advance``.
        title, info
            What ``GET /jobs/{id}`` shows of the job (``info``'s keys are added to its status).
        folder
            A folder made for the job beforehand (the request planned its output there), which the job owns
            from now on (deleted with it); default: a new one. Not taken when the job is refused.
        total
            The job's steps, when known before it starts (its status shows them at once).
        """
        self.prune()
        with self._lock:
            if self._closed:
                raise BusyError("the service is stopping: retry later")
            active = sum(1 for j in self._jobs.values() if j.status in (ACCEPTED, RUNNING))
            limit = self.settings.max_jobs + self.settings.max_queued
            if active >= limit:
                raise BusyError(
                    f"{active} jobs are running or waiting, the limit is {limit}: retry later, or cancel one "
                    "(DELETE /jobs/{id})"
                )
            folder = folder or tempfile.mkdtemp(prefix="rastercover-job-", dir=self.temp_dir)
            job = Job(uuid.uuid4().hex, title, folder, total=max(0, int(total)), info=dict(info or {}))
            self._jobs[job.id] = job
            self._done_events[job.id] = threading.Event()
        self._pool.submit(self._run, job, work)
        return job

    def _run(self, job: Job, work: Callable[[Job], ResultFile]) -> None:
        try:
            if job.cancelled:
                raise JobCancelled(job.id)
            job.status, job.started, job.phase = RUNNING, _now(), "running"
            result = work(job)
            job.check()
            job.result, job.status, job.phase = result, SUCCESSFUL, "done"
        except JobCancelled:
            job.status, job.phase = DISMISSED, "cancelled"
            shutil.rmtree(job.folder, ignore_errors=True)
        except Exception as exc:  # any failure becomes the job's problem details (5xx ones are logged)
            status, body = problem_for(exc)
            body = {**body, "detail": self._redact(str(body.get("detail", "")))}
            job.problem, job.status, job.phase = (status, body), FAILED, "failed"
            shutil.rmtree(job.folder, ignore_errors=True)
        finally:
            job.finished, job.finished_clock = _now(), time.monotonic()
            event = self._done_events.get(job.id)
            if event is not None:
                event.set()

    # ------------------------------------------------------------------ reading
    def get(self, id: str) -> Job:
        """The job ``id``; ``NotFoundError`` (HTTP 404) when there is none (or it expired)."""
        self.prune()
        with self._lock:
            job = self._jobs.get(id)
        if job is None:
            raise NotFoundError(f"no job {id!r}: it never existed, expired, or was cancelled (see /jobs)")
        return job

    def list(self) -> list[Job]:
        """Every job still known, newest first."""
        self.prune()
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created, reverse=True)

    def wait(self, id: str, timeout: float | None = None) -> Job:
        """Block until job ``id`` finished (or ``timeout`` seconds passed); return it (even if it expired since)."""
        with self._lock:
            job, event = self._jobs.get(id), self._done_events.get(id)
        if job is None or event is None:
            return self.get(id)
        event.wait(timeout)
        return job

    # ------------------------------------------------------------------ ending
    def cancel(self, id: str) -> Job:
        """Cancel job ``id`` (a running job stops at its next step) and forget it; its folder is deleted."""
        job = self.get(id)
        job._cancel.set()
        with self._lock:
            self._jobs.pop(id, None)
            self._done_events.pop(id, None)
        if job.status in _FINISHED:
            shutil.rmtree(job.folder, ignore_errors=True)
        elif job.status == ACCEPTED:
            job.status, job.phase = DISMISSED, "cancelled"
        # a running job deletes its folder itself when it stops (JobCancelled)
        return job

    def prune(self) -> None:
        """Forget finished jobs older than ``settings.job_ttl`` seconds and delete their folders."""
        limit = time.monotonic() - self.settings.job_ttl  # not the wall clock, which may be set back
        with self._lock:
            old = [j for j in self._jobs.values() if j.finished_clock is not None and j.finished_clock <= limit]
            for j in old:
                del self._jobs[j.id]
                self._done_events.pop(j.id, None)
        for j in old:
            shutil.rmtree(j.folder, ignore_errors=True)

    def shutdown(self) -> None:
        """Cancel every job, wait for the threads, delete every job folder."""
        with self._lock:
            self._closed = True
            jobs = list(self._jobs.values())
            self._jobs.clear()
        for j in jobs:
            j._cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for j in jobs:
            shutil.rmtree(j.folder, ignore_errors=True)


# ---------------------------------------------------------------------- HTTP
_JOB_ID = Path(
    description="A job id (from the 202 answer of POST /rasterize or of an export).", pattern=r"^[0-9a-f]{32}$"
)


def jobs_router(manager: JobManager) -> APIRouter:
    """``/jobs`` endpoints over ``manager`` (include it behind the API key, like every other router)."""
    router = APIRouter(tags=["jobs"])

    @router.get("/jobs")
    def list_jobs() -> list[dict[str, Any]]:
        """Every job still known (running, waiting, or finished less than ``job_ttl`` seconds ago)."""
        return [j.describe() for j in manager.list()]

    @router.get("/jobs/{id}")
    def get_job(id: Annotated[str, _JOB_ID]) -> dict[str, Any]:
        """A job's status (accepted, running, successful, failed, dismissed), progress and links."""
        return manager.get(id).describe()

    @router.get(
        "/jobs/{id}/result",
        response_class=FileResponse,
        responses={200: {"description": "The job's file, as an attachment.", "content": {"*/*": {}}}},
    )
    def get_result(id: Annotated[str, _JOB_ID]) -> FileResponse:
        """The file of a successful job (``409`` while it runs; a failed job answers the problem that failed it)."""
        job = manager.get(id)
        if job.status == FAILED and job.problem is not None:
            raise ProblemAnswer(*job.problem)
        if job.status != SUCCESSFUL or job.result is None:
            raise Conflict(
                f"job {id} is {job.status} ({round(100 * job.progress)} % done): poll /jobs/{id} until it is successful"
            )
        r = job.result
        return FileResponse(r.path, media_type=r.media_type, filename=r.filename)

    @router.delete("/jobs/{id}")
    def delete_job(id: Annotated[str, _JOB_ID]) -> dict[str, Any]:
        """Cancel a job (a running one stops at its next step: a tile, or an export chunk) and delete it and its
        file."""
        job = manager.cancel(id)
        out = job.describe()
        out["status"] = DISMISSED
        out["links"] = {}
        return out

    return router
