"""Upload sources as strategies: the upload logic never asks "is this a file?".

* ``FileSource``: a path or a seekable file with a descriptor. Parts are file slices,
  sent with ``os.sendfile`` over plain HTTP (zero-copy) and checksummed through mmap.
* ``BufferSource``: bytes-like data. Parts are memoryview slices (zero-copy).
* ``StreamSource``: anything else (async iterators of bytes, pipes, sockets): size
  unknown, parts are filled into buffers that are held only until S3 acknowledges them.
"""
from __future__ import annotations

import asyncio
import io
import os
import queue
import threading
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from .._checksum import Algorithm, file_range_crc
from .._errors import ConfigError, LocalIOError, TransferError
from ..net._connection import FileSlice
from ._planner import Part


#: A single PUT of a file up to this size reads it into memory in one go (paid for in the
#: memory budget) instead of mmap-checksumming it and sending it with sendfile.
SMALL_FILE = 256 << 10


class FileSource:
    #: the file may change while it is read: its size is checked again at the end
    may_change = True

    def __init__(self, fd: int, start: int, size: int, *, owned: bool, name: str) -> None:
        self.fd = fd
        self.start = start
        self.size = size
        self.owned = owned
        self.name = name

    def __repr__(self) -> str:
        return f"<FileSource {self.name} size={self.size}>"

    def body(self, part: Part) -> FileSlice:
        return FileSlice(self.fd, self.start + part.offset, part.size)

    def checksum(self, algo: Algorithm, part: Part) -> int:
        return file_range_crc(algo, self.fd, self.start + part.offset, part.size)

    def read_whole(self, part: Part) -> bool:
        """Whether a single PUT of ``part`` reads it into memory in one go (``read``)
        instead of checksumming it through mmap and sending it with sendfile."""
        return part.size <= SMALL_FILE

    def probe(self) -> None:
        """Fail early on an unreadable file (EIO, EISDIR on some filesystems), before any
        request is sent. A small file read whole at once needs no probe."""
        try:
            os.pread(self.fd, 1, self.start)
        except OSError as exc:
            raise LocalIOError(f"cannot read {self.name}: {exc.strerror}") from None

    def read(self, part: Part) -> bytes:
        """``part``'s bytes; when ``part`` ends the file, one byte more is asked for, so
        a file that grew since it was opened is caught by the same read."""
        at = self.start + part.offset
        try:
            data = os.pread(self.fd, part.size + int(part.end == self.size), at)
        except OSError as exc:
            raise LocalIOError(f"cannot read {self.name}: {exc.strerror}") from None
        if len(data) != part.size:
            raise _changed(self.name, self.start + self.size, at + len(data))
        return data

    def check_size(self) -> None:
        """Raise if the file is no longer the size it had when opened: the parts sent are
        not one version of it. A file that shrank fails while it is sent; one that grew
        is caught here, before the upload is completed."""
        try:
            now = os.fstat(self.fd).st_size
        except OSError as exc:
            raise LocalIOError(f"cannot read {self.name}: {exc.strerror}") from None
        if now != self.start + self.size:
            raise _changed(self.name, self.start + self.size, now)

    def close(self) -> None:
        if self.owned:
            os.close(self.fd)
            self.owned = False


def _changed(name: str, was: int, now: int) -> TransferError:
    # A failed transfer (not bad input): the CLI exits 1, and nothing is left in S3.
    return TransferError(f"{name} changed size while being uploaded ({was} bytes when opened, "
                         f"{'at least ' if now > was else ''}{now} now); the upload was abandoned")


class BufferSource:
    may_change = False

    def __init__(self, data: Any) -> None:
        self.view = memoryview(data).cast("B")
        self.size = self.view.nbytes

    def __repr__(self) -> str:
        return f"<BufferSource size={self.size}>"

    def body(self, part: Part) -> memoryview:
        return self.view[part.offset:part.end]

    def checksum(self, algo: Algorithm, part: Part) -> int:
        return algo.update(self.view[part.offset:part.end], 0)

    def read_whole(self, part: Part) -> bool:
        return False  # its parts are slices of memory already

    def probe(self) -> None:
        pass

    def check_size(self) -> None:
        pass

    def close(self) -> None:
        pass


