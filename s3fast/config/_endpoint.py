"""Settings of the per-host IP table (:class:`~s3fast.net._endpoints.EndpointTable`)."""
from __future__ import annotations

from dataclasses import dataclass

from .._errors import ConfigError

__all__ = ["EndpointConfig"]


@dataclass(frozen=True)
class EndpointConfig:
    """Tuning of an :class:`EndpointTable`. Defaults, and why:

    - ``ttl = 300.0`` s: keep an IP this long after the last DNS answer that
      contained it (aws-c-s3 uses the same 5 min).
    - ``max_ips = 64``: cap on accumulated IPs; the ones expiring first (and not
      in use) are dropped when a refresh brings more.
    - ``failure_threshold = 3.0``: consecutive failure score that quarantines.
    - ``connect_failure_weight = 2.0``: a failed connect counts double, so two
      refusals eject an IP (one could be a full SYN backlog).
    - ``quarantine_base = 1.0`` s, doubled per consecutive quarantine, capped at
      ``quarantine_cap = 60.0`` s; ``quarantine_jitter = 0.5`` draws the actual
      delay uniformly from ``[d * (1 - jitter), d]`` so IPs ejected together are
      not re-probed together.
    - ``forgive_after = 60.0`` s: a recovered IP's doubling level resets only after
      it has been healthy this long, so a flapping IP does not return to 1 s
      re-probes every time.
    - ``ema_alpha = 0.2``: weight of the newest throughput sample (the EMA is
      shown in :class:`IPStats`; decisions use medians, which one outlier
      cannot move).
    - ``min_sample_bytes = 1 MiB``: a request that moved less measures latency
      rather than bandwidth, so it is no goodput sample ...
    - ``min_sample_seconds = 0.5`` s: ... unless it ran this long and moved at
      least ``min_sample_bytes // 64``, or was abandoned (a hedge won elsewhere)
      after this long whatever it moved: a request on a slow path moves little
      before a hedge replaces it, one on a black-holed IP nothing, and that
      little over that long *is* the measurement.
    - ``slow_window = 8``: goodput samples kept per IP; its median is "how this
      IP is doing now".
    - ``slow_min_samples = 3``: samples an IP needs before it is judged or used
      as a reference (a median of 3 needs two slow requests, so one unlucky
      request never demotes).
    - ``slow_ratio = 0.25``: an IP whose median goodput is below this fraction
      of the median of the other IPs' medians (healthy ones with enough
      samples) is demoted to ``"slow"``. A quarter leaves room for ordinary
      spread between IPs and servers, and still catches a path that carries a
      small fraction of the others'.
    - ``recover_ratio = 0.5``: a slow IP whose probes' median reaches this
      fraction of the reference is promoted back (above ``slow_ratio``, so an
      IP on the edge does not flap).
    - ``slow_probe_base = 1.0`` s, doubled per probe that found it still slow,
      capped at ``slow_probe_cap = 30.0`` s: how often a slow IP gets one probe
      connection.
    - ``min_refresh_interval = 1.0`` s: :meth:`EndpointTable.ensure_resolved`
      won't re-resolve more often than this (aws-c-io resolves once a second).
    - ``harvest_interval = 10.0`` s: default period of
      :meth:`EndpointTable.run_harvester`.
    """

    ttl: float = 300.0
    max_ips: int = 64
    failure_threshold: float = 3.0
    connect_failure_weight: float = 2.0
    quarantine_base: float = 1.0
    quarantine_cap: float = 60.0
    quarantine_jitter: float = 0.5
    forgive_after: float = 60.0
    ema_alpha: float = 0.2
    min_sample_bytes: int = 1 << 20
    min_sample_seconds: float = 0.5
    slow_window: int = 8
    slow_min_samples: int = 3
    slow_ratio: float = 0.25
    recover_ratio: float = 0.5
    slow_probe_base: float = 1.0
    slow_probe_cap: float = 30.0
    min_refresh_interval: float = 1.0
    harvest_interval: float = 10.0

    def __post_init__(self) -> None:
        if self.ttl <= 0 or self.max_ips < 1 or self.failure_threshold <= 0:
            raise ConfigError("ttl, max_ips and failure_threshold must be positive")
        if not 0 < self.quarantine_base <= self.quarantine_cap:
            raise ConfigError("need 0 < quarantine_base <= quarantine_cap")
        if not 0 <= self.quarantine_jitter < 1 or not 0 < self.ema_alpha <= 1:
            raise ConfigError("need 0 <= quarantine_jitter < 1 and 0 < ema_alpha <= 1")
        if not 1 <= self.slow_min_samples <= self.slow_window:
            raise ConfigError("need 1 <= slow_min_samples <= slow_window")
        if not 0 < self.slow_ratio <= self.recover_ratio:
            raise ConfigError("need 0 < slow_ratio <= recover_ratio")
        if not 0 < self.slow_probe_base <= self.slow_probe_cap:
            raise ConfigError("need 0 < slow_probe_base <= slow_probe_cap")
