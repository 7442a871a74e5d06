"""Give a finished file its name, replacing what the name held, without paying for the old file.

``os.replace`` over an existing file makes the kernel do two slow things inside that one call:
free the old file's pages when its last link goes (its inode is evicted right there), and,
on ext4 (``auto_da_alloc``), start writeback of the new file's dirty pages. Measured here for a
2 GiB download replacing a 2 GiB file: the event loop stalled 3.1-3.6 s in the rename, and the
download took twice as long as into a fresh name (``benchmarks/probes/replace.py``).

``swap_in`` does the same atomic replacement without either cost on the caller's thread:

* it first opens the old file with ``O_PATH`` (no read permission needed), so that the
  rename does not drop its last reference: its pages are freed at the last ``close`` of
  that descriptor, which the caller does off the loop;
* it swaps the two names with ``renameat2(RENAME_EXCHANGE)``, which ext4 does not treat as
  a replacement (no writeback started), and unlinks the old file under the temporary name.

Readers of the path see the old file or the new one, never neither, as with ``rename``.
Where ``renameat2`` is missing or the filesystem refuses the exchange, it falls back to
``os.replace`` (the held descriptor still keeps the freeing off the caller's thread).
"""
from __future__ import annotations

import ctypes
import errno
import os
import stat
from typing import Any

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
