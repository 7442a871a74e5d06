"""Straggler hedging: the pure policy, and a stalled range finished by a duplicate elsewhere."""
from __future__ import annotations

import asyncio
import os
from types import SimpleNamespace

from e2e_helpers import MiB, SMALL, client_for, run
from support.faultrules import Rule, stall

import s3fast
from s3fast.transfer._hedge import Attempt, HedgeConfig, HedgePolicy, run_hedged


def test_policy_waits_for_samples_then_uses_p95() -> None:
    policy = HedgePolicy(HedgeConfig(factor=3.0, min_seconds=0.5, min_samples=5), total_ranges=100)
    for d in (0.1, 0.2, 0.1, 0.3):
        policy.record(d)
    assert policy.threshold() is None  # 4 samples: not enough to know normal
    policy.record(0.4)
    assert policy.p95() == 0.4
    assert policy.threshold() == 3 * 0.4
    fast = HedgePolicy(HedgeConfig(min_samples=1), 10)
    fast.record(0.01)
    assert fast.threshold() == 0.5  # never below min_seconds


def test_policy_rations_hedges() -> None:
    policy = HedgePolicy(HedgeConfig(max_fraction=0.1), total_ranges=30)
    assert [policy.try_take() for _ in range(4)] == [True, True, True, False]
    assert HedgePolicy(HedgeConfig(), total_ranges=2).budget() == 1
    assert HedgePolicy(HedgeConfig(enabled=False), 10).threshold() is None


def test_request_on_a_slow_ip_is_hedged_outside_the_ration() -> None:
    """A request on an IP the endpoint table demoted as slow is duplicated elsewhere as soon
    as it has run min_seconds, even with no straggler threshold known yet and the ration
    spent: the IP is known to be slow, so waiting for it only makes the tail."""
    policy = HedgePolicy(HedgeConfig(min_seconds=0.0), total_ranges=10, slow_ip=lambda ip: ip == "10.0.0.1")
    assert policy.try_take() and policy.exhausted()
    stats = SimpleNamespace(throttled=0, hedges=0, hedge_wins=0)
    excluded: list[tuple[str, ...]] = []

    async def start(exclude: tuple[str, ...], attempt: Attempt) -> str:
        excluded.append(exclude)
        if not exclude:
            attempt.on_ip("10.0.0.1")
            await asyncio.Event().wait()  # the slow IP never answers in time
        attempt.on_ip("10.0.0.2")
        return "duplicate"

    async def go() -> str:
        return await asyncio.wait_for(run_hedged(policy, start, stats), 10)

    assert run(go()) == "duplicate"
    assert excluded == [(), ("10.0.0.1",)]  # the duplicate avoids the slow IP
    assert (stats.hedges, stats.hedge_wins, policy.slow_hedges, policy.hedges) == (1, 1, 1, 1)


def test_slow_ip_check_waits_min_seconds_and_needs_a_verdict() -> None:
    attempt = Attempt()
    attempt.ip, attempt.since, attempt.probe = "10.0.0.1", 100.0, True
    slow = HedgePolicy(HedgeConfig(min_seconds=0.5), 10, slow_ip=lambda ip: True)
    assert not slow.leave_slow_ip(attempt, 100.4)  # a probe gets min_seconds to show it recovered
    assert slow.leave_slow_ip(attempt, 100.5)
    assert not HedgePolicy(HedgeConfig(min_seconds=0.5), 10, slow_ip=lambda ip: False).leave_slow_ip(attempt, 200.0)
    assert not HedgePolicy(HedgeConfig(min_seconds=0.5), 10).leave_slow_ip(attempt, 200.0)
    assert not slow.leave_slow_ip(Attempt(), 200.0)  # not running yet


def test_a_request_on_an_ip_demoted_after_it_started_is_hedged_at_once() -> None:
    """The requests an IP held when it was judged slow are that slowness: waiting
    ``min_seconds`` more, as a probe does, would only keep their slots crawling."""
    demoted: set[str] = set()
    policy = HedgePolicy(HedgeConfig(min_seconds=0.5), 10, slow_ip=lambda ip: ip in demoted)
    held, probe = Attempt(policy.slow_ip), Attempt(policy.slow_ip)
    held.since = probe.since = 100.0
    held.ip = "10.0.0.1"  # got there while it was healthy (on_ip needs a running loop for since)
    held.probe = False
    assert not policy.leave_slow_ip(held, 100.1)
    demoted.add("10.0.0.1")
    probe.ip = "10.0.0.1"
    probe.probe = True  # got there after the demotion: one of its probes
    assert policy.leave_slow_ip(held, 100.1)
    assert not policy.leave_slow_ip(probe, 100.1) and policy.leave_slow_ip(probe, 100.5)


