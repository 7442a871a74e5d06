"""Destinations written in place: devices, FIFOs, sockets and descriptors named by path.

A file renamed over /dev/null or a FIFO would replace the device itself, so these are
opened and written in order instead of through a temporary file.

``/dev/fd/N``, ``/proc/self/fd/N``, ``/dev/stdout`` and the like name descriptor N of
*this* process. The name is only honoured for a descriptor the caller can have meant:
one this process inherited (open when s3fast was imported, still the same file: see
``_inherited``), or a
regular file or device the program opened itself. Every other descriptor number is
refused, whatever it points at now: not open, open read-only, or one of s3fast's own
sockets, pipes, epoll or eventfd descriptors (writing into those corrupts a transfer or
crashes the process), or one of its unnamed temporary files.
"""
from __future__ import annotations

import asyncio
import fcntl
import os
import re
import stat

from .._errors import ConfigError, LocalIOError, printable
from .._inherited import INHERITED
from .._impl import files_impl
from ._localfs import PARTIAL_SUFFIX


_OWN_FD_DIR = re.compile(r"/proc/(\d+)(?:/task/\d+)?/fd")


def named_descriptor(path: str) -> int | None:
    """The descriptor of this process that ``path`` names (through any symlinks, as
    /dev/stdout -> /proc/self/fd/1 and /dev/fd -> /proc/self/fd), else None."""
    p = os.path.abspath(path)
    for _ in range(16):  # symlink hops; a loop longer than this names nothing usable
        directory, base = os.path.split(p)
        if not (base.isascii() and base.isdigit()):
            # Not a descriptor's number: only a symlink can lead on to one. One readlink
            # settles the common case (a file under /dev/shm, say: not a symlink), where
            # resolving the directory cost a lstat per component, per file of a tree.
            try:
                target = os.readlink(p)
            except OSError:
                return None
            p = os.path.normpath(os.path.join(os.path.realpath(directory), target))
            continue
        real_dir = os.path.realpath(directory)
        m = _OWN_FD_DIR.fullmatch(real_dir)
        if m is not None and int(m.group(1)) == os.getpid():
            return int(base) if base.isascii() and base.isdigit() else None
        full = os.path.join(real_dir, base)
        try:
            target = os.readlink(full)
        except OSError:
            return None  # not a symlink (or nothing there): an ordinary path
        p = os.path.normpath(os.path.join(real_dir, target))
    return None


def check_descriptor(fd: int, path: str) -> None:
    """Raise ConfigError unless ``fd`` (named by ``path``) may be written (see the module
    docstring)."""
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        st = os.fstat(fd)
    except (OSError, OverflowError):  # OverflowError: a number no descriptor can have
        raise ConfigError(f"{path} names descriptor {fd}, which is not open") from None
    if flags & os.O_ACCMODE not in (os.O_WRONLY, os.O_RDWR):
        raise ConfigError(f"{path} names descriptor {fd}, which is not open for writing")
    mode = st.st_mode
    if stat.S_IFMT(mode) == 0:
        # An anonymous inode (epoll, eventfd, io_uring, signalfd): no data goes there, and
        # every one of a kind shares one inode number, so "the same file" cannot be told.
        raise ConfigError(f"{path} names descriptor {fd}, which is not a file, a device, a pipe or a socket")
    if INHERITED.get(fd) == (st.st_dev, st.st_ino):
        return
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return
    if stat.S_ISREG(mode) and st.st_nlink > 0 and not _link_of(fd).endswith(PARTIAL_SUFFIX):
        return
    raise ConfigError(f"{path} names descriptor {fd}, which this process did not inherit "
                      "(open it for writing in the shell that starts s3fast, as 3>file, or pass a file object)")


