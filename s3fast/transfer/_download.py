"""Downloads: HEAD, then ranges in parallel, each pinned to the first ETag with If-Match.

A broken range resumes from the last byte received (same ETag). Bytes land in place:
a file destination gets positional writes into a temporary file that is renamed
only when every byte arrived and the checksum matched; a buffer destination receives
straight into the caller's memory; a stream gets bytes in order with a bounded window.
"""
from __future__ import annotations

import asyncio
import contextlib
import errno
import io
import itertools
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Any

from .. import _checksum
from .._errors import ChecksumMismatch, LocalIOError, NetworkError, PreconditionFailed, TransferError
from .._results import ObjectHead, PartEvent, TransferResult
from .._impl import files_impl
from .._transport import TALLY, Request, Tally
from ..net._connection import Connection, ResponseHead
from ._meta import head_object, object_query, plan_download
from ._planner import Part, parse_content_range
from ._rename import swap_in
from ._special import open_in_place, written_in_place
from . import _composite
from ._hedge import Attempt, HedgePolicy, run_hedged
from ._tasks import run_bounded
from ._writer import FileBatcher, FileWriter

if TYPE_CHECKING:
    from ._context import TransferContext
    from ._buffers import MemoryBudget


class _Sink:
    """Where range bytes go. ``receive`` reads one range's body from a connection."""

    #: the bytes' destination in memory, when they land in memory
    view: memoryview | None = None

    def open(self, size: int, *, sparse: bool = True) -> None: ...
    def commit(self) -> None: ...
    def discard(self) -> None: ...


class FileSink(_Sink):
    """A path, written through an unnamed file that gets its name only when complete.

    Linux: ``O_TMPFILE`` in the destination's directory, linked to the path on success
    (``linkat`` through /proc/self/fd). Nothing exists under any name until every byte
    arrived and the checksum matched, and a crash or SIGKILL leaves nothing behind at
    all. It is also one directory operation instead of two: 89-98 against 114-134 µs per
    64 KiB file here (create + rename). Elsewhere, or where the filesystem has no
    O_TMPFILE: a hidden temporary sibling renamed on success.

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
                # Our own unique name (pid + counter) instead of tempfile.mkstemp, which
                # cost ~0.8 ms a file here.
                base = os.path.basename(self.path)
                self.tmp = os.path.join(directory, f".{base}.{os.getpid()}-{next(_tmp_ids)}.s3fast-partial")
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

    @property
    def busy(self) -> bool:
        """Writes handed to the writer thread and not done yet."""
        return self._pending > 0

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
        tmp = os.path.join(directory, f".{os.path.basename(self.path)}.{os.getpid()}-{next(_tmp_ids)}.s3fast-partial")
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

    def commit(self) -> None:
        """Name the file. Replacing a file, the old one is freed off the loop (``_rename``)."""
        old = -1
        try:
            if self.unnamed:
                try:
                    os.link(str(self.fd), self.path, src_dir_fd=_proc_fd())
                except FileExistsError:
                    # Replacing a file: name ours beside it, then swap it in (atomic).
                    directory = os.path.dirname(self.path)
                    self.tmp = os.path.join(directory, f".{os.path.basename(self.path)}."
                                                       f"{os.getpid()}-{next(_tmp_ids)}.s3fast-partial")
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
    file's pages in that close (~0.6 ms a MiB here), so a large one is closed on the loop's
    default executor instead of stalling every transfer on the loop."""
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
_tmp_ids = itertools.count()


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


_VIEW_SLICE = 1 << 20
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


class BufferSink(_Sink):
    """A writable buffer (bytearray is resized to the object's size)."""

    def __init__(self, buf: Any) -> None:
        self.buf = buf
        self.view: memoryview | None = None

    def open(self, size: int, *, sparse: bool = True) -> None:
        if isinstance(self.buf, bytearray) and len(self.buf) != size:
            # Re-initialise in place: one zero-filled allocation, no copy.
            self.buf.__init__(size)  # type: ignore[misc]
        view = memoryview(self.buf).cast("B")
        if view.readonly:
            raise LocalIOError("destination buffer is read-only")
        if view.nbytes < size:
            raise LocalIOError(f"destination buffer holds {view.nbytes} bytes, the object has {size}")
        self.view = view


