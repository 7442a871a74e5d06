"""Signed S3 requests over the connection lanes, with classified errors and budgeted retries.

One place decides what a failure means (``_retry.classify_*``), whether to try again
(``RetryState`` over the endpoint's ``RetryBudget``), and where the next attempt goes
(a different IP than the one that failed, when there is one).
"""
from __future__ import annotations

import asyncio
import contextvars
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ._config import TransferConfig
from ._impl import sigv4_impl
from ._errors import NetworkError, S3Error, S3FastError, s3_error
from ._retry import ErrorKind, RetryBudget, RetryState, classify_network, classify_response, clock_skew_from_date
from ._s3xml import parse_error
from ._url import Endpoint
from ._version import __version__
from .auth import CredentialSource, Credentials, Signer
from ._awschunked import TrailerBody
from .net._body import FileSlice
from .net._connection import Connection, ResponseHead
from .net._tls import make_ssl_context
from .net._endpoints import EndpointConfig, EndpointTable
from .net._pool import ConnectionPool
from .net._resolver import Resolver, ip_literal
from .tuning import ConcurrencyLimiter, ThroughputMeter

#: x-amz-content-sha256 of an aws-chunked body whose checksum comes in a trailer
STREAMING_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

T = TypeVar("T")
_USER_AGENT = f"s3fast/{__version__}"


class Tally:
    """Requests sent and retries made on behalf of one transfer (its ``TransferResult``).

    A transfer makes one and installs it in ``TALLY`` for as long as it runs; every
    request it causes counts there, whatever task sends it (range tasks, hedges, HEADs of
    a checksum check, the Abort of a failed upload), because tasks inherit the context
    they are created in. Concurrent transfers on one client each count only their own.
    """

    __slots__ = ("requests", "retries")

    def __init__(self) -> None:
        self.requests = 0
        self.retries = 0

    def __repr__(self) -> str:
        return f"<Tally requests={self.requests} retries={self.retries}>"


#: the running transfer's Tally, None outside a transfer (metadata calls, listing)
TALLY: contextvars.ContextVar[Tally | None] = contextvars.ContextVar("s3fast_tally", default=None)


class Throttles:
    """503 SlowDown (throttle) answers met by the requests of one unit of work, retried or
    not: the tree engine installs one per object in ``THROTTLES`` to slow that object's
    prefix only (``tree/_prefixes``), since S3 throttles per prefix."""

    __slots__ = ("count", "listener")

    def __init__(self, listener: Callable[[], None] | None = None) -> None:
        self.count = 0
        #: told at once (from the retry loop), so the prefix slows while the object still runs
        self.listener = listener

    def bump(self) -> None:
        self.count += 1
        if self.listener is not None:
            self.listener()


THROTTLES: contextvars.ContextVar[Throttles | None] = contextvars.ContextVar("s3fast_throttles", default=None)


@dataclass
class Request:
    method: str
    bucket: str | None
    key: str | None = None
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | bytearray | memoryview | FileSlice | TrailerBody | None = None
    #: statuses that are success
    expect: tuple[int, ...] = (200,)
    #: S3 may answer 200 with an <Error> body (CompleteMultipartUpload, copies)
    error_in_200: bool = False
    #: told the IP each attempt goes to (hedging sends its duplicate elsewhere)
    on_ip: Callable[[str], None] | None = None

    @property
    def body_length(self) -> int:
        if self.body is None:
            return 0
        if isinstance(self.body, FileSlice):
            return self.body.size
        if isinstance(self.body, TrailerBody):
            return self.body.length  # as encoded on the wire
        return memoryview(self.body).nbytes

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.key}" if self.key else f"s3://{self.bucket or ''}"
        return f"{self.method} {where}" + (f"?{self.query}" if self.query else "")


@dataclass
class Stats:
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    hedges: int = 0
    hedge_wins: int = 0
    #: hedges that replaced a request on a slow IP, keeping the bytes it had received
    moves: int = 0


#: consume(conn, head, request) -> result: reads the body of a successful response
Consumer = Callable[[Connection, ResponseHead], Awaitable[T]]


