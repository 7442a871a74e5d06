"""Typed, frozen configuration with documented defaults.

Change one value per call with :func:`dataclasses.replace`::

    cfg = TransferConfig(part_size=16 * MiB)
    fast = dataclasses.replace(cfg, target_gbps=25)

Memory bound
------------
Bytes held in part buffers never exceed ``memory_limit``. What needs a buffer:

* upload from a non-seekable stream or from bytes-like data that must be copied: one
  ``part_size`` buffer per part in flight;
* upload from a file: nothing over plain HTTP (``os.sendfile``), one ``io_chunk_size``
  read buffer per connection over HTTPS;
* download to a file: nothing over plain HTTP on Linux (``splice(2)`` moves the bytes
  socket -> pipe -> file; each connection has a pipe of up to 1 MiB of kernel memory),
  else one ``io_chunk_size`` receive buffer per range in flight (bytes go from the
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

from ._errors import ConfigError
from ._retry import RetryConfig
from .transfer._hedge import HedgeConfig
from .tuning._config import TunerConfig
from ._units import GiB, KiB, MiB

#: S3's limits on multipart uploads.
MIN_PART_SIZE = 5 * MiB
MAX_PART_SIZE = 5 * GiB
MAX_PARTS = 10_000
MAX_OBJECT_SIZE = MAX_PARTS * MAX_PART_SIZE  # 48.8 TiB
MAX_SINGLE_PUT = 5 * GiB

CHECKSUM_ALGORITHMS = ("crc64nvme", "crc32c", "crc32", "none")

#: Upper ends of the documented ranges. Nothing real comes near them; they exist so that a
#: typo (1e308, a 310-digit size) is refused with a message instead of overflowing a timer,
#: a float-to-int conversion or a 64-bit field somewhere deep inside.
MAX_GBPS = 10_000.0           # 10 Tbps: above any single host's network
MAX_CONCURRENCY = 10_000      # S3's part count: more requests than parts is never useful
MAX_MEMORY_LIMIT = 1024 * GiB
MAX_SECONDS = 10_000_000.0    # ~116 days, for any timeout or deadline


def _check_int(owner: str, name: str, value: object, low: int, high: int, unit: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{owner}{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"{owner}{name} must be between {low} and {high}{unit}, got {value}")


def _check_number(owner: str, name: str, value: object, high: float, unit: str = "") -> None:
    """A finite number in (0, high]: NaN, infinities, zero and negatives are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{owner}{name} must be a number, got {value!r}")
    if not (math.isfinite(value) and 0 < value <= high):
        raise ConfigError(f"{owner}{name} must be > 0 and at most {high:g}{unit}, got {value!r}")


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
            _check_number("timeouts.", name, getattr(self, name), MAX_SECONDS, " seconds")
        if self.deadline is not None:
            _check_number("timeouts.", "deadline", self.deadline, MAX_SECONDS, " seconds (or None)")
        rate = self.low_speed_bytes_per_s
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (math.isfinite(rate) and rate >= 0):
            raise ConfigError(f"timeouts.low_speed_bytes_per_s must be a finite number >= 0, got {rate!r}")


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
        io_chunk_size: receive buffer per range for file downloads that do not splice
            (HTTPS, or splice off). Default 256 KiB: over TLS each buffer is one round of
            decrypting records into it and one os.pwrite, and 256 KiB cost 1.5-1.85
            CPU-s/GiB against 2.3-2.8 for 128 KiB on a 2 GiB download here (1 MiB: 1.7-2.0).
        write_thread: hand file writes to a writer thread instead of writing each receive
            from the event loop's callback. Default False: on the 2-core reference machine
            the thread hand-offs cost more CPU (1.2-1.7 against 1.0-1.1 CPU-s/GiB for a
            2 GiB download) than the second core gains; try True on many-core hosts.
        batch_small_files: downloads of small objects to files (bodies that arrive
            whole with their headers, up to ~128 KiB) are kept in memory (paid for in
            ``memory_limit``; written from the loop when it is full) and then created,
            written and named on a thread, many files per hand-off, with the GIL
            released: the kernel's file work runs on another core while the loop keeps
            receiving. Measured here on 1,000 x 64 KiB to disk (alternated pairs,
            ``benchmarks/probes/smallbatch.py``): HTTP 3,640-5,900 against 2,160-4,870
            objects/s written from the loop, HTTPS 2,930-4,600 against 2,210-3,960, for
            ~10% more CPU across both threads. Compiled core only (the pure-Python
            fallback writes from the loop). Default True.
        splice: on Linux, plain-HTTP file downloads move the body socket -> pipe -> file
            with splice(2): one kernel copy instead of two, and no user-space buffer.
            Measured here: 0.55-0.65 CPU-s/GiB and 1.7-1.9 GB/s, against 0.9-1.1 and
            ~1.0 GB/s for recv + pwrite. Each connection then holds a pipe of up to 1 MiB
            of kernel memory. A filesystem that refuses splice is detected and written
            with pwrite instead. Default True.
        checksum: full-object checksum sent with uploads: "crc64nvme" (default),
            "crc32c", "crc32" or "none".
        checksum_trailer: over HTTPS, send each part's checksum in an aws-chunked
            trailer (``STREAMING-UNSIGNED-PAYLOAD-TRAILER``, as the AWS SDKs do), computed
            chunk by chunk as the bytes are encrypted: the data is read once instead of
            twice (checksum, then send). Plain HTTP keeps the header: its file bodies go
            by sendfile and never pass through user space. False: always a header, for
            S3-compatible servers without aws-chunked trailers. Default True.
        validate_checksum: on downloads, ask S3 for the stored checksum and fail on a
            mismatch. Default True. A COMPOSITE checksum (of part checksums, from other
            clients' multipart uploads) is checked on the stored parts' boundaries after the
            bytes landed (one more read of them; ``HEAD ?partNumber`` for the sizes); into a
            stream or file object, from the ranges' checksums when the ranges tile the parts
            (objects larger than ``part_size``), else ``checksum_verified`` is False.
        timeouts: see :class:`Timeouts`.
        retry: see :class:`RetryConfig`.
        hedge: straggler hedging of download ranges, see :class:`HedgeConfig`.
        tuner: expert settings of the auto-tuner (:class:`s3fast.tuning.TunerConfig`:
            window length, ramp factor, back-off...). Default None: its defaults;
            ``target_gbps``, ``max_gbps`` and ``max_concurrency`` above always win.
    """

    part_size: int = 8 * MiB
    multipart_threshold: int = 8 * MiB
    max_concurrency: int | None = None
    target_gbps: float | None = None
    max_gbps: float | None = None
    memory_limit: int = 256 * MiB
    io_chunk_size: int = 256 * KiB
    write_thread: bool = False
    batch_small_files: bool = True
    splice: bool = True
    checksum: str = "crc64nvme"
    checksum_trailer: bool = True
    validate_checksum: bool = True
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetryConfig = field(default_factory=RetryConfig)
    hedge: HedgeConfig = field(default_factory=HedgeConfig)
    tuner: TunerConfig | None = None

    def __post_init__(self) -> None:
        _check_int("", "part_size", self.part_size, 0, 2**63 - 1)
        if self.part_size < MIN_PART_SIZE or self.part_size > MAX_PART_SIZE:
            raise ConfigError(
                f"part_size must be between 5 MiB and 5 GiB (S3's limits), got {self.part_size} bytes"
            )
        _check_int("", "multipart_threshold", self.multipart_threshold, 1, MAX_OBJECT_SIZE, " bytes")
        if self.max_concurrency is not None:
            _check_int("", "max_concurrency", self.max_concurrency, 1, MAX_CONCURRENCY)
        for name in ("target_gbps", "max_gbps"):
            value = getattr(self, name)
            if value is not None:
                _check_number("", name, value, MAX_GBPS, " Gbps")
        _check_int("", "memory_limit", self.memory_limit, 0, MAX_MEMORY_LIMIT, " bytes")
        if self.memory_limit < self.part_size:
            raise ConfigError(
                f"memory_limit ({self.memory_limit} bytes) must hold at least one part ({self.part_size} bytes)"
            )
        _check_int("", "io_chunk_size", self.io_chunk_size, 0, MAX_PART_SIZE, " bytes")
        if self.io_chunk_size < 64 * KiB:
            raise ConfigError(f"io_chunk_size must be >= 64 KiB, got {self.io_chunk_size}")
        if self.checksum not in CHECKSUM_ALGORITHMS:
            raise ConfigError(
                f"checksum must be one of {', '.join(CHECKSUM_ALGORITHMS)}, got {self.checksum!r}"
            )

    def replace(self, **changes: object) -> TransferConfig:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
