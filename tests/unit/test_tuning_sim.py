"""The simulation helpers other tests and the benchmarks rely on."""
from __future__ import annotations

import asyncio

import pytest

from s3fast.tuning import Controller, Goal, SimulatedLink, TunerConfig, VirtualTimeLoop, run_virtual
from s3fast.tuning import simulate_controller

#: The pure model's start (ceil(target / per-connection)), without the default cap of 8 at start.
MODEL = TunerConfig(max_initial_concurrency=None)

GBPS = 1e9 / 8


def test_virtual_loop_jumps_to_the_next_timer_in_order() -> None:
    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeLoop)
        events: list[tuple[str, float]] = []

        async def after(name: str, delay: float) -> None:
            await asyncio.sleep(delay)
            events.append((name, loop.time()))

        await asyncio.gather(after("hour", 3600), after("second", 1), after("minute", 60))
        return events

    assert run_virtual(main(), start=5.0) == [("second", 6.0), ("minute", 65.0), ("hour", 3605.0)]


def test_virtual_loop_timeouts_work() -> None:
    async def main() -> float:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.Event().wait(), timeout=30)
        return asyncio.get_running_loop().time()

    assert run_virtual(main()) == pytest.approx(30.0)


def test_virtual_loop_reports_a_deadlock_instead_of_hanging() -> None:
    async def main() -> None:
        await asyncio.Event().wait()  # nobody will ever set it, and no timer is pending

    with pytest.raises(RuntimeError, match="deadlocked"):
        run_virtual(main())


def test_run_virtual_cancels_leftover_tasks() -> None:
    cancelled = []

    async def forever() -> None:
        try:
            await asyncio.sleep(10**6)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main() -> None:
        asyncio.create_task(forever())
        await asyncio.sleep(1)

    run_virtual(main())
    assert cancelled == [True]


def test_simulated_link_model() -> None:
    link = SimulatedLink.from_gbps(1, 6, throttle_above=8, timeout_above=10)
    assert link.saturation_concurrency == pytest.approx(6)
    assert link.rate_bps(3) == pytest.approx(3 * GBPS)
    assert link.rate_bps(20) == pytest.approx(6 * GBPS)
    assert link.rate_bps(0) == 0.0
    s = link.sample(12, 1.0, 1.5)
    assert (s.t0, s.t1, s.in_flight, s.throttled, s.timeouts) == (1.0, 1.5, 12.0, 4, 2)
    assert s.bytes == int(6 * GBPS * 0.5)
    overloaded = SimulatedLink.from_gbps(1, 6, overload_per_request=0.1)
    assert overloaded.rate_bps(8) == pytest.approx(6 * GBPS * 0.8)


def test_simulated_noise_is_seeded() -> None:
    a = SimulatedLink.from_gbps(1, 6, noise=0.2, seed=1)
    b = SimulatedLink.from_gbps(1, 6, noise=0.2, seed=1)
    xs = [a.sample(4, 0, 1).bytes for _ in range(5)]
    assert xs == [b.sample(4, 0, 1).bytes for _ in range(5)]
    assert len(set(xs)) == 5


def test_simulate_controller_applies_events() -> None:
    link = SimulatedLink.from_gbps(0.5, 100)
    ctl = Controller(MODEL, goal=Goal(target_gbps=10))
    history = simulate_controller(ctl, link, 60, events={20: {"throttle_above": 5}})
    assert history[19].concurrency > 5
    assert history[20].reason == "throttled"
    assert history[-1].t == pytest.approx(15.0)
    with pytest.raises(AttributeError):
        simulate_controller(ctl, link, 1, events={0: {"no_such_field": 1}})
