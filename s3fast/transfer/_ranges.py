"""Reading ranges of one object: requests pinned to the first answer's ETag, bodies
received into a sink (a file by positional writes or splice, memory in place), a broken
range resumed from its last byte, a straggler hedged.

A file download's body is written by the connection from the loop's callback (one
wake-up per range), or chunk by chunk from the coroutine when paced or handed to a
writer thread. Memory is read in slices so progress and the tuner see bytes as they come.
"""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING

from .. import _checksum
from .._errors import NetworkError, PreconditionFailed
from .._results import ObjectHead, PartEvent, TransferResult
from .._transport import Request, Tally
from ..net._connection import Connection, ResponseHead
from ._hedge import Attempt, HedgePolicy, run_hedged
from ._meta import CHECKSUM_MODE, object_query
from ._planner import Part, parse_content_range
from ._sinks import Sink
from ._verify import DownloadCheck

if TYPE_CHECKING:
    from ._context import TransferContext
    from ._localfs import FileSink

#: a range in memory is read in slices of at most this many bytes (progress granularity)
_VIEW_SLICE = 1 << 20


class RangeState:
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


class DownloadJob:
    """One download's ranges: requests pinned to the first ETag, bodies read into the
    sink, progress, part events and the checksums gathered for the final check."""


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
        #: the final check, and aliases of its parts read per range
        self.check: DownloadCheck | None = None
        self.algo: _checksum.Algorithm | None = None
        self.combiner: _checksum.Combiner | None = None
        self.pieces: _checksum.Combiner | None = None
        self.pin_version: str | None = None
        self.hedge: HedgePolicy | None = None
        self.first_end = 0
        if info is not None:
            self.set_info(info)

    def set_info(self, info: ObjectHead) -> None:
        self.info = info
        check = self.check = DownloadCheck(info, self.ctx.config.validate_checksum)
        self.algo = check.algo
        self.combiner = check.combiner
        self.pieces = check.pieces

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
            # The range's checksum as received (a resume journal records it; None when
            # nothing was checksummed)
            algo = self.algo
            self.on_part(PartEvent("download", self.bucket, self.key, part.number, part.offset, part.size,
                                   etag=self.info.etag,
                                   checksum=algo.encode(crc) if algo is not None and crc is not None else None))

    # -- reading one range's body -----------------------------------------------------------
    def _into_file(self, conn: Connection, part: Part, sink: FileSink, st: RangeState) -> Awaitable[None]:
        if self.ctx.tuner.bucket is None and sink.writer is None:
            return self._into_file_direct(conn, part, sink, st)
        return self._into_file_chunks(conn, part, sink, st)

    async def _into_file_chunks(self, conn: Connection, part: Part, sink: FileSink, st: RangeState) -> None:
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

    async def _into_file_direct(self, conn: Connection, part: Part, sink: FileSink, st: RangeState) -> None:
        # The connection writes each receive to the file from the loop's callback; this
        # coroutine wakes once per range. One chunk per range in flight is the whole
        # memory cost.
        chunks = self.ctx.chunks
        base = st.received
        splice = sink.splice and self.ctx.config.expert.splice
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

    async def _into_view(self, conn: Connection, part: Part, view: memoryview, st: RangeState) -> None:
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

    def _report(self, st: RangeState) -> None:
        self._report_to(st, st.received)

    def _report_to(self, st: RangeState, received: int) -> None:
        new = received - st.reported[0]
        if new > 0:
            st.reported[0] = received
            self._progress(new)

    def _read(self, conn: Connection, part: Part, sink: Sink, st: RangeState) -> Awaitable[None]:
        # A plain function handing back the reader's coroutine: one frame less per range.
        view = sink.view
        if view is None:
            return self._into_file(conn, part, sink, st)  # type: ignore[arg-type]  # a FileSink
        return self._into_view(conn, part, view[part.offset:part.end], st)

    def _finish_range(self, part: Part, sink: Sink, st: RangeState) -> None:
        crc: int | None = None
        if self.algo is not None:
            if sink.view is not None:
                crc = self.algo.of(sink.view[part.offset:part.end])
            else:
                crc = st.crc
        self._part_done(part, crc)

    async def _fetch_once(self, part: Part, sink: Sink, st: RangeState, exclude: Collection[str],
                          on_retry: Callable[[BaseException], None] | None = None) -> None:
        async def consume(conn: Connection, head: ResponseHead) -> None:
            self._check_range(head, part, st.received)
            await self._read(conn, part, sink, st)

        def make(attempt: int) -> Request:
            req = self._request(part, st.received)
            req.on_ip = st.set_ip
            return req

        await self.transport.call(make, consume, exclude=exclude, on_retry=on_retry)

    async def fetch_range(self, part: Part, sink: Sink) -> None:
        """One range, hedged when it straggles, moved off an IP demoted as slow (see ``_hedge``)."""
        shared = [0]  # progress reported for this range, shared by racers
        states: dict[Attempt, RangeState] = {}

        async def start(exclude: tuple[str, ...], attempt: Attempt) -> RangeState:
            st = states[attempt] = RangeState(shared)
            st.on_ip = attempt.on_ip
            await self._fetch_once(part, sink, st, exclude, attempt.on_retry)
            return st

        async def resume(moved: Attempt, exclude: tuple[str, ...], attempt: Attempt) -> RangeState:
            # The moved request was cancelled: what it received is in the sink, counted in
            # its state (bytes and checksum so far), and the new request asks for the rest.
            st = states[attempt] = states.pop(moved)
            st.on_ip = attempt.on_ip
            await self._fetch_once(part, sink, st, exclude, attempt.on_retry)
            return st

        winner = await run_hedged(self.hedge, start, self.transport.stats, resume)
        self._finish_range(part, sink, winner)

    async def range_to_view(self, part: Part, view: memoryview) -> None:
        st = RangeState()

        async def consume(conn: Connection, head: ResponseHead) -> None:
            self._check_range(head, part, st.received)
            await self._into_view(conn, part, view, st)

        await self.transport.call(lambda attempt: self._request(part, st.received), consume)
        crc = self.algo.of(view[:part.size]) if self.algo else None
        pieces = self.pieces
        if pieces is not None:
            pieces.add(part.offset, pieces.algo.of(view[:part.size]), part.size)
        self._part_done(part, crc)

    def result(self, t0: float, parts: int, verified: bool) -> TransferResult:
        assert self.check is not None
        return TransferResult(
            operation="download", bucket=self.bucket, key=self.key, bytes=self.info.size,
            seconds=time.monotonic() - t0, parts=parts, etag=self.info.etag,
            checksum=self.check.checksum,
            checksum_verified=verified, multipart=parts > 1, version_id=self.info.version_id,
            requests=self.tally.requests if self.tally is not None else 0,
            retries=self.tally.retries if self.tally is not None else 0,
        )


