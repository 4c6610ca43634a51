"""The tiled engine: plan blocks of tiles, compute contributions and reductions, hand tiles to a sink."""

from .compute import BlockResult, InvalidPolicy, Job, Semantics, compute_block
from .plan import DEFAULT_BLOCK_PIXELS, Block, Extent, plan_blocks
from .run import run

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
