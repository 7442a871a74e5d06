"""A fault-injecting, HTTP/1.1-aware TCP proxy for loopback tests.

One :class:`FaultProxy` listens on one loopback address and relays to one upstream (a moto
listener). It runs its own asyncio loop in its own thread, so sync and async tests can use
it alike; ``start``/``stop`` and every public method are synchronous and thread-safe.

It parses HTTP/1.1 framing on keep-alive client connections, so faults apply per request
(see :mod:`support.faultrules` for the rule semantics). Upstream connections are opened
per request (moto's werkzeug server closes after every response anyway); the proxy strips
the upstream ``Connection`` header so client connections stay alive across requests.

Every request yields one :class:`RequestRecord` (see :mod:`support.relay`). A record is
committed *before* the last byte of its response reaches the client (or before the
connection is cut), so once a client call has returned, ``proxy.requests`` already holds
its records.
"""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable, Coroutine, TypeVar

from .faultrules import Rule, elect_connection
from .http11 import BufferedStream
from .relay import Conn, Relay, RequestRecord, rst

__all__ = ["FaultProxy", "RequestRecord"]

_T = TypeVar("_T")


class FaultProxy:
    """Relay ``listen_host:listen_port`` → ``upstream`` with runtime fault rules.

    ``listen_port=0`` picks a free port. ``per_connection_bps`` (default None: unlimited)
    caps every client connection's response-body rate, so a target throughput needs N
    connections. ``connect_timeout`` (default 5 s) bounds the upstream connect.
    """

    def __init__(self, listen_host: str = "127.0.0.1", listen_port: int = 0, *,
                 upstream: tuple[str, int], per_connection_bps: float | None = None,
                 connect_timeout: float = 5.0) -> None:
        self.host = listen_host
        self.port = listen_port
        self.upstream = upstream
        self._per_connection_bps = per_connection_bps
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._rules: list[Rule] = []
        self._records: list[RequestRecord] = []
        self._accepted = 0
        self._refused = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._conn_tasks: set[asyncio.Task[None]] = set()
        self._internal_errors: list[BaseException] = []
        #: called (from the proxy's thread) after each new record; FaultCluster listens here
        self.on_record: list[Callable[[], None]] = []
        self._relay = Relay(listen_host, upstream, connect_timeout=connect_timeout,
                            rules=lambda: self.rules, bps=lambda: self._per_connection_bps,
                            record=self._add_record)

    def __repr__(self) -> str:
        state = "listening" if self._server is not None else (
            "running" if self._thread is not None else "stopped")
        with self._lock:
            return (f"FaultProxy({self.host}:{self.port} -> {self.upstream[0]}:"
                    f"{self.upstream[1]}, {state}, rules={len(self._rules)}, "
                    f"accepted={self._accepted}, requests={len(self._records)}, "
                    f"open={len(self._conn_tasks)}, bps={self._per_connection_bps})")

    # --- lifecycle (any thread) -----------------------------------------------------

    def start(self) -> FaultProxy:
        if self._thread is not None:
            raise RuntimeError("already started")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, daemon=True,
                                        name=f"faultproxy-{self.host}")
        self._thread.start()
        try:
            self._call(self._listen())
        except BaseException:
            self._stop_loop()
            raise
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        try:
            self._call(self._shutdown())
        finally:
            self._stop_loop()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def pause_listening(self) -> None:
        """Close the listening socket: new connects get ECONNREFUSED; open ones live on."""
        self._call(self._unlisten())

    def resume_listening(self) -> None:
        self._call(self._listen())

    @property
    def listening(self) -> bool:
        return self._server is not None

    def drop_connections(self) -> int:
        """Reset every open client connection; returns how many there were."""
        return self._call(self._drop_all())

    # --- rules and settings ---------------------------------------------------------

    def add_rule(self, rule: Rule) -> Rule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove_rule(self, rule: Rule) -> None:
        with self._lock:
            self._rules = [r for r in self._rules if r is not rule]

    def clear_rules(self) -> None:
        with self._lock:
            self._rules = []

    @property
    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    @property
    def per_connection_bps(self) -> float | None:
        return self._per_connection_bps

    @per_connection_bps.setter
    def per_connection_bps(self, value: float | None) -> None:
        """Applies from the next response on every connection (None: unlimited)."""
        if value is not None and value <= 0:
            raise ValueError("per_connection_bps must be > 0 or None")
        self._per_connection_bps = value

    # --- observability --------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    @property
    def connections_accepted(self) -> int:
        with self._lock:
            return self._accepted

    @property
    def connections_refused(self) -> int:
        with self._lock:
            return self._refused

    @property
    def open_connections(self) -> int:
        return len(self._conn_tasks)

    @property
    def internal_errors(self) -> list[BaseException]:
        """Unexpected exceptions inside the proxy (should stay empty)."""
        with self._lock:
            return list(self._internal_errors)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RequestRecord]:
        """Block until at least ``count`` records exist (for exchanges that end after the
        client gave up, e.g. stalls); raises TimeoutError."""
        with self._changed:
            reached = self._changed.wait_for(lambda: len(self._records) >= count, timeout)
            records = list(self._records)
        if not reached:  # repr takes the lock: format outside it
            raise TimeoutError(f"{self!r}: fewer than {count} requests after {timeout}s")
        return records

    def _add_record(self, record: RequestRecord) -> None:
        with self._changed:
            self._records.append(record)
            self._changed.notify_all()
        for listener in self.on_record:
            listener()

    def reset_stats(self) -> None:
        with self._lock:
            self._records = []
            self._accepted = self._refused = 0

    # --- loop plumbing --------------------------------------------------------------

    def _run_loop(self) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    def _stop_loop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._thread = None
        self._loop = None

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        if self._loop is None:
            coro.close()
            raise RuntimeError("proxy not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=15)

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._on_connect, self.host, self.port, reuse_address=True)
            self.port = self._server.sockets[0].getsockname()[1]

    async def _unlisten(self) -> None:
        # Server.wait_closed() is not awaited: on newer Pythons it waits for every open
        # connection, and pausing must leave those alive.
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _drop_all(self) -> int:
        tasks = list(self._conn_tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return len(tasks)

    async def _shutdown(self) -> None:
        await self._unlisten()
        await self._drop_all()

    # --- per connection -------------------------------------------------------------

    async def _on_connect(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conn_tasks.add(task)
        try:
            with self._lock:
                self._accepted += 1
                conn_id = self._accepted
                rules = list(self._rules)
            if elect_connection(rules) is not None:
                with self._lock:
                    self._refused += 1
                rst(writer)
                return
            peer = writer.get_extra_info("peername") or ("?", 0)
            conn = Conn(conn_id, (peer[0], peer[1]), BufferedStream(reader), writer)
            await self._relay.serve(conn)
        except asyncio.CancelledError:
            # Swallowed on purpose: asyncio's stream callback calls task.exception() on this
            # task, which raises for a cancelled task (noisy "Exception in callback").
            rst(writer)
        except Exception as exc:  # a proxy bug: keep it for tests to assert on
            with self._lock:
                self._internal_errors.append(exc)
            rst(writer)
        finally:
            self._conn_tasks.discard(task)
