"""Whole small files created, written and named in one call (pure twin of
``native/_files.pyx``; the two must behave identically).

``write_files(jobs, proc_fd)`` takes ``(directory, path, tmp, data)`` per file (paths as
bytes, ``data`` any buffer) and returns ``(errno, stage)`` per file, ``(0, 0)`` for
success. Each file is written whole before it gets its name, so nothing is ever seen
half-written under ``path``:

* with ``proc_fd`` (a descriptor of ``/proc/<pid>/fd``) and a filesystem that has
  ``O_TMPFILE``: an unnamed file in ``directory``, linked to ``path`` when complete
  (through ``tmp`` and a rename when ``path`` exists already, which replaces it
  atomically). A failure leaves nothing behind.
* otherwise: ``tmp`` is created (``O_EXCL``), written and renamed to ``path``; removed
  again on failure.

``stage`` says what failed: ``OPEN`` (creating the file: a missing or read-only
directory), ``WRITE`` (a full disk) or ``NAME`` (linking or renaming to ``path``: a
directory in the way, a vanished directory). The compiled twin runs the whole batch
without the GIL; this one holds it, so it gains nothing on a thread.
"""
from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from typing import Any

from ._common import NAME, OPEN, WRITE, check_path

__all__ = ["NAME", "OPEN", "WRITE", "special", "write_files"]

_O_TMPFILE = getattr(os, "O_TMPFILE", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NO_TMPFILE = (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL)


def _write_all(fd: int, data: Any) -> None:
    view = memoryview(data).cast("B")
    off = 0
    while off < len(view):
        off += os.pwrite(fd, view[off:], off)


def _unlink(path: bytes) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _one(directory: bytes, path: bytes, tmp: bytes, data: Any, proc_fd: int) -> tuple[int, int]:
    fd = -1
    if proc_fd >= 0 and _O_TMPFILE:
        try:
            fd = os.open(directory, os.O_RDWR | _O_CLOEXEC | _O_TMPFILE, 0o666)
        except OSError as exc:
            if exc.errno not in _NO_TMPFILE:
                return exc.errno or errno.EIO, OPEN
    if fd >= 0:
        try:
            _write_all(fd, data)
        except OSError as exc:
            os.close(fd)
            return exc.errno or errno.EIO, WRITE
        name = str(fd)
        try:
            try:
                os.link(name, path, src_dir_fd=proc_fd)
                return 0, 0
            except FileExistsError:
                os.link(name, tmp, src_dir_fd=proc_fd)
        except OSError as exc:
            return exc.errno or errno.EIO, NAME
        finally:
            os.close(fd)
    else:
        try:
            fd = os.open(tmp, os.O_RDWR | _O_CLOEXEC | os.O_CREAT | os.O_EXCL, 0o666)
        except OSError as exc:
            return exc.errno or errno.EIO, OPEN
        try:
            _write_all(fd, data)
        except OSError as exc:
            _unlink(tmp)
            return exc.errno or errno.EIO, WRITE
        finally:
            os.close(fd)
    try:
        os.rename(tmp, path)
    except OSError as exc:
        _unlink(tmp)
        return exc.errno or errno.EIO, NAME
    return 0, 0


def write_files(jobs: Sequence[tuple[bytes, bytes, bytes, Any]], proc_fd: int) -> list[tuple[int, int]]:
    for directory, path, tmp, _ in jobs:
        check_path(directory)
        check_path(path)
        check_path(tmp)
    return [_one(bytes(d), bytes(p), bytes(t), data, proc_fd) for d, p, t, data in jobs]


def special(path: str | bytes) -> bool:
    """Whether ``path`` names something other than a regular file or a directory: a device
    such as /dev/null, a FIFO, a socket. False when it names nothing (or cannot be checked).
    A path with a NUL byte raises ``ConfigError``: where a download's path first arrives."""
    check_path(path)
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))
