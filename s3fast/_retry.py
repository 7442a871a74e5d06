"""Retry decisions: classify a failure, decide whether to retry, and how long
to wait -- without retry storms.

Pure bookkeeping, no I/O and no sleeping: the caller awaits the returned delay.

Three mechanisms, as in botocore's "standard" mode and aws-c-s3:

1. **Classification** (:func:`classify_response`, :func:`classify_exception`)
   into an :class:`ErrorKind`. FATAL is never retried.
2. **Per-request limits** (:class:`RetryState`): ``max_attempts`` in total, at
   most ``clock_skew_max_retries`` / ``integrity_max_retries`` for the kinds
   where repeating the same thing rarely helps.
3. **A retry budget per endpoint** (:class:`RetryBudget`): a token bucket that
   every retry draws from and successes refill. When many requests fail at
   once (an outage, a dead IP carrying many connections) the bucket empties and
   further failures are returned to the caller instead of multiplying load on a
   service that is already struggling -- the "metastable failure" that
   unbounded retries cause.

Backoff is exponential with *full jitter* (:func:`backoff_delay`), with a larger
base for throttling, since a 503 SlowDown asks us to send less.
"""
from __future__ import annotations

import asyncio
import enum
import random
import ssl
from dataclasses import dataclass
from datetime import datetime, timezone

from .config._retry import RetryConfig

__all__ = [
    "ErrorKind",
    "RetryBudget",
    "RetryConfig",
    "RetryDecision",
    "RetryState",
    "backoff_delay",
    "classify_exception",
    "classify_network",
    "classify_response",
    "clock_skew_from_date",
    "decide_retry",
]


class ErrorKind(enum.Enum):
    """What a failure says about retrying it. Values match the ``kind`` strings
    ``EndpointTable.record_failure`` accepts, so ``kind.value`` can be passed on.

    - THROTTLE: the service asks us to slow down (503 SlowDown, 429, Throttling
      codes). Retry with the long backoff; never blame the IP.
    - TRANSIENT: the server failed this once (500/502/504, InternalError,
      400 RequestTimeout, a 200 whose body is an InternalError).
    - CONNECTION: the transport broke (refused, reset, closed mid-body, short read).
    - PROTOCOL: the server's answer broke HTTP (malformed status line or
      header, bad chunked framing, a body over its bound): a broken front end
      or middlebox, so retried on another IP, but only ``PROTOCOL_MAX_RETRIES``
      times -- a server that keeps sending garbage will not stop.
    - TIMEOUT: connect / first-byte / idle / low-speed timeout.
    - CLOCK_SKEW: RequestTimeTooSkewed: fix the signing clock, retry once.
    - INTEGRITY: the server rejected our checksum (BadDigest, ...): the bytes
      were damaged in memory or in flight; retry once, then it's the source.
    - FATAL: everything else (AccessDenied, NoSuchKey, NoSuchBucket, 412
      PreconditionFailed, 416 InvalidRange, a host name that does not exist,
      ...): retrying cannot help.
    """

    THROTTLE = "throttle"
    TRANSIENT = "transient"
    CONNECTION = "connection"
    PROTOCOL = "protocol"
    TIMEOUT = "timeout"
    CLOCK_SKEW = "clock_skew"
    INTEGRITY = "integrity"
    FATAL = "fatal"


# Error codes seen in S3 (and the AWS-wide throttling family botocore knows).
_THROTTLE_CODES = frozenset({
    "SlowDown", "Throttling", "ThrottlingException", "ThrottledException",
    "RequestThrottled", "RequestThrottledException", "TooManyRequestsException",
    "ProvisionedThroughputExceededException", "RequestLimitExceeded",
    "BandwidthLimitExceeded", "LimitExceededException", "EC2ThrottledException",
    "TransactionInProgressException", "ServiceUnavailable",
})
_TRANSIENT_CODES = frozenset({
    "InternalError", "InternalErrors", "RequestTimeout", "RequestTimeoutException",
    "PriorRequestNotComplete", "OperationAborted",
})
_CLOCK_SKEW_CODES = frozenset({"RequestTimeTooSkewed", "RequestExpired"})
_INTEGRITY_CODES = frozenset({"BadDigest", "XAmzContentSHA256Mismatch"})

_CODE_KINDS: dict[str, ErrorKind] = {
    **{c: ErrorKind.THROTTLE for c in _THROTTLE_CODES},
    **{c: ErrorKind.TRANSIENT for c in _TRANSIENT_CODES},
    **{c: ErrorKind.CLOCK_SKEW for c in _CLOCK_SKEW_CODES},
    **{c: ErrorKind.INTEGRITY for c in _INTEGRITY_CODES},
}


