"""Snapshots of :class:`~s3fast.net._endpoints.EndpointTable` (frozen data); its settings,
:class:`EndpointConfig`, live with the other public settings in :mod:`s3fast.config`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..config._endpoint import EndpointConfig

__all__ = ["EndpointConfig", "IPState", "IPStats"]

IPState = Literal["healthy", "quarantined", "probing", "slow"]


@dataclass(frozen=True)
class IPStats:
    """A snapshot of one IP's counters (see :meth:`EndpointTable.stats`).

    ``throughput`` is the EMA in bytes/s, or None before the first sample;
    ``quarantine_remaining`` is 0 unless the IP is quarantined; ``fresh`` is False
    once the IP's TTL has passed (it stays only while connections use it);
    ``quarantines`` counts ejections (a failed probe extends the current one);
    ``goodput`` is the median of the recent per-request goodput samples (bytes/s,
    None before ``slow_min_samples``), ``demotions`` counts moves to ``"slow"``.
    """

    ip: str
    state: IPState
    connections: int
    requests: int
    bytes: int
    errors: int
    quarantines: int
    throughput: float | None
    samples: int
    quarantine_remaining: float
    fresh: bool
    goodput: float | None = None
    demotions: int = 0
