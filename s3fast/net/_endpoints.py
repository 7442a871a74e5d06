"""The set of S3 IP addresses behind one endpoint, with health and load.

Why: S3 hands out a different handful of IPs on every DNS query, and a single
front-end IP can go bad (refuses, resets, stalls, or is simply slow) while the
service is fine. Like aws-c-io's host resolver, we *harvest* IPs by resolving
repeatedly, keep each for a TTL after it was last seen, spread new connections
over them, and eject the bad ones for a while (a per-IP circuit breaker).

Everything here is synchronous bookkeeping except :meth:`EndpointTable.refresh`
and :meth:`EndpointTable.run_harvester`, which hand over to ``_harvest.DNSHarvest``
(the per-IP record is ``_iphealth.IPRecord``); time comes from an injected clock and
randomness from an injected ``random.Random``, so tests drive it without sleeping.

Per-IP life cycle::

    healthy --(failure score >= threshold)--> quarantined
    quarantined --(quarantine elapsed)--> probing (one probe connection allowed)
    probing --record_success--> healthy
    probing --record_failure--> quarantined (re-probe delay doubled, capped)

    healthy --(median goodput far below its peers')--> slow
    healthy --(every body streaming on it crawls next to its peers')--> slow
    slow --(probe due)--> one probe connection; its request's goodput is a sample
    slow --(median of the samples since demotion back near its peers')--> healthy
    slow --(probe still slow)--> slow (re-probe delay doubled, capped)

A *slow* IP works, but each connection to it moves a fraction of what the others
move (a congested path, a sick front end). It gets no new connections and its
idle ones are not reused, except one probe connection now and then: a slow IP
can recover, and only a measurement tells. Slowness is judged *relative* to the
other IPs, never against an absolute rate, so a uniformly slow service (or a
small machine) demotes nobody. The samples are per-request goodput (bytes over
the request's whole duration) from :meth:`EndpointTable.record_success` and, for
a request abandoned before it finished (the loser of a hedge, a cancelled
transfer), :meth:`EndpointTable.record_goodput`: a slow IP's requests rarely
finish, since hedging duplicates them elsewhere and cancels them. Waiting for
samples still leaves the first wave of ranges crawling on a slow IP, so the
table also watches the bodies being received
(:meth:`EndpointTable.request_started`): an IP on which at least two are
streaming, all far slower than its peers', is demoted on the spot, and hedging
moves the ranges it holds at once.

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

from ._endpoint_config import EndpointConfig, IPState, IPStats
from ._goodput import RUNNING_CHECK_INTERVAL, crawling, judge_goodput, median as _median
from ._iphealth import FAILURE_WEIGHTS, InFlight, IPRecord, Progress
from ._harvest import DNSHarvest
from ._resolver import Resolver

__all__ = [
    "EndpointConfig",
    "EndpointTable",
    "IPState",
    "IPStats",
    "NoAddressesError",
    "judge_goodput",
]

logger = logging.getLogger("s3fast.net.endpoints")

class NoAddressesError(LookupError):
    """The table holds no IP address at all (never resolved, or nothing left)."""


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
        self._dns = DNSHarvest(host, port, resolver, self._merge, sleep)
        self._entries: dict[str, IPRecord] = {}
        self._pick_seq = 0
        self._running_checked = float("-inf")
        self._needs_refresh = True  # nothing resolved yet
        self._outage = False  # every IP was quarantined at once (set in _quarantine)
        self._last_refresh: float | None = None
        self.refresh_count = 0

    # ------------------------------------------------------------------ DNS

    async def refresh(self) -> list[str]:
        """Re-resolve and merge the answer; return the IPs just resolved.

        New IPs join as healthy; IPs seen again get their TTL renewed;
        quarantines are kept (they are about the IP, not the DNS answer).
        Concurrent callers share one lookup. On failure the table is unchanged
        and the error propagates (the harvester swallows and counts it).
        """
        return await self._dns.refresh()

    @property
    def refresh_errors(self) -> int:
        """Failed lookups so far."""
        return self._dns.errors

    @property
    def last_refresh_error(self) -> BaseException | None:
        """The error of the last lookup, None once one succeeds."""
        return self._dns.last_error

    def _merge(self, ips: list[str]) -> None:
        now = self._clock()
        self.refresh_count += 1
        self._last_refresh = now
        expires = now + self.config.ttl
        for ip in ips:
            entry = self._entries.get(ip)
            if entry is None:
                entry = self._entries[ip] = IPRecord(ip, expires)
                entry.healthy_since = now
            entry.expires_at = expires
        if ips:
            self._needs_refresh = False
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
        await self._dns.run(self.config.harvest_interval if interval is None else interval)

    def stop(self) -> None:
        """Make :meth:`run_harvester` return (promptly, even mid-sleep)."""
        self._dns.stop()

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

        1. a quarantined IP whose quarantine has elapsed, or a slow IP whose
           re-probe is due, and has no probe yet (it gets exactly one probe
           connection; without this, a recovered IP would never be used again
           while others are healthy);
        2. the healthy IP with the fewest connections, ties going to the one
           handed out least recently (rotation);
        3. if ``exclude`` (e.g. IPs this request already failed on) rules out
           all of those, the same over excluded healthy IPs;
        4. if no healthy IP is left, the same over slow ones;
        5. if every IP is quarantined, the one whose quarantine ends soonest,
           preferring non-excluded ones, and :attr:`needs_refresh` is set.

        Expired IPs still carrying connections are only used when nothing fresh
        is left. Raises :class:`NoAddressesError` when the table is empty.
        """
        now = self._clock()
        self._purge(now)
        self._check_running(now)
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
            chosen = min(probes, key=lambda e: e.quarantine_until if e.quarantined else e.slow_probe_at)
            if chosen.quarantined:
                chosen.probe_in_flight = True
            else:
                chosen.slow_probe_at = now + self._slow_probe_delay(chosen)
            return self._hand_out(chosen)
        for pool in (allowed, live):
            healthy = [e for e in pool if e.usable()]
            if healthy:
                return self._hand_out(min(healthy, key=lambda e: (e.connections, e.last_pick)))
        # Only slow (and quarantined) IPs left: a slow IP still beats none.
        for pool in (allowed, live):
            slow = [e for e in pool if not e.quarantined]
            if slow:
                return self._hand_out(min(slow, key=lambda e: (e.connections, e.last_pick)))
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

    def _hand_out(self, entry: IPRecord) -> str:
        entry.last_pick = self._pick_seq
        self._pick_seq += 1
        return entry.ip

    # ------------------------------------------------------------ accounting

    def connection_opened(self, ip: str) -> None:
        entry = self._entries.get(ip)
        if entry is None:
            # Purged between pick() and connect (TTL ran out meanwhile): track it
            # again, already expired, so it leaves once its connections close.
            entry = self._entries[ip] = IPRecord(ip, self._clock())
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
        if entry is None:
            return None
        now = self._clock()
        self._check_running(now)
        return entry.state(now)

    def record_request(self, ip: str) -> None:
        entry = self._entries.get(ip)
        if entry is not None:
            entry.requests += 1

    def request_started(self, ip: str, progress: Progress) -> InFlight | None:
        """A bulk request (a range, a part) starts on ``ip``; its bytes so far are read
        from ``progress``. Pass the result to :meth:`request_answered` when the response
        head arrives and to :meth:`request_ended` however it ends.

        While it runs, the table compares how fast it moves with the other IPs' requests
        (see :func:`~s3fast.net._goodput.judge_running`), so that an IP crawling from its
        first bytes is demoted before any of its requests could finish. Only requests of
        one kind should be tracked: a small GET waiting for its answer would look slow
        next to ranges streaming."""
        entry = self._entries.get(ip)
        if entry is None:
            return None
        record = InFlight(ip, progress, progress.moved_bytes, self._clock())
        entry.running.add(record)
        return record

    def request_answered(self, record: InFlight | None) -> None:
        """The response head of a request from :meth:`request_started` arrived: its body's
        rate is judged from now on."""
        if record is not None:
            record.answered = self._clock()

    def request_ended(self, record: InFlight | None) -> None:
        if record is None:
            return
        entry = self._entries.get(record.ip)
        if entry is not None:
            entry.running.discard(record)

    def _check_running(self, now: float) -> None:
        """Demote each healthy IP whose running requests all crawl next to its peers'."""
        if now - self._running_checked < RUNNING_CHECK_INTERVAL:
            return
        self._running_checked = now
        for entry, rate in crawling([e for e in self._entries.values() if e.usable()], now):
            self._demote(entry, now, median_rate=rate)

    # ---------------------------------------------------------------- health

    def record_success(self, ip: str, nbytes: int = 0, seconds: float = 0.0) -> None:
        """A request on ``ip`` completed: clears its failure score and any
        quarantine, and feeds its goodput (see :meth:`record_goodput`)."""
        entry = self._entries.get(ip)
        if entry is None:
            return
        now = self._clock()
        entry.bytes += max(0, nbytes)
        entry.failure_score = 0.0
        if entry.quarantined:
            if now < entry.quarantine_until:
                # A connection opened before the quarantine finished well: it says
                # nothing about the IP as it is now, so it must not lift the quarantine.
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
        self._sample(entry, nbytes, seconds, now)

    def record_goodput(self, ip: str, nbytes: int, seconds: float) -> None:
        """A request on ``ip`` was abandoned after moving ``nbytes`` in ``seconds``
        (a hedge won elsewhere, the transfer was cancelled): no verdict on the
        IP's health, but a goodput sample, which may demote it to ``"slow"`` (or,
        for a slow IP's probe, promote it back)."""
        entry = self._entries.get(ip)
        if entry is None:
            return
        entry.bytes += max(0, nbytes)
        if entry.quarantined:
            return
        self._sample(entry, nbytes, seconds, self._clock(), abandoned=True)

    def _sample(self, entry: IPRecord, nbytes: int, seconds: float, now: float, *,
                abandoned: bool = False) -> None:
        cfg = self.config
        if entry.slow and now - seconds < entry.demoted_at:
            # Started before the demotion: the same slowness that demoted it, not
            # news from a probe.
            return
        if seconds <= 0 or not (
            nbytes >= cfg.min_sample_bytes
            or (seconds >= cfg.min_sample_seconds and (abandoned or nbytes >= cfg.min_sample_bytes // 64))
        ):
            # A finished request that moved little measured its latency; an abandoned one
            # that ran long measured the IP, even at zero bytes (a black-holed IP sends none).
            return
        rate = nbytes / seconds
        entry.add_sample(rate, cfg.ema_alpha, cfg.slow_window)
        verdict = judge_goodput(entry.slow, list(entry.goodput), self._reference(entry), cfg)
        if verdict == "demote":
            self._demote(entry, now)
        elif verdict == "promote":
            logger.info("%s recovered (median %.0f B/s); healthy again", entry.ip, _median(list(entry.goodput)))
            entry.slow = False
            # Forgiven only gradually: a relapse soon after is re-probed less often.
            entry.slow_level = max(0, entry.slow_level - 1)
        elif entry.slow:
            reference = self._reference(entry)
            if reference is not None and rate >= cfg.recover_ratio * reference:
                # This probe looks recovered: the next one may go at once, so that
                # the samples a promotion needs come quickly.
                entry.slow_probe_at = now
            else:
                # The probe found it still slow: look again later, less often.
                entry.slow_level += 1
                entry.slow_probe_at = now + self._slow_probe_delay(entry)

    def _reference(self, entry: IPRecord) -> float | None:
        """The median of the other healthy IPs' median goodput, None without any."""
        cfg = self.config
        medians = [
            _median(list(e.goodput))
            for e in self._entries.values()
            if e is not entry and e.usable() and len(e.goodput) >= cfg.slow_min_samples
        ]
        return _median(medians) if medians else None

    def _demote(self, entry: IPRecord, now: float, median_rate: float | None = None) -> None:
        if median_rate is None:
            logger.info("%s is slow (median %.0f B/s, peers %.0f B/s); demoting",
                        entry.ip, _median(list(entry.goodput)), self._reference(entry) or 0.0)
        else:
            logger.info("%s is slow (its running requests move %.0f B/s, far below its peers'); demoting",
                        entry.ip, median_rate)
        entry.slow = True
        entry.demotions += 1
        entry.demoted_at = now
        # Recovery is judged on what the probes measure from now on.
        entry.goodput.clear()
        entry.slow_probe_at = now + self._slow_probe_delay(entry)

    def _slow_probe_delay(self, entry: IPRecord) -> float:
        cfg = self.config
        return min(cfg.slow_probe_cap, cfg.slow_probe_base * 2.0 ** min(entry.slow_level, 62))

    def record_failure(self, ip: str, kind: str) -> None:
        """A connect or request on ``ip`` failed with ``kind`` (see module doc).

        Unknown kinds raise ``ValueError`` so a typo can't silently disable
        ejection."""
        try:
            weight = FAILURE_WEIGHTS[kind]
        except KeyError:
            raise ValueError(
                f"unknown failure kind {kind!r}; expected one of {sorted(FAILURE_WEIGHTS)}"
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

    def _quarantine(self, entry: IPRecord, now: float) -> None:
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

    def _release(self, entry: IPRecord, now: float) -> None:
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
        entry.goodput.clear()

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
        return {ip: e.snapshot(now, self.config.slow_min_samples) for ip, e in self._entries.items()}

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
