"""Run one coroutine per item with a bounded number alive at once, failing fast."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


async def run_bounded(
    items: Iterable[T], fn: Callable[[T], Awaitable[None]], window: Callable[[], int]
) -> None:
    """Start ``fn(item)`` for each item while fewer than ``window()`` are alive; on the first
    failure (or on cancellation) cancel the rest, wait for them, and raise that first error.

    The window only bounds how many tasks exist (cheap bookkeeping); how many *requests* are in
    flight is the transport's limiter, which every request passes through. ``window`` is read
    again each time, so it follows the tuner.
    """
    tasks: set[asyncio.Task[None]] = set()
    failure: list[BaseException] = []
    wake = asyncio.Event()

    def done(task: asyncio.Task[None]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and not failure:
            failure.append(task.exception())  # type: ignore[arg-type]
        wake.set()

    try:
        for item in items:
            while len(tasks) >= max(1, window()) and not failure:
                wake.clear()
                await wake.wait()
            if failure:
                break
            task = asyncio.create_task(fn(item))
            tasks.add(task)
            task.add_done_callback(done)
        while tasks and not failure:
            wake.clear()
            await wake.wait()
    finally:
        if tasks:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    if failure:
        raise failure[0]
