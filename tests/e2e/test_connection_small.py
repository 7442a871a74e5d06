"""Small response bodies: received into the connection's head buffer beside their head.

A body that fits there (up to ~128 KiB) is not handed a buffer by the reader: the socket
is never paused, and the reader wakes once, when the whole response is in. Against a
real HTTP server on 127.0.0.1 started here, sending each body in several writes: the
bytes are right on both sides of the size limit, the connection is reusable afterwards,
a body cut short is a short read that says how much is missing, and the bytes are
counted as they arrive (the tuner's meter and the low-speed watchdog read the count).
Runs against the compiled and the pure receive path, as the whole suite does, over plain
TCP and over TLS (the event loop's SSL transport, as s3fast's HTTPS connections use).
"""
from __future__ import annotations

import asyncio
import os
import ssl
from contextlib import AbstractAsyncContextManager

import pytest

from s3fast._config import Timeouts
from s3fast._errors import NetworkError
from s3fast.net._connection import HEAD_BUFFER_SIZE, Connection
from s3fast.net._pool import open_connection

from support.responder import responder
from support.tlsrelay import make_cert

from s3fast.net._tls import make_ssl_context

HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"


@pytest.fixture(scope="module", params=["tcp", "tls"])
def tls(request: pytest.FixtureRequest,
        tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext | None, ssl.SSLContext | None]:
    """(server context, client context) for TLS, (None, None) for plain TCP."""
    if request.param == "tcp":
        return None, None
    cert, key = make_cert(tmp_path_factory.mktemp("tls"), "localhost")
    srv = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv.load_cert_chain(cert, key)
    return srv, make_ssl_context(str(cert), verify=True)


def server(body: bytes, *, cut_at: int | None = None,
           tls: ssl.SSLContext | None = None) -> AbstractAsyncContextManager[int]:
    """Answer every request with ``body`` in three writes; with ``cut_at``, close the
    connection after that many body bytes."""

    async def respond(writer: asyncio.StreamWriter) -> bool:
        writer.write(HEAD % len(body))
        data = body if cut_at is None else body[:cut_at]
        third = max(1, len(data) // 3)
        for off in range(0, len(data), third):
            writer.write(data[off:off + third])
            await writer.drain()
        return cut_at is None

    return responder(respond, tls=tls)


async def get(conn: Connection, n: int) -> bytes:
    await conn.send_request(b"GET /obj HTTP/1.1\r\nHost: localhost\r\n\r\n", None)
    head = await conn.read_head()
    assert head.status == 200 and head.content_length == n
    # Counted on arrival: a stashed body is all in before the reader asks for it.
    if len(HEAD % n) + n <= HEAD_BUFFER_SIZE:
        assert conn.rx_bytes == n
    buf = bytearray(n)
    got = await conn.read_into(memoryview(buf)) if n else 0
    assert got == n
    return bytes(buf)


def limit_for_head(extra: int) -> int:
    """The largest body that still fits beside its head, plus ``extra``."""
    n = HEAD_BUFFER_SIZE - len(HEAD % HEAD_BUFFER_SIZE)
    return n + extra


@pytest.mark.parametrize("size", [0, 1, 4096, 65536, limit_for_head(0), limit_for_head(1), 1 << 20],
                         ids=["0", "1", "4k", "64k", "limit", "limit+1", "1m"])
def test_bodies_arrive_whole_around_the_stash_limit_and_the_connection_is_reused(size: int, tls) -> None:  # type: ignore[no-untyped-def]
    body = os.urandom(size)

    async def main() -> None:
        async with server(body, tls=tls[0]) as port:
            conn = await open_connection("127.0.0.1", port, "localhost", Timeouts(), tls[1])
            try:
                for _ in range(3):  # keep-alive: the same connection answers again
                    assert await get(conn, size) == body
                    assert conn.reusable
                assert conn.requests == 3
            finally:
                conn.close()

    asyncio.run(main())


@pytest.mark.parametrize("size", [30_000, limit_for_head(0)], ids=["30k", "limit"])
def test_small_body_cut_short_is_a_short_read_naming_the_gap(size: int, tls) -> None:  # type: ignore[no-untyped-def]
    body = os.urandom(size)
    cut = size // 2 + 1

    async def main() -> None:
        async with server(body, cut_at=cut, tls=tls[0]) as port:
            conn = await open_connection("127.0.0.1", port, "localhost", Timeouts(), tls[1])
            await conn.send_request(b"GET /obj HTTP/1.1\r\nHost: localhost\r\n\r\n", None)
            with pytest.raises(NetworkError) as info:
                await conn.read_head()
            assert info.value.kind == "short-read"
            assert f"after {cut} body bytes, {size - cut} short of Content-Length" in str(info.value)
            assert conn.rx_bytes == cut
            assert not conn.reusable

    asyncio.run(main())
