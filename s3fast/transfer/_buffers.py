"""The hard memory bound: every part/range/chunk buffer is paid for here before it exists."""
from __future__ import annotations

import asyncio
from collections import deque

from .._errors import ConfigError


class MemoryBudget:
    """An asyncio semaphore counted in bytes, shared by every transfer of a client.

    ``acquire(n)`` waits until ``n`` bytes fit under ``limit``; waiters are served in
    order (a big request is not starved by small ones). ``peak`` records the most
    ever held, which the tests and the benchmark compare against the limit.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.peak = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    def __repr__(self) -> str:
        return f"<MemoryBudget held={self.held} peak={self.peak} limit={self.limit} waiting={len(self._waiters)}>"

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def try_acquire(self, n: int) -> bool:
        """Take ``n`` bytes if they fit now, without waiting (no coroutine); True if taken."""
        if not self._waiters and self.held + n <= self.limit:
            self._take(n)
            return True
        return False

    async def acquire(self, n: int) -> None:
        if n > self.limit:
            raise ConfigError(f"a buffer of {n} bytes does not fit in memory_limit={self.limit}")
        if self.try_acquire(n):
            return
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append((n, fut))
        try:
            await fut
        except BaseException:
            if fut.done() and not fut.cancelled():
                self.release(n)  # granted just as we were cancelled
            else:
                self._waiters.remove((n, fut))
                self._wake()
            raise

    def _take(self, n: int) -> None:
        self.held += n
        if self.held > self.peak:
            self.peak = self.held

    def release(self, n: int) -> None:
        self.held -= n
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            n, fut = self._waiters[0]
            if fut.done():
                self._waiters.popleft()
                continue
            if self.held + n > self.limit:
                return
            self._waiters.popleft()
            self._take(n)
            fut.set_result(None)


class ChunkPool:
    """Reusable receive chunks of one size, paid for in a MemoryBudget.

    At most ``max_chunks`` exist at once (default 64, 8 MiB of 128 KiB chunks): enough for
    every connection to receive while the writer thread drains a backlog, without letting
    that backlog grow to the whole memory limit.
    """

    def __init__(self, budget: MemoryBudget, size: int, *, max_chunks: int = 64) -> None:
        self.budget = budget
        self.size = size
        self.keep = 256
        self.max_chunks = max(1, max_chunks)
        self.out = 0
        self._free: list[bytearray] = []
        self._waiters: list[asyncio.Future[None]] = []

    def __repr__(self) -> str:
        return f"<ChunkPool size={self.size} out={self.out} free={len(self._free)} max={self.max_chunks}>"

    async def get(self) -> bytearray:
        while self.out >= self.max_chunks:
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            finally:
                if fut in self._waiters:
                    self._waiters.remove(fut)
        self.out += 1
        if self._free:
            return self._free.pop()
        try:
            await self.budget.acquire(self.size)
        except BaseException:
            self._give_back()
            raise
        return bytearray(self.size)

    def _give_back(self) -> None:
        self.out -= 1
        while self._waiters:
            fut = self._waiters.pop(0)
            if not fut.done():
                fut.set_result(None)
                break

    def put(self, buf: bytearray) -> None:
        # Keep them warm (allocating and zeroing costs more than the receive); they stay
        # paid for, and the pool never holds more than the peak of chunks in use at once.
        if len(self._free) < self.keep and not self.budget.waiting:
            self._free.append(buf)
        else:
            self.budget.release(self.size)
        self._give_back()

    def clear(self) -> None:
        self.budget.release(self.size * len(self._free))
        self._free.clear()
