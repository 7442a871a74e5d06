"""One keep-alive HTTP/1.1 connection, bound to one IP.

The protocol is an ``asyncio.BufferedProtocol`` whose receive path
(``Receiver``, compiled or pure) lands body bytes straight in the caller's
buffers. Requests are strictly sequential on a connection (no pipelining), so
the state machine is: IDLE -> send request -> HEAD -> body -> IDLE.

This module holds the protocol's state and the receive paths; the rest of a
connection's work lives beside it::

    _framing     where a body ends, from its head (strict Content-Length)
    _limits      what a server may make a connection hold or scan
    _watchdog    the timeout verdict (one periodic check per busy connection)
    _watch       the check's timer and the clocks it reads
    _senders     how each kind of request body goes out (_body: the kinds)
    _splice      socket -> pipe -> file for plain-TCP downloads
    _wholebody   bodies read whole into memory (_chunked: the decoder)
"""
from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable

from .._config import Timeouts
from .. import _checksum
from .._errors import LocalIOError, NetworkError
from .._impl import http_impl, recv_impl
from ._body import Body, FileSlice as FileSlice  # re-exported: transfer/ imports it from here
from ._framing import ResponseHead as ResponseHead, body_length  # re-exported likewise
from ._limits import MAX_HEAD_BYTES, MAX_XML_BODY
from ._senders import send_now, sender_for
from ._splice import SPLICE, SPLICE_MIN, Splicer
from ._watch import Watched
from ._wholebody import read_chunked, read_until_close, too_large
from .._py._common import (  # the receive modes, defined once for both twins
    MODE_BODY as _MODE_BODY, MODE_FILE as _MODE_FILE, MODE_HEAD as _MODE_HEAD,
    MODE_IDLE as _MODE_IDLE, MODE_STASH as _MODE_STASH,
)

HEAD_BUFFER_SIZE: int = recv_impl.HEAD_BUFFER_SIZE



