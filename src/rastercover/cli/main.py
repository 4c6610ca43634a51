"""Entry point of the ``rastercover`` command: the group, and the error handling every command shares.

A :class:`~rastercover.errors.RastercoverError` becomes one line on stderr and exit status 2, never a
traceback (nor the raw diagnostics C libraries print about the same failure: see :func:`_held_c_output`);
click's usage errors exit with 2 as well. ``SIGTERM`` (and ``SIGHUP``, unless ignored, as under
``nohup``) ends a run as Ctrl-C does: the output is aborted and the local workers stopped; the exit status is
128 + the signal's number.
"""

from __future__ import annotations

import importlib
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

__all__ = ["COMMANDS", "Terminated", "cli", "main"]

#: Every command: its module, and the first paragraph of its docstring, which ``rastercover --help`` shortens to
#: one line as click does (``tests/test_startup.py`` checks that the two agree). A command's module is
#: imported only when that command runs or its own help is asked for, so that ``rastercover --help`` and each
#: command pay only for what they use.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": (".demo", "Rasterize Alaska's forest polygons (VMAP0, public domain) onto a shaded-relief raster's grid."),
    "export": (
        ".export",
        "Export the raster COVERAGE (a raster file, a .vrt, a tile folder or a PostGIS table) as one file.",
    ),
    "formats": (".export", "List the export formats this GDAL build can write, one line each."),
    "methods": (
        ".methods",
        "List every method (built-in and plug-in), one line each: `rasterize` takes the vector ones, `regrid` the"
        " raster ones (kinds raster_centre and raster_area).",
    ),
    "rasterize": (".rasterize", "Rasterize the vector coverage SOURCE onto a reference grid, one band per method."),
    "regrid": (
        ".regrid",
        "Regrid the raster coverage SOURCE (a raster file, .vrt, tile folder, .zarr or PostGIS raster table) onto a"
        " reference grid with exact overlap areas: sums conserved, class fractions, area-weighted means.",
    ),
    "serve": (".serve", "Serve raster coverages and vector layers over HTTP."),
}


class _LazyGroup(click.Group):
    """A group whose commands are imported on first use (click's "lazily loading subcommands" pattern), with
    their one-line help listed from :data:`COMMANDS` rather than from the imported commands."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS and cmd_name not in self.commands:
            module = importlib.import_module(COMMANDS[cmd_name][0], __package__)
            self.add_command(getattr(module, cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)  # as click's own group help
        rows = []
        for name in names:
            command = self.commands.get(name)
            if command is None:
                rows.append((name, click.Command(name, help=COMMANDS[name][1]).get_short_help_str(limit)))
            elif not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rastercover")
def cli() -> None:
    """Rasterize vector coverages onto a reference grid, and deliver raster coverages as files."""


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
