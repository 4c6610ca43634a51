"""Entry point of the ``rastercover`` command: the group, and the error handling every command shares.

A :class:`~rastercover.errors.RastercoverError` becomes one line on stderr and exit status 2, never a
traceback (nor the raw diagnostics C libraries print about the same failure: see :func:`_held_c_output`);
click's usage errors exit with 2 as well. ``SIGTERM`` (and ``SIGHUP``, unless ignored, as under
``nohup``) ends a run as Ctrl-C does: the output is aborted and the local workers stopped; the exit status is
128 + the signal's number.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import click

from .. import __version__
from ..errors import RastercoverError
from ..io.checked import defer_interruption
from .demo import demo
from .export import export, formats
from .methods import methods
from .rasterize import rasterize
from .regrid import regrid
from .serve import serve

__all__ = ["Terminated", "cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rastercover")
def cli() -> None:
    """Rasterize vector coverages onto a reference grid, and deliver raster coverages as files."""


cli.add_command(rasterize)
cli.add_command(regrid)
cli.add_command(methods)
cli.add_command(demo)
cli.add_command(export)
cli.add_command(formats)
cli.add_command(serve)


class Terminated(KeyboardInterrupt):
    """A terminating signal (``SIGTERM``, ``SIGHUP``) received by the command: unwinds a run as Ctrl-C does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _terminate(signum: int, frame: object) -> None:
    signal.signal(signum, signal.SIG_DFL)  # a second signal ends the process without cleaning up
    if not defer_interruption(Terminated(signum)):  # inside a GDAL write that calls back into Python: at its end
        raise Terminated(signum)


def _interrupt(signum: int, frame: object) -> None:
    if not defer_interruption(KeyboardInterrupt()):  # Ctrl-C, as Python's own handler, but never inside GDAL
        raise KeyboardInterrupt


@contextmanager
def _terminating_signals() -> Iterator[None]:
    """Turn ``SIGTERM`` and ``SIGHUP`` into :class:`Terminated` while the command runs (main thread only), and
    deliver those and Ctrl-C between GDAL's calls, not inside one (:func:`rastercover.io.checked.uninterrupted`)."""
    previous = {}
    for name, default, handler in (
        ("SIGTERM", signal.SIG_DFL, _terminate),
        ("SIGHUP", signal.SIG_DFL, _terminate),
        ("SIGINT", signal.default_int_handler, _interrupt),
    ):
        sig = getattr(signal, name, None)
        try:
            if sig is not None and signal.getsignal(sig) is default:
                previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread: leave signals alone
            break
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


#: Commands whose C libraries' raw output is held back while they run (not ``serve``, which runs for days).
HOLD_C_OUTPUT = ("rasterize", "export", "demo")


@contextmanager
def _hold(fd: int, name: str, held: list[str]) -> Iterator[None]:
    """Move file descriptor ``fd`` to a temporary file and point ``sys.<name>`` at a copy of the original; on the
    way out, restore both and append what was written to ``fd`` to ``held``."""
    stream = getattr(sys, name)
    stream.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), fd)
        setattr(sys, name, open(os.dup(saved), "w", encoding=stream.encoding, errors="backslashreplace", buffering=1))
        try:
            yield
        finally:
            getattr(sys, name).flush()
            getattr(sys, name).close()
            setattr(sys, name, stream)
            os.dup2(saved, fd)
            os.close(saved)
            sink.seek(0)
            held.append(sink.read().decode("utf-8", "backslashreplace"))


@contextmanager
def _held_c_output(argv: list[str] | None) -> Iterator[list[str]]:
    """Hold back what C libraries print straight to file descriptors 1 and 2 while a command runs.

    libtiff prints ``_tiffWriteProc: No space left on device.`` on stderr, and the HDF5 library a list of the
    objects left open on stdout, when a file cannot be written; rastercover sees those failures itself
    (:mod:`rastercover.io.checked`) and reports them in one line. Python's own output (messages, warnings, the
    progress bar) keeps the terminal: only the descriptors are moved, to temporary files, and ``sys.stdout`` and
    ``sys.stderr`` point at copies of the originals. The list yielded receives the held text when the command
    ends; :func:`main` shows it unless the command ended with rastercover's own one-line error. Nothing is held
    when the streams are not the process's descriptors (a test capturing them, an embedding application).
    """
    held: list[str] = []
    args = sys.argv[1:] if argv is None else argv
    try:
        real = sys.stdout.fileno() == 1 and sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        real = False
    if not real or not args or args[0] not in HOLD_C_OUTPUT:
        yield held
        return
    with _hold(1, "stdout", held), _hold(2, "stderr", held):
        yield held


def _show(held: list[str]) -> None:
    """Show what C libraries printed while the command ran (it did not end with rastercover's own error)."""
    text = "".join(held)
    if text:
        sys.stderr.write(text if text.endswith("\n") else text + "\n")


def _exit_after_error(status: int, argv: list[str] | None) -> None:
    """Exit with ``status`` after rastercover's own error. As the ``rastercover`` process (``argv`` None), without
    C libraries' exit handlers: after a netCDF write that failed (a full disk), HDF5's handler lists the objects
    left open and then crashes (SIGSEGV, exit 139 instead of 2). Everything rastercover cleans is cleaned by then
    (the output aborted, the workers stopped); Python's buffers are flushed first."""
    if argv is not None:  # called from Python (tests, an embedding program): a normal SystemExit
        sys.exit(status)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def main(argv: list[str] | None = None) -> None:
    """Run the command line; bad input exits with status 2 and one line on stderr."""
    held: list[str] = []
    try:
        with _held_c_output(argv) as held, _terminating_signals():
            cli.main(args=argv, prog_name="rastercover", standalone_mode=False)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, Terminated):
            click.echo(f"rastercover: terminated by {signal.Signals(exc.__cause__.signum).name}", err=True)
            sys.exit(128 + exc.__cause__.signum)
        click.echo("aborted", err=True)
        sys.exit(130)
    except Terminated as exc:
        click.echo(f"rastercover: terminated by {signal.Signals(exc.signum).name}", err=True)
        sys.exit(128 + exc.signum)
    except click.ClickException as exc:
        _show(held)
        exc.show()
        sys.exit(exc.exit_code)
    except RastercoverError as exc:  # the one line says what the C libraries' noise was about
        click.echo(f"rastercover: error: {exc}", err=True)
        _exit_after_error(2, argv)
    except KeyboardInterrupt:
        click.echo("interrupted; nothing was written under the output name", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        _show(held)
        sys.exit(exc.exit_code)
    except BaseException:
        _show(held)
        raise
    _show(held)


if __name__ == "__main__":  # pragma: no cover
    main()
