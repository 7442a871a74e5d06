"""The per-connection relay of :class:`support.faultproxy.FaultProxy`.

Runs on the proxy's event loop: parses each request on a keep-alive client connection,
elects the fault rule for it, forwards it upstream (or answers it) and relays the response
with the fault applied, then commits one :class:`RequestRecord`.

A record is committed *before* the last byte of its response reaches the client (or before
the connection is cut), so once a client call has returned its records already exist.
"""
from __future__ import annotations

import asyncio
import fcntl
import itertools
import socket
import struct
import termios
from dataclasses import dataclass, field
from typing import Callable, Literal

from .faultrules import (Action, Error200, Hold, Latency, Pacer, ResetBeforeResponse, Respond,
                         Rule, Stall, Throttle, canned_response, elect, plan_piece,
                         s3_error_xml)
from .http11 import BufferedStream, ProtocolError, RequestHead, ResponseHead, iter_body

PEER_ERRORS = (ConnectionError, OSError, asyncio.IncompleteReadError, ProtocolError)
_HOP_HEADERS = frozenset({"connection", "keep-alive"})
#: How long a reset waits for already-written bytes to leave the kernel (so the client
#: really receives exactly n bytes before the RST discards the send queue).
_FLUSH_BEFORE_RST_S = 2.0


@dataclass(frozen=True)
class RequestRecord:
    """What happened to one request. ``outcome``: ok, canned, error_200, reset, truncated, held,
    stalled, client_gone, client_error, upstream_error, upstream_unreachable."""

    proxy: str
    conn_id: int
    seq: int
    method: str
    target: str
    status: int | None
    peer: tuple[str, int]
    bytes_up: int
    bytes_down: int
    rule: str | None
    action: str | None
    outcome: str
    throttled_bytes: int
    paced_delay: float


class _Terminate(Exception):
    """Unwind one exchange: the client connection ends with ``how``."""

    def __init__(self, outcome: str, how: Literal["reset", "fin"]) -> None:
        super().__init__(outcome)
        self.outcome = outcome
        self.how = how


class _HeldWriter:
    """Writes to the client one piece behind, so the exchange can commit its record before
    the final piece (the one that completes the response) goes out."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self._held is not None:
            self._writer.write(self._held)
        self._held = data

    async def drain(self) -> None:
        await self._writer.drain()

    async def flush(self) -> None:
        if self._held is not None:
            self._writer.write(self._held)
            self._held = None
        await self._writer.drain()


@dataclass
class Conn:
    """One accepted client connection (requests on it are served one after another)."""

    conn_id: int
    peer: tuple[str, int]
    stream: BufferedStream
    writer: asyncio.StreamWriter
    seq: int = 0
    pacer: Pacer | None = None

    def pacer_for(self, rate: float | None) -> Pacer | None:
        """The connection-wide pacer (kept across requests) for the current proxy rate."""
        if rate is None:
            self.pacer = None
        elif self.pacer is None or self.pacer.rate != rate:
            self.pacer = Pacer(rate)
        return self.pacer

    async def wait_gone(self, seconds: float, *, may_read: bool) -> bool:
        """Wait ``seconds``; True early if the client closed. Reading the client is only safe
        when nothing else is reading it (the request body has been fully relayed)."""
        if may_read:
            return await self.stream.wait_eof(seconds)
        await asyncio.sleep(seconds)
        return False


@dataclass
class _Exchange:
    conn: Conn
    head: RequestHead
    rule: Rule | None
    out: _HeldWriter
    seq: int
    status: int | None = None
    bytes_up: int = 0
    bytes_down: int = 0
    outcome: str = "ok"
    throttled_bytes: int = 0
    paced_delay: float = 0.0
    committed: bool = field(default=False)

    @property
    def action(self) -> Action | None:
        return self.rule.action if self.rule is not None else None


def rst(writer: asyncio.StreamWriter) -> None:
    """Close with RST: SO_LINGER(on, 0) makes close() send a reset and drop queued data."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


