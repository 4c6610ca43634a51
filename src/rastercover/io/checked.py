"""Writes that cannot fail silently: every failed write is an :class:`~rastercover.errors.OutputError`.

GDAL does not always tell its caller that a write failed. When the disk fills while a GeoTIFF is being
closed (the block cache flushed, the directory written), libtiff prints ``_tiffWriteProc: No space left on
device`` on stderr and ``close()`` returns as if all went well: a truncated file under a plausible name, with
tiles whose byte counts are zero and so read back as nodata. So rastercover never lets GDAL write a file it
cannot watch:

- one large file (the single GeoTIFF of a rasterization, an export's working GeoTIFF) is written by GDAL
  through a Python file object (:func:`checked_raster`, rasterio's ``opener``) that sees the result of every
  ``write`` and ``close`` the operating system answers; the overhead is below the noise on a 30 MB file
  (5.6 s either way for 3 x 3000 x 3000 float32, deflate);
- small files (a tile of a tile folder) are encoded in memory and written by Python (:func:`encode_raster`):
  as fast as GDAL writing the file itself (1.0 ms against 1.4 ms for a 100 x 100 tile; a Python opener per
  small file would double it), and every ``write`` raises on failure;
- a file GDAL copies into another format (a COG, netCDF, PNG, ASCII grid...) is read back and compared with
  what it was copied from (:func:`verify_copy`): some drivers write through their own library (netCDF) and
  return success over a truncated file;
- everything else is written by Python (Zarr chunks, VRTs, sidecars) or PostgreSQL (``COPY``), whose failures
  raise.

:func:`write_error` turns the failure into one line naming the output and the cause; a full device or quota is
a :class:`~rastercover.errors.NoSpaceError` (HTTP 507) that says how much space is left. :func:`checks_writes`
wraps a sink's methods so that any ``OSError`` or GDAL error they raise becomes that line.

Examples
--------
>>> import errno
>>> err = write_error("out.tif", OSError(errno.ENOSPC, "No space left on device"))
>>> type(err).__name__, str(err).split(" (")[0]
('NoSpaceError', 'out.tif: no space left on the device')
>>> str(write_error("out.tif", OSError(errno.EFBIG, "File too large"))).split(";")[0]
'out.tif: a file grew past the largest file this system or process allows (File too large)'
"""

from __future__ import annotations

import errno
import functools
import io
import os
import re
import shutil
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ..errors import InputError, NoSpaceError, OutputError, RastercoverError

__all__ = [
    "WriteCheck",
    "checked_raster",
    "checks_writes",
    "defer_interruption",
    "encode_raster",
    "gdal_errors",
    "is_io_failure",
    "os_error_of",
    "uninterrupted",
    "verify_copy",
    "write_error",
]

_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS}
_MESSAGES_NO_SPACE = ("no space left on device", "disk quota exceeded")

F = TypeVar("F", bound=Callable[..., Any])


