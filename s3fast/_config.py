"""The configuration's old import path. Everything is defined in :mod:`s3fast.config`;
this module only re-exports it, so ``from s3fast._config import TransferConfig`` keeps working."""
from __future__ import annotations

from .config import (
    CHECKSUM_ALGORITHMS,
    MAX_CONCURRENCY,
    MAX_GBPS,
    MAX_MEMORY_LIMIT,
    MAX_OBJECT_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    MAX_SECONDS,
    MAX_SINGLE_PUT,
    MIN_PART_SIZE,
    DataPathConfig,
    Timeouts,
    TransferConfig,
)

__all__ = [
    "CHECKSUM_ALGORITHMS", "MAX_CONCURRENCY", "MAX_GBPS", "MAX_MEMORY_LIMIT", "MAX_OBJECT_SIZE",
    "MAX_PART_SIZE", "MAX_PARTS", "MAX_SECONDS", "MAX_SINGLE_PUT", "MIN_PART_SIZE",
    "DataPathConfig", "Timeouts", "TransferConfig",
]