def classify_response(status: int, code: str | None = None) -> ErrorKind:
    """Classify an S3 error response by its status and ``<Code>`` (if any).

    A known code wins over the status: S3 sends RequestTimeout as 400 and
    RequestTimeTooSkewed as 403, and a 200 with an ``<Error>`` body (Complete,
    Copy) carries the real verdict in its code. Without a code (HEAD has no
    body) the status decides: 429/503/509 throttle, other 5xx except 501/505
    are transient, 408 is transient, everything else is FATAL.

    Raises ``ValueError`` for a 2xx without an error code: that is not an error.
    """
    if code:
        kind = _CODE_KINDS.get(code)
        if kind is not None:
            return kind
        if 200 <= status < 300:
            # 200-with-error and an unknown/fatal code (e.g. AccessDenied).
            return ErrorKind.FATAL
    elif 200 <= status < 300:
        raise ValueError(f"status {status} without an error code is not an error")
    if status in (429, 503, 509):
        return ErrorKind.THROTTLE
    if status == 408 or (500 <= status < 600 and status not in (501, 505)):
        return ErrorKind.TRANSIENT
    return ErrorKind.FATAL


def classify_exception(exc: BaseException) -> ErrorKind:
    """Classify a transport exception.

    Timeouts are TIMEOUT. Connection errors, TLS errors, DNS failures, short
    reads (``EOFError``, ``asyncio.IncompleteReadError``) and other ``OSError``
    are CONNECTION. A failed certificate verification is FATAL: it is a
    configuration problem (or an attack), and retrying cannot fix it. Anything
    else is FATAL too: a bug, not a network condition -- retrying would hide it.
    """
    # Timeouts first: TimeoutError is an OSError too (socket.timeout is an
    # alias); on 3.10 asyncio.TimeoutError is a separate class.
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return ErrorKind.TIMEOUT
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ErrorKind.FATAL
    if isinstance(exc, (OSError, EOFError)):
        return ErrorKind.CONNECTION
    return ErrorKind.FATAL


#: Retries after a PROTOCOL failure. Each goes to another IP (the transport excludes the one
#: that failed), so two cover a broken front end among healthy ones; more would only repeat
#: a hostile or broken service's garbage (and its bounded but real memory and CPU) ten times.
PROTOCOL_MAX_RETRIES = 2

#: ``NetworkError.kind`` -> ErrorKind; kinds not listed (connect, reset, short-read, ...) are
#: CONNECTION. "resolve" is a host name the DNS says does not exist.
_NETWORK_KINDS: dict[str, ErrorKind] = {
    "timeout": ErrorKind.TIMEOUT,
    "protocol": ErrorKind.PROTOCOL,
    "resolve": ErrorKind.FATAL,
    "tls": ErrorKind.FATAL,
    "source": ErrorKind.FATAL,
}


def classify_network(kind: str) -> ErrorKind:
    """Classify a transport failure by its ``NetworkError.kind``."""
    return _NETWORK_KINDS.get(kind, ErrorKind.CONNECTION)


