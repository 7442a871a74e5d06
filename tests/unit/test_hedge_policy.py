"""Hedging around slow IPs (``transfer/_hedge``): a request on a demoted IP is moved -- cancelled
and resumed elsewhere from where it stopped -- rather than raced; in the tail of a transfer a
probe leaves at once; and the loop that watches a request never spins.

The decisions are pure (``HedgePolicy``); ``run_hedged`` is driven with scripted requests
that wait on events, so nothing depends on timing except where a bound is stated."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from s3fast.transfer import _hedge
from s3fast.transfer._hedge import LOOK_AGAIN, MAX_MOVES, Attempt, HedgeConfig, HedgePolicy, run_hedged

SLOW, FAST = "10.0.0.1", "10.0.0.2"


def stats() -> Any:
    return SimpleNamespace(throttled=0, hedges=0, hedge_wins=0, moves=0)


def attempt_on(ip: str, since: float, *, probe: bool = False) -> Attempt:
    a = Attempt()
    a.ip, a.since, a.probe = ip, since, probe
    return a


# -- the tail ---------------------------------------------------------------------------------

def test_the_tail_starts_when_every_range_holds_a_connection() -> None:
    async def go() -> list[bool]:
        policy = HedgePolicy(HedgeConfig(), total_ranges=3)
        tail = policy.tail()
        seen = []
        for _ in range(3):
            seen.append(policy.in_tail() or tail.done())
            policy.range_connected()
        seen.append(policy.in_tail() and tail.done())
        seen.append(HedgePolicy(HedgeConfig(), 0).tail().done())  # nothing to start: already the tail
        return seen

    assert asyncio.run(go()) == [False, False, False, True, True]


def test_attempt_reports_its_first_connection_once() -> None:
    calls: list[int] = []

    async def go() -> None:
        a = Attempt(on_start=lambda: calls.append(1))
        a.on_ip(FAST)
        a.on_ip(SLOW)  # a retry on another connection: the range had started already
    asyncio.run(go())
    assert calls == [1]


# -- leaving a slow IP --------------------------------------------------------------------------

def test_a_probe_leaves_a_slow_ip_at_once_in_the_tail() -> None:
    """Mid-transfer a probe gets min_seconds to show the IP recovered; once no range waits
    for a slot, a range left on a slow IP can only be the last to finish."""
    policy = HedgePolicy(HedgeConfig(min_seconds=0.5), total_ranges=2, slow_ip=lambda ip: ip == SLOW)
    probe = attempt_on(SLOW, 100.0, probe=True)
    assert not policy.leave_slow_ip(probe, 100.1)
    policy.range_connected()
    policy.range_connected()
    assert policy.in_tail() and policy.leave_slow_ip(probe, 100.1)
    assert not policy.leave_slow_ip(attempt_on(FAST, 100.0), 100.1)  # a healthy IP stays


def test_next_look_is_when_something_can_be_decided() -> None:
    cfg = HedgeConfig(factor=3.0, min_seconds=0.5, min_samples=1)
    plain = HedgePolicy(cfg, total_ranges=100)
    assert plain.next_look(Attempt(), 10.0) == LOOK_AGAIN  # not running yet
    assert plain.next_look(attempt_on(FAST, 10.0), 10.0) == LOOK_AGAIN  # no threshold known yet
    plain.record(1.0)
    assert plain.next_look(attempt_on(FAST, 10.0), 11.0) == pytest.approx(2.0)  # threshold 3 s
    assert plain.next_look(attempt_on(FAST, 10.0), 14.0) == 0.0  # overdue: look now
    watching = HedgePolicy(cfg, total_ranges=100, slow_ip=lambda ip: ip == SLOW)
    watching.record(1.0)
    # its IP may be demoted any time: never longer than LOOK_AGAIN between looks
    assert watching.next_look(attempt_on(FAST, 10.0), 11.0) == LOOK_AGAIN
    # a probe is looked at exactly when it has run min_seconds
    assert watching.next_look(attempt_on(SLOW, 10.0, probe=True), 10.4) == pytest.approx(0.1)
    # ... and after that, on the ordinary period (no spin once it is past)
    assert watching.next_look(attempt_on(SLOW, 10.0, probe=True), 10.6) == LOOK_AGAIN


# -- run_hedged -------------------------------------------------------------------------------

class Script:
    """Requests that record what happened to them: each waits on its own event (set to end
    it); the first one's IP is demoted on demand."""

    def __init__(self) -> None:
        self.demoted: set[str] = set()
        self.log: list[str] = []
        self.release: dict[str, asyncio.Event] = {}
        self.running: dict[str, asyncio.Event] = {}

    def slow_ip(self, ip: str) -> bool:
        return ip in self.demoted

    async def request(self, name: str, ip: str, attempt: Attempt) -> str:
        self.release[name] = asyncio.Event()
        self.running.setdefault(name, asyncio.Event())
        attempt.on_ip(ip)
        self.log.append(f"{name} on {ip}")
        self.running[name].set()
        try:
            await self.release[name].wait()
        except asyncio.CancelledError:
            self.log.append(f"{name} cancelled")
            raise
        return name

    async def started(self, name: str) -> None:
        await self.running.setdefault(name, asyncio.Event()).wait()


