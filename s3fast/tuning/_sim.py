"""Simulation helpers: a link model for the controller, and an asyncio loop running on virtual time.

Used by the tuning tests and by the benchmarks' convergence plots; nothing here touches the network.

- :class:`SimulatedLink` turns a concurrency into a :class:`Sample`: goodput grows linearly with
  the number of requests until the link saturates, can fall beyond that (CPU thrash), and the
  "server" can answer 503 SlowDown or time out above given concurrencies.
- :func:`simulate_controller` drives a :class:`Controller` against such a link, window by window,
  and returns the trace to plot.
- :class:`VirtualTimeLoop` / :func:`run_virtual` run ordinary asyncio code (``asyncio.sleep``,
  timeouts, the :class:`Tuner` loop) on a clock that jumps to the next timer instead of waiting, so
  a simulated minute takes milliseconds and every run is deterministic.
"""
from __future__ import annotations

import asyncio
import random
import selectors
from dataclasses import dataclass, field
from typing import Any, Coroutine, Mapping, TypeVar

from ..config._tuner import GBPS_TO_BPS as _GBPS_TO_BPS
from ._controller import Controller
from ._sample import HistoryPoint, Sample

__all__ = ["SimulatedLink", "VirtualTimeLoop", "run_virtual", "simulate_controller"]

_T = TypeVar("_T")


@dataclass
class SimulatedLink:
    """A toy model of goodput against concurrency (rates in bytes/s).

    ``rate(n) = min(n x per_connection_bps, link_bps)``, minus ``overload_per_request`` of the
    link rate for every request beyond the saturation point (models CPU or server contention),
    times ``1 + gauss(0, noise)`` per window (seeded, reproducible). Above ``throttle_above``
    requests every window carries ``n - throttle_above`` 503 answers; above ``timeout_above``,
    ``n - timeout_above`` timeouts. Fields may be changed between windows to model a changing link.
    """

    per_connection_bps: float
    link_bps: float
    overload_per_request: float = 0.0
    throttle_above: int | None = None
    timeout_above: int | None = None
    noise: float = 0.0
    part_size: int = 8 * 1024 * 1024
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @classmethod
    def from_gbps(
        cls, per_connection_gbps: float, link_gbps: float, **kwargs: Any
    ) -> SimulatedLink:
        return cls(per_connection_gbps * _GBPS_TO_BPS, link_gbps * _GBPS_TO_BPS, **kwargs)

    @property
    def saturation_concurrency(self) -> float:
        """The concurrency at which the link fills up."""
        return self.link_bps / self.per_connection_bps

    def rate_bps(self, n: float) -> float:
        """Noise-free goodput with ``n`` requests in flight."""
        if n <= 0:
            return 0.0
        rate = min(n * self.per_connection_bps, self.link_bps)
        excess = n - self.saturation_concurrency
        if excess > 0 and self.overload_per_request > 0:
            rate *= max(0.0, 1.0 - self.overload_per_request * excess)
        return rate

    def sample(self, n: int, t0: float, t1: float, *, in_flight: float | None = None) -> Sample:
        """The window ``[t0, t1)`` with ``n`` requests allowed (``in_flight`` busy, default n)."""
        busy = float(n) if in_flight is None else in_flight
        duration = t1 - t0
        rate = self.rate_bps(busy)
        if self.noise > 0:
            rate *= max(0.0, 1.0 + self._rng.gauss(0.0, self.noise))
        nbytes = int(rate * duration)
        throttled = max(0, n - self.throttle_above) if self.throttle_above is not None else 0
        timeouts = max(0, n - self.timeout_above) if self.timeout_above is not None else 0
        return Sample(
            t0=t0,
            t1=t1,
            bytes=nbytes,
            requests_completed=nbytes // self.part_size,
            in_flight=busy,
            peak_in_flight=max(0, int(round(busy))),
            throttled=throttled,
            timeouts=timeouts,
        )


def simulate_controller(
    controller: Controller,
    link: SimulatedLink,
    windows: int,
    *,
    start: float = 0.0,
    window_seconds: float | None = None,
    events: Mapping[int, Mapping[str, Any]] | None = None,
) -> list[HistoryPoint]:
    """Run ``windows`` measurement windows of ``controller`` against ``link``.

    ``events`` maps a window index to link fields to change before that window, e.g.
    ``{40: {"link_bps": 2e8}}`` halves a 400 MB/s link at window 40. Returns one
    :class:`HistoryPoint` per window (the decision taken at its end).
    """
    w = window_seconds if window_seconds is not None else controller.config.window_seconds
    history: list[HistoryPoint] = []
    t = start
    for i in range(windows):
        if events and i in events:
            for name, value in events[i].items():
                if name.startswith("_") or not hasattr(link, name):
                    raise AttributeError(f"SimulatedLink has no field {name!r}")
                setattr(link, name, value)
        decision = controller.step(link.sample(controller.concurrency, t, t + w))
        t += w
        history.append(HistoryPoint(t, decision.rate_bps, decision.concurrency, decision.reason))
    return history


class _VirtualClock:
    __slots__ = ("now",)

    def __init__(self, now: float) -> None:
        self.now = now


class _VirtualSelector(selectors.BaseSelector):
    """Polls the real selector without blocking; when nothing is ready, jumps the clock forward
    by the loop's timeout (the delay to its next timer) instead of waiting for it."""

    def __init__(self, clock: _VirtualClock) -> None:
        self._clock = clock
        self._real = selectors.DefaultSelector()

    def register(
        self, fileobj: Any, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(
        self, timeout: float | None = None
    ) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(0)
        if ready:
            return ready
        if timeout is None:
            # Nothing scheduled and nothing ready: a real loop would sleep forever here.
            raise RuntimeError(
                "virtual-time loop deadlocked: no timer pending and no callback ready"
            )
        if timeout > 0:
            self._clock.now += timeout
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An asyncio event loop whose ``time()`` only advances when every task is waiting on a timer.

    For pure-asyncio simulations: no threads, no real I/O (a thread calling back into the loop
    would find the clock racing ahead of it). Raises ``RuntimeError`` on a deadlock instead of
    hanging.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._vclock = _VirtualClock(start)
        super().__init__(_VirtualSelector(self._vclock))

    def time(self) -> float:
        return self._vclock.now


def run_virtual(main: Coroutine[Any, Any, _T], *, start: float = 0.0) -> _T:
    """Run ``main`` to completion on a fresh :class:`VirtualTimeLoop`, then close the loop.

    Tasks still pending when ``main`` returns are cancelled and awaited, as ``asyncio.run`` does.
    Inside, ``asyncio.get_running_loop().time`` is the virtual clock to inject.
    """
    loop = VirtualTimeLoop(start)
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
