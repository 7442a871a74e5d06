"""Per-prefix SlowDown control: the AIMD decision (pure, injected clock), the governed engine
(a throttled prefix waits without holding the window; other prefixes go on), and end to end
through the fault proxy: one prefix answered 503 SlowDown has its peak in-flight cut while
another prefix's is not (counted from the proxy's records, not timed)."""
from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from e2e_helpers import cli
from s3fast._transport import THROTTLES
from s3fast.tree._engine import run as run_engine
from s3fast.tree._ops import DEFAULT_WINDOW
from s3fast.tree._prefixes import PrefixGovernor, prefix_of
from support.faultrules import Rule, latency, respond
from test_cli_tree import opts


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_prefix_of() -> None:
    assert prefix_of("run/", "2024/x/y") == "run/2024/"
    assert prefix_of("run/", "top-level-file") == "run/"
    assert prefix_of("", "a/b") == "a/"


def _throttled(g: PrefixGovernor, t: Any, n: int = 1) -> None:
    """What the engine does for an object whose requests met ``n`` SlowDowns, then ended."""
    for _ in range(n):
        g.slowdown(t)
    g.finish(t, n)


def test_slowdown_halves_what_was_in_flight_once_per_hold() -> None:
    clock = Clock()
    g = PrefixGovernor(128, hold=0.2, clock=clock)
    tickets = [g.start("hot/") for _ in range(16)]
    other = [g.start("cool/") for _ in range(16)]
    assert g.limit("hot/") is None and g.can_start("hot/")
    g.slowdown(tickets[0])  # 16 in flight when the 503 came: halved at once, before the retry
    assert g.limit("hot/") == 8 and not g.can_start("hot/")
    # The rest of the same burst, within the hold: no second halving.
    clock.t += 0.1
    for t in tickets[1:6]:
        g.slowdown(t)
    assert g.limit("hot/") == 8
    for t in tickets[:6]:
        g.finish(t, 1)
    assert g.inflight("hot/") == 10 and not g.can_start("hot/")
    # Another prefix is untouched.
    assert g.limit("cool/") is None and g.can_start("cool/")
    for t in other:
        g.finish(t, 0)
    assert g.inflight("cool/") == 0
    # After the hold, a new SlowDown halves again.
    clock.t += 0.2
    g.slowdown(tickets[6])
    assert g.limit("hot/") == 4


def test_halving_goes_down_to_one_and_no_lower() -> None:
    clock = Clock()
    g = PrefixGovernor(128, hold=0.2, clock=clock)
    old = [g.start("p/") for _ in range(4)]
    _throttled(g, old.pop())
    assert g.limit("p/") == 2
    for t in old:
        g.finish(t, 0)
    for _ in range(3):
        clock.t += 1
        _throttled(g, g.start("p/"))
    assert g.limit("p/") == 1  # never below one
    assert g.can_start("p/")


def test_additive_increase_per_window_of_successes_and_forgetting() -> None:
    g = PrefixGovernor(4, clock=Clock())
    t = [g.start("p/"), g.start("p/")]
    _throttled(g, t[0])
    assert g.limit("p/") == 1
    g.finish(t[1], 0)  # one success at limit 1 -> 2
    assert g.limit("p/") == 2
    g.finish(g.start("p/"), 0)
    assert g.limit("p/") == 2
    g.finish(g.start("p/"), 0)  # two successes at limit 2 -> 3
    assert g.limit("p/") == 3
    for _ in range(3):
        g.finish(g.start("p/"), 0)
    # Back at the ceiling with nothing in flight: forgotten, the state stays bounded.
    assert g.limit("p/") is None and "limited={}" in repr(g)


def test_report_dates_the_throttling_with_the_injected_clock() -> None:
    clock = Clock()
    g = PrefixGovernor(64, clock=clock)
    a, b = g.start("hot/"), g.start("hot/")
    _throttled(g, a, 3)
    clock.t += 2.5
    _throttled(g, b, 1)
    assert g.report() == [{"prefix": "hot/", "slowdowns": 4, "decreases": 2, "lowest_limit": 1, "seconds": 2.5}]
    merged = PrefixGovernor(64, clock=clock)
    merged.merge(g.report())
    merged.merge(g.report())
    assert merged.report()[0]["slowdowns"] == 8 and merged.report()[0]["lowest_limit"] == 1


