"""Fault rules for :mod:`support.faultproxy`: what to break, and when.

Pure decisions only (no sockets): the action types, the per-rule matcher/counter, the body
fault planner and the pacing token bucket, so each is testable without a network.

Rule semantics (per proxy, or across proxies when one Rule object is added to several):

* A rule *matches* a request when its ``method`` (if set) equals the request method and its
  ``path`` regex (if set) is found (``re.search``) in the request target (path + query).
* Every matching rule counts the request (``rule.matched``). Rules are then tried in the
  order they were added; the first one that elects to fire wins and is the only action
  applied to that request (``rule.fired``). Later rules still count the match.
* A rule elects to fire when ``nth`` is set and this is its ``nth`` match (1-based); or
  ``times`` is set and this is one of its first ``times`` matches; or neither is set
  (every match). Then, if ``probability`` < 1, a draw from the rule's own
  ``random.Random(seed)`` must succeed.
* ``refuse()`` rules are connection-level: they are considered once per accepted TCP
  connection (nth/times count connections) and cannot have a method or path.
"""
from __future__ import annotations

import itertools
import random
import re
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Callable, Literal, Mapping, Union
from xml.sax.saxutils import escape

Direction = Literal["down", "up"]
StopKind = Literal["reset", "truncate", "stall"]


# --- actions --------------------------------------------------------------------------

@dataclass(frozen=True)
class Refuse:
    """Accept the TCP connection and reset it (SO_LINGER 0) before reading anything."""

    kind = "refuse"


@dataclass(frozen=True)
class ResetAfter:
    """Relay, then reset the client connection once ``n_bytes`` of the response body
    (``down``) or request body (``up``) have been relayed. No effect on a message whose body
    is not longer than ``n_bytes`` (there is nothing left to cut)."""

    n_bytes: int
    direction: Direction = "down"
    kind = "reset_after"


@dataclass(frozen=True)
class ResetBeforeResponse:
    """Reset the client connection after the whole request was read and before any response
    byte. ``forward=True`` (default): the request is relayed and the server's response is read
    and discarded first, so the server did the work; ``False``: the server never sees it."""

    forward: bool = True
    kind = "reset_before_response"


@dataclass(frozen=True)
class TruncateAfter:
    """Send the response head and ``n_bytes`` of its body, then close cleanly (FIN): a short
    read against Content-Length. No effect on a body not longer than ``n_bytes``."""

    n_bytes: int
    kind = "truncate_after"


@dataclass(frozen=True)
class Stall:
    """Send ``after_bytes`` of the response body, then send nothing for ``seconds`` (ended
    early if the client goes away), then reset. The client must time out."""

    after_bytes: int
    seconds: float
    kind = "stall"


@dataclass(frozen=True)
class Hold:
    """Read the whole request and answer nothing for ``seconds`` (ended early when the client
    goes away), then reset. ``forward`` False (default): the server never sees the request;
    True: it is relayed and the server's whole answer read (and dropped) first, so the
    server did the work and only the answer is lost. With :meth:`Rule.wait_holding` a test
    learns, without sleeping, that the client is now waiting on this request (a point in
    its work at which to kill it)."""

    seconds: float
    forward: bool = False
    kind = "hold"


@dataclass(frozen=True)
class Latency:
    """Hold the final response head for ``seconds`` (slow first byte); the request has
    already reached the server."""

    seconds: float
    kind = "latency"


@dataclass(frozen=True)
class Throttle:
    """Cap the relay rate of this response body at ``bytes_per_second``."""

    bytes_per_second: float
    kind = "throttle"


@dataclass(frozen=True)
class Respond:
    """Answer with a canned S3 error without forwarding (the request body is consumed).
    ``headers`` override the defaults (Date, Content-Type, x-amz-request-id, ...); a value of
    "" removes that header. ``body`` replaces the XML. HEAD answers carry no body."""

    status: int
    code: str
    message: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    kind = "respond"


