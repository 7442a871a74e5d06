"""Where a download's bytes go: one protocol for every destination (``open_sink`` in
``_download`` picks the strategy; nothing else asks what the destination is).

* ``BufferSink``: a writable buffer; ranges land in place, anywhere.
* ``FileSink`` (``_localfs``): a path; ranges land in an unnamed file, named at the end.
* ``InOrderSink`` (``_ordered``): a file object, a device, a FIFO or an inherited
  descriptor; bytes are written once, in order, from a bounded window of range buffers.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .. import _checksum
from .._errors import ConfigError, LocalIOError


class Sink:
    """The protocol; its defaults are those of a sink that holds the bytes in memory."""

    #: bytes are handed on in order (``_ordered``) instead of landing at their offsets
    in_order = False
    #: the bytes' destination in memory, when they land in memory (else a file: ``fd``)
    view: memoryview | None = None

    def open(self, size: int, *, sparse: bool = True) -> None:
        """Get ready for ``size`` bytes arriving in ranges (``sparse``: in any order)."""

    def open_single(self, size: int, *, whole: bool) -> None:
        """Get ready for ``size`` bytes from one request (``whole``: already received)."""
        self.open(size, sparse=False)

    def finish(self) -> Awaitable[None] | None:
        """Once every range is in: what to await before the bytes are checked (None: nothing)."""
        return None

    def commit(self) -> Awaitable[None] | None:
        """The bytes are verified: make them the destination (an awaitable, or None when done)."""
        return None

    def discard(self) -> None:
        """The download failed: leave nothing behind."""

    async def settle(self) -> None:
        """The download is failing: wait until nothing writes into the sink any more."""

    def range_crc(self, algo: _checksum.Algorithm) -> Callable[[int, int], int]:
        """(offset, size) -> the checksum of those landed bytes (a COMPOSITE check)."""
        view = self.view
        assert view is not None

        def range_crc(offset: int, size: int) -> int:
            return algo.of(view[offset:offset + size])
        return range_crc


class OwnedBuffer(bytearray):
    """A bytearray s3fast allocates for the caller (``get_bytes``): it may grow to ``limit``
    bytes at most, checked before the allocation (an honest Content-Length of 2**40 would
    otherwise end in MemoryError, or in swap)."""

    limit: int | None = None


class BufferSink(Sink):
    """A writable buffer (a bytearray is resized to the object's size)."""

    def __init__(self, buf: Any) -> None:
        self.buf = buf
        self.view: memoryview | None = None

    def __repr__(self) -> str:
        return f"<BufferSink {type(self.buf).__name__} size={self.view.nbytes if self.view is not None else None}>"

    def open(self, size: int, *, sparse: bool = True) -> None:
        limit = self.buf.limit if isinstance(self.buf, OwnedBuffer) else None
        if limit is not None and size > limit:
            raise ConfigError(f"the object is {size} bytes, more than get_bytes may hold (memory_limit,"
                              f" {limit} bytes): download it to a file, stream() it, or raise memory_limit")
        if isinstance(self.buf, bytearray) and len(self.buf) != size:
            # Re-initialise in place: one zero-filled allocation, no copy.
            self.buf.__init__(size)  # type: ignore[misc]
        view = memoryview(self.buf).cast("B")
        if view.readonly:
            raise LocalIOError("destination buffer is read-only")
        if view.nbytes < size:
            raise LocalIOError(f"destination buffer holds {view.nbytes} bytes, the object has {size}")
        self.view = view