async def _wait_kernel_sent(writer: asyncio.StreamWriter, timeout: float) -> None:
    """Wait (bounded) until the socket's send queue is empty, i.e. the client's kernel has
    acknowledged every byte. Polled: there is no readiness event for "queue drained"."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    buf = bytearray(4)
    while loop.time() < deadline:
        try:
            fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, buf)
        except OSError:
            return
        if struct.unpack("i", buf)[0] == 0:
            return
        await asyncio.sleep(0.001)


class Relay:
    """Serves the client connections of one proxy (on the proxy's loop).

    ``rules`` returns a snapshot of the current rules, ``bps`` the current per-connection
    rate (None: unlimited) and ``record`` stores a finished request's record.
    """

    def __init__(self, name: str, upstream: tuple[str, int], *, connect_timeout: float,
                 rules: Callable[[], list[Rule]], bps: Callable[[], float | None],
                 record: Callable[[RequestRecord], None]) -> None:
        self.name = name
        self.upstream = upstream
        self.connect_timeout = connect_timeout
        self._rules = rules
        self._bps = bps
        self._record = record
        self._request_ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"Relay({self.name} -> {self.upstream[0]}:{self.upstream[1]})"

    async def serve(self, conn: Conn) -> None:
        try:
            while True:
                raw = await conn.stream.read_head()
                if raw is None:
                    break
                if not await self._exchange(conn, RequestHead.parse(raw)):
                    break
        except PEER_ERRORS:
            rst(conn.writer)
            return
        except _Terminate as term:
            if term.how == "reset":
                await _wait_kernel_sent(conn.writer, _FLUSH_BEFORE_RST_S)
                rst(conn.writer)
                return
        conn.writer.close()
        try:
            await asyncio.wait_for(conn.writer.wait_closed(), 5)
        except (asyncio.TimeoutError, *PEER_ERRORS):
            pass

    def _commit(self, ex: _Exchange) -> None:
        if ex.committed:
            return
        ex.committed = True
        record = RequestRecord(
            self.name, ex.conn.conn_id, ex.seq, ex.head.method, ex.head.target, ex.status,
            ex.conn.peer, ex.bytes_up, ex.bytes_down,
            ex.rule.name if ex.rule else None, ex.action.kind if ex.action else None,
            ex.outcome, ex.throttled_bytes, ex.paced_delay)
        self._record(record)

    async def _exchange(self, conn: Conn, head: RequestHead) -> bool:
        """Serve one request; True to keep the client connection for another."""
        conn.seq += 1
        ex = _Exchange(conn, head, elect(self._rules(), head.method, head.target),
                       _HeldWriter(conn.writer), conn.seq)
        action = ex.action
        try:
            if isinstance(action, Respond):
                keep = await self._answer_canned(ex, action)
            elif isinstance(action, Hold) and not action.forward:
                if not head.expects_continue:
                    await self._consume_request_body(ex)
                assert ex.rule is not None
                ex.rule.start_holding()
                if await conn.wait_gone(action.seconds, may_read=not head.expects_continue):
                    raise _Terminate("client_gone", "reset")
                raise _Terminate("held", "reset")
            elif isinstance(action, ResetBeforeResponse) and not action.forward:
                if not head.expects_continue:
                    await self._consume_request_body(ex)
                raise _Terminate("reset", "reset")
            else:
                keep = await self._forward(ex)
        except _Terminate as term:
            ex.outcome = term.outcome
            self._commit(ex)
            try:
                await ex.out.flush()
            except PEER_ERRORS:
                pass
            raise
        except PEER_ERRORS:
            ex.outcome = "client_error"
            self._commit(ex)
            raise
        self._commit(ex)
        await ex.out.flush()
        return keep

    async def _consume_request_body(self, ex: _Exchange) -> None:
        async for is_payload, data in iter_body(ex.conn.stream, ex.head.body_framing()):
            if is_payload:
                ex.bytes_up += len(data)

    def _request_id(self) -> str:
        return f"FAULTPROXY{next(self._request_ids):010d}"

    async def _answer_canned(self, ex: _Exchange, action: Respond) -> bool:
        # With Expect: 100-continue the client holds its body back when it sees a final
        # status, so the connection cannot be reused (where would the next request start?).
        close = ex.head.wants_close or ex.head.expects_continue
        if not ex.head.expects_continue:
            await self._consume_request_body(ex)
        request_id = self._request_id()
        body = action.body if action.body is not None else s3_error_xml(
            action.code, action.message, request_id, ex.head.target.split("?", 1)[0])
        ex.status, ex.outcome = action.status, "canned"
        ex.out.write(canned_response(action.status, body, method=ex.head.method,
                                     request_id=request_id, overrides=action.headers,
                                     close=close))
        return not close

    async def _forward(self, ex: _Exchange) -> bool:
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(*self.upstream), self.connect_timeout)
        except (OSError, asyncio.TimeoutError):
            request_id = self._request_id()
            ex.status, ex.outcome = 502, "upstream_unreachable"
            ex.out.write(canned_response(
                502, s3_error_xml("BadGateway", "fault proxy: upstream unreachable", request_id),
                method=ex.head.method, request_id=request_id, close=True))
            return False
        up = BufferedStream(up_reader)
        up_writer.write(ex.head.raw)
        up_task = asyncio.ensure_future(self._relay_request_body(ex, up_writer))
        down_task = asyncio.ensure_future(self._relay_response(ex, up, up_task))
        try:
            pending: set[asyncio.Future[bool]] = {up_task, down_task}
            while down_task in pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if up_task in done and up_task.exception() is not None:
                    raise up_task.exception()  # type: ignore[misc]
            keep = down_task.result()
            # A response that came before the request body was fully read leaves the
            # client stream mid-message: the connection cannot carry another request.
            return keep and up_task.done() and up_task.result()
        finally:
            for task in (up_task, down_task):
                task.cancel()
            await asyncio.gather(up_task, down_task, return_exceptions=True)
            up_writer.transport.abort()

    async def _relay_request_body(self, ex: _Exchange, up_writer: asyncio.StreamWriter) -> bool:
        """Client → upstream; False if the upstream stopped taking the body."""
        offset = 0
        async for is_payload, data in iter_body(ex.conn.stream, ex.head.body_framing()):
            stop = None
            if is_payload:
                plan = plan_piece(ex.action, "up", offset, data)
                offset += len(data)
                data, stop = plan.send, plan.stop
                ex.bytes_up += len(data)
            try:
                up_writer.write(data)
                await up_writer.drain()
            except (ConnectionError, OSError):
                return False
            if stop is not None:
                raise _Terminate("reset", "reset")
        return True

    async def _relay_response(self, ex: _Exchange, up: BufferedStream,
                              up_task: asyncio.Future[bool]) -> bool:
        """Upstream → client with the exchange's fault; True to keep the client connection."""
        action, head = ex.action, ex.head
        while True:
            try:
                raw = await up.read_head()
                if raw is None:
                    raise ProtocolError("upstream closed before responding")
                resp = ResponseHead.parse(raw)
            except PEER_ERRORS:
                raise _Terminate("upstream_error", "reset") from None
            if not resp.is_interim:
                break
            ex.out.write(raw)  # 100 Continue: the client is waiting for it to send the body
            await ex.out.flush()
        framing = resp.body_framing(head.method)

        if isinstance(action, Hold):  # forward=True: the server answered; the client never hears it
            try:
                async for _ in iter_body(up, framing):
                    pass
            except PEER_ERRORS:
                raise _Terminate("upstream_error", "reset") from None
            ex.status = resp.status
            assert ex.rule is not None
            ex.rule.start_holding()
            if await ex.conn.wait_gone(action.seconds, may_read=up_task.done()):
                raise _Terminate("client_gone", "reset")
            raise _Terminate("held", "reset")

        if isinstance(action, (ResetBeforeResponse, Error200)):
            try:
                async for _ in iter_body(up, framing):
                    pass
            except PEER_ERRORS:
                raise _Terminate("upstream_error", "reset") from None
            if isinstance(action, ResetBeforeResponse):
                raise _Terminate("reset", "reset")
            request_id = self._request_id()
            ex.status, ex.outcome = 200, "error_200"
            ex.out.write(canned_response(200, s3_error_xml(action.code, action.message,
                                                           request_id),
                                         method=head.method, request_id=request_id,
                                         close=head.wants_close))
            return not head.wants_close

        if isinstance(action, Latency):
            if await ex.conn.wait_gone(action.seconds, may_read=up_task.done()):
                raise _Terminate("client_gone", "reset")
        keep = not head.wants_close and framing.kind != "until_close"
        ex.status = resp.status
        ex.out.write(resp.rebuild(drop=_HOP_HEADERS, add=() if keep else ("Connection: close",)))
        pacers = [p for p in (ex.conn.pacer_for(self._bps()),
                              Pacer(action.bytes_per_second) if isinstance(action, Throttle)
                              else None) if p is not None]
        offset = 0
        body = iter_body(up, framing)
        try:
            while True:
                try:
                    is_payload, data = await body.__anext__()
                except StopAsyncIteration:
                    break
                except PEER_ERRORS:
                    raise _Terminate("upstream_error", "reset") from None
                if not is_payload:
                    ex.out.write(data)
                    continue
                plan = plan_piece(action, "down", offset, data)
                offset += len(data)
                if pacers:
                    await self._paced_write(ex, plan.send, pacers)
                else:
                    ex.out.write(plan.send)
                ex.bytes_down += len(plan.send)
                if plan.stop == "stall":
                    assert isinstance(action, Stall)
                    await ex.out.flush()
                    await ex.conn.wait_gone(action.seconds, may_read=up_task.done())
                    raise _Terminate("stalled", "reset")
                if plan.stop is not None:
                    raise _Terminate("reset" if plan.stop == "reset" else "truncated",
                                     "reset" if plan.stop == "reset" else "fin")
                await ex.out.drain()
        finally:
            await body.aclose()
        return keep

    async def _paced_write(self, ex: _Exchange, data: bytes, pacers: list[Pacer]) -> None:
        step = min(p.slice_bytes for p in pacers)
        for start in range(0, len(data), step):
            piece = data[start:start + step]
            delay = max(p.reserve(len(piece)) for p in pacers)
            ex.throttled_bytes += len(piece)
            ex.paced_delay += delay
            if delay > 0:
                await ex.out.flush()
                await asyncio.sleep(delay)  # the rate limit itself, not synchronisation
            ex.out.write(piece)
            await ex.out.drain()
