"""EndpointTable: spreading, failover, quarantine, slow IPs, TTL harvesting.

All deterministic: a fake clock, a scripted resolver, a seeded rng.
"""
from __future__ import annotations

import asyncio
import dataclasses
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from s3fast.net._endpoints import EndpointConfig, EndpointTable, NoAddressesError, judge_goodput
from s3fast.net._goodput import RUNNING_MIN_SECONDS, judge_running, peer_level

T = TypeVar("T")
MiB = 1 << 20
IPS = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
# No jitter: exact quarantine times make the assertions readable.
EXACT = EndpointConfig(quarantine_jitter=0.0)


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ScriptedResolver:
    """Returns the scripted answers in turn (the last one repeats); an
    Exception in the script is raised instead."""

    def __init__(self, *answers: list[str] | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0
        self.gate: asyncio.Event | None = None

    async def resolve(self, host: str, port: int) -> list[str]:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        answer = self.answers[min(self.calls, len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return list(answer)


def run(factory: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await factory()

    return asyncio.run(main())


def make_table(
    ips: list[str] = IPS, config: EndpointConfig = EXACT, clock: FakeClock | None = None
) -> tuple[EndpointTable, FakeClock]:
    clock = clock if clock is not None else FakeClock()
    table = EndpointTable(
        "s3.example", 443, ScriptedResolver(ips), config=config, clock=clock, rng=random.Random(7)
    )
    run(table.refresh)
    return table, clock


def quarantine(table: EndpointTable, ip: str) -> None:
    for _ in range(3):
        table.record_failure(ip, "reset")
    assert table.stats()[ip].state == "quarantined"


# ------------------------------------------------------------------ picking


def test_rotation_spreads_picks_evenly() -> None:
    table, _ = make_table()
    picks = [table.pick() for _ in range(100)]
    assert picks[:4] == IPS  # round robin, in resolver order
    assert Counter(picks) == {ip: 25 for ip in IPS}


def test_least_loaded_ip_wins() -> None:
    table, _ = make_table()
    for ip in IPS[:3]:
        table.connection_opened(ip)
    table.connection_opened(IPS[0])
    assert [table.pick() for _ in range(3)] == [IPS[3]] * 3  # picks alone don't load an IP
    table.connection_opened(IPS[3])
    # Now 2,1,1,1 connections: the three with one connection rotate.
    assert sorted(table.pick() for _ in range(3)) == sorted(IPS[1:])
    table.connection_closed(IPS[0])
    table.connection_closed(IPS[0])
    assert table.pick() == IPS[0]


def test_connections_spread_like_a_pool_opening_them() -> None:
    table, _ = make_table()
    for _ in range(10):
        table.connection_opened(table.pick())
    assert sorted(s.connections for s in table.stats().values()) == [2, 2, 3, 3]


def test_exclude_is_honoured_then_falls_back() -> None:
    table, _ = make_table()
    assert {table.pick(exclude={IPS[0], IPS[1]}) for _ in range(20)} == {IPS[2], IPS[3]}
    # Everything excluded: still returns a healthy IP rather than failing.
    assert table.pick(exclude=set(IPS)) in IPS
    assert not table.needs_refresh


def test_empty_table_raises_clear_error() -> None:
    table = EndpointTable("s3.example", 443, ScriptedResolver([]), clock=FakeClock())
    with pytest.raises(NoAddressesError, match=r"s3\.example:443"):
        table.pick()
    assert table.needs_refresh


# --------------------------------------------------------------- quarantine


def test_three_failures_quarantine_and_pick_avoids_the_ip() -> None:
    table, _ = make_table()
    bad = IPS[1]
    table.record_failure(bad, "reset")
    table.record_failure(bad, "timeout")
    assert table.stats()[bad].state == "healthy"
    table.record_failure(bad, "server")
    stats = table.stats()[bad]
    assert stats.state == "quarantined" and stats.quarantines == 1 and stats.errors == 3
    assert bad not in {table.pick() for _ in range(30)}
    assert table.state(bad) == "quarantined" and table.state("10.9.9.9") is None


def test_success_resets_the_consecutive_failure_count() -> None:
    table, _ = make_table()
    for _ in range(5):
        table.record_failure(IPS[0], "reset")
        table.record_failure(IPS[0], "reset")
        table.record_success(IPS[0])
    assert table.stats()[IPS[0]].state == "healthy"


def test_connect_failures_count_heavier() -> None:
    table, _ = make_table()
    table.record_failure(IPS[0], "connect")
    assert table.stats()[IPS[0]].state == "healthy"
    table.record_failure(IPS[0], "connect")
    assert table.stats()[IPS[0]].state == "quarantined"


def test_throttling_never_quarantines() -> None:
    table, _ = make_table()
    for _ in range(100):
        table.record_failure(IPS[0], "throttle")
        table.record_failure(IPS[0], "fatal")
    stats = table.stats()[IPS[0]]
    assert stats.state == "healthy" and stats.errors == 200 and stats.quarantines == 0
    # Nor does it hide real failures in between: the score is not reset.
    table.record_failure(IPS[0], "reset")
    table.record_failure(IPS[0], "throttle")
    table.record_failure(IPS[0], "reset")
    table.record_failure(IPS[0], "reset")
    assert table.stats()[IPS[0]].state == "quarantined"


def test_unknown_failure_kind_is_rejected() -> None:
    table, _ = make_table()
    with pytest.raises(ValueError, match="unknown failure kind 'rset'"):
        table.record_failure(IPS[0], "rset")


def test_probe_after_quarantine_and_doubling_on_failed_probe() -> None:
    table, clock = make_table()
    bad = IPS[0]
    quarantine(table, bad)
    assert table.stats()[bad].quarantine_remaining == pytest.approx(1.0)

    expected_delays = [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    for delay in expected_delays:
        clock.advance(table.stats()[bad].quarantine_remaining - 0.01)
        assert bad not in {table.pick() for _ in range(8)}
        clock.advance(0.01)
        assert table.stats()[bad].state == "probing"
        assert table.pick() == bad  # the due probe goes first
        assert bad not in {table.pick() for _ in range(8)}  # only one probe
        table.record_failure(bad, "connect")  # the probe failed
        assert table.stats()[bad].quarantine_remaining == pytest.approx(delay)
    assert table.stats()[bad].quarantines == 1  # one ejection, repeatedly extended

    clock.advance(60.0)
    assert table.pick() == bad
    table.connection_opened(bad)
    table.record_success(bad, 100, 0.01)
    table.connection_closed(bad)
    assert table.stats()[bad].state == "healthy"
    assert bad in {table.pick() for _ in range(4)}


def test_probe_connection_closed_without_verdict_frees_the_probe() -> None:
    table, clock = make_table()
    quarantine(table, IPS[0])
    clock.advance(1.0)
    assert table.pick() == IPS[0]
    table.connection_opened(IPS[0])
    assert IPS[0] not in {table.pick() for _ in range(8)}
    table.connection_closed(IPS[0])
    assert table.pick() == IPS[0]


def test_straggler_success_during_quarantine_does_not_release() -> None:
    table, clock = make_table()
    quarantine(table, IPS[0])
    table.record_success(IPS[0], 4 * MiB, 1.0)  # a connection opened before
    assert table.stats()[IPS[0]].state == "quarantined"
    assert table.stats()[IPS[0]].bytes == 4 * MiB


def test_relapse_backs_off_further_until_forgiven() -> None:
    table, clock = make_table()
    quarantine(table, IPS[0])
    clock.advance(1.0)
    table.pick()
    table.record_success(IPS[0])
    quarantine(table, IPS[0])  # relapse soon after recovering
    assert table.stats()[IPS[0]].quarantine_remaining == pytest.approx(2.0)
    assert table.stats()[IPS[0]].quarantines == 2
    clock.advance(2.0)
    table.pick()
    table.record_success(IPS[0])
    clock.advance(61.0)  # healthy long enough
    quarantine(table, IPS[0])
    assert table.stats()[IPS[0]].quarantine_remaining == pytest.approx(1.0)


def test_quarantine_jitter_comes_from_the_injected_rng() -> None:
    config = EndpointConfig(quarantine_jitter=0.5)

    def remaining(seed: int) -> list[float]:
        clock = FakeClock()
        table = EndpointTable(
            "h", 443, ScriptedResolver(IPS), config=config, clock=clock, rng=random.Random(seed)
        )
        run(table.refresh)
        for ip in IPS:
            quarantine(table, ip)
        return [s.quarantine_remaining for s in table.stats().values()]

    first = remaining(1)
    assert first == remaining(1)  # reproducible
    assert first != remaining(2)
    assert all(0.5 <= r <= 1.0 for r in first)
    assert len(set(first)) == len(first)  # not re-probed in lockstep


def test_all_failed_sets_needs_refresh_and_reprobes_soonest() -> None:
    table, clock = make_table()
    for i, ip in enumerate(IPS):
        quarantine(table, ip)
        clock.advance(0.1)
    assert table.all_failed and table.needs_refresh
    # IPS[0] was quarantined first, so its quarantine ends soonest.
    assert table.pick() == IPS[0]
    assert table.stats()[IPS[0]].state == "probing"
    # A burst of picks re-probes the others rather than piling onto one IP.
    assert [table.pick() for _ in range(3)] == IPS[1:]
    assert table.pick(exclude={IPS[0]}) != IPS[0]


def test_refresh_after_all_failed_brings_new_ips() -> None:
    clock = FakeClock()
    resolver = ScriptedResolver(IPS[:2], ["127.0.0.9"])
    config = dataclasses.replace(EXACT, quarantine_base=5.0)
    table = EndpointTable("h", 443, resolver, config=config, clock=clock)
    run(table.refresh)
    for ip in IPS[:2]:
        quarantine(table, ip)
    assert table.needs_refresh
    clock.advance(1.0)  # ensure_resolved re-resolves at most once a second
    run(table.ensure_resolved)
    assert resolver.calls == 2 and not table.needs_refresh and not table.all_failed
    assert table.pick() == "127.0.0.9"
    # Old quarantines survive a refresh: they are about the IP.
    assert table.stats()[IPS[0]].state == "quarantined"


# ----------------------------------------------------------------- slow IPs


def feed(table: EndpointTable, rates: dict[str, float], rounds: int, seconds: float = 0.2) -> None:
    """``rounds`` finished requests per IP, each moving ``rate * seconds`` bytes."""
    for _ in range(rounds):
        for ip, rate in rates.items():
            table.record_success(ip, int(rate * seconds), seconds)


def test_slow_ip_is_demoted_and_gets_no_new_connections() -> None:
    table, _ = make_table()
    slow = IPS[2]
    feed(table, {ip: (1 if ip == slow else 40) * MiB for ip in IPS}, rounds=3, seconds=0.5)
    stats = table.stats()
    assert stats[slow].state == "slow" and stats[slow].demotions == 1
    assert [stats[ip].state for ip in IPS if ip != slow] == ["healthy"] * 3
    assert stats[IPS[0]].goodput == pytest.approx(40 * MiB, rel=1e-3)
    assert slow not in {table.pick() for _ in range(20)}
    assert not table.all_failed  # slow is not failed: no re-resolution, no outage


def test_one_slow_request_does_not_demote() -> None:
    table, _ = make_table()
    feed(table, {ip: 40 * MiB for ip in IPS}, rounds=3)
    table.record_success(IPS[1], 1 * MiB, 1.0)  # one request at 1 MiB/s among fast ones
    table.record_success(IPS[1], 8 * MiB, 0.2)
    table.record_success(IPS[1], 1 * MiB, 1.0)  # two of the last five: the median is still fast
    assert table.stats()[IPS[1]].state == "healthy"


def test_demotion_needs_min_samples_on_the_ip_and_a_reference() -> None:
    cfg = dataclasses.replace(EXACT, slow_min_samples=3)
    table, _ = make_table(config=cfg)
    table.record_success(IPS[0], 1 * MiB, 1.0)
    table.record_success(IPS[0], 1 * MiB, 1.0)
    feed(table, {ip: 40 * MiB for ip in IPS[1:]}, rounds=5)
    assert table.stats()[IPS[0]].state == "healthy"  # two samples: not judged yet
    table.record_success(IPS[0], 1 * MiB, 1.0)
    assert table.stats()[IPS[0]].state == "slow"
    # With no peer sampled enough there is no reference: nobody is judged.
    alone, _ = make_table(config=cfg)
    feed(alone, {IPS[0]: 1 * MiB}, rounds=5)
    feed(alone, {IPS[1]: 40 * MiB}, rounds=2)
    assert {s.state for s in alone.stats().values()} == {"healthy"}


def test_moderately_slower_ip_is_kept() -> None:
    table, _ = make_table()
    feed(table, {ip: (14 if ip == IPS[2] else 40) * MiB for ip in IPS}, rounds=10)  # ~1/3 speed
    assert all(s.state == "healthy" for s in table.stats().values())


def test_uniformly_slow_service_demotes_nobody() -> None:
    table, _ = make_table()
    feed(table, {ip: 64 * 1024 for ip in IPS}, rounds=8, seconds=2.0)
    assert all(s.state == "healthy" for s in table.stats().values())


def test_small_quick_requests_are_not_goodput_samples() -> None:
    table, _ = make_table()
    feed(table, {ip: 40 * MiB for ip in IPS[1:]}, rounds=3)
    for _ in range(10):
        table.record_success(IPS[0], 1000, 0.01)  # latency, not bandwidth
    assert table.stats()[IPS[0]].samples == 0 and table.stats()[IPS[0]].state == "healthy"
    # ... but a request that ran long and moved little is one: a slow path looks like that.
    for _ in range(3):
        table.record_goodput(IPS[0], 300 * 1024, 0.6)
    assert table.stats()[IPS[0]].samples == 3 and table.stats()[IPS[0]].state == "slow"


def test_abandoned_requests_demote_a_slow_ip() -> None:
    """A slow IP's requests rarely finish (hedges replace them): what they moved before
    being cancelled is what demotes it."""
    table, _ = make_table()
    feed(table, {ip: 40 * MiB for ip in IPS if ip != IPS[3]}, rounds=3)
    for _ in range(3):
        table.record_goodput(IPS[3], 700 * 1024, 0.7)
    assert table.stats()[IPS[3]].state == "slow"


def test_slow_ip_is_probed_and_promoted_when_it_recovers() -> None:
    table, clock = make_table()
    slow = IPS[1]
    others = {ip: 40 * MiB for ip in IPS if ip != slow}
    feed(table, {**others, slow: 1 * MiB}, rounds=3, seconds=0.5)
    assert table.stats()[slow].state == "slow"
    clock.advance(0.5)
    assert slow not in {table.pick() for _ in range(8)}  # no probe before slow_probe_base
    clock.advance(0.5)
    picks = [table.pick() for _ in range(8)]
    assert picks.count(slow) == 1  # one probe connection per re-probe delay
    # The probe (still slow, abandoned by a hedge) doubles the delay.
    table.record_goodput(slow, 512 * 1024, 0.5)
    assert table.stats()[slow].state == "slow"
    clock.advance(1.0)
    assert slow not in {table.pick() for _ in range(8)}
    clock.advance(1.0)
    assert [table.pick() for _ in range(8)].count(slow) == 1
    # It recovered: the probe moves as much as the others. A good probe makes the next
    # one due at once; once the median of its probes is back near its peers', it is
    # promoted (here the second good probe outvotes the slow one).
    feed(table, others, rounds=1)
    table.record_success(slow, 8 * MiB, 0.2)
    assert table.stats()[slow].state == "slow"
    assert table.pick() == slow
    table.record_success(slow, 8 * MiB, 0.2)
    stats = table.stats()[slow]
    assert stats.state == "healthy" and stats.demotions == 1
    assert slow in {table.pick() for _ in range(8)}


def test_requests_started_before_the_demotion_are_no_probe_news() -> None:
    table, clock = make_table()
    slow = IPS[1]
    feed(table, {**{ip: 40 * MiB for ip in IPS if ip != slow}, slow: 1 * MiB}, rounds=3, seconds=0.5)
    assert table.stats()[slow].state == "slow"
    clock.advance(0.3)
    # Eight requests that were already running when it was demoted end now (hedged away):
    # they neither count as recovery evidence nor push its re-probe out.
    for _ in range(8):
        table.record_goodput(slow, 2 * MiB, 2.0)
    clock.advance(0.7)
    assert table.pick() == slow


def test_judge_goodput_is_a_pure_decision() -> None:
    cfg = EndpointConfig(slow_min_samples=3, slow_ratio=0.25, recover_ratio=0.5)
    assert judge_goodput(False, [1.0, 1.0, 1.0], 100.0, cfg) == "demote"
    assert judge_goodput(False, [1.0, 1.0], 100.0, cfg) == "keep"  # too few samples
    assert judge_goodput(False, [1.0, 100.0, 100.0], 100.0, cfg) == "keep"  # median is fast
    assert judge_goodput(False, [1.0, 1.0, 1.0], None, cfg) == "keep"  # no reference
    assert judge_goodput(False, [30.0] * 3, 100.0, cfg) == "keep"  # above slow_ratio
    assert judge_goodput(True, [30.0] * 3, 100.0, cfg) == "keep"  # but not yet recovered
    assert judge_goodput(True, [60.0] * 3, 100.0, cfg) == "promote"
    assert judge_goodput(True, [60.0] * 2, 100.0, cfg) == "keep"


def test_last_usable_ips_being_slow_still_serve() -> None:
    table, _ = make_table(IPS[:2])
    feed(table, {IPS[0]: 40 * MiB, IPS[1]: 1 * MiB}, rounds=3, seconds=0.5)
    assert table.stats()[IPS[1]].state == "slow"
    quarantine(table, IPS[0])
    assert table.pick() == IPS[1]  # slow beats nothing


class Moving:
    """A running request's byte counter, advanced by the test."""

    def __init__(self) -> None:
        self.moved_bytes = 0


def start(table: EndpointTable, ip: str, n: int, answered: bool = True) -> list[Moving]:
    """``n`` requests start on ``ip`` (and get their response head at once if ``answered``)."""
    counters = [Moving() for _ in range(n)]
    for c in counters:
        record = table.request_started(ip, c)
        if answered:
            table.request_answered(record)
    return counters


def advance(clock: FakeClock, seconds: float, rates: dict[str, float], running: dict[str, list[Moving]]) -> None:
    clock.advance(seconds)
    for ip, counters in running.items():
        for c in counters:
            c.moved_bytes += int(rates[ip] * seconds)


def test_an_ip_crawling_from_its_first_bytes_is_demoted_before_anything_finishes() -> None:
    """The first wave: every IP holds three ranges, none has finished, so there is no
    goodput sample anywhere; the IP whose requests crawl is demoted on their rates."""
    table, clock = make_table()
    slow = IPS[1]
    rates = {ip: (1 if ip == slow else 40) * MiB for ip in IPS}
    running = {ip: start(table, ip, 3) for ip in IPS}
    advance(clock, RUNNING_MIN_SECONDS * 0.9, rates, running)
    assert table.state(slow) == "healthy"  # too young to judge: round trip, first byte
    advance(clock, RUNNING_MIN_SECONDS * 0.2, rates, running)
    assert table.state(slow) == "slow"
    stats = table.stats()
    assert stats[slow].demotions == 1 and stats[slow].samples == 0
    assert all(stats[ip].state == "healthy" for ip in IPS if ip != slow)
    assert slow not in {table.pick() for _ in range(12)}


def test_finished_peers_are_a_reference_for_running_requests() -> None:
    table, clock = make_table()
    feed(table, {ip: 40 * MiB for ip in IPS if ip != IPS[0]}, rounds=2)
    running = {IPS[0]: start(table, IPS[0], 2)}
    advance(clock, 1.0, {IPS[0]: 1 * MiB}, running)
    assert table.state(IPS[0]) == "slow"


def test_one_crawling_request_beside_a_moving_one_does_not_demote() -> None:
    table, clock = make_table()
    feed(table, {ip: 40 * MiB for ip in IPS[1:]}, rounds=3)
    crawling, moving = start(table, IPS[0], 2)
    clock.advance(1.0)
    crawling.moved_bytes = 64 * 1024  # one stalled connection: a straggler, for hedging
    moving.moved_bytes = 30 * MiB
    assert table.state(IPS[0]) == "healthy"
    # ... and one crawling request alone is no verdict either.
    lone, lone_clock = make_table()
    feed(lone, {ip: 40 * MiB for ip in IPS[1:]}, rounds=3)
    (only,) = start(lone, IPS[0], 1)
    lone_clock.advance(1.0)
    only.moved_bytes = 1024
    assert lone.state(IPS[0]) == "healthy"


def test_a_somewhat_slower_or_uniformly_slow_ip_is_kept_on_running_rates() -> None:
    table, clock = make_table()
    rates = {ip: (8 if ip == IPS[2] else 40) * MiB for ip in IPS}  # a fifth: spread, not a crawl
    running = {ip: start(table, ip, 3) for ip in IPS}
    advance(clock, 2.0, rates, running)
    assert all(s.state == "healthy" for s in table.stats().values())
    uniform, uclock = make_table()
    urunning = {ip: start(uniform, ip, 3) for ip in IPS}
    advance(uclock, 2.0, {ip: 64 * 1024 for ip in IPS}, urunning)
    assert all(uniform.state(ip) == "healthy" for ip in IPS)


def test_waiting_for_the_answer_is_not_crawling() -> None:
    """A server slow to start its answers (busy, or answering one request after another)
    is not a slow path: the wait for the response head is no part of the rate."""
    table, clock = make_table()
    feed(table, {ip: 40 * MiB for ip in IPS[1:]}, rounds=3)
    waiting = [Moving() for _ in range(3)]
    records = [table.request_started(IPS[0], c) for c in waiting]
    clock.advance(2.0)  # two seconds to the first byte...
    assert table.state(IPS[0]) == "healthy"
    for r in records:
        table.request_answered(r)
    advance(clock, 0.5, {IPS[0]: 40 * MiB}, {IPS[0]: waiting})  # ... then full speed
    assert table.state(IPS[0]) == "healthy"


def test_ended_requests_are_no_longer_judged() -> None:
    table, clock = make_table()
    feed(table, {ip: 40 * MiB for ip in IPS[1:]}, rounds=3)
    records = [table.request_started(IPS[0], Moving()) for _ in range(3)]
    for r in records:
        table.request_ended(r)
    table.request_ended(None)  # an untracked request ends harmlessly
    clock.advance(2.0)
    assert table.state(IPS[0]) == "healthy"


def test_running_requests_of_a_slow_ip_do_not_demote_it_twice() -> None:
    table, clock = make_table()
    rates = {ip: (1 if ip == IPS[3] else 40) * MiB for ip in IPS}
    running = {ip: start(table, ip, 2) for ip in IPS}
    advance(clock, 0.5, rates, running)
    assert table.state(IPS[3]) == "slow"
    advance(clock, 5.0, rates, running)
    table.pick()
    assert table.stats()[IPS[3]].demotions == 1


def test_judge_running_is_a_pure_decision() -> None:
    assert judge_running([1.0, 2.0], [100.0, 100.0, None])
    assert not judge_running([1.0], [100.0, 100.0])  # one request is a straggler
    assert not judge_running([1.0, 50.0], [100.0, 100.0])  # the fastest request decides
    assert not judge_running([1.0, 2.0], [None, None])  # nobody to compare with
    assert not judge_running([11.0, 11.0], [100.0], slow_ratio=0.1)  # above the ratio
    assert judge_running([9.0, 9.0], [100.0], slow_ratio=0.1)
    assert peer_level([], [5.0]) is None  # one measure is no level
    assert peer_level([1.0], [5.0, 9.0]) == 5.0


# --------------------------------------------------------------- TTL and DNS


def test_ttl_accumulates_and_expires_ips() -> None:
    clock = FakeClock()
    a, b, c, d = IPS
    resolver = ScriptedResolver([a, b], [c, d], [a, c])
    table = EndpointTable("h", 443, resolver, config=EXACT, clock=clock)
    run(table.refresh)
    clock.advance(10)
    run(table.refresh)
    assert table.ips == [a, b, c, d]  # accumulated across answers
    clock.advance(200)
    run(table.refresh)  # a and c seen again: TTL renewed
    table.connection_opened(b)
    clock.advance(105)  # t=315: b (seen t=0) and d (seen t=10) have expired
    assert [table.pick() for _ in range(4)] == [a, c, a, c]  # d gone, b retiring
    assert table.ips == [a, b, c]  # b stays while in use...
    assert table.stats()[b].fresh is False
    assert "expired" in repr(table)
    table.connection_closed(b)
    table.pick()
    assert table.ips == [a, c]  # ...and leaves once idle


def test_stale_ips_are_kept_when_dns_keeps_failing() -> None:
    clock = FakeClock()
    resolver = ScriptedResolver(IPS[:2], OSError("dns down"))
    table = EndpointTable("h", 443, resolver, config=EXACT, clock=clock)
    run(table.refresh)
    clock.advance(400)
    with pytest.raises(OSError, match="dns down"):
        run(table.refresh)
    assert table.refresh_errors == 1
    assert table.pick() in IPS[:2]
    assert table.needs_refresh  # stale: please re-resolve
    run(table.ensure_resolved)  # swallows the error: stale IPs are in hand
    assert table.refresh_errors == 2 and len(table) == 2


def test_max_ips_caps_accumulation() -> None:
    clock = FakeClock()
    answers = [[f"127.0.1.{i}", f"127.0.2.{i}"] for i in range(10)]
    table = EndpointTable(
        "h", 443, ScriptedResolver(*answers),
        config=EndpointConfig(max_ips=5), clock=clock,
    )
    for _ in range(10):
        run(table.refresh)
        clock.advance(1)
    assert len(table) == 5
    assert "127.0.2.9" in table.ips and "127.0.1.0" not in table.ips  # oldest dropped


def test_concurrent_refreshes_share_one_lookup() -> None:
    resolver = ScriptedResolver(IPS)
    table = EndpointTable("h", 443, resolver, clock=FakeClock())

    async def main() -> list[Any]:
        resolver.gate = asyncio.Event()
        waiters = [asyncio.ensure_future(table.refresh()) for _ in range(5)]
        await asyncio.sleep(0)  # let them all reach the shared lookup
        waiters[0].cancel()  # one impatient caller must not cancel it for all
        await asyncio.sleep(0)
        resolver.gate.set()
        return await asyncio.gather(*waiters, return_exceptions=True)

    results = run(main)
    assert resolver.calls == 1
    assert isinstance(results[0], asyncio.CancelledError)
    assert results[1:] == [IPS] * 4
    assert table.ips == IPS


def test_ensure_resolved_rate_limits_re_resolution() -> None:
    clock = FakeClock()
    resolver = ScriptedResolver(IPS[:1])
    table = EndpointTable("h", 443, resolver, config=EXACT, clock=clock)
    run(table.ensure_resolved)
    run(table.ensure_resolved)
    assert resolver.calls == 1  # resolved and healthy: nothing to do
    quarantine(table, IPS[0])
    run(table.ensure_resolved)
    assert resolver.calls == 1  # needs refresh, but the last lookup was just now
    clock.advance(1.0)
    run(table.ensure_resolved)
    assert resolver.calls == 2


def test_harvester_accumulates_until_stopped() -> None:
    clock = FakeClock()
    resolver = ScriptedResolver(["127.0.0.2"], OSError("flaky"), ["127.0.0.3"], ["127.0.0.4"])
    sleeps: list[float] = []
    table: EndpointTable

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)
        if len(sleeps) == 4:
            table.stop()

    table = EndpointTable("h", 443, resolver, clock=clock, sleep=fake_sleep)
    run(lambda: table.run_harvester(interval=30.0))
    assert sleeps == [30.0] * 4
    assert resolver.calls == 4 and table.refresh_count == 3 and table.refresh_errors == 1
    assert table.ips == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]


def test_stop_interrupts_the_harvester_mid_sleep() -> None:
    table: EndpointTable

    async def main() -> None:
        started = asyncio.Event()

        async def forever(seconds: float) -> None:
            started.set()
            await asyncio.Event().wait()

        nonlocal table
        table = EndpointTable("h", 443, ScriptedResolver(IPS), clock=FakeClock(), sleep=forever)
        harvester = asyncio.ensure_future(table.run_harvester())
        await started.wait()
        table.stop()
        await asyncio.wait_for(harvester, timeout=10)

    run(main)
    assert table.ips == IPS


# -------------------------------------------------------------------- views


def test_stats_are_a_frozen_snapshot() -> None:
    table, _ = make_table()
    ip = table.pick()
    table.connection_opened(ip)
    table.record_request(ip)
    table.record_request(ip)
    table.record_success(ip, 2 * MiB, 0.5)
    table.record_failure(ip, "reset")
    snap = table.stats()
    stats = snap[ip]
    assert (stats.requests, stats.bytes, stats.errors, stats.connections) == (2, 2 * MiB, 1, 1)
    assert stats.throughput == pytest.approx(4 * MiB) and stats.samples == 1
    assert stats.state == "healthy" and stats.fresh
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.requests = 99  # type: ignore[misc]
    table.record_request(ip)
    assert snap[ip].requests == 2  # a snapshot, not a live view


def test_double_close_is_clamped() -> None:
    table, _ = make_table()
    table.connection_opened(IPS[0])
    table.connection_closed(IPS[0])
    table.connection_closed(IPS[0])
    assert table.stats()[IPS[0]].connections == 0


def test_connection_to_purged_ip_is_still_accounted() -> None:
    table, _ = make_table()
    table.connection_opened("127.0.0.99")
    assert table.stats()["127.0.0.99"].connections == 1
    assert table.stats()["127.0.0.99"].fresh is False
    table.connection_closed("127.0.0.99")
    table.pick()
    assert "127.0.0.99" not in table.ips


def test_repr_shows_ips_and_states() -> None:
    table, _ = make_table(IPS[:2])
    table.connection_opened(IPS[0])
    quarantine(table, IPS[1])
    text = repr(table)
    assert text.startswith("<EndpointTable s3.example:443 [2 IPs: ")
    assert "127.0.0.2 healthy conns=1" in text
    assert "127.0.0.3 quarantined conns=0 for 1.0s" in text
    assert "needs_refresh=False" in text


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        EndpointConfig(quarantine_base=0)
    with pytest.raises(ValueError):
        EndpointConfig(quarantine_jitter=1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        EXACT.ttl = 1  # type: ignore[misc]


def test_abandoned_requests_that_moved_nothing_demote_a_black_holed_ip() -> None:
    """An IP that accepts connections and then sends nothing: its requests are abandoned
    (hedged elsewhere) after running a while with zero bytes, and that is a sample of 0 B/s;
    a finished request with no body (a HEAD, a Complete) measured latency and is none."""
    table, _ = make_table()
    feed(table, {ip: 40 * MiB for ip in IPS[1:]}, rounds=3)
    for _ in range(3):
        table.record_success(IPS[0], 0, 0.8)
    assert table.stats()[IPS[0]].samples == 0
    table.record_goodput(IPS[0], 0, 0.2)  # abandoned too soon to say anything
    assert table.stats()[IPS[0]].samples == 0
    for _ in range(3):
        table.record_goodput(IPS[0], 0, 0.8)
    assert table.stats()[IPS[0]].state == "slow"
