"""A misbehaving HTTP/1.1 server on 127.0.0.1, for tests of the client against hostile answers.

Each request is answered with what the test scripts for it (``route(method, target)``): a
raw head, exactly as given, and a body produced lazily piece by piece, so an answer that
declares a gigabyte or never sends a line end costs the server nothing but the sending.
``s3_multipart`` plays just enough of S3's multipart upload (create, parts, abort) for an
upload to reach its CompleteMultipartUpload, whose answer is the hostile one.

The server reads each request's body (by its Content-Length) and drops it. It records
every request line in ``requests``, and the body bytes it got onto the wire in ``sent``.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType


@dataclass(frozen=True)
class Answer:
    """A raw head (sent as is) and body pieces; ``close`` ends the connection after them."""

    head: bytes
    body: Callable[[], Iterable[bytes]] = lambda: ()
    close: bool = True


def repeat(piece: bytes, total: int) -> Callable[[], Iterator[bytes]]:
    """``total`` bytes of ``piece`` over and over (the same object: nothing is allocated)."""

    def gen() -> Iterator[bytes]:
        left = total
        while left >= len(piece):
            yield piece
            left -= len(piece)
        if left:
            yield piece[:left]

    return gen


def chain(*parts: bytes | Callable[[], Iterable[bytes]]) -> Callable[[], Iterator[bytes]]:
    """Fixed bytes and lazy bodies, one after the other."""

    def gen() -> Iterator[bytes]:
        for part in parts:
            if isinstance(part, bytes):
                yield part
            else:
                yield from part()

    return gen


def status(code: int, reason: str, *headers: str) -> bytes:
    """A head: status line, the given header lines, blank line."""
    return (f"HTTP/1.1 {code} {reason}\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n").encode("latin-1")


def fixed(code: int, body: bytes, *headers: str, close: bool = False) -> Answer:
    """A well-formed answer with a Content-Length body."""
    return Answer(status(code, "OK" if code < 300 else "Error", f"Content-Length: {len(body)}", *headers),
                  lambda: (body,), close=close)


_INITIATED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<InitiateMultipartUploadResult>'
              b"<Bucket>b</Bucket><Key>k</Key><UploadId>hostile-upload</UploadId>"
              b"</InitiateMultipartUploadResult>")


def s3_multipart(complete: Answer) -> Callable[[str, str], Answer]:
    """Create, UploadPart and Abort answered as S3 would; Complete gets ``complete``."""

    def route(method: str, target: str) -> Answer:
        if method == "POST" and "uploads" in target.partition("?")[2].split("&"):
            return fixed(200, _INITIATED)
        if method == "PUT" and "partNumber=" in target:
            return fixed(200, b"", 'ETag: "0123456789abcdef0123456789abcdef"')
        if method == "POST" and "uploadId=" in target:
            return complete
        if method == "DELETE" and "uploadId=" in target:
            return Answer(status(204, "No Content"), close=False)
        return fixed(404, b"<Error><Code>NoSuchKey</Code></Error>")

    return route


class HostileServer:
    """``async with HostileServer(route) as srv``: serving on ``srv.endpoint_url`` until the block ends."""

    def __init__(self, route: Callable[[str, str], Answer]) -> None:
        self.route = route
        self.requests: list[tuple[str, str]] = []
        self.sent = 0
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"<HostileServer 127.0.0.1:{self.port} requests={len(self.requests)} sent={self.sent}>"

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> HostileServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                self.requests.append((method, target))
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                while length:  # the request body: read and dropped
                    got = await reader.read(min(length, 256 * 1024))
                    if not got:
                        return
                    length -= len(got)
                answer = self.route(method, target)
                writer.write(answer.head)
                for piece in answer.body():
                    writer.write(piece)
                    await writer.drain()
                    self.sent += len(piece)
                await writer.drain()
                if answer.close:
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
