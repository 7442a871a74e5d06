"""MemoryBudget: the hard memory bound. Admission, waiters in order, cancellation, and an
end-to-end transfer whose budget high-water mark must stay under its limit."""
from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from e2e_helpers import MiB, SMALL, client_for, run

import s3fast
from s3fast.transfer._buffers import MemoryBudget


async def _settle() -> None:
    """Let every ready callback run (no timing involved: a few loop turns)."""
    for _ in range(5):
        await asyncio.sleep(0)


def test_try_acquire_admits_only_what_fits() -> None:
    budget = MemoryBudget(100)
    assert budget.try_acquire(60)
    assert not budget.try_acquire(41)  # 101 > 100
    assert budget.try_acquire(40)  # exactly the limit
    assert (budget.held, budget.peak) == (100, 100)
    budget.release(100)
    assert budget.held == 0 and budget.peak == 100


def test_larger_than_the_limit_is_refused_not_waited_for() -> None:
    async def go() -> None:
        budget = MemoryBudget(100)
        with pytest.raises(s3fast.ConfigError, match="does not fit in memory_limit=100"):
            await budget.acquire(101)
        assert budget.held == 0 and budget.waiting == 0
        await budget.acquire(100)  # the limit itself fits
        assert budget.held == 100

    run(go())


def test_waiters_are_admitted_only_when_they_fit_and_in_order() -> None:
    async def go() -> None:
        budget = MemoryBudget(100)
        await budget.acquire(80)
        order: list[str] = []

        async def take(name: str, n: int) -> None:
            await budget.acquire(n)
            order.append(name)
            assert budget.held <= budget.limit

        big = asyncio.ensure_future(take("big", 70))
        await _settle()
        small = asyncio.ensure_future(take("small", 10))
        await _settle()
        # 10 would fit now (80 + 10), but the big waiter came first: no overtaking, so a big
        # request is not starved by a stream of small ones.
        assert order == [] and budget.waiting == 2 and budget.held == 80
        assert not budget.try_acquire(10)  # nor by try_acquire jumping the queue
        budget.release(20)  # 60 held: big (70) still does not fit
        await _settle()
        assert order == [] and budget.held == 60
        budget.release(60)  # 0 held: big (70) then small (10) fit together
        await asyncio.gather(big, small)
        assert order == ["big", "small"] and budget.held == 80
        assert budget.peak == 80

    run(go())


def test_release_wakes_only_as_many_waiters_as_fit() -> None:
    async def go() -> None:
        budget = MemoryBudget(100)
        await budget.acquire(100)
        tasks = [asyncio.ensure_future(budget.acquire(40)) for _ in range(3)]
        await _settle()
        budget.release(100)
        await _settle()
        # 40 + 40 fit, the third 40 would make 120.
        assert sum(t.done() for t in tasks) == 2 and budget.held == 80 and budget.waiting == 1
        budget.release(40)
        await asyncio.gather(*tasks)
        assert budget.held == 80 and budget.peak == 100

    run(go())


def test_cancelled_waiter_leaves_the_queue_and_unblocks_the_next() -> None:
    async def go() -> None:
        budget = MemoryBudget(100)
        await budget.acquire(50)
        blocked = asyncio.ensure_future(budget.acquire(90))  # waits: 50 + 90 > 100
        await _settle()
        behind = asyncio.ensure_future(budget.acquire(30))  # fits, but queued behind it
        await _settle()
        assert budget.waiting == 2 and not behind.done()
        blocked.cancel()
        with pytest.raises(asyncio.CancelledError):
            await blocked
        await behind  # the head of the queue went away: the next one that fits gets in
        assert budget.held == 80 and budget.waiting == 0

    run(go())


def test_waiter_cancelled_after_being_granted_gives_the_bytes_back() -> None:
    async def go() -> None:
        budget = MemoryBudget(100)
        await budget.acquire(100)
        waiter = asyncio.ensure_future(budget.acquire(60))
        await _settle()
        budget.release(100)  # grants the waiter (held 60) before it gets to run...
        waiter.cancel()  # ...and it is cancelled before it does
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert budget.held == 0 and budget.waiting == 0

    run(go())


# -- end to end --------------------------------------------------------------------------------

def test_stream_upload_never_holds_more_than_the_memory_limit(moto_cluster: Any, bucket: str) -> None:
    """An upload from an async iterator reads parts ahead of the requests, each paid for in
    the budget; the source is far faster than moto, so only the budget stops it reading the
    whole object into memory. 12 parts of 5 MiB against a 16 MiB limit: at most 3 parts held,
    where the task window alone would allow them all."""
    data = os.urandom(12 * 5 * MiB)
    limit = 16 * MiB
    cfg = SMALL.replace(memory_limit=limit, max_concurrency=8)

    async def source() -> AsyncIterator[bytes]:
        for offset in range(0, len(data), MiB):
            yield data[offset:offset + MiB]

    async def go() -> tuple[int, int, int]:
        async with client_for(moto_cluster, cfg) as c:
            result = await c.upload(source(), f"s3://{bucket}/streamed")
            assert result.parts == 12
            back = bytearray()  # get_bytes refuses objects over memory_limit; a caller's buffer is not
            await c.download(f"s3://{bucket}/streamed", back)
            assert back == data
            return c.memory.peak, c.memory.held, c.memory.limit

    peak, held, budget_limit = run(go())
    assert budget_limit == limit
    # The bound was reached (so the test can fail), and never passed.
    assert 2 * 5 * MiB < peak <= limit
    assert held == 0  # every part's buffer was given back