class _RangeState:
    """Progress of one request stream for a range across attempts: a retry resumes at
    ``received``. Two racers of one range (hedging) share ``reported`` so progress is
    counted once."""

    __slots__ = ("received", "crc", "ip", "reported", "on_ip")

    def __init__(self, reported: list[int] | None = None) -> None:
        self.received = 0
        self.crc = 0
        self.ip: str | None = None
        self.reported = reported if reported is not None else [0]
        self.on_ip: Callable[[str], None] | None = None

    def set_ip(self, ip: str) -> None:
        self.ip = ip
        if self.on_ip is not None:
            self.on_ip(ip)


class _Download:
    def __init__(self, ctx: TransferContext, bucket: str, key: str, info: ObjectHead | None,
                 on_part: Callable[[PartEvent], None] | None, on_progress: Callable[[int], None] | None,
                 tally: Tally | None = None) -> None:
        self.ctx = ctx
        #: requests and retries counted for the result (a stream has none to report)
        self.tally = tally
        self.transport = ctx.transport
        self.bucket = bucket
        self.key = key
        self.on_part = on_part
        self.on_progress = on_progress
        self.algo: _checksum.Algorithm | None = None
        self.expected: str | None = None
        self.combiner: _checksum.Combiner | None = None
        #: (algorithm, "<checksum of part checksums>-N") when S3 stored a COMPOSITE one
        self.composite: tuple[_checksum.Algorithm, str] | None = None
        #: ranges' checksums for a COMPOSITE check when the bytes are not kept (streams)
        self.composite_pieces: _checksum.Combiner | None = None
        self.pin_version: str | None = None
        self.hedge: HedgePolicy | None = None
        self.first_end = 0
        if info is not None:
            self.set_info(info)

    def set_info(self, info: ObjectHead) -> None:
        self.info = info
        if self.ctx.config.validate_checksum and info.checksum:
            algo = _checksum.ALGORITHMS.get(info.checksum[0])
            if info.checksum[2] == "FULL_OBJECT":
                self.algo = algo
                self.expected = info.checksum[1]
            elif algo is not None:
                self.composite = (algo, info.checksum[1])
                self.composite_pieces = _checksum.Combiner(algo)
        self.combiner = _checksum.Combiner(self.algo) if self.algo else None

    def _request(self, part: Part, received: int) -> Request:
        headers = {"range": f"bytes={part.offset + received}-{part.end - 1}"}
        if self.info.etag:
            headers["if-match"] = self.info.etag
        # Only a version the caller asked for is pinned; If-Match pins the content anyway.
        return Request("GET", self.bucket, self.key, query=object_query(self.pin_version), headers=headers,
                       expect=(206, 200))

    def _check_range(self, head: ResponseHead, part: Part, received: int) -> None:
        start = part.offset + received
        cr = parse_content_range(head.headers.get("content-range"))
        if head.status == 206 and cr is not None:
            if cr[0] != start or cr[1] != part.end - 1 or cr[2] != self.info.size:
                raise NetworkError(
                    f"asked for bytes {start}-{part.end - 1}/{self.info.size}, got {head.headers.get('content-range')}",
                    kind="protocol",
                )
        elif head.status == 200 and start == 0 and part.size == self.info.size and head.content_length == part.size:
            pass  # a server that ignores Range for a whole-object range
        else:
            raise NetworkError(f"unexpected {head.status} answer to a ranged GET (Content-Range "
                               f"{head.headers.get('content-range')!r})", kind="protocol")

    def _progress(self, n: int) -> None:
        meter = self.ctx.meter
        if meter is not None:
            meter.add_bytes(n)
        if self.on_progress is not None:
            self.on_progress(n)

    def _part_done(self, part: Part, crc: int | None) -> None:
        if self.combiner is not None and crc is not None:
            self.combiner.add(part.offset, crc, part.size)
        if self.on_part is not None:
            self.on_part(PartEvent("download", self.bucket, self.key, part.number, part.offset, part.size,
                                   etag=self.info.etag))

    # -- reading one range's body -----------------------------------------------------------
    def _into_file(self, conn: Connection, part: Part, sink: FileSink, st: _RangeState) -> Awaitable[None]:
        if self.ctx.tuner.bucket is None and sink.writer is None:
            return self._into_file_direct(conn, part, sink, st)
        return self._into_file_chunks(conn, part, sink, st)

    async def _into_file_chunks(self, conn: Connection, part: Part, sink: FileSink, st: _RangeState) -> None:
        # Paced (max_gbps) or with a writer thread: chunk by chunk from this coroutine.
        pace = self.ctx.tuner.pace if self.ctx.tuner.bucket is not None else None
        algo = self.algo
        chunks = self.ctx.chunks
        while st.received < part.size:
            # A chunk is taken once the request holds a slot (chunk memory is bounded by
            # requests in flight), and handed to the writer thread once filled.
            buf = await chunks.get()
            try:
                view = memoryview(buf)
                want = min(len(buf), part.size - st.received)
                n = await conn.read_into(view[:want])
                if n < want:
                    raise NetworkError(f"range of s3://{self.bucket}/{self.key} ended early", kind="short-read")
                chunk = view[:n]
                if algo is not None:
                    st.crc = algo.update(chunk, st.crc)
            except BaseException:
                chunks.put(buf)
                raise
            sink.submit(chunk, part.offset + st.received, lambda buf=buf: chunks.put(buf))  # type: ignore[misc]
            st.received += n
            self._report(st)
            if pace is not None:
                await pace(n)

    async def _into_file_direct(self, conn: Connection, part: Part, sink: FileSink, st: _RangeState) -> None:
        # The connection writes each receive to the file from the loop's callback; this
        # coroutine wakes once per range. One chunk per range in flight is the whole
        # memory cost.
        chunks = self.ctx.chunks
        base = st.received
        splice = sink.splice and self.ctx.config.splice
        need = part.size - base
        # No receive buffer when the body is already in (small objects) or will be spliced.
        buf = None if conn.stashed >= need or conn.splices(need, splice) else await chunks.get()
        algo = self.algo

        def tick() -> None:
            self._report_to(st, base + conn.file_written)

        try:
            await conn.read_into_file(sink.fd, part.offset + base, part.size - base,
                                      memoryview(buf) if buf is not None else None,
                                      crc_fn=algo.update if algo is not None else None, crc=st.crc,
                                      on_progress=tick, splice=splice)
        finally:
            if conn.splice_refused:
                sink.splice = False
            st.received = base + conn.file_written
            if algo is not None:
                st.crc = conn.file_crc
            if buf is not None:
                chunks.put(buf)
            self._report(st)
        if st.received < part.size:
            raise NetworkError(f"range of s3://{self.bucket}/{self.key} ended early", kind="short-read")

    async def _into_view(self, conn: Connection, part: Part, view: memoryview, st: _RangeState) -> None:
        pace = self.ctx.tuner.pace if self.ctx.tuner.bucket is not None else None
        # Read in slices of at most 1 MiB so progress (and the tuner's meter) sees bytes as
        # they come, not in one burst per range.
        while st.received < part.size:
            n = await conn.read_into(view[st.received:min(part.size, st.received + _VIEW_SLICE)])
            if n == 0:
                raise NetworkError(f"range of s3://{self.bucket}/{self.key} ended early", kind="short-read")
            st.received += n
            self._report(st)
            if pace is not None:
                await pace(n)

    def _report(self, st: _RangeState) -> None:
        self._report_to(st, st.received)

    def _report_to(self, st: _RangeState, received: int) -> None:
        new = received - st.reported[0]
        if new > 0:
            st.reported[0] = received
            self._progress(new)

    def _read(self, conn: Connection, part: Part, sink: _Sink, st: _RangeState) -> Awaitable[None]:
        # A plain function handing back the reader's coroutine: one frame less per range.
        view = sink.view
        if view is None:
            assert isinstance(sink, FileSink)
            return self._into_file(conn, part, sink, st)
        return self._into_view(conn, part, view[part.offset:part.end], st)

    def _finish_range(self, part: Part, sink: _Sink, st: _RangeState) -> None:
        crc: int | None = None
        if self.algo is not None:
            if sink.view is not None:
                crc = self.algo.of(sink.view[part.offset:part.end])
            else:
                crc = st.crc
        self._part_done(part, crc)

    async def _fetch_once(self, part: Part, sink: _Sink, st: _RangeState, exclude: Collection[str],
                          on_retry: Callable[[BaseException], None] | None = None) -> None:
        async def consume(conn: Connection, head: ResponseHead) -> None:
            self._check_range(head, part, st.received)
            await self._read(conn, part, sink, st)

        def make(attempt: int) -> Request:
            req = self._request(part, st.received)
            req.on_ip = st.set_ip
            return req

        await self.transport.call(make, consume, exclude=exclude, on_retry=on_retry)

    async def fetch_range(self, part: Part, sink: _Sink) -> None:
        """One range, hedged when it straggles (see ``_hedge``)."""
        shared = [0]  # progress reported for this range, shared by racers

        async def start(exclude: tuple[str, ...], attempt: Attempt) -> _RangeState:
            st = _RangeState(shared)
            st.on_ip = attempt.on_ip
            await self._fetch_once(part, sink, st, exclude, attempt.on_retry)
            return st

        winner = await run_hedged(self.hedge, start, self.transport.stats)
        self._finish_range(part, sink, winner)

    async def range_to_view(self, part: Part, view: memoryview) -> None:
        st = _RangeState()

        async def consume(conn: Connection, head: ResponseHead) -> None:
            self._check_range(head, part, st.received)
            await self._into_view(conn, part, view, st)

        await self.transport.call(lambda attempt: self._request(part, st.received), consume)
        crc = self.algo.of(view[:part.size]) if self.algo else None
        if self.composite_pieces is not None:
            self.composite_pieces.add(part.offset, self.composite_pieces.algo.of(view[:part.size]), part.size)
        self._part_done(part, crc)

    def verify(self) -> bool:
        if self.combiner is None or self.algo is None or self.expected is None:
            return False
        actual = self.algo.encode(self.combiner.result(self.info.size))
        if actual != self.expected:
            raise ChecksumMismatch(
                f"s3://{self.bucket}/{self.key}: received bytes have {self.algo.name}={actual}, "
                f"S3 stored {self.expected}; the download was discarded",
                algorithm=self.algo.name, expected=self.expected, actual=actual,
            )
        return True

    async def verify_composite(self, sink: _Sink | None) -> bool:
        """Check the landed bytes (``sink``), or the ranges' checksums (a stream: None),
        against a COMPOSITE checksum (see ``_composite``)."""
        if self.composite is None:
            return False
        algo, value = self.composite
        if sink is None:
            pieces = self.composite_pieces
            assert pieces is not None

            def range_crc(offset: int, size: int) -> int:
                crc = pieces.span(offset, size)
                if crc is None:
                    raise _composite.Unaligned(f"no ranges tile bytes {offset}-{offset + size - 1}")
                return crc
        elif sink.view is not None:
            view = sink.view

            def range_crc(offset: int, size: int) -> int:
                return algo.of(view[offset:offset + size])
        else:
            assert isinstance(sink, FileSink)
            fd = sink.fd

            def range_crc(offset: int, size: int) -> int:
                return _checksum.file_range_crc(algo, fd, offset, size)
        return await _composite.verify(self.ctx, self.info, algo, value, range_crc)

    def result(self, t0: float, parts: int, verified: bool) -> TransferResult:
        if self.algo and self.expected:
            checksum: tuple[str, str] | None = (self.algo.name, self.expected)
        elif self.composite is not None:
            checksum = (self.composite[0].name, self.composite[1])
        else:
            checksum = None
        return TransferResult(
            operation="download", bucket=self.bucket, key=self.key, bytes=self.info.size,
            seconds=time.monotonic() - t0, parts=parts, etag=self.info.etag,
            checksum=checksum,
            checksum_verified=verified, multipart=parts > 1, version_id=self.info.version_id,
            requests=self.tally.requests if self.tally is not None else 0,
            retries=self.tally.retries if self.tally is not None else 0,
        )


