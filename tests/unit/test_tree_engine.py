"""The tree work engine: streaming (work starts before the listing ends), a bounded number of
items held whatever the listing's length, failures of the lister raised, cancellation clean."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from s3fast.tree._engine import batched, run, settled_aside


def test_first_item_is_worked_on_before_the_listing_ends() -> None:
    async def go() -> list[int]:
        first_done = asyncio.Event()

        async def listing() -> AsyncIterator[int]:
            yield 0
            # The rest of the listing appears only once item 0 was transferred: an engine
            # that lists everything first would wait here forever.
            await first_done.wait()
            for i in range(1, 5):
                yield i

        async def work(i: int) -> int:
            if i == 0:
                first_done.set()
            return i

        async with asyncio.timeout(10):
            return [r async for r in run(listing(), work, window=8)]

    assert sorted(asyncio.run(go())) == [0, 1, 2, 3, 4]


def test_items_held_stay_within_the_window() -> None:
    window = 16
    pulled = 0
    consumed = 0
    peak = 0

    async def listing() -> AsyncIterator[int]:
        nonlocal pulled, peak
        for i in range(5000):
            pulled += 1
            peak = max(peak, pulled - consumed)
            yield i

    async def work(i: int) -> int:
        await asyncio.sleep(0)
        return i

    async def go() -> int:
        nonlocal consumed
        n = 0
        async for _ in run(listing(), work, window=window):
            consumed += 1
            n += 1
        return n

    assert asyncio.run(go()) == 5000
    assert peak <= window + 1


class _Held:
    """3,000 listed items, every 100th needing work; how many were listed and not yet
    consumed, at most (what an engine holds)."""

    def __init__(self) -> None:
        self.pulled = self.consumed = self.peak = 0

    async def listing(self) -> AsyncIterator[int]:
        for i in range(3000):
            self.pulled += 1
            self.peak = max(self.peak, self.pulled - self.consumed)
            yield i

    async def consume(self, stream: AsyncIterator[str]) -> list[str]:
        got: list[str] = []
        async with asyncio.timeout(30):
            async for r in stream:
                self.consumed += 1
                got.append(r)
        return got

    @staticmethod
    def expected() -> list[str]:
        return sorted([f"worked {i}" for i in range(0, 3000, 100)] + [f"settled {i}" for i in range(3000) if i % 100])


def test_settled_items_skip_the_work_and_stay_within_the_window() -> None:
    """Items the listing alone decides (an unchanged object in a sync) are answered without
    ``work``; the others still go through it; held results stay bounded by the window."""
    held, worked = _Held(), []

    async def work(i: int) -> str:
        worked.append(i)
        await asyncio.sleep(0)
        return f"worked {i}"

    def settled(i: int) -> str | None:
        return None if i % 100 == 0 else f"settled {i}"

    got = asyncio.run(held.consume(run(held.listing(), work, window=8, settled=settled)))
    assert sorted(worked) == list(range(0, 3000, 100))
    assert sorted(got) == held.expected()
    assert held.peak <= 8 + 1


def test_settled_aside_keeps_settled_items_from_the_other_runner() -> None:
    """With worker processes, what the listings decide is answered in the parent: the
    other runner (here a plain generator standing in for the workers) sees only the rest,
    and what is held stays bounded."""
    held, seen_by_rest = _Held(), []

    def settled(i: int) -> list[str] | None:
        return None if i % 100 == 0 else [f"settled {i}"]

    async def rest(items: AsyncIterator[int]) -> AsyncIterator[str]:
        async for i in items:
            seen_by_rest.append(i)
            await asyncio.sleep(0)
            yield f"worked {i}"

    got = asyncio.run(held.consume(settled_aside(held.listing(), settled, rest, bound=8)))
    assert seen_by_rest == list(range(0, 3000, 100))
    assert sorted(got) == held.expected()
    assert held.peak <= 2 * 8 + 2


def test_settled_aside_raises_the_runners_error_and_stops_it_when_left() -> None:
    stopped = asyncio.Event()

    async def listing() -> AsyncIterator[int]:
        for i in range(100):
            yield i

    async def failing(items: AsyncIterator[int]) -> AsyncIterator[str]:
        async for i in items:
            yield f"worked {i}"
            raise OSError("worker died")

    async def endless(items: AsyncIterator[int]) -> AsyncIterator[str]:
        try:
            async for i in items:
                yield f"worked {i}"
            await asyncio.Event().wait()
        finally:
            stopped.set()

    async def go() -> None:
        async with asyncio.timeout(30):
            got = []
            with pytest.raises(OSError, match="worker died"):
                async for r in settled_aside(listing(), lambda i: None, failing, bound=4):
                    got.append(r)
            assert got == ["worked 0"]
            stream = settled_aside(listing(), lambda i: None, endless, bound=4)
            assert await anext(stream) == "worked 0"
            await stream.aclose()  # the consumer leaves early: the runner is stopped
            assert stopped.is_set()

    asyncio.run(go())


def test_lister_error_is_raised_after_started_items() -> None:
    async def listing() -> AsyncIterator[int]:
        yield 1
        raise PermissionError("listing denied")

    async def work(i: int) -> int:
        return i

    async def go() -> list[int]:
        got: list[int] = []
        with pytest.raises(PermissionError):
            async for r in run(listing(), work, window=4):
                got.append(r)
        return got

    assert asyncio.run(go()) == [1]


def test_consumer_leaving_early_cancels_the_work() -> None:
    cancelled = 0

    async def listing() -> AsyncIterator[int]:
        for i in range(100):
            yield i

    async def work(i: int) -> int:
        nonlocal cancelled
        if i == 0:
            return i
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled += 1
            raise
        return i

    async def go() -> None:
        gen = run(listing(), work, window=4)
        async for _ in gen:
            break
        await gen.aclose()

    asyncio.run(go())
    assert cancelled >= 1


def test_batched() -> None:
    async def items() -> AsyncIterator[int]:
        for i in range(2501):
            yield i

    async def go() -> list[int]:
        return [len(b) async for b in batched(items(), 1000)]

    assert asyncio.run(go()) == [1000, 1000, 501]
