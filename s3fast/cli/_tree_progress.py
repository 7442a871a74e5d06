"""Progress and summary of a many-object command: objects done/total (the total grows while
the listing runs), bytes, rate; a redrawn line on a terminal, plain periodic lines in logs."""
from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from .._units import format_size
from ..tree import Entry, TreeResult
from ..tree._ops import DEFAULT_WINDOW
from ..tree._prefixes import PrefixGovernor
from ..resume._tree import DONE_BEFORE


class TreeProgress:
    def __init__(self, operation: str, *, stream: TextIO = sys.stderr, mode: str = "auto",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.operation = operation
        self.stream = stream
        self.clock = clock
        self.t0 = clock()
        self.listed = 0
        self.listed_bytes = 0
        self.listing_done = False
        self.objects = 0
        self.bytes = 0
        self.moved = 0  # bytes as they cross, partial objects included
        self.skipped = 0
        #: bytes of listed objects nothing will move (skipped, dry run): out of the percentage
        self.settled_bytes = 0
        self.deleted = 0
        self.dryrun = 0
        self.failed: list[dict[str, str]] = []
        #: resumable trees: payload this run moved, parts found done, an interrupted run continued
        self.bytes_sent = 0
        self.parts_skipped = 0
        self.resumed = False
        self.warnings: list[dict[str, str]] = []
        tty = stream.isatty()
        self.mode = ("bar" if tty else "log") if mode == "auto" else mode
        self.interval = 0.25 if self.mode == "bar" else 5.0
        #: ``auto`` in a log: a closing line only after periodic ones (a run of a few seconds
        #: prints its summary alone, as before)
        self._closing_line = mode != "auto"
        self._task: asyncio.Task[None] | None = None
        #: processes the objects went to (None: not a sharded operation, e.g. rm)
        self.workers: int | None = None
        #: per-prefix SlowDown control of the operation; its report goes in the summary
        self.governor = PrefixGovernor(DEFAULT_WINDOW)

    # -- feeding ---------------------------------------------------------------------------------
    def on_listed(self, e: Entry | None) -> None:
        if e is None:
            self.listing_done = True
            return
        self.listed += 1
        self.listed_bytes += e.size

    def on_workers(self, n: int) -> None:
        self.workers = n

    def on_bytes(self, n: int) -> None:
        self.moved += n

    def add(self, r: TreeResult) -> None:
        name = r.source or r.destination
        if r.status == "failed":
            self.failed.append({"key": name, "error": r.error or "failed"})
        elif r.status == "skipped":
            self.skipped += 1
            self.settled_bytes += r.bytes
            self.resumed |= r.reason == DONE_BEFORE
            if r.reason.startswith("unsafe key"):
                self.warnings.append({"key": name, "warning": r.reason})
        elif r.status == "dryrun":
            self.dryrun += 1
            self.settled_bytes += r.bytes
        elif r.operation == "delete":
            self.deleted += 1
        else:
            self.objects += 1
            self.bytes += r.bytes
            self.bytes_sent += r.bytes if r.bytes_sent is None else r.bytes_sent
            self.parts_skipped += r.parts_skipped
            self.resumed |= r.resumed

    # -- drawing ---------------------------------------------------------------------------------
    @property
    def seconds(self) -> float:
        return max(self.clock() - self.t0, 1e-9)

    def line(self) -> str:
        handled = self.objects + self.skipped + len(self.failed) + self.dryrun
        total = f"{self.listed}" + ("" if self.listing_done else "+")
        pct = ""
        # What is left to move: the listed bytes but those of objects skipped (a sync's
        # unchanged ones) or only reported (a dry run).
        to_move = max(self.listed_bytes - self.settled_bytes, 0)
        if self.listing_done and to_move:
            pct = f" {100 * min(self.moved, to_move) / to_move:5.1f}%"
        rate = self.moved / self.seconds
        eta = ""
        if self.listing_done and rate > 0 and to_move > self.moved:
            eta = f"  ETA {(to_move - self.moved) / rate:5.0f} s"
        extra = f"  {len(self.failed)} failed" if self.failed else ""
        return (f"{self.operation}: {handled}/{total} objects  {format_size(self.moved)}{pct}  "
                f"{rate / 1e6:7.1f} MB/s  {self.seconds:6.1f} s{eta}{extra}")

    def _draw(self) -> None:
        if self.mode == "bar":
            self.stream.write("\r\033[K" + self.line())
        elif self.mode == "log":
            self.stream.write(self.line() + "\n")
            self._closing_line = True
        self.stream.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self._draw()

    def start(self) -> None:
        if self.mode != "off":
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
            if self.mode == "bar":
                self.stream.write("\r\033[K")
                self.stream.flush()
            elif self.mode == "log" and self._closing_line:
                self._draw()

    def summary(self, source: str, destination: str) -> dict[str, Any]:
        return {
            "operation": self.operation, "source": source, "destination": destination,
            "objects": self.objects, "bytes": self.bytes, "skipped": self.skipped, "deleted": self.deleted,
            "dryrun": self.dryrun, "failed": self.failed, "warnings": self.warnings,
            "seconds": round(self.seconds, 6), "mb_per_s": round(self.bytes / self.seconds / 1e6, 3),
            **({} if self.workers is None else {"workers": self.workers}),
            "throttled_prefixes": self.governor.report(),
            "bytes_sent": self.bytes_sent, "parts_skipped": self.parts_skipped, "resumed": self.resumed,
        }
