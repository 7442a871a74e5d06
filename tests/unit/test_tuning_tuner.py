"""The Tuner loop: meter -> controller -> limiter, on fake or virtual time (never real time)."""
from __future__ import annotations

import asyncio
import logging

import pytest

from s3fast.tuning import (
    Goal,
    SimulatedLink,
    Tuner,
    TunerConfig,
    TunerSnapshot,
    run_virtual,
)

#: The pure model's start (ceil(target / per-connection)), without the default cap of 8 at start.
MODEL = TunerConfig(max_initial_concurrency=None)

GBPS = 1e9 / 8
MiB = 1 << 20


class LinkDriver:
    """Fake clock + fake sleep: while the tuner "sleeps", the engine moves bytes over a simulated
    link with as many requests as the limiter allows (holding real limiter slots, so in-flight
    accounting goes through the limiter -> meter wiring). Stops the tuner after ``windows``
    ticks."""

    def __init__(self, link: SimulatedLink, windows: int) -> None:
        self.link = link
        self.now = 0.0
        self.windows = windows
        self.tuner: Tuner | None = None

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        tuner = self.tuner
        assert tuner is not None
        if self.windows <= 0:
            tuner.stop()
            return
        self.windows -= 1
        lim = tuner.limiter
        while lim.in_flight < lim.limit:
            await lim.acquire()  # never blocks: a free slot exists
        while lim.in_flight > lim.limit:
            lim.release()
        tuner.meter.add_bytes(int(self.link.rate_bps(lim.in_flight) * delay))
        self.now += delay


def test_tuner_loop_converges_and_records_history_and_snapshots() -> None:
    link = SimulatedLink.from_gbps(1, 6)  # full at 6 requests
    driver = LinkDriver(link, windows=200)
    snapshots: list[TunerSnapshot] = []
    tuner = Tuner(
        TunerConfig(max_initial_concurrency=None, initial_per_connection_gbps=10), goal=Goal(target_gbps=40),
        memory_cap_concurrency=64,
        clock=driver.clock,
        sleep=driver.sleep,
        on_update=snapshots.append,
    )
    driver.tuner = tuner
    assert tuner.limiter.limit == 4 == tuner.controller.concurrency
    assert tuner.bucket is None

    run_virtual(tuner.run())

    history = tuner.history
    assert len(history) == len(snapshots) == 200
    assert history[0].t == pytest.approx(0.25) and history[-1].t == pytest.approx(50.0)
    t, rate, concurrency, reason = history[-1]  # plain tuples for plotting
    assert 6 <= concurrency <= 8 and max(p.concurrency for p in history) <= 9
    assert rate == pytest.approx(6 * GBPS, rel=0.05)
    assert tuner.limiter.limit == tuner.controller.concurrency == concurrency
    last = snapshots[-1]
    assert last == tuner.snapshot()
    assert (last.concurrency, last.history_len, last.target_gbps) == (concurrency, 200, 40)
    assert last.gbps == pytest.approx(6.0, rel=0.05)
    assert last.in_flight == tuner.limiter.in_flight
    assert last.total_bytes == tuner.meter.total_bytes > 0
    assert not tuner.running