def _changed(exc: PreconditionFailed, bucket: str, key: str) -> PreconditionFailed:
    exc.args = (f"s3://{bucket}/{key} changed during the download (ETag no longer matches); "
                "nothing was written",)
    return exc


async def download(ctx: TransferContext, bucket: str, key: str, dest: Any, *, version_id: str | None = None,
                   on_part: Callable[[PartEvent], None] | None = None,
                   on_progress: Callable[[int], None] | None = None) -> TransferResult:
    tally = Tally()
    token = TALLY.set(tally)  # every request of this download counts in its result
    try:
        t0 = time.monotonic()
        sink: _Sink
        if isinstance(dest, (bytearray, memoryview)):
            sink = BufferSink(dest)
        elif isinstance(dest, (str, os.PathLike)):
            path = os.fspath(dest)
            if written_in_place(path):
                return await _download_to_special(ctx, bucket, key, path, version_id, on_part, on_progress,
                                                  tally, t0)
            sink = FileSink(path, ctx.writer if ctx.config.write_thread else None,
                            ctx.batcher, ctx.memory)
        elif hasattr(dest, "write"):
            return await _download_to_writer(ctx, bucket, key, dest, version_id, on_part, on_progress, tally, t0)
        else:
            sink = BufferSink(dest)
        job = _Download(ctx, bucket, key, None, on_part, on_progress, tally)
        job.pin_version = version_id
        # The first GET runs in this coroutine: a small object is one request, with no task, event
        # or wait set up around it (that choreography was ~8% of the CPU per 64 KiB object). For a
        # large object the other ranges start in a task as soon as the first answer's headers give
        # the size, while its body is still arriving.
        rest = _Rest(ctx, job, sink)
        try:
            await _first_get(ctx, job, sink, version_id, rest.start)
            if rest.task is not None:
                await rest.task
            if isinstance(sink, FileSink):
                # Every byte in the file before it is checksummed or named.
                if sink.busy:
                    await sink.flush()
                sink.check()
            verified = job.verify() or (job.composite is not None and await job.verify_composite(sink))
            if isinstance(sink, FileSink) and sink.held is not None:
                await sink.land()
            else:
                sink.commit()
        except PreconditionFailed as exc:
            await rest.settle()
            sink.discard()
            raise _changed(exc, bucket, key) from None
        except BaseException:
            await rest.settle()
            sink.discard()
            raise
        return job.result(t0, 1 + rest.count, verified)
    finally:
        TALLY.reset(token)


