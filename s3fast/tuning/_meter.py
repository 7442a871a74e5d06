"""Throughput meter: counts what the engine moves, window by window, on an injected clock."""
from __future__ import annotations

import time
from collections import deque
from typing import Callable

from .._impl import sched_impl
from ._sample import Sample

__all__ = ["ThroughputMeter"]


class ThroughputMeter(sched_impl.MeterCore):
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

    The per-request calls and the window's counters are the compiled core's ``MeterCore``
    (``s3fast/_py/_sched.py``); closing a window and the rolling rate are here.
    """

    __slots__ = ("_span", "_in_flight_bytes", "_closed_bytes", "_recent", "_recent_bytes", "_source",
                 "_source_last")

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, *, display_span_s: float = 2.0
    ) -> None:
        if display_span_s <= 0:
            raise ValueError("display_span_s must be > 0")
        super().__init__(clock)
        self._span = display_span_s
        self._in_flight_bytes: int | None = None
        self._closed_bytes = 0  # bytes of all closed windows
        # (t0, t1, bytes) of recently closed windows, for the rolling display rate
        self._recent: deque[tuple[float, float, int]] = deque()
        self._recent_bytes = 0
        self._source: Callable[[], int] | None = None
        self._source_last = 0

    def set_source(self, source: Callable[[], int] | None) -> None:
        """Count each window's bytes as the growth of ``source()`` (a running total) from now
        on; None goes back to what :meth:`add_bytes` is told."""
        self._source = source
        self._source_last = source() if source is not None else 0
        self._bytes = 0

    def _window_bytes(self) -> int:
        if self._source is None:
            return self._bytes
        return self._source() - self._source_last

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
        area = self._area_until(now)
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
