"""The standard descriptors the command line inherited closed, and which descriptor a
``/dev/fd/N``-style path names.

A process started with stdin, stdout or stderr closed (``<&-``, ``>&-``, ``2>&-``, some
daemons and cron set-ups) hands out 0, 1 or 2 to the next file or socket it opens: the
event loop then treats its own socket as a standard stream (libuv aborts the process) and
a "print" lands in a connection. :func:`guard_standard` runs first and parks /dev/null on
each closed one, so internal descriptors never take those numbers; the command then
refuses to use a stream that was closed ('-' as source or destination) instead of reading
or writing /dev/null as if it were data.

Whether a ``/dev/fd/N`` destination may be written at all is decided by the download
itself (``transfer/_special.py``: inherited and open for writing), for library callers too.
"""
from __future__ import annotations

import errno
import fcntl
import os
import sys

from .._errors import ConfigError

STD_NAMES = {0: "stdin", 1: "stdout", 2: "stderr"}
_closed: frozenset[int] = frozenset()


def _is_open(fd: int) -> bool:
    try:
        fcntl.fcntl(fd, fcntl.F_GETFD)
    except OSError as exc:
        if exc.errno == errno.EBADF:
            return False
        raise
    return True


def guard_standard() -> frozenset[int]:
    """Park /dev/null on each closed standard descriptor; the set of those that were closed."""
    global _closed
    closed = frozenset(fd for fd in (0, 1, 2) if not _is_open(fd))
    for fd in sorted(closed):
        got = os.open(os.devnull, os.O_RDWR)  # the lowest free number: fd itself
        if got != fd:
            os.dup2(got, fd)
            os.close(got)
    if 0 in closed and sys.stdin is None:
        sys.stdin = open(0, "r", closefd=False)  # noqa: SIM115 - lives as long as the process
    if 1 in closed and sys.stdout is None:
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    if 2 in closed and sys.stderr is None:
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    _closed = _closed | closed
    return closed


def was_closed(fd: int) -> bool:
    return fd in _closed


def descriptor_named(path: str) -> int | None:
    """The descriptor a path such as /dev/fd/3 names, or None for an ordinary path."""
    if path == "/dev/stdin":
        return 0
    if path in ("/dev/stdout", "/dev/stderr"):
        return 1 if path == "/dev/stdout" else 2
    for prefix in ("/dev/fd/", "/proc/self/fd/"):
        rest = path[len(prefix):]
        if path.startswith(prefix) and rest.isdigit():  # isdigit, as the writer reads it
            try:
                return int(rest) if len(rest) <= 9 else -1
            except ValueError:  # '²' is a digit that int() refuses
                return -1
    return None


def check_stdin_source() -> None:
    if was_closed(0):
        raise ConfigError("'-' reads stdin, but stdin is closed")


__all__ = ["STD_NAMES", "check_stdin_source", "descriptor_named", "guard_standard", "was_closed"]
