"""What a transfer needs from the client, in one object the client builds.

Transfers never see the client: they get the services below and nothing else, so the
transfer floor does not import the client (no import circle) and each service can be
replaced in a test. One context serves every transfer of a client.
"""
from __future__ import annotations

from dataclasses import dataclass

from .._config import TransferConfig
from .._transport import Transport
from ..tuning import ConcurrencyLimiter, ThroughputMeter, Tuner
from ._buffers import ChunkPool, MemoryBudget
from ._writer import FileBatcher, FileWriter


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class TransferContext:
    #: requests: signing, connection lanes, retries
    transport: Transport
    config: TransferConfig
    #: the hard bound on bytes held in part and range buffers
    memory: MemoryBudget
    #: receive buffers of file downloads that do not splice
    chunks: ChunkPool
    #: os.pwrite of file downloads on a thread beside the loop (``write_thread``)
    writer: FileWriter
    #: small downloaded files created, written and named on a thread, in batches
    batcher: FileBatcher | None
    #: the pacer (``max_gbps``: ``tuner.bucket``, ``tuner.pace``)
    tuner: Tuner
    #: bytes moved, for the tuner's windows and progress
    meter: ThroughputMeter
    #: requests in flight; its limit sizes the task window
    limiter: ConcurrencyLimiter
    #: uploads holding a source (an open file) at once
    open_sources: ConcurrencyLimiter

    def __repr__(self) -> str:
        return (f"<TransferContext concurrency={self.limiter.limit} in_flight={self.limiter.in_flight} "
                f"memory={self.memory.held}/{self.memory.limit} batcher={self.batcher is not None}>")

    def task_window(self) -> int:
        """How many part/range tasks a transfer keeps alive: enough to keep every request
        slot busy, not so many that thousands of idle tasks pile up."""
        return 2 * self.limiter.limit + 2
