"""When the compiled (numba) forms of the kernels are used instead of numpy and GEOS.

Two kernels have a compiled form: the exact polygon areas (:mod:`rastercover.kernels._area_jit`, the same bits as
the numpy form, twice as fast) and the overlap test of polygon pairs (:mod:`rastercover.kernels._overlap_jit`,
certificates that spare most GEOS calls, four times as fast). Loading one costs about 0.1 s from numba's disk
cache, plus 0.15 s to import numba the first time, more than a small run takes altogether. So a process starts with
numpy and GEOS, adds up the time each kernel's work is estimated to take there, and loads the kernel's compiled form
once that total reaches what loading it costs (the ski-rental rule: a process never pays more than about twice the
better choice); once loaded, the compiled form takes all the work of its kernel. The results are the same whichever
form computes them.

Loading costs far more when numba's disk cache holds no compiled code for the kernel yet (the first use after an
installation or an upgrade: about 5 s of compiling per kernel): the switch then waits for that much work, so that a
first small or medium run is not made ten times slower by a compilation it cannot pay back. The cache is the one
numba writes beside the kernel's module (``__pycache__/<module>.*.nbi``); a cache elsewhere counts as cold.

The environment variable ``RASTERCOVER_KERNELS`` (``auto``, ``numpy`` or ``compiled``) sets the mode of a process:
``numpy`` keeps numba (about 70 MB of memory once loaded) out of it altogether.

Examples
--------
>>> with forms("numpy"):
...     use_compiled("rastercover.kernels._area_jit", 10.0)
False
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from ..errors import InputError

__all__ = ["COMPILE_SECONDS", "IMPORT_SECONDS", "LOAD_SECONDS", "MODES", "forms", "use_compiled"]

#: Seconds to import numba (once per process), to load one compiled kernel from numba's disk cache, and to compile
#: one when the cache holds none.
IMPORT_SECONDS = 0.15
LOAD_SECONDS = 0.1
COMPILE_SECONDS = 5.0
MODES = ("auto", "numpy", "compiled")
_MODE = os.environ.get("RASTERCOVER_KERNELS", "auto").strip().lower() or "auto"
if _MODE not in MODES:
    raise InputError(f"RASTERCOVER_KERNELS={_MODE!r}: give one of {', '.join(MODES)}")
_spent: dict[str, float] = {}  # per compiled module: estimated seconds of its kernel's work done in numpy / GEOS
_cost: dict[str, float] = {}  # per compiled module: seconds to load it, known once looked at


def _load_seconds(module: str) -> float:
    """What loading ``module``'s compiled kernels costs: from the cache when numba's index files are there."""
    if module not in _cost:
        spec = importlib.util.find_spec(module)
        origin = Path(spec.origin) if spec is not None and spec.origin else None
        cached = origin is not None and any((origin.parent / "__pycache__").glob(f"{origin.stem}.*.nbi"))
        _cost[module] = LOAD_SECONDS if cached else COMPILE_SECONDS
    return _cost[module]


def use_compiled(module: str, seconds: float) -> bool:
    """True when work estimated at ``seconds`` in numpy or GEOS should go to the compiled ``module`` instead.

    Otherwise the estimate is added to what this process has spent on that kernel in numpy or GEOS.
    """
    if _MODE != "auto":
        return _MODE == "compiled"
    if module in sys.modules:
        return True
    spent = _spent.get(module, 0.0) + seconds
    if spent >= _load_seconds(module) + (0.0 if "numba" in sys.modules else IMPORT_SECONDS):
        return True
    _spent[module] = spent
    return False


@contextlib.contextmanager
def forms(mode: str) -> Iterator[None]:
    """Within the block, the kernels use only ``"numpy"`` (and GEOS), only the ``"compiled"`` forms, or choose
    (``"auto"``): for tests and measurements."""
    global _MODE
    if mode not in MODES:
        raise ValueError(f"mode must be auto, numpy or compiled, not {mode!r}")
    saved, _MODE = _MODE, mode
    try:
        yield
    finally:
        _MODE = saved
