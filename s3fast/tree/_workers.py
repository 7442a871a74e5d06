"""``--workers N``: one event loop is one core, so a tree is sharded over N processes.

    parent: lister (+ sync's decisions) --> one shared bounded queue --> N worker processes
            <-- results (one queue) <------------------------------ each: own client + engine

Workers pull from one shared queue, so a worker slowed by large objects takes fewer items
and none starves behind it. Each worker's client gets 1/N of the throughput target, of the
cap and of the memory limit, so N workers together stay within what one was given. The
parent's queue holds at most ``window * N`` items: memory stays bounded by what is in flight.
Workers are started with ``spawn`` (a fork would copy the parent's event loop and threads).

Items and results cross the processes in batches: every queue message costs a pickle, a
pipe write and a read, and thread hand-offs on both sides, which per 64 KiB object cost
more than the transfer itself. A batch goes as soon as it is full or the lister has nothing
more ready, so batching never holds back work. A worker sends a result at once when it sent
none in the last :data:`_FLUSH_S`, else with the others that finish within it: the parent's
progress and its resume journal (what a ``kill -9`` leaves) trail by no more than that.
"""
from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from .._config import TransferConfig
from ..resume._tree import TreeJournal
from ..tuning import default_target_gbps
from ._cpus import MAX_DEFAULT_WORKERS, SHARD_ABOVE, available_cpus, default_workers
from ._decide import Entry
from ._engine import DEFAULT_WINDOW, chain, run
from ._object import SyncItem, TreeResult, _Tree
from ._places import Place
from ._prefixes import PrefixGovernor

#: how long a blocking queue call waits before looking at the workers' health again
_POLL = 0.5
#: how long a stopping parent waits for its workers to abort their uploads and end (each
#: abort is one request, bounded by its timeouts); a worker still alive then is stuck
_STOP_GRACE = 30.0
#: a batch of items holds at most this many, and at most this many bytes of objects: a
#: worker holding a batch of large objects must not leave the others idle at the end
BATCH_ITEMS = 64
BATCH_BYTES = 16 << 20
#: a worker's finished results wait at most this long before going to the parent
_FLUSH_S = 0.01

