"""The executors a job can run on, and the check that Dask is there when it is asked for."""

from __future__ import annotations

from typing import Any

from ..errors import InputError, UnknownOptionError

__all__ = ["EXECUTORS", "check_executor", "require_dask"]

EXECUTORS = ("local", "dask")


def check_executor(executor: str, scheduler: Any = None) -> str:
    """The executor name, checked (``"local"`` or ``"dask"``); a ``scheduler`` needs ``"dask"``.

    Examples
    --------
    >>> check_executor("dask", None)
    'dask'
    >>> check_executor("local", "tcp://10.0.0.1:8786")
    Traceback (most recent call last):
    ...
    rastercover.errors.InputError: a scheduler applies to executor='dask' only; add executor='dask' (--executor dask)
    """
    name = str(executor).lower()
    if name not in EXECUTORS:
        raise UnknownOptionError(f"unknown executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    if scheduler is not None and name != "dask":
        raise InputError("a scheduler applies to executor='dask' only; add executor='dask' (--executor dask)")
    return name


def require_dask(what: str = "executor='dask'") -> None:
    """Fail with an :class:`InputError` saying how to install Dask when ``dask.distributed`` is missing.

    Examples
    --------
    >>> require_dask()  # dask is installed here
    """
    try:
        import dask.array  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as e:
        raise InputError(
            f"{what} needs dask and dask.distributed ({e.name} is missing): pip install 'rastercover[dask]'"
        ) from None