def _link_of(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


def written_in_place(path: str | bytes) -> bool:
    """Whether ``path`` is written in place and in order instead of through a temporary
    file: a device, a FIFO or a socket, or a name of one of this process's descriptors
    (written where that descriptor points, as a shell's redirection set it up).

    Raises ConfigError for any other path on a kernel filesystem (see :func:`kernel_fs`)."""
    if _files_special(path):
        return True
    if type(path) is not str:
        path = os.fsdecode(path)
    if path.startswith(("/dev/", "/proc/")) and named_descriptor(path) is not None:
        return True
    fstype = kernel_fs(path)
    if fstype is not None:
        raise ConfigError(f"cannot write {printable(path)}: it is on the kernel's {fstype} filesystem,"
                          " where a download cannot be created or replaced")
    return False


#: Filesystems whose files are the kernel's interfaces: a file there cannot be created
#: (no temporary file, no rename), and writing into an existing one sets a kernel knob or
#: fails, never stores the object. Without this check the error named the wrong thing
#: ("destination directory is not a directory: /proc" for /proc/version).
KERNEL_FILESYSTEMS = frozenset({
    "proc", "sysfs", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs", "configfs",
    "efivarfs", "bpf", "pstore", "binfmt_misc", "fusectl", "hugetlbfs", "mqueue",
})


def kernel_fs(path: str) -> str | None:
    """The type of the kernel filesystem ``path`` lies on (by the longest mount point that
    contains it; symlinks are not followed), else None."""
    here = os.path.abspath(path)
    best, kind = "", None
    for mount, fstype in _kernel_mounts():
        if (here == mount or here.startswith(mount.rstrip("/") + "/")) and len(mount) > len(best):
            best, kind = mount, fstype
    if kind is None:
        return None
    # A longer, ordinary mount below it (a tmpfs on /sys/fs/..., say) wins.
    return kind if _longest_mount(here) == best else None


_MOUNTS: list[tuple[str, str]] | None = None


def _mounts() -> list[tuple[str, str]]:
    """(mount point, filesystem type) of every mount this process sees, read once."""
    global _MOUNTS
    if _MOUNTS is None:
        found: list[tuple[str, str]] = []
        try:
            with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
                for line in f:
                    left, sep, right = line.partition(" - ")
                    fields = left.split()
                    if sep and len(fields) >= 5 and right.split():
                        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
                        found.append((point, right.split()[0]))
        except OSError:
            found = [("/proc", "proc"), ("/sys", "sysfs")]
        _MOUNTS = found
    return _MOUNTS


_KERNEL_MOUNTS: list[tuple[str, str]] | None = None


def _kernel_mounts() -> list[tuple[str, str]]:
    global _KERNEL_MOUNTS
    if _KERNEL_MOUNTS is None:
        _KERNEL_MOUNTS = [(m, t) for m, t in _mounts() if t in KERNEL_FILESYSTEMS]
    return _KERNEL_MOUNTS


def _longest_mount(here: str) -> str:
    return max((m for m, _ in _mounts() if here == m or here.startswith(m.rstrip("/") + "/")), key=len, default="/")


_files_special = files_impl.special


async def open_in_place(path: str | bytes) -> int:
    """A new descriptor for writing to ``path`` (see ``written_in_place``)."""
    path = os.fsdecode(path)
    fd = named_descriptor(path)
    if fd is not None:
        check_descriptor(fd, path)
        return os.dup(fd)  # its file offset and O_APPEND, as the shell left them
    flags = os.O_WRONLY | getattr(os, "O_CLOEXEC", 0)
    try:
        if stat.S_ISFIFO(os.stat(path).st_mode):
            # Opening a FIFO for writing waits for a reader: not on the loop.
            fut = asyncio.get_running_loop().run_in_executor(None, os.open, path, flags)
            try:
                return await asyncio.shield(fut)
            except asyncio.CancelledError:
                # A reader may still come: then close what the thread opened.
                fut.add_done_callback(_close_opened)
                raise
        return os.open(path, flags)
    except PermissionError:
        raise LocalIOError(f"permission denied writing to {path}") from None
    except OSError as exc:
        raise LocalIOError(f"cannot write {path}: {exc.strerror}") from None


def _close_opened(fut: asyncio.Future[int]) -> None:
    """Close the descriptor a cancelled ``open_in_place`` thread opened after all."""
    if not fut.cancelled() and fut.exception() is None:
        os.close(fut.result())
