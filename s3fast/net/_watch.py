"""The watchdog's timer on a connection: one periodic check while a request is in flight.

:class:`Watched` is a part of :class:`._connection.Connection` (a base class of it): it
keeps the stage and the clocks the check reads, re-arms the check, and acts on the pure
verdict of :mod:`._watchdog`. The check stays armed while the connection is idle in the
pool (a check that finds no stage lets it lapse), so a request that follows at once costs
no ``call_later`` and ``cancel``.

What it needs of the connection: ``loop``, ``timeouts``, ``ip``, ``closed``, the receive
state (``mode``, ``rx_bytes``, ``last_rx``) and ``_fail``.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .._errors import RequestTimeout
from .._py._common import MODE_BODY
from ._watchdog import check_period, verdict

if TYPE_CHECKING:
    from .._config import Timeouts


class Watched:
    loop: asyncio.AbstractEventLoop
    timeouts: Timeouts
    ip: str
    closed: bool
    rx_bytes: int
    last_rx: float

    def _init_watch(self) -> None:
        self._stage = ""  # "", "send", "first-byte", "body"
        self._stage_start = 0.0
        self.last_tx = 0.0
        self._watch: asyncio.TimerHandle | None = None
        self._period = 0.0
        self._speed_mark_t = 0.0
        self._speed_mark_bytes = 0

    if TYPE_CHECKING:
        @property
        def mode(self) -> int: ...

        def _fail(self, exc: BaseException) -> None: ...

    def _start_watch(self, stage: str) -> None:
        now = self.loop.time()
        self._stage = stage
        self._stage_start = now
        self.last_tx = now
        self.last_rx = now
        if self._watch is None:
            self._period = check_period(self.timeouts)
            self._watch = self.loop.call_later(self._period, self._check)

    def _stop_watch(self) -> None:
        self._stage = ""
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None

    def _mark_speed(self) -> None:
        self._speed_mark_t = self.loop.time()
        self._speed_mark_bytes = self.rx_bytes

    def _check(self) -> None:
        self._watch = None
        if self.closed or not self._stage:
            return
        now = self.loop.time()
        v = verdict(self.timeouts, now, self._stage, receiving=self.mode >= MODE_BODY,
                    stage_start=self._stage_start, last_io=max(self.last_rx, self.last_tx),
                    window_start=self._speed_mark_t, window_bytes=self._speed_mark_bytes,
                    rx_bytes=self.rx_bytes, ip=self.ip)
        if v.timeout is not None:
            self._timeout(v.timeout, v.message)
            return
        if v.held:
            self.last_rx = now
        if v.new_window:
            self._mark_speed()
        self._watch = self.loop.call_later(self._period, self._check)

    def _timeout(self, stage: str, message: str) -> None:
        self._fail(RequestTimeout(message, ip=self.ip, stage=stage))


__all__ = ["Watched"]
