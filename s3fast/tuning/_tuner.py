"""The tuner: the runtime glue between the engine and the pure controller.

The engine does three things with it::

    async with tuner.limiter:          # one slot per part request
        ...                            # for each chunk moved:
        tuner.meter.add_bytes(n)       #   count it
        await tuner.pace(n)            #   and honour max_gbps (no-op without a cap)
        tuner.meter.request_done(latency_s, ttfb_s)   # or .throttled() / .timeout() / .error()

while ``await tuner.run()`` runs as a task beside the transfers and, every ``window_seconds``,
closes a meter window, steps the controller and resizes the limiter. The limiter reports its
in-flight count to the meter itself, so the engine need not call ``set_in_flight``.
s3fast's client gives the meter a byte source (``meter.set_source``: the bytes that crossed
its sockets) instead of counting chunks, so windows see bytes as they move.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from ..config._tuner import GBPS_TO_BPS as _GBPS_TO_BPS
from ..config._tuner import TunerConfig
from ._controller import Controller, Decision
from ._goal import Goal
from ._limiter import ConcurrencyLimiter, TokenBucket
from ._meter import ThroughputMeter
from ._sample import HistoryPoint

__all__ = ["Tuner", "TunerSnapshot"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TunerSnapshot:
    """The tuner's state at time ``t`` (its clock), for progress displays and logs.

    ``rate_bps`` is the controller's smoothed goodput in bytes/s; ``concurrency`` the current
    limit and ``in_flight`` the requests holding a slot; ``in_flight_bytes`` is whatever the engine
    last told the meter (None if never); ``history_len`` counts the windows recorded.
    """

    t: float
    rate_bps: float
    concurrency: int
    in_flight: int
    in_flight_bytes: int | None
    target_gbps: float
    max_gbps: float | None
    reason: str
    history_len: int
    total_bytes: int

    @property
    def gbps(self) -> float:
        return self.rate_bps / _GBPS_TO_BPS


class Tuner:
    """Owns a :class:`ThroughputMeter`, a :class:`Controller`, a :class:`ConcurrencyLimiter` and,
    when ``goal.max_gbps`` is set, a :class:`TokenBucket`.

    - ``goal`` [10 Gbps, no cap]: the target and cap, from ``TransferConfig`` (see :class:`Goal`).
    - ``memory_cap_concurrency`` [None]: requests whose buffers fit the memory limit.
    - ``clock`` [time.monotonic] / ``sleep`` [asyncio.sleep]: injected so tests run without time.
    - ``on_update`` [None]: called with a :class:`TunerSnapshot` after every window; an exception
      from it is logged, not raised, so a broken progress display cannot stop the tuning.
    - ``history_limit`` [100_000]: windows kept in :attr:`history` (about 7 h at 0.25 s).
    """

    def __init__(
        self,
        config: TunerConfig | None = None,
        *,
        memory_cap_concurrency: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        on_update: Callable[[TunerSnapshot], None] | None = None,
        history_limit: int = 100_000,
        goal: Goal | None = None,
    ) -> None:
        if history_limit < 1:
            raise ValueError("history_limit must be >= 1")
        self._cfg = config if config is not None else TunerConfig()
        self._clock = clock
        self._sleep = sleep
        self._on_update = on_update
        self._meter = ThroughputMeter(clock)
        self._goal = goal if goal is not None else Goal()
        self._controller = Controller(self._cfg, memory_cap_concurrency, goal=self._goal)
        self._limiter = ConcurrencyLimiter(
            self._controller.concurrency, on_change=self._meter.set_in_flight
        )
        max_bps = self._goal.max_bps
        self._bucket = (
            TokenBucket(max_bps, max_bps * self._cfg.cap_burst_seconds, clock=clock, sleep=sleep)
            if max_bps is not None
            else None
        )
        self._history: collections.deque[HistoryPoint] = collections.deque(maxlen=history_limit)
        self._stopped = False
        self._running = False
        self._stop_fut: asyncio.Future[None] | None = None

    # -- parts the engine uses -------------------------------------------------------------

    @property
    def config(self) -> TunerConfig:
        return self._cfg

    @property
    def meter(self) -> ThroughputMeter:
        return self._meter

    @property
    def controller(self) -> Controller:
        return self._controller

    @property
    def limiter(self) -> ConcurrencyLimiter:
        return self._limiter

    @property
    def bucket(self) -> TokenBucket | None:
        """The ``max_gbps`` pacer, None when there is no cap."""
        return self._bucket

    async def pace(self, n: int) -> None:
        """Wait until ``n`` more bytes fit under ``max_gbps``; returns at once without a cap."""
        if self._bucket is not None:
            await self._bucket.consume(n)

    @property
    def history(self) -> list[HistoryPoint]:
        """One (t, rate_bps, concurrency, reason) point per window, oldest first."""
        return list(self._history)

    @property
    def running(self) -> bool:
        return self._running

    def snapshot(self) -> TunerSnapshot:
        return TunerSnapshot(
            t=self._clock(),
            rate_bps=self._controller.rate_bps,
            concurrency=self._limiter.limit,
            in_flight=self._limiter.in_flight,
            in_flight_bytes=self._meter.in_flight_bytes,
            target_gbps=self._goal.target_gbps,
            max_gbps=self._goal.max_gbps,
            reason=self._controller.reason,
            history_len=len(self._history),
            total_bytes=self._meter.total_bytes,
        )

    def __repr__(self) -> str:
        state = "running" if self._running else ("stopped" if self._stopped else "idle")
        return (
            f"<Tuner [{state} concurrency={self._limiter.limit} "
            f"in_flight={self._limiter.in_flight} "
            f"rate={self._controller.rate_bps / _GBPS_TO_BPS:.3g}Gbps "
            f"target={self._goal.effective_target_gbps:g}Gbps reason={self._controller.reason} "
            f"windows={len(self._history)}]>"
        )

    # -- control ---------------------------------------------------------------------------

    def set_memory_cap_concurrency(self, cap: int | None) -> Decision:
        """Apply a new memory cap at once (e.g. after a part-size change)."""
        decision = self._controller.set_memory_cap_concurrency(cap)
        self._limiter.set_limit(decision.concurrency)
        return decision

    def tick(self) -> Decision:
        """Close the current window, step the controller and apply its decision."""
        sample = self._meter.take_sample()
        decision = self._controller.step(sample)
        if decision.concurrency != self._limiter.limit:
            self._limiter.set_limit(decision.concurrency)
        self._history.append(
            HistoryPoint(sample.t1, decision.rate_bps, decision.concurrency, decision.reason)
        )
        if self._on_update is not None:
            try:
                self._on_update(self.snapshot())
            except Exception:
                logger.exception("tuner on_update callback failed")
        return decision

    async def run(self) -> None:
        """Tick every ``window_seconds`` until :meth:`stop` (which ends it without waiting out the
        current window). Returns at once if already stopped; one run at a time."""
        if self._running:
            raise RuntimeError("Tuner.run() is already running")
        if self._stopped:
            return
        self._running = True
        self._stop_fut = asyncio.get_running_loop().create_future()
        window = self._cfg.window_seconds
        try:
            # A new window starts now: the meter's first one may have been open for a while.
            self._meter.take_sample()
            deadline = self._clock() + window
            while not self._stopped:
                delay = deadline - self._clock()
                if delay > 0 and not await self._wait(delay):
                    break
                self.tick()
                deadline += window
                now = self._clock()
                if deadline <= now:
                    # Fell behind (a stalled loop): start afresh rather than tick in a burst.
                    deadline = now + window
        finally:
            self._running = False
            self._stop_fut = None

    def stop(self) -> None:
        """End :meth:`run` (idempotent; safe before it starts)."""
        self._stopped = True
        if self._stop_fut is not None and not self._stop_fut.done():
            self._stop_fut.set_result(None)

    async def _wait(self, delay: float) -> bool:
        """Sleep ``delay`` on the injected sleep; False if stopped meanwhile."""
        stop = self._stop_fut
        assert stop is not None
        sleeper = asyncio.ensure_future(self._sleep(delay))
        try:
            await asyncio.wait((sleeper, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not sleeper.done():
                sleeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sleeper
        if not sleeper.cancelled():
            sleeper.result()  # re-raise a failure of the injected sleep
        return not self._stopped
