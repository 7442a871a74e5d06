"""What the harness's own servers (SeaweedFS, memserver) share: a process whose CPU the
harness reads, an admin client, download objects seeded once per dataset, and uploads
checked by listing and then deleted."""
from __future__ import annotations

import http.client
import subprocess
from collections.abc import Callable

from ..dataset import Dataset
from ..procs import port_open
from .base import UploadCheck
from .s3admin import S3Admin, common_prefix


class LocalServer:
    """Base of a target that starts its server as a child process (``_proc``)."""

    name: str
    _proc: subprocess.Popen[bytes] | None
    _admin: S3Admin | None
    _seeded: set[str]

    @property
    def pid(self) -> int:
        """The server's process id (its CPU over a run is read from ``/proc``)."""
        if self._proc is None:
            raise RuntimeError(f"{self.name} target is not started")
        return self._proc.pid

    @property
    def admin(self) -> S3Admin:
        if self._admin is None:
            raise RuntimeError(f"{self.name} target is not started")
        return self._admin

    def start(self) -> object:
        raise NotImplementedError

    def prepare_download(self, dataset: Dataset) -> bool:
        self.start()  # no-op while running
        if dataset.dataset_id in self._seeded:
            return False
        for i, path in enumerate(dataset.paths()):
            self.admin.put_file(dataset.key(i), path, dataset.checksums[i])
        self._seeded.add(dataset.dataset_id)
        return True

    def listed_and_deleted(self, keys: list[str], size: int) -> UploadCheck:
        """Whether every key of an upload run is listed at ``size``; the run's keys are then
        deleted (the server's disk or memory would otherwise hold every run)."""
        stored = self.admin.list_sizes(common_prefix(keys))
        missing = tuple(k for k in keys if k not in stored)
        wrong = [k for k in keys if k in stored and stored[k] != size]
        self.admin.delete_keys(list(stored))
        if missing or wrong:
            return UploadCheck(verified=False, detail=f"{len(missing)} missing, {len(wrong)} of wrong size",
                               missing=missing)
        return UploadCheck(verified=True, detail=f"{len(keys)} objects of {size} B listed")


def http_answers(port: int, ok: Callable[[int], bool]) -> bool:
    """True once a GET / on ``port`` gets a status ``ok`` accepts (the server is up)."""
    if not port_open(port):
        return False
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/")
        return ok(conn.getresponse().status)
    except OSError:
        return False
    finally:
        conn.close()