def test_a_request_on_a_demoted_ip_is_moved_not_raced() -> None:
    """The request is cancelled first (freeing its slot), then the range carries on
    elsewhere from the moved request's state, avoiding the demoted IP."""
    script = Script()
    resumed: list[tuple[Attempt, tuple[str, ...]]] = []
    policy = HedgePolicy(HedgeConfig(min_seconds=0.5), total_ranges=10, slow_ip=script.slow_ip)
    st = stats()

    async def start(exclude: tuple[str, ...], attempt: Attempt) -> str:
        return await script.request(f"start{len(script.log)}", SLOW if not exclude else FAST, attempt)

    async def resume(moved: Attempt, exclude: tuple[str, ...], attempt: Attempt) -> str:
        resumed.append((moved, exclude))
        return await script.request("resume", FAST, attempt)

    async def go() -> str:
        task = asyncio.ensure_future(run_hedged(policy, start, st, resume))
        await script.started("start0")
        script.demoted.add(SLOW)  # demoted after the request got there: it leaves at once
        await script.started("resume")
        script.release["resume"].set()
        return await asyncio.wait_for(task, 10)

    assert asyncio.run(go()) == "resume"
    assert script.log == [f"start0 on {SLOW}", "start0 cancelled", f"resume on {FAST}"]
    moved, exclude = resumed[0]
    assert moved.ip == SLOW and exclude == (SLOW,)
    assert (st.moves, st.hedges, st.hedge_wins, policy.moves) == (1, 1, 0, 1)
    assert policy.hedges == 0  # outside the ration


def test_moves_are_bounded_then_the_request_is_raced() -> None:
    """Each move lands on another slow IP (every IP left is slow): after MAX_MOVES the
    request is raced by a duplicate instead of being moved on and on."""
    script = Script()
    ips = [f"10.0.1.{i}" for i in range(MAX_MOVES + 2)]
    policy = HedgePolicy(HedgeConfig(min_seconds=0.0), total_ranges=10, slow_ip=script.slow_ip)
    st = stats()
    names: list[str] = []

    async def start(exclude: tuple[str, ...], attempt: Attempt) -> str:
        name = f"start{len(names)}"
        names.append(name)
        return await script.request(name, ips[0] if not exclude else FAST, attempt)

    async def resume(moved: Attempt, exclude: tuple[str, ...], attempt: Attempt) -> str:
        name = f"resume{len(names)}"
        names.append(name)
        return await script.request(name, ips[len(names) - 1], attempt)

    async def go() -> str:
        script.demoted.update(ips)
        task = asyncio.ensure_future(run_hedged(policy, start, st, resume))
        await script.started(f"start{MAX_MOVES + 1}")  # the duplicate after the last move
        script.release[f"start{MAX_MOVES + 1}"].set()
        return await asyncio.wait_for(task, 10)

    assert asyncio.run(go()) == f"start{MAX_MOVES + 1}"
    assert st.moves == MAX_MOVES and st.hedges == MAX_MOVES + 1 and st.hedge_wins == 1
    assert names == ["start0", *(f"resume{i}" for i in range(1, MAX_MOVES + 1)), f"start{MAX_MOVES + 1}"]


