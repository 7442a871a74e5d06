"""Typed, frozen configuration with documented defaults.

Change one value per call with :func:`dataclasses.replace`::

    cfg = TransferConfig(part_size=16 * MiB)
    fast = dataclasses.replace(cfg, target_gbps=25)

The user-facing options are :class:`TransferConfig`'s own fields; data-path knobs are
grouped in ``TransferConfig.expert`` (:class:`DataPathConfig`).

Memory bound
------------
Bytes held in part buffers never exceed ``memory_limit``. What needs a buffer:

* upload from a non-seekable stream or from bytes-like data that must be copied: one
  ``part_size`` buffer per part in flight;
* upload from a file: nothing over plain HTTP (``os.sendfile``), one ``expert.io_chunk_size``
  read buffer per connection over HTTPS;
* download to a file: nothing over plain HTTP on Linux (``splice(2)`` moves the bytes
  socket -> pipe -> file; each connection has a pipe of up to 1 MiB of kernel memory),
  else one ``expert.io_chunk_size`` receive buffer per range in flight (bytes go from the
  socket into it and on with ``os.pwrite``);
* download to a stream: one range buffer per range in flight or waiting to be yielded
  in order;
* download into a caller's buffer: nothing (bytes land in place).

Outside the limit: each connection's 136 KiB receive buffer for response heads and for
small bodies that arrive with them (a GET of up to ~128 KiB needs no other buffer).

So concurrency is capped at ``memory_limit // buffer_size`` for the kind of transfer
at hand (the tuner never goes above it), and the default 256 MiB holds 32 parts of
8 MiB: enough to fill 10 Gbps at S3's typical 50-100 ms per request, and 8x less
than the AWS CRT's 2 GiB default.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from .._errors import ConfigError
from .._units import KiB, MiB
from ._checks import (
    CHECKSUM_ALGORITHMS,
    MAX_CONCURRENCY,
    MAX_GBPS,
    MAX_MEMORY_LIMIT,
    MAX_OBJECT_SIZE,
    MAX_PART_SIZE,
    MAX_SECONDS,
    MIN_PART_SIZE,
    check_int,
    check_number,
    check_type,
    old_keywords,
)
from ._datapath import DataPathConfig
from ._retry import RetryConfig

__all__ = ["Timeouts", "TransferConfig"]


@dataclass(frozen=True)
class Timeouts:
    """Every stage of a request has a bound; none is infinite.

    Attributes:
        connect: TCP (and TLS) connect, seconds. Default 5 s: S3 answers in
            milliseconds, a slow connect means a bad IP and another IP is tried.
        first_byte: from the last byte of the request sent to the first byte of the
            response, seconds. Default 30 s (CompleteMultipartUpload of many parts can
            take long; S3 keeps the connection alive with whitespace then).
        idle: no byte received or sent for this long, seconds. Default 20 s.
        low_speed_bytes_per_s / low_speed_seconds: a response body slower than
            ``low_speed_bytes_per_s`` over a window of ``low_speed_seconds`` is
            abandoned and retried (the CRT's 1 B/s over 30 s catches only dead
            connections; ours also catches a crawling one). Default 32 KiB/s over 10 s.
        deadline: optional bound on a whole transfer, seconds. Default None.
    """

    connect: float = 5.0
    first_byte: float = 30.0
    idle: float = 20.0
    low_speed_bytes_per_s: int = 32 * KiB
    low_speed_seconds: float = 10.0
    deadline: float | None = None

    def __post_init__(self) -> None:
        for name in ("connect", "first_byte", "idle", "low_speed_seconds"):
            check_number("timeouts.", name, getattr(self, name), MAX_SECONDS, " seconds")
        if self.deadline is not None:
            check_number("timeouts.", "deadline", self.deadline, MAX_SECONDS, " seconds (or None)")
        rate = self.low_speed_bytes_per_s
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (math.isfinite(rate) and rate >= 0):
            raise ConfigError(f"timeouts.low_speed_bytes_per_s must be a finite number >= 0, got {rate!r}")


def _fold_expert(kwargs: dict[str, Any], old: dict[str, Any]) -> None:
    """``TransferConfig(splice=False)`` -> ``TransferConfig(expert=DataPathConfig(splice=False))``,
    on top of an ``expert`` given beside it (which is what :func:`dataclasses.replace` passes)."""
    if "tuner" in old and old["tuner"] is None:
        del old["tuner"]  # None used to mean "the tuner's defaults", which expert already holds
    expert = kwargs.get("expert", DataPathConfig())
    kwargs["expert"] = dataclasses.replace(expert, **old) if isinstance(expert, DataPathConfig) else expert


_EXPERT_KEYWORDS = ("io_chunk_size", "write_thread", "batch_small_files", "splice", "checksum_trailer",
                    "hedge", "tuner")


@old_keywords(_EXPERT_KEYWORDS, _fold_expert,
              lambda name: f"TransferConfig.{name} moved: read config.expert.{name} (s3fast.DataPathConfig)")
@dataclass(frozen=True)
class TransferConfig:
    """How transfers are split, how many run at once, and within what memory.

    Attributes:
        part_size: upload part size and download range size. Default 8 MiB (the
            size S3 recommends for ranges). Raised automatically to
            ``ceil(size / 10,000)`` for huge objects.
        multipart_threshold: objects of at least this size are uploaded in parts
            and downloaded in parallel ranges. Default 8 MiB.
        max_concurrency: a fixed cap on requests in flight for this client. Default
            None: auto-tuned toward ``target_gbps``, never above what ``memory_limit``
            allows.
        target_gbps: the throughput the tuner aims at. Default None: the EC2
            instance's recommended target when on EC2, else 10 Gbps.
        max_gbps: a hard cap on throughput (for sharing a link). Default None.
        memory_limit: hard bound on bytes held in part buffers. Default 256 MiB.
        checksum: full-object checksum sent with uploads: "crc64nvme" (default),
            "crc32c", "crc32" or "none".
        validate_checksum: on downloads, ask S3 for the stored checksum and fail on a
            mismatch. Default True. A COMPOSITE checksum (of part checksums, from other
            clients' multipart uploads) is checked on the stored parts' boundaries after the
            bytes landed (one more read of them; ``HEAD ?partNumber`` for the sizes); into a
            stream or file object, from the ranges' checksums when the ranges tile the parts
            (objects larger than ``part_size``), else ``checksum_verified`` is False.
        timeouts: see :class:`Timeouts`.
        retry: see :class:`RetryConfig`.
        expert: data-path settings (:class:`DataPathConfig`: receive buffers, splice,
            the writer and small-file threads, aws-chunked trailers, hedging, the
            auto-tuner, the IP table). Default: its defaults. The old keywords
            (``io_chunk_size``, ``write_thread``, ``batch_small_files``, ``splice``,
            ``checksum_trailer``, ``hedge``, ``tuner``) are still taken here and land in
            ``expert``; read them back as ``config.expert.<name>``.
    """

    part_size: int = 8 * MiB
    multipart_threshold: int = 8 * MiB
    max_concurrency: int | None = None
    target_gbps: float | None = None
    max_gbps: float | None = None
    memory_limit: int = 256 * MiB
    checksum: str = "crc64nvme"
    validate_checksum: bool = True
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetryConfig = field(default_factory=RetryConfig)
    expert: DataPathConfig = field(default_factory=DataPathConfig)

    def __post_init__(self) -> None:
        check_type("", "expert", self.expert, DataPathConfig)
        check_type("", "timeouts", self.timeouts, Timeouts)
        check_type("", "retry", self.retry, RetryConfig)
        check_int("", "part_size", self.part_size, 0, 2**63 - 1)
        if self.part_size < MIN_PART_SIZE or self.part_size > MAX_PART_SIZE:
            raise ConfigError(
                f"part_size must be between 5 MiB and 5 GiB (S3's limits), got {self.part_size} bytes"
            )
        check_int("", "multipart_threshold", self.multipart_threshold, 1, MAX_OBJECT_SIZE, " bytes")
        if self.max_concurrency is not None:
            check_int("", "max_concurrency", self.max_concurrency, 1, MAX_CONCURRENCY)
        for name in ("target_gbps", "max_gbps"):
            value = getattr(self, name)
            if value is not None:
                check_number("", name, value, MAX_GBPS, " Gbps")
        check_int("", "memory_limit", self.memory_limit, 0, MAX_MEMORY_LIMIT, " bytes")
        if self.memory_limit < self.part_size:
            raise ConfigError(
                f"memory_limit ({self.memory_limit} bytes) must hold at least one part ({self.part_size} bytes)"
            )
        if self.checksum not in CHECKSUM_ALGORITHMS:
            raise ConfigError(
                f"checksum must be one of {', '.join(CHECKSUM_ALGORITHMS)}, got {self.checksum!r}"
            )

    def replace(self, **changes: object) -> TransferConfig:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

