"""Signed S3 requests over the connection lanes, with classified errors and budgeted retries.

One place decides what a failure means (``_retry.classify_*``), whether to try again
(``RetryState`` over the endpoint's ``RetryBudget``), and where the next attempt goes
(a different IP than the one that failed, when there is one).
"""
from __future__ import annotations

import asyncio
import random
import ssl
from typing import TYPE_CHECKING, Any

from ._config import TransferConfig
from ._impl import load_twin, sigv4_impl
from ._errors import NetworkError, S3Error, s3_error
from ._request import TALLY, THROTTLES, Request, Stats, Tally, Throttles
from ._retry import RetryBudget
from ._s3xml import parse_error
from ._url import Endpoint
from ._version import __version__
from .auth import CredentialSource, Credentials, Signer
from ._awschunked import TrailerBody
from .net._connection import Connection, ResponseHead
from .net._tls import make_ssl_context
from .net._endpoints import EndpointConfig, EndpointTable
from .net._pool import ConnectionPool
from .net._resolver import Resolver, ip_literal
from .tuning import ConcurrencyLimiter, ThroughputMeter

#: x-amz-content-sha256 of an aws-chunked body whose checksum comes in a trailer
STREAMING_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

if TYPE_CHECKING:
    from ._py import _call as call_impl
    from ._py._call import Consumer as Consumer
else:
    call_impl = load_twin("_call")
    Consumer = call_impl.Consumer

_USER_AGENT = f"s3fast/{__version__}"


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

    # -- the request pipeline, with retries ----------------------------------------------------
    # Run per request on the loop thread, so compiled with the rest of the hot path when the
    # core is built (``s3fast/_py/_call.py``: one source for both, bound here as methods).
    call = call_impl.call
    _attempt = call_impl.one_attempt


__all__ = ["STREAMING_TRAILER", "TALLY", "THROTTLES", "Consumer", "Request", "Stats", "Tally", "Throttles",
           "Transport"]
