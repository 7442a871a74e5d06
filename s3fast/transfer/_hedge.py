"""Straggler hedging, the decision half (pure): when does a range deserve a duplicate?

One slow connection must not hold a whole transfer at 99%. Once enough ranges of a
transfer have finished to know what normal looks like, a range still running after
``factor`` x the running p95 of finished ranges (and at least ``min_seconds``) gets a
second request on another IP/connection; the first to finish wins and the other is
cancelled. Hedges are rationed (``max_fraction`` of the ranges) so a uniformly slow
service is not answered with double the load.

A request on an IP the endpoint table demoted as slow is not raced but *moved* when the
caller can resume it (a download's range): it is cancelled and its range continues on
another IP from the last byte received. A race would leave it crawling in its concurrency
slot while the duplicate waits in the queue for another one (every slot is busy in a
transfer that keeps them full), and the bytes it had moved would be fetched again. Uploads
(a part is sent whole) still race.
"""
from __future__ import annotations

import asyncio
import bisect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..config._hedge import HedgeConfig

T = TypeVar("T")

#: How often a running request looks again at whether its IP was demoted meanwhile, or the
#: straggler threshold became known.
LOOK_AGAIN = 0.25
#: Moves of one range at most: each move keeps the bytes received, but when every IP left
#: is slow, moving again only churns connections.
MAX_MOVES = 2


class HedgePolicy:
    """Per transfer: durations of finished ranges, the hedge ration, and whether every range
    has started (the tail).

    ``slow_ip(ip)`` (optional) says whether the endpoint table has demoted ``ip`` as slow.
    A request on such an IP leaves it (moved, or hedged) without waiting for the straggler
    threshold and outside the ration: the table compared the IP with its peers, so this is
    not the uniformly slow service the ration guards against, and the requests on it are
    bounded by those it held when demoted (plus its rare probes). See :meth:`leave_slow_ip`.
    """

    def __init__(self, config: HedgeConfig, total_ranges: int,
                 slow_ip: Callable[[str], bool] | None = None) -> None:
        self.config = config
        self.total = total_ranges
        self.slow_ip = slow_ip
        self._durations: list[float] = []
        self.hedges = 0
        self.slow_hedges = 0
        self.moves = 0
        self._connected = 0
        self._tail: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return (f"<HedgePolicy samples={len(self._durations)} threshold={self.threshold()} "
                f"hedges={self.hedges}/{self.budget()} moves={self.moves} "
                f"connected={self._connected}/{self.total}>")

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

    # -- the tail -------------------------------------------------------------------------
    def range_connected(self) -> None:
        """One more range's first request holds a connection (so it got its concurrency slot)."""
        self._connected += 1
        tail = self._tail
        if self.in_tail() and tail is not None and not tail.done():
            tail.set_result(None)

    def in_tail(self) -> bool:
        """Every range has started: no range waits for a slot any more, so a request left
        on a slow IP can only make the end of the transfer."""
        return self._connected >= self.total

    def tail(self) -> asyncio.Future[None]:
        """Done once the transfer is in its tail (for a running request to wait on)."""
        if self._tail is None:
            self._tail = asyncio.get_running_loop().create_future()
            if self.in_tail():
                self._tail.set_result(None)
        return self._tail

    def next_look(self, attempt: Attempt, now: float) -> float:
        """Seconds until ``attempt``'s request is worth a look again: when it passes the
        straggler threshold, when a probe has run ``min_seconds``; and at most
        :data:`LOOK_AGAIN` while that is unknown (the request not running, too few ranges
        finished, the ration spent) or while its IP may be demoted meanwhile."""
        since = attempt.since
        if since is None:
            return LOOK_AGAIN
        wait = LOOK_AGAIN
        threshold = self.threshold()
        if threshold is not None and not self.exhausted():
            due = max(0.0, since + threshold - now)
            wait = due if self.slow_ip is None else min(due, LOOK_AGAIN)
        if attempt.probe:
            due = since + self.config.min_seconds - now
            if due > 0:
                wait = min(wait, due)
        return wait

    # -- slow IPs ---------------------------------------------------------------------------
    def leave_slow_ip(self, attempt: Attempt, now: float) -> bool:
        """``attempt`` runs on an IP demoted as slow: should it leave?

        - at once if the IP was demoted after the request started there (that slowness is
          what was judged);
        - at once in the tail: a probe is worth a slot while ranges wait for slots, but once
          none does, a range left on a slow IP would be the last one to finish;
        - otherwise (a probe: it got there when the IP was already slow) once it has run
          ``min_seconds``, long enough to show whether the IP recovered.
        """
        if self.slow_ip is None or attempt.ip is None or attempt.since is None:
            return False
        if not self.slow_ip(attempt.ip):
            return False
        return not attempt.probe or self.in_tail() or now - attempt.since >= self.config.min_seconds


