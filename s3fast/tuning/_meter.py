"""Throughput meter: counts what the engine moves, window by window, on an injected clock."""
from __future__ import annotations

import time
from collections import deque
from typing import Callable

from ._sample import Sample

__all__ = ["ThroughputMeter"]


class ThroughputMeter:
    """Accumulates one measurement window at a time; :meth:`take_sample` closes it.

    The hot-path calls (:meth:`add_bytes` per received or sent chunk, the counters per request) are
    plain integer adds with no clock read. With a byte *source* (:meth:`set_source`: a callable
    returning a running total, such as the bytes that crossed the sockets), windows count the
    source's growth instead of what :meth:`add_bytes` was told: the engine reports a memory
    download per slice and an upload per part, which at a few MB/s per connection leaves most
    0.25 s windows empty and the rest full, and that quantisation noise kept the controller from
    telling N from N+1 requests apart. :meth:`set_in_flight` reads the clock, because the
    window's concurrency is a time-weighted mean; it is called once per request start and end.

    ``display_span_s`` [2.0] is the span of the rolling rate :meth:`rate_bps` shows.
    """

    __slots__ = (
        "_clock", "_span", "_t0", "_bytes", "_requests", "_latency_sum", "_latency_n",
        "_ttfb_sum", "_ttfb_n", "_throttled", "_timeouts", "_errors", "_in_flight",
        "_in_flight_since", "_in_flight_area", "_peak", "_in_flight_bytes", "_closed_bytes",
        "_recent", "_recent_bytes", "_source", "_source_last",
    )

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, *, display_span_s: float = 2.0
    ) -> None:
        if display_span_s <= 0:
            raise ValueError("display_span_s must be > 0")
        self._clock = clock
        self._span = display_span_s
        now = clock()
        self._t0 = now
        self._in_flight = 0
        self._in_flight_since = now
        self._in_flight_bytes: int | None = None
        self._closed_bytes = 0  # bytes of all closed windows
        # (t0, t1, bytes) of recently closed windows, for the rolling display rate
        self._recent: deque[tuple[float, float, int]] = deque()
        self._recent_bytes = 0
        self._source: Callable[[], int] | None = None
        self._source_last = 0
        self._reset_window(now)

    def set_source(self, source: Callable[[], int] | None) -> None:
        """Count each window's bytes as the growth of ``source()`` (a running total) from now
        on; None goes back to what :meth:`add_bytes` is told."""
        self._source = source
        self._source_last = source() if source is not None else 0
        self._bytes = 0

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

    # -- hot path --------------------------------------------------------------------------

    def add_bytes(self, n: int) -> None:
        """Count ``n`` bytes of goodput (payload delivered, not retried-away bytes); ignored
        for windows while a source is set."""
        self._bytes += n

    def _window_bytes(self) -> int:
        if self._source is None:
            return self._bytes
        return self._source() - self._source_last

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
        now = self._clock()
        self._in_flight_area += self._in_flight * (now - self._in_flight_since)
        self._in_flight_since = now
        self._in_flight = n
        if n > self._peak:
            self._peak = n

    def set_in_flight_bytes(self, n: int) -> None:
        """Bytes held by in-flight requests (buffers), for display only."""
        self._in_flight_bytes = n

    # -- reading ---------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def in_flight_bytes(self) -> int | None:
        """Last value given to :meth:`set_in_flight_bytes`, None if never told."""
        return self._in_flight_bytes

    @property
    def total_bytes(self) -> int:
        """All bytes counted since the meter was created."""
        return self._closed_bytes + self._window_bytes()

    def take_sample(self) -> Sample:
        """Close the current window, return its :class:`Sample` and start the next one."""
        now = self._clock()
        t0 = self._t0
        duration = now - t0
        area = self._in_flight_area + self._in_flight * (now - self._in_flight_since)
        mean_in_flight = area / duration if duration > 0 else float(self._in_flight)
        if self._source is None:
            nbytes = self._bytes
        else:
            total = self._source()
            nbytes = total - self._source_last
            self._source_last = total
        sample = Sample(
            t0=t0,
            t1=now,
            bytes=nbytes,
            requests_completed=self._requests,
            in_flight=mean_in_flight,
            peak_in_flight=self._peak,
            throttled=self._throttled,
            timeouts=self._timeouts,
            errors=self._errors,
            mean_latency_s=self._latency_sum / self._latency_n if self._latency_n else None,
            mean_ttfb_s=self._ttfb_sum / self._ttfb_n if self._ttfb_n else None,
        )
        self._closed_bytes += nbytes
        self._recent.append((t0, now, nbytes))
        self._recent_bytes += nbytes
        self._forget_before(now - self._span)
        self._reset_window(now)
        return sample

    def rate_bps(self) -> float:
        """Rolling goodput over about the last ``display_span_s`` seconds, bytes/s."""
        now = self._clock()
        self._forget_before(now - self._span)
        start = self._recent[0][0] if self._recent else self._t0
        elapsed = now - start
        if elapsed <= 0:
            return 0.0
        return (self._recent_bytes + self._window_bytes()) / elapsed

    def _forget_before(self, horizon: float) -> None:
        recent = self._recent
        while recent and recent[0][1] <= horizon:
            self._recent_bytes -= recent.popleft()[2]

    def __repr__(self) -> str:
        return (
            f"<ThroughputMeter [window={self._clock() - self._t0:.3f}s bytes={self._window_bytes()} "
            f"requests={self._requests} in_flight={self._in_flight} throttled={self._throttled} "
            f"timeouts={self._timeouts} errors={self._errors} total={self.total_bytes}]>"
        )