def test_governed_engine_lets_other_prefixes_pass_a_throttled_one() -> None:
    """Hot items are listed before cool ones. The first hot object meets a SlowDown (the work
    bumps THROTTLES as the transport's retry loop does): hot items then wait in the backlog
    without holding window slots, so the first cool item starts while hot ones are still
    queued, and hot objects started after the decrease never exceed the cut limit."""
    hot_started = 0
    hot_queued_at_first_cool: int | None = None
    hot_inflight = 0
    hot_peak_after = 0
    throttled = False

    async def items() -> AsyncIterator[str]:
        for i in range(40):
            yield f"hot/{i}"
        for i in range(10):
            yield f"cool/{i}"

    async def work(item: str) -> str:
        nonlocal throttled, hot_started, hot_queued_at_first_cool, hot_inflight, hot_peak_after
        if item.startswith("cool/"):
            if hot_queued_at_first_cool is None:
                hot_queued_at_first_cool = 40 - hot_started
            return item
        hot_started += 1
        hot_inflight += 1
        if int(item.split("/")[1]) >= 16:  # beyond the first window: started under the cut limit
            hot_peak_after = max(hot_peak_after, hot_inflight)
        try:
            if not throttled:
                throttled = True
                signal = THROTTLES.get()
                assert signal is not None
                signal.bump()
            for _ in range(3):
                await asyncio.sleep(0)  # a request's worth of loop turns, not a wait for anything
            return item
        finally:
            hot_inflight -= 1

    governor = PrefixGovernor(16)

    async def go() -> list[str]:
        async with asyncio.timeout(20):
            out = [r async for r in run_engine(items(), work, window=16, governor=governor,
                                                key=lambda k: prefix_of("", k))]
        assert governor.report()[0]["prefix"] == "hot/" and governor.report()[0]["lowest_limit"] == 8
        return out

    done = asyncio.run(go())
    assert sorted(done) == sorted([f"hot/{i}" for i in range(40)] + [f"cool/{i}" for i in range(10)])
    # A FIFO engine would start every hot item before the first cool one.
    assert hot_queued_at_first_cool is not None and hot_queued_at_first_cool > 0
    # Cut to 8 from the 16 in flight; regrowth is one per 8+ successes, 39 successes in all.
    assert 1 <= hot_peak_after <= 11


def _peak(records: list[Any], keep: Any) -> int:
    """Peak number of requests in flight at once among the PUT records ``keep`` takes."""
    events: list[tuple[int, int]] = []
    for r in records:
        if r.method == "PUT" and keep(r.target):
            events += [(r.arrived, 1), (r.ended, -1)]
    peak = cur = 0
    for _, d in sorted(events):
        cur += d
        peak = max(peak, cur)
    return peak


def test_slowdown_on_one_prefix_cuts_only_its_concurrency(fault_cluster: Any, tmp_path: Path) -> None:
    window = DEFAULT_WINDOW
    src = tmp_path / "src"
    for prefix, n in (("a-hot", window + 40), ("b-cool", 40)):
        (src / prefix).mkdir(parents=True)
        for i in range(n):
            (src / prefix / f"f{i:03d}").write_bytes(b"x" * (100 + i))
    bucket = fault_cluster.make_bucket()
    # Both prefixes answer slowly enough for requests to overlap; the hot one also answers
    # 20% of its PUTs (seeded) with 503 SlowDown, each retried until it succeeds. A fixed
    # --concurrency keeps the client's own tuner out of the picture.
    fault_cluster.add_rule(Rule(respond(503, "SlowDown", "Please reduce your request rate."), method="PUT",
                                path="/a-hot/", probability=0.2, seed=7))
    fault_cluster.add_rule(Rule(latency(0.2), method="PUT"))
    p = cli("cp", "-r", str(src), f"s3://{bucket}/t/", "--json", "--workers", "1", "--concurrency", "32",
            *opts(fault_cluster))
    assert p.returncode == 0, p.stderr.decode()
    summary = json.loads(p.stdout.decode().splitlines()[-1])
    assert summary["objects"] == window + 80 and summary["failed"] == []
    [row] = summary["throttled_prefixes"]
    assert row["prefix"] == "t/a-hot/" and row["slowdowns"] >= 1 and row["decreases"] >= 1
    assert not any(r.status == 503 for r in fault_cluster.requests if "/b-cool/" in r.target)

    def late_hot(target: str) -> bool:
        # The first window of hot objects started together before any 503 came back; the
        # rest started one by one under the prefix's limit.
        m = re.search(r"/a-hot/f(\d+)", target)
        return m is not None and int(m.group(1)) >= window

    hot = _peak(fault_cluster.requests, late_hot)
    cool = _peak(fault_cluster.requests, lambda t: "/b-cool/" in t)
    unthrottled = _peak(fault_cluster.requests, lambda t: "/a-hot/" in t)
    assert cool >= 12 and unthrottled >= 12, (cool, unthrottled)  # both had room to run wide
    assert hot * 3 <= cool, (hot, cool, row)


def test_a_slowdown_after_the_object_ended_is_counted_but_harmless() -> None:
    g = PrefixGovernor(8, clock=Clock())
    t = g.start("p/")
    g.finish(t, 0)  # forgotten: nothing in flight, never throttled
    g.slowdown(t)  # a hedge of that object still on the wire
    assert g.limit("p/") is None and g.report()[0]["slowdowns"] == 1
