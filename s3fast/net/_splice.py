"""Plain-TCP bodies headed for a file: socket -> pipe -> file with splice(2).

The kernel hands the received pages to the page cache with one copy instead of two (recv
into a buffer, then pwrite), and no user-space buffer is involved. Linux only; bodies
shorter than ``SPLICE_MIN`` take the ordinary path (the set-up is not worth it, and most
of such a body came with the head).

Readiness of the socket comes through an epoll of our own (the loop watches its
descriptor), not ``loop.add_reader`` on the socket: uvloop's poll handle drops a socket
that reports an error (a reset) without calling back, which would leave a reset range
waiting for the idle timeout.
"""
from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import select
import sys
from collections.abc import Callable
from typing import Protocol

from .._errors import LocalIOError, NetworkError

SPLICE = sys.platform.startswith("linux") and hasattr(os, "splice")
SPLICE_MIN = 256 * 1024
#: per-connection pipe (kernel memory holding page references, drained at each wake-up);
#: 1 MiB is Linux's default pipe-max-size, and a smaller pipe is used if that is refused
PIPE_SIZE = 1024 * 1024
_F_SETPIPE_SZ, _F_GETPIPE_SZ = 1031, 1032
#: progress is reported per this many bytes crossed
_PROGRESS_STEP = 1024 * 1024


class SpliceOwner(Protocol):
    """The connection a splicer reports to."""

    ip: str

    def splice_moved(self, received: int, written: int) -> None: ...

    def splice_eof(self) -> None: ...

    def splice_failed(self, exc: BaseException) -> None: ...

    def splice_done(self) -> None: ...


class Splicer:
    """A connection's pipe and epoll, and the range being spliced into a file."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock_fd: int) -> None:
        self.loop = loop
        self.sock_fd = sock_fd
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.pipe = (r, w)
        try:
            fcntl.fcntl(w, _F_SETPIPE_SZ, PIPE_SIZE)
        except OSError:
            pass  # over the per-user pipe quota: keep the default size
        self.pipe_size = fcntl.fcntl(w, _F_GETPIPE_SZ)
        self.ep = select.epoll(1)
        self.ep.register(sock_fd, select.EPOLLIN | select.EPOLLRDHUP)
        #: set when the destination refused splice (some filesystems do): use recv + pwrite
        self.refused = False
        self._owner: SpliceOwner | None = None
        self._fd = -1
        self._off = 0
        self._left = 0
        self._unreported = 0
        self._progress: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"<Splicer fd={self._fd} left={self._left} refused={self.refused}>"

    def start(self, owner: SpliceOwner, fd: int, offset: int, nbytes: int,
              on_progress: Callable[[], None] | None) -> None:
        """Move the next ``nbytes`` from the socket to ``fd`` at ``offset``, reporting to
        ``owner`` as they move, until it is told ``splice_done`` or a failure."""
        self._owner = owner
        self._fd, self._off, self._left = fd, offset, nbytes
        self._unreported = 0
        self._progress = on_progress
        self.loop.add_reader(self.ep.fileno(), self._on_ready)

    def stop(self) -> None:
        self._owner = None
        self._progress = None
        self._fd = -1
        self.loop.remove_reader(self.ep.fileno())

    def close(self) -> None:
        try:
            self.loop.remove_reader(self.ep.fileno())
        except Exception:
            pass
        for end in self.pipe:
            os.close(end)
        self.ep.close()

    def _on_ready(self) -> None:
        """The socket is readable (or failed): move what it holds (up to a pipe's worth)
        to the file, or turn its error into the owner's."""
        owner = self._owner
        if self._fd < 0 or owner is None:
            return
        self.ep.poll(0)  # collect the readiness report (level-triggered: it comes back)
        r, w = self.pipe
        try:
            n = os.splice(self.sock_fd, w, min(self.pipe_size, self._left),
                          flags=os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK)
        except BlockingIOError:
            return
        except OSError as exc:
            owner.splice_failed(NetworkError(f"receive from {owner.ip} failed: {exc.strerror or exc}",
                                             ip=owner.ip, kind="reset"))
            return
        if n == 0:
            owner.splice_eof()
            return
        off = self._off
        moved = 0
        try:
            while moved < n:
                if self.refused:
                    moved += self._copy(r, n - moved, off + moved)
                    continue
                try:
                    moved += os.splice(r, self._fd, n - moved, offset_dst=off + moved, flags=os.SPLICE_F_MOVE)
                except OSError as exc:
                    if exc.errno in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP) and not self.refused:
                        self.refused = True  # this filesystem takes no splice
                        continue
                    raise
        except OSError as exc:
            owner.splice_moved(n, moved)
            owner.splice_failed(LocalIOError(f"cannot write the download: {exc.strerror or exc}"))
            return
        owner.splice_moved(n, n)
        self._off = off + n
        self._left -= n
        if self._left == 0:
            self.loop.remove_reader(self.ep.fileno())
            owner.splice_done()
        elif self._progress is not None:
            # A tick per MiB crossed (the remainder carries over: resetting it would lose
            # up to a splice's worth each time).
            self._unreported += n
            if self._unreported >= _PROGRESS_STEP:
                self._unreported %= _PROGRESS_STEP
                self._progress()

    def _copy(self, r: int, n: int, offset: int) -> int:
        data = os.read(r, n)
        view = memoryview(data)
        while view:
            k = os.pwrite(self._fd, view, offset)
            view = view[k:]
            offset += k
        return len(data)
