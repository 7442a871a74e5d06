"""One measurement window (what the meter saw, what the controller decides on); one trace point."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["HistoryPoint", "Sample"]


@dataclass(frozen=True)
class Sample:
    """Counters of one closed measurement window ``[t0, t1)`` (seconds on the meter's clock).

    ``in_flight`` is the *time-weighted mean* number of requests in flight during the window (the
    concurrency actually in effect, which can be lower than the limit when the engine runs out of
    work); ``peak_in_flight`` is its maximum. ``throttled`` counts 503 SlowDown answers,
    ``timeouts`` requests that timed out, ``errors`` other failed attempts. The latency fields are
    means over the requests completed in the window, ``None`` when none reported one.
    """

    t0: float
    t1: float
    bytes: int
    requests_completed: int = 0
    in_flight: float = 0.0
    peak_in_flight: int = 0
    throttled: int = 0
    timeouts: int = 0
    errors: int = 0
    mean_latency_s: float | None = None
    mean_ttfb_s: float | None = None

    @property
    def duration(self) -> float:
        return self.t1 - self.t0

    @property
    def rate_bps(self) -> float:
        """Goodput of the window in bytes per second (0 for an empty or zero-length window)."""
        d = self.t1 - self.t0
        return self.bytes / d if d > 0 else 0.0


class HistoryPoint(NamedTuple):
    """One point of the tuner's trace: end of window ``t``, smoothed goodput (bytes/s), the
    concurrency decided for the next window and why. A plain tuple for plotting."""

    t: float
    rate_bps: float
    concurrency: int
    reason: str