def share(config: TransferConfig, workers: int) -> TransferConfig:
    """Each worker's part of the target, cap and memory limit (pure)."""
    target = config.target_gbps or default_target_gbps()
    return dataclasses.replace(
        config, target_gbps=target / workers,
        max_gbps=None if config.max_gbps is None else config.max_gbps / workers,
        memory_limit=max(config.memory_limit // workers, config.part_size * 2),
    )


@dataclasses.dataclass(frozen=True)
class Job:
    """What every worker does with its items (picklable)."""

    client_kwargs: dict[str, Any]
    config: TransferConfig
    src: Place
    dst: Place
    no_clobber: bool = False
    dryrun: bool = False
    #: None: copy each Entry; else sync pairs (Entry, Entry | None) with this compare mode
    compare: str | None = None
    window: int = DEFAULT_WINDOW
    #: each large object resumable through its own journal (the parent keeps the tree's)
    resumable: bool = False


#: what stops a worker: the parent's SIGTERM, and what a terminal sends its whole
#: foreground group (Ctrl-C, SIGHUP when it closes) or a supervisor sends all processes
_STOP = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


#: prctl(2) option: the signal this process gets when the thread that started it ends
_PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> None:
    """SIGTERM (handled as a stop: uploads abort) when ``parent`` dies, even by SIGKILL:
    a worker otherwise waits on the shared queue forever, holding its uploads open."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the parent's own stop path is all there is
        return
    if os.getppid() != parent:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _worker(job: Job, inq: Any, outq: Any, parent: int = 0) -> None:
    from .. import run as run_loop

    # A signal the parent's parent set to be ignored (nohup's SIGHUP) stays ignored.
    handled = tuple(s for s in _STOP if signal.getsignal(s) is not signal.SIG_IGN)
    try:
        if parent:
            _die_with(parent)
        run_loop(_stoppable(_work(job, inq, outq), handled))
    except KeyboardInterrupt:
        pass
    except BaseException as exc:  # noqa: BLE001 - the parent reports it
        outq.put(("error", f"{type(exc).__name__}: {exc}"))
    # Transfers are over: a late signal from the parent must not interrupt the flush of
    # the result queue (a traceback from multiprocessing's finalizers).
    for sig in _STOP:
        signal.signal(sig, signal.SIG_IGN)
    outq.put(("done", None))


async def _stoppable(work: Any, handled: tuple[signal.Signals, ...]) -> None:
    """Run ``work``; the first stop signal cancels it (its uploads abort), later ones are
    ignored: on a terminal's Ctrl-C the worker gets the signal and then the parent's
    forwarded SIGTERM, and the second must not cut the abort short. Without a handler,
    SIGTERM and SIGHUP would end the worker at once, its multipart uploads left open.

    The loop's handlers stay installed until the work has ended, the aborts included:
    removing one resets the signal to its default disposition before it can be set to
    ignored, and the parent's SIGTERM lands within milliseconds of a terminal's Ctrl-C,
    so it could fall in that gap and kill the worker mid-abort."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    stopped: list[int] = []

    def on_stop(signum: int) -> None:
        if not stopped:
            stopped.append(signum)
            task.cancel()

    for sig in handled:
        loop.add_signal_handler(sig, on_stop, sig)
    try:
        await work
    except asyncio.CancelledError:
        if not stopped:
            raise
    finally:
        # The work is over: nothing left to stop, the results to flush.
        for sig in handled:
            loop.remove_signal_handler(sig)
            signal.signal(sig, signal.SIG_IGN)


def item_bytes(item: Entry | SyncItem) -> int:
    """The bytes an item moves, at most (pure): what a batch is bounded by besides its count."""
    if isinstance(item, Entry):
        return item.size
    if isinstance(item, tuple):
        return item[0].size
    return 0  # a bulk delete moves no bytes


async def batched(items: AsyncIterator[Any], max_items: int = BATCH_ITEMS, max_bytes: int = BATCH_BYTES,
                  size_of: Callable[[Any], int] = item_bytes) -> AsyncIterator[list[Any]]:
    """``items`` in lists of at most ``max_items`` and ``max_bytes`` (an item larger goes alone);
    a list is yielded as soon as it is full or ``items`` has nothing ready, so a slow source
    (a listing page at a time) delays nothing. At most ``max_items`` are read ahead."""
    ready: asyncio.Queue[Any] = asyncio.Queue(maxsize=max_items)
    end = object()
    failed: list[BaseException] = []

    async def produce() -> None:
        try:
            async for item in items:
                await ready.put(item)
        except Exception as exc:  # noqa: BLE001 - raised where the batches are read
            failed.append(exc)
        await ready.put(end)  # a cancelled producer (the reader stopped) puts nothing

    producer = asyncio.create_task(produce())
    try:
        carried: Any = end  # an item that did not fit the last batch (``end``: none)
        over = False
        while not over:
            first = carried if carried is not end else await ready.get()
            carried = end
            if first is end:
                break
            batch, size = [first], size_of(first)
            while len(batch) < max_items and not ready.empty():
                item = ready.get_nowait()
                if item is end:
                    over = True
                    break
                if size + size_of(item) > max_bytes:
                    carried = item
                    break
                batch.append(item)
                size += size_of(item)
            yield batch
        if failed:
            raise failed[0]
    finally:
        producer.cancel()
        await asyncio.gather(producer, return_exceptions=True)


class ResultBatcher:
    """A worker's finished results on their way to the parent: one at once after a quiet
    spell, else gathered for at most ``delay`` (or :data:`BATCH_ITEMS` of them), so a busy
    worker sends a message every ``delay`` rather than one per object."""

    def __init__(self, send: Callable[[list[Any]], object], loop: asyncio.AbstractEventLoop,
                 delay: float = _FLUSH_S) -> None:
        self._send = send
        self._loop = loop
        self._delay = delay
        self._pending: list[Any] = []
        self._sent_at = -delay  # so the first result goes at once
        self._timer: asyncio.TimerHandle | None = None
        self.messages = 0

    def __repr__(self) -> str:
        return f"<ResultBatcher pending={len(self._pending)} messages={self.messages}>"

    def add(self, results: list[Any]) -> None:
        self._pending.extend(results)
        waited = self._loop.time() - self._sent_at
        if len(self._pending) >= BATCH_ITEMS or waited >= self._delay:
            self.flush()
        elif self._timer is None:
            self._timer = self._loop.call_later(self._delay - waited, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending:
            batch, self._pending = self._pending, []
            self._send(batch)
            self.messages += 1
            self._sent_at = self._loop.time()


async def _work(job: Job, inq: Any, outq: Any) -> None:
    from .._client import Client

    over = threading.Event()

    def take() -> Any:
        # Never blocks for good: a parent gone without sending the end (SIGKILL) would
        # leave this thread waiting, and the loop's shutdown waits for its threads.
        while not over.is_set():
            try:
                return inq.get(timeout=_POLL)
            except queue.Empty:
                continue
        return None

    async def items() -> AsyncIterator[Any]:
        while True:
            batch = await asyncio.to_thread(take)
            if batch is None:
                return
            for item in batch:
                yield item

    results_out = ResultBatcher(lambda batch: outq.put(("results", batch)), asyncio.get_running_loop())
    governor = PrefixGovernor(job.window)
    try:
        async with Client(**job.client_kwargs, config=job.config) as client:
            tree = _Tree(client, job.src, job.dst, no_clobber=job.no_clobber, dryrun=job.dryrun, on_progress=None)
            if job.resumable:
                tree.resume = TreeJournal.per_object(tree.operation)

            async def one(item: Any) -> list[TreeResult]:
                return await tree.work(item, job.compare)

            async for results in run(items(), one, window=job.window, governor=governor, key=tree.prefix_key):
                results_out.add(results)
    finally:
        over.set()
        # What finished before a stop is reported too: the parent's journal records it.
        results_out.flush()
    outq.put(("throttled", governor.report()))


async def sharded(items: AsyncIterator[Entry | SyncItem], job: Job, workers: int, *,
                  governor: PrefixGovernor | None = None,
                  on_start: Callable[[int], None] | None = None) -> AsyncIterator[TreeResult]:
    """Run ``job`` over ``items`` in ``workers`` processes; results as they arrive. Each
    worker throttles prefixes on its own; their reports are merged into ``governor``.
    The processes start with the first item (``on_start(workers)`` is called then): a
    stream with none (a sync whose objects the parent found unchanged) starts no process."""
    head: list[Entry | SyncItem] = []
    async for item in items:
        head.append(item)
        break
    if not head:
        return
    items = chain(head, items)
    ctx = mp.get_context("spawn")
    inq: Any = ctx.Queue(maxsize=max(1, max(1, job.window) * workers // BATCH_ITEMS))
    outq: Any = ctx.Queue()
    worker_job = dataclasses.replace(job, config=share(job.config, workers))
    procs = [ctx.Process(target=_worker, args=(worker_job, inq, outq, os.getpid()), daemon=True,
                         name=f"s3fast-worker-{i}")
             for i in range(workers)]
    for p in procs:
        p.start()
    if on_start is not None:
        on_start(workers)
    failure: list[BaseException] = []

    def put(item: Any) -> bool:
        while True:
            try:
                inq.put(item, timeout=_POLL)
                return True
            except queue.Full:
                if not any(p.is_alive() for p in procs):
                    return False

    async def feed() -> None:
        try:
            async for batch in batched(items):
                if not await asyncio.to_thread(put, batch):
                    return
        except BaseException as exc:  # noqa: BLE001 - raised after the workers have stopped
            failure.append(exc)
        finally:
            for _ in procs:
                await asyncio.to_thread(put, None)

    def get() -> Any:
        while True:
            try:
                return outq.get(timeout=_POLL)
            except queue.Empty:
                if not any(p.is_alive() for p in procs):
                    return ("gone", None)

    feeder = asyncio.create_task(feed())
    finished = 0
    errors: list[str] = []
    try:
        while finished < workers:
            kind, value = await asyncio.to_thread(get)
            if kind == "results":
                for r in value:
                    yield r
            elif kind == "throttled":
                if governor is not None:
                    governor.merge(value)
            elif kind == "error":
                errors.append(value)
            elif kind == "done":
                finished += 1
            else:
                errors.append("a worker process died")
                break
        await feeder
    finally:
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)
        # Early exit (Ctrl-C, an error, a consumer that stopped): a stop signal first, so
        # each worker cancels its transfers and aborts its multipart uploads; then SIGKILL.
        # SIGTERM rather than SIGINT: a worker still starting (importing, nothing open yet)
        # has no handler, and SIGINT there is a KeyboardInterrupt traceback from the spawn
        # bootstrap, where SIGTERM ends it quietly.
        if finished < workers:
            for p in procs:
                if p.is_alive() and p.pid is not None:
                    os.kill(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE
        for p in procs:
            await asyncio.to_thread(p.join, max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()  # its cleanup is stuck (a worker ignores a second stop signal)
                await asyncio.to_thread(p.join, 5)
    if failure:
        raise failure[0]
    if errors:
        raise RuntimeError(f"worker failed: {errors[0]}")


__all__ = ["BATCH_BYTES", "BATCH_ITEMS", "MAX_DEFAULT_WORKERS", "SHARD_ABOVE", "Job", "ResultBatcher", "batched", "item_bytes", "available_cpus", "default_workers", "share", "sharded"]
