"""Retry classification, full-jitter backoff, the retry budget (s3fast._retry)."""
from __future__ import annotations

import asyncio
import dataclasses
import random
import socket
import ssl
from email.utils import format_datetime
from datetime import datetime, timezone

import pytest

from s3fast._retry import (
    ErrorKind,
    RetryBudget,
    RetryConfig,
    RetryState,
    backoff_delay,
    classify_exception,
    classify_network,
    classify_response,
    clock_skew_from_date,
    decide_retry,
)

# ------------------------------------------------------------ classification


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (503, "SlowDown", ErrorKind.THROTTLE),
        (503, None, ErrorKind.THROTTLE),  # HEAD: no body, no code
        (503, "ServiceUnavailable", ErrorKind.THROTTLE),
        (429, None, ErrorKind.THROTTLE),
        (400, "Throttling", ErrorKind.THROTTLE),
        (509, None, ErrorKind.THROTTLE),
        (500, "InternalError", ErrorKind.TRANSIENT),
        (500, None, ErrorKind.TRANSIENT),
        (502, None, ErrorKind.TRANSIENT),
        (504, None, ErrorKind.TRANSIENT),
        (400, "RequestTimeout", ErrorKind.TRANSIENT),
        (408, None, ErrorKind.TRANSIENT),
        (200, "InternalError", ErrorKind.TRANSIENT),  # 200-with-error on Complete
        (200, "SlowDown", ErrorKind.THROTTLE),
        (200, "AccessDenied", ErrorKind.FATAL),
        (403, "RequestTimeTooSkewed", ErrorKind.CLOCK_SKEW),
        (400, "BadDigest", ErrorKind.INTEGRITY),
        (403, "AccessDenied", ErrorKind.FATAL),
        (403, None, ErrorKind.FATAL),
        (404, "NoSuchKey", ErrorKind.FATAL),
        (404, None, ErrorKind.FATAL),
        (404, "NoSuchBucket", ErrorKind.FATAL),
        (404, "NoSuchUpload", ErrorKind.FATAL),
        (412, "PreconditionFailed", ErrorKind.FATAL),
        (416, "InvalidRange", ErrorKind.FATAL),
        (400, "InvalidPart", ErrorKind.FATAL),
        (400, "EntityTooSmall", ErrorKind.FATAL),
        (301, "PermanentRedirect", ErrorKind.FATAL),
        (501, "NotImplemented", ErrorKind.FATAL),
        (501, None, ErrorKind.FATAL),
    ],
)
def test_classify_response(status: int, code: str | None, kind: ErrorKind) -> None:
    assert classify_response(status, code) is kind


def test_classify_response_rejects_plain_success() -> None:
    with pytest.raises(ValueError, match="not an error"):
        classify_response(200, None)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ConnectionRefusedError(), ErrorKind.CONNECTION),
        (ConnectionResetError(), ErrorKind.CONNECTION),
        (BrokenPipeError(), ErrorKind.CONNECTION),
        (asyncio.IncompleteReadError(b"abc", 10), ErrorKind.CONNECTION),
        (EOFError(), ErrorKind.CONNECTION),
        (ssl.SSLError(), ErrorKind.CONNECTION),
        (socket.gaierror(), ErrorKind.CONNECTION),
        (OSError(113, "No route to host"), ErrorKind.CONNECTION),
        (TimeoutError(), ErrorKind.TIMEOUT),
        (asyncio.TimeoutError(), ErrorKind.TIMEOUT),
        (socket.timeout(), ErrorKind.TIMEOUT),
        (ssl.SSLCertVerificationError(), ErrorKind.FATAL),
        (ValueError("bug"), ErrorKind.FATAL),
    ],
)
def test_classify_exception(exc: BaseException, kind: ErrorKind) -> None:
    assert classify_exception(exc) is kind


def test_error_kind_values_are_endpoint_failure_kinds() -> None:
    # EndpointTable.record_failure accepts kind.value for every kind.
    from s3fast.net._endpoints import EndpointTable

    class One:
        async def resolve(self, host: str, port: int) -> list[str]:
            return ["127.0.0.2"]

    table = EndpointTable("h", 443, One())
    asyncio.run(table.refresh())
    for kind in ErrorKind:
        table.record_failure("127.0.0.2", kind.value)
    assert table.stats()["127.0.0.2"].errors == len(ErrorKind)