class Transport:
    def __init__(
        self,
        endpoint: Endpoint,
        credentials: CredentialSource,
        region: str,
        config: TransferConfig,
        *,
        resolver: Resolver,
        ca_bundle: str | None = None,
        verify: bool = True,
        meter: ThroughputMeter | None = None,
        limiter: ConcurrencyLimiter | None = None,
        rng: random.Random | None = None,
        endpoint_config: EndpointConfig | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.credentials = credentials
        self.signer = Signer(region)
        self.config = config
        self.resolver = resolver
        self.meter = meter
        #: every request holds a slot while it runs (not while it backs off): this is the
        #: concurrency the tuner controls
        self.limiter = limiter
        self.stats = Stats()
        self._rng = rng or random.Random()
        self._ssl: ssl.SSLContext | None = make_ssl_context(ca_bundle, verify) if endpoint.tls else None
        self._pools: dict[str, ConnectionPool] = {}
        self._budgets: dict[str, RetryBudget] = {}
        self._harvesters: list[asyncio.Task[None]] = []
        self.endpoint_config = endpoint_config
        self._host_headers: dict[str | None, str] = {}  # bucket -> Host header

    def __repr__(self) -> str:
        return f"<Transport {self.endpoint.scheme}://{self.endpoint.host}:{self.endpoint.port} pools={list(self._pools)}>"

    # -- pools -----------------------------------------------------------------------------------
    def pool_for(self, bucket: str | None) -> ConnectionPool:
        host = self.endpoint.host_for(bucket)
        pool = self._pools.get(host)
        if pool is None:
            table = EndpointTable(host, self.endpoint.port, self.resolver, config=self.endpoint_config)
            pool = ConnectionPool(table, self.config.timeouts, self._ssl)
            self._pools[host] = pool
            # Retry tokens are per endpoint host, as the CRT partitions them.
            self._budgets[host] = RetryBudget(self.config.retry)
            if ip_literal(host) is None:
                # S3 answers each DNS query with a few of its many IPs: keep asking in the
                # background (every 10 s) and accumulate them, each kept for its TTL.
                self._harvesters.append(asyncio.ensure_future(table.run_harvester()))
        return pool

    def moved_bytes(self) -> int:
        """Body bytes sent and received on every connection so far (retries and hedges
        included), up to the last receive or send: what the tuner's meter reads."""
        return sum(pool.moved_bytes() for pool in self._pools.values())

    def ip_is_slow(self, ip: str) -> bool:
        """``ip`` is demoted as slow by its endpoint table (hedging moves work off it)."""
        return any(pool.table.state(ip) == "slow" for pool in self._pools.values())

    def ip_stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for pool in self._pools.values():
            for ip, st in pool.table.stats().items():
                out[ip] = st
        return out

    async def aclose(self) -> None:
        for pool in self._pools.values():
            pool.table.stop()
        if self._harvesters:
            await asyncio.gather(*self._harvesters, return_exceptions=True)
        for pool in self._pools.values():
            await pool.aclose()

    # -- one attempt -----------------------------------------------------------------------------
    def _head_bytes(self, req: Request, creds: Credentials | None) -> bytes:
        ep = self.endpoint
        bucket = req.bucket
        target = ep.target(bucket, req.key, req.query)
        host = self._host_headers.get(bucket)
        if host is None:
            host = self._host_headers[bucket] = ep.host_header(bucket)
        headers = [("host", host)]
        for k, v in req.headers.items():
            headers.append((k.lower(), v))
        if req.body is not None or req.method in ("PUT", "POST"):
            headers.append(("content-length", str(req.body_length)))
        if creds is None:
            return sigv4_impl.plain_head(req.method, target, headers, _USER_AGENT)
        if isinstance(req.body, TrailerBody):
            return self.signer.head(creds, req.method, target, headers, _USER_AGENT, payload=STREAMING_TRAILER)
        return self.signer.head(creds, req.method, target, headers, _USER_AGENT)

    async def _error_from(self, conn: Connection, head: ResponseHead, req: Request) -> S3Error:
        body = b""
        if req.method != "HEAD":
            try:
                body = await conn.read_body(limit=1 << 20)
            except NetworkError:
                body = b""
        doc = parse_error(body)
        err = s3_error(
            head.status,
            doc.code if doc else None,
            doc.message if doc else (body[:200].decode("utf-8", "replace").strip() if body else head.reason),
            request_id=(doc.request_id if doc else None) or head.headers.get("x-amz-request-id"),
            resource=req.describe(),
            headers=head.headers,
        )
        return err

    # -- with retries ----------------------------------------------------------------------------
    async def call(
        self,
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
        attempt = 0
        while True:
            attempt += 1
            if attempt > 1 and not isinstance(req, Request):
                r = req(attempt)
            try:
                result = await self._attempt(pool, r, consume, exclude)
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
                if kind is not ErrorKind.FATAL and attempt > 1:
                    err.args = (f"{err.args[0]} (after {attempt} attempts: {decision.reason})",)
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

    async def _attempt(
        self,
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
