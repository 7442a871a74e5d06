"""Retry policy settings (the decisions are in ``s3fast/_retry.py``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .._errors import ConfigError

__all__ = ["RetryConfig"]


class _Kind(Protocol):
    """An ``ErrorKind`` as the costs see it: its value names the kind ("throttle", "timeout"...)."""

    @property
    def value(self) -> str: ...


@dataclass(frozen=True)
class RetryConfig:
    """Retry policy. Defaults, and why:

    - ``max_attempts = 10`` *total* attempts (9 retries). botocore defaults to 3
      and aws-c-s3 to 6, but a multi-GiB transfer that fails for one part
      wastes everything done so far, and S3 throttles for seconds to minutes
      while it repartitions a prefix. 10 attempts with the throttle backoff
      below wait ~45 s on average in total (s5cmd: "10 times for up to a
      minute"); the budget, not this number, is what stops storms.
    - ``backoff_base = 0.05`` s for transient/connection/timeout failures
      (botocore's non-throttling scale): usually the retry goes to another
      connection or IP, so waiting long buys nothing.
    - ``throttle_backoff_base = 0.5`` s for THROTTLE (botocore uses 1 s; the
      auto-tuner also cuts concurrency on 503, so the backoff need not do
      all the work).
    - ``backoff_cap = 20.0`` s: the longest single wait (botocore's cap).
    - ``budget_capacity = 500`` tokens; ``retry_cost = 5``, ``timeout_cost = 10``
      (timeouts are expensive: each one held a connection for a whole
      timeout), ``throttle_cost = 5``: botocore/aws-c-io values. All-failing
      traffic thus gets at most 100 retries before retries stop.
    - ``success_refund = 1``: a success that needed no retry adds 1 token; one
      that did refunds its last retry's cost (botocore and aws-c-io semantics:
      only the last cost, so a request that needed 3 retries still nets a loss
      and sustained partial failure drains the bucket slowly).
    - ``clock_skew_max_retries = 1``, ``integrity_max_retries = 1``: one retry
      after correcting the clock / re-reading the source; if it fails again
      the cause is not transient.
    """

    max_attempts: int = 10
    backoff_base: float = 0.05
    throttle_backoff_base: float = 0.5
    backoff_cap: float = 20.0
    budget_capacity: int = 500
    retry_cost: int = 5
    timeout_cost: int = 10
    throttle_cost: int = 5
    success_refund: int = 1
    clock_skew_max_retries: int = 1
    integrity_max_retries: int = 1

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError("max_attempts counts the first try and must be >= 1")
        if self.backoff_base < 0 or self.throttle_backoff_base < 0 or self.backoff_cap < 0:
            raise ConfigError("backoff values must be >= 0")
        if min(self.budget_capacity, self.retry_cost, self.timeout_cost, self.throttle_cost) < 0:
            raise ConfigError("budget capacity and costs must be >= 0")

    def cost(self, kind: _Kind) -> int:
        """Tokens a retry after ``kind`` (an ``ErrorKind``) takes from the budget."""
        if kind.value == "throttle":
            return self.throttle_cost
        if kind.value == "timeout":
            return self.timeout_cost
        return self.retry_cost