class _Rest:
    """The ranges after the first GET's: started from the first answer's headers, awaited
    after its body. A range that fails surfaces once the first range is done (at most
    ``part_size`` bytes, under the same timeouts); the other ranges stop at once."""

    __slots__ = ("ctx", "job", "sink", "task", "count")

    def __init__(self, ctx: TransferContext, job: _Download, sink: _Sink) -> None:
        self.ctx = ctx
        self.job = job
        self.sink = sink
        self.task: asyncio.Task[None] | None = None
        self.count = 0

    def start(self) -> None:
        job = self.job
        if job.first_end < job.info.size:
            self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        ctx, job = self.ctx, self.job
        rest = _after(await plan_download(ctx.transport, job.info, ctx.config.part_size), job.first_end)
        self.count = len(rest)
        job.hedge = HedgePolicy(ctx.config.hedge, len(rest))
        await run_bounded(rest, lambda p: job.fetch_range(p, self.sink), ctx.task_window)

    async def settle(self) -> None:
        """Stop the ranges (the download is failing) and let the writer thread finish with
        the file before it is closed."""
        sink = self.sink
        task = self.task
        if task is not None:
            if not task.done():
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if isinstance(sink, FileSink):
            try:
                await sink.flush()  # the writer thread must be done with the fd before it closes
            except LocalIOError:
                pass


