"""The tiled engine: plan blocks of tiles, compute contributions and reductions, hand tiles to a sink."""

from typing import TYPE_CHECKING

from .._exports import lazy_exports

if TYPE_CHECKING:
    from .compute import BlockResult, InvalidPolicy, Job, Semantics, compute_block
    from .plan import DEFAULT_BLOCK_PIXELS, Block, Extent, plan_blocks
    from .runner import run

_EXPORTS = {
    "BlockResult": ".compute",
    "InvalidPolicy": ".compute",
    "Job": ".compute",
    "Semantics": ".compute",
    "compute_block": ".compute",
    "DEFAULT_BLOCK_PIXELS": ".plan",
    "Block": ".plan",
    "Extent": ".plan",
    "plan_blocks": ".plan",
    "run": ".runner",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "DEFAULT_BLOCK_PIXELS",
    "Block",
    "BlockResult",
    "Extent",
    "InvalidPolicy",
    "Job",
    "Semantics",
    "compute_block",
    "plan_blocks",
    "run",
]
