"""The one bounded-window scheduler: one coroutine per item, a bounded number alive at
once, failing fast. Ranges of a download, parts of an upload (from a list or read from a
stream as they come) and a COMPOSITE check's part HEADs all run through it; only the
ordered window (``_ordered``), which must hand results on in order, keeps its own."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

T = TypeVar("T")

_NOTHING = object()


async def run_bounded(
    items: Iterable[T] | AsyncIterable[T], fn: Callable[[T], Coroutine[Any, Any, None]], window: Callable[[], int],
    *, discard: Callable[[T], None] | None = None,
) -> None:
    """Start ``fn(item)`` for each item while fewer than ``window()`` are alive; on the first
    failure (or on cancellation) cancel the rest, wait for them, and raise that first error.

    The window only bounds how many tasks exist (cheap bookkeeping); how many *requests* are in
    flight is the transport's limiter, which every request passes through. ``window`` is read
    again each time, so it follows the tuner. Items are taken from ``items`` only when the
    previous one has started (an async iterable that reads a stream reads ahead by one);
    ``discard(item)`` is called for an item taken but never started (its buffer, say).
    """
    tasks: set[asyncio.Task[None]] = set()
    failure: list[BaseException] = []
    wake = asyncio.Event()
    held: object = _NOTHING  # an item taken from ``items`` and not started yet

    def done(task: asyncio.Task[None]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            exc = task.exception()
            if exc is not None and not failure:
                failure.append(exc)
        wake.set()

    async def admit() -> bool:
        while len(tasks) >= max(1, window()) and not failure:
            wake.clear()
            await wake.wait()
        return not failure

    def start(item: T) -> None:
        task = asyncio.create_task(fn(item))
        tasks.add(task)
        task.add_done_callback(done)

    try:
        if isinstance(items, AsyncIterable):
            async for item in items:
                held = item
                if len(tasks) >= max(1, window()) and not await admit() or failure:
                    break
                held = _NOTHING
                start(item)
        else:
            for item in items:
                held = item
                if len(tasks) >= max(1, window()) and not await admit() or failure:
                    break
                held = _NOTHING
                start(item)
        while tasks and not failure:
            wake.clear()
            await wake.wait()
    finally:
        if held is not _NOTHING and discard is not None:
            discard(held)  # type: ignore[arg-type]
        if tasks:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    if failure:
        raise failure[0]
