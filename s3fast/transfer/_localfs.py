"""Local file-system atomics: a downloaded file gets its name only when it is complete.

* Naming: ``O_TMPFILE`` in the destination's directory, named with ``linkat`` through a
  descriptor of /proc/<pid>/fd (``proc_fd``); elsewhere a hidden sibling
  (``partial_name``) renamed on success. Nothing exists under the final name until every
  byte arrived and the checksum matched, and a crash leaves no partial file under it.
* Replacing: ``swap_in`` exchanges the names atomically and keeps the replaced file open,
  so the kernel frees its pages at a ``close`` that runs off the event loop (``close_fd``)
  instead of inside the rename (where ext4 also starts writeback of the new file).
* ``FileSink``: the download destination built on these.
"""
from __future__ import annotations

import asyncio
import ctypes
import errno
import itertools
import os
import stat
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .. import _checksum
from .._errors import LocalIOError
from .._impl import files_impl
from ._sinks import Sink
from ._writer import FileBatcher, FileWriter

if TYPE_CHECKING:
    from ._buffers import MemoryBudget

#: the suffix of s3fast's named temporary files
PARTIAL_SUFFIX = ".s3fast-partial"
_tmp_ids = itertools.count()


def partial_name(path: str) -> str:
    """A temporary sibling of ``path``: hidden, unique to this process (pid + counter;
    tempfile.mkstemp costs a random name and retries per file), and recognisable."""
    directory, base = os.path.split(path)
    return os.path.join(directory, f".{base}.{os.getpid()}-{next(_tmp_ids)}{PARTIAL_SUFFIX}")


