"""Admission control for the engine: a resizable concurrency limit and a byte-rate token bucket."""
from __future__ import annotations

import asyncio
import collections
import math
import time
from types import TracebackType
from typing import Awaitable, Callable

__all__ = ["ConcurrencyLimiter", "TokenBucket"]


class ConcurrencyLimiter:
    """An asyncio semaphore whose size can change while it is in use.

    - Slots are handed out first come, first served: a released slot goes straight to the oldest
      waiter, so a stream of new arrivals cannot starve it.
    - :meth:`set_limit` to a bigger value wakes waiters at once; to a smaller one it never cancels
      running work, it only stops handing out slots until enough have been released
      (``in_flight`` may exceed ``limit`` meanwhile). A limit of 0 pauses admission.
    - ``on_change(in_flight)`` [None] is called whenever ``in_flight`` changes, e.g. the meter's
      ``set_in_flight``.

    Use it as ``async with limiter: ...`` or pair :meth:`acquire` with :meth:`release`.
    """

    def __init__(self, limit: int, *, on_change: Callable[[int], None] | None = None) -> None:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        self._limit = limit
        self._in_flight = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._on_change = on_change

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def __repr__(self) -> str:
        return (
            f"<ConcurrencyLimiter [limit={self._limit} in_flight={self._in_flight} "
            f"waiting={len(self._waiters)}]>"
        )

    def locked(self) -> bool:
        """True when :meth:`acquire` would have to wait."""
        return self._in_flight >= self._limit or bool(self._waiters)

    def try_acquire(self) -> bool:
        """Take a slot if one is free now (no waiting, no coroutine); True if taken."""
        if self._in_flight < self._limit and not self._waiters:
            self._set_in_flight(self._in_flight + 1)
            return True
        return False

    async def acquire(self) -> None:
        if self.try_acquire():
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                # The slot was handed to us just before the cancellation landed: pass it on.
                self.release()
            else:
                try:
                    self._waiters.remove(fut)
                except ValueError:
                    pass  # _wake already popped (and skipped) it
            raise

    def release(self) -> None:
        if self._in_flight <= 0:
            raise RuntimeError("ConcurrencyLimiter released more often than acquired")
        self._set_in_flight(self._in_flight - 1)
        self._wake()

    def set_limit(self, limit: int) -> None:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        self._limit = limit
        self._wake()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def _wake(self) -> None:
        # The slot is counted as taken when it is granted (not when the waiter resumes), so a
        # task arriving in between cannot take it too.
        waiters = self._waiters
        while waiters and self._in_flight < self._limit:
            fut = waiters.popleft()
            if fut.done():  # its task was cancelled and has not run its cleanup yet
                continue
            fut.set_result(None)
            self._set_in_flight(self._in_flight + 1)

    def _set_in_flight(self, n: int) -> None:
        self._in_flight = n
        if self._on_change is not None:
            self._on_change(n)


class TokenBucket:
    """Paces bytes to ``rate_bytes_per_s`` with bursts of at most ``burst_bytes``.

    Guarantee: over any run, the bytes whose :meth:`consume` has returned by time ``t`` are at most
    ``burst_bytes + rate x (t - t_created)``. The bucket starts full.

    :meth:`consume` may take more than ``burst_bytes`` at once: the bucket goes into debt and the
    caller waits until the debt is paid, so chunk size and burst need not be matched.
    :meth:`try_consume` and :meth:`delay_for` are the non-blocking forms (``try_consume`` never
    takes more than is in the bucket, so it cannot succeed for ``n > burst_bytes``).
    ``clock`` [time.monotonic] and ``sleep`` [asyncio.sleep] are injected for tests.
    """

    def __init__(
        self,
        rate_bytes_per_s: float,
        burst_bytes: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if not (rate_bytes_per_s > 0 and math.isfinite(rate_bytes_per_s)):
            raise ValueError(f"rate_bytes_per_s must be a positive number, got {rate_bytes_per_s}")
        if burst_bytes < 0:
            raise ValueError(f"burst_bytes must be >= 0, got {burst_bytes}")
        self._rate = float(rate_bytes_per_s)
        self._burst = float(burst_bytes)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self._burst
        self._t = clock()
        #: bytes paid for through consume() (refunds of cancelled waits deducted)
        self.consumed = 0

    @property
    def rate(self) -> float:
        """Bytes per second."""
        return self._rate

    @property
    def burst(self) -> float:
        return self._burst

    @property
    def tokens(self) -> float:
        """Bytes available now (negative while in debt)."""
        self._refill()
        return self._tokens

    def __repr__(self) -> str:
        return (
            f"<TokenBucket [rate={self._rate:.6g}B/s burst={self._burst:.6g}B "
            f"tokens={self.tokens:.6g}B]>"
        )

    def set_rate(self, rate_bytes_per_s: float) -> None:
        """Change the rate; tokens earned so far are kept (earned at the old rate)."""
        if not (rate_bytes_per_s > 0 and math.isfinite(rate_bytes_per_s)):
            raise ValueError(f"rate_bytes_per_s must be a positive number, got {rate_bytes_per_s}")
        self._refill()
        self._rate = float(rate_bytes_per_s)

    def delay_for(self, n: int) -> float:
        """Seconds until ``n`` bytes could be taken without debt (0 if now). Takes nothing."""
        self._refill()
        deficit = n - self._tokens
        return deficit / self._rate if deficit > 0 else 0.0

    def try_consume(self, n: int) -> bool:
        """Take ``n`` bytes if they are available now; never waits, never goes into debt."""
        self._refill()
        if self._tokens >= n:
            self._tokens -= n
            return True
        return False

    async def consume(self, n: int) -> None:
        """Take ``n`` bytes, waiting as long as the rate requires."""
        self._refill()
        self._tokens -= n
        self.consumed += n
        if self._tokens >= 0:
            return
        # Later callers see the debt and wait behind us, which keeps the order fair.
        try:
            await self._sleep(-self._tokens / self._rate)
        except asyncio.CancelledError:
            # The bytes were not sent; give them back (capped: a refund is not a burst).
            self._refill()
            self._tokens = min(self._burst, self._tokens + n)
            self.consumed -= n
            raise

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._t
        if elapsed > 0:
            self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
            self._t = now
