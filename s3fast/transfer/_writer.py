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
import weakref
from collections.abc import Callable
from typing import Any

Done = Callable[[BaseException | None], None]


class FileWriter:
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[int, memoryview, int, Done, asyncio.AbstractEventLoop] | None] = (
            queue.SimpleQueue())
        self._thread: threading.Thread | None = None
        self.writes = 0
        _THREADED.add(self)

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

    def _forget(self) -> None:
        # In a forked child: the parent's thread does not exist here.
        self._queue = queue.SimpleQueue()
        self._thread = None


class FileBatcher:
    """Whole small files created, written and named on one thread, many per hand-off.

    A small download costs the kernel more for its file (create, page-cache write, link,
    close) than for its bytes. The loop thread receives the body into
    memory and hands it over; this thread takes every file waiting and runs them through
    the compiled ``write_files`` with the GIL released for the whole batch, so the kernel's
    file work runs on the other core while the loop keeps receiving. One wake-up per batch
    each way, not one per file: a thread per file (and the GIL ping-pong of Python-level
    ``os`` calls on it) cost more than it saved. Reading small upload sources this way
    is no faster and costs CPU per object, so uploads read inline.
    """

    def __init__(self, proc_fd: Callable[[], int]) -> None:
        self._proc_fd = proc_fd
        self._cv = threading.Condition(threading.Lock())
        self._jobs: list[_Job] = []
        self._busy = False  # the thread is awake (working, or about to look at the queue)
        self._closed = False
        self._thread: threading.Thread | None = None
        self.files = 0
        self.batches = 0
        _THREADED.add(self)

    def __repr__(self) -> str:
        alive = self._thread is not None and self._thread.is_alive()
        return (f"<FileBatcher {'running' if alive else 'idle'} files={self.files} batches={self.batches}"
                f" queued={len(self._jobs)}>")

    def write(self, directory: bytes, path: bytes, tmp: bytes, data: object,
              release: Callable[[], None] | None = None) -> asyncio.Future[tuple[int, int]]:
        """Queue one file (see ``write_files``); the future gets its ``(errno, stage)``.
        ``release()`` is called on the loop once the thread is done with ``data`` (also
        when the future's waiter was cancelled meanwhile): until then it must not change."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[tuple[int, int]] = loop.create_future()
        with self._cv:
            if self._closed:
                raise RuntimeError("the client is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="s3fast-files", daemon=True)
                self._thread.start()
            self._jobs.append(((directory, path, tmp, data), fut, loop, release))
            if not self._busy:
                # Woken at once, not at the end of the loop's turn: handing files over
                # once per turn made fewer batches but less overlap, which is slower.
                self._busy = True
                self._cv.notify()
        return fut

    def _run(self) -> None:
        from .._impl import files_impl

        while True:
            with self._cv:
                while not self._jobs:
                    if self._closed:
                        return
                    self._busy = False
                    self._cv.wait()
                batch, self._jobs = self._jobs, []
            try:
                results: list[Any] = files_impl.write_files([item[0] for item in batch], self._proc_fd())
            except BaseException as exc:  # MemoryError: every file of the batch fails with it
                results = [exc] * len(batch)
            self.files += len(batch)
            self.batches += 1
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, Any]]] = {}
            for item, result in zip(batch, results):
                by_loop.setdefault(item[2], []).append((item, result))
            for loop, items in by_loop.items():
                try:
                    loop.call_soon_threadsafe(_settle, items)
                except RuntimeError:  # that loop is closed: nobody waits for these files
                    pass

    def close(self) -> None:
        """Finish the files queued, then stop the thread."""
        with self._cv:
            self._closed = True
            self._cv.notify()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()

    def _forget(self) -> None:
        # In a forked child: the parent's thread does not exist here.
        self._cv = threading.Condition(threading.Lock())
        self._jobs = []
        self._busy = False
        self._thread = None


#: (the job for write_files, its future, that future's loop, release)
_Job = tuple[tuple[bytes, bytes, bytes, object], "asyncio.Future[tuple[int, int]]", asyncio.AbstractEventLoop,
             "Callable[[], None] | None"]


def _settle(items: list[tuple[_Job, Any]]) -> None:
    for (_, fut, _, release), result in items:
        if release is not None:
            release()
        if fut.done():
            continue
        if isinstance(result, BaseException):
            fut.set_exception(result)
        else:
            fut.set_result(result)


#: the FileWriters and FileBatchers alive, told to forget their thread in a forked child
#: (it was not copied: work queued to it there would wait forever)
_THREADED: weakref.WeakSet[FileWriter | FileBatcher] = weakref.WeakSet()


def _after_fork() -> None:
    for owner in list(_THREADED):
        owner._forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
