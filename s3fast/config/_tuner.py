"""The auto-tuner's settings: one frozen dataclass, every default documented.

What the tuner aims at (``target_gbps``, ``max_gbps``) and the fixed concurrency
(``max_concurrency``) are :class:`~s3fast.config.TransferConfig`'s alone: one source of
truth, handed to the tuner by the client, never a second copy here that one of them overwrites.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._errors import ConfigError
from ._checks import old_keywords

__all__ = ["GBPS_TO_BPS", "TunerConfig"]

GBPS_TO_BPS = 1e9 / 8
"""Gigabits per second to bytes per second. ``*_bps`` in this package means bytes/s."""


#: Former fields, refused by name: each now has exactly one home.
_MOVED = {
    "target_gbps": "set TransferConfig(target_gbps=...), which the tuner aims at",
    "max_gbps": "set TransferConfig(max_gbps=...), which the tuner and its pacer honour",
    "max_concurrency": ("TransferConfig(max_concurrency=...) fixes the concurrency; "
                        "TunerConfig(concurrency_ceiling=...) bounds what the tuner tries"),
}


def _refuse(kwargs: dict[str, Any], old: dict[str, Any]) -> None:
    name = next(iter(old))
    raise ConfigError(f"TunerConfig({name}=...) is gone: {_MOVED[name]}")


@old_keywords(tuple(_MOVED), _refuse, lambda name: f"TunerConfig.{name} is gone: {_MOVED[name]}")
@dataclass(frozen=True)
class TunerConfig:
    """Auto-tuner settings. Defaults in brackets.

    - ``initial_per_connection_gbps`` [0.4]: the starting model, as the CRT's: one request carries
      about 0.4 Gbps, so the first guess is ``ceil(target / 0.4)`` (25 requests for 10 Gbps).
    - ``max_initial_concurrency`` [8]: start no higher than this and let the ramp climb
      (x1.5 a step): on a fast path (loopback, same-AZ endpoints) a few connections already
      fill the link and each extra one costs CPU, while on S3 the ramp reaches 25 within a few
      windows. None: start at the model's guess.
    - ``initial_concurrency`` [None]: start at exactly this many requests (clamped to the bounds
      below and the memory cap) instead of the model's guess. For many small objects: each
      request moves one object, a run lasts a few seconds, and a ramp from 8 spends most of it
      below what the memory limit allows (``s3fast cp -r`` and ``sync`` start at the cap).
    - ``min_concurrency`` [1] / ``concurrency_ceiling`` [256]: the bounds the tuner moves within.
      The memory cap lowers the ceiling further and always wins over ``min``. (A fixed number of
      requests, with no tuning, is ``TransferConfig.max_concurrency``.)
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

    initial_per_connection_gbps: float = 0.4
    max_initial_concurrency: int | None = 8
    initial_concurrency: int | None = None
    min_concurrency: int = 1
    concurrency_ceiling: int = 256
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
            (self.initial_per_connection_gbps > 0, "initial_per_connection_gbps must be > 0"),
            (self.max_initial_concurrency is None or self.max_initial_concurrency >= 1,
             "max_initial_concurrency must be >= 1 or None"),
            (self.initial_concurrency is None or self.initial_concurrency >= 1,
             "initial_concurrency must be >= 1 or None"),
            (1 <= self.min_concurrency <= self.concurrency_ceiling,
             "need 1 <= min_concurrency <= concurrency_ceiling"),
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
                raise ConfigError(message)

