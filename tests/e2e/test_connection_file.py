"""A connection writing a response body straight into a file.

Three routes, each test runs all: splice(2) socket -> pipe -> file (plain TCP on Linux),
the Receiver's file mode (recv into a chunk, pwrite from the loop's callback; compiled and
pure twins, as the suite runs in both modes), and the same over TLS (the event loop's SSL transport). Against a real HTTP server on 127.0.0.1
started here: the bytes land at the right offset with the right checksum, progress is
reported while the body streams, a failed disk write and a body cut short both stop the
read with the right error and say exactly how many bytes reached the file (what a retry
resumes from).
"""
from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from s3fast import _checksum
from s3fast._config import Timeouts
from s3fast._errors import LocalIOError, NetworkError
from s3fast.net._connection import Connection
from s3fast.net._pool import open_connection

from support.responder import responder
from support.tlsrelay import make_cert

from s3fast.net._tls import make_ssl_context

MiB = 1024 * 1024
# Long enough that progress ticks at least twice before the last read whatever the
# socket hands over: a splice moves up to a pipe's worth (1 MiB) and the final one does not
# tick, so 4 MiB less the bytes stashed with the head still crosses 2 MiB before it.
BODY = os.urandom(4 * MiB + 12345)
CRC = _checksum.ALGORITHMS["crc64nvme"]


@dataclass(frozen=True)
class Route:
    splice: bool
    server_tls: ssl.SSLContext | None = None
    client_tls: ssl.SSLContext | None = None


@pytest.fixture(scope="module", params=["splice", "recv", "tls"])
def route(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Route:
    if request.param != "tls":
        return Route(splice=request.param == "splice")
    cert, key = make_cert(tmp_path_factory.mktemp("tls"), "localhost")
    srv = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv.load_cert_chain(cert, key)
    return Route(splice=True, server_tls=srv, client_tls=make_ssl_context(str(cert), verify=True))


def server(send_body: Callable[[asyncio.StreamWriter], Awaitable[None]],
           route: Route) -> AbstractAsyncContextManager[int]:
    """Answer each request with a head announcing ``BODY`` and then ``send_body``."""

    async def respond(writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY))
        await send_body(writer)
        return True

    return responder(respond, tls=route.server_tls)


async def whole(writer: asyncio.StreamWriter) -> None:
    for off in range(0, len(BODY), 100_000):  # many small writes: many receives
        writer.write(BODY[off:off + 100_000])
        await writer.drain()


async def cut_after_1mib(writer: asyncio.StreamWriter) -> None:
    writer.write(BODY[:MiB + 7])
    await writer.drain()
    writer.close()


async def connect(port: int, route: Route) -> Connection:
    conn = await open_connection("127.0.0.1", port, "localhost", Timeouts(), route.client_tls)
    await conn.send_request(b"GET /obj HTTP/1.1\r\nHost: localhost\r\n\r\n", None)
    head = await conn.read_head()
    assert head.status == 200 and head.content_length == len(BODY)
    return conn


