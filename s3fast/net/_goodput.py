"""Is an IP slow next to its peers? The pure decision behind ``EndpointTable``'s demotion."""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ._endpoint_config import EndpointConfig

__all__ = ["GoodputVerdict", "judge_goodput", "median"]

GoodputVerdict = Literal["demote", "promote", "keep"]


def judge_goodput(
    slow: bool, samples: list[float], reference: float | None, config: EndpointConfig
) -> GoodputVerdict:
    """Should an IP with these recent goodput ``samples`` (bytes/s, oldest
    first) change state, given the ``reference`` goodput of its peers (None:
    no peer has enough samples, so nothing can be judged)?

    A healthy IP is demoted when the median of its samples is below
    ``slow_ratio`` x reference; a slow one is promoted when the median of its
    samples (all taken since its demotion) reaches ``recover_ratio`` x
    reference. Either needs ``slow_min_samples`` samples.
    """
    if reference is None or reference <= 0 or len(samples) < config.slow_min_samples:
        return "keep"
    mid = median(samples)
    if not slow and mid < config.slow_ratio * reference:
        return "demote"
    if slow and mid >= config.recover_ratio * reference:
        return "promote"
    return "keep"


def median(values: list[float]) -> float:
    # statistics.median, without importing statistics (decimal, fractions...) at start-up
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
