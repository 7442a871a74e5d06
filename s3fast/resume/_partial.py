"""The partial file of a resumable download: a visible sibling ``<dest>.s3fast-partial``
that outlives the process, renamed onto the destination once every byte is in and checked.

Unlike the unnamed file of an ordinary download (``transfer._localfs``), it must be found
again by a later run, so it has a fixed, documented name. It is created exclusively with
mode 0o600 (it holds another user's object until it is complete) and never through a
symlink (``O_NOFOLLOW``: a link planted under that name is refused, not written through);
a rerun reopens it the same way and uses it only when it is a regular file of the
object's size owned by this user. When it becomes the destination it takes the
permissions the umask gives a new file, as an ordinary download's does.
"""
from __future__ import annotations

import errno
import os
import stat

from .._errors import LocalIOError
from ..transfer._localfs import FileSink, _close, swap_in

#: the partial file's name: the destination's with this suffix
SUFFIX = ".s3fast-partial"
_FLAGS = os.O_RDWR | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)


def partial_path(dest: str) -> str:
    return os.path.abspath(dest) + SUFFIX


class PartialFileSink(FileSink):
    """A ``FileSink`` whose file has a name from the start and survives a failure
    (``keep``); ``remove`` deletes it (its bytes are of no use: the object changed, the
    checksum failed). Writes are inline (no writer thread): a range is journaled as soon
    as its reader returns, so its bytes must be in the file by then."""

    def __init__(self, dest: str) -> None:
        super().__init__(dest)
        self.partial = partial_path(dest)

    def __repr__(self) -> str:
        return f"<PartialFileSink {self.partial} fd={self.fd}>"

    # -- opening ----------------------------------------------------------------------------
    def open(self, size: int, *, sparse: bool = True, hold: bool = False) -> None:
        """A new partial file of ``size`` bytes (whatever was under its name is replaced)."""
        if os.path.isdir(self.path):
            raise LocalIOError(f"destination is a directory: {self.path}")
        self.size = size
        try:
            try:
                os.unlink(self.partial)  # a stale one, or a planted link (unlink never follows)
            except FileNotFoundError:
                pass
            self.fd = os.open(self.partial, _FLAGS | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise _local_error(exc, self.partial) from None
        try:
            if size:
                os.ftruncate(self.fd, size)
        except OSError as exc:
            self.remove()
            raise _local_error(exc, self.partial) from None

    def open_single(self, size: int, *, whole: bool) -> None:
        self.open(size, sparse=False)

    def reopen(self, size: int) -> str | None:
        """Open the partial file a previous run left; None when done, else why it cannot be used."""
        try:
            fd = os.open(self.partial, _FLAGS)
        except FileNotFoundError:
            return "the partial file is missing"
        except OSError as exc:
            return f"the partial file cannot be opened ({exc.strerror})"
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                problem: str | None = "the partial file is not a regular file"
            elif st.st_uid != os.geteuid():
                problem = "the partial file belongs to another user"
            elif st.st_size != size:
                problem = f"the partial file has {st.st_size} bytes, not {size}"
            else:
                problem = None
        except OSError as exc:
            problem = f"the partial file cannot be read ({exc.strerror})"
        if problem is not None:
            os.close(fd)
            return problem
        self.fd = fd
        self.size = size
        return None

    # -- the end ------------------------------------------------------------------------------
    def commit(self) -> None:
        """Give the checked file the destination's name, atomically (replacing a file there)."""
        try:
            os.fchmod(self.fd, 0o666 & ~_umask())
            old, old_size = swap_in(self.partial, self.path)
        except IsADirectoryError:
            raise LocalIOError(f"destination is a directory: {self.path}") from None
        except OSError as exc:
            raise LocalIOError(f"cannot write {self.path}: {exc.strerror}") from None
        os.close(self.fd)
        self.fd = -1
        if old >= 0:
            _close(old, old_size)  # the replaced file's pages are freed off the loop

    def discard(self) -> None:
        self.keep()

    def keep(self, *, sync: bool = False) -> None:
        """Close the file and leave it for a later run (``sync``: its bytes reach the disk
        first, so a journal synced after it never vouches for bytes a power cut lost)."""
        if self.fd >= 0:
            try:
                if sync:
                    os.fsync(self.fd)
            except OSError:
                pass  # the rerun checks every range against the journal anyway
            os.close(self.fd)
            self.fd = -1

    def remove(self) -> None:
        """Delete the partial file (nothing in it is worth keeping)."""
        try:
            os.unlink(self.partial)
        except FileNotFoundError:
            pass
        except OSError:
            pass  # nothing more to do: the next run replaces it
        self.keep()


def _umask() -> int:
    """This process's umask, read without changing it (``os.umask`` sets it process-wide,
    racing the threads that create files). 0o077 when it cannot be read: the file then
    stays private."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o077


def _local_error(exc: OSError, path: str) -> LocalIOError:
    directory = os.path.dirname(path) or "."
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        what = "does not exist" if not os.path.exists(directory) else "is not a directory"
        return LocalIOError(f"destination directory {what}: {directory}")
    if isinstance(exc, PermissionError):
        return LocalIOError(f"permission denied writing to {directory}")
    if exc.errno == errno.ELOOP:
        return LocalIOError(f"{path} is a symbolic link; refusing to write through it")
    return LocalIOError(f"cannot write {path}: {exc.strerror}")
