"""Entry point of the ``rastercover`` command: the group, and the error handling every command shares.

A :class:`~rastercover.errors.RastercoverError` becomes one line on stderr and exit status 2, never a
traceback; click's usage errors exit with 2 as well.
"""

from __future__ import annotations

import sys

import click

from .. import __version__
from ..errors import RastercoverError
from .demo import demo
from .export import export, formats
from .methods import methods
from .rasterize import rasterize
from .serve import serve

__all__ = ["cli", "main"]


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


def main(argv: list[str] | None = None) -> None:
    """Run the command line; bad input exits with status 2 and one line on stderr."""
    try:
        cli.main(args=argv, prog_name="rastercover", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
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
