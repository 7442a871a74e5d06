"""s3fast: a high-throughput S3 transfer engine.

Public surface (everything else is private and may change)::

    import s3fast

    async with s3fast.Client(endpoint_url=...) as client:
        await client.upload("big.bin", "s3://bucket/big.bin")
        await client.download("s3://bucket/big.bin", "copy.bin")

    s3fast.run(main())   # asyncio.run on uvloop when it is installed
"""
from __future__ import annotations

from . import _inherited  # noqa: F401 - first: the snapshot must precede anything we open

import gc
import importlib
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from ._version import __version__

if TYPE_CHECKING:
    from ._client import Client
    from .config import (
        MAX_OBJECT_SIZE,
        MAX_PART_SIZE,
        MAX_PARTS,
        MIN_PART_SIZE,
        DataPathConfig,
        EndpointConfig,
        HedgeConfig,
        RetryConfig,
        Timeouts,
        TransferConfig,
        TunerConfig,
    )
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
    from ._results import Checksum, ObjectHead, PartEvent, TransferResult
    from ._s3xml import ObjectInfo
    from ._units import GiB, KiB, MiB, parse_size

# Public name -> (private module, its name there), imported on first access (PEP 562):
# ``s3fast --version`` or a program that only reads ``s3fast.MiB`` does not pay for the
# client, asyncio, ssl and awscrt, which the transfer path imports.
_LAZY: dict[str, tuple[str, str]] = {
    "Client": ("._client", "Client"),
    **{name: (".config", name) for name in (
        "MAX_OBJECT_SIZE", "MAX_PART_SIZE", "MAX_PARTS", "MIN_PART_SIZE", "Timeouts", "TransferConfig",
        "RetryConfig", "DataPathConfig", "HedgeConfig", "TunerConfig", "EndpointConfig")},
    **{name: ("._errors", name) for name in (
        "AccessDenied", "ChecksumMismatch", "ConfigError", "CredentialsError", "LocalIOError",
        "NetworkError", "NoSuchBucket", "NoSuchKey", "PreconditionFailed", "RequestTimeout", "S3Error",
        "S3FastError", "TransferError")},
    "IMPLEMENTATION": ("._impl", "MODE"),
    **{name: ("._results", name) for name in ("Checksum", "ObjectHead", "PartEvent", "TransferResult")},
    "ObjectInfo": ("._s3xml", "ObjectInfo"),
    **{name: ("._units", name) for name in ("GiB", "KiB", "MiB", "parse_size")},
}


def __getattr__(name: str) -> Any:
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(where[0], __name__), where[1])
    globals()[name] = value  # later accesses are plain module attributes
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


T = TypeVar("T")


def tune_process() -> None:
    """Process-wide settings that make a transfer process cheaper; :func:`run` and
    ``s3fast cp`` call it, call it yourself after your imports if you run the client on
    your own event loop.

    * :func:`gc.freeze`: every object alive now (modules, classes, what the imports built)
      leaves the cyclic collector's scans for good (only the first call freezes). Small requests allocate a few dozen
      container objects each, and the collector's full passes otherwise walk the whole
      import-time heap: user CPU of 1,000 64 KiB downloads fell from ~300-450 to
      ~190-200 µs per object here. Objects created later are collected as usual.
    * glibc malloc: blocks up to 8 MiB come from the heap instead of fresh mmaps, and up to
      64 MiB of freed heap is kept instead of being returned at once. Otherwise every
      1 MiB read buffer of a TLS upload is a new mapping the kernel zero-fills and tears
      down again: 2 GiB over HTTPS went from ~3.0 to ~1.7 CPU-s/GiB (340 -> 650 MB/s).
      Peak memory is unchanged (freed blocks are reused). Nothing happens off glibc.
    """
    if _TUNED:
        return  # once per process: a later freeze would pin whatever garbage exists then
    _TUNED.append(True)
    # The transfer machinery is imported lazily; load it now so that the freeze covers it.
    importlib.import_module("._client", __name__)
    gc.freeze()
    _tune_malloc()


_TUNED: list[bool] = []


def _tune_malloc() -> None:
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return  # not glibc (musl has no mallopt)
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 8 * 1024 * 1024)
    mallopt(m_trim_threshold, 64 * 1024 * 1024)


def run(coro: Coroutine[Any, Any, T], *, tune: bool = True) -> T:
    """Run ``coro`` to completion on uvloop when it is installed, else on asyncio's loop.

    ``tune`` (default True) first calls :func:`tune_process`.
    """
    if tune:
        tune_process()
    # The result is handed back through a box, not as the main task's result: on Python
    # 3.11, asyncio.Runner ends by comparing SIGINT handlers, which formats the main task's
    # repr, result included, so returning a 2 GiB buffer cost a minute and 12 GiB of memory.
    box: list[T] = []

    async def main() -> None:
        box.append(await coro)

    import asyncio

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
    "tune_process",
    "TransferResult",
    "Checksum",
    "ObjectHead",
    "ObjectInfo",
    "PartEvent",
    # configuration
    "TransferConfig",
    "Timeouts",
    "RetryConfig",
    "DataPathConfig",
    "HedgeConfig",
    "TunerConfig",
    "EndpointConfig",
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
