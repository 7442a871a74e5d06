"""Pure statistics: percentiles, median/min/max spreads and pair-by-pair ratios.

Ratios are taken run by run (run i of one runner against run i of the other, which ran right
next to it in the A B A B order) and then summarised by their median, so a slow minute on
the machine moves both sides of a pair instead of skewing one runner's median.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile out of range: {q}")
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    frac = pos - lo
    return float(ordered[lo] + (ordered[hi] - ordered[lo]) * frac)


def latency_summary(samples_ms: Sequence[float], scope: str) -> dict[str, float | int | str]:
    """p50/p90/p99/max of latency samples, tagged with what one sample covers (request/object)."""
    return {
        "p50": percentile(samples_ms, 50),
        "p90": percentile(samples_ms, 90),
        "p99": percentile(samples_ms, 99),
        "max": float(max(samples_ms)),
        "count": len(samples_ms),
        "scope": scope,
    }


@dataclass(frozen=True)
class Spread:
    """Median with the extremes of a set of runs."""

    median: float
    min: float
    max: float
    n: int

    def __repr__(self) -> str:
        return f"<Spread median={self.median:.4g} min={self.min:.4g} max={self.max:.4g} n={self.n}>"


def spread(values: Iterable[float | None]) -> Spread | None:
    """Median/min/max of the values that are present; None when there are none."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None
    return Spread(statistics.median(vals), min(vals), max(vals), len(vals))


def pairwise_ratios(
    numerator: Mapping[int, float | None], denominator: Mapping[int, float | None]
) -> list[float]:
    """``numerator[i] / denominator[i]`` for every repetition i present (and non-zero) in both."""
    out = []
    for rep in sorted(set(numerator) & set(denominator)):
        a = numerator[rep]
        b = denominator[rep]
        if a is None or b is None or b == 0:
            continue
        out.append(a / b)
    return out
