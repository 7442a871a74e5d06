# cython: annotation_typing=False
"""The transport's request pipeline: one request run to completion (``call``, retried under
the budget) and each attempt of it (``one_attempt``: slot, credentials, head, lane, send,
response, bookkeeping). ``Transport`` binds them as its ``call`` and ``_attempt`` methods.

They run once per request on the loop thread, and their own bytecode was the largest
Python share per small object (see ``benchmarks/probes/README.md``, "Per-request
scheduling"), so this one source is both cores: run as is, it is the pure twin
(``s3fast._py._call``); compiled by Cython (``setup.py`` ``COMPILED_TWINS``) it is
``s3fast._native._call``, whose coroutines asyncio and uvloop await natively. It holds no
state of its own: everything lives on the ``Transport`` it is given.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Any, TypeVar

from .._errors import NetworkError, S3Error, S3FastError, s3_error
from .._request import TALLY, THROTTLES, Request
from .._retry import ErrorKind, RetryState, classify_network, classify_response, clock_skew_from_date
from .._s3xml import parse_error

if TYPE_CHECKING:
    from .._transport import Transport
    from ..net._connection import Connection, ResponseHead
    from ..net._pool import ConnectionPool

__all__ = ["call", "one_attempt"]

T = TypeVar("T")
#: consume(conn, head) -> result: reads the body of a successful response
Consumer = Callable[["Connection", "ResponseHead"], Awaitable[T]]


async def call(
    self: Transport,
    req: Request | Callable[[int], Request],
    consume: Consumer[T] | None = None,
    *,
    on_retry: Callable[[BaseException], None] | None = None,
    exclude: Collection[str] = (),
) -> T | tuple[ResponseHead, bytes]:
    """Run a request to completion: retried under the budget, to another IP after a failure.

    ``req`` may be a function of the attempt number (1-based) so a retry can change the
    request (a resumed Range). ``consume`` reads the body of a successful response;
    without it the body is read whole and ``(head, body)`` returned.
    """
    r = req if isinstance(req, Request) else req(1)
    pool = self.pool_for(r.bucket)
    state: RetryState | None = None  # made at the first failure: most requests need none
    exclude = set(exclude)
    n = 0
    while True:
        n += 1
        if n > 1 and not isinstance(req, Request):
            r = req(n)
        try:
            result = await self._attempt(pool, r, consume, exclude)  # a method: probes trace it
        except S3Error as exc:
            if exc.status == 200:
                kind = classify_response(500, exc.code)  # 200-with-error: S3 says retry InternalError
            else:
                kind = classify_response(exc.status, exc.code)
            err: S3FastError = exc
            ip = getattr(exc, "ip", None)
        except NetworkError as exc:
            if exc.kind == "tls":
                raise
            if exc.kind == "source":
                raise
            kind = classify_network(exc.kind)
            err = exc
            ip = exc.ip
        else:
            if state is None:
                self._budgets[pool.host].on_success()
            else:
                state.on_success()
            return result
        if kind is ErrorKind.THROTTLE:
            self.stats.throttled += 1
            throttles = THROTTLES.get()
            if throttles is not None:
                throttles.bump()
            if self.meter is not None:
                self.meter.throttled()
        elif kind is ErrorKind.TIMEOUT and self.meter is not None:
            self.meter.timeout()
        elif self.meter is not None and kind is not ErrorKind.FATAL:
            self.meter.error()
        if ip and kind is not ErrorKind.THROTTLE:
            pool.table.record_failure(ip, kind.value)
            # The next attempt goes elsewhere, when there is an elsewhere.
            exclude = {ip}
        if kind is ErrorKind.CLOCK_SKEW and isinstance(err, S3Error):
            date = err.headers.get("date")
            if date:
                self.signer.clock_offset = clock_skew_from_date(date, time.time())
        if state is None:
            state = RetryState(self._budgets[pool.host], self._rng)
        decision = state.on_failure(kind)
        if not decision.retry:
            if kind is not ErrorKind.FATAL and n > 1:
                err.args = (f"{err.args[0]} (after {n} attempts: {decision.reason})",)
            raise err
        self.stats.retries += 1
        tally = TALLY.get()
        if tally is not None:
            tally.retries += 1
        if on_retry is not None:
            on_retry(err)
        try:
            await asyncio.sleep(decision.delay)
        except asyncio.CancelledError:
            state.cancel_pending()
            raise
        if pool.table.all_failed:
            exclude = set()

async def one_attempt(
    self: Transport,
    pool: ConnectionPool,
    req: Request,
    consume: Consumer[T] | None,
    exclude: set[str],
) -> T | tuple[ResponseHead, bytes]:
    # One coroutine per attempt: the slot, the credentials and an idle connection are
    # taken without awaiting when they are at hand (the common case), which matters
    # at thousands of small requests a second.
    limiter = self.limiter
    if limiter is not None and not limiter.try_acquire():
        slot = limiter.queue()
        try:
            await slot
        except asyncio.CancelledError:
            limiter.abandon(slot)  # a slot granted just before the cancellation is passed on
            raise
    try:
        known, creds = self.credentials.peek()
        if not known:
            creds = await self.credentials.get()
        head_bytes = self._head_bytes(req, creds)
        conn = pool.take_idle(exclude) or await pool.acquire(exclude)
        ip = conn.ip
        if req.on_ip is not None:
            req.on_ip(ip)
        pool.table.record_request(ip)
        self.stats.requests += 1
        tally = TALLY.get()
        if tally is not None:
            tally.requests += 1
        t0 = time.monotonic()
        moved0 = conn.moved_bytes
        # Ranges and parts (the requests hedging races) are compared while they run.
        running = pool.table.request_started(ip, conn) if req.on_ip is not None else None
        ok = False
        try:
            try:
                # Awaited only when there is something to wait for: the send of a large
                # body, the head's arrival (a bare future: no coroutine around it).
                pending = conn.start_request(head_bytes, req.body, is_head=req.method == "HEAD")
                if pending is not None:
                    await pending
                arrival = conn.head_arrival()
                if arrival is not None:
                    await arrival
                head = conn.response_head
                assert head is not None
            except NetworkError as exc:
                exc.ip = exc.ip or ip
                raise
            pool.table.request_answered(running)
            if head.status not in req.expect:
                err = await self._error_from(conn, head, req)
                err.ip = ip  # type: ignore[attr-defined]
                ok = conn.reusable
                raise err
            self.stats.bytes_sent += req.body_length
            if consume is None:
                body = await conn.read_body()
                if req.error_in_200 and b"<Error>" in body[:4096]:
                    doc = parse_error(body)
                    if doc is not None:
                        err = s3_error(200, doc.code, doc.message, request_id=doc.request_id,
                                       resource=req.describe(), headers=head.headers)
                        err.ip = ip  # type: ignore[attr-defined]
                        ok = conn.reusable
                        raise err
                result: Any = (head, body)
            else:
                result = await consume(conn, head)
            ok = True
        except asyncio.CancelledError:  # abandoned (a hedge won): what it moved is still a sample
            pool.table.record_goodput(ip, conn.moved_bytes - moved0, time.monotonic() - t0)
            raise
        finally:
            pool.table.request_ended(running)
            pool.release(conn, reuse=ok)
        seconds = time.monotonic() - t0
        received = max(conn.rx_bytes, 0)
        self.stats.bytes_received += received
        pool.table.record_success(ip, req.body_length + received, seconds)
        if self.meter is not None:
            self.meter.request_done(seconds)
        return result  # type: ignore[no-any-return]
    finally:
        if limiter is not None:
            limiter.release()