def run(coro: Awaitable[object]) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_body_lands_at_offset_with_checksum_and_progress(tmp_path: Path, route: Route) -> None:
    dst = tmp_path / "out.bin"
    offset = 4096 + 17

    async def main() -> tuple[int, int, int, bool]:
        async with server(whole, route) as port:
            conn = await connect(port, route)
            ticks = []
            fd = os.open(dst, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                await conn.read_into_file(fd, offset, len(BODY), memoryview(bytearray(128 * 1024)),
                                          crc_fn=CRC.update, crc=0, on_progress=lambda: ticks.append(conn.file_written),
                                          splice=route.splice)
            finally:
                os.close(fd)
            reusable = conn.reusable
            conn.close()
            return conn.file_written, conn.file_crc, len(ticks), reusable

    written, crc, ticks, reusable = run(main())  # type: ignore[misc]
    assert written == len(BODY)
    assert dst.read_bytes()[offset:] == BODY and len(dst.read_bytes()) == offset + len(BODY)
    assert crc == CRC.of(BODY)
    assert ticks >= 2  # progress while the body streamed, not only at the end
    assert reusable  # the whole body was consumed: back to the pool


def test_two_ranges_of_one_body_resume_where_the_first_stopped(tmp_path: Path, route: Route) -> None:
    dst = tmp_path / "out.bin"

    async def main() -> None:
        async with server(whole, route) as port:
            conn = await connect(port, route)
            fd = os.open(dst, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                buf = memoryview(bytearray(64 * 1024))
                await conn.read_into_file(fd, 0, MiB, buf, crc_fn=CRC.update, crc=0, splice=route.splice)
                first = conn.file_crc
                assert conn.file_written == MiB and not conn.reusable
                await conn.read_into_file(fd, MiB, len(BODY) - MiB, buf, crc_fn=CRC.update, crc=first,
                                          splice=route.splice)
                assert conn.file_crc == CRC.of(BODY)
            finally:
                os.close(fd)
            conn.close()

    run(main())
    assert dst.read_bytes() == BODY


def test_failed_disk_write_stops_the_read_and_kills_the_connection(tmp_path: Path, route: Route) -> None:
    dst = tmp_path / "out.bin"
    dst.write_bytes(b"")

    async def main() -> tuple[type[BaseException], str, int, bool]:
        async with server(whole, route) as port:
            conn = await connect(port, route)
            fd = os.open(dst, os.O_RDONLY)  # every write fails (EBADF)
            try:
                with pytest.raises(LocalIOError) as info:
                    await conn.read_into_file(fd, 0, len(BODY), memoryview(bytearray(128 * 1024)), splice=route.splice)
            finally:
                os.close(fd)
            return info.type, str(info.value), conn.file_written, conn.reusable

    kind, message, written, reusable = run(main())  # type: ignore[misc]
    assert kind is LocalIOError and "cannot write" in message
    assert written == 0 and not reusable
    assert dst.read_bytes() == b""


def test_body_cut_short_says_how_much_reached_the_file(tmp_path: Path, route: Route) -> None:
    dst = tmp_path / "out.bin"

    async def main() -> tuple[str, int]:
        async with server(cut_after_1mib, route) as port:
            conn = await connect(port, route)
            fd = os.open(dst, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                with pytest.raises(NetworkError) as info:
                    await conn.read_into_file(fd, 0, len(BODY), memoryview(bytearray(128 * 1024)),
                                              crc_fn=CRC.update, crc=0, splice=route.splice)
            finally:
                os.close(fd)
            assert conn.file_crc == CRC.of(BODY[:conn.file_written])
            return info.value.kind, conn.file_written  # type: ignore[attr-defined]

    kind, written = run(main())  # type: ignore[misc]
    assert kind == "short-read"
    assert written == MiB + 7
    assert dst.read_bytes() == BODY[:MiB + 7]


def test_file_refusing_splice_falls_back_to_pwrite(tmp_path: Path) -> None:
    # splice(2) refuses a file opened for appending (EINVAL), as some filesystems refuse
    # it altogether: the bytes already in the pipe and the rest of the body are written
    # with pwrite, and the connection says so (the download then stops asking for splice).
    dst = tmp_path / "out.bin"

    async def main() -> tuple[bool, int]:
        async with server(whole, Route(splice=True)) as port:
            conn = await connect(port, Route(splice=True))
            fd = os.open(dst, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                await conn.read_into_file(fd, 0, len(BODY), memoryview(bytearray(128 * 1024)),
                                          crc_fn=CRC.update, crc=0, splice=True)
            finally:
                os.close(fd)
            conn.close()
            return conn.splice_refused, conn.file_crc

    refused, crc = run(main())  # type: ignore[misc]
    assert refused
    assert dst.read_bytes() == BODY and crc == CRC.of(BODY)
