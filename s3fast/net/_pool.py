"""Connections to one endpoint host, in lanes: each connection is bound to one IP.

New connections go to the IP the endpoint table picks (least loaded, rotated, healthy),
so load spreads over every IP S3 handed out; an idle connection is reused only if its
IP is still healthy and not excluded (a retry excludes the IP that just failed).
"""
from __future__ import annotations

import asyncio
import ssl
from collections.abc import Collection

from .._config import Timeouts
from .._errors import NetworkError, RequestTimeout
from ._connection import Connection
from ._endpoints import EndpointTable, NoAddressesError
from ._resolver import ResolveError


async def open_connection(
    ip: str,
    port: int,
    host: str,
    timeouts: Timeouts,
    ssl_context: ssl.SSLContext | None,
) -> Connection:
    loop = asyncio.get_running_loop()
    conn = Connection(loop, ip, port, host, timeouts)
    try:
        await asyncio.wait_for(
            loop.create_connection(
                lambda: conn,
                host=ip,
                port=port,
                ssl=ssl_context,
                # SNI and certificate checks use the hostname, never the IP.
                server_hostname=host if ssl_context is not None else None,
            ),
            timeout=timeouts.connect,
        )
    except asyncio.TimeoutError:
        raise RequestTimeout(f"connect to {ip}:{port} timed out after {timeouts.connect:g} s", ip=ip, stage="connect") from None
    except ssl.SSLCertVerificationError as exc:
        raise NetworkError(f"TLS certificate of {host} ({ip}) not trusted: {exc.verify_message}", ip=ip, kind="tls") from exc
    except OSError as exc:
        raise NetworkError(f"cannot connect to {ip}:{port}: {exc.strerror or exc}", ip=ip, kind="connect") from exc
    conn.tls = ssl_context is not None
    return conn


class ConnectionPool:
    def __init__(
        self,
        table: EndpointTable,
        timeouts: Timeouts,
        ssl_context: ssl.SSLContext | None,
        *,
        max_idle: int = 512,
    ) -> None:
        self.table = table
        self.host = table.host
        self.port = table.port
        self.timeouts = timeouts
        self.ssl_context = ssl_context
        self.max_idle = max_idle
        self._idle: list[Connection] = []
        # busy connection -> its moved_bytes when acquired
        self._busy: dict[Connection, int] = {}
        self._moved = 0  # body bytes moved by finished uses of connections
        self.opened = 0
        self.reused = 0

    def __repr__(self) -> str:
        return (
            f"<ConnectionPool {self.host}:{self.port} [busy {len(self._busy)}, idle {len(self._idle)},"
            f" opened {self.opened}, reused {self.reused}]>"
        )

    def take_idle(self, exclude: Collection[str] = ()) -> Connection | None:
        """An idle connection to a healthy IP not in ``exclude``, or None (then
        :meth:`acquire` opens one). Most recently used first: its congestion window is warm."""
        for i in range(len(self._idle) - 1, -1, -1):
            conn = self._idle[i]
            if conn.closed:
                del self._idle[i]
                self.table.connection_closed(conn.ip)
                continue
            if conn.ip in exclude or self.table.state(conn.ip) != "healthy":
                continue
            del self._idle[i]
            self._busy[conn] = conn.moved_bytes
            self.reused += 1
            return conn
        return None

    async def acquire(self, exclude: Collection[str] = ()) -> Connection:
        """A connection ready for a request, preferably not to an IP in ``exclude``."""
        conn = self.take_idle(exclude)
        if conn is not None:
            return conn
        if self.table.needs_refresh or not len(self.table):
            try:
                await self.table.ensure_resolved()
            except OSError as exc:
                if not len(self.table):
                    # "resolve": the name does not exist, which no retry can change.
                    kind = "resolve" if getattr(exc, "permanent", False) else "connect"
                    text = str(exc) if isinstance(exc, ResolveError) else f"cannot resolve {self.host}: {exc}"
                    raise NetworkError(text, kind=kind) from exc
        tried: set[str] = set(exclude)
        last: NetworkError | None = None
        # Walk the IPs: a refused connect moves on to the next one at once.
        for _ in range(max(1, min(len(self.table), 8))):
            try:
                ip = self.table.pick(exclude=tried)
            except NoAddressesError as exc:
                raise NetworkError(f"no IP address known for {self.host}", kind="connect") from exc
            try:
                conn = await open_connection(ip, self.port, self.host, self.timeouts, self.ssl_context)
            except NetworkError as exc:
                if exc.kind == "tls":
                    raise  # a trust problem, not the IP's fault: no retry, no quarantine
                self.table.record_failure(ip, "connect")
                last = exc
                tried.add(ip)
                continue
            self.opened += 1
            self.table.connection_opened(ip)
            self._busy[conn] = conn.moved_bytes
            return conn
        assert last is not None
        raise last

    def moved_bytes(self) -> int:
        """Body bytes sent and received through this pool so far, up to the last receive
        or send (the tuner's meter reads it once per window)."""
        moved = self._moved
        for conn, mark in self._busy.items():
            moved += conn.moved_bytes - mark
        return moved

    def release(self, conn: Connection, *, reuse: bool = True) -> None:
        mark = self._busy.pop(conn, None)
        if mark is not None:
            self._moved += conn.moved_bytes - mark
        if reuse and conn.reusable and len(self._idle) < self.max_idle:
            self._idle.append(conn)
            return
        if not conn.closed:
            conn.abort() if not conn.reusable else conn.close()
        self.table.connection_closed(conn.ip)

    async def aclose(self) -> None:
        for conn in self._idle + list(self._busy):
            conn.abort() if conn in self._busy else conn.close()
            self.table.connection_closed(conn.ip)
        self._idle.clear()
        self._busy.clear()
        await asyncio.sleep(0)  # let transports run their close callbacks
