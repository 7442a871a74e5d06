"""Straggler hedging, the decision half (pure): when does a range deserve a duplicate?

One slow connection must not hold a whole transfer at 99%. Once enough ranges of a
transfer have finished to know what normal looks like, a range still running after
``factor`` x the running p95 of finished ranges (and at least ``min_seconds``) gets a
second request on another IP/connection; the first to finish wins and the other is
cancelled. Hedges are rationed (``max_fraction`` of the ranges) so a uniformly slow
service is not answered with double the load.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass


@dataclass(frozen=True)
class HedgeConfig:
    """Attributes (defaults):
        enabled: hedge straggling ranges (True).
        factor: a range is a straggler after factor x the p95 of finished ranges (3.0).
        min_seconds: ... and after at least this long (0.5 s): below that a duplicate costs
            more than it saves.
        min_samples: finished ranges needed before judging (5).
        max_fraction: at most this share of a transfer's ranges get a hedge (0.1), and at least 1.
    """

    enabled: bool = True
    factor: float = 3.0
    min_seconds: float = 0.5
    min_samples: int = 5
    max_fraction: float = 0.1


class HedgePolicy:
    """Per transfer: durations of finished ranges, and the hedge ration."""

    def __init__(self, config: HedgeConfig, total_ranges: int) -> None:
        self.config = config
        self.total = total_ranges
        self._durations: list[float] = []
        self.hedges = 0

    def __repr__(self) -> str:
        return (f"<HedgePolicy samples={len(self._durations)} threshold={self.threshold()} "
                f"hedges={self.hedges}/{self.budget()}>")

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

    def try_take(self) -> bool:
        """Take one hedge from the ration; False when it is used up."""
        if self.hedges >= self.budget():
            return False
        self.hedges += 1
        return True
