"""Atomic outputs: write under a temporary name beside the target, then rename.

Examples
--------
>>> import tempfile, os
>>> d = tempfile.mkdtemp()
>>> tmp = temporary_sibling(os.path.join(d, "out.tif"))
>>> os.path.dirname(tmp) == d and os.path.basename(tmp).startswith(".out.tif.part-")
True
"""

from __future__ import annotations

import os
import shutil
import uuid

from ..errors import OutputError

__all__ = ["check_target", "commit", "discard", "temporary_sibling"]


def check_target(path: str, *, overwrite: bool) -> None:
    """Fail early when ``path`` cannot be written: its folder is missing, or it exists and may not be replaced."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise OutputError(f"{path}: the folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{path}: the folder {parent} is not writable")
    if os.path.lexists(path) and not overwrite:
        raise OutputError(f"{path} exists already; remove it or pass --overwrite / overwrite=True")


def temporary_sibling(path: str) -> str:
    """A fresh hidden name in the same folder as ``path`` (same file system, so rename is atomic)."""
    parent, name = os.path.split(os.path.abspath(path))
    return os.path.join(parent, f".{name}.part-{uuid.uuid4().hex[:12]}")


def commit(tmp: str, path: str) -> None:
    """Move ``tmp`` to ``path``, replacing what is there (a folder is swapped in with two renames)."""
    if os.path.isdir(tmp) and os.path.lexists(path):
        trash = temporary_sibling(path)
        os.replace(path, trash)
        os.replace(tmp, path)
        discard(trash)
    else:
        os.replace(tmp, path)


def discard(path: str) -> None:
    """Remove a file or folder if it exists."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)
