"""The in-memory S3 (``benchmarks/memserver``) as a harness target: a server whose CPU per
request is small next to any client's, so tree benchmarks measure the client.

Same surface as :class:`~benchmarks.targets.seaweedfs.SeaweedTarget` where trees.py uses it
(``start``, ``admin``, ``stop``) plus ``pid`` so the harness can read the server's CPU time
from ``/proc/PID/stat``. Objects live in the server's memory: an upload run's keys are deleted
by ``check_upload`` like SeaweedFS's, and everything is gone when it stops.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

from ..procs import Poller, free_ports, start_server, stop_process
from .base import Endpoint, UploadCheck
from ._local import LocalServer, http_answers
from .s3admin import S3Admin

_ROOT = Path(__file__).resolve().parents[2]


def memserver_args(port: int, buckets: list[str], python: str = sys.executable) -> list[str]:
    args = [python, "-m", "benchmarks.memserver", "--host", "127.0.0.1", "--port", str(port)]
    for b in buckets:
        args += ["--bucket", b]
    return args


class MemTarget(LocalServer):
    """A private ``python -m benchmarks.memserver`` on a free loopback port."""

    name = "memserver"

    def __init__(self, *, bucket: str, region: str = "us-east-1", start_timeout_s: float = 30.0) -> None:
        self.bucket = bucket
        self.region = region
        self._start_timeout_s = start_timeout_s
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._endpoint: Endpoint | None = None
        self._admin: S3Admin | None = None
        self._seeded: set[str] = set()

    def __repr__(self) -> str:
        state = "running" if self._proc is not None and self._proc.poll() is None else "stopped"
        return f"<MemTarget [{state}] port={self.port} bucket={self.bucket}>"

    def start(self) -> Endpoint:
        if self._endpoint is not None:
            return self._endpoint
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")]))}
        last_error = ""
        for _attempt in range(3):  # the chosen port can be taken before the server binds it
            (port,) = free_ports(1)
            # a file, not a pipe: nobody reads it while the server runs, and a full pipe would stall it
            log = tempfile.TemporaryFile()
            proc = start_server(memserver_args(port, [self.bucket]), cwd=str(_ROOT), env=env, stderr=log)
            self._proc, self.port, self._log = proc, port, log
            if Poller(deadline_s=self._start_timeout_s).wait(lambda: _http_answers(port),
                                                             alive=lambda: proc.poll() is None):
                endpoint = Endpoint(target=self.name, endpoint_url=f"http://127.0.0.1:{port}", region=self.region,
                                    bucket=self.bucket, access_key="memserver", secret_key="memserver")
                self._admin = S3Admin(endpoint)
                self._endpoint = endpoint
                return endpoint
            log.seek(0)
            last_error = log.read()[-1500:].decode(errors="replace")
            self._teardown()
        raise RuntimeError(f"memserver did not start: {last_error}")

    def _teardown(self) -> None:
        if self._proc is not None:
            stop_process(self._proc, grace_s=5.0)
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        self._endpoint = None
        self._admin = None
        self._seeded.clear()

    def stop(self) -> None:
        self._teardown()

    def check_upload(self, keys: list[str], size: int) -> UploadCheck:
        return self.listed_and_deleted(keys, size)

    def facts(self) -> dict[str, Any]:
        return {"server": "memserver (benchmarks/memserver.py, in-memory)", "version": None, "tls": False}


def _http_answers(port: int) -> bool:
    """True once the port speaks S3 (a ListBuckets answer)."""
    return http_answers(port, lambda status: status == 200)