@dataclass(frozen=True)
class Error200:
    """Forward the request, discard the server's answer, reply 200 OK with an ``<Error>``
    body (S3's 200-with-error on CompleteMultipartUpload/CopyObject)."""

    code: str
    message: str
    kind = "error_200"


@dataclass(frozen=True)
class Corrupt:
    """Flip (XOR 0xFF) the response-body byte at ``offset``; no effect on a shorter body."""

    offset: int
    kind = "corrupt"


Action = Union[Refuse, ResetAfter, ResetBeforeResponse, TruncateAfter, Stall, Latency,
               Throttle, Respond, Error200, Corrupt, Hold]


def refuse() -> Refuse:
    return Refuse()


def reset_after(n_bytes: int, direction: Direction = "down") -> ResetAfter:
    if n_bytes < 0 or direction not in ("down", "up"):
        raise ValueError("reset_after needs n_bytes >= 0 and direction 'down' or 'up'")
    return ResetAfter(n_bytes, direction)


def reset_before_response(forward: bool = True) -> ResetBeforeResponse:
    return ResetBeforeResponse(forward)


def truncate_after(n_bytes: int) -> TruncateAfter:
    if n_bytes < 0:
        raise ValueError("truncate_after needs n_bytes >= 0")
    return TruncateAfter(n_bytes)


def stall(after_bytes: int, seconds: float) -> Stall:
    if after_bytes < 0 or not 0 < seconds <= 120:
        raise ValueError("stall needs after_bytes >= 0 and 0 < seconds <= 120 (bounded)")
    return Stall(after_bytes, seconds)


def hold(seconds: float, *, forward: bool = False) -> Hold:
    return Hold(seconds, forward)


def latency(seconds: float) -> Latency:
    if not 0 <= seconds <= 120:
        raise ValueError("latency needs 0 <= seconds <= 120 (bounded)")
    return Latency(seconds)


def throttle(bytes_per_second: float) -> Throttle:
    if bytes_per_second <= 0:
        raise ValueError("throttle needs bytes_per_second > 0")
    return Throttle(bytes_per_second)


def respond(status: int, code: str, message: str = "",
            headers: Mapping[str, str] | None = None, body: bytes | None = None) -> Respond:
    return Respond(status, code, message or code, tuple((headers or {}).items()), body)


def error_200(code: str = "InternalError", message: str = "") -> Error200:
    return Error200(code, message or code)


def corrupt(offset: int) -> Corrupt:
    if offset < 0:
        raise ValueError("corrupt needs offset >= 0")
    return Corrupt(offset)


# --- rules ----------------------------------------------------------------------------

_rule_ids = itertools.count(1)


