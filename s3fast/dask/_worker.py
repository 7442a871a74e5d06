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

An interrupted copy (the driver's Ctrl-C or SIGTERM) calls :func:`stop_copy` on every
worker: the copy is marked stopped in the process (a batch of it that starts later does
nothing), the tasks of its running batches are cancelled on the loop, which runs each
transfer's own cleanup (a multipart upload aborted, an unnamed download file dropped), and
:func:`stop_copy` returns once that cleanup is over, or raises TimeoutError when it is not
over within the driver's ``timeout`` (a transfer whose cleanup waits on a server that does not
answer). Each stopped batch's task then ends with the counts of what it had finished
(``BatchResult.stopped``).
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
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
from ._plan import BatchResult, Item, Tally, to_entry

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
    #: names this copy on the workers, so that an interrupt stops its batches and no other's
    run_id: str = ""

    def client_key(self) -> str:
        return repr((sorted(self.client_kwargs.items()), self.config))


class _Runtime:
    """This process's loop thread and its clients."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = _new_loop()
        self.clients: dict[str, Any] = {}
        #: client key -> batches using that client now (touched on the loop only)
        self.users: collections.Counter[str] = collections.Counter()
        #: run id -> the tasks of that copy's batches running here (touched on the loop only)
        self.running: dict[str, set[asyncio.Task[None]]] = {}
        self._thread = threading.Thread(target=self.loop.run_forever, name="s3fast-dask-loop", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        running = sum(len(t) for t in self.running.values())
        return f"<s3fast dask runtime pid={self.pid} clients={len(self.clients)} batches running={running}>"

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    @contextlib.asynccontextmanager
    async def client(self, spec: CopySpec) -> AsyncIterator[Any]:
        """The client for ``spec``'s settings, counted as in use until the block ends: two
        copies with the same settings share one, and the end of one must not close it
        under the other's running batches (:meth:`close_clients` leaves it)."""
        # Runs on the loop thread only, with no await between look-up, insert and count:
        # two batches arriving at once share one client, and no close comes in between.
        from .._client import Client

        key = spec.client_key()
        client = self.clients.get(key)
        self.users[key] += 1
        try:
            if client is None:
                client = Client(**spec.client_kwargs, config=spec.config)
                self.clients[key] = client
                await client.__aenter__()
            yield client
        finally:
            self.users[key] -= 1
            if self.users[key] <= 0:
                del self.users[key]

    async def batch(self, spec: CopySpec, index: int, items: list[Item], attempt: int) -> BatchResult:
        """Run one batch as a task that :meth:`stop` can cancel; a stopped batch returns
        what it had done instead of raising."""
        tally = Tally()
        # The check and the registration below have no await between them, and stop()
        # marks a run before it cancels on this loop: a batch is either cancelled or never
        # starts, whichever comes first.
        if _is_stopped(spec.run_id):
            return tally.result(index, attempt, worker_name(), stopped=True)
        task = asyncio.ensure_future(_run(self, spec, items, attempt, tally))
        tasks = self.running.setdefault(spec.run_id, set())
        tasks.add(task)
        try:
            await task
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if me is not None and me.cancelling():
                raise  # this call itself was cancelled, not stopped by stop()
            return tally.result(index, attempt, worker_name(), stopped=True)
        finally:
            tasks.discard(task)
            if not tasks:
                self.running.pop(spec.run_id, None)
        return tally.result(index, attempt, worker_name())

    async def stop(self, run_id: str) -> int:
        """Cancel the running batches of ``run_id`` and wait for their cleanup; how many."""
        tasks = set(self.running.get(run_id, ()))
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks)
        return len(tasks)

    async def close_clients(self) -> int:
        """Close the clients no running batch uses (one in use is closed by the end of the
        copy using it); how many."""
        idle = [key for key in self.clients if not self.users.get(key)]
        clients = [self.clients.pop(key) for key in idle]
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
#: the copies stopped in this process, newest last (a bounded memory of run ids)
_stopped: collections.deque[str] = collections.deque(maxlen=256)


def _is_stopped(run_id: str) -> bool:
    with _runtime_lock:
        return bool(run_id) and run_id in _stopped


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
    return rt.call(rt.batch(spec, index, items, attempt))


async def stop_copy(run_id: str, timeout: float | None = None) -> int:
    """Stop the copy ``run_id`` in this process (run on every worker through
    ``distributed.Client.run``, on the worker's own event loop): its batches not yet started
    will do nothing, its running ones are cancelled and their cleanup awaited, for at most
    ``timeout`` seconds (then TimeoutError, naming this worker). Returns the number of
    batches cancelled."""
    with _runtime_lock:
        _stopped.append(run_id)
        rt = _runtime
    if rt is None or rt.pid != os.getpid():
        return 0
    return await _on_loop(rt, rt.stop(run_id), timeout, "the stopped batches' cleanup")


def running_batches() -> int:
    """Batches of any copy running in this process (a probe for tests and monitoring)."""
    with _runtime_lock:
        rt = _runtime
    if rt is None or rt.pid != os.getpid():
        return 0

    async def count() -> int:
        return sum(len(t) for t in rt.running.values())

    return rt.call(count())


async def close_clients(timeout: float | None = None) -> int:
    """Close this process's clients (run on every worker through ``distributed.Client.run``
    when a copy ends), waiting at most ``timeout`` seconds (then TimeoutError).

    A coroutine, so that distributed awaits it on the worker's event loop: a plain function
    would run on that loop's thread and block it (heartbeats, task results) until the
    clients were closed."""
    with _runtime_lock:
        rt = _runtime
    if rt is None or rt.pid != os.getpid():
        return 0
    return await _on_loop(rt, rt.close_clients(), timeout, "closing the s3fast clients")


async def _on_loop(rt: _Runtime, coro: Coroutine[Any, Any, T], timeout: float | None, what: str) -> T:
    """Await ``coro`` on the runtime's loop from the worker's own loop, for at most ``timeout``
    seconds: past it, it is cancelled there and a TimeoutError saying ``what`` and where is
    raised here (the driver shows it)."""
    fut = asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, rt.loop))
    try:
        return await asyncio.wait_for(fut, timeout)
    except TimeoutError:
        raise TimeoutError(f"{what} did not end within {timeout:g} s on {worker_name()}") from None


async def _items(items: list[Item]) -> AsyncIterator[Entry]:
    for item in items:
        yield to_entry(item)


async def _run(rt: _Runtime, spec: CopySpec, items: list[Item], attempt: int, tally: Tally) -> None:
    async with rt.client(spec) as client:
        await _run_with(client, spec, items, attempt, tally)


async def _run_with(client: Any, spec: CopySpec, items: list[Item], attempt: int, tally: Tally) -> None:
    tree = _Tree(client, spec.src, spec.dst, no_clobber=spec.no_clobber, dryrun=spec.dryrun, on_progress=None)

    async def one(e: Entry) -> TreeResult:
        if attempt > 1 and not spec.dryrun and await _written_by_this_copy(tree, e, spec.started):
            r = TreeResult(tree.operation, tree.source_name(e), "", e.size, "skipped", "already done")
            tally.add(r, already_done=True)
            return r
        r = await tree.transfer(e)
        tally.add(r)
        return r

    async for _ in run(_items(items), one, window=spec.window):
        pass


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


__all__ = ["CopySpec", "close_clients", "run_batch", "running_batches", "runtime", "stop_copy", "worker_name"]
