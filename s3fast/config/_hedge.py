"""Straggler hedging settings (the decisions are in ``transfer/_hedge.py``)."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HedgeConfig"]


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
