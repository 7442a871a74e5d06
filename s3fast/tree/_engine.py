"""The work engine: items from a streamed lister, one task per item, results as they finish.

    lister (async iterator) --> [window slots] --> work(item) tasks --> results, in finishing order

A slot is taken before an item is pulled from the lister and given back only when its result
has been consumed, so what the engine holds (items pulled, tasks alive, results unread) never
exceeds ``window`` whatever the number of keys, and the first item starts while the lister is
still on its first page. ``work`` turns its own failures into results (one object's error
never stops the others); an error of the lister itself (no such bucket, access denied) ends
the run and is raised to the consumer once the items already started have been reported.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

_END = object()


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


async def run(items: AsyncIterator[T], work: Callable[[T], Awaitable[R]], *, window: int) -> AsyncIterator[R]:
    """Yield ``work(item)`` for every item, in the order they finish, at most ``window`` at once."""
    slots = asyncio.Semaphore(max(1, window))
    results: asyncio.Queue[object] = asyncio.Queue()
    tasks: set[asyncio.Task[None]] = set()

    async def one(item: T) -> None:
        try:
            results.put_nowait(await work(item))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, not lost
            results.put_nowait(_Raised(exc))

    async def produce() -> None:
        try:
            async for item in items:
                await slots.acquire()
                task = asyncio.create_task(one(item))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*list(tasks))
            results.put_nowait(_END)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - the lister failed: report after the started ones
            if tasks:
                await asyncio.gather(*list(tasks), return_exceptions=True)
            results.put_nowait(_Raised(exc))
            results.put_nowait(_END)

    producer = asyncio.create_task(produce())
    failure: BaseException | None = None
    try:
        while True:
            msg = await results.get()
            if msg is _END:
                break
            if isinstance(msg, _Raised):
                # A bug in ``work`` (it reports object errors itself) or the lister's error.
                failure = failure or msg.exc
                slots.release()
                continue
            yield msg  # type: ignore[misc]
            slots.release()
        if failure is not None:
            raise failure
    finally:
        producer.cancel()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(producer, *list(tasks), return_exceptions=True)


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


__all__ = ["batched", "run"]