async def first_get(ctx: TransferContext, job: DownloadJob, sink: Sink, version_id: str | None,
                     sized: Callable[[], None]) -> Part:
    """One plain GET (no HEAD first): its headers give size, ETag and checksum, and its body
    the first range. A small object is done in this one request; for a large one the first
    ``part_size`` bytes are kept and the connection is dropped (the rest comes in ranges)."""
    cfg = ctx.config
    st = RangeState()
    first: list[Part] = []
    base_headers = CHECKSUM_MODE if cfg.validate_checksum else {}
    query = object_query(version_id)

    def make(attempt: int) -> Request:
        if not first:
            return Request("GET", job.bucket, job.key, query=query, headers=dict(base_headers), expect=(200,))
        return job._request(first[0], st.received)

    async def consume(conn: Connection, head: ResponseHead) -> None:
        if not first:
            info = info_from(head, job.bucket, job.key, version_id)
            job.set_info(info)
            single = info.size <= cfg.multipart_threshold
            if single:
                sink.open_single(info.size, whole=conn.stashed >= info.size)
            else:
                sink.open(info.size, sparse=True)
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


def info_from(head: ResponseHead, bucket: str, key: str, version_id: str | None) -> ObjectHead:
    if head.content_length < 0 or head.chunked:
        raise NetworkError(f"GET s3://{bucket}/{key} answered without a Content-Length", kind="protocol")
    return ObjectHead.from_headers(bucket, key, head.content_length, head.headers, version_id=version_id)


def after(parts: tuple[Part, ...], start: int) -> tuple[Part, ...]:
    """The ranges past ``start`` (a range straddling it is trimmed), renumbered from 2."""
    out: list[Part] = []
    for p in parts:
        if p.end <= start:
            continue
        off = max(p.offset, start)
        out.append(Part(len(out) + 2, off, p.end - off))
    return tuple(out)




def object_changed(exc: PreconditionFailed, bucket: str, key: str) -> PreconditionFailed:
    """A 412 on a range: the object was replaced since the first answer."""
    exc.args = (f"s3://{bucket}/{key} changed during the download (ETag no longer matches); "
                "nothing was written",)
    return exc