class Connection(recv_impl.Receiver, Watched, asyncio.BufferedProtocol):
    """A keep-alive connection to ``ip:port`` for ``host`` (used for Host, SNI and certificates)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, ip: str, port: int, host: str, timeouts: Timeouts) -> None:
        super().__init__(loop.time)
        self.loop = loop
        self.ip = ip
        self.port = port
        self.host = host
        self.timeouts = timeouts
        self.transport: asyncio.Transport | None = None
        self.tls = False
        self.requests = 0
        #: body bytes handed to the socket, all requests on this connection
        self.tx_bytes = 0
        self._rx_before = 0  # body bytes of earlier responses (``rx_bytes`` is per response)
        self.closed = False
        self._exc: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._paused_writing = False
        self._head: ResponseHead | None = None
        self._stash_start = 0
        self._stash_end = 0
        self._dupfd = -1
        self._splicer: Splicer | None = None
        #: set when the destination refused splice (some filesystems do): use recv + pwrite
        self.splice_refused = False
        self._init_watch()
        self._head_is_for_head_request = False

    @property
    def moved_bytes(self) -> int:
        """Body bytes received plus sent on this connection so far, counted as they move
        (per receive, per send), so a meter reading it sees a slow transfer's progress
        between its chunks and slices."""
        return self._rx_before + self.rx_bytes + self.tx_bytes

    def __repr__(self) -> str:
        state = "closed" if self.closed else (self._stage or "idle")
        return f"<Connection {self.ip}:{self.port} host={self.host} [{state}, {self.requests} requests]>"

    # -- asyncio protocol callbacks ----------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed = True
        if self._exc is None:
            if self.mode == _MODE_STASH:
                self._exc = NetworkError(
                    f"connection to {self.ip} closed after {self.rx_bytes} body bytes, "
                    f"{self.stash_target - self.head_length} short of Content-Length",
                    ip=self.ip,
                    kind="short-read",
                )
            elif self.mode in (_MODE_BODY, _MODE_FILE) and self.remaining > 0:
                self._exc = NetworkError(
                    f"connection to {self.ip} closed after {self.rx_bytes} body bytes, "
                    f"{self.remaining} short of Content-Length",
                    ip=self.ip,
                    kind="short-read",
                )
            elif self.mode == _MODE_BODY and self.remaining < 0:
                self._exc = None  # body delimited by close: done
                self.set_remaining(0)
            else:
                what = "reset" if exc else "closed"
                self._exc = NetworkError(
                    f"connection to {self.ip} {what}" + (f": {exc}" if exc else " by the server"),
                    ip=self.ip,
                    kind="reset",
                )
        self._wake(self._exc)
        if self._drain is not None and not self._drain.done():
            self._drain.set_exception(self._exc or NetworkError("connection lost", ip=self.ip))
        self._stop_watch()
        self._close_dup()

    def eof_received(self) -> bool:
        return False

    def pause_writing(self) -> None:
        self._paused_writing = True

    def resume_writing(self) -> None:
        self._paused_writing = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # -- Receiver hooks ------------------------------------------------------------------------
    def _head_done(self, end: int) -> None:
        try:
            status, reason, headers = http_impl.parse_head(self.head_view[: end - 4])
            length, chunked = body_length(status, headers, self._head_is_for_head_request)
        except ValueError as exc:  # HeadError, FramingError
            self._fail(NetworkError(f"bad response from {self.ip}: {exc}", ip=self.ip, kind="protocol"))
            return
        self._head = ResponseHead(status, reason, headers, length, chunked)
        self._stash_start = end
        self._stash_end = self.head_length
        self.set_remaining(length)
        self._rx_before += self.rx_bytes
        # Body bytes are counted as they arrive (the watchdog's speed and the tuner's meter
        # see them), whether they land in the head buffer or in the reader's.
        got = self.head_length - end
        self.rx_bytes = got if length < 0 or got <= length else length
        self._stage = "body"
        self._mark_speed()
        if 0 <= length and end + length <= HEAD_BUFFER_SIZE:
            # A small body (up to ~128 KiB): it goes into the head buffer too, reading is
            # never paused, and the reader wakes once, with the whole response in hand.
            if got < length:
                self.stash_until(end + length)
                return
            if length == 0 and got == 0:
                self._body_finished()  # nothing to read: reusable at once (HEAD, empty objects)
            else:
                self.hold()  # all of it came with the head
            self._wake(None)
            return
        self.hold()
        if self.transport is not None:
            self.transport.pause_reading()
        self._wake(None)

    def _stash_done(self) -> None:
        self._stash_end = self.head_length
        self.hold()
        self._wake(None)

    def _view_done(self) -> None:
        self.hold()
        if self.transport is not None:
            self.transport.pause_reading()
        self._wake(None)

    def _file_done(self) -> None:
        self.hold()
        if self.transport is not None:
            self.transport.pause_reading()
        if self.file_error is not None:
            # The disk refused: this connection is mid-body and cannot be reused.
            self._fail(LocalIOError(f"cannot write the download: {self.file_error.strerror or self.file_error}"))
            return
        self._wake(None)

    def _head_invalid(self, exc: ValueError) -> None:
        # The head parser's own bounds (size, header lines) were crossed as bytes arrived.
        self._fail(NetworkError(f"bad response from {self.ip}: {exc}", ip=self.ip, kind="protocol"))

    def _unexpected_data(self) -> None:
        if self.mode == _MODE_HEAD:
            msg = f"response head from {self.ip} larger than {MAX_HEAD_BYTES} bytes"
        else:
            msg = f"unexpected data from {self.ip} outside a response"
        self._fail(NetworkError(msg, ip=self.ip, kind="protocol"))

    # -- helpers -------------------------------------------------------------------------------
    def _wake(self, exc: BaseException | None) -> None:
        w = self._waiter
        # Cleared here rather than by the waiting side, which may be a bare future
        # (``head_arrival``) with nobody to clear it after a cancellation.
        self._waiter = None
        if w is not None and not w.done():
            if exc is None:
                w.set_result(None)
            else:
                w.set_exception(exc)

    def _fail(self, exc: BaseException) -> None:
        if self._exc is None:
            self._exc = exc
        self._wake(exc)
        if self._drain is not None and not self._drain.done():
            self._drain.set_exception(exc)
        self.abort()

    def abort(self) -> None:
        """Close now (RST); the connection is never reused."""
        self.closed = True
        self._stop_watch()
        if self.transport is not None:
            self.transport.abort()
        self._close_dup()

    def close(self) -> None:
        self.closed = True
        self._stop_watch()
        if self.transport is not None:
            self.transport.close()
        self._close_dup()

    def _close_dup(self) -> None:
        if self._dupfd >= 0:
            try:
                self.loop.remove_writer(self._dupfd)
                self.loop.remove_reader(self._dupfd)
            except Exception:
                pass
            os.close(self._dupfd)
            self._dupfd = -1
        if self._splicer is not None:
            self._splicer.close()
            self._splicer = None

    async def _wait(self) -> None:
        if self._exc is not None:
            raise self._exc
        self._waiter = self.loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    # -- sending -------------------------------------------------------------------------------
    async def drain_writes(self) -> None:
        if self._exc is not None:
            raise self._exc
        if self._paused_writing:
            self._drain = self.loop.create_future()
            try:
                await self._drain
            finally:
                self._drain = None

    async def send_request(self, head: bytes, body: Body, *, is_head: bool = False) -> None:
        """Send one request. Raises NetworkError/RequestTimeout; the connection is then dead."""
        pending = self.start_request(head, body, is_head=is_head)
        if pending is not None:
            await pending

    def start_request(self, head: bytes, body: Body, *, is_head: bool = False) -> Awaitable[None] | None:
        """Send one request; what is left to await, or None when it all went out at once
        (no body, or a small one: most requests, which then cost no coroutine here)."""
        if self.closed or self.transport is None:
            raise self._exc or NetworkError(f"connection to {self.ip} is closed", ip=self.ip)
        self.requests += 1
        self._head = None
        self._head_is_for_head_request = is_head
        self.expect_head()
        self._stash_start = self._stash_end = 0
        self._start_watch("send")
        self.transport.resume_reading()
        sent = send_now(self, head, body)
        if not sent or self._paused_writing or self._exc is not None:
            return self._finish_send(head, body, sent)
        # The send took no time: the first-byte stage starts when the send stage did.
        self._stage = "first-byte"
        return None

    async def _finish_send(self, head: bytes, body: Body, sent: bool) -> None:
        if not sent:
            await sender_for(body)(self, head, body)
        if self._paused_writing or self._exc is not None:
            await self.drain_writes()
        if self._stage == "send":
            self._stage = "first-byte"
            self._stage_start = self.loop.time()

    def socket_fd(self) -> int:
        """Our own descriptor of the socket (sendfile, splice), watched without touching
        the transport's registration."""
        if self._dupfd < 0:
            sock = self.transport.get_extra_info("socket")  # type: ignore[union-attr]
            self._dupfd = os.dup(sock.fileno())
        return self._dupfd

    async def wait_writable(self, fd: int) -> None:
        if self._exc is not None:
            raise self._exc
        fut = self.loop.create_future()
        self._drain = fut

        def ready() -> None:
            if not fut.done():
                fut.set_result(None)

        self.loop.add_writer(fd, ready)
        try:
            await fut
        finally:
            self._drain = None
            if self._dupfd >= 0:
                self.loop.remove_writer(fd)

    # -- receiving -----------------------------------------------------------------------------
    async def read_head(self) -> ResponseHead:
        arrival = self.head_arrival()
        if arrival is not None:
            await arrival
        assert self._head is not None
        return self._head

    def head_arrival(self) -> asyncio.Future[None] | None:
        """None when the response head is in (``response_head``), else a future done when
        it is, or failed with the connection's error: awaited as it is, with no coroutine
        of its own around it."""
        if self._head is not None:
            return None
        if self._exc is not None:
            raise self._exc
        self._waiter = self.loop.create_future()
        return self._waiter

    @property
    def response_head(self) -> ResponseHead | None:
        """The head of the current response, None until it has arrived."""
        return self._head

    @property
    def body_remaining(self) -> int:
        return self.remaining

    async def read_into(self, view: memoryview, *, partial: bool = False) -> int:
        """Fill ``view`` with the next body bytes and return how many landed.

        Fewer than ``len(view)`` only at the end of the body, or with ``partial=True``
        (return as soon as any bytes came: chunked and close-delimited bodies).
        """
        stash = self._stash_end - self._stash_start
        want = len(view)
        remaining = self.remaining
        if remaining >= 0 and want > remaining:
            want = remaining
        got = 0
        if stash:
            n = min(stash, len(view)) if remaining < 0 else min(stash, want)
            view[:n] = self.head_view[self._stash_start:self._stash_start + n]
            self._stash_start += n
            got = n
            if remaining > 0:
                self.take(n)
                remaining = self.remaining
                want = min(len(view), got + remaining)
            if partial:
                want = got
        if got < want and remaining != 0:
            if self._exc is not None and not (remaining < 0 and self.closed):
                raise self._exc
            if not self.closed:
                self.receive_into(view[got:want], partial)
                self.transport.resume_reading()  # type: ignore[union-attr]
                try:
                    await self._wait()
                finally:
                    got += self.view_filled()
                    self.hold()
        if self.remaining == 0 or (self.closed and self.remaining < 0):
            self._body_finished()
        return got

    @property
    def stashed(self) -> int:
        """Body bytes already received beside the head and not read yet (a small body is
        all there once the head is read)."""
        return self._stash_end - self._stash_start

    def splices(self, nbytes: int, splice: bool = True) -> bool:
        """Whether ``read_into_file`` of ``nbytes`` will splice (and need no buffer)."""
        stash = self._stash_end - self._stash_start
        return splice and SPLICE and not self.tls and nbytes - stash >= SPLICE_MIN

    async def read_into_file(self, fd: int, offset: int, nbytes: int, buf: memoryview | None, *,
                             crc_fn: Callable[[object, int], int] | None = None, crc: int = 0,
                             on_progress: Callable[[], None] | None = None, splice: bool = True) -> None:
        """Write the next ``nbytes`` body bytes to file ``fd`` (opened read-write) at ``offset``.

        Plain TCP on Linux: spliced socket -> pipe -> file (``splice=False`` turns that
        off). Otherwise every receive lands in ``buf`` (reused) and goes to the file
        straight from the event loop's callback (the Receiver's file mode). Either way the
        coroutine wakes once, at the end. ``file_written`` and ``file_crc`` (updated with
        ``crc_fn`` from ``crc``) say how far it got, also after an error, so a retry can
        resume. ``on_progress()`` is called every MiB or so.
        """
        use_splice = self.splices(nbytes, splice)
        self.file_written = 0
        self.file_crc = crc
        want = nbytes if self.remaining < 0 else min(nbytes, self.remaining)
        stash = self._stash_end - self._stash_start
        if stash:
            # Body bytes that came with the head.
            n = min(stash, want)
            view = self.head_view[self._stash_start:self._stash_start + n]
            try:
                off = offset
                rest = view
                while rest:
                    k = os.pwrite(fd, rest, off)
                    rest = rest[k:]
                    off += k
            except OSError as exc:
                raise LocalIOError(f"cannot write the download: {exc.strerror or exc}") from None
            if crc_fn is not None:
                crc = crc_fn(view, crc)
            self._stash_start += n
            self.take(n)
            self.file_written = n
            self.file_crc = crc
        done = self.file_written
        if done < want:
            if self._exc is not None:
                raise self._exc
            if self.closed:
                raise NetworkError(f"connection to {self.ip} closed mid-body", ip=self.ip, kind="short-read")
            if use_splice:
                start = offset + done
                try:
                    await self._splice_into_file(fd, start, want - done, on_progress)
                finally:
                    n = self.file_written - done
                    if crc_fn is not None and n > 0:
                        # The bytes never passed through user space: checksum them from
                        # the page cache (mmap), which is cheaper than receiving them into
                        # a buffer would have been.
                        self.file_crc = _checksum.file_range_update(crc_fn, fd, start, n, crc)
                if self.remaining == 0:
                    self._body_finished()
                return
            if buf is None:
                raise ValueError("read_into_file needs a buffer when it does not splice")
            self.begin_file(fd, offset + done, want - done, buf, crc_fn, crc, on_progress)
            self.transport.resume_reading()  # type: ignore[union-attr]
            try:
                await self._wait()
            finally:
                self.file_written += done
                if self.mode == _MODE_FILE:
                    self.hold()
                self.end_file()
        if self.remaining == 0:
            self._body_finished()

    # -- splice(2): socket -> pipe -> file ----------------------------------------------------
    async def _splice_into_file(self, fd: int, offset: int, nbytes: int,
                                on_progress: Callable[[], None] | None) -> None:
        splicer = self._splicer
        if splicer is None:
            # the dup'd socket is registered with the splicer's epoll: it must exist first
            splicer = self._splicer = Splicer(self.loop, self.socket_fd())
        self.begin_external()  # the watchdog and connection_lost see a body in progress
        self._waiter = self.loop.create_future()
        splicer.start(self, fd, offset, nbytes, on_progress)
        try:
            await self._waiter
        finally:
            self._waiter = None
            if self.mode == _MODE_FILE:
                self.hold()
            self.splice_refused = splicer.refused
            if self._splicer is not None:
                self._splicer.stop()

    def splice_moved(self, received: int, written: int) -> None:
        self.last_rx = self.loop.time()
        self.external_received(received)
        self.file_written += written

    def splice_eof(self) -> None:
        self._fail(NetworkError(
            f"connection to {self.ip} closed after {self.rx_bytes} body bytes, "
            f"{self.remaining} short of Content-Length", ip=self.ip, kind="short-read"))

    def splice_failed(self, exc: BaseException) -> None:
        self._fail(exc)

    def splice_done(self) -> None:
        self.hold()
        self._wake(None)

    async def read_body(self, limit: int = MAX_XML_BODY) -> bytes:
        """Read a whole (small) body: XML answers, error documents. More than ``limit``
        bytes is a protocol error, raised as soon as the body is known to exceed it."""
        head = self._head
        assert head is not None
        if head.chunked:
            self.set_remaining(-1)
            body = await read_chunked(self._read_some, limit, self.ip)
            self.set_remaining(0)
            self._body_finished()
            return body
        if head.content_length < 0:
            body = await read_until_close(self._read_some, limit, self.ip)
            self.closed = True
            return body
        if head.content_length > limit:
            raise too_large(self.ip, limit)
        buf = bytearray(head.content_length)
        if head.content_length:
            n = await self.read_into(memoryview(buf))
            if n != head.content_length:
                raise NetworkError(f"short body from {self.ip}", ip=self.ip, kind="short-read")
        else:
            self._body_finished()
        return bytes(buf)

    def _read_some(self, view: memoryview) -> Awaitable[int]:
        return self.read_into(view, partial=True)

    def _body_finished(self) -> None:
        self.set_idle()
        # Idle, but the timer stays armed: the next request on this connection (usually
        # right away) reuses it instead of a call_later + cancel per request; a check
        # that finds the connection idle just lets it lapse.
        self._stage = ""
        # Read while idle in the pool, so a server's close is noticed before reuse.
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    @property
    def reusable(self) -> bool:
        return (
            not self.closed
            and self._exc is None
            and self.mode == _MODE_IDLE
            and self._stash_start == self._stash_end
            and self._head is not None
            and self._head.headers.get("connection", "").lower() != "close"
        )