class StreamSource:
    """Chunks from an async iterator or a blocking readable, regrouped into parts."""

    size = None

    def __init__(self, source: Any) -> None:
        self._aiter: AsyncIterator[Any] | None = None
        self._thread: _ReaderThread | None = None
        if isinstance(source, AsyncIterable) or hasattr(source, "__aiter__"):
            self._aiter = source.__aiter__()
        elif hasattr(source, "readinto") or hasattr(source, "read"):
            self._thread = _ReaderThread(source)
        else:
            raise ConfigError(f"cannot upload from {type(source).__name__}: give a path, bytes, a file or an async iterator")
        self._pending = memoryview(b"")
        self._eof = False

    def __repr__(self) -> str:
        return f"<StreamSource eof={self._eof}>"

    async def fill(self, buf: bytearray) -> int:
        """Fill ``buf`` from the stream; fewer bytes only at the end."""
        view = memoryview(buf)
        n = 0
        while n < len(buf):
            if self._pending:
                k = min(len(self._pending), len(buf) - n)
                view[n:n + k] = self._pending[:k]
                self._pending = self._pending[k:]
                n += k
                continue
            if self._eof:
                break
            if self._aiter is not None:
                try:
                    chunk = await self._aiter.__anext__()
                except StopAsyncIteration:
                    self._eof = True
                    break
                if not isinstance(chunk, (bytes, bytearray, memoryview)):
                    raise ConfigError(f"upload stream yielded {type(chunk).__name__}, expected bytes")
                self._pending = memoryview(chunk).cast("B")
            else:
                assert self._thread is not None
                k = await self._thread.fill(view[n:])
                n += k
                if n < len(buf):
                    self._eof = True
        return n

    def close(self) -> None:
        if self._thread is not None:
            self._thread.close()


class _ReaderThread:
    """Fills buffers from a blocking reader (a pipe, a terminal, a socket file) on a daemon
    thread of its own.

    Not the loop's executor: an interrupted upload must end now, while stdin may stay
    idle and open for as long as its producer likes. A cancelled ``fill`` returns at
    once and the thread is left in its read; being a daemon, it holds neither
    ``asyncio.run`` (which joins the executor's threads) nor the process's exit.
    """

    def __init__(self, reader: Any) -> None:
        self._reader = reader
        self._jobs: queue.SimpleQueue[tuple[memoryview, asyncio.AbstractEventLoop, asyncio.Future[int]] | None] = (
            queue.SimpleQueue())
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        alive = self._thread is not None and self._thread.is_alive()
        return f"<_ReaderThread {'running' if alive else 'idle'}>"

    def fill(self, view: memoryview) -> asyncio.Future[int]:
        """Read until ``view`` is full or the reader ends; the byte count read."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="s3fast-stream-reader", daemon=True)
            self._thread.start()
        self._jobs.put((view, loop, fut))
        return fut

    def close(self) -> None:
        self._jobs.put(None)  # the thread ends after the read it may be blocked in

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            view, loop, fut = job
            try:
                n = 0
                while n < len(view):
                    k = _read_into(self._reader, view[n:])
                    if k == 0:
                        break
                    n += k
            except BaseException as exc:  # handed to the awaiting coroutine
                outcome: tuple[Any, ...] = (_set_exception, fut, exc)
            else:
                outcome = (_set_result, fut, n)
            del view
            try:
                loop.call_soon_threadsafe(*outcome)
            except RuntimeError:
                return  # the loop is closed: nobody waits any more


def _set_result(fut: asyncio.Future[int], n: int) -> None:
    if not fut.done():
        fut.set_result(n)


def _set_exception(fut: asyncio.Future[int], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)


def _read_into(reader: Any, view: memoryview) -> int:
    try:
        if hasattr(reader, "readinto"):
            return reader.readinto(view) or 0
        data = reader.read(len(view))
    except OSError as exc:
        raise LocalIOError(f"cannot read the upload source: {exc}") from exc
    view[:len(data)] = data
    return len(data)


#: the source protocol: ``size`` (None: a stream, read with ``fill``), ``body``, ``checksum``,
#: ``read_whole``, ``probe``, ``check_size``, ``may_change``, ``close``
Source = FileSource | BufferSource | StreamSource


def open_source(source: Any) -> Source:
    """Pick the strategy for ``source``; errors name the problem (missing file, not a file...)."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise LocalIOError(f"no such file: {path}") from None
        except IsADirectoryError:
            raise LocalIOError(f"is a directory, not a file: {path}") from None
        except PermissionError:
            raise LocalIOError(f"permission denied reading {path}") from None
        except OSError as exc:
            raise LocalIOError(f"cannot open {path}: {exc.strerror}") from None
        st = os.fstat(fd)
        import stat

        if stat.S_ISDIR(st.st_mode):
            os.close(fd)
            raise LocalIOError(f"is a directory, not a file: {path}")
        if not stat.S_ISREG(st.st_mode):
            return StreamSource(os.fdopen(fd, "rb", buffering=0))
        return FileSource(fd, 0, st.st_size, owned=True, name=path)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return BufferSource(source)
    if hasattr(source, "fileno") and hasattr(source, "seekable"):
        try:
            fd = source.fileno()
            if source.seekable():
                import stat

                st = os.fstat(fd)
                if stat.S_ISREG(st.st_mode):
                    pos = source.tell()
                    return FileSource(fd, pos, st.st_size - pos, owned=False, name=getattr(source, "name", "file"))
        except (OSError, io.UnsupportedOperation, ValueError):
            pass
    if isinstance(source, io.BytesIO):
        return BufferSource(source.getbuffer()[source.tell():])
    return StreamSource(source)