async def _first_get(ctx: TransferContext, job: _Download, sink: _Sink, version_id: str | None,
                     sized: Callable[[], None]) -> Part:
    """One plain GET (no HEAD first): its headers give size, ETag and checksum, and its body
    the first range. A small object is done in this one request; for a large one the first
    ``part_size`` bytes are kept and the connection is dropped (the rest comes in ranges)."""
    cfg = ctx.config
    st = _RangeState()
    first: list[Part] = []
    base_headers = {"x-amz-checksum-mode": "ENABLED"} if cfg.validate_checksum else {}
    query = object_query(version_id)

    def make(attempt: int) -> Request:
        if not first:
            return Request("GET", job.bucket, job.key, query=query, headers=dict(base_headers), expect=(200,))
        return job._request(first[0], st.received)

    async def consume(conn: Connection, head: ResponseHead) -> None:
        if not first:
            info = _info_from(head, job.bucket, job.key, version_id)
            job.set_info(info)
            single = info.size <= cfg.multipart_threshold
            if single and isinstance(sink, FileSink):
                sink.writer = None  # one request: writing inline beats a thread hand-off
                # A body already here whole (up to ~128 KiB) is named on the batcher's
                # thread. Larger ones are not: held 1 MiB TLS bodies measured no faster
                # (468-625 against 514-542 objects/s), the decryption being the cost.
                sink.open(info.size, sparse=False, hold=conn.stashed >= info.size)
            else:
                sink.open(info.size, sparse=not single)
            size = info.size if info.size <= cfg.multipart_threshold else min(cfg.part_size, info.size)
            first.append(Part(1, 0, size))
            job.first_end = size
            sized()
        else:
            job._check_range(head, first[0], st.received)
        await job._read(conn, first[0], sink, st)

    await ctx.transport.call(make, consume)
    job._finish_range(first[0], sink, st)
    return first[0]


