"""User-facing choices as enums: parsed from their string values, an unknown one named with the valid choices.

Examples
--------
>>> class Colour(Option):
...     RED = "red"
>>> Colour.parse("RED") is Colour.RED
True
>>> Colour.parse("blue")
Traceback (most recent call last):
...
rastercover.errors.UnknownOptionError: unknown colour 'blue': choose one of red
"""

from __future__ import annotations

import enum

from .errors import UnknownOptionError

__all__ = ["Option"]

_OPTION_LABELS = {"InvalidPolicy": "invalid-geometry policy"}


class Option(enum.Enum):
    """An enum of user-facing choices, parsed from their (case-insensitive) string values."""

    @classmethod
    def parse(cls, value: object) -> Option:
        """The member named by ``value`` (a member, or its string value in any case)."""
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            what = _OPTION_LABELS.get(cls.__name__, cls.__name__.lower())
            raise UnknownOptionError(
                f"unknown {what} {value!r}: choose one of {', '.join(str(e.value) for e in cls)}"
            ) from None