@dataclass(eq=False)
class Rule:
    """A matcher plus one action; counters are thread-safe (see the module docstring).

    Defaults: any method, any path, every match, probability 1.0, seed 0.
    """

    action: Action
    method: str | None = None
    path: str | None = None
    nth: int | None = None
    times: int | None = None
    probability: float = 1.0
    seed: int = 0
    name: str = ""
    _regex: re.Pattern[str] | None = field(init=False, repr=False, default=None)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)
    _rng: random.Random = field(init=False, repr=False, default_factory=random.Random)
    _matched: int = field(init=False, repr=False, default=0)
    _fired: int = field(init=False, repr=False, default=0)
    _fired_cond: threading.Condition = field(init=False, repr=False)
    _holding: int = field(init=False, repr=False, default=0)

    def __post_init__(self) -> None:
        self._fired_cond = threading.Condition(self._lock)
        if self.nth is not None and self.times is not None:
            raise ValueError("give nth or times, not both")
        if (self.nth is not None and self.nth < 1) or (self.times is not None and self.times < 0):
            raise ValueError("nth is 1-based; times must be >= 0")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        if isinstance(self.action, Refuse) and (self.method or self.path):
            raise ValueError("refuse() is connection-level: no method/path to match")
        self.method = self.method.upper() if self.method else None
        self._regex = re.compile(self.path) if self.path is not None else None
        self._rng.seed(self.seed)
        if not self.name:
            self.name = f"{self.action.kind}#{next(_rule_ids)}"

    def __repr__(self) -> str:
        when = (f"nth={self.nth}" if self.nth is not None
                else f"times={self.times}" if self.times is not None else "every")
        return (f"Rule({self.name!r}, {self.action!r}, method={self.method}, "
                f"path={self.path!r}, {when}, p={self.probability}, "
                f"matched={self._matched}, fired={self._fired})")

    @property
    def connection_level(self) -> bool:
        return isinstance(self.action, Refuse)

    @property
    def matched(self) -> int:
        with self._lock:
            return self._matched

    @property
    def fired(self) -> int:
        with self._lock:
            return self._fired

    def matches(self, method: str, target: str) -> bool:
        if self.method is not None and method.upper() != self.method:
            return False
        return self._regex is None or self._regex.search(target) is not None

    def _elects(self, count: int) -> bool:
        if self.nth is not None and count != self.nth:
            return False
        if self.times is not None and count > self.times:
            return False
        return self.probability >= 1.0 or self._rng.random() < self.probability

    def consider(self, method: str, target: str, *, may_fire: bool = True) -> bool:
        """Count a request that matches and say whether this rule fires for it."""
        if not self.matches(method, target):
            return False
        with self._lock:
            self._matched += 1
            if may_fire and self._elects(self._matched):
                self._fired += 1
                self._fired_cond.notify_all()
                return True
            return False

    def start_holding(self) -> None:
        """A :class:`Hold` of this rule has the whole request (and, forwarding, the
        server's answer) and now holds the client (called by the relay)."""
        with self._fired_cond:
            self._holding += 1
            self._fired_cond.notify_all()

    def wait_holding(self, count: int = 1, timeout: float = 30.0) -> int:
        """Block until ``count`` requests were held by this rule (TimeoutError after ``timeout``)."""
        with self._fired_cond:
            if not self._fired_cond.wait_for(lambda: self._holding >= count, timeout):
                raise TimeoutError(f"rule {self.name!r} held {self._holding} < {count} requests in {timeout} s")
            return self._holding

    def wait_fired(self, count: int = 1, timeout: float = 30.0) -> int:
        """Block until this rule has fired ``count`` times (TimeoutError after ``timeout``)."""
        with self._fired_cond:
            if not self._fired_cond.wait_for(lambda: self._fired >= count, timeout):
                raise TimeoutError(f"rule {self.name!r} fired {self._fired} < {count} times in {timeout} s")
            return self._fired

    def reset_counters(self) -> None:
        with self._lock:
            self._matched = self._fired = 0
            self._rng.seed(self.seed)


def elect(rules: list[Rule], method: str, target: str) -> Rule | None:
    """The rule applied to this request, or None; counts matches on every rule."""
    winner: Rule | None = None
    for rule in rules:
        if rule.connection_level:
            continue
        if rule.consider(method, target, may_fire=winner is None):
            winner = rule
    return winner


def elect_connection(rules: list[Rule]) -> Rule | None:
    """The connection-level rule that fires for a newly accepted connection, or None."""
    winner: Rule | None = None
    for rule in rules:
        if rule.connection_level and rule.consider("", "", may_fire=winner is None):
            winner = rule
    return winner


# --- body faults (pure) ---------------------------------------------------------------

@dataclass(frozen=True)
class PiecePlan:
    """What to do with one body piece: send ``send`` (possibly altered), then ``stop``."""

    send: bytes
    stop: StopKind | None = None


