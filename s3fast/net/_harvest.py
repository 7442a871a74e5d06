"""The DNS side of an :class:`~s3fast.net._endpoints.EndpointTable`: lookups and the loop
that repeats them.

Why apart from the table: this is the only part of it that awaits. The table decides
(which IP, whether an IP is healthy) synchronously over its records; this module runs the
resolver, makes concurrent callers share one lookup, counts failures, and re-resolves on a
period until stopped, handing each answer to the table's ``merge``.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ._resolver import Resolver

__all__ = ["DNSHarvest"]

logger = logging.getLogger("s3fast.net.endpoints")


class DNSHarvest:
    """Resolves ``host:port`` with ``resolver`` and gives each answer to ``merge``."""

    def __init__(
        self,
        host: str,
        port: int,
        resolver: Resolver,
        merge: Callable[[list[str]], None],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.host = host
        self.port = port
        self.resolver = resolver
        self._merge = merge
        self._sleep = sleep
        self._inflight: asyncio.Future[list[str]] | None = None
        self._stop: asyncio.Event | None = None
        self.errors = 0
        self.last_error: BaseException | None = None

    def __repr__(self) -> str:
        return f"<DNSHarvest {self.host}:{self.port} errors={self.errors} running={self._stop is not None}>"

    async def refresh(self) -> list[str]:
        """Resolve once and merge the answer; concurrent callers share one lookup.
        On failure nothing is merged and the error propagates."""
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
            self.errors += 1
            self.last_error = exc
            logger.debug("resolving %s:%d failed: %r", self.host, self.port, exc)
            raise
        finally:
            self._inflight = None
        if ips:
            self.last_error = None
        self._merge(ips)
        return ips

    async def run(self, period: float) -> None:
        """Re-resolve every ``period`` s until :meth:`stop`. Lookup errors are counted
        in ``errors`` and do not end the loop."""
        if self._stop is None:
            self._stop = asyncio.Event()
        stop = self._stop
        while not stop.is_set():
            try:
                await self.refresh()
            except Exception:  # counted in errors; keep the old IPs
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
        """Make :meth:`run` return (promptly, even mid-sleep)."""
        if self._stop is None:
            self._stop = asyncio.Event()
        self._stop.set()