def test_without_resume_a_request_on_a_demoted_ip_is_raced() -> None:
    """Uploads send a part whole: nothing to resume, so the duplicate races the original."""
    script = Script()
    policy = HedgePolicy(HedgeConfig(min_seconds=0.5), total_ranges=10, slow_ip=script.slow_ip)
    st = stats()

    async def start(exclude: tuple[str, ...], attempt: Attempt) -> str:
        return await script.request("dup" if exclude else "first", FAST if exclude else SLOW, attempt)

    async def go() -> str:
        task = asyncio.ensure_future(run_hedged(policy, start, st))
        await script.started("first")
        script.demoted.add(SLOW)
        await script.started("dup")
        assert "first cancelled" not in script.log  # still racing
        script.release["dup"].set()
        return await asyncio.wait_for(task, 10)

    assert asyncio.run(go()) == "dup"
    assert (st.moves, st.hedges, st.hedge_wins) == (0, 1, 1)


def test_a_probe_is_moved_when_the_tail_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A probe (its IP already slow when it got there) would stay min_seconds; the start of
    the tail (the last range holding a connection) moves it at once, not at the next
    periodic look (made an hour here, so only the wake-up can move it in time)."""
    monkeypatch.setattr(_hedge, "LOOK_AGAIN", 3600.0)
    script = Script()
    script.demoted.add(SLOW)
    policy = HedgePolicy(HedgeConfig(min_seconds=3600.0), total_ranges=2, slow_ip=script.slow_ip)
    st = stats()

    async def start(exclude: tuple[str, ...], attempt: Attempt) -> str:
        return await script.request("probe", SLOW, attempt)

    async def resume(moved: Attempt, exclude: tuple[str, ...], attempt: Attempt) -> str:
        return await script.request("resume", FAST, attempt)

    async def go() -> str:
        task = asyncio.ensure_future(run_hedged(policy, start, st, resume))
        await script.started("probe")  # range 1 of 2 holds a connection
        await asyncio.sleep(0)
        assert not task.done() and st.moves == 0
        policy.range_connected()  # range 2 of 2: the tail
        await script.started("resume")
        script.release["resume"].set()
        return await asyncio.wait_for(task, 10)

    assert asyncio.run(go()) == "resume"
    assert st.moves == 1 and "probe cancelled" in script.log


def test_a_retried_request_past_its_threshold_is_not_watched_in_a_spin() -> None:
    """Overdue but being retried: no hedge, and the next look comes LOOK_AGAIN later, not at
    once (the loop used to spin until the retry ended). Bounded by the looks, not by time:
    a spin would make them at the pace of the event loop."""
    looks: list[float] = []
    done: asyncio.Event | None = None

    class Counting(HedgePolicy):
        def next_look(self, attempt: Attempt, now: float) -> float:
            looks.append(now)
            if len(looks) == 4 and done is not None:
                done.set()
            return super().next_look(attempt, now)

    policy = Counting(HedgeConfig(min_samples=1, min_seconds=0.0, factor=1.0), total_ranges=10,
                      slow_ip=lambda ip: False)
    policy.record(0.001)

    async def start(exclude: tuple[str, ...], attempt: Attempt) -> str:
        attempt.on_ip(FAST)
        attempt.on_retry(OSError("reset"))
        assert done is not None
        await done.wait()
        return "first"

    async def go() -> str:
        nonlocal done
        done = asyncio.Event()
        return await asyncio.wait_for(run_hedged(policy, start, stats()), 30)

    assert asyncio.run(go()) == "first"
    gaps = [b - a for a, b in zip(looks[1:], looks[2:])]
    assert all(g >= LOOK_AGAIN * 0.9 for g in gaps), gaps
