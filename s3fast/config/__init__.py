"""Every public setting of s3fast, in one place: frozen dataclasses with documented defaults.

::

    TransferConfig                 user-facing: part size, concurrency, target/cap, memory, checksums
      .timeouts  Timeouts          per-stage request bounds
      .retry     RetryConfig       attempts, backoff, retry budget
      .expert    DataPathConfig    data-path knobs (buffers, splice, threads, trailers)
        .hedge     HedgeConfig     straggler hedging
        .tuner     TunerConfig     the auto-tuner's window, ramp and back-off
        .endpoint  EndpointConfig  the per-host IP table

This package imports nothing of s3fast but its errors and units, so any layer may import it.
"""
from __future__ import annotations

from ._checks import (
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
)
from ._datapath import DataPathConfig
from ._endpoint import EndpointConfig
from ._hedge import HedgeConfig
from ._retry import RetryConfig
from ._transfer import Timeouts, TransferConfig
from ._tuner import TunerConfig

__all__ = [
    "TransferConfig",
    "Timeouts",
    "RetryConfig",
    "DataPathConfig",
    "HedgeConfig",
    "TunerConfig",
    "EndpointConfig",
    "CHECKSUM_ALGORITHMS",
    "MIN_PART_SIZE",
    "MAX_PART_SIZE",
    "MAX_PARTS",
    "MAX_OBJECT_SIZE",
    "MAX_SINGLE_PUT",
    "MAX_GBPS",
    "MAX_CONCURRENCY",
    "MAX_MEMORY_LIMIT",
    "MAX_SECONDS",
]
