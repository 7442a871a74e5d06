"""The set of S3 IP addresses behind one endpoint, with health and load.

Why: S3 hands out a different handful of IPs on every DNS query, and a single
front-end IP can go bad (refuses, resets, stalls, or is simply slow) while the
service is fine. Like aws-c-io's host resolver, we *harvest* IPs by resolving
repeatedly, keep each for a TTL after it was last seen, spread new connections
over them, and eject the bad ones for a while (a per-IP circuit breaker).

Everything here is synchronous bookkeeping except :meth:`EndpointTable.refresh`
and :meth:`EndpointTable.run_harvester`; time comes from an injected clock and
randomness from an injected ``random.Random``, so tests drive it without sleeping.

Per-IP life cycle::

    healthy --(failure score >= threshold, or slow)--> quarantined
    quarantined --(quarantine elapsed)--> probing (one probe connection allowed)
    probing --record_success--> healthy
    probing --record_failure--> quarantined (re-probe delay doubled, capped)

Failure kinds and their weight towards the threshold (``record_failure``):
``"connect"`` counts ``connect_failure_weight`` (refused / unreachable / connect
timeout: the strongest sign that this IP, not S3, is broken); ``"reset"``,
``"connection"``, ``"timeout"``, ``"server"``, ``"transient"`` count 1;
``"throttle"``, ``"clock_skew"``, ``"fatal"``, ``"integrity"`` count 0 -- a 503
SlowDown or a 403 comes from the *service* through a working IP, so it must
never eject the IP (that would concentrate load and make throttling worse). The
``ErrorKind`` values of ``s3fast._retry`` are accepted as kinds as-is.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Literal

from ._resolver import Resolver

__all__ = [
    "EndpointConfig",
    "EndpointTable",
    "IPState",
    "IPStats",
    "NoAddressesError",
]

logger = logging.getLogger("s3fast.net.endpoints")

IPState = Literal["healthy", "quarantined", "probing"]

_FAILURE_WEIGHTS: dict[str, float | None] = {
    # None means "use EndpointConfig.connect_failure_weight".
    "connect": None,
    "reset": 1.0,
    "connection": 1.0,
    "timeout": 1.0,
    "server": 1.0,
    "transient": 1.0,
    "throttle": 0.0,
    "clock_skew": 0.0,
    "fatal": 0.0,
    "integrity": 0.0,
}


class NoAddressesError(LookupError):
    """The table holds no IP address at all (never resolved, or nothing left)."""


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
    - ``ema_alpha = 0.2``: weight of the newest throughput sample.
    - ``min_sample_bytes = 1 MiB``: smaller transfers measure latency rather than
      bandwidth, so they don't feed the throughput EMA.
    - ``slow_min_samples = 5``: samples an IP needs before it is judged or used
      as a reference.
    - ``slow_ratio = 0.25``: an IP whose throughput EMA is below this fraction of
      the median of the other (non-quarantined, sampled) IPs is quarantined as
      slow.
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
    slow_min_samples: int = 5
    slow_ratio: float = 0.25
    min_refresh_interval: float = 1.0
    harvest_interval: float = 10.0

    def __post_init__(self) -> None:
        if self.ttl <= 0 or self.max_ips < 1 or self.failure_threshold <= 0:
            raise ValueError("ttl, max_ips and failure_threshold must be positive")
        if not 0 < self.quarantine_base <= self.quarantine_cap:
            raise ValueError("need 0 < quarantine_base <= quarantine_cap")
        if not 0 <= self.quarantine_jitter < 1 or not 0 < self.ema_alpha <= 1:
            raise ValueError("need 0 <= quarantine_jitter < 1 and 0 < ema_alpha <= 1")


@dataclass(frozen=True)
class IPStats:
    """A snapshot of one IP's counters (see :meth:`EndpointTable.stats`).

    ``throughput`` is the EMA in bytes/s, or None before the first sample;
    ``quarantine_remaining`` is 0 unless the IP is quarantined; ``fresh`` is False
    once the IP's TTL has passed (it stays only while connections use it);
    ``quarantines`` counts ejections (a failed probe extends the current one).
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