# ------------------------------------------------------------------ backoff

CONFIG = RetryConfig()


@pytest.mark.parametrize(
    ("kind", "base"),
    [(ErrorKind.TRANSIENT, 0.05), (ErrorKind.CONNECTION, 0.05), (ErrorKind.TIMEOUT, 0.05),
     (ErrorKind.THROTTLE, 0.5)],
)
def test_backoff_is_full_jitter_within_the_capped_exponential(kind: ErrorKind, base: float) -> None:
    rng = random.Random(42)
    for attempt in range(1, 12):
        ceiling = min(20.0, base * 2 ** (attempt - 1))
        delays = [backoff_delay(attempt, kind, CONFIG, rng) for _ in range(300)]
        assert all(0.0 <= d <= ceiling for d in delays)
        # Full jitter uses the whole window, from ~0 to the ceiling.
        assert min(delays) < 0.05 * ceiling
        assert max(delays) > 0.95 * ceiling


def test_throttle_backoff_is_longer_on_average() -> None:
    rng = random.Random(1)
    throttle = sum(backoff_delay(2, ErrorKind.THROTTLE, CONFIG, rng) for _ in range(200))
    transient = sum(backoff_delay(2, ErrorKind.TRANSIENT, CONFIG, rng) for _ in range(200))
    assert throttle > 5 * transient


def test_backoff_edge_cases() -> None:
    rng = random.Random(0)
    assert backoff_delay(10_000, ErrorKind.THROTTLE, CONFIG, rng) <= 20.0  # no overflow
    assert backoff_delay(3, ErrorKind.CLOCK_SKEW, CONFIG, rng) == 0.0
    with pytest.raises(ValueError, match="1-based"):
        backoff_delay(0, ErrorKind.TRANSIENT, CONFIG, rng)
    with pytest.raises(ValueError, match="never retried"):
        backoff_delay(1, ErrorKind.FATAL, CONFIG, rng)


def test_backoff_is_reproducible_with_a_seeded_rng() -> None:
    a = [backoff_delay(4, ErrorKind.TRANSIENT, CONFIG, random.Random(9)) for _ in range(3)]
    assert len(set(a)) == 1


# ------------------------------------------------------------------- budget


def test_budget_costs_by_kind_and_denies_when_empty() -> None:
    budget = RetryBudget(RetryConfig(budget_capacity=22))
    assert budget.try_acquire(ErrorKind.TIMEOUT) == 10
    assert budget.try_acquire(ErrorKind.THROTTLE) == 5
    assert budget.try_acquire(ErrorKind.CONNECTION) == 5
    assert budget.tokens == 2 and budget.empty
    assert budget.try_acquire(ErrorKind.TRANSIENT) is None
    assert budget.denied == 1
    assert budget.try_acquire(ErrorKind.FATAL) is None
    assert repr(budget) == "<RetryBudget tokens=2/22 denied=1>"


def test_budget_refills_on_success_up_to_capacity() -> None:
    budget = RetryBudget()
    cost = budget.try_acquire(ErrorKind.TRANSIENT)
    assert cost == 5 and budget.tokens == 495
    budget.on_success(0)  # a success that needed no retry: +1
    assert budget.tokens == 496
    budget.on_success(cost)
    assert budget.tokens == 500
    budget.on_success(cost)
    budget.release(1000)
    assert budget.tokens == 500  # never above capacity


def fail_requests(budget: RetryBudget, requests: int, kind: ErrorKind, rng: random.Random) -> int:
    """``requests`` concurrent requests whose every attempt fails with ``kind``,
    in rounds (all in flight fail, the retried ones go again); return the
    number of retries granted."""
    live = [RetryState(budget, rng) for _ in range(requests)]
    retries = 0
    while live:
        live = [state for state in live if state.on_failure(kind).retry]
        retries += len(live)
    return retries


def test_budget_stops_a_retry_storm() -> None:
    budget = RetryBudget()
    rng = random.Random(3)
    # 200 requests x up to 9 retries would be 1800 retries without a budget.
    retries = fail_requests(budget, 200, ErrorKind.TRANSIENT, rng)
    assert retries == 500 // 5
    assert budget.empty and budget.denied == 200  # every request ended by the budget
    # Timeouts are costlier: none left at all now, and from full only 50.
    assert fail_requests(budget, 10, ErrorKind.TIMEOUT, rng) == 0
    assert fail_requests(RetryBudget(), 200, ErrorKind.TIMEOUT, rng) == 500 // 10


