"""Straggler hedging, the decision half (pure): when does a range deserve a duplicate?

One slow connection must not hold a whole transfer at 99%. Once enough ranges of a
transfer have finished to know what normal looks like, a range still running after
``factor`` x the running p95 of finished ranges (and at least ``min_seconds``) gets a
second request on another IP/connection; the first to finish wins and the other is
cancelled. Hedges are rationed (``max_fraction`` of the ranges) so a uniformly slow
service is not answered with double the load.
"""
from __future__ import annotations

import asyncio
import bisect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..config._hedge import HedgeConfig

T = TypeVar("T")


class HedgePolicy:
    """Per transfer: durations of finished ranges, and the hedge ration.

    ``slow_ip(ip)`` (optional) says whether the endpoint table has demoted ``ip`` as slow.
    A request on such an IP that has run ``min_seconds`` is hedged at once, without waiting
    for the straggler threshold and outside the ration: the table compared the IP with its
    peers, so this is not the uniformly slow service the ration guards against, and the
    requests on it are bounded by those it held when demoted (plus its rare probes).
    """

    def __init__(self, config: HedgeConfig, total_ranges: int,
                 slow_ip: Callable[[str], bool] | None = None) -> None:
        self.config = config
        self.total = total_ranges
        self.slow_ip = slow_ip
        self._durations: list[float] = []
        self.hedges = 0
        self.slow_hedges = 0

    def __repr__(self) -> str:
        return (f"<HedgePolicy samples={len(self._durations)} threshold={self.threshold()} "
                f"hedges={self.hedges}/{self.budget()}>")

    def record(self, seconds: float) -> None:
        bisect.insort(self._durations, seconds)

    def p95(self) -> float | None:
        n = len(self._durations)
        if n == 0:
            return None
        return self._durations[min(n - 1, int(0.95 * n))]

    def threshold(self) -> float | None:
        """Seconds after which a running range is a straggler; None while unknown or disabled."""
        cfg = self.config
        if not cfg.enabled or len(self._durations) < cfg.min_samples:
            return None
        p95 = self.p95()
        assert p95 is not None
        return max(cfg.min_seconds, cfg.factor * p95)

    def budget(self) -> int:
        return max(1, int(self.config.max_fraction * self.total))

    def exhausted(self) -> bool:
        return self.hedges >= self.budget()

    def try_take(self) -> bool:
        """Take one hedge from the ration; False when it is used up."""
        if self.exhausted():
            return False
        self.hedges += 1
        return True

    def on_slow_ip(self, attempt: Attempt, now: float) -> bool:
        """``attempt`` runs on an IP demoted as slow: at once if the IP was demoted after the
        request started there (that slowness is what was judged), else once it has run
        ``min_seconds`` (it is a probe, and gets that long to show the IP recovered)."""
        if self.slow_ip is None or attempt.ip is None or attempt.since is None:
            return False
        if not self.slow_ip(attempt.ip):
            return False
        return not attempt.probe or now - attempt.since >= self.config.min_seconds


class Attempt:
    """Where and since when one racer's request runs (set once it holds a connection)."""

    __slots__ = ("ip", "since", "retries", "probe", "_slow_ip")

    def __init__(self, slow_ip: Callable[[str], bool] | None = None) -> None:
        self.ip: str | None = None
        self.since: float | None = None
        self.retries = 0
        #: its IP was already demoted as slow when it got there (so it is one of the IP's
        #: probes), as told by ``slow_ip``
        self.probe = False
        self._slow_ip = slow_ip

    def on_retry(self, error: BaseException) -> None:
        self.retries += 1

    def on_ip(self, ip: str) -> None:
        self.ip = ip
        self.probe = self._slow_ip is not None and self._slow_ip(ip)
        if self.since is None:
            self.since = asyncio.get_running_loop().time()


async def run_hedged(
    policy: HedgePolicy | None,
    start: Callable[[tuple[str, ...], Attempt], Awaitable[T]],
    stats: Any,
) -> T:
    """Run ``start((), attempt)``; if it straggles past the policy's threshold (counted from
    when it got a connection, not from when it was queued), also run ``start((its_ip,), ...)``,
    a duplicate that avoids the first one's IP, and return whichever succeeds first,
    cancelling the other."""
    loop = asyncio.get_running_loop()
    throttled_at_start = stats.throttled
    slow_ip = policy.slow_ip if policy is not None else None
    first = Attempt(slow_ip)
    primary = asyncio.ensure_future(start((), first))
    racers: list[asyncio.Future[T]] = [primary]
    try:
        while policy is not None and policy.config.enabled:
            threshold = policy.threshold()
            since = first.since
            # Until the request runs and enough others finished to know what normal is (or
            # once the ration is spent), look again every 0.25 s; and as often while its IP
            # may be demoted meanwhile.
            if threshold is None or since is None or policy.exhausted():
                if policy.exhausted() and policy.slow_ip is None:
                    break
                wait = 0.25
            else:
                wait = max(0.0, since + threshold - loop.time())
                if policy.slow_ip is not None:
                    wait = min(wait, 0.25)
            done, _ = await asyncio.wait((primary,), timeout=wait)
            if done:
                break
            since = first.since
            # A request that is being retried is slow for a known reason, and one slowed by
            # throttling must not be answered with more load: neither is hedged.
            if first.retries or stats.throttled > throttled_at_start:
                continue
            now = loop.time()
            if policy.on_slow_ip(first, now):
                policy.slow_hedges += 1
            elif threshold is not None and since is not None and now - since >= threshold:
                if not policy.try_take():
                    continue
            else:
                continue
            stats.hedges += 1
            second = asyncio.ensure_future(start((first.ip,) if first.ip else (), Attempt(slow_ip)))
            racers.append(second)
            result = await _first_success(racers)
            if second.done() and not second.cancelled() and second.exception() is None \
                    and second.result() is result:
                stats.hedge_wins += 1
            return result
        return await primary
    finally:
        for r in racers:
            if not r.done():
                r.cancel()
        await asyncio.gather(*racers, return_exceptions=True)
        if policy is not None and first.since is not None:
            policy.record(loop.time() - first.since)


async def _first_success(racers: list[asyncio.Future[T]]) -> T:
    pending = set(racers)
    error: BaseException | None = None
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if t.exception() is None:
                return t.result()
            error = error or t.exception()
    assert error is not None
    raise error
