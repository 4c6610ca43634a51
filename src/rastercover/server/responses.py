"""Sending a temporary file as an attachment, and deleting it however the response ends.

:class:`TempFileResponse` streams a file written for one request (an export) and calls its ``cleanup()`` when
the response is over: sent whole, the client gone mid-way (an ``http.disconnect`` message, or ``OSError`` from
``send`` under ASGI 2.4), the task cancelled, or reading the file failing. Starlette's ``FileResponse`` with a
``BackgroundTask`` runs the task only after a complete send, so a client that hangs up leaves the file behind.

An error once the headers are out is not hidden: the exception propagates, the server drops the connection,
and the client sees fewer bytes than the ``Content-Length`` it was promised, never a short file passing for a
whole one. Range requests are not offered (a temporary file is sent once).
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any
from urllib.parse import quote

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["TempFileResponse", "content_disposition"]

_log = logging.getLogger(__name__)


class _Disconnected(Exception):
    """The client went away (``send`` failed): the end of the response, not an error."""


def content_disposition(filename: str, kind: str = "attachment") -> str:
    """A ``Content-Disposition`` value: ``filename="..."``, plus RFC 6266 ``filename*`` when it is not plain ASCII.

    >>> content_disposition("dem.tif")
    'attachment; filename="dem.tif"'
    >>> content_disposition("forêt.tif")
    'attachment; filename="for_t.tif"; filename*=utf-8\\'\\'for%C3%AAt.tif'
    """
    quoted = quote(filename)
    if quoted == filename:
        return f'{kind}; filename="{filename}"'
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"{kind}; filename=\"{fallback}\"; filename*=utf-8''{quoted}"


class TempFileResponse(Response):
    """A temporary file sent as an attachment, then deleted by ``cleanup()`` however the response ends.

    Parameters
    ----------
    path
        The file (it must exist: its size is the ``Content-Length``).
    media_type
        Its ``Content-Type``.
    filename
        The download name (``Content-Disposition: attachment``; RFC 6266 ``filename*`` when not ASCII).
    cleanup
        Called exactly once when the response ends (also when the file cannot be found here); an error in it is
        logged, never raised.
    status_code, headers
        As for any Starlette response.

    Examples
    --------
    >>> import os, tempfile
    >>> from starlette.applications import Starlette
    >>> from starlette.routing import Route
    >>> from starlette.testclient import TestClient
    >>> d = tempfile.mkdtemp()
    >>> def export(request):
    ...     path = os.path.join(d, "out.bin")
    ...     with open(path, "wb") as f:
    ...         f.write(b"x" * 100_000)
    ...     return TempFileResponse(path, media_type="application/octet-stream", filename="out.bin",
    ...                             cleanup=lambda: os.remove(path))
    >>> r = TestClient(Starlette(routes=[Route("/export", export)])).get("/export")
    >>> r.status_code, len(r.content), r.headers["content-length"], r.headers["content-disposition"]
    (200, 100000, '100000', 'attachment; filename="out.bin"')
    >>> os.listdir(d)
    []
    """

    chunk_size = 256 * 1024

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        media_type: str,
        filename: str,
        cleanup: Callable[[], Any],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.filename = filename
        self.media_type = media_type
        self.status_code = status_code
        self.background = None
        self._cleanup = cleanup
        self._cleaned = False
        try:
            st = os.stat(self.path)
            if not stat.S_ISREG(st.st_mode):
                raise RuntimeError(f"{self.path} is not a file")
        except BaseException:
            self._run_cleanup()
            raise
        self.size = st.st_size
        self.init_headers(headers)
        self.headers["content-length"] = str(st.st_size)
        self.headers.setdefault("content-disposition", content_disposition(filename))
        self.headers.setdefault("cache-control", "no-store")

    def _run_cleanup(self) -> None:
        if self._cleaned:
            return
        self._cleaned = True
        try:
            self._cleanup()
        except Exception:  # a failing cleanup must not turn a sent response into an error
            _log.exception("cleaning up %s failed", self.path)

    async def _chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes, ``chunk_size`` at a time, up to the announced size (read in a worker thread)."""
        f = await anyio.open_file(self.path, "rb")
        try:
            left = self.size
            while left > 0:
                chunk = await f.read(min(self.chunk_size, left))
                if not chunk:
                    raise RuntimeError(f"{self.path} is shorter than the {self.size} bytes announced")
                left -= len(chunk)
                yield chunk
        finally:
            with anyio.CancelScope(shield=True):
                await f.aclose()

    async def _send_file(self, send: Send, head: bool) -> None:
        async def safe_send(message: dict[str, Any]) -> None:
            try:
                await send(message)
            except OSError:  # ASGI 2.4: the client is gone
                raise _Disconnected() from None

        await safe_send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if not head:
            chunks = self._chunks()
            try:
                async for chunk in chunks:
                    await safe_send({"type": "http.response.body", "body": chunk, "more_body": True})
            finally:
                with anyio.CancelScope(shield=True):
                    await chunks.aclose()
        await safe_send({"type": "http.response.body", "body": b"", "more_body": False})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        head = scope["type"] == "http" and scope.get("method", "GET").upper() == "HEAD"
        error: Exception | None = None
        try:
            async with anyio.create_task_group() as tg:

                async def watch() -> None:  # ASGI < 2.4: send after a disconnect is silently dropped
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    tg.cancel_scope.cancel()

                tg.start_soon(watch)
                try:
                    await self._send_file(send, head)
                except _Disconnected:
                    pass
                except Exception as exc:  # raised below, unwrapped (a task group would wrap it in a group)
                    error = exc
                tg.cancel_scope.cancel()
            if error is not None:
                raise error
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._run_cleanup)