def gdal_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a GDAL call may raise through rasterio: ``RasterioError`` and GDAL's own ``CPLE_*`` errors
    (which rasterio raises from some calls, ``rasterio.shutil.copy`` among them, and which do not derive from
    ``RasterioError``)."""
    from rasterio import _err
    from rasterio.errors import RasterioError

    return (RasterioError, getattr(_err, "CPLE_BaseError", RasterioError))


def os_error_of(exc: BaseException) -> OSError | None:
    """The operating system's error behind ``exc`` (itself, a cause or context), or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno is not None:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _usage(path: str) -> Any:
    """``shutil.disk_usage`` of the device holding ``path`` (its nearest existing folder), or None."""
    folder = path
    while folder and not os.path.isdir(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    try:
        return shutil.disk_usage(folder or ".")
    except OSError:
        return None


def _free_space(path: str) -> str:
    usage = _usage(path)
    if usage is None:
        return ""
    free = float(usage.free)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if free < 1024 or unit == "TB":
            return f" ({free:.0f} {unit} free)" if unit == "bytes" else f" ({free:.1f} {unit} free)"
        free /= 1024
    return ""  # pragma: no cover


def _nearly_full(path: str) -> bool:
    """True when the device holding ``path`` has less than 1 MiB left (or 0.1 % of its size)."""
    usage = _usage(path)
    return usage is not None and usage.free < max(1 << 20, usage.total // 1000)


def write_error(what: str, exc: BaseException, path: str | None = None) -> OutputError:
    """One line saying that writing ``what`` failed, and why: a :class:`NoSpaceError` for a full device.

    ``exc`` is the failure (an ``OSError``, a rasterio or GDAL error, or anything carrying one as its cause);
    ``path`` is where the bytes went, for the free-space figure (default ``what``). A GDAL error without the
    operating system's reason on a device with (almost) no space left is taken for a full device: GDAL does not
    always pass the reason on (a COG's overviews written to a temporary file, then read back, fail on reading).
    Call it before removing the partial work, so that the free space is still what the write met.
    """
    if isinstance(exc, OutputError):
        return exc
    ose = os_error_of(exc)
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    text = re.sub(r"/vsiriopener_[0-9a-f]+/", "", text)  # the name rasterio gives a file GDAL reaches through us
    code = ose.errno if ose is not None else None
    if code is None and any(m in text.lower() for m in _MESSAGES_NO_SPACE):
        code = errno.ENOSPC
    if code is None and _nearly_full(path or what):  # GDAL lost the OS's answer, then failed on what it did not write
        code = errno.ENOSPC
    if code in _NO_SPACE:
        return NoSpaceError(
            f"{what}: no space left on the device{_free_space(path or what)}; free some space or write elsewhere "
            "(nothing was left under the output's name)"
        )
    reason = ose.strerror if ose is not None and ose.strerror else text
    if code == errno.EFBIG:
        return OutputError(
            f"{what}: a file grew past the largest file this system or process allows ({reason}); raise the "
            "limit (ulimit -f), or split the output (a single .tif into a tile folder or a .zarr store)"
        )
    if code in _NOT_WRITABLE:
        return OutputError(f"{what}: cannot write there ({reason}); pick a folder you can write to")
    if code is None and is_io_failure(text):  # the device refused a write, and GDAL kept the reason
        free = _free_space(path or what).strip(" ()")
        return OutputError(
            f"{what}: writing failed: the device refused a write ({reason}; {free} now, after the partial work was "
            "counted: a full disk is the usual cause)"
        )
    return OutputError(f"{what}: writing failed ({reason})")


def is_io_failure(text: str) -> bool:
    """True when a GDAL message says a write or seek of the file failed (libtiff's ``Write error``, GDAL's
    ``Write failed``...), as opposed to a driver refusing the data."""
    low = text.lower()
    return any(m in low for m in ("write error", "seek error", "write failed", "could not write", "failed to write"))


class _CheckedFile(io.FileIO):
    """A file whose failed writes and close are recorded in its :class:`WriteCheck` (GDAL may swallow them)."""

    def __init__(self, check: WriteCheck, path: str, mode: str) -> None:
        super().__init__(path, mode.replace("b", "").replace("t", ""))
        self._check = check

    def write(self, b: Any) -> int:
        # All or the reason why not: a raw write may store part of the bytes (a disk filling up) and the next
        # one says why. The error is recorded, not raised: GDAL calls this through C and sees the short count.
        done = 0
        try:
            view = memoryview(b).cast("B")
            while done < len(view):
                n = super().write(view[done:])
                if not n:
                    raise OSError(errno.EIO, f"short write: {done} of {len(view)} bytes")
                done += n
        except OSError as exc:
            self._check.failed(exc)
        except BaseException as exc:  # Ctrl-C or SIGTERM while GDAL called us: C cannot carry it, we keep it
            self._check.interrupted(exc)
        return done

    def read(self, size: int = -1) -> bytes:
        try:
            return super().read(size)
        except BaseException as exc:
            self._stop(exc)
            return b""

    def seek(self, pos: int, whence: int = 0) -> int:
        try:
            return super().seek(pos, whence)
        except BaseException as exc:
            self._stop(exc)
            return -1

    def tell(self) -> int:
        try:
            return super().tell()
        except BaseException as exc:
            self._stop(exc)
            return -1

    def close(self) -> None:
        try:
            super().close()
        except BaseException as exc:
            self._stop(exc)

    def _stop(self, exc: BaseException) -> None:
        if isinstance(exc, OSError):
            self._check.failed(exc)
        else:
            self._check.interrupted(exc)


class WriteCheck:
    """An ``opener`` for :func:`rasterio.open` that records the first write or close the OS refused.

    Examples
    --------
    >>> check = WriteCheck()
    >>> check.error is None
    True
    >>> check.raise_for("out.tif")  # nothing failed: no error
    """

    def __init__(self) -> None:
        self.error: OSError | None = None
        self.interrupt: BaseException | None = None

    def interrupted(self, exc: BaseException) -> None:
        """Record an interruption (Ctrl-C, ``SIGTERM``) raised while GDAL called the file: raised again, as
        itself, by :meth:`raise_for` (GDAL then fails a write: that is not the output's fault)."""
        if self.interrupt is None:
            self.interrupt = exc

    def failed(self, exc: OSError) -> None:
        """Record a refused write (the first one is the cause reported)."""
        if self.error is None:
            self.error = exc

    def __call__(self, path: str, mode: str = "rb") -> _CheckedFile:
        return _CheckedFile(self, path, mode)

    def raise_for(self, what: str, path: str | None = None) -> None:
        """Raise the interruption a write met, else :func:`write_error` for ``what`` when a write failed."""
        if self.interrupt is not None:
            raise self.interrupt
        if self.error is not None:
            raise write_error(what, self.error, path)


_SECTION = {"depth": 0, "pending": None}


@contextmanager
def uninterrupted() -> Iterator[None]:
    """A stretch of GDAL work that calls back into Python (a write through a :class:`WriteCheck` file): an
    interruption the command line receives meanwhile (Ctrl-C, ``SIGTERM``: see :func:`defer_interruption`) is
    raised when the stretch ends, not inside one of GDAL's callbacks, where C cannot carry it (rasterio prints
    "Exception ignored" and GDAL fails the write, which then looked like a full disk).

    Examples
    --------
    >>> with uninterrupted():  # a handler defers its exception (a KeyboardInterrupt, in a real one)
    ...     deferred = defer_interruption(RuntimeError("interrupted"))
    ...     print("the stretch ends first")
    Traceback (most recent call last):
    ...
    RuntimeError: interrupted
    >>> deferred, defer_interruption(RuntimeError("now"))  # outside a stretch: the handler raises it itself
    (True, False)
    """
    _SECTION["depth"] += 1
    try:
        yield
    finally:
        _SECTION["depth"] -= 1
        pending = _SECTION["pending"]
        if _SECTION["depth"] == 0 and pending is not None:
            _SECTION["pending"] = None
            raise pending


def defer_interruption(exc: BaseException) -> bool:
    """For a signal handler: keep ``exc`` for the end of the current :func:`uninterrupted` stretch and return True,
    or return False when none runs (the handler then raises it itself)."""
    if _SECTION["depth"] > 0 and threading.current_thread() is threading.main_thread():
        if _SECTION["pending"] is None:
            _SECTION["pending"] = exc
        return True
    return False


@contextmanager
def checked_raster(path: str, what: str | None = None, **profile: Any) -> Iterator[Any]:
    """Open ``path`` for writing with rasterio (``profile`` as :func:`rasterio.open` takes it); every write GDAL
    makes to it is checked, and a failure (during the writes or when closing) raises :func:`write_error`.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> p = os.path.join(tempfile.mkdtemp(), "a.tif")
    >>> with checked_raster(p, driver="GTiff", width=2, height=2, count=1, dtype="uint8") as ds:
    ...     ds.write(np.ones((1, 2, 2), "uint8"))
    >>> os.path.getsize(p) > 0
    True
    """
    import rasterio

    what = what or path
    check = WriteCheck()
    try:
        with uninterrupted():
            ds = rasterio.open(path, "w", opener=check, **profile)
        try:
            yield ds
        finally:
            with uninterrupted():
                ds.close()
    except (OSError, *gdal_errors()) as exc:
        if check.interrupt is not None:
            raise check.interrupt from None
        raise write_error(what, check.error or exc, path) from None
    check.raise_for(what, path)


def encode_raster(profile: dict[str, Any], fill: Callable[[Any], None]) -> bytes:
    """A raster file's bytes, encoded in memory by GDAL: ``fill(dataset)`` writes its pixels.

    For small files (a tile), which Python then writes where they go (a failed write raises).

    Examples
    --------
    >>> import numpy as np
    >>> data = encode_raster(dict(driver="GTiff", width=2, height=2, count=1, dtype="uint8"),
    ...                      lambda ds: ds.write(np.ones((1, 2, 2), "uint8")))
    >>> data[:2] in (b"II", b"MM")
    True
    """
    from rasterio.io import MemoryFile

    with MemoryFile() as mem:
        with mem.open(**profile) as ds:
            fill(ds)
        return bytes(mem.getbuffer())


#: Pixels read at once (all bands) when a copy is read back.
VERIFY_CHUNK_PIXELS = 1 << 22


def _bands_of(ds: Any) -> list[tuple[Any, int]]:
    """``(dataset, band index)`` of every band of ``ds``, a dataset written by GDAL; a netCDF file of several
    variables opens as subdatasets, one band each."""
    import rasterio

    if ds.count == 0 and ds.subdatasets:
        out = []
        for name in ds.subdatasets:
            sub = rasterio.open(name)
            out += [(sub, i) for i in range(1, sub.count + 1)]
        return out
    return [(ds, i) for i in range(1, ds.count + 1)]


def verify_copy(src: str, dst: str, what: str, *, write_path: str | None = None, values: bool = True) -> None:
    """Read the file GDAL copied from ``src`` to ``dst`` back and raise :func:`write_error` unless it holds the
    same pixels (``values=False``, for a lossy format: every block decodes and every band's mask, the pixels
    without data, is the same).

    For drivers that do not write through GDAL's file layer, or do not check what it answers: the netCDF
    library writing onto a full disk left a file of 1.2 MB of the 2.1 MB it needed, a successful return, and
    two million wrong pixels of six. Cost: one read of both files (0.3 s for 3 x 2000 x 2000 float32 netCDF).

    An ASCII grid is read as float64 (``AAIGRID_DATATYPE=Float64``, as QGIS reads it), so its decimals must be
    the exact values, not merely close enough to give the same float32. A lossy copy with no mask where the
    source has pixels without data (GDAL's JPEG driver writes its 1-bit mask for one band only) is refused with
    an :class:`~rastercover.errors.InputError` saying what to export instead.

    Examples
    --------
    >>> import os, tempfile, numpy as np, rasterio, rasterio.shutil
    >>> d = tempfile.mkdtemp()
    >>> a, b = os.path.join(d, "a.tif"), os.path.join(d, "b.png")
    >>> with rasterio.open(a, "w", driver="GTiff", width=300, height=200, count=1, dtype="uint8") as ds:
    ...     ds.write(np.random.default_rng(0).integers(0, 255, (1, 200, 300), dtype="uint8"))
    >>> rasterio.shutil.copy(a, b, driver="PNG")
    >>> verify_copy(a, b, "b.png")  # the same pixels: no error
    >>> with open(b, "r+b") as f:
    ...     _ = f.truncate(os.path.getsize(b) // 2)  # cut short, as a full disk leaves it
    >>> verify_copy(a, b, "b.png")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rastercover.errors.OutputError: b.png: writing failed (...)
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    def fail(reason: str) -> None:
        raise write_error(what, RuntimeError(f"the file GDAL wrote does not read back as written ({reason})"),
                          write_path or dst)  # fmt: skip

    try:
        with rasterio.Env(AAIGRID_DATATYPE="Float64"), warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a netCDF container of variables has no grid
            s, d = rasterio.open(src), rasterio.open(dst)
            with s, d:
                bands = _bands_of(d)
                try:
                    if len(bands) != s.count or any((b.width, b.height) != (s.width, s.height) for b, _ in bands):
                        fail(f"{len(bands)} band(s), not {s.count} of {s.width}x{s.height} px")
                    rows = max(1, VERIFY_CHUNK_PIXELS // max(1, s.width * s.count))
                    for r0 in range(0, s.height, rows):
                        win = rasterio.windows.Window(0, r0, s.width, min(rows, s.height - r0))
                        for i, (ds, j) in enumerate(bands, start=1):
                            problem = _compare(s, i, ds, j, win, values)
                            if problem == "no mask":
                                raise InputError(
                                    f"{what}: {d.driver} keeps pixels without data only as a mask, which GDAL "
                                    f"writes for 1 band, and this {s.count}-band export has pixels without data: "
                                    "export 1 band (--bands / bands=), or as png or gtiff, which keep nodata"
                                )
                            if problem:
                                fail(f"{problem} from row {r0}")
                finally:
                    for sub in {id(b): b for b, _ in bands if b is not d}.values():
                        sub.close()
    except (OSError, *gdal_errors()) as exc:
        raise write_error(what, exc, write_path or dst) from None


def _compare(src: Any, i: int, dst: Any, j: int, win: Any, values: bool) -> str | None:
    """What differs between band ``i`` of ``src`` and band ``j`` of ``dst`` in ``win``: its values (or, for a lossy
    copy, its mask), ``"no mask"`` when the lossy copy has no mask of its own (at most a nodata value, which lossy
    decoding moves) where the source has pixels without data, or None.
    """
    import numpy as np
    from rasterio.enums import MaskFlags

    got = dst.read(j, window=win)  # every block decodes
    if values:
        want = src.read(i, window=win).astype(got.dtype, copy=False)
        return None if np.array_equal(got, want, equal_nan=got.dtype.kind == "f") else f"band {i} differs"
    if np.array_equal(dst.read_masks(j, window=win) == 0, src.read_masks(i, window=win) == 0):
        return None
    if MaskFlags.per_dataset not in dst.mask_flag_enums[j - 1]:  # none written: a nodata value, if any, is lossy
        return "no mask"
    return f"the mask of band {i} differs"


def checks_writes(method: F) -> F:
    """Decorate a sink's (or writer's) method: an ``OSError`` or GDAL error it raises becomes one line naming the
    output (the object's ``output_label`` attribute, else its ``path``) and the cause, followed by its
    ``failure_note`` when it has one (what was kept for ``--resume``); rastercover's own errors pass through."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except RastercoverError:
            raise
        except Exception as exc:
            if not isinstance(exc, (OSError, *gdal_errors())):
                raise
            what = getattr(self, "output_label", None) or getattr(self, "path", None) or "the output"
            check = getattr(self, "_check", None)
            if getattr(check, "interrupt", None) is not None:  # Ctrl-C or SIGTERM met a write: not a write error
                raise check.interrupt from None
            seen = getattr(check, "error", None)  # what the OS said, when GDAL hid it
            err = write_error(str(what), seen or exc, getattr(self, "write_path", None))
            note = getattr(self, "failure_note", None)
            raise (type(err)(f"{err}; {note}") if note else err) from None

    return wrapper  # type: ignore[return-value]
