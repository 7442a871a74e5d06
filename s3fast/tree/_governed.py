"""The work engine with per-prefix congestion control (``_prefixes.PrefixGovernor``).

    lister --> backlog (per-prefix queues, at most ``backlog`` items) --round robin over the
               prefixes the governor admits--> work(item) tasks (at most ``window``) --> results

Like :func:`._engine.run`, results come in finishing order and what is held stays bounded
(``window`` tasks or unread results, ``backlog`` waiting items, one item in the lister's
hand) whatever the number of keys. The difference: an item whose prefix is at its limit
waits in the backlog without holding a window slot, so the items of other prefixes behind
it start at once. Each task runs with its own ``THROTTLES`` counter, which the transport's
retry loop bumps on every 503 SlowDown: the governor hears of it at once.

What this cannot do: when one prefix's items fill the whole backlog, the lister waits, and
prefixes listed after them wait too (a single sorted listing reaches them only by reading
on); the backlog is sized so that takes several windows of one throttled prefix.
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


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _ListerFailed(_Raised):
    pass


async def run_governed(items: AsyncIterator[T], work: Callable[[T], Awaitable[R]], *, window: int,
                       governor: PrefixGovernor, key: Callable[[T], str],
                       backlog: int | None = None) -> AsyncIterator[R]:
    """Yield ``work(item)`` for every item, in finishing order, at most ``window`` at once and
    at most the governor's limit at once per ``key(item)``."""
    window = max(1, window)
    backlog = max(1, backlog if backlog is not None else 4 * window)
    waiting: dict[str, deque[T]] = {}  # insertion order is the round robin's order
    queued = 0
    running = 0  # tasks started whose results were not consumed yet
    results: asyncio.Queue[object] = asyncio.Queue()
    tasks: set[asyncio.Task[None]] = set()
    changed = asyncio.Event()  # a task ended, a result was consumed, or the backlog moved
    closing = False
    active = 0  # tasks not yet ended (``tasks`` forgets a task only after its callbacks ran)

    async def one(item: T, ticket: Ticket) -> None:
        nonlocal active
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
            governor.finish(ticket, signal.count)
            dispatch()

    def dispatch() -> None:
        nonlocal queued, running, active
        if closing:
            return  # tasks being cancelled must not start new ones
        progressed = True
        while progressed and waiting and running < window:
            progressed = False
            for prefix in list(waiting):
                if running >= window:
                    break
                if not governor.can_start(prefix):
                    continue
                q = waiting.pop(prefix)
                item = q.popleft()
                if q:
                    waiting[prefix] = q  # to the back: one item per prefix per turn
                queued -= 1
                running += 1
                active += 1
                progressed = True
                task = asyncio.create_task(one(item, governor.start(prefix)))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        changed.set()

    async def until(done: Callable[[], bool]) -> None:
        while not done():
            changed.clear()
            await changed.wait()

    async def produce() -> None:
        nonlocal queued
        try:
            async for item in items:
                await until(lambda: queued < backlog)
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


_END = object()

__all__ = ["run_governed"]
