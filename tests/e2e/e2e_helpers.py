"""Helpers shared by the end-to-end tests (a module, not fixtures, so tests read plainly)."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import s3fast

T = TypeVar("T")
MiB = s3fast.MiB

#: Small parts so multipart paths run on small, fast objects.
SMALL = s3fast.TransferConfig(part_size=5 * MiB, multipart_threshold=5 * MiB, memory_limit=64 * MiB)
#: Short timeouts and quick retries so fault tests finish fast.
FAST_FAIL = s3fast.Timeouts(connect=2.0, first_byte=3.0, idle=1.0, low_speed_bytes_per_s=1, low_speed_seconds=2.0)
QUICK_RETRY = s3fast.RetryConfig(backoff_base=0.005, throttle_backoff_base=0.01, backoff_cap=0.05)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return s3fast.run(coro)


def client_for(cluster: Any, config: s3fast.TransferConfig | None = None, **kwargs: Any) -> s3fast.Client:
    return s3fast.Client(endpoint_url=cluster.endpoint_url, resolve=cluster.resolver_map,
                         config=config or SMALL, **kwargs)


def cli(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "s3fast.cli", *args], capture_output=True, input=stdin,
                          env={**os.environ, **(env or {})}, timeout=120, check=False)


async def gather(*aws: Any) -> list[Any]:
    return list(await asyncio.gather(*aws))


def start_cli(cluster: Any, *args: str, group: bool = False) -> subprocess.Popen[bytes]:
    """``s3fast ARGS`` against ``cluster`` (a FaultCluster: its endpoint, every proxy IP);
    ``group``: in a process group of its own (to signal it with its worker processes)."""
    env = {**os.environ, "AWS_ENDPOINT_URL": cluster.endpoint_url, "AWS_EC2_METADATA_DISABLED": "true"}
    return subprocess.Popen([sys.executable, "-m", "s3fast.cli", *args, "--resolve",
                             f"{cluster.host}:{','.join(cluster.ips)}"],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=group)


def finish(proc: subprocess.Popen[bytes]) -> tuple[int, bytes, bytes]:
    """Wait for a started command (killing it after two minutes): exit status, stdout, stderr."""
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, err


def cluster_cli(cluster: Any, *args: str) -> tuple[int, bytes, bytes]:
    return finish(start_cli(cluster, *args))


def wait_until(done: Callable[[], Any], timeout: float) -> None:
    """Poll a file-system condition another process makes true (bounded; not a sleep in
    place of the condition)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met in {timeout} s")
        time.sleep(0.02)