class FileSink(Sink):
    """A path, written through an unnamed file that gets its name only when complete.

    Linux: ``O_TMPFILE`` in the destination's directory, linked to the path on success
    (``linkat`` through /proc/self/fd). Nothing exists under any name until every byte
    arrived and the checksum matched, and a crash or SIGKILL leaves nothing behind at
    all. It is also one directory operation instead of two (create + rename). Elsewhere,
    or where the filesystem has no O_TMPFILE: a hidden temporary sibling renamed on success.

    With a ``batcher``, a small object (``open(hold=True)``) is first received whole
    into memory (``held``, paid for in ``budget``; when the budget has no room, the file
    is written as it arrives instead) and then created, written and named on the
    batcher's thread (``land``), off the loop.
    """

    def __init__(self, path: str, writer: FileWriter | None = None, batcher: FileBatcher | None = None,
                 budget: MemoryBudget | None = None) -> None:
        self.path = os.path.abspath(path)
        self.batcher = batcher
        self.budget = budget
        self.held: bytearray | None = None
        self.fd = -1
        self.tmp: str | None = None  # the named temporary file, when O_TMPFILE is not used
        self.unnamed = False
        self.size = 0
        self.writer = writer
        self._pending = 0
        self._idle: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        #: splice(2) into this file; cleared when its filesystem refuses splice
        self.splice = True

    def __repr__(self) -> str:
        return f"<FileSink {self.path} {'unnamed' if self.unnamed else f'tmp={self.tmp}'}>"

    def open(self, size: int, *, sparse: bool = True, hold: bool = False) -> None:
        """Create the file; with ``sparse`` it is sized up front (ranges land anywhere).
        With ``hold`` (and a batcher), receive it into memory first instead (see ``land``)."""
        if hold and self.batcher is not None and self.budget is not None and self.budget.try_acquire(size):
            self.held = bytearray(size)
            self.view = memoryview(self.held)
            return
        self.size = size
        directory = os.path.dirname(self.path) or "."
        # Read-write: bytes spliced into the file are checksummed from it (mmap). Mode
        # 0o666 so the umask, not us, decides the final permissions.
        flags = os.O_RDWR | getattr(os, "O_CLOEXEC", 0)
        try:
            self.fd = -1
            if _O_TMPFILE and _proc_fd() >= 0:
                try:
                    self.fd = os.open(directory, flags | _O_TMPFILE, 0o666)
                    self.unnamed = True
                except OSError as exc:
                    if exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                        raise
            if self.fd < 0:
                self.tmp = partial_name(self.path)
                self.fd = os.open(self.tmp, flags | os.O_CREAT | os.O_EXCL, 0o666)
        except (FileNotFoundError, NotADirectoryError):
            self.tmp = None
            what = "does not exist" if not os.path.exists(directory) else "is not a directory"
            raise LocalIOError(f"destination directory {what}: {directory}") from None
        except PermissionError:
            self.tmp = None
            raise LocalIOError(f"permission denied writing to {directory}") from None
        except OSError as exc:
            self.tmp = None
            raise LocalIOError(f"cannot write {self.path}: {exc.strerror}") from None
        if sparse and os.path.isdir(self.path):
            # Checked up front only for ranged downloads, so a large object is not fetched
            # for nothing; a single-request file gets the same error from commit.
            self.discard()
            raise LocalIOError(f"destination is a directory: {self.path}")
        try:
            if size and sparse:
                os.ftruncate(self.fd, size)
        except OSError as exc:
            self.discard()
            raise LocalIOError(f"cannot write {self.path}: {exc.strerror}") from None

    def open_single(self, size: int, *, whole: bool) -> None:
        # One request: writing inline beats a thread hand-off. A body already here
        # whole (up to the connection's stash) is named on the batcher's thread; larger
        # ones are not, their decryption being the cost, not the file work.
        self.writer = None
        self.open(size, sparse=False, hold=whole)

    def finish(self) -> Awaitable[None] | None:
        """Every byte in the file before it is checksummed or named."""
        if self._pending:
            return self.flush()
        self.check()
        return None

    async def settle(self) -> None:
        try:
            await self.flush()  # the writer thread must be done with the fd before it closes
        except LocalIOError:
            pass

    def range_crc(self, algo: _checksum.Algorithm) -> Callable[[int, int], int]:
        if self.view is not None:
            return super().range_crc(algo)
        fd = self.fd

        def range_crc(offset: int, size: int) -> int:
            return _checksum.file_range_crc(algo, fd, offset, size)
        return range_crc

    def write(self, view: memoryview, offset: int) -> None:
        try:
            while view:
                n = os.pwrite(self.fd, view, offset)
                view = view[n:]
                offset += n
        except OSError as exc:
            raise LocalIOError(f"cannot write {self.path}: {exc.strerror}") from None

    def submit(self, view: memoryview, offset: int, release: Callable[[], None]) -> None:
        """Write on the writer thread (inline without one); ``release()`` once the bytes
        are in the file and the buffer may be reused."""
        self.check()
        if self.writer is None:
            try:
                self.write(view, offset)
            finally:
                release()
            return
        self._pending += 1

        def done(error: BaseException | None) -> None:
            release()
            self._pending -= 1
            if error is not None and self._error is None:
                self._error = error
            if self._pending == 0 and self._idle is not None and not self._idle.done():
                self._idle.set_result(None)

        self.writer.submit(self.fd, view, offset, done)

    def check(self) -> None:
        """Raise the writer thread's error, if a write failed."""
        if self._error is not None:
            err = self._error
            raise LocalIOError(f"cannot write {self.path}: {getattr(err, 'strerror', None) or err}")

    async def flush(self) -> None:
        """Wait until every submitted write is done (never close the fd under the writer)."""
        while self._pending:
            self._idle = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._idle)
        self.check()

    async def land(self) -> None:
        """Create, write and name the held file on the batcher's thread.

        Called once every byte is in and verified: this is the commit point. A
        cancellation meanwhile waits for the file to be named (complete), then goes on.
        """
        held, batcher = self.held, self.batcher
        assert held is not None and batcher is not None and self.budget is not None
        directory = os.path.dirname(self.path) or "."
        tmp = partial_name(self.path)
        budget = self.budget
        fut = batcher.write(os.fsencode(directory), os.fsencode(self.path), os.fsencode(tmp), held,
                            lambda: budget.release(len(held)))  # once the thread is done with the bytes
        self.held = None
        self.view = None
        try:
            err, stage = await asyncio.shield(fut)
        except asyncio.CancelledError:
            while not fut.done():
                try:
                    await asyncio.shield(fut)
                except asyncio.CancelledError:
                    pass
            raise
        if err:
            raise LocalIOError(_file_error(self.path, directory, err, stage))

    def commit(self) -> Awaitable[None] | None:
        """Name the file (a held one on the batcher's thread: ``land``). Replacing a
        file, the old one is freed off the loop (``swap_in``)."""
        if self.held is not None:
            return self.land()
        self._name()
        return None

    def _name(self) -> None:
        old = -1
        try:
            if self.unnamed:
                try:
                    os.link(str(self.fd), self.path, src_dir_fd=_proc_fd())
                except FileExistsError:
                    # Replacing a file: name ours beside it, then swap it in (atomic).
                    self.tmp = partial_name(self.path)
                    os.link(str(self.fd), self.tmp, src_dir_fd=_proc_fd())
                    self.unnamed = False
                    old, old_size = swap_in(self.tmp, self.path)
                    self.tmp = None
            else:
                assert self.tmp is not None
                old, old_size = swap_in(self.tmp, self.path)
                self.tmp = None
        except IsADirectoryError:
            self.discard()
            raise LocalIOError(f"destination is a directory: {self.path}") from None
        except OSError as exc:
            self.discard()
            raise LocalIOError(f"cannot write {self.path}: {exc.strerror}") from None
        os.close(self.fd)  # ours has a name now: this close frees nothing
        self.fd = -1
        self.unnamed = False
        if old >= 0:
            _close(old, old_size)

    def discard(self) -> None:
        if self.held is not None:
            assert self.budget is not None
            self.budget.release(len(self.held))
            self.held = None
            self.view = None
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)  # while our descriptor holds it: the close below frees it
            except FileNotFoundError:
                pass
            self.tmp = None
        if self.fd >= 0:
            _close(self.fd, self.size)
            self.fd = -1