def test_budget_recovers_as_requests_succeed() -> None:
    budget = RetryBudget()
    rng = random.Random(4)
    fail_requests(budget, 200, ErrorKind.TRANSIENT, rng)
    assert budget.tokens == 0
    for _ in range(5):  # five clean successes pay for one retry
        RetryState(budget, rng).on_success()
    state = RetryState(budget, rng)
    assert state.on_failure(ErrorKind.TRANSIENT).retry
    assert not state.on_failure(ErrorKind.TRANSIENT).retry
    for _ in range(600):
        RetryState(budget, rng).on_success()
    assert budget.tokens == 500


def test_success_refunds_the_last_retry_cost_only() -> None:
    budget = RetryBudget()
    state = RetryState(budget, random.Random(5))
    assert state.on_failure(ErrorKind.TIMEOUT).cost == 10
    assert state.on_failure(ErrorKind.CONNECTION).cost == 5
    state.on_success()
    assert budget.tokens == 500 - 10 - 5 + 5
    assert state.attempts == 3


def test_cancelled_retry_returns_its_tokens() -> None:
    budget = RetryBudget()
    state = RetryState(budget, random.Random(6))
    assert state.on_failure(ErrorKind.THROTTLE).retry
    assert budget.tokens == 495
    state.cancel_pending()
    assert budget.tokens == 500


# ---------------------------------------------------------------- decisions


def test_max_attempts_counts_the_first_try() -> None:
    budget = RetryBudget()
    state = RetryState(budget, random.Random(7))
    decisions = [state.on_failure(ErrorKind.TRANSIENT) for _ in range(10)]
    assert [d.retry for d in decisions] == [True] * 9 + [False]
    assert "gave up after 10 attempts" in decisions[-1].reason
    assert budget.tokens == 500 - 9 * 5  # the refused retry took nothing
    assert "<RetryState attempts=10" in repr(state)


def test_fatal_is_never_retried_and_costs_nothing() -> None:
    budget = RetryBudget()
    decision = RetryState(budget, random.Random(8)).on_failure(ErrorKind.FATAL)
    assert not decision.retry and decision.reason == "not retryable"
    assert budget.tokens == 500


@pytest.mark.parametrize("kind", [ErrorKind.CLOCK_SKEW, ErrorKind.INTEGRITY])
def test_clock_skew_and_integrity_retry_once(kind: ErrorKind) -> None:
    state = RetryState(RetryBudget(), random.Random(9))
    first = state.on_failure(kind)
    assert first.retry
    assert state.on_failure(ErrorKind.CONNECTION).retry  # other kinds unaffected
    second = state.on_failure(kind)
    assert not second.retry and "persisted" in second.reason


def test_protocol_errors_are_retried_a_bounded_few_times() -> None:
    from s3fast._retry import PROTOCOL_MAX_RETRIES

    state = RetryState(RetryBudget(), random.Random(9))
    for _ in range(PROTOCOL_MAX_RETRIES):
        assert state.on_failure(ErrorKind.PROTOCOL).retry
    last = state.on_failure(ErrorKind.PROTOCOL)
    assert not last.retry and "protocol persisted" in last.reason
    assert PROTOCOL_MAX_RETRIES < RetryConfig().max_attempts - 1  # fewer than a reset gets


@pytest.mark.parametrize(("kind", "expected"), [
    ("timeout", ErrorKind.TIMEOUT), ("protocol", ErrorKind.PROTOCOL), ("resolve", ErrorKind.FATAL),
    ("tls", ErrorKind.FATAL), ("connect", ErrorKind.CONNECTION), ("reset", ErrorKind.CONNECTION),
    ("short-read", ErrorKind.CONNECTION),
])
def test_classify_network(kind: str, expected: ErrorKind) -> None:
    assert classify_network(kind) is expected


def test_clock_skew_retries_immediately() -> None:
    state = RetryState(RetryBudget(), random.Random(10))
    assert state.on_failure(ErrorKind.CLOCK_SKEW).delay == 0.0


