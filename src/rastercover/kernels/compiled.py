"""When the compiled (numba) forms of the kernels are used instead of numpy and GEOS.

Two kernels have a compiled form: the exact polygon areas (:mod:`rastercover.kernels._area_jit`, the same bits as
the numpy form, twice as fast) and the overlap test of polygon pairs (:mod:`rastercover.kernels._overlap_jit`,
certificates that spare most GEOS calls, four times as fast). Loading one costs about 0.1 s from numba's disk
cache, plus 0.15 s to import numba the first time, more than a small run takes altogether. So a process starts with
numpy and GEOS, adds up the time each kernel's work is estimated to take there, and loads the kernel's compiled form
once that total reaches what loading it costs (the ski-rental rule: a process never pays more than about twice the
better choice); once loaded, the compiled form takes all the work of its kernel. The results are the same whichever
form computes them.

Examples
--------
>>> with forms("numpy"):
...     use_compiled("rastercover.kernels._area_jit", 10.0)
False
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

__all__ = ["IMPORT_SECONDS", "LOAD_SECONDS", "forms", "use_compiled"]

#: Seconds to import numba (once per process), and to load one compiled kernel from numba's disk cache.
IMPORT_SECONDS = 0.15
LOAD_SECONDS = 0.1
_MODE = "auto"  # "auto", "numpy" (never compiled) or "compiled" (always)
_spent: dict[str, float] = {}  # per compiled module: estimated seconds of its kernel's work done in numpy / GEOS


def use_compiled(module: str, seconds: float) -> bool:
    """True when work estimated at ``seconds`` in numpy or GEOS should go to the compiled ``module`` instead.

    Otherwise the estimate is added to what this process has spent on that kernel in numpy or GEOS.
    """
    if _MODE != "auto":
        return _MODE == "compiled"
    if module in sys.modules:
        return True
    spent = _spent.get(module, 0.0) + seconds
    if spent >= LOAD_SECONDS + (0.0 if "numba" in sys.modules else IMPORT_SECONDS):
        return True
    _spent[module] = spent
    return False


@contextlib.contextmanager
def forms(mode: str) -> Iterator[None]:
    """Within the block, the kernels use only ``"numpy"`` (and GEOS), only the ``"compiled"`` forms, or choose
    (``"auto"``): for tests and measurements."""
    global _MODE
    if mode not in ("auto", "numpy", "compiled"):
        raise ValueError(f"mode must be auto, numpy or compiled, not {mode!r}")
    saved, _MODE = _MODE, mode
    try:
        yield
    finally:
        _MODE = saved
