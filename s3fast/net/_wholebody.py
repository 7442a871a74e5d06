"""Bodies read whole into memory (XML answers, error documents), never past a limit.

Each reader takes ``read(view)``, which fills some of ``view`` with the next body bytes as
soon as any arrive and returns how many (0 once the connection closed), so the limit is
checked per receive, not after the body is in. A refused body's partial bytes are
dropped at once: the exception's traceback keeps the reader's frame alive while the
caller retries.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from .._errors import NetworkError
from ._chunked import ChunkedDecoder, ChunkedError

PartialRead = Callable[[memoryview], Awaitable[int]]
_RECV = 64 * 1024


def too_large(ip: str, limit: int) -> NetworkError:
    return NetworkError(f"response body from {ip} is larger than the {limit}-byte limit", ip=ip, kind="protocol")


async def read_chunked(read: PartialRead, limit: int, ip: str) -> bytes:
    """A chunked body, decoded; more than ``limit`` decoded bytes is refused."""
    decoder = ChunkedDecoder(limit)
    chunk = bytearray(_RECV)
    view = memoryview(chunk)
    try:
        while not decoder.done:
            n = await read(view)
            if n == 0:
                raise NetworkError(f"chunked body from {ip} ended early", ip=ip, kind="short-read")
            try:
                used = decoder.feed(chunk, 0, n)
            except ChunkedError as exc:
                raise NetworkError(f"bad chunked body from {ip}: {exc}", ip=ip, kind="protocol") from None
            if used != n:
                raise NetworkError(f"extra bytes after chunked body from {ip}", ip=ip, kind="protocol")
    except BaseException:
        decoder.body.clear()
        raise
    return bytes(decoder.body)


async def read_until_close(read: PartialRead, limit: int, ip: str) -> bytes:
    """A body delimited by the connection's close (not something S3 does; some proxies do)."""
    out = bytearray()
    chunk = bytearray(_RECV)
    view = memoryview(chunk)
    try:
        while True:
            n = await read(view)
            if n == 0:
                return bytes(out)
            if len(out) + n > limit:
                raise too_large(ip, limit)
            out += view[:n]
    except BaseException:
        out.clear()
        raise
