"""What runs on a Dask worker: one batch of a tree copy, on the process's one event loop.

    dask task thread --run_batch--> this process's loop thread (made once, reused)
                                     -> this process's s3fast client for those settings
                                     -> the tree engine over the batch's objects
                                     <- a BatchResult (counts and failures only)

A Dask worker runs tasks on its own threads, none with an event loop; starting a loop and a
client per task would pay a connection set-up, DNS harvest and tuner warm-up per batch. So
each process keeps one loop on a daemon thread and one client per set of client settings,
shared by every batch (and every task thread) of the process. After a fork the child makes
its own: the parent's sockets and thread are not its to use.

A retried batch (``attempt`` > 1: its earlier task died with its worker, or failed) first
asks, for each object, whether the destination already holds it as written by this copy
(same size, modified at or after the copy started); such objects are skipped, so a retry
sends only what the lost attempt had not finished.
"""
from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from .._config import TransferConfig
from .._errors import NoSuchKey
from ..tree._decide import Entry
from ..tree._engine import run
from ..tree._ops import Place, TreeResult, _Tree
from ._plan import BatchResult, Item, to_entry

T = TypeVar("T")


@dataclass(frozen=True)
class CopySpec:
    """What every batch of one copy shares (picklable: it travels with each task)."""

    client_kwargs: dict[str, Any]
    config: TransferConfig
    src: Place
    dst: Place
    no_clobber: bool = False
    dryrun: bool = False
    #: objects in flight at once within a batch
    window: int = 64
    #: epoch seconds when the copy started: what a retry counts as "written by this copy"
    started: float = 0.0

    def client_key(self) -> str:
        return repr((sorted(self.client_kwargs.items()), self.config))


class _Runtime:
    """This process's loop thread and its clients."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = _new_loop()
        self.clients: dict[str, Any] = {}
        self._thread = threading.Thread(target=self.loop.run_forever, name="s3fast-dask-loop", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"<s3fast dask runtime pid={self.pid} clients={len(self.clients)}>"

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def client(self, spec: CopySpec) -> Any:
        # Runs on the loop thread only, with no await between look-up and insert: two
        # batches arriving at once share one client.
        from .._client import Client

        key = spec.client_key()
        client = self.clients.get(key)
        if client is None:
            client = Client(**spec.client_kwargs, config=spec.config)
            self.clients[key] = client
            await client.__aenter__()
        return client

    async def close_clients(self) -> int:
        clients, self.clients = list(self.clients.values()), {}
        for c in clients:
            await c.aclose()
        return len(clients)


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


_runtime: _Runtime | None = None
_runtime_lock = threading.Lock()


def runtime() -> _Runtime:
    global _runtime
    with _runtime_lock:
        if _runtime is None or _runtime.pid != os.getpid():
            _runtime = _Runtime()  # a forked child drops the parent's, unclosed
        return _runtime


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_batch(spec: CopySpec, index: int, items: list[Item], attempt: int = 1) -> BatchResult:
    """The Dask task: copy ``items`` with this process's client; every object's failure is
    in the result, never raised (a raise means the batch itself could not run)."""
    rt = runtime()
    return rt.call(_run(rt, spec, index, items, attempt))


def close_clients() -> int:
    """Close this process's clients (run on every worker when a copy ends)."""
    with _runtime_lock:
        rt = _runtime
    if rt is None or rt.pid != os.getpid():
        return 0
    return rt.call(rt.close_clients())


async def _items(items: list[Item]) -> AsyncIterator[Entry]:
    for item in items:
        yield to_entry(item)


async def _run(rt: _Runtime, spec: CopySpec, index: int, items: list[Item], attempt: int) -> BatchResult:
    client = await rt.client(spec)
    tree = _Tree(client, spec.src, spec.dst, no_clobber=spec.no_clobber, dryrun=spec.dryrun, on_progress=None)
    already: list[int] = []

    async def one(e: Entry) -> TreeResult:
        if attempt > 1 and not spec.dryrun and await _written_by_this_copy(tree, e, spec.started):
            already.append(1)
            return TreeResult(tree.operation, tree.source_name(e), "", e.size, "skipped", "already done")
        return await tree.transfer(e)

    objects = nbytes = skipped = dry = 0
    failed: list[tuple[str, str]] = []
    warnings: list[str] = []
    async for r in run(_items(items), one, window=spec.window):
        if r.status == "done":
            objects += 1
            nbytes += r.bytes
        elif r.status == "failed":
            failed.append((r.source or r.destination, r.error or "failed"))
        elif r.status == "dryrun":
            dry += 1
        else:
            skipped += 1
            if r.reason.startswith("unsafe key"):
                warnings.append(f"skipped {r.source!r}: {r.reason}")
    return BatchResult(index, attempt, worker_name(), objects, nbytes, skipped - len(already), dry, len(already),
                       tuple(failed), tuple(warnings))


async def _written_by_this_copy(tree: _Tree, e: Entry, started: float) -> bool:
    """Whether the destination of ``e`` holds an object or file of its size, last modified
    no earlier than the copy's start (whole seconds: S3's Last-Modified has no fraction)."""
    dest = tree.dest_name(e)
    if not isinstance(dest, str):
        return False
    since = int(started)
    if tree.dst.is_s3:
        try:
            head = await tree.client.head(dest, checksum_mode=False)
        except NoSuchKey:
            return False
        except Exception:  # noqa: BLE001 - cannot tell: copy it again, which is always correct
            return False
        when = _http_time(head.last_modified)
        return head.size == e.size and when is not None and when >= since
    try:
        st = os.stat(dest)
    except OSError:
        return False
    return st.st_size == e.size and int(st.st_mtime) >= since


def _http_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError):
        return None


__all__ = ["CopySpec", "close_clients", "run_batch", "runtime", "worker_name"]
