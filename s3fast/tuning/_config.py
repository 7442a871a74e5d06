"""The auto-tuner's settings: one frozen dataclass, every default documented."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GBPS_TO_BPS", "TunerConfig"]

GBPS_TO_BPS = 1e9 / 8
"""Gigabits per second to bytes per second. ``*_bps`` in this package means bytes/s."""


@dataclass(frozen=True)
class TunerConfig:
    """Auto-tuner settings. Defaults in brackets.

    - ``target_gbps`` [10.0]: goodput to aim for. 10 Gbps is the CRT's default when the instance
      type is unknown (see :func:`default_target_gbps` for the EC2 recommendation).
    - ``max_gbps`` [None]: a hard bandwidth cap. The controller stops growing at it and sheds
      requests in proportion when the measured rate exceeds it; the tuner's token bucket enforces
      it byte-exactly. None = no cap.
    - ``initial_per_connection_gbps`` [0.4]: the starting model, as the CRT's: one request carries
      about 0.4 Gbps, so the first guess is ``ceil(target / 0.4)`` (25 requests for 10 Gbps).
    - ``max_initial_concurrency`` [None]: start no higher than this and let the ramp climb
      (x1.5 a step). The client passes 8: on a fast path (loopback, same-AZ endpoints) a few
      connections already fill the link and each extra one costs CPU; on S3 the ramp
      reaches 25 in about 2 s.
    - ``min_concurrency`` [1] / ``max_concurrency`` [256]: absolute bounds. The memory cap given to
      the :class:`Controller` lowers the upper bound further and always wins over ``min``.
    - ``window_seconds`` [0.25]: length of one measurement window (used by the tuner loop).
    - ``settle_windows`` [1]: windows ignored after each change of concurrency, while new
      connections open and ramp up.
    - ``measure_windows`` [2]: windows averaged before a level is first judged.
    - ``max_measure_windows`` [8]: windows after which a comparison still too close to call is
      settled in favour of fewer requests.
    - ``ema_alpha`` [0.25]: floor of the weight of the newest window in a level's mean (the first
      ``1 / ema_alpha`` windows are averaged plainly) and the weight in the displayed rate.
    - ``significance`` [2.0]: standard errors a difference must exceed to count as real.
    - ``noise_floor`` [0.01]: the smallest relative window noise assumed, whatever was observed.
    - ``ramp_factor`` [1.5]: multiplicative growth per level during the initial ramp.
    - ``probe_fraction`` [0.25]: size of a probe step relative to the current concurrency (at least
      one request); big enough that its effect stands out of the measurement noise.
    - ``probe_interval_windows`` [16]: busy windows held below the target before probing again
      (4 s at the default window).
    - ``plateau_gain`` [0.05]: a step is worth it when each request it adds (or keeps) brings more
      than this fraction of the goodput an average request carries.
    - ``target_tolerance`` [0.05]: the target (or cap) counts as reached at ``(1 - tol) x target``;
      the cap counts as exceeded above ``(1 + tol) x cap``.
    - ``backoff_factor`` [0.7]: multiplicative decrease on 503 SlowDown or timeouts (CUBIC's beta).
    - ``backoff_cooldown_windows`` [1]: windows after a decrease whose congestion signals are
      ignored, because they come from requests sent before it.
    - ``busy_fraction`` [0.9]: a window judges the link only if the mean number of requests in
      flight was at least this fraction of the limit; otherwise the engine lacked work.
    - ``trim`` [True]: also probe downwards, to shed requests that add nothing (memory, CPU).
    - ``cap_burst_seconds`` [0.1]: burst of the ``max_gbps`` token bucket, in seconds of the cap.
    """

    target_gbps: float = 10.0
    max_gbps: float | None = None
    initial_per_connection_gbps: float = 0.4
    max_initial_concurrency: int | None = None
    min_concurrency: int = 1
    max_concurrency: int = 256
    window_seconds: float = 0.25
    settle_windows: int = 1
    measure_windows: int = 2
    max_measure_windows: int = 8
    ema_alpha: float = 0.25
    significance: float = 2.0
    noise_floor: float = 0.01
    ramp_factor: float = 1.5
    probe_fraction: float = 0.25
    probe_interval_windows: int = 16
    plateau_gain: float = 0.05
    target_tolerance: float = 0.05
    backoff_factor: float = 0.7
    backoff_cooldown_windows: int = 1
    busy_fraction: float = 0.9
    trim: bool = True
    cap_burst_seconds: float = 0.1

    def __post_init__(self) -> None:
        checks: list[tuple[bool, str]] = [
            (self.target_gbps > 0, "target_gbps must be > 0"),
            (self.max_gbps is None or self.max_gbps > 0, "max_gbps must be > 0 or None"),
            (self.initial_per_connection_gbps > 0, "initial_per_connection_gbps must be > 0"),
            (1 <= self.min_concurrency <= self.max_concurrency,
             "need 1 <= min_concurrency <= max_concurrency"),
            (self.window_seconds > 0, "window_seconds must be > 0"),
            (self.settle_windows >= 0, "settle_windows must be >= 0"),
            (self.measure_windows >= 1, "measure_windows must be >= 1"),
            (self.max_measure_windows >= self.measure_windows,
             "max_measure_windows must be >= measure_windows"),
            (0 < self.ema_alpha <= 1, "ema_alpha must be in (0, 1]"),
            (self.significance >= 0, "significance must be >= 0"),
            (self.noise_floor >= 0, "noise_floor must be >= 0"),
            (self.ramp_factor > 1, "ramp_factor must be > 1"),
            (self.probe_fraction > 0, "probe_fraction must be > 0"),
            (self.probe_interval_windows >= 1, "probe_interval_windows must be >= 1"),
            (self.plateau_gain >= 0, "plateau_gain must be >= 0"),
            (0 <= self.target_tolerance < 1, "target_tolerance must be in [0, 1)"),
            (0 < self.backoff_factor < 1, "backoff_factor must be in (0, 1)"),
            (self.backoff_cooldown_windows >= 0, "backoff_cooldown_windows must be >= 0"),
            (0 < self.busy_fraction <= 1, "busy_fraction must be in (0, 1]"),
            (self.cap_burst_seconds > 0, "cap_burst_seconds must be > 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def effective_target_gbps(self) -> float:
        """The rate actually aimed at: the target, lowered to ``max_gbps`` if that is smaller."""
        if self.max_gbps is not None:
            return min(self.target_gbps, self.max_gbps)
        return self.target_gbps

    @property
    def target_bps(self) -> float:
        """``target_gbps`` in bytes per second."""
        return self.target_gbps * GBPS_TO_BPS

    @property
    def max_bps(self) -> float | None:
        """``max_gbps`` in bytes per second, or None."""
        return None if self.max_gbps is None else self.max_gbps * GBPS_TO_BPS
