"""Run one coroutine per item, at most ``limiter`` at a time, failing fast."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from ..tuning import ConcurrencyLimiter

T = TypeVar("T")


async def run_bounded(
    items: Iterable[T], fn: Callable[[T], Awaitable[None]], limiter: ConcurrencyLimiter
) -> None:
    """Start ``fn(item)`` for each item once the limiter has a slot; on the first failure
    (or on cancellation) cancel the rest, wait for them, and raise that first error."""
    tasks: set[asyncio.Task[None]] = set()
    failure: list[BaseException] = []
    wake = asyncio.Event()

    def done(task: asyncio.Task[None]) -> None:
        limiter.release()
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and not failure:
            failure.append(task.exception())  # type: ignore[arg-type]
        wake.set()

    try:
        for item in items:
            if failure:
                break
            await limiter.acquire()
            if failure:
                limiter.release()
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