def _info_from(head: ResponseHead, bucket: str, key: str, version_id: str | None) -> ObjectHead:
    if head.content_length < 0 or head.chunked:
        raise NetworkError(f"GET s3://{bucket}/{key} answered without a Content-Length", kind="protocol")
    return ObjectHead.from_headers(bucket, key, head.content_length, head.headers, version_id=version_id)


def _after(parts: tuple[Part, ...], start: int) -> tuple[Part, ...]:
    """The ranges past ``start`` (a range straddling it is trimmed), renumbered from 2."""
    out: list[Part] = []
    for p in parts:
        if p.end <= start:
            continue
        off = max(p.offset, start)
        out.append(Part(len(out) + 2, off, p.end - off))
    return tuple(out)


async def _download_to_writer(ctx: TransferContext, bucket: str, key: str, dest: Any, version_id: str | None,
                              on_part: Callable[[PartEvent], None] | None,
                              on_progress: Callable[[int], None] | None, tally: Tally, t0: float) -> TransferResult:
    """Into anything with ``write``: the ranges are fetched ahead and written in order."""
    info = await head_object(ctx.transport, bucket, key, version_id=version_id,
                             checksum_mode=ctx.config.validate_checksum)
    job = _Download(ctx, bucket, key, info, on_part, on_progress, tally)
    job.pin_version = version_id
    parts = await plan_download(ctx.transport, info, ctx.config.part_size)
    # io's own writers copy or write out what they are given before returning: the buffers
    # can be reused. Anything else might keep what it was given.
    reuse = type(dest) in _COPYING_WRITERS
    async with contextlib.aclosing(_ordered(ctx, job, parts, copy=False, reuse=reuse)) as views:
        async for view in views:
            try:
                while view:
                    n = dest.write(view)
                    if n is None or n >= len(view):  # buffered writers take it all (and some say None)
                        break
                    view = view[n:]  # a raw file may take part of it
            except OSError as exc:
                raise LocalIOError(f"cannot write to the destination: {exc}") from None
    verified = job.verify() or await job.verify_composite(None)
    return job.result(t0, len(parts), verified)


