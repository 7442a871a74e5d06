# cython: annotation_typing=False
"""The per-request scheduling state: the concurrency slots every request holds, and the
meter's per-window request counters.

Every request takes a slot, tells the meter its in-flight count changed (a clock read and a
time-weighted area), finishes, tells the meter again and releases the slot, which may hand
it to the oldest waiter. In Python that is about eight calls per request on the loop
thread; compiled, it is three C calls with the in-between ones typed C.

This one source is both cores. Run as is, it is the pure twin (``s3fast._py._sched``).
Compiled by Cython with the augmenting ``s3fast/_native/_sched.pxd`` (typed fields, C-level
helpers), it is ``s3fast._native._sched``: the same code, so the two cannot drift; the
differential test (``tests/unit/test_sched_parity.py``) drives both with the same operations.
Only the pieces that run per request live here; the rest of the limiter (the awaiting
``acquire``) and of the meter (closing a window into a ``Sample``) are Python subclasses in
``s3fast/tuning``.
"""
from __future__ import annotations

import collections
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a type only: asyncio is the transfer path's import, not start-up's
    from asyncio import Future
    from collections.abc import Callable

__all__ = ["MeterCore", "SlotCore"]


class SlotCore:
    """A concurrency limit that can change while in use: first come, first served.

    A released slot goes straight to the oldest waiter (counted as taken when granted, so
    a task arriving before the waiter resumes cannot take it too). A smaller limit never
    cancels running work; it stops handing out slots until enough were released
    (``in_flight`` may exceed ``limit`` meanwhile). ``on_change(in_flight)`` is called on
    every change of ``in_flight``.
    """

    def __init__(self, limit: int, on_change: Callable[[int], None] | None = None) -> None:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        self._limit = limit
        self._in_flight = 0
        self._waiters: collections.deque[Future[None]] = collections.deque()
        self._on_change = on_change

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def locked(self) -> bool:
        """True when a new request would have to wait."""
        return self._in_flight >= self._limit or len(self._waiters) > 0

    def try_acquire(self) -> bool:
        """Take a slot if one is free now (no waiting); True if taken."""
        if self._in_flight < self._limit and len(self._waiters) == 0:
            self._set_in_flight(self._in_flight + 1)
            return True
        return False

    def enqueue(self, fut: Future[None]) -> None:
        """Queue ``fut`` for a slot; it gets its result when the slot is granted."""
        self._waiters.append(fut)

    def abandon(self, fut: Future[None]) -> None:
        """The task waiting on ``fut`` was cancelled: a slot already granted to it is
        released (passed on), otherwise it leaves the queue."""
        if fut.done() and not fut.cancelled():
            self.release()
            return
        try:
            self._waiters.remove(fut)
        except ValueError:
            pass  # _wake already popped (and skipped) it

    def release(self) -> None:
        if self._in_flight <= 0:
            raise RuntimeError("ConcurrencyLimiter released more often than acquired")
        self._set_in_flight(self._in_flight - 1)
        if len(self._waiters) > 0:
            self._wake()

    def set_limit(self, limit: int) -> None:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        self._limit = limit
        self._wake()

    def _wake(self) -> None:
        waiters = self._waiters
        while len(waiters) > 0 and self._in_flight < self._limit:
            fut = waiters.popleft()
            if fut.done():  # its task was cancelled and has not run its cleanup yet
                continue
            fut.set_result(None)
            self._set_in_flight(self._in_flight + 1)

    def _set_in_flight(self, n: int) -> None:
        self._in_flight = n
        if self._on_change is not None:
            self._on_change(n)


class MeterCore:
    """One measurement window's counters, fed per request; ``clock`` is injected.

    The hot-path calls are integer and float adds; only :meth:`set_in_flight` reads the
    clock, because the window's concurrency is a time-weighted mean.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        now = clock()
        self._in_flight = 0
        self._peak = 0
        self._reset_window(now)

    def _reset_window(self, now: float) -> None:
        self._t0 = now
        self._bytes = 0
        self._requests = 0
        self._latency_sum = 0.0
        self._latency_n = 0
        self._ttfb_sum = 0.0
        self._ttfb_n = 0
        self._throttled = 0
        self._timeouts = 0
        self._errors = 0
        self._in_flight_area = 0.0
        self._in_flight_since = now
        self._peak = self._in_flight

    def add_bytes(self, n: int) -> None:
        """Count ``n`` bytes of goodput (payload delivered, not retried-away bytes)."""
        self._bytes += n

    def request_done(self, latency_s: float, ttfb_s: float | None = None) -> None:
        """One request completed successfully after ``latency_s`` (first byte after ``ttfb_s``)."""
        self._requests += 1
        self._latency_sum += latency_s
        self._latency_n += 1
        if ttfb_s is not None:
            self._ttfb_sum += ttfb_s
            self._ttfb_n += 1

    def throttled(self) -> None:
        """The server answered 503 SlowDown."""
        self._throttled += 1

    def timeout(self) -> None:
        """A request timed out."""
        self._timeouts += 1

    def error(self) -> None:
        """A request attempt failed for another reason (reset, 5xx other than SlowDown...)."""
        self._errors += 1

    def set_in_flight(self, n: int) -> None:
        """The number of requests in flight changed to ``n``."""
        now: float = self._clock()
        self._in_flight_area += self._in_flight * (now - self._in_flight_since)
        self._in_flight_since = now
        self._in_flight = n
        if n > self._peak:
            self._peak = n

    def _area_until(self, now: float) -> float:
        """The window's in-flight area (request-seconds) up to ``now``."""
        return self._in_flight_area + self._in_flight * (now - self._in_flight_since)