def backoff_delay(
    attempt: int, kind: ErrorKind, config: RetryConfig, rng: random.Random
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based).

    Full jitter: ``uniform(0, min(cap, base * 2**(attempt-1)))``; it spreads
    retries of requests that failed together over the whole window, which is
    what breaks synchronised retry waves. CLOCK_SKEW retries at once (the
    clock was corrected; waiting doesn't help); FATAL raises ``ValueError``.
    """
    if attempt < 1:
        raise ValueError(f"attempt is 1-based, got {attempt}")
    if kind is ErrorKind.FATAL:
        raise ValueError("FATAL errors are never retried")
    if kind is ErrorKind.CLOCK_SKEW:
        return 0.0
    base = config.throttle_backoff_base if kind is ErrorKind.THROTTLE else config.backoff_base
    # Clamp the exponent: 2.0**1100 overflows a float long after the cap applies.
    ceiling = min(config.backoff_cap, base * 2.0 ** min(attempt - 1, 64))
    return rng.uniform(0.0, ceiling)


class RetryBudget:
    """Token bucket limiting retries for one endpoint (host).

    Not thread-safe: owned by one event loop.
    """

    def __init__(self, config: RetryConfig | None = None) -> None:
        self.config = config if config is not None else RetryConfig()
        self.tokens = self.config.budget_capacity
        self.denied = 0  # retries refused because the bucket was empty

    def try_acquire(self, kind: ErrorKind) -> int | None:
        """Take the cost of one retry after ``kind``; return it, or None when
        the bucket can't pay (don't retry). FATAL is never paid for."""
        if kind is ErrorKind.FATAL:
            return None
        cost = self.config.cost(kind)
        if cost > self.tokens:
            self.denied += 1
            return None
        self.tokens -= cost
        return cost

    def release(self, cost: int) -> None:
        """Give back tokens of a retry that was granted but not performed
        (e.g. the transfer was cancelled during the backoff)."""
        self.tokens = min(self.config.budget_capacity, self.tokens + max(0, cost))

    def on_success(self, cost_taken: int = 0) -> None:
        """A request succeeded: refund its last retry cost, or
        ``success_refund`` if it needed no retry."""
        self.release(cost_taken if cost_taken > 0 else self.config.success_refund)

    @property
    def empty(self) -> bool:
        """True when not even the cheapest retry can be paid."""
        cheapest = min(self.config.retry_cost, self.config.throttle_cost, self.config.timeout_cost)
        return self.tokens < cheapest

    def __repr__(self) -> str:
        return (
            f"<RetryBudget tokens={self.tokens}/{self.config.budget_capacity}"
            f" denied={self.denied}>"
        )


@dataclass(frozen=True)
class RetryDecision:
    """Outcome of :func:`decide_retry`: ``retry`` after ``delay`` seconds, or
    not; ``reason`` is for logs and error messages; ``cost`` is what the
    budget paid (0 when not retrying)."""

    retry: bool
    delay: float
    reason: str
    cost: int = 0


def decide_retry(
    attempt: int,
    kind: ErrorKind,
    budget: RetryBudget,
    rng: random.Random,
    *,
    kind_retries: int = 0,
) -> RetryDecision:
    """Decide whether to retry after failed attempt ``attempt`` (1-based).

    ``kind_retries`` is how many retries this request already made after a
    failure of the same ``kind`` (limits CLOCK_SKEW, INTEGRITY and PROTOCOL). Checks, in
    order: FATAL, ``max_attempts``, the per-kind limit, then the budget -- so
    tokens are only taken for retries that will happen.
    """
    config = budget.config
    if kind is ErrorKind.FATAL:
        return RetryDecision(False, 0.0, "not retryable")
    if attempt >= config.max_attempts:
        return RetryDecision(False, 0.0, f"gave up after {attempt} attempts (max_attempts)")
    limits = {
        ErrorKind.CLOCK_SKEW: config.clock_skew_max_retries,
        ErrorKind.INTEGRITY: config.integrity_max_retries,
        ErrorKind.PROTOCOL: PROTOCOL_MAX_RETRIES,
    }
    limit = limits.get(kind)
    if limit is not None and kind_retries >= limit:
        return RetryDecision(False, 0.0, f"{kind.value} persisted after {kind_retries} retries")
    cost = budget.try_acquire(kind)
    if cost is None:
        return RetryDecision(
            False, 0.0,
            f"retry budget exhausted ({budget.tokens} tokens left, a {kind.value} retry"
            f" costs {config.cost(kind)})",
        )
    delay = backoff_delay(attempt, kind, config, rng)
    return RetryDecision(True, delay, f"{kind.value} error, retry {attempt} in {delay:.3f}s", cost)


class RetryState:
    """Per-request retry bookkeeping around :func:`decide_retry`.

    ::

        state = RetryState(budget, rng)
        while True:
            try:
                result = await attempt_request()
            except Retryable as exc:
                decision = state.on_failure(exc.kind)
                if not decision.retry:
                    raise GaveUp(exc, attempts=state.attempts, reason=decision.reason)
                await asyncio.sleep(decision.delay)
            else:
                state.on_success()
                return result
    """

    def __init__(self, budget: RetryBudget, rng: random.Random) -> None:
        self.budget = budget
        self._rng = rng
        self.attempts = 0  # finished attempts
        self.kinds: list[ErrorKind] = []  # kind of each failed attempt
        self.last_cost = 0  # cost of the latest granted retry (refunded on success)

    def on_failure(self, kind: ErrorKind) -> RetryDecision:
        self.attempts += 1
        kind_retries = self.kinds.count(kind)  # earlier failures of this kind were retried
        self.kinds.append(kind)
        decision = decide_retry(self.attempts, kind, self.budget, self._rng, kind_retries=kind_retries)
        if decision.retry:
            self.last_cost = decision.cost
        return decision

    def on_success(self) -> None:
        self.attempts += 1
        self.budget.on_success(self.last_cost)

    def cancel_pending(self) -> None:
        """The granted retry won't happen (cancelled during backoff): refund it."""
        self.budget.release(self.last_cost)
        self.last_cost = 0

    def __repr__(self) -> str:
        kinds = ",".join(k.value for k in self.kinds)
        return f"<RetryState attempts={self.attempts} failures=[{kinds}] last_cost={self.last_cost}>"


def clock_skew_from_date(date_header: str, now: float) -> float:
    """Seconds to add to the local wall clock (``now``, a ``time.time()`` value)
    to match the server's, from an HTTP ``Date`` header (RFC 1123, e.g.
    ``Sun, 06 Nov 1994 08:49:37 GMT``) or an S3 ``<ServerTime>`` /
    ``x-amz-date`` value (``2024-01-01T00:00:00Z``, ``20240101T000000Z``).

    Note: ``Date`` has 1 s resolution, so the result is only good to ~1 s;
    that is ample against S3's 15 min tolerance. Raises ``ValueError`` naming
    the value when it can't be parsed.
    """
    text = date_header.strip()
    server: datetime | None = None
    for fmt in ("%Y%m%dT%H%M%SZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            server = datetime.strptime(text, fmt)
            break
        except ValueError:
            continue
    if server is None:
        try:
            from email.utils import parsedate_to_datetime  # only when a clock skew is suspected

            server = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            raise ValueError(f"cannot parse server date {date_header!r}") from None
    if server.tzinfo is None:
        # RFC 1123 "GMT" / "-0000" and the Z forms are UTC.
        server = server.replace(tzinfo=timezone.utc)
    return server.timestamp() - now
