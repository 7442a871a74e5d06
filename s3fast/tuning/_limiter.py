"""Admission control for the engine: a resizable concurrency limit and a byte-rate token bucket."""
from __future__ import annotations

import asyncio
import math
import time
from types import TracebackType
from typing import Awaitable, Callable

from .._impl import sched_impl

__all__ = ["ConcurrencyLimiter", "TokenBucket"]


class ConcurrencyLimiter(sched_impl.SlotCore):
    """An asyncio semaphore whose size can change while it is in use.

    - Slots are handed out first come, first served: a released slot goes straight to the oldest
      waiter, so a stream of new arrivals cannot starve it.
    - :meth:`set_limit` to a bigger value wakes waiters at once; to a smaller one it never cancels
      running work, it only stops handing out slots until enough have been released
      (``in_flight`` may exceed ``limit`` meanwhile). A limit of 0 pauses admission.
    - ``on_change(in_flight)`` [None] is called whenever ``in_flight`` changes, e.g. the meter's
      ``set_in_flight``.

    Use it as ``async with limiter: ...`` or pair :meth:`acquire` with :meth:`release`. Every
    request passes here twice, so the slot accounting (``try_acquire``, ``release``,
    ``set_limit``) is the compiled core's ``SlotCore`` (``s3fast/_py/_sched.py``); only the
    waiting is here.
    """

    def __init__(self, limit: int, *, on_change: Callable[[int], None] | None = None) -> None:
        super().__init__(limit, on_change)

    def __repr__(self) -> str:
        return (
            f"<ConcurrencyLimiter [limit={self.limit} in_flight={self.in_flight} "
            f"waiting={self.waiting}]>"
        )

    async def acquire(self) -> None:
        if self.try_acquire():
            return
        fut = self.queue()
        try:
            await fut
        except asyncio.CancelledError:
            # A slot handed to us just before the cancellation landed is passed on.
            self.abandon(fut)
            raise

    def queue(self) -> asyncio.Future[None]:
        """A place in the queue: a future done when the slot is granted. For a caller that
        awaits it directly (no coroutine of its own per wait); on cancellation it must call
        :meth:`abandon` with it, as :meth:`acquire` does."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.enqueue(fut)
        return fut

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


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
