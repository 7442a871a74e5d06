"""One :class:`FaultProxy` in front of each moto listener: a multi-IP S3 whose every IP can
be broken separately.

Proxies listen on 127.0.0.12..15, all on one port, so ``s3.test:PORT`` maps to the four
proxy addresses; proxy ``ips[i]`` relays to moto listener ``moto.ips[i]``.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Sequence

from botocore.config import Config

from .faultproxy import FaultProxy, RequestRecord
from .faultrules import Rule
from .motocluster import MotoCluster, make_boto3_client
from .ports import start_on_common_port

DEFAULT_PROXY_IPS = ("127.0.0.12", "127.0.0.13", "127.0.0.14", "127.0.0.15")


class FaultCluster:
    """Fault proxies (``proxies``: ip → FaultProxy) over a running :class:`MotoCluster`.

    ``per_connection_bps`` (default None: unlimited) is passed to every proxy.
    """

    def __init__(self, moto: MotoCluster, ips: Sequence[str] = DEFAULT_PROXY_IPS, *,
                 per_connection_bps: float | None = None) -> None:
        if len(ips) > len(moto.ips):
            raise ValueError("one moto listener per proxy is needed")
        self.moto = moto
        self.ips = list(ips)
        self.host = moto.host
        self.port = 0
        self.per_connection_bps = per_connection_bps
        self.proxies: dict[str, FaultProxy] = {}
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._recorded = threading.Condition()

    def __repr__(self) -> str:
        return f"FaultCluster({self.host}:{self.port}, {list(self.proxies.values())!r})"

    def start(self) -> FaultCluster:
        if self.proxies:
            raise RuntimeError("already started")
        self.port, self.proxies = start_on_common_port(self.ips, self._start_all)
        return self

    def _start_all(self, port: int) -> dict[str, FaultProxy]:
        started: dict[str, FaultProxy] = {}
        try:
            for ip, upstream in zip(self.ips, self.moto.addresses):
                proxy = FaultProxy(ip, port, upstream=upstream, per_connection_bps=self.per_connection_bps)
                proxy.on_record.append(self._on_record)
                started[ip] = proxy.start()
        except OSError:
            for proxy in started.values():
                proxy.stop()
            raise
        return started

    def stop(self) -> None:
        proxies, self.proxies = self.proxies, {}
        for proxy in proxies.values():
            proxy.clear_rules()
            proxy.stop()
        with self._clients_lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def __enter__(self) -> FaultCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addressing -----------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        """``http://s3.test:PORT``: map ``s3.test`` to ``ips`` in the client's resolver."""
        return f"http://{self.host}:{self.port}"

    def endpoint_for(self, ip: str) -> str:
        return f"http://{ip}:{self.port}"

    @property
    def resolver_map(self) -> dict[str, list[str]]:
        return {self.host: list(self.ips)}

    def upstream_for(self, ip: str) -> tuple[str, int]:
        return self.proxies[ip].upstream

    # --- faults across proxies ------------------------------------------------------

    def add_rule(self, rule: Rule, ips: Sequence[str] | None = None) -> Rule:
        """Add the *same* rule object to the given proxies (default: all), so its nth/times
        count requests across those IPs together."""
        for ip in ips if ips is not None else self.ips:
            self.proxies[ip].add_rule(rule)
        return rule

    def clear_rules(self) -> None:
        for proxy in self.proxies.values():
            proxy.clear_rules()

    def set_per_connection_bps(self, bps: float | None) -> None:
        self.per_connection_bps = bps
        for proxy in self.proxies.values():
            proxy.per_connection_bps = bps

    @property
    def requests(self) -> list[RequestRecord]:
        """Records from every proxy (``record.proxy`` says which), grouped by proxy."""
        return [r for proxy in self.proxies.values() for r in proxy.requests]

    def wait_for_requests(self, done: Callable[[list[RequestRecord]], bool],
                          timeout: float = 5.0) -> list[RequestRecord]:
        """Block until ``done(self.requests)`` holds, for exchanges that end after the client
        gave up (a stalled request whose hedge won, a cancelled read); raises TimeoutError."""
        with self._recorded:
            if not self._recorded.wait_for(lambda: done(self.requests), timeout):
                raise TimeoutError(f"{self!r}: requests still incomplete after {timeout}s")
        return self.requests

    def _on_record(self) -> None:
        with self._recorded:
            self._recorded.notify_all()

    @property
    def connections_accepted(self) -> int:
        return sum(p.connections_accepted for p in self.proxies.values())

    # --- helpers --------------------------------------------------------------------

    def boto3_client(self, ip: str | None = None, *, config: Config | None = None) -> Any:
        """A boto3 S3 client through the proxy at ``ip`` (default: the first). For direct
        assertions that must bypass the faults use ``moto.boto3_client()``."""
        return make_boto3_client(self.endpoint_for(ip or self.ips[0]), config=config,
                                 cache=self._clients if config is None else None,
                                 lock=self._clients_lock)

    def make_bucket(self, name: str | None = None) -> str:
        return self.moto.make_bucket(name)

    def list_multipart_uploads(self, bucket: str) -> list[dict[str, Any]]:
        return self.moto.list_multipart_uploads(bucket)
