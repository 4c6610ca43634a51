"""Entry point of the ``rastercover`` command: the group, and the error handling every command shares.

A :class:`~rastercover.errors.RastercoverError` becomes one line on stderr and exit status 2, never a
traceback; click's usage errors exit with 2 as well. ``SIGTERM`` (and ``SIGHUP``, unless ignored, as under
``nohup``) ends a run as Ctrl-C does: the output is aborted and the local workers stopped; the exit status is
128 + the signal's number.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from .. import __version__
from ..errors import RastercoverError
from .demo import demo
from .export import export, formats
from .methods import methods
from .rasterize import rasterize
from .serve import serve

__all__ = ["Terminated", "cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rastercover")
def cli() -> None:
    """Rasterize vector coverages onto a reference grid, and deliver raster coverages as files."""


cli.add_command(rasterize)
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
    raise Terminated(signum)


@contextmanager
def _terminating_signals() -> Iterator[None]:
    """Turn ``SIGTERM`` and ``SIGHUP`` into :class:`Terminated` while the command runs (main thread only)."""
    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        try:
            if sig is not None and signal.getsignal(sig) is signal.SIG_DFL:
                previous[sig] = signal.signal(sig, _terminate)
        except ValueError:  # not the main thread: leave signals alone
            break
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> None:
    """Run the command line; bad input exits with status 2 and one line on stderr."""
    try:
        with _terminating_signals():
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
        exc.show()
        sys.exit(exc.exit_code)
    except RastercoverError as exc:
        click.echo(f"rastercover: error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted; nothing was written under the output name", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":  # pragma: no cover
    main()
