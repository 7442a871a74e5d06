"""Expert settings of the data path: how bytes move, not what the user asks for.

Grouped apart from :class:`~s3fast.config.TransferConfig`'s user-facing options so that
the common ones stay few; each default is what the project measured best on its reference
machines (the figures are in ``benchmarks/probes/README.md``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .._errors import ConfigError
from .._units import KiB
from ._checks import MAX_PART_SIZE, check_int, check_type
from ._endpoint import EndpointConfig
from ._hedge import HedgeConfig
from ._tuner import TunerConfig

__all__ = ["DataPathConfig"]


@dataclass(frozen=True)
class DataPathConfig:
    """``TransferConfig.expert``: data-path knobs. Defaults in brackets.

    - ``io_chunk_size`` [256 KiB]: receive buffer per range for file downloads that do not
      splice (HTTPS, or splice off). Over TLS each buffer is one round of decrypting records
      into it and one ``os.pwrite``: smaller buffers cost more CPU per byte, larger ones more
      memory per range in flight. At least 64 KiB.
    - ``write_thread`` [False]: hand file writes to a writer thread instead of writing each
      receive from the event loop's callback. The hand-offs cost more CPU than a second core
      gains on small hosts; try True on many-core hosts.
    - ``batch_small_files`` [True]: downloads of small objects to files (bodies that arrive
      whole with their headers, up to ~128 KiB) are kept in memory (paid for in
      ``memory_limit``; written from the loop when it is full) and then created, written and
      named on a thread, many files per hand-off, with the GIL released: the kernel's file
      work runs on another core while the loop keeps receiving. Compiled core only (the
      pure-Python fallback writes from the loop).
    - ``splice`` [True]: on Linux, plain-HTTP file downloads move the body socket -> pipe ->
      file with splice(2): one kernel copy instead of two, and no user-space buffer. Each
      connection then holds a pipe of up to 1 MiB of kernel memory. A filesystem that refuses
      splice is detected and written with pwrite instead.
    - ``checksum_trailer`` [True]: over HTTPS, send each part's checksum in an aws-chunked
      trailer (``STREAMING-UNSIGNED-PAYLOAD-TRAILER``, as the AWS SDKs do), computed chunk by
      chunk as the bytes are encrypted: the data is read once instead of twice (checksum,
      then send). Plain HTTP keeps the header: its file bodies go by sendfile and never pass
      through user space. False: always a header, for S3-compatible servers without
      aws-chunked trailers.
    - ``request_memory`` [None: ``part_size``]: what one request counts for when concurrency
      is capped by ``memory_limit`` (``memory_limit // request_memory`` requests). A request
      of a small object holds that object at most, not a whole part; many-object commands
      set it to 1 MiB. Bytes held stay within ``memory_limit`` whatever it is: every buffer
      is paid for in the budget before it is used, and a request that finds the budget full
      waits for room.
    - ``hedge`` [:class:`HedgeConfig` defaults]: straggler hedging of download ranges.
    - ``tuner`` [:class:`TunerConfig` defaults]: the auto-tuner's window, ramp and back-off;
      what it aims at is ``TransferConfig.target_gbps`` / ``max_gbps``.
    - ``endpoint`` [:class:`EndpointConfig` defaults]: the per-host IP table (TTL,
      quarantine, slow-IP demotion, harvest interval).
    """

    io_chunk_size: int = 256 * KiB
    write_thread: bool = False
    batch_small_files: bool = True
    splice: bool = True
    checksum_trailer: bool = True
    request_memory: int | None = None
    hedge: HedgeConfig = field(default_factory=HedgeConfig)
    tuner: TunerConfig = field(default_factory=TunerConfig)
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)

    def __post_init__(self) -> None:
        owner = "expert."
        check_int(owner, "io_chunk_size", self.io_chunk_size, 0, MAX_PART_SIZE, " bytes")
        if self.io_chunk_size < 64 * KiB:
            raise ConfigError(f"io_chunk_size must be >= 64 KiB, got {self.io_chunk_size}")
        if self.request_memory is not None:
            check_int(owner, "request_memory", self.request_memory, 1, MAX_PART_SIZE, " bytes")
        for name in ("write_thread", "batch_small_files", "splice", "checksum_trailer"):
            check_type(owner, name, getattr(self, name), bool)
        check_type(owner, "hedge", self.hedge, HedgeConfig)
        check_type(owner, "tuner", self.tuner, TunerConfig)
        check_type(owner, "endpoint", self.endpoint, EndpointConfig)
