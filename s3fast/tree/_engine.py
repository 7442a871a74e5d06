"""The work engine: items from a streamed lister, one task per item, results as they finish.

    lister --> backlog (per-key queues, at most ``backlog`` items) --round robin over the
               keys the governor admits--> work(item) tasks (at most ``window``) --> results

What the engine holds stays bounded whatever the number of keys: at most ``window`` tasks
alive or results unread, and ``backlog`` items waiting (the lister is read only when there is
room). The first item starts while the lister is still on its first page. ``work`` turns its
own failures into results (one object's error never stops the others); an error of the
lister itself (no such bucket, access denied) ends the run and is raised to the consumer once
the items already started have been reported.

The governor is the strategy that decides which waiting item may start. Without one, every item
may (one queue, first in first out, and a backlog of one: the lister waits for the window).
With a :class:`._prefixes.PrefixGovernor` and a ``key`` (the item's prefix), an item whose
prefix is at its limit waits in the backlog without holding a window slot, so the items of
other prefixes behind it start at once; each task then runs with its own ``THROTTLES``
counter, which the transport's retry loop bumps on every 503 SlowDown, so the governor hears
of it at once. What that cannot do: when one prefix's items fill the whole backlog, the
lister waits, and prefixes listed after them wait too; the backlog (default four windows) is
sized so that takes several windows of one throttled prefix.
"""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from .._transport import THROTTLES, Throttles
from ._prefixes import PrefixGovernor, Ticket

T = TypeVar("T")
R = TypeVar("R")

_END = object()

#: objects in flight at once (requests are bounded by the client's limiter, not by this)
DEFAULT_WINDOW = 128


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _ListerFailed(_Raised):
    pass


def _one_key(_item: object) -> str:
    return ""


async def run(items: AsyncIterator[T], work: Callable[[T], Awaitable[R]], *, window: int,
              governor: PrefixGovernor | None = None, key: Callable[[T], str] = _one_key,
              backlog: int | None = None, settled: Callable[[T], R | None] | None = None) -> AsyncIterator[R]:
    """Yield ``work(item)`` for every item, in finishing order, at most ``window`` at once and,
    with a ``governor``, only when the governor admits ``key(item)``.

    ``settled(item)``: the item's result when it needs no I/O (an unchanged object in a
    sync), else None. Such a result is handed on as the item is listed, without a task, and
    counts in ``window`` until it is consumed, like any other."""
    window = max(1, window)
    if backlog is None:
        backlog = 1 if governor is None else 4 * window
    backlog = max(1, backlog)
    waiting: dict[str, deque[T]] = {}  # insertion order is the round robin's order
    queued = 0
    running = 0  # tasks started whose results were not consumed yet
    active = 0  # tasks not yet ended (``tasks`` forgets a task only after its callbacks ran)
    results: asyncio.Queue[object] = asyncio.Queue()
    tasks: set[asyncio.Task[None]] = set()
    changed = asyncio.Event()  # a task ended, a result was consumed, or the backlog moved
    closing = False

    async def one(item: T, ticket: Ticket | None) -> None:
        nonlocal active
        signal = None
        if governor is not None and ticket is not None:
            signal = Throttles(lambda: governor.slowdown(ticket))
            THROTTLES.set(signal)  # this task's context only
        try:
            results.put_nowait(await work(item))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, not lost
            results.put_nowait(_Raised(exc))
        finally:
            active -= 1
            if governor is not None and ticket is not None and signal is not None:
                governor.finish(ticket, signal.count)
            dispatch()

    def launch(k: str, item: T) -> None:
        nonlocal queued, running, active
        queued -= 1
        running += 1
        active += 1
        task = asyncio.create_task(one(item, None if governor is None else governor.start(k)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def dispatch() -> None:
        if closing:
            return  # tasks being cancelled must not start new ones
        if governor is None:
            q = waiting.get("")
            while q and running < window:
                launch("", q.popleft())
        else:
            progressed = True
            while progressed and waiting and running < window:
                progressed = False
                for k in list(waiting):
                    if running >= window:
                        break
                    if not governor.can_start(k):
                        continue
                    q = waiting.pop(k)
                    item = q.popleft()
                    if q:
                        waiting[k] = q  # to the back: one item per key per turn
                    launch(k, item)
                    progressed = True
        changed.set()

    async def until(done: Callable[[], bool]) -> None:
        while not done():
            changed.clear()
            await changed.wait()

    async def produce() -> None:
        nonlocal queued, running
        try:
            while True:
                await until(lambda: queued < backlog)  # room first: the lister is read only then
                try:
                    item = await anext(items)
                except StopAsyncIteration:
                    break
                if settled is not None:
                    result = settled(item)
                    if result is not None:
                        await until(lambda: running < window)
                        running += 1
                        results.put_nowait(result)
                        continue
                waiting.setdefault(key(item), deque()).append(item)
                queued += 1
                dispatch()
            await until(lambda: not queued and not active)
            results.put_nowait(_END)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - the lister failed: report after the queued ones
            await until(lambda: not queued and not active)
            results.put_nowait(_ListerFailed(exc))
            results.put_nowait(_END)

    producer = asyncio.create_task(produce())
    failure: BaseException | None = None
    try:
        while True:
            msg = await results.get()
            if msg is _END:
                break
            if isinstance(msg, _ListerFailed):
                failure = failure or msg.exc
                continue
            if isinstance(msg, _Raised):
                # A bug in ``work``: it reports each object's errors as results itself.
                failure = failure or msg.exc
            else:
                yield msg  # type: ignore[misc]
            running -= 1
            dispatch()
        if failure is not None:
            raise failure
    finally:
        closing = True
        producer.cancel()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(producer, *list(tasks), return_exceptions=True)


async def settled_aside(items: AsyncIterator[T], settled: Callable[[T], list[R] | None],
                        rest: Callable[[AsyncIterator[T]], AsyncIterator[R]], *, bound: int) -> AsyncIterator[R]:
    """``rest`` (another runner: the worker processes) over the items ``settled`` does not
    answer; its answers and ``rest``'s results as they come, at most ``bound`` held.

    So what the listings alone decide (an unchanged object in a sync) never crosses to a
    worker process and back."""
    out: asyncio.Queue[object] = asyncio.Queue(max(1, bound))

    async def unsettled() -> AsyncIterator[T]:
        async for item in items:
            done = settled(item)
            if done is None:
                yield item
                continue
            for r in done:
                await out.put(r)

    async def pump() -> None:
        try:
            async for r in rest(unsettled()):
                await out.put(r)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - raised to the consumer, in order
            await out.put(_Raised(exc))
        await out.put(_END)

    task = asyncio.create_task(pump())
    try:
        while (msg := await out.get()) is not _END:
            if isinstance(msg, _Raised):
                raise msg.exc
            yield msg  # type: ignore[misc]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def chain(head: list[T], rest: AsyncIterator[T]) -> AsyncIterator[T]:
    """``head`` (items already taken from a stream), then the rest of the stream."""
    for item in head:
        yield item
    async for item in rest:
        yield item


async def batched(items: AsyncIterator[T], size: int) -> AsyncIterator[list[T]]:
    """Group a stream into lists of at most ``size`` (a bulk delete takes 1,000 keys)."""
    batch: list[T] = []
    async for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


__all__ = ["DEFAULT_WINDOW", "batched", "chain", "run", "settled_aside"]