def test_exhausted_budget_reason_is_explicit() -> None:
    budget = RetryBudget(RetryConfig(budget_capacity=4))
    decision = decide_retry(1, ErrorKind.THROTTLE, budget, random.Random(0))
    assert not decision.retry
    assert decision.reason == "retry budget exhausted (4 tokens left, a throttle retry costs 5)"


def test_backoff_grows_with_the_attempt_number() -> None:
    budget = RetryBudget(RetryConfig(budget_capacity=10_000))
    state = RetryState(budget, random.Random(11))
    delays = [state.on_failure(ErrorKind.THROTTLE).delay for _ in range(9)]
    assert all(0 <= d <= min(20.0, 0.5 * 2**i) for i, d in enumerate(delays))


class _Edge(random.Random):
    """A random source pinned to one end of [0, 1]: full jitter then yields exactly the
    window's upper bound (1.0) or its lower bound (0.0)."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize("kind,base", [(ErrorKind.TRANSIENT, 0.05), (ErrorKind.CONNECTION, 0.05),
                                       (ErrorKind.TIMEOUT, 0.05), (ErrorKind.THROTTLE, 0.5)])
def test_backoff_window_doubles_per_attempt_up_to_the_cap(kind: ErrorKind, base: float) -> None:
    """The upper end of the jitter window (what a random draw of 1.0 gives) doubles with
    every failed attempt until backoff_cap; a backoff that never grows fails here."""
    config = RetryConfig(budget_capacity=10_000, max_attempts=20, backoff_cap=4.0)
    state = RetryState(RetryBudget(config), _Edge(1.0))
    delays = [state.on_failure(kind).delay for _ in range(12)]
    expected = [min(4.0, base * 2**i) for i in range(12)]
    assert delays == pytest.approx(expected)
    assert delays[-1] == 4.0 and delays[1] == pytest.approx(2 * delays[0])
    # And the window starts at zero (full jitter, not "equal" jitter).
    assert backoff_delay(5, kind, config, _Edge(0.0)) == 0.0


def test_backoff_distribution_grows_with_the_attempt() -> None:
    """Seeded draws: the mean delay of later attempts is larger (roughly double per attempt
    while below the cap)."""
    config = RetryConfig(backoff_cap=20.0)
    rng = random.Random(3)
    means = [sum(backoff_delay(a, ErrorKind.TRANSIENT, config, rng) for _ in range(2000)) / 2000
             for a in range(1, 7)]
    for earlier, later in zip(means, means[1:]):
        assert 1.6 < later / earlier < 2.4


def test_retry_config_is_frozen_and_validated() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        CONFIG.max_attempts = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match="max_attempts"):
        RetryConfig(max_attempts=0)
    with pytest.raises(ValueError):
        RetryConfig(retry_cost=-1)


# --------------------------------------------------------------- clock skew


def test_clock_skew_from_rfc1123_date() -> None:
    server = datetime(2024, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
    header = format_datetime(server, usegmt=True)  # "Fri, 01 Mar 2024 12:00:00 GMT"
    local_now = server.timestamp() - 900.0  # local clock 15 min behind
    assert clock_skew_from_date(header, local_now) == pytest.approx(900.0)
    assert clock_skew_from_date(header, server.timestamp() + 30) == pytest.approx(-30.0)


@pytest.mark.parametrize(
    "value",
    [
        "Fri, 01 Mar 2024 12:00:00 GMT",
        "Fri, 01 Mar 2024 12:00:00 -0000",
        "Fri, 01 Mar 2024 13:00:00 +0100",
        "2024-03-01T12:00:00Z",
        "2024-03-01T12:00:00.000Z",
        "20240301T120000Z",
    ],
)
def test_clock_skew_formats(value: str) -> None:
    epoch = datetime(2024, 3, 1, 12, 0, 0, tzinfo=timezone.utc).timestamp()
    assert clock_skew_from_date(value, epoch - 5) == pytest.approx(5.0)


@pytest.mark.parametrize("value", ["", "yesterday", "Fri, 99 Foo 2024"])
def test_clock_skew_bad_date_names_the_value(value: str) -> None:
    with pytest.raises(ValueError, match=f"cannot parse server date {value!r}"):
        clock_skew_from_date(value, 0.0)