def _close(fd: int, size: int) -> None:
    """Close ``fd``, the last reference to a file without a name. The kernel frees the
    file's pages in that close (time in proportion to its size), so a large one is closed
    on the loop's default executor instead of stalling every transfer on the loop."""
    if size >= _FREE_OFF_LOOP:
        try:
            asyncio.get_running_loop().run_in_executor(None, _close_quietly, fd)
            return
        except RuntimeError:  # no running loop, or its executor is shut down
            pass
    os.close(fd)


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


#: a file at least this large is freed off the loop (see ``_close``)
_FREE_OFF_LOOP = 1 << 20


def _file_error(path: str, directory: str, err: int, stage: int) -> str:
    """What a failed ``write_files`` job means, in FileSink's words."""
    if stage == files_impl.OPEN:
        if err in (errno.ENOENT, errno.ENOTDIR):
            what = "does not exist" if not os.path.exists(directory) else "is not a directory"
            return f"destination directory {what}: {directory}"
        if err in (errno.EACCES, errno.EPERM, errno.EROFS):
            return f"permission denied writing to {directory}"
    if stage == files_impl.NAME and err == errno.EISDIR:
        return f"destination is a directory: {path}"
    return f"cannot write {path}: {os.strerror(err)}"


_O_TMPFILE = getattr(os, "O_TMPFILE", 0)
_PROC_FD = [-2]  # descriptor of /proc/<pid>/fd: -2 not opened yet, -1 unavailable


def _proc_fd() -> int:
    """A descriptor of this process's /proc/<pid>/fd, to give an O_TMPFILE file its name
    with linkat (reopened in a forked child, see below: the parent's would name the
    parent's files)."""
    if _PROC_FD[0] == -2:
        try:
            _PROC_FD[0] = os.open(f"/proc/{os.getpid()}/fd", os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            _PROC_FD[0] = -1
    return _PROC_FD[0]


#: for the FileBatcher's thread, which names files the same way
proc_fd = _proc_fd


def _forget_proc_fd() -> None:
    if _PROC_FD[0] >= 0:
        os.close(_PROC_FD[0])
    _PROC_FD[0] = -2


if hasattr(os, "register_at_fork"):
    # Not a getpid() per file: the child forgets the parent's descriptor when it is born.
    os.register_at_fork(after_in_child=_forget_proc_fd)



# -- replacing a file: swap_in ------------------------------------------------------------------
# ``os.replace`` over an existing file makes the kernel do two slow things inside that one
# call: free the old file's pages when its last link goes, and, on ext4 (``auto_da_alloc``),
# start writeback of the new file's dirty pages. On the event loop that stalls every
# transfer for as long as a large old file takes to free. ``swap_in`` does the same atomic
# replacement without either cost on the caller's thread: it opens the old file with
# ``O_PATH`` first (no read permission needed) so the rename does not drop its last
# reference (its pages are freed at the last close of that descriptor, off the loop), and
# swaps the two names with ``renameat2(RENAME_EXCHANGE)``, which ext4 does not treat as a
# replacement, then unlinks the old file under the temporary name. Readers of the path see
# the old file or the new one, never neither. Where ``renameat2`` is missing or refused it
# falls back to ``os.replace`` (the held descriptor still keeps the freeing off the loop).

RENAME_EXCHANGE = 2  # <linux/fs.h>
_O_PATH = getattr(os, "O_PATH", 0)


def _load_renameat2() -> Any:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):  # no glibc >= 2.28 (or not Linux)
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    fn.restype = ctypes.c_int
    return fn


_renameat2 = _load_renameat2()
_AT_FDCWD = -100


def exchange(a: str, b: str) -> bool:
    """Swap the names ``a`` and ``b`` atomically. False when this system or filesystem cannot
    (then nothing changed); OSError for anything else (ENOENT: one of them is missing)."""
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), b)


def swap_in(tmp: str, path: str) -> tuple[int, int]:
    """Name the file ``tmp`` ``path``, atomically replacing whatever ``path`` names.

    Returns ``(fd, size)``: a descriptor still holding the replaced file (close it off the
    event loop when ``size`` is large: the kernel frees its pages at that close), or
    ``(-1, 0)`` when ``path`` named nothing. Raises IsADirectoryError when ``path`` is a
    directory (``tmp`` is left as it was), and OSError otherwise.
    """
    if not _O_PATH:
        os.replace(tmp, path)
        return -1, 0
    try:
        old = os.open(path, _O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        os.replace(tmp, path)
        return -1, 0
    try:
        st = os.fstat(old)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        try:
            swapped = exchange(tmp, path)
        except FileNotFoundError:  # the old file went meanwhile
            swapped = False
        if not swapped:
            os.replace(tmp, path)
            return old, st.st_size
        try:
            os.unlink(tmp)  # the old file, now under the temporary name
        except IsADirectoryError:
            # A directory took the old file's place after the check: put it back.
            exchange(tmp, path)
            raise
        return old, st.st_size
    except BaseException:
        os.close(old)
        raise