def plan_piece(action: Action | None, direction: Direction, offset: int,
               piece: bytes) -> PiecePlan:
    """Apply a body fault to ``piece``, which starts at payload ``offset`` of its message."""
    limit: int | None = None
    stop: StopKind | None = None
    if isinstance(action, ResetAfter) and action.direction == direction:
        limit, stop = action.n_bytes, "reset"
    elif direction == "down" and isinstance(action, TruncateAfter):
        limit, stop = action.n_bytes, "truncate"
    elif direction == "down" and isinstance(action, Stall):
        limit, stop = action.after_bytes, "stall"
    elif direction == "down" and isinstance(action, Corrupt):
        at = action.offset - offset
        if 0 <= at < len(piece):
            flipped = bytearray(piece)
            flipped[at] ^= 0xFF
            return PiecePlan(bytes(flipped))
    if limit is not None and offset + len(piece) > limit:
        # Only cut when a byte at index >= limit exists: the message is then incomplete.
        return PiecePlan(piece[: max(0, limit - offset)], stop)
    return PiecePlan(piece)


# --- pacing ---------------------------------------------------------------------------

class Pacer:
    """Token bucket for relay rate limits: ``reserve(n)`` says how long to wait before
    sending ``n`` bytes. Tokens may go negative (debt), so a large write waits for its
    whole size. ``burst`` defaults to 50 ms worth of bytes (at least 1 KiB)."""

    def __init__(self, bytes_per_second: float, *, burst: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if bytes_per_second <= 0:
            raise ValueError("bytes_per_second must be > 0")
        self.rate = float(bytes_per_second)
        self.burst = float(burst) if burst is not None else max(1024.0, self.rate * 0.05)
        self._clock = clock
        self._tokens = self.burst
        self._last = clock()
        self.total_bytes = 0
        self.total_delay = 0.0

    def __repr__(self) -> str:
        return (f"Pacer(rate={self.rate:.0f} B/s, burst={self.burst:.0f}, "
                f"tokens={self._tokens:.0f}, bytes={self.total_bytes}, "
                f"delay={self.total_delay:.3f}s)")

    @property
    def slice_bytes(self) -> int:
        """Write size that keeps pacing smooth (about 50 ms of data)."""
        return max(1024, int(self.rate * 0.05))

    def reserve(self, n: int) -> float:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= n
        delay = max(0.0, -self._tokens / self.rate)
        self.total_bytes += n
        self.total_delay += delay
        return delay


# --- canned S3 answers ----------------------------------------------------------------

def s3_error_xml(code: str, message: str, request_id: str, resource: str | None = None) -> bytes:
    """The body S3 sends with an error status (and inside a 200-with-error)."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<Error>',
             f"<Code>{escape(code)}</Code>", f"<Message>{escape(message)}</Message>"]
    if resource is not None:
        parts.append(f"<Resource>{escape(resource)}</Resource>")
    parts.append(f"<RequestId>{escape(request_id)}</RequestId><HostId>s3fast-faultproxy</HostId>")
    parts.append("</Error>")
    return "".join(parts).encode()


def canned_response(status: int, body: bytes, *, method: str, request_id: str,
                    overrides: tuple[tuple[str, str], ...] = (), close: bool = False,
                    now: Callable[[], float] = time.time) -> bytes:
    """A full response (head + body) with S3-like headers; HEAD gets the head only."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    headers: dict[str, tuple[str, str]] = {}

    def put(name: str, value: str) -> None:
        headers[name.lower()] = (name, value)

    put("x-amz-request-id", request_id)
    put("x-amz-id-2", "s3fast-faultproxy")
    put("Date", formatdate(now(), usegmt=True))
    put("Content-Type", "application/xml")
    put("Server", "AmazonS3")
    for name, value in overrides:
        if value == "":
            headers.pop(name.lower(), None)
        else:
            put(name, value)
    put("Content-Length", str(len(body)))
    if close:
        put("Connection", "close")
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{n}: {v}" for n, v in headers.values()]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if method == "HEAD" else head + body
