"""A bare HTTP/1.1 responder on 127.0.0.1 for connection-level tests: every request head
it reads is answered by the test's ``respond(writer)`` coroutine."""
from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

Respond = Callable[[asyncio.StreamWriter], Awaitable[bool]]


@asynccontextmanager
async def responder(respond: Respond, *, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """Serve until the block ends and yield the port. ``respond`` writes one whole answer
    (head and body) and returns False to close the connection after it. ``tls``: a server
    context, to serve over TLS."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                if not await respond(writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    try:
        yield srv.sockets[0].getsockname()[1]
    finally:
        srv.close()
        await srv.wait_closed()
