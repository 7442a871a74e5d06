"""Per-prefix congestion control for trees: AIMD on 503 SlowDown (pure, injected clock).

S3 scales request rates per partitioned prefix (about 3,500 PUT and 5,500 GET per second
each) and answers 503 SlowDown on a hot prefix while it repartitions. The transport retries
those answers, so the object still succeeds; what it reports is that its requests were
throttled (``_transport.THROTTLES``). The tree engine turns that into a concurrency limit for
that prefix only, so other prefixes keep their pace:

    unlimited --SlowDown--> limit = max(1, in flight // 2)          (multiplicative decrease)
    limit L   --SlowDown, >= hold s after the last decrease--> max(1, min(L, in flight) // 2)
    limit L   --SlowDown within hold s of the last decrease--> unchanged
    limit L   --L objects done without SlowDown--> L + 1            (additive increase)
    limit >= ceiling and nothing in flight --> forgotten (the state stays bounded)

A SlowDown counts when the transport meets it (``Throttles.listener``), not when its object
ends: the retry may take seconds, and the prefix should slow meanwhile. The hold keeps one
burst from halving many times: every object in flight when the first 503 arrived is likely
to meet one too, and they all answer for the same overload (TCP halves once per round trip).
The limit bounds objects started, not requests already on the wire: objects admitted
before a decrease finish (their retries back off on their own).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


def prefix_of(base: str, relative: str) -> str:
    """The partition an object's requests count against: the tree's base and the first
    segment of its relative key (``run/`` + ``2024/x/y`` -> ``run/2024/``)."""
    head, sep, _ = relative.partition("/")
    return base + head + sep if sep else base


@dataclass
class _State:
    inflight: int = 0
    limit: int | None = None  # None: no SlowDown seen (bounded by the engine's window only)
    decreased_at: float | None = None
    good: int = 0  # objects done without SlowDown since the limit last changed


@dataclass
class _Throttled:
    first: float
    last: float = 0.0
    slowdowns: int = 0
    decreases: int = 0
    lowest_limit: int | None = None


@dataclass(frozen=True)
class Ticket:
    """One admitted object (its prefix)."""

    prefix: str


class PrefixGovernor:
    """AIMD concurrency per prefix (see the module docstring). ``ceiling`` is the limit at
    which a recovered prefix is forgotten (the engine's window: it never runs more)."""

    def __init__(self, ceiling: int, *, hold: float = 0.2, clock: Callable[[], float] = time.monotonic) -> None:
        self.ceiling = max(1, ceiling)
        #: seconds after a decrease during which further SlowDowns do not decrease again
        self.hold = hold
        self.clock = clock
        self._states: dict[str, _State] = {}
        #: every prefix ever throttled (one record each: bounded by the prefixes that S3 throttled)
        self._report: dict[str, _Throttled] = {}

    def __repr__(self) -> str:
        limited = {p: s.limit for p, s in self._states.items() if s.limit is not None}
        return f"<PrefixGovernor prefixes={len(self._states)} limited={limited}>"

    def limit(self, prefix: str) -> int | None:
        s = self._states.get(prefix)
        return None if s is None else s.limit

    def inflight(self, prefix: str) -> int:
        s = self._states.get(prefix)
        return 0 if s is None else s.inflight

    def can_start(self, prefix: str) -> bool:
        s = self._states.get(prefix)
        return s is None or s.limit is None or s.inflight < s.limit

    def start(self, prefix: str) -> Ticket:
        s = self._states.setdefault(prefix, _State())
        s.inflight += 1
        return Ticket(prefix)

    def slowdown(self, ticket: Ticket) -> None:
        """A request of the object of ``ticket`` was answered 503 SlowDown (it is retried)."""
        s = self._states.get(ticket.prefix)
        if s is None or s.inflight == 0:
            # A straggling request (a hedge) of an object already reported finished: its
            # prefix is not slowed again, and the request itself must not fail over this.
            self._note(ticket.prefix, False, None)
            return
        now = self.clock()
        decrease = s.decreased_at is None or now - s.decreased_at >= self.hold
        if decrease:
            s.limit = max(1, min(s.inflight, s.limit or s.inflight) // 2)
            s.decreased_at = now
            s.good = 0
        self._note(ticket.prefix, decrease, s.limit)

    def finish(self, ticket: Ticket, slowdowns: int) -> None:
        """The object of ``ticket`` ended; its requests met ``slowdowns`` SlowDown answers
        (each already told to :meth:`slowdown`)."""
        s = self._states.get(ticket.prefix)
        if s is None:
            return
        s.inflight -= 1
        if slowdowns:
            return
        if s.limit is None:
            if s.inflight == 0:
                del self._states[ticket.prefix]
            return
        s.good += 1
        if s.good >= s.limit:
            s.limit += 1
            s.good = 0
        if s.limit >= self.ceiling and s.inflight == 0:
            del self._states[ticket.prefix]

    def _note(self, prefix: str, decrease: bool, limit: int | None) -> None:
        now = self.clock()
        r = self._report.get(prefix)
        if r is None:
            r = self._report[prefix] = _Throttled(first=now)
        r.slowdowns += 1
        r.decreases += decrease
        r.last = now
        if limit is not None:
            r.lowest_limit = limit if r.lowest_limit is None else min(r.lowest_limit, limit)

    def merge(self, rows: list[dict[str, object]]) -> None:
        """Add another governor's :meth:`report` (a worker process's) to this one's."""
        for row in rows:
            prefix = str(row["prefix"])
            r = self._report.get(prefix)
            if r is None:
                r = self._report[prefix] = _Throttled(first=0.0)
            r.slowdowns += int(row["slowdowns"])  # type: ignore[call-overload]
            r.decreases += int(row["decreases"])  # type: ignore[call-overload]
            low = row["lowest_limit"]
            if isinstance(low, int):
                r.lowest_limit = low if r.lowest_limit is None else min(r.lowest_limit, low)
            r.last = max(r.last, r.first + float(row["seconds"]))  # type: ignore[arg-type]

    def report(self) -> list[dict[str, object]]:
        """The prefixes that were throttled: SlowDowns met, decreases, the lowest limit and
        the seconds from the first SlowDown to the last (``--stats`` and the JSON summary)."""
        return [{"prefix": p, "slowdowns": r.slowdowns, "decreases": r.decreases,
                 "lowest_limit": r.lowest_limit, "seconds": round(r.last - r.first, 3)}
                for p, r in sorted(self._report.items())]


__all__ = ["PrefixGovernor", "Ticket", "prefix_of"]
