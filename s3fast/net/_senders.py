"""How a request goes out, one sender per kind of body, chosen by the body's type.

- no body, or a small bytes-like one: one write (one writev with the head);
- a large bytes-like body: 1 MiB writes, each after the socket drained the last;
- a :class:`FileSlice`: ``os.sendfile`` over plain TCP (zero-copy, on our own duplicate
  of the socket so the transport's registration is untouched; uvloop has no
  ``loop.sendfile``), else ``pread`` in 1 MiB chunks (TLS must see the bytes);
- an :class:`EncodedBody`: its pieces, each produced once the socket took the last.
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from .._errors import NetworkError
from ._body import EncodedBody, FileSlice

SEND_CHUNK = 1024 * 1024
#: bodies up to this size go out in one writev with the head
SMALL_BODY = 64 * 1024


class Channel(Protocol):
    """What a sender needs of a connection."""

    ip: str
    tls: bool
    tx_bytes: int
    last_tx: float
    transport: asyncio.Transport | None
    loop: asyncio.AbstractEventLoop

    async def drain_writes(self) -> None: ...

    def socket_fd(self) -> int: ...

    async def wait_writable(self, fd: int) -> None: ...


Sender = Callable[[Channel, bytes, Any], Awaitable[None]]


def send_now(conn: Channel, head: bytes, body: object) -> bool:
    """Send the request at once when it goes out in one write (no body, or a bytes-like one
    up to ``SMALL_BODY``): True if sent. Most requests are such, and this way they cost no
    coroutine; the others go through their sender (``sender_for``)."""
    transport = conn.transport
    assert transport is not None
    if body is None:
        transport.write(head)
        return True
    kind = type(body)
    if (kind is bytes or kind is bytearray or kind is memoryview) and len(body) <= SMALL_BODY:  # type: ignore[arg-type]
        if body:
            transport.writelines((head, body))  # type: ignore[arg-type]  # one writev, no concatenation copy
            conn.tx_bytes += len(body)  # type: ignore[arg-type]
        else:
            transport.write(head)
        return True
    return False


async def send_head_only(conn: Channel, head: bytes, body: None) -> None:
    conn.transport.write(head)  # type: ignore[union-attr]


async def send_buffer(conn: Channel, head: bytes, body: bytes | bytearray | memoryview) -> None:
    transport = conn.transport
    assert transport is not None
    if len(body) <= SMALL_BODY:
        if body:
            transport.writelines((head, body))  # one writev, no concatenation copy
            conn.tx_bytes += len(body)
        else:
            transport.write(head)
        return
    transport.write(head)
    view = memoryview(body).cast("B")
    time = conn.loop.time
    for off in range(0, len(view), SEND_CHUNK):
        await conn.drain_writes()
        chunk = view[off:off + SEND_CHUNK]
        transport.write(chunk)
        conn.tx_bytes += len(chunk)
        conn.last_tx = time()


async def send_file(conn: Channel, head: bytes, body: FileSlice) -> None:
    if conn.tls:
        conn.transport.write(head)  # type: ignore[union-attr]
        await _send_file_chunks(conn, body)
    else:
        await _sendfile(conn, head, body)


async def _send_file_chunks(conn: Channel, body: FileSlice) -> None:
    transport = conn.transport
    assert transport is not None
    time = conn.loop.time
    offset, left = body.offset, body.size
    while left:
        await conn.drain_writes()
        data = os.pread(body.fd, min(SEND_CHUNK, left), offset)
        if not data:
            raise NetworkError("source file shrank while uploading", ip=conn.ip, kind="source")
        transport.write(data)
        conn.tx_bytes += len(data)
        conn.last_tx = time()
        offset += len(data)
        left -= len(data)


async def _sendfile(conn: Channel, head: bytes, body: FileSlice) -> None:
    # The transport's buffer is empty between requests, so the head and the body can go
    # out on our own descriptor of the socket without reordering anything.
    fd = conn.socket_fd()
    await conn.drain_writes()
    view = memoryview(head)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            await conn.wait_writable(fd)
            continue
        except OSError as exc:
            raise NetworkError(f"send to {conn.ip} failed: {exc}", ip=conn.ip, kind="reset") from exc
        view = view[n:]
    time = conn.loop.time
    offset, left = body.offset, body.size
    while left:
        try:
            n = os.sendfile(fd, body.fd, offset, left)
        except BlockingIOError:
            await conn.wait_writable(fd)
            continue
        except OSError as exc:
            raise NetworkError(f"send to {conn.ip} failed: {exc}", ip=conn.ip, kind="reset") from exc
        if n == 0:
            raise NetworkError("source file shrank while uploading", ip=conn.ip, kind="source")
        offset += n
        left -= n
        conn.tx_bytes += n
        conn.last_tx = time()


async def send_encoded(conn: Channel, head: bytes, body: EncodedBody) -> None:
    transport = conn.transport
    assert transport is not None
    transport.write(head)
    time = conn.loop.time
    pieces = body.pieces()
    while True:
        await conn.drain_writes()  # before the next piece is produced: it goes out hot
        piece = next(pieces, None)
        if piece is None:
            return
        buffers, n = piece
        transport.writelines(buffers)
        conn.tx_bytes += n
        conn.last_tx = time()


_BY_TYPE: dict[type, Sender] = {
    type(None): send_head_only,
    bytes: send_buffer,
    bytearray: send_buffer,
    memoryview: send_buffer,
    FileSlice: send_file,
}


def sender_for(body: object) -> Sender:
    """The sender for ``body``: by its type; any other object is an EncodedBody."""
    return _BY_TYPE.get(type(body), send_encoded)
