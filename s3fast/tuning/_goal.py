"""What the tuner aims at: the throughput target and cap, taken from ``TransferConfig``.

They are not tuner settings (``TunerConfig`` has none of them): the client resolves the
target once (the user's value, else the EC2 recommendation, else 10 Gbps) and hands it here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..config._tuner import GBPS_TO_BPS
from ._platform import DEFAULT_TARGET_GBPS

__all__ = ["Goal"]


@dataclass(frozen=True)
class Goal:
    """``target_gbps``: goodput to aim for; ``max_gbps``: a hard cap (None: none), at which the
    controller stops growing and sheds requests, and which the tuner's token bucket enforces."""

    target_gbps: float = DEFAULT_TARGET_GBPS
    max_gbps: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.target_gbps) and self.target_gbps > 0):
            raise ValueError("target_gbps must be > 0")
        if self.max_gbps is not None and not (math.isfinite(self.max_gbps) and self.max_gbps > 0):
            raise ValueError("max_gbps must be > 0 or None")

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