@dataclass(slots=True, eq=False)
class _Entry:
    """Mutable per-IP record; only :class:`EndpointTable` touches it."""

    ip: str
    expires_at: float
    connections: int = 0
    requests: int = 0
    bytes: int = 0
    errors: int = 0
    quarantines: int = 0
    failure_score: float = 0.0
    quarantined: bool = False
    quarantine_until: float = 0.0
    level: int = 0  # exponent of the next re-probe delay
    probe_in_flight: bool = False
    healthy_since: float = 0.0
    last_pick: int = -1  # sequence number of the last pick(); -1 = never
    ema: float | None = None  # throughput EMA, bytes/s
    samples: int = 0

    def state(self, now: float) -> IPState:
        if not self.quarantined:
            return "healthy"
        return "quarantined" if now < self.quarantine_until else "probing"

    def probe_due(self, now: float) -> bool:
        return self.quarantined and now >= self.quarantine_until and not self.probe_in_flight

    def fresh(self, now: float) -> bool:
        return self.expires_at > now

    def in_use(self) -> bool:
        return self.connections > 0 or self.probe_in_flight


class EndpointTable:
    """All known IPs of ``host:port``, which one a new connection should use,
    and how each IP is doing.

    Typical use by the connection layer::

        await table.ensure_resolved()
        ip = table.pick(exclude=tried)        # new connection
        ... connect ...                      # on failure: record_failure(ip, "connect")
        table.connection_opened(ip)
        table.record_request(ip)
        ... request ...                      # record_success(ip, n, secs) / record_failure(ip, kind)
        table.connection_closed(ip)
    """

    def __init__(
        self,
        host: str,
        port: int,
        resolver: Resolver,
        *,
        config: EndpointConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.host = host
        self.port = port
        self.resolver = resolver
        self.config = config if config is not None else EndpointConfig()
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._sleep = sleep
        self._entries: dict[str, _Entry] = {}
        self._pick_seq = 0
        self._needs_refresh = True  # nothing resolved yet
        self._outage = False  # every IP was quarantined at once (set in _quarantine)
        self._last_refresh: float | None = None
        self._inflight: asyncio.Future[list[str]] | None = None
        self._stop: asyncio.Event | None = None
        self.refresh_count = 0
        self.refresh_errors = 0
        self.last_refresh_error: BaseException | None = None

    # ------------------------------------------------------------------ DNS

    async def refresh(self) -> list[str]:
        """Re-resolve and merge the answer; return the IPs just resolved.

        New IPs join as healthy; IPs seen again get their TTL renewed;
        quarantines are kept (they are about the IP, not the DNS answer).
        Concurrent callers share one lookup. On failure the table is unchanged
        and the error propagates (the harvester swallows and counts it).
        """
        if self._inflight is None:
            task = asyncio.ensure_future(self._lookup())
            # Retrieve the outcome even if every waiter was cancelled, so a
            # failed lookup is not reported as "exception never retrieved".
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            self._inflight = task
        # shield: one caller being cancelled must not cancel the shared lookup.
        return list(await asyncio.shield(self._inflight))

    async def _lookup(self) -> list[str]:
        try:
            ips = await self.resolver.resolve(self.host, self.port)
        except Exception as exc:
            self.refresh_errors += 1
            self.last_refresh_error = exc
            logger.debug("resolving %s:%d failed: %r", self.host, self.port, exc)
            raise
        finally:
            self._inflight = None
        self._merge(ips)
        return ips

    def _merge(self, ips: list[str]) -> None:
        now = self._clock()
        self.refresh_count += 1
        self._last_refresh = now
        expires = now + self.config.ttl
        for ip in ips:
            entry = self._entries.get(ip)
            if entry is None:
                entry = self._entries[ip] = _Entry(ip, expires)
                entry.healthy_since = now
            entry.expires_at = expires
        if ips:
            self._needs_refresh = False
            self.last_refresh_error = None
        self._purge(now)

    async def ensure_resolved(self) -> None:
        """Resolve if the table is empty, or re-resolve if :attr:`needs_refresh`
        and the last lookup is older than ``min_refresh_interval`` (so a dead
        endpoint does not turn every pick into a DNS query).

        Raises the lookup error only when there is no IP at all; with stale
        IPs in hand, a failed re-resolve is counted and the old IPs are used.
        """
        if not self._entries:
            await self.refresh()
            return
        if not self._needs_refresh:
            return
        if (
            self._last_refresh is not None
            and self._clock() - self._last_refresh < self.config.min_refresh_interval
        ):
            return
        try:
            await self.refresh()
        except Exception:  # counted in refresh_errors; keep what we have
            pass

    async def run_harvester(self, interval: float | None = None) -> None:
        """Re-resolve every ``interval`` s (default ``config.harvest_interval``)
        until :meth:`stop`, accumulating the IPs S3 rotates through. Lookup
        errors are counted in ``refresh_errors`` and do not end the loop."""
        period = self.config.harvest_interval if interval is None else interval
        if self._stop is None:
            self._stop = asyncio.Event()
        stop = self._stop
        while not stop.is_set():
            try:
                await self.refresh()
            except Exception:  # counted in refresh_errors; keep the old IPs
                pass
            if stop.is_set():
                break
            sleeper = asyncio.ensure_future(self._sleep(period))
            stopper = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for fut in (sleeper, stopper):
                    fut.cancel()
                await asyncio.gather(sleeper, stopper, return_exceptions=True)
        self._stop = None

    def stop(self) -> None:
        """Make :meth:`run_harvester` return (promptly, even mid-sleep)."""
        if self._stop is None:
            self._stop = asyncio.Event()
        self._stop.set()

    def _purge(self, now: float) -> None:
        """Drop expired IPs that nothing uses; enforce ``max_ips``."""
        if not any(e.expires_at > now for e in self._entries.values()):
            # DNS has been failing for a whole TTL: stale IPs beat no IPs.
            if self._entries:
                self._needs_refresh = True
            return
        for ip in [ip for ip, e in self._entries.items() if not e.fresh(now) and not e.in_use()]:
            del self._entries[ip]
        excess = len(self._entries) - self.config.max_ips
        if excess > 0:
            idle = sorted(
                (e for e in self._entries.values() if not e.in_use()),
                key=lambda e: e.expires_at,
            )
            for entry in idle[:excess]:
                del self._entries[entry.ip]

    # -------------------------------------------------------------- picking

    def pick(self, exclude: Collection[str] = ()) -> str:
        """The IP a *new connection* should use.

        Order of preference:

        1. a quarantined IP whose quarantine has elapsed and has no probe yet
           (it gets exactly one probe connection; without this, a recovered IP
           would never be used again while others are healthy);
        2. the healthy IP with the fewest connections, ties going to the one
           handed out least recently (rotation);
        3. if ``exclude`` (e.g. IPs this request already failed on) rules out
           all of those, the same over excluded healthy IPs;
        4. if every IP is quarantined, the one whose quarantine ends soonest,
           preferring non-excluded ones, and :attr:`needs_refresh` is set.

        Expired IPs still carrying connections are only used when nothing fresh
        is left. Raises :class:`NoAddressesError` when the table is empty.
        """
        now = self._clock()
        self._purge(now)
        if not self._entries:
            self._needs_refresh = True
            raise NoAddressesError(
                f"no IP addresses known for {self.host}:{self.port}"
                " (resolve first, e.g. await table.ensure_resolved())"
            )
        live = [e for e in self._entries.values() if e.fresh(now)]
        if not live:
            live = list(self._entries.values())
        allowed = [e for e in live if e.ip not in exclude]

        probes = [e for e in allowed if e.probe_due(now)]
        if probes:
            chosen = min(probes, key=lambda e: e.quarantine_until)
            chosen.probe_in_flight = True
            return self._hand_out(chosen)
        for pool in (allowed, live):
            healthy = [e for e in pool if not e.quarantined]
            if healthy:
                return self._hand_out(min(healthy, key=lambda e: (e.connections, e.last_pick)))
        # Everything is quarantined: end the quarantine of the IP due soonest
        # and make this connection its probe. Spreading over IPs not already
        # probing means a burst of picks re-probes them all, not one IP N times.
        self._needs_refresh = True
        chosen = min(
            live,
            key=lambda e: (e.ip in exclude, e.probe_in_flight, e.quarantine_until, e.connections),
        )
        chosen.quarantine_until = min(chosen.quarantine_until, now)
        chosen.probe_in_flight = True
        return self._hand_out(chosen)

    def _hand_out(self, entry: _Entry) -> str:
        entry.last_pick = self._pick_seq
        self._pick_seq += 1
        return entry.ip

    # ------------------------------------------------------------ accounting

    def connection_opened(self, ip: str) -> None:
        entry = self._entries.get(ip)
        if entry is None:
            # Purged between pick() and connect (TTL ran out meanwhile): track it
            # again, already expired, so it leaves once its connections close.
            entry = self._entries[ip] = _Entry(ip, self._clock())
        entry.connections += 1

    def connection_closed(self, ip: str) -> None:
        entry = self._entries.get(ip)
        if entry is None:
            return
        # Clamped rather than raised: a double close must not break the
        # connection teardown path.
        entry.connections = max(0, entry.connections - 1)
        if entry.connections == 0 and entry.probe_in_flight:
            # The probe connection went away without a verdict: allow another.
            entry.probe_in_flight = False

    def state(self, ip: str) -> IPState | None:
        """``ip``'s state, or None if unknown. The pool should stop reusing idle
        connections to a ``"quarantined"`` IP."""
        entry = self._entries.get(ip)
        return None if entry is None else entry.state(self._clock())

    def record_request(self, ip: str) -> None:
        entry = self._entries.get(ip)
        if entry is not None:
            entry.requests += 1

    # ---------------------------------------------------------------- health

    def record_success(self, ip: str, nbytes: int = 0, seconds: float = 0.0) -> None:
        """A request on ``ip`` completed: clears its failure score and any
        quarantine, and feeds its throughput EMA (if the transfer was big
        enough to measure bandwidth). May quarantine it as *slow*."""
        entry = self._entries.get(ip)
        if entry is None:
            return
        now = self._clock()
        entry.bytes += max(0, nbytes)
        entry.failure_score = 0.0
        if entry.quarantined:
            if now < entry.quarantine_until:
                # A connection opened before the quarantine finished well; for
                # a slow IP that is expected, so it must not lift the quarantine.
                return
            self._release(entry, now)
            if self._outage:
                # The whole endpoint was down and is back: the other IPs were ejected by
                # the same outage, so make them due for a probe now rather than leave
                # every connection on this one IP until their quarantines run out.
                self._outage = False
                for other in self._entries.values():
                    if other.quarantined and other.quarantine_until > now:
                        other.quarantine_until = now
        if nbytes >= self.config.min_sample_bytes and seconds > 0:
            rate = nbytes / seconds
            alpha = self.config.ema_alpha
            entry.ema = rate if entry.ema is None else alpha * rate + (1 - alpha) * entry.ema
            entry.samples += 1
            if self._is_slow(entry):
                logger.info("%s is slow (%.0f B/s); quarantining", ip, entry.ema)
                self._quarantine(entry, now)

    def record_failure(self, ip: str, kind: str) -> None:
        """A connect or request on ``ip`` failed with ``kind`` (see module doc).

        Unknown kinds raise ``ValueError`` so a typo can't silently disable
        ejection."""
        try:
            weight = _FAILURE_WEIGHTS[kind]
        except KeyError:
            raise ValueError(
                f"unknown failure kind {kind!r}; expected one of {sorted(_FAILURE_WEIGHTS)}"
            ) from None
        if weight is None:
            weight = self.config.connect_failure_weight
        entry = self._entries.get(ip)
        if entry is None:
            return
        now = self._clock()
        entry.errors += 1
        if weight == 0:
            # Not the IP's fault. A probe that got a response proves nothing
            # about bandwidth, so just free the probe slot for another try.
            entry.probe_in_flight = False
            return
        if entry.quarantined:
            if now >= entry.quarantine_until:
                # The probe (or a straggler after the quarantine) failed. In a total outage
                # pick() forces probes on IPs still in quarantine; escalating each of those
                # would keep every IP out for up to the cap once the endpoint is back.
                if not self._outage:
                    entry.level += 1
                self._quarantine(entry, now)
            return  # failures of older connections during quarantine: no-op
        entry.failure_score += weight
        if entry.failure_score >= self.config.failure_threshold:
            logger.info("%s failed %s times (last: %s); quarantining", ip, entry.failure_score, kind)
            self._quarantine(entry, now)

    def _quarantine(self, entry: _Entry, now: float) -> None:
        cfg = self.config
        if not entry.quarantined and now - entry.healthy_since >= cfg.forgive_after:
            entry.level = 0  # healthy long enough: start over at the base delay
        delay = min(cfg.quarantine_cap, cfg.quarantine_base * 2.0 ** min(entry.level, 62))
        delay *= 1.0 - cfg.quarantine_jitter * self._rng.random()
        if not entry.quarantined:
            entry.quarantines += 1
        entry.quarantined = True
        entry.quarantine_until = now + delay
        entry.probe_in_flight = False
        entry.failure_score = 0.0
        if self.all_failed:
            self._needs_refresh = True
            self._outage = True

    def _release(self, entry: _Entry, now: float) -> None:
        entry.quarantined = False
        entry.probe_in_flight = False
        entry.quarantine_until = 0.0
        entry.healthy_since = now
        # A relapse within forgive_after backs off further than the last delay;
        # after that long healthy it starts over (see _quarantine).
        entry.level += 1
        # Judge it afresh: its old throughput may be why it was ejected.
        entry.ema = None
        entry.samples = 0

    def _is_slow(self, entry: _Entry) -> bool:
        cfg = self.config
        if entry.samples < cfg.slow_min_samples or entry.ema is None:
            return False
        others = [
            e.ema
            for e in self._entries.values()
            if e is not entry and not e.quarantined and e.ema is not None
            and e.samples >= cfg.slow_min_samples
        ]
        if not others:
            return False
        return entry.ema < cfg.slow_ratio * _median(others)

    # ----------------------------------------------------------------- views

    @property
    def needs_refresh(self) -> bool:
        """True when the caller should re-resolve: nothing resolved yet, every
        IP failed, or DNS has been failing for a whole TTL. Cleared by a
        successful :meth:`refresh`."""
        return self._needs_refresh

    @property
    def all_failed(self) -> bool:
        """True when there are IPs and none of them is healthy."""
        return bool(self._entries) and all(e.quarantined for e in self._entries.values())

    @property
    def ips(self) -> list[str]:
        """Known IPs, in the order they were first seen."""
        return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def stats(self) -> dict[str, IPStats]:
        """A frozen snapshot of every known IP's counters."""
        now = self._clock()
        return {
            ip: IPStats(
                ip=ip,
                state=e.state(now),
                connections=e.connections,
                requests=e.requests,
                bytes=e.bytes,
                errors=e.errors,
                quarantines=e.quarantines,
                throughput=e.ema,
                samples=e.samples,
                quarantine_remaining=max(0.0, e.quarantine_until - now) if e.quarantined else 0.0,
                fresh=e.fresh(now),
            )
            for ip, e in self._entries.items()
        }

    def __repr__(self) -> str:
        now = self._clock()
        parts = []
        for e in self._entries.values():
            state = e.state(now)
            text = f"{e.ip} {state} conns={e.connections}"
            if state == "quarantined":
                text += f" for {e.quarantine_until - now:.1f}s"
            if not e.fresh(now):
                text += " expired"
            parts.append(text)
        return (
            f"<EndpointTable {self.host}:{self.port} [{len(parts)} IPs: {', '.join(parts)}]"
            f" needs_refresh={self._needs_refresh}>"
        )


def _median(values: list[float]) -> float:
    # statistics.median, without importing statistics (decimal, fractions...) at start-up
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
