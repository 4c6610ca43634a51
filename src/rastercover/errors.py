"""The exception tree of rastercover.

Every error a user can cause is a :class:`RastercoverError` whose message names the problem and the fix.
The command line prints that message on one line and exits with status 2; the HTTP service
(``rastercover.server.problems``) maps the classes to statuses in one table::

    RastercoverError
    ├── InputError                  bad input from the user
    │   ├── UnknownOptionError      an option value that is not one of the valid choices
    │   ├── UnknownMethodError      a method name that is not registered
    │   ├── SourceError             a file that cannot be read, a missing layer, an empty layer
    │   │   └── MissingColumnError  a value column that the layer does not have
    │   ├── CRSError                a missing, unknown or incompatible coordinate reference system
    │   ├── GeometryError           an invalid geometry when repairs are disabled
    │   ├── AlignmentError          tiles that do not line up with each other
    │   ├── TooLargeError           a request over a configured limit (pixels of an export...)
    │   └── ValueRangeError         a result that does not fit the band type, an infinite value, an overflow
    └── OutputError                 an output that cannot be written (exists, folder missing, a failed write)
        └── NoSpaceError            the device or quota holding the output is full (HTTP 507)

    AccuracyWarning (a UserWarning) a result computed, but less exactly than rastercover aims (regridding
                                    across CRSs: the stated area error bound above 1e-9)

Examples
--------
>>> from rastercover.errors import UnknownMethodError, RastercoverError
>>> issubclass(UnknownMethodError, RastercoverError)
True
"""

from __future__ import annotations

__all__ = [
    "AccuracyWarning",
    "AlignmentError",
    "CRSError",
    "GeometryError",
    "InputError",
    "MissingColumnError",
    "NoSpaceError",
    "OutputError",
    "RastercoverError",
    "SourceError",
    "TooLargeError",
    "UnknownMethodError",
    "UnknownOptionError",
    "ValueRangeError",
]


class RastercoverError(Exception):
    """Root of every error rastercover raises on purpose."""


class InputError(RastercoverError, ValueError):
    """The user's input cannot be used as given."""


class UnknownOptionError(InputError):
    """An option value that is not one of the valid choices (the message lists them)."""


class UnknownMethodError(InputError):
    """A method name that is not in the registry."""


class SourceError(InputError):
    """A vector or raster source that cannot be opened or read."""


class MissingColumnError(SourceError):
    """The value column named by the user is not a field of the layer."""


class CRSError(InputError):
    """A coordinate reference system is missing, unknown, or cannot be used."""


class GeometryError(InputError):
    """A geometry is invalid and cannot be used as it is."""


class AlignmentError(InputError):
    """Rasters or tiles that should share one pixel lattice do not."""


class ValueRangeError(InputError):
    """A value or result outside what its type holds: a result that does not fit the band type the user chose, an
    infinite feature value, a computation that overflows float64."""


class OutputError(RastercoverError):
    """An output cannot be written where or how it was asked."""


class NoSpaceError(OutputError):
    """The device (or quota) holding an output is full; the message names the output and the free space."""


class TooLargeError(InputError):
    """A request over a configured limit (pixels per export, vertices of a clip...); the message gives both."""


class AccuracyWarning(UserWarning):
    """A result computed less exactly than rastercover aims; the message gives the bound reached and why."""
