"""Is an IP slow next to its peers? The pure decisions behind ``EndpointTable``'s demotion.

Two verdicts, both relative to the other IPs (a uniformly slow service demotes nobody):

- :func:`judge_goodput` on the goodput of finished (or abandoned) requests: it needs
  ``slow_min_samples`` of them, and it is the only verdict that promotes a slow IP back;
- :func:`judge_running` on the requests still running, so that an IP handed ranges before
  anything was known about it is not left holding them at a crawl until they finish or are
  hedged: a slow IP's requests rarely finish, which is why waiting for samples cost most of
  the first wave.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ._endpoint_config import EndpointConfig
    from ._iphealth import IPRecord

__all__ = [
    "RUNNING_CHECK_INTERVAL",
    "RUNNING_MIN_PEER_MEASURES",
    "RUNNING_MIN_REQUESTS",
    "RUNNING_MIN_SECONDS",
    "RUNNING_SLOW_RATIO",
    "GoodputVerdict",
    "crawling",
    "judge_goodput",
    "judge_running",
    "median",
    "peer_level",
]

GoodputVerdict = Literal["demote", "promote", "keep"]

#: A running request's body is judged once it has streamed this long: before that its rate
#: says more about a moment without CPU, or a buffer filling, than about the path.
RUNNING_MIN_SECONDS = 0.3
#: Running requests are demoted on a stricter ratio than finished ones (``slow_ratio``):
#: a request still running is, by selection, slower than the peers' finished ones it is
#: compared with, and a verdict on so little time must only catch a crawl.
RUNNING_SLOW_RATIO = 0.1
#: Running requests an IP needs, all of them crawling, to be demoted on them: one slow
#: connection is a straggler (hedging's business), two at once say the IP is slow.
RUNNING_MIN_REQUESTS = 2
#: Measures (finished samples plus judged running requests) a peer needs to be a reference.
RUNNING_MIN_PEER_MEASURES = 2
#: Seconds between two looks at the running requests: the look walks every running request.
RUNNING_CHECK_INTERVAL = 0.05


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


def peer_level(samples: list[float], running: list[float]) -> float | None:
    """How fast a peer IP is now, for :func:`judge_running`: the median of its recent
    goodput samples and the rates of its judged running requests together (at the start
    of a transfer it may have only the latter), None with fewer than
    :data:`RUNNING_MIN_PEER_MEASURES` of them."""
    measures = samples + running
    return median(measures) if len(measures) >= RUNNING_MIN_PEER_MEASURES else None


def judge_running(running: list[float], peers: list[float | None],
                  slow_ratio: float = RUNNING_SLOW_RATIO) -> bool:
    """Demote a healthy IP whose running requests (``running``: bytes/s of each response
    body that has streamed :data:`RUNNING_MIN_SECONDS`) *all* move below ``slow_ratio`` x the median
    of its ``peers``' levels (:func:`peer_level`; None for a peer not measured yet)?

    All of them, and at least :data:`RUNNING_MIN_REQUESTS`: the fastest request on the IP
    decides, so one stalled connection beside healthy ones demotes nothing.
    """
    levels = [p for p in peers if p is not None]
    if len(running) < RUNNING_MIN_REQUESTS or not levels:
        return False
    reference = median(levels)
    return reference > 0 and max(running) < slow_ratio * reference


def crawling(usable: list[IPRecord], now: float) -> list[tuple[IPRecord, float]]:
    """The IPs among ``usable`` (those taking new connections) to demote on their running
    requests at time ``now``, each with the median rate of those requests (for the log).
    Each is judged against the others; an IP judged here is no one's peer any more."""
    if len(usable) < 2:
        return []
    rates = {e.ip: e.running_rates(now, RUNNING_MIN_SECONDS) for e in usable}
    levels = {e.ip: peer_level(list(e.goodput), rates[e.ip]) for e in usable}
    found: list[tuple[IPRecord, float]] = []
    for entry in usable:
        peers = [levels[e.ip] for e in usable if e is not entry and all(e is not f for f, _ in found)]
        if judge_running(rates[entry.ip], peers):
            found.append((entry, median(rates[entry.ip])))
    return found


def median(values: list[float]) -> float:
    # statistics.median, without importing statistics (decimal, fractions...) at start-up
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