class Attempt:
    """Where and since when one racer's request runs (set once it holds a connection)."""

    __slots__ = ("ip", "since", "retries", "probe", "_slow_ip", "_on_start")

    def __init__(self, slow_ip: Callable[[str], bool] | None = None,
                 on_start: Callable[[], None] | None = None) -> None:
        self.ip: str | None = None
        self.since: float | None = None
        self.retries = 0
        #: its IP was already demoted as slow when it got there (so it is one of the IP's
        #: probes), as told by ``slow_ip``
        self.probe = False
        self._slow_ip = slow_ip
        #: called once, when it first holds a connection
        self._on_start = on_start

    def on_retry(self, error: BaseException) -> None:
        self.retries += 1

    def on_ip(self, ip: str) -> None:
        self.ip = ip
        self.probe = self._slow_ip is not None and self._slow_ip(ip)
        if self.since is None:
            self.since = asyncio.get_running_loop().time()
            if self._on_start is not None:
                self._on_start()


#: resume(moved, exclude, attempt): carry on ``moved``'s work (a range from its last byte
#: received) in a new request that avoids ``exclude``, reporting to ``attempt``.
Resume = Callable[[Attempt, tuple[str, ...], Attempt], Awaitable[T]]


async def run_hedged(
    policy: HedgePolicy | None,
    start: Callable[[tuple[str, ...], Attempt], Awaitable[T]],
    stats: Any,
    resume: Resume[T] | None = None,
) -> T:
    """Run ``start((), attempt)``; if it straggles past the policy's threshold (counted from
    when it got a connection, not from when it was queued), also run ``start((its_ip,), ...)``,
    a duplicate that avoids the first one's IP, and return whichever succeeds first,
    cancelling the other.

    If its IP is demoted as slow (see :meth:`HedgePolicy.leave_slow_ip`) and ``resume`` is
    given, it is cancelled instead and ``resume`` carries on from where it stopped, on
    another IP; that request is watched the same way (moved at most :data:`MAX_MOVES` times).
    """
    loop = asyncio.get_running_loop()
    throttled_at_start = stats.throttled
    slow_ip = policy.slow_ip if policy is not None else None
    origin = first = Attempt(slow_ip, policy.range_connected if policy is not None else None)
    primary = asyncio.ensure_future(start((), first))
    racers: list[asyncio.Future[T]] = [primary]
    moves = 0
    idle = False  # the last look had to leave an overdue request alone
    try:
        while policy is not None and policy.config.enabled:
            if policy.exhausted() and policy.slow_ip is None:
                break  # nothing left to decide
            wait = policy.next_look(first, loop.time())
            if idle:
                # retried or throttled, perhaps overdue: look again later, not in a spin
                wait = max(wait, LOOK_AGAIN)
            # The tail's start wakes every request at once (see leave_slow_ip).
            waits: set[asyncio.Future[Any]] = {primary}
            if policy.slow_ip is not None and not policy.in_tail():
                waits.add(policy.tail())
            await asyncio.wait(waits, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            if primary.done():
                break
            idle = False
            threshold = policy.threshold()
            since = first.since
            # A request that is being retried is slow for a known reason, and one slowed by
            # throttling must not be answered with more load: neither is hedged.
            if first.retries or stats.throttled > throttled_at_start:
                idle = True
                continue
            now = loop.time()
            if policy.leave_slow_ip(first, now):
                policy.slow_hedges += 1
                gone = first.ip
                if resume is not None and moves < MAX_MOVES and gone is not None:
                    primary.cancel()
                    await asyncio.wait((primary,))
                    if not primary.cancelled():
                        break  # it ended before the cancel took: that is its outcome
                    racers.remove(primary)
                    moved, first = first, Attempt(slow_ip)
                    primary = asyncio.ensure_future(resume(moved, (gone,), first))
                    racers.append(primary)
                    moves += 1
                    policy.moves += 1
                    stats.hedges += 1
                    stats.moves += 1
                    continue
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
        if policy is not None and origin.since is not None:
            policy.record(loop.time() - origin.since)


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
