"""s3fast: a high-throughput S3 transfer engine.

Public surface (everything else is private and may change)::

    import s3fast

    async with s3fast.Client(endpoint_url=...) as client:
        await client.upload("big.bin", "s3://bucket/big.bin")
        await client.download("s3://bucket/big.bin", "copy.bin")

    s3fast.run(main())   # asyncio.run on uvloop when it is installed
"""
from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

from ._client import Client
from ._config import MAX_OBJECT_SIZE, MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE, Timeouts, TransferConfig
from ._errors import (
    AccessDenied,
    ChecksumMismatch,
    ConfigError,
    CredentialsError,
    LocalIOError,
    NetworkError,
    NoSuchBucket,
    NoSuchKey,
    PreconditionFailed,
    RequestTimeout,
    S3Error,
    S3FastError,
    TransferError,
)
from ._impl import MODE as IMPLEMENTATION
from ._results import ObjectHead, PartEvent, TransferResult
from ._retry import RetryConfig
from .transfer._hedge import HedgeConfig
from ._s3xml import ObjectInfo
from ._units import GiB, KiB, MiB, parse_size
from ._version import __version__

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], *, freeze_gc: bool = True) -> T:
    """Run ``coro`` to completion on uvloop when it is installed, else on asyncio's loop.

    ``freeze_gc`` (default True) first calls :func:`gc.freeze`: every object alive at that
    point (modules, classes, what the imports built) leaves the cyclic collector's scans
    for good. Each small request allocates a few dozen container objects, which keeps the
    collector busy, and its full collections otherwise walk the whole import-time heap:
    freezing cut the CPU of 1,000 64 KiB downloads from ~300-450 to ~190-200 µs of user
    time per object here. Objects created later are collected as usual.
    """
    if freeze_gc:
        gc.freeze()
    # The result is handed back through a box, not as the main task's result: on Python
    # 3.11, asyncio.Runner ends by comparing SIGINT handlers, which formats the main task's
    # repr, result included, so returning a 2 GiB buffer cost a minute and 12 GiB of memory.
    box: list[T] = []

    async def main() -> None:
        box.append(await coro)

    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
    return box[0]


__all__ = [
    # client and results
    "Client",
    "run",
    "TransferResult",
    "ObjectHead",
    "ObjectInfo",
    "PartEvent",
    # configuration
    "TransferConfig",
    "Timeouts",
    "RetryConfig",
    "HedgeConfig",
    "parse_size",
    "KiB",
    "MiB",
    "GiB",
    "MIN_PART_SIZE",
    "MAX_PART_SIZE",
    "MAX_PARTS",
    "MAX_OBJECT_SIZE",
    # errors
    "S3FastError",
    "ConfigError",
    "CredentialsError",
    "LocalIOError",
    "TransferError",
    "ChecksumMismatch",
    "S3Error",
    "NoSuchBucket",
    "NoSuchKey",
    "AccessDenied",
    "PreconditionFailed",
    "NetworkError",
    "RequestTimeout",
    # build info
    "IMPLEMENTATION",
    "__version__",
]
