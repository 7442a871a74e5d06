"""ConcurrencyLimiter (resizable semaphore) and TokenBucket (max_gbps pacing), in virtual time."""
from __future__ import annotations

import asyncio
import random

import pytest

from s3fast.tuning import ConcurrencyLimiter, TokenBucket, run_virtual


async def quiesce() -> None:
    """Return once every other task is blocked.

    On the virtual-time loop a timer fires only when no callback is ready to run, so this is a
    deterministic "run everything else to its next wait", not a timing guess.
    """
    await asyncio.sleep(1e-6)


class FakeTime:
    """A clock plus a sleep that just moves the clock: one consumer, exact accounting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay


# -- ConcurrencyLimiter ---------------------------------------------------------------------------


def test_limiter_admits_up_to_the_limit_then_queues_fifo() -> None:
    async def main() -> None:
        lim = ConcurrencyLimiter(2)
        order: list[int] = []
        release = asyncio.Event()

        async def worker(i: int) -> None:
            async with lim:
                order.append(i)
                await release.wait()

        tasks = [asyncio.create_task(worker(i)) for i in range(5)]
        await quiesce()
        assert (lim.in_flight, lim.waiting) == (2, 3)
        assert order == [0, 1]
        assert lim.locked()
        release.set()
        await asyncio.gather(*tasks)
        assert order == [0, 1, 2, 3, 4]
        assert (lim.in_flight, lim.waiting) == (0, 0)

    run_virtual(main())


def test_limiter_grow_wakes_waiters_at_once() -> None:
    async def main() -> None:
        lim = ConcurrencyLimiter(1)
        started = [asyncio.Event() for _ in range(4)]
        done = asyncio.Event()

        async def worker(i: int) -> None:
            async with lim:
                started[i].set()
                await done.wait()

        tasks = [asyncio.create_task(worker(i)) for i in range(4)]
        await started[0].wait()
        assert lim.waiting == 3
        lim.set_limit(3)
        # Granted synchronously by set_limit: no slot can be stolen before the waiters run.
        assert (lim.in_flight, lim.waiting) == (3, 1)
        await started[1].wait()
        await started[2].wait()
        assert not started[3].is_set()
        done.set()
        await asyncio.gather(*tasks)

    run_virtual(main())


def test_limiter_shrink_never_cancels_running_work() -> None:
    async def main() -> None:
        seen: list[int] = []
        lim = ConcurrencyLimiter(4, on_change=seen.append)
        gates = [asyncio.Event() for _ in range(6)]
        running: set[int] = set()
        peak_after_shrink = 0

        async def worker(i: int) -> None:
            nonlocal peak_after_shrink
            async with lim:
                running.add(i)
                if lim.limit == 2:
                    peak_after_shrink = max(peak_after_shrink, len(running))
                await gates[i].wait()
                running.discard(i)

        tasks = [asyncio.create_task(worker(i)) for i in range(6)]
        await quiesce()
        assert running == {0, 1, 2, 3}
        lim.set_limit(2)
        assert lim.in_flight == 4 and lim.limit == 2  # over the limit until work finishes
        assert all(not t.done() for t in tasks)
        # Two releases only bring in_flight down to the new limit: nobody new is admitted.
        gates[0].set()
        gates[1].set()
        await quiesce()
        assert running == {2, 3} and lim.in_flight == 2 and lim.waiting == 2
        gates[2].set()
        await quiesce()
        assert running == {3, 4}  # one release, one admission
        for g in gates:
            g.set()
        await asyncio.gather(*tasks)
        assert peak_after_shrink <= 2
        assert seen[-1] == 0 and max(seen) == 4  # on_change followed every change

    run_virtual(main())


def test_limiter_zero_pauses_admission() -> None:
    async def main() -> None:
        lim = ConcurrencyLimiter(0)
        entered = asyncio.Event()

        async def worker() -> None:
            async with lim:
                entered.set()

        task = asyncio.create_task(worker())
        await asyncio.sleep(10)  # ten virtual seconds: no admission however long we wait
        assert not entered.is_set() and lim.waiting == 1
        lim.set_limit(1)
        await task
        assert entered.is_set()

    run_virtual(main())


def test_limiter_cancelled_waiter_leaves_no_trace() -> None:
    async def main() -> None:
        lim = ConcurrencyLimiter(1)
        await lim.acquire()
        waiter = asyncio.create_task(lim.acquire())
        await quiesce()
        assert lim.waiting == 1
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert lim.waiting == 0
        lim.release()
        assert lim.in_flight == 0

    run_virtual(main())


def test_limiter_slot_granted_then_cancelled_is_passed_on() -> None:
    async def main() -> None:
        lim = ConcurrencyLimiter(1)
        await lim.acquire()
        first = asyncio.create_task(lim.acquire())
        second = asyncio.create_task(lim.acquire())
        await quiesce()
        lim.release()  # hands the slot to `first`...
        first.cancel()  # ...which is cancelled before it resumes
        with pytest.raises(asyncio.CancelledError):
            await first
        await second  # the slot went on to the next waiter instead of leaking
        assert lim.in_flight == 1 and lim.waiting == 0
        lim.release()
        assert lim.in_flight == 0

    run_virtual(main())


def test_limiter_rejects_bad_use_and_shows_state() -> None:
    lim = ConcurrencyLimiter(3)
    with pytest.raises(RuntimeError):
        lim.release()
    with pytest.raises(ValueError):
        lim.set_limit(-1)
    with pytest.raises(ValueError):
        ConcurrencyLimiter(-1)
    assert repr(lim) == "<ConcurrencyLimiter [limit=3 in_flight=0 waiting=0]>"


# -- TokenBucket ----------------------------------------------------------------------------------


def test_bucket_never_allows_more_than_rate_times_time_plus_burst() -> None:
    rate, burst = 1_000_000.0, 64_000.0
    ft = FakeTime()
    bucket = TokenBucket(rate, burst, clock=ft.clock, sleep=ft.sleep)
    rng = random.Random(7)

    async def main() -> None:
        total = 0
        while ft.now < 30.0:  # 30 simulated seconds
            n = rng.choice([1, 1500, 16_384, 65_536, 300_000])  # some chunks exceed the burst
            await bucket.consume(n)
            total += n
            assert total <= rate * ft.now + burst + 1e-6
        # ...and it does not under-deliver either: within one chunk of the allowance.
        assert total >= rate * ft.now - 300_000

    run_virtual(main())
    assert ft.sleeps and all(d > 0 for d in ft.sleeps)


def test_bucket_paces_concurrent_consumers_in_virtual_time() -> None:
    rate, burst = 10_000_000.0, 1_000_000.0

    async def main() -> None:
        loop = asyncio.get_running_loop()
        bucket = TokenBucket(rate, burst, clock=loop.time)  # real asyncio.sleep, virtual clock
        start = loop.time()
        allowed: list[tuple[float, int]] = []

        async def consumer(chunk: int) -> None:
            for _ in range(200):
                await bucket.consume(chunk)
                allowed.append((loop.time(), chunk))

        await asyncio.gather(*(consumer(c) for c in (65_536, 262_144, 1_048_576, 4_000_000)))
        total = 0
        for t, n in sorted(allowed):
            total += n
            assert total <= rate * (t - start) + burst + 1.0
        elapsed = loop.time() - start
        assert total == 200 * (65_536 + 262_144 + 1_048_576 + 4_000_000)
        assert elapsed == pytest.approx((total - burst) / rate, rel=0.01)

    run_virtual(main())


def test_bucket_non_blocking_forms() -> None:
    ft = FakeTime()
    bucket = TokenBucket(1000.0, 500.0, clock=ft.clock, sleep=ft.sleep)
    assert bucket.delay_for(500) == 0.0
    assert bucket.try_consume(400)
    assert not bucket.try_consume(200)  # only 100 left
    assert bucket.delay_for(200) == pytest.approx(0.1)
    assert bucket.tokens == pytest.approx(100)  # delay_for took nothing
    ft.now += 0.1
    assert bucket.try_consume(200)
    assert not bucket.try_consume(501)  # more than the burst can never be taken without waiting
    ft.now += 100.0
    assert bucket.tokens == 500.0  # refills up to the burst, no further


def test_bucket_refunds_a_cancelled_wait() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        bucket = TokenBucket(100.0, 100.0, clock=loop.time)
        await bucket.consume(100)
        waiter = asyncio.create_task(bucket.consume(1000))  # would wait 10 s
        await asyncio.sleep(1.0)  # virtual: the waiter is 1 s into its 10 s wait
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert bucket.tokens == pytest.approx(100.0)  # the 1000 bytes were given back
        assert bucket.delay_for(100) == 0.0

    run_virtual(main())


def test_bucket_rate_change_and_validation() -> None:
    ft = FakeTime()
    bucket = TokenBucket(1000.0, 0.0, clock=ft.clock, sleep=ft.sleep)
    assert bucket.delay_for(1000) == pytest.approx(1.0)
    bucket.set_rate(4000.0)
    assert bucket.delay_for(1000) == pytest.approx(0.25)
    assert bucket.rate == 4000.0
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError):
            TokenBucket(bad, 10.0)
    with pytest.raises(ValueError):
        TokenBucket(10.0, -1.0)
    assert "rate=4000B/s" in repr(bucket)
