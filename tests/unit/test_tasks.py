"""The one bounded-window scheduler (``transfer/_tasks.run_bounded``)."""
from __future__ import annotations

import asyncio

import pytest

from s3fast.transfer._tasks import run_bounded


@pytest.mark.parametrize("kind", ["list", "async"])
def test_window_bounds_tasks_alive_and_every_item_runs(kind: str) -> None:
    async def go() -> tuple[list[int], int]:
        alive = peak = 0
        ran: list[int] = []

        async def fn(i: int) -> None:
            nonlocal alive, peak
            alive += 1
            peak = max(peak, alive)
            for _ in range(3):
                await asyncio.sleep(0)  # yield: let the scheduler try to start more
            ran.append(i)
            alive -= 1

        async def agen():  # type: ignore[no-untyped-def]
            for i in range(20):
                yield i

        await run_bounded(range(20) if kind == "list" else agen(), fn, lambda: 3)
        return ran, peak

    ran, peak = asyncio.run(go())
    assert sorted(ran) == list(range(20)) and peak == 3


@pytest.mark.parametrize("kind", ["list", "async"])
def test_first_failure_stops_the_rest_and_unstarted_items_are_discarded(kind: str) -> None:
    async def go() -> tuple[list[int], list[int], list[int], list[int]]:
        started: list[int] = []
        cancelled: list[int] = []
        discarded: list[int] = []
        taken: list[int] = []
        failed = asyncio.Event()

        async def fn(i: int) -> None:
            started.append(i)
            if i == 1:
                failed.set()
                raise ValueError("part 1 failed")
            try:
                await asyncio.Event().wait()  # only cancellation ends it
            except asyncio.CancelledError:
                cancelled.append(i)
                raise

        def items():  # type: ignore[no-untyped-def]
            for i in range(10):
                taken.append(i)
                yield i

        async def aitems():  # type: ignore[no-untyped-def]
            for i in items():
                yield i

        with pytest.raises(ValueError, match="part 1 failed"):
            await run_bounded(items() if kind == "list" else aitems(), fn, lambda: 2, discard=discarded.append)
        assert failed.is_set()
        return started, cancelled, discarded, taken

    started, cancelled, discarded, taken = asyncio.run(go())
    assert started == [0, 1] and cancelled == [0]
    assert taken == [0, 1, 2] and discarded == [2]  # taken while the window was full, never started
