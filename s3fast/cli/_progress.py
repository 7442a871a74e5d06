"""Progress on stderr: a redrawn line on a terminal, periodic plain lines in logs."""
from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from .._events import BytesMoved, TransferStarted
from .._units import format_size


class Progress:
    def __init__(self, total: int | None, client: Any, *, stream: TextIO | None = None, mode: str = "auto",
                 interval: float | None = None) -> None:
        self.total = total
        self.client = client
        # Looked up now, not at import: the CLI may have replaced a closed stderr since.
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        #: bytes the transfer's latest TransferStarted said were already there
        self._skipped = 0
        self.t0 = time.monotonic()
        tty = self.stream.isatty()
        self.mode = ("bar" if tty else "log") if mode == "auto" else mode
        self.interval = interval or (0.25 if self.mode == "bar" else 5.0)
        self._task: asyncio.Task[None] | None = None

    def add(self, n: int) -> None:
        self.done += n

    def subscribers(self) -> list[Callable[[Any], None]]:
        """What to subscribe to a transfer: nothing when nothing is shown (no events built)."""
        return [] if self.mode == "off" else [self.on_event]

    def on_event(self, event: object) -> None:
        """The transfer's event subscriber: moved bytes advance the count; a resumed
        transfer starts from what the interrupted run already sent."""
        if type(event) is BytesMoved:
            self.done += event.n
        elif type(event) is TransferStarted:
            # A second TransferStarted is a restart: what the first one skipped is no more.
            self.done += event.skipped_bytes - self._skipped
            self._skipped = event.skipped_bytes

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.t0, 1e-9)
        snap = self.client.snapshot()
        rate = snap.rate_bps
        pct = f" {100 * self.done / self.total:5.1f}%" if self.total else ""
        total = f" / {format_size(self.total)}" if self.total is not None else ""
        eta = ""
        if self.total and 0 < self.done < self.total:
            # From the average so far: the instantaneous rate swings with each part.
            eta = f"  ETA {(self.total - self.done) * elapsed / self.done:5.0f} s"
        return (f"{format_size(self.done)}{total}{pct}  {rate / 1e6:7.1f} MB/s  "
                f"{snap.concurrency} in flight max  {elapsed:6.1f} s{eta}")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self._draw()

    def _draw(self, final: bool = False) -> None:
        if self.mode == "bar":
            self.stream.write("\r\033[K" + self.line() + ("\n" if final else ""))
        elif self.mode == "log":
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def start(self) -> None:
        if self.mode != "off":
            self._task = asyncio.create_task(self._run())

    async def stop(self, ok: bool) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            if self.mode == "bar":
                self.stream.write("\r\033[K")
                self.stream.flush()
