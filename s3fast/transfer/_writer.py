"""File writes off the event loop: one writer thread per client.

Receiving a GiB costs the loop thread about as much kernel time as writing it into the page
cache does; with the ``os.pwrite`` on a thread of its own, the two copies run on two cores
at once. Buffers are handed over with a queue and handed back through the loop
(``call_soon_threadsafe``), so a chunk is never reused while it is being written.
"""
from __future__ import annotations

import asyncio
import os
import queue
import threading
from collections.abc import Callable

Done = Callable[[BaseException | None], None]


class FileWriter:
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[int, memoryview, int, Done, asyncio.AbstractEventLoop] | None] = (
            queue.SimpleQueue())
        self._thread: threading.Thread | None = None
        self.writes = 0

    def __repr__(self) -> str:
        alive = self._thread is not None and self._thread.is_alive()
        return f"<FileWriter {'running' if alive else 'idle'} writes={self.writes}>"

    def submit(self, fd: int, view: memoryview, offset: int, done: Done) -> None:
        """Write all of ``view`` at ``offset``; ``done(error)`` is then called on the loop."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="s3fast-writer", daemon=True)
            self._thread.start()
        self._queue.put((fd, view, offset, done, asyncio.get_running_loop()))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fd, view, offset, done, loop = item
            error: BaseException | None = None
            try:
                while view:
                    n = os.pwrite(fd, view, offset)
                    view = view[n:]
                    offset += n
            except OSError as exc:
                error = exc
            self.writes += 1
            try:
                loop.call_soon_threadsafe(done, error)
            except RuntimeError:  # the loop is gone (interpreter shutdown)
                return

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
