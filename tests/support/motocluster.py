"""moto in server mode on several loopback addresses sharing one port: a fake multi-IP S3.

All ``ThreadedMotoServer`` instances in one process share moto's in-memory backend, so a
bucket made through 127.0.0.2 is visible through 127.0.0.3 (lab notes). Client code maps
the fake hostname ``s3.test`` to ``ips`` with its own resolver override (no /etc/hosts).
"""
from __future__ import annotations

import itertools
import logging
import os
import threading
import uuid
from typing import Any, Sequence

import boto3
from botocore.config import Config
from moto import settings as moto_settings
from moto.server import ThreadedMotoServer

from .ports import start_on_common_port

DEFAULT_MOTO_IPS = ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")
FAKE_HOST = "s3.test"
REGION = "us-east-1"

_bucket_ids = itertools.count(1)


class _CheckedMotoServer(ThreadedMotoServer):
    """``ThreadedMotoServer`` whose ``start()`` raises when the bind fails.

    moto's ``start()`` waits on an event set only after a successful bind, so a port taken
    in the meantime would hang it; this catches the bind error in the server thread and
    releases the waiter (moto 5.x internals: ``_server_entry``/``_server_ready_event``).
    """

    def __init__(self, ip_address: str, port: int) -> None:
        super().__init__(ip_address=ip_address, port=port, verbose=False)
        self.entry_error: BaseException | None = None

    def _server_entry(self) -> None:
        try:
            super()._server_entry()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the starting thread
            self.entry_error = exc
            self._server_ready_event.set()

    def start(self) -> None:
        super().start()
        if self.entry_error is not None:
            self._thread.join(5)  # type: ignore[union-attr]
            raise self.entry_error


def _stop_all(servers: Sequence[ThreadedMotoServer]) -> None:
    """Stop servers in parallel: each shutdown() waits up to werkzeug's 0.5 s poll."""
    threads = [threading.Thread(target=s.stop, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)


class MotoCluster:
    """moto listening on ``ips`` (default 127.0.0.2-5), all on one port.

    ``start()`` binds, ``stop()`` shuts down; also a context manager.
    """

    def __init__(self, ips: Sequence[str] = DEFAULT_MOTO_IPS, host: str = FAKE_HOST) -> None:
        self.ips = list(ips)
        self.host = host
        self.port = 0
        self._servers: list[_CheckedMotoServer] = []
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._saved: dict[str, Any] = {}

    def __repr__(self) -> str:
        state = "running" if self._servers else "stopped"
        return f"MotoCluster({self.host}:{self.port} -> {self.ips}, {state})"

    def start(self) -> MotoCluster:
        if self._servers:
            raise RuntimeError("already started")
        os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
        # Requests arrive with Host "s3.test:PORT"; moto would read "s3" as a virtual-host
        # bucket name for any dotted non-AWS host. Path-style only, while the cluster runs.
        self._saved["subdomain"] = moto_settings.S3_IGNORE_SUBDOMAIN_BUCKETNAME
        moto_settings.S3_IGNORE_SUBDOMAIN_BUCKETNAME = True
        # werkzeug logs one line per request; keep test output readable.
        werkzeug_log = logging.getLogger("werkzeug")
        self._saved["log_level"] = werkzeug_log.level
        werkzeug_log.setLevel(logging.WARNING)
        try:
            self.port, self._servers = start_on_common_port(self.ips, self._start_all)
        except BaseException:
            self._restore()
            raise
        return self

    def _start_all(self, port: int) -> list[_CheckedMotoServer]:
        started: list[_CheckedMotoServer] = []
        try:
            for ip in self.ips:
                server = _CheckedMotoServer(ip, port)
                server.start()
                started.append(server)
        except OSError:
            _stop_all(started)
            raise
        return started

    def stop(self) -> None:
        servers, self._servers = self._servers, []
        _stop_all(servers)
        with self._clients_lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
        self._restore()

    def _restore(self) -> None:
        if "subdomain" in self._saved:
            moto_settings.S3_IGNORE_SUBDOMAIN_BUCKETNAME = self._saved.pop("subdomain")
        if "log_level" in self._saved:
            logging.getLogger("werkzeug").setLevel(self._saved.pop("log_level"))

    def __enter__(self) -> MotoCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addressing -----------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        """``http://s3.test:PORT``: needs the client's resolver override to reach ``ips``."""
        return f"http://{self.host}:{self.port}"

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [(ip, self.port) for ip in self.ips]

    def endpoint_for(self, ip: str) -> str:
        return f"http://{ip}:{self.port}"

    @property
    def resolver_map(self) -> dict[str, list[str]]:
        """{hostname: [ips]} for a client resolver override."""
        return {self.host: list(self.ips)}

    # --- helpers for assertions -----------------------------------------------------

    def boto3_client(self, ip: str | None = None, *, config: Config | None = None) -> Any:
        """A boto3 S3 client straight to moto at ``ip`` (default: the first); path-style,
        us-east-1, dummy credentials. Clients with the default config are cached."""
        return make_boto3_client(self.endpoint_for(ip or self.ips[0]), config=config,
                                 cache=self._clients if config is None else None,
                                 lock=self._clients_lock)

    def make_bucket(self, name: str | None = None) -> str:
        """Create a fresh bucket (unique name unless given) and return its name."""
        name = name or f"s3fast-{next(_bucket_ids)}-{uuid.uuid4().hex[:12]}"
        self.boto3_client().create_bucket(Bucket=name)
        return name

    def list_multipart_uploads(self, bucket: str) -> list[dict[str, Any]]:
        """In-progress multipart uploads of ``bucket`` (all pages)."""
        client = self.boto3_client()
        uploads: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"Bucket": bucket}
        for _ in range(1000):  # bounded pagination
            page = client.list_multipart_uploads(**kwargs)
            uploads.extend(page.get("Uploads", []))
            if not page.get("IsTruncated"):
                return uploads
            kwargs["KeyMarker"] = page.get("NextKeyMarker", "")
            kwargs["UploadIdMarker"] = page.get("NextUploadIdMarker", "")
        raise RuntimeError("list_multipart_uploads did not finish paginating")


def default_boto3_config(**overrides: Any) -> Config:
    """Path-style addressing, us-east-1, short timeouts (loopback), 3 standard attempts."""
    options: dict[str, Any] = {
        "s3": {"addressing_style": "path"},
        "region_name": REGION,
        "connect_timeout": 5,
        "read_timeout": 30,
        "retries": {"total_max_attempts": 3, "mode": "standard"},
    }
    options.update(overrides)
    return Config(**options)


def make_boto3_client(endpoint_url: str, *, config: Config | None = None,
                      cache: dict[str, Any] | None = None,
                      lock: threading.Lock | None = None) -> Any:
    """A boto3 S3 client for ``endpoint_url`` with dummy credentials."""
    if cache is not None and lock is not None:
        with lock:
            client = cache.get(endpoint_url)
            if client is None:
                client = cache[endpoint_url] = make_boto3_client(endpoint_url)
            return client
    session = boto3.session.Session(aws_access_key_id="testing",
                                    aws_secret_access_key="testing", region_name=REGION)
    return session.client("s3", endpoint_url=endpoint_url,
                          config=config or default_boto3_config())
