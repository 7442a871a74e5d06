"""One IP's record in an :class:`~s3fast.net._endpoints.EndpointTable`: its counters,
its health state and the requests now running on it.

Why a module of its own: the table's job is choosing among IPs (DNS harvest, picking,
the transitions between states); what one IP knows about itself -- whether it takes new
connections, whether its probe is due, how fast its running requests move -- needs no
other IP and no I/O, and reads best on its own. Only the table mutates a record.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from ._endpoint_config import IPState, IPStats
from ._goodput import median

__all__ = ["FAILURE_WEIGHTS", "InFlight", "IPRecord", "Progress"]

FAILURE_WEIGHTS: dict[str, float | None] = {
    # None means "use EndpointConfig.connect_failure_weight".
    "connect": None,
    "reset": 1.0,
    "connection": 1.0,
    "protocol": 1.0,
    "timeout": 1.0,
    "server": 1.0,
    "transient": 1.0,
    "throttle": 0.0,
    "clock_skew": 0.0,
    "fatal": 0.0,
    "integrity": 0.0,
}


class Progress(Protocol):
    """What a running request's bytes are read from (a connection counts them as they move)."""

    @property
    def moved_bytes(self) -> int: ...


@dataclass(slots=True, eq=False)
class InFlight:
    """A request running on ``ip`` since ``started`` (the table's clock), answered (its
    response head arrived) at ``answered``: its bytes so far are ``progress.moved_bytes - base``."""

    ip: str
    progress: Progress
    base: int
    started: float
    answered: float | None = None

    def rate(self, now: float) -> float | None:
        """Bytes per second since the answer; None before it. The wait for the answer is
        left out: a server that is slow to *start* a response (busy, or serving requests
        one after another) is no slow path, and a silent IP is the first-byte timeout's
        business. An upload's answer comes after its body, so only a response body being
        received is ever judged this way."""
        if self.answered is None:
            return None
        elapsed = now - self.answered
        return max(0, self.progress.moved_bytes - self.base) / elapsed if elapsed > 0 else 0.0


@dataclass(slots=True, eq=False)
class IPRecord:
    """Mutable per-IP record; only the table touches it."""

    ip: str
    expires_at: float
    connections: int = 0
    requests: int = 0
    bytes: int = 0
    errors: int = 0
    quarantines: int = 0
    failure_score: float = 0.0
    quarantined: bool = False
    quarantine_until: float = 0.0
    level: int = 0  # exponent of the next re-probe delay
    probe_in_flight: bool = False
    healthy_since: float = 0.0
    last_pick: int = -1  # sequence number of the last pick(); -1 = never
    ema: float | None = None  # throughput EMA, bytes/s
    samples: int = 0
    # recent per-request goodput, bytes/s (since the last demotion, while slow)
    goodput: deque[float] = field(default_factory=deque)
    slow: bool = False
    slow_level: int = 0  # exponent of the next slow re-probe delay
    slow_probe_at: float = 0.0
    demoted_at: float = 0.0
    demotions: int = 0
    running: set[InFlight] = field(default_factory=set)

    def state(self, now: float) -> IPState:
        if self.quarantined:
            return "quarantined" if now < self.quarantine_until else "probing"
        return "slow" if self.slow else "healthy"

    def probe_due(self, now: float) -> bool:
        if self.quarantined:
            return now >= self.quarantine_until and not self.probe_in_flight
        # A slow IP's probe needs no verdict to free a slot: it gets one new
        # connection per re-probe delay, however its earlier ones ended.
        return self.slow and now >= self.slow_probe_at

    def usable(self) -> bool:
        """Takes ordinary new connections."""
        return not self.quarantined and not self.slow

    def fresh(self, now: float) -> bool:
        return self.expires_at > now

    def in_use(self) -> bool:
        return self.connections > 0 or self.probe_in_flight

    def running_rates(self, now: float, min_seconds: float) -> list[float]:
        """Rates of the requests on this IP answered at least ``min_seconds`` ago: a
        younger body has not streamed long enough to tell the path from a hiccup."""
        rates = []
        for r in self.running:
            if r.answered is not None and now - r.answered >= min_seconds:
                rate = r.rate(now)
                if rate is not None:
                    rates.append(rate)
        return rates

    def add_sample(self, rate: float, alpha: float, window: int) -> None:
        """One goodput sample (bytes/s): into the EMA shown in stats and the window judged."""
        self.ema = rate if self.ema is None else alpha * rate + (1 - alpha) * self.ema
        self.samples += 1
        self.goodput.append(rate)
        while len(self.goodput) > window:
            self.goodput.popleft()

    def snapshot(self, now: float, min_samples: int) -> IPStats:
        return IPStats(
            ip=self.ip,
            state=self.state(now),
            connections=self.connections,
            requests=self.requests,
            bytes=self.bytes,
            errors=self.errors,
            quarantines=self.quarantines,
            throughput=self.ema,
            samples=self.samples,
            quarantine_remaining=max(0.0, self.quarantine_until - now) if self.quarantined else 0.0,
            fresh=self.fresh(now),
            goodput=median(list(self.goodput)) if len(self.goodput) >= min_samples else None,
            demotions=self.demotions,
        )
