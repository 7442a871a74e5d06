"""The compiled scheduling core against its pure twin, in one process, in both passes.

``s3fast/_py/_sched.py`` is the source of both (compiled with ``s3fast/_native/_sched.pxd``),
so what can differ is what the typing changes: C integers and doubles where Python has
ints and floats, C-level calls where Python dispatches. A seeded random sequence of
operations drives a pure and a compiled object side by side and compares every observable
after every step, including the exceptions raised.
"""
from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from s3fast._impl import NATIVE, sched_impl
from support.twins import both

SEEDS = range(40)
STEPS = 400


def _outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return ("ok", fn())
    except Exception as exc:  # the same error, with the same message, in both
        return (type(exc).__name__, str(exc))


class _SlotsDriver:
    """One SlotCore with its waiters (futures on a loop that never runs: only their state
    matters) and the on_change calls it made."""

    def __init__(self, mod: ModuleType, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        self.changes: list[int] = []
        self.core = mod.SlotCore(limit, self.changes.append)
        self.loop = loop
        self.futs: list[asyncio.Future[None]] = []

    def state(self) -> tuple[Any, ...]:
        c = self.core
        futs = tuple("cancelled" if f.cancelled() else "granted" if f.done() else "waiting" for f in self.futs)
        return (c.limit, c.in_flight, c.waiting, c.locked(), tuple(self.changes), futs)

    def step(self, op: str, arg: int) -> tuple[str, Any]:
        c = self.core
        if op == "try_acquire":
            return _outcome(c.try_acquire)
        if op == "release":
            return _outcome(c.release)
        if op == "set_limit":  # small limits to make waiters, and ones no small C type holds
            return _outcome(lambda: c.set_limit((0, 1, 2, 3, 300, 2**40)[arg]))
        if op == "enqueue":
            fut: asyncio.Future[None] = self.loop.create_future()
            self.futs.append(fut)
            return _outcome(lambda: c.enqueue(fut))
        if not self.futs:
            return ("ok", None)
        fut = self.futs[arg % len(self.futs)]
        if op == "cancel":
            return ("ok", fut.cancel())
        # abandon: what a cancelled acquire does, for a waiter granted or not
        self.futs.remove(fut)
        return _outcome(lambda: c.abandon(fut))


@pytest.mark.parametrize("seed", SEEDS)
def test_slots_twins_agree(seed: int) -> None:
    pure, native = both("_sched")
    rng = random.Random(seed)
    loop = asyncio.new_event_loop()
    try:
        limit = rng.randrange(0, 4)
        a, b = _SlotsDriver(pure, loop, limit), _SlotsDriver(native, loop, limit)
        ops = ["try_acquire"] * 4 + ["release"] * 4 + ["set_limit", "enqueue", "enqueue", "cancel", "abandon"]
        for i in range(STEPS):
            op, arg = rng.choice(ops), rng.randrange(0, 6)
            assert a.step(op, arg) == b.step(op, arg), (seed, i, op, arg)
            assert a.state() == b.state(), (seed, i, op, arg)
    finally:
        loop.close()


@pytest.mark.parametrize("limit", [-1, -(2**40)])
def test_slots_refuse_a_negative_limit_alike(limit: int) -> None:
    pure, native = both("_sched")
    for mod in (pure, native):
        with pytest.raises(ValueError, match="limit must be >= 0"):
            mod.SlotCore(limit)
        core = mod.SlotCore(1)
        with pytest.raises(ValueError, match="limit must be >= 0"):
            core.set_limit(limit)
        assert core.limit == 1


class _Clock:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.now = 1000.0 + rng.random()

    def __call__(self) -> float:
        return self.now

    def advance(self) -> None:
        self.now += self.rng.choice([0.0, 1e-6, 0.000123, 0.25, self.rng.random()])


METER_FIELDS = ("_t0", "_bytes", "_requests", "_latency_sum", "_latency_n", "_ttfb_sum", "_ttfb_n",
                "_throttled", "_timeouts", "_errors", "_in_flight", "_in_flight_area", "_in_flight_since", "_peak")


@pytest.mark.parametrize("seed", SEEDS)
def test_meter_twins_agree(seed: int) -> None:
    pure, native = both("_sched")
    rng = random.Random(seed)
    clock = _Clock(rng)
    a, b = pure.MeterCore(clock), native.MeterCore(clock)
    for i in range(STEPS):
        op = rng.choice(["add_bytes", "request_done", "request_done_ttfb", "throttled", "timeout", "error",
                         "set_in_flight", "set_in_flight", "reset", "area", "tick", "tick"])
        if op == "tick":
            clock.advance()
            continue
        arg_i = rng.choice([0, 1, 65536, 8 << 20, 2**40])
        arg_f = rng.choice([0.0, 1e-9, 0.0123456789, rng.random() * 30])
        n = rng.randrange(0, 40)
        results = []
        for m in (a, b):
            calls: dict[str, Callable[[], Any]] = {
                "add_bytes": lambda: m.add_bytes(arg_i),
                "request_done": lambda: m.request_done(arg_f),
                "request_done_ttfb": lambda: m.request_done(arg_f, arg_f / 3),
                "throttled": m.throttled,
                "timeout": m.timeout,
                "error": m.error,
                "set_in_flight": lambda: m.set_in_flight(n),
                "reset": lambda: m._reset_window(clock()),
                "area": lambda: m._area_until(clock()),
            }
            results.append(_outcome(calls[op]))
        assert results[0] == results[1], (seed, i, op)
        for f in METER_FIELDS:
            va, vb = getattr(a, f), getattr(b, f)
            assert (va, type(va)) == (vb, type(vb)), (seed, i, op, f)


def test_the_run_uses_the_core_its_mode_names() -> None:
    """The native pass really schedules through the compiled core (and the pure pass through
    the twin), all the way up to the limiter and meter the engine uses."""
    from s3fast.tuning import ConcurrencyLimiter, ThroughputMeter

    expected = "s3fast._native._sched" if NATIVE else "s3fast._py._sched"
    assert sched_impl.__name__ == expected
    assert ConcurrencyLimiter.__mro__[1] is sched_impl.SlotCore
    assert ThroughputMeter.__mro__[1] is sched_impl.MeterCore