def test_tuner_with_real_workers_in_virtual_time() -> None:
    """Workers hold limiter slots and move bytes at their share of a simulated link; the tuner
    runs beside them on the loop's (virtual) clock with the real asyncio.sleep."""
    per_request_bps, link_bps = 100e6, 600e6  # knee at 6 requests
    part, chunk = 32 * MiB, 4 * MiB
    seconds = 60.0

    async def main() -> Tuner:
        loop = asyncio.get_running_loop()
        tuner = Tuner(
            TunerConfig(max_initial_concurrency=None, initial_per_connection_gbps=10, concurrency_ceiling=64), goal=Goal(target_gbps=40),
            clock=loop.time,
        )
        stop = asyncio.Event()

        async def worker() -> None:
            while not stop.is_set():
                async with tuner.limiter:
                    started = loop.time()
                    remaining = part
                    while remaining and not stop.is_set():
                        share = min(per_request_bps, link_bps / tuner.limiter.in_flight)
                        n = min(chunk, remaining)
                        await asyncio.sleep(n / share)
                        tuner.meter.add_bytes(n)
                        remaining -= n
                    tuner.meter.request_done(loop.time() - started)

        workers = [asyncio.create_task(worker()) for _ in range(64)]
        tuning = asyncio.create_task(tuner.run())
        await asyncio.sleep(seconds)
        tuner.stop()
        stop.set()
        await tuning
        await asyncio.gather(*workers)
        return tuner

    tuner = run_virtual(main())
    history = tuner.history
    assert len(history) == pytest.approx(seconds / 0.25, abs=2)
    assert 6 <= history[-1].concurrency <= 9
    assert max(p.concurrency for p in history) <= 12
    # Goodput over the second half is the link's, with few requests.
    late = [p.rate_bps for p in history[len(history) // 2 :]]
    assert sum(late) / len(late) == pytest.approx(link_bps, rel=0.1)
    assert tuner.limiter.in_flight == 0


def test_max_gbps_is_honoured_byte_exactly_by_pace() -> None:
    cap_gbps = 2.0
    seconds = 20.0

    async def main() -> tuple[Tuner, float, int]:
        loop = asyncio.get_running_loop()
        tuner = Tuner(MODEL, goal=Goal(target_gbps=10, max_gbps=cap_gbps), clock=loop.time)
        bucket = tuner.bucket
        assert bucket is not None
        start = loop.time()
        stop = asyncio.Event()
        moved = 0
        worst_excess = float("-inf")

        async def worker() -> None:
            nonlocal moved, worst_excess
            while not stop.is_set():
                async with tuner.limiter:
                    n = 1 * MiB
                    await asyncio.sleep(n / 1e9)  # the link alone would give ~1 GB/s/request
                    await tuner.pace(n)
                    tuner.meter.add_bytes(n)
                    moved += n
                    allowed = bucket.rate * (loop.time() - start) + bucket.burst
                    worst_excess = max(worst_excess, moved - allowed)

        workers = [asyncio.create_task(worker()) for _ in range(32)]
        tuning = asyncio.create_task(tuner.run())
        await asyncio.sleep(seconds)
        tuner.stop()
        stop.set()
        await tuning
        await asyncio.gather(*workers)
        return tuner, worst_excess, moved

    tuner, worst_excess, moved = run_virtual(main())
    assert worst_excess <= 1.0  # never ahead of rate x t + burst
    assert moved == pytest.approx(cap_gbps * GBPS * seconds, rel=0.02)  # and not far behind
    assert tuner.controller.reason == "rate-cap"
    assert max(p.concurrency for p in tuner.history) == 5  # ceil(2 / 0.4): never grew past it


def test_stop_ends_run_without_waiting_out_the_window() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        tuner = Tuner(TunerConfig(max_initial_concurrency=None, window_seconds=10.0), clock=loop.time)
        task = asyncio.create_task(tuner.run())
        await asyncio.sleep(1.0)
        assert tuner.running
        tuner.stop()
        await task
        assert loop.time() == pytest.approx(1.0)  # not 10
        assert tuner.history == [] and not tuner.running
        tuner.stop()  # idempotent
        await tuner.run()  # already stopped: returns at once
        assert loop.time() == pytest.approx(1.0)

    run_virtual(main())


def test_run_is_single_and_cancellable() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        tuner = Tuner(clock=loop.time)
        task = asyncio.create_task(tuner.run())
        await asyncio.sleep(1.1)
        with pytest.raises(RuntimeError):
            await tuner.run()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not tuner.running
        assert len(tuner.history) == 4  # 0.25, 0.5, 0.75, 1.0

    run_virtual(main())


def test_failing_on_update_is_logged_and_tuning_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    calls = 0

    def broken(snapshot: TunerSnapshot) -> None:
        nonlocal calls
        calls += 1
        raise ValueError("display crashed")

    driver = LinkDriver(SimulatedLink.from_gbps(1, 6), windows=5)
    tuner = Tuner(clock=driver.clock, sleep=driver.sleep, on_update=broken)
    driver.tuner = tuner
    with caplog.at_level(logging.ERROR, logger="s3fast.tuning._tuner"):
        run_virtual(tuner.run())
    assert calls == 5 and len(tuner.history) == 5
    assert sum("on_update" in r.getMessage() for r in caplog.records) == 5


def test_memory_cap_change_reaches_the_limiter() -> None:
    tuner = Tuner(MODEL, memory_cap_concurrency=100)
    assert tuner.limiter.limit == 25
    decision = tuner.set_memory_cap_concurrency(10)
    assert decision.concurrency == 10 == tuner.limiter.limit
    assert tuner.snapshot().reason == "memory-cap"


def test_snapshot_before_any_window_and_repr() -> None:
    clock = iter(range(100, 200)).__next__
    tuner = Tuner(MODEL, goal=Goal(max_gbps=1.0), clock=lambda: float(clock()))
    tuner.meter.set_in_flight_bytes(123)
    snap = tuner.snapshot()
    assert snap.rate_bps == 0.0 and snap.gbps == 0.0
    assert (snap.concurrency, snap.in_flight, snap.in_flight_bytes) == (3, 0, 123)
    assert (snap.target_gbps, snap.max_gbps, snap.reason, snap.history_len) == (
        10.0, 1.0, "initial", 0)
    assert tuner.bucket is not None and tuner.bucket.rate == pytest.approx(1.0 * GBPS)
    text = repr(tuner)
    assert "idle" in text and "concurrency=3" in text and "target=1Gbps" in text


def test_tick_applies_a_decision_immediately() -> None:
    now = [0.0]
    tuner = Tuner(MODEL, clock=lambda: now[0])
    tuner.meter.set_in_flight(25)
    tuner.meter.throttled()
    now[0] = 0.25
    decision = tuner.tick()
    assert (decision.concurrency, decision.reason) == (17, "throttled")
    assert tuner.limiter.limit == 17
    assert tuner.history[-1] == (0.25, 0.0, 17, "throttled")