def test_attempt_knows_whether_it_went_to_an_ip_already_slow() -> None:
    demoted = {"10.0.0.2"}

    async def go() -> tuple[bool, bool]:
        a, b = Attempt(lambda ip: ip in demoted), Attempt(lambda ip: ip in demoted)
        a.on_ip("10.0.0.1")
        b.on_ip("10.0.0.2")
        return a.probe, b.probe

    assert asyncio.run(go()) == (False, True)


def test_stalled_range_is_hedged_on_another_ip(fault_cluster) -> None:
    bucket = fault_cluster.moto.make_bucket()
    data = os.urandom(40 * MiB)
    fault_cluster.moto.boto3_client().put_object(Bucket=bucket, Key="big", Body=data, ChecksumAlgorithm="CRC64NVME")
    # The 4th GET (a ranged GET, after the first plain GET and two ranges) stalls for far
    # longer than the idle timeout allows to wait: only a hedge can finish it in time.
    rule = fault_cluster.add_rule(Rule(stall(64 * 1024, 60.0), method="GET", path=r"/big", nth=4))
    cfg = SMALL.replace(
        max_concurrency=2,
        timeouts=s3fast.Timeouts(idle=60.0, first_byte=60.0, low_speed_bytes_per_s=1, low_speed_seconds=60.0),
        hedge=HedgeConfig(min_samples=2, min_seconds=0.3),
    )

    async def go() -> int:
        async with client_for(fault_cluster, cfg) as c:
            buf = bytearray()
            res = await c.download(f"s3://{bucket}/big", buf)
            assert buf == data and res.checksum_verified
            # At least the stalled range was hedged, and won. Not "exactly one": with a
            # 0.3 s trigger, a healthy range slowed by a loaded machine may be hedged too.
            assert c.stats.hedges >= 1 and c.stats.hedge_wins >= 1
            assert c.stats.retries == 0  # the stall was never waited out
            return c.stats.hedges

    hedges = run(go())
    assert rule.fired == 1
    # The stalled exchange is recorded once the proxy sees the cancelled loser go away, which
    # may be just after the download returned.
    records = fault_cluster.wait_for_requests(lambda rs: any(r.rule == rule.name for r in rs))
    stalled = [r for r in records if r.rule == rule.name]
    assert len(stalled) == 1 and stalled[0].outcome in ("stalled", "client_gone")
    gets = [r for r in records if r.method == "GET"]
    assert len(gets) == 1 + 7 + hedges  # first GET, seven ranges, their hedges
    # The duplicate went to another IP than the stalled request.
    later = [r for r in gets if r.seq > stalled[0].seq or r.conn_id != stalled[0].conn_id]
    assert any(r.proxy != stalled[0].proxy for r in later)


def test_straggling_upload_part_is_hedged(fault_cluster) -> None:
    from support.faultrules import latency

    bucket = fault_cluster.moto.make_bucket()
    data = os.urandom(40 * MiB)
    # The 4th UploadPart's answer comes only after 30 s (the first-byte timeout is 60 s).
    rule = fault_cluster.add_rule(Rule(latency(30.0), method="PUT", path=r"partNumber=", nth=4))
    cfg = SMALL.replace(
        max_concurrency=2,
        timeouts=s3fast.Timeouts(idle=60.0, first_byte=60.0, low_speed_bytes_per_s=1, low_speed_seconds=60.0),
        hedge=HedgeConfig(min_samples=2, min_seconds=0.3),
    )

    async def go() -> None:
        async with client_for(fault_cluster, cfg) as c:
            res = await c.put_bytes(f"s3://{bucket}/up", data)
            assert res.parts == 8
            # At least the late part was hedged and won (a healthy part slowed past the 0.3 s
            # trigger by a loaded machine may be hedged too); nothing waited for the answer.
            assert c.stats.hedges >= 1 and c.stats.hedge_wins >= 1 and c.stats.retries == 0
            assert await c.get_bytes(f"s3://{bucket}/up") == data

    run(go())
    assert rule.fired == 1
    assert fault_cluster.moto.list_multipart_uploads(bucket) == []
