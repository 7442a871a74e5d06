"""An append-only journal file that any crash leaves readable.

Each record is one line, ``<crc32 of the JSON, 8 hex digits> <compact JSON>\\n``, written
with one ``os.write`` on an ``O_APPEND`` descriptor. A process killed at any instant leaves
either the whole line or a prefix of it, and a prefix fails its checksum (or has no newline),
so replay keeps every record before it and cuts the torn tail off. Nothing is rewritten in
place, so a crash can never damage a record that was already there.

Durability: once :meth:`RecordLog.append` returns, the record survives the process being
killed (``kill -9``, OOM): the bytes are in the kernel's page cache. Only a power loss or a
kernel crash can lose records written after the last :meth:`RecordLog.sync` (``fsync``),
and the callers treat the journal as a hint that the server's state overrides, so a lost
record costs re-sending one part, never a wrong result.

One process at a time: :meth:`RecordLog.open` takes an exclusive ``flock`` (released by the
kernel when the process dies, so a killed run never leaves a stale lock).
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import S3FastError, printable

#: One record is a plan or one part: a few hundred bytes. The bound is what replay accepts.
MAX_RECORD = 64 * 1024
#: 10,000 parts of a few hundred bytes each stay far below this; replay reads no more.
MAX_FILE = 256 * 1024 * 1024
#: of a cut-off tail, what replay hands back (10,000 part records fit)
MAX_DAMAGED = 4 * 1024 * 1024

KINDS = ("upload", "download")


class JournalError(S3FastError):
    """The journal cannot be used: in use by another process, unreadable, or too large."""


@dataclass(frozen=True)
class Replay:
    """What :meth:`RecordLog.open` found in the file."""

    #: every intact record, in the order written
    records: list[dict[str, Any]] = field(default_factory=list)
    #: bytes of a torn or corrupt tail that were cut off (0 for a clean file)
    dropped_bytes: int = 0
    #: the first :data:`MAX_DAMAGED` of them: a damaged plan may still name its upload
    damaged: bytes = b""
    #: the file's mtime before replay (a truncation changes it): when it was last written
    mtime: float = 0.0


def encode(record: Mapping[str, Any]) -> bytes:
    """One journal line for ``record`` (JSON-serialisable, keys sorted, ASCII only)."""
    body = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")
    line = b"%08x %s\n" % (zlib.crc32(body), body)
    if len(line) > MAX_RECORD:
        raise JournalError(f"journal record of {len(line)} bytes is over the {MAX_RECORD}-byte bound")
    return line


def decode(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """The intact records at the start of ``data`` and the length of that intact prefix.

    Replay stops at the first line that is unterminated, too long, fails its checksum or is
    not a JSON object: everything after it is suspect (a record is only ever appended after
    the one before it was whole)."""
    records: list[dict[str, Any]] = []
    pos = 0
    end = len(data)
    while pos < end:
        nl = data.find(b"\n", pos, min(end, pos + MAX_RECORD))
        if nl < 0:
            break
        line = data[pos:nl]
        if len(line) < 10 or line[8:9] != b" ":
            break
        try:
            crc = int(line[:8], 16)
        except ValueError:
            break
        body = line[9:]
        if zlib.crc32(body) != crc:
            break
        try:
            record = json.loads(body)
        except ValueError:
            break
        if not isinstance(record, dict):
            break
        records.append(record)
        pos = nl + 1
    return records, pos


class RecordLog:
    """An open journal: append records, sync, close or discard. See the module docstring."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd
        self.records_written = 0

    def __repr__(self) -> str:
        state = "open" if self._fd is not None else "closed"
        return f"<RecordLog {str(self.path)!r} {state} written={self.records_written}>"

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, fresh: bool = False) -> tuple[RecordLog, Replay]:
        """Open (creating it and its directories) the journal at ``path``, lock it, and replay it.

        A torn or corrupt tail is truncated away so that new records follow intact ones.
        ``fresh``: start empty, whatever the file held."""
        p = Path(path)
        try:
            p.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise JournalError(f"cannot open the resume journal {printable(str(p))}: "
                               f"{printable(exc.strerror or str(exc))}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise JournalError(f"the resume journal {printable(str(p))} is in use by another "
                                       "s3fast process (the same transfer is running)") from None
                raise
            if fresh:
                os.ftruncate(fd, 0)
                return cls(p, fd), Replay()
            replay = cls._replay(fd, p)
            return cls(p, fd), replay
        except JournalError:
            os.close(fd)
            raise
        except OSError as exc:
            os.close(fd)
            raise JournalError(f"cannot read the resume journal {printable(str(p))}: "
                               f"{printable(exc.strerror or str(exc))}") from None

    @staticmethod
    def _replay(fd: int, p: Path) -> Replay:
        st = os.fstat(fd)
        size = st.st_size
        if size > MAX_FILE:
            raise JournalError(f"the resume journal {printable(str(p))} is {size} bytes, over the "
                               f"{MAX_FILE}-byte bound: remove it to start over")
        chunks: list[bytes] = []
        got = 0
        while got < size:
            chunk = os.pread(fd, min(size - got, 1 << 20), got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        data = b"".join(chunks)
        records, good = decode(data)
        if good < len(data):
            os.ftruncate(fd, good)
        return Replay(records, len(data) - good, data[good:good + MAX_DAMAGED], st.st_mtime)

    def _require_fd(self) -> int:
        if self._fd is None:
            raise JournalError(f"the resume journal {printable(str(self.path))} is closed")
        return self._fd

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record; it survives the process being killed once this returns."""
        line = encode(record)
        fd = self._require_fd()
        try:
            written = os.write(fd, line)
        except OSError as exc:
            raise JournalError(f"cannot write the resume journal {printable(str(self.path))}: "
                               f"{printable(exc.strerror or str(exc))}") from None
        if written != len(line):
            # A short write (disk full) leaves a torn line; replay cuts it off, but nothing may
            # follow it, so this log is finished.
            raise JournalError(f"short write to the resume journal {printable(str(self.path))} "
                               "(is the disk full?)")
        self.records_written += 1

    def sync(self) -> None:
        """Make every record so far survive a power loss (``fsync``)."""
        fd = self._require_fd()
        try:
            os.fsync(fd)
        except OSError as exc:
            raise JournalError(f"cannot sync the resume journal {printable(str(self.path))}: "
                               f"{printable(exc.strerror or str(exc))}") from None

    def close(self) -> None:
        """Release the lock and the descriptor; the file stays for the next run."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the last descriptor releases the flock

    def discard(self) -> None:
        """The transfer finished: remove the journal."""
        try:
            self.path.unlink(missing_ok=True)
        finally:
            self.close()


def state_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where journals live: ``S3FAST_STATE_DIR``, else ``$XDG_STATE_HOME/s3fast``, else
    ``~/.local/state/s3fast`` (the XDG base-directory default)."""
    explicit = environ.get("S3FAST_STATE_DIR")
    if explicit:
        return Path(explicit)
    xdg = environ.get("XDG_STATE_HOME")
    if xdg and os.path.isabs(xdg):  # the spec says to ignore a relative value
        return Path(xdg) / "s3fast"
    home = environ.get("HOME") or os.path.expanduser("~")
    return Path(home) / ".local" / "state" / "s3fast"


def journal_path(base: Path, kind: str, identity: str) -> Path:
    """The journal of one transfer: named by a hash of what identifies it, so the same
    command finds it again and no user text reaches a file name."""
    if kind not in KINDS:
        raise ValueError(f"journal kind must be one of {KINDS}, got {kind!r}")
    digest = hashlib.sha256(identity.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return base / "journals" / f"{kind}-{digest}.log"


def list_journals(base: Path) -> list[Path]:
    """Every journal under ``base``, sorted by name (none when the directory does not exist)."""
    d = base / "journals"
    try:
        names = sorted(os.listdir(d))
    except FileNotFoundError:
        return []
    return [d / n for n in names if n.endswith(".log") and n.split("-", 1)[0] in KINDS]