_COPYING_WRITERS = (io.FileIO, io.BufferedWriter, io.BufferedRandom, io.BytesIO)


async def _download_to_special(ctx: TransferContext, bucket: str, key: str, path: str | bytes, version_id: str | None,
                               on_part: Callable[[PartEvent], None] | None,
                               on_progress: Callable[[int], None] | None, tally: Tally, t0: float) -> TransferResult:
    fd = await open_in_place(path)
    with open(fd, "wb", buffering=0, closefd=True) as out:
        return await _download_to_writer(ctx, bucket, key, out, version_id, on_part, on_progress, tally, t0)


async def stream(ctx: TransferContext, bucket: str, key: str, *, version_id: str | None = None) -> AsyncIterator[bytes]:
    """The object's bytes in order; at most ``memory_limit`` held (ranges in flight + waiting)."""
    info = await head_object(ctx.transport, bucket, key, version_id=version_id,
                             checksum_mode=ctx.config.validate_checksum)
    job = _Download(ctx, bucket, key, info, None, None)
    job.pin_version = version_id
    parts = await plan_download(ctx.transport, info, ctx.config.part_size)
    async with contextlib.aclosing(_ordered(ctx, job, parts, copy=True)) as chunks:
        async for chunk in chunks:
            yield chunk
    job.verify() or await job.verify_composite(None)


async def _ordered(ctx: TransferContext, job: _Download, parts: tuple[Part, ...], *, copy: bool,
                   reuse: bool = False) -> AsyncIterator[Any]:
    """Fetch ranges ahead in parallel, yield them in order; a bounded window of buffers.

    ``copy``: yield bytes the caller may keep; otherwise a memoryview of the range's
    buffer, valid until the next step (``_download_to_writer`` writes it out). A buffer is
    used again for a later range once its bytes were handed on: copied (``copy``), or
    written by a consumer that keeps nothing (``reuse``). Fresh buffers cost their page
    faults again, most of the CPU of 2 GiB to /dev/null here. The budget pays for every
    buffer until the end.
    """
    budget = ctx.memory
    size = max((p.size for p in parts), default=0)
    window: list[tuple[Part, asyncio.Task[None], bytearray]] = []
    spare: list[bytearray] = []
    held = 0  # budget paid for buffers: in the window, handed out, or spare
    it = iter(parts)
    # Ranges fetched ahead: bounded by the memory limit (each holds a range buffer).
    ahead = max(1, min(budget.limit // max(ctx.config.part_size, 1), 64))
    exhausted = False

    async def fetch(part: Part, buf: bytearray) -> None:
        await job.range_to_view(part, memoryview(buf)[:part.size])

    async def fill() -> None:
        nonlocal exhausted, held
        while not exhausted and len(window) < ahead:
            part = next(it, None)
            if part is None:
                exhausted = True
                return
            if spare:
                buf = spare.pop()
            else:
                await budget.acquire(size)
                held += size
                buf = bytearray(size)
            window.append((part, asyncio.create_task(fetch(part, buf)), buf))

    try:
        await fill()
        while window:
            part, task, buf = window[0]
            try:
                await task
            except PreconditionFailed as exc:
                raise _changed(exc, job.bucket, job.key) from None
            window.pop(0)
            view = memoryview(buf)[:part.size]
            if copy:
                data = bytes(view)
                spare.append(buf)
                yield data
            else:
                try:
                    yield view
                finally:
                    if reuse:
                        spare.append(buf)
                    else:  # the consumer may keep it: never written again, paid for no longer
                        budget.release(size)
                        held -= size
            del buf, view
            await fill()
    finally:
        for part, task, _ in window:
            task.cancel()
        if window:
            await asyncio.gather(*(t for _, t, _ in window), return_exceptions=True)
        window.clear()
        spare.clear()
        budget.release(held)


__all__ = ["download", "stream", "TransferError"]
