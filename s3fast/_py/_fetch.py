# cython: annotation_typing=False
"""A download's request pipeline up to its first answer: the destination's sink, the first
GET (``first_get``: its headers give size, ETag and checksum, its body the first range) in
the caller's coroutine, and the ranges after it (``Rest``) started from those headers.

A small object is one request, so for thousands of them this is, with the transport's
``_call``, the Python the loop thread runs per object (``benchmarks/probes/README.md``,
"Per-request scheduling"). This one source is both cores: run as is, it is the pure twin
(``s3fast._py._fetch``); compiled by Cython (``setup.py`` ``COMPILED_TWINS``) it is
``s3fast._native._fetch``. ``s3fast.transfer._download`` re-exports what it defines.
"""
from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._errors import PreconditionFailed
from .._request import TALLY, Request, Tally
from ..transfer._hedge import HedgePolicy
from ..transfer._localfs import FileSink
from ..transfer._meta import CHECKSUM_MODE, object_query, plan_download
from ..transfer._ordered import InOrderSink, download_in_order
from ..transfer._planner import Part
from ..transfer._ranges import DownloadJob, RangeState, after, info_from, object_changed
from ..transfer._sinks import BufferSink, Sink
from ..transfer._special import written_in_place
from ..transfer._tasks import run_bounded

if TYPE_CHECKING:
    from .._results import PartEvent, TransferResult
    from ..net._connection import Connection, ResponseHead
    from ..transfer._context import TransferContext

__all__ = ["Rest", "download", "first_get", "open_sink"]


def open_sink(ctx: TransferContext, dest: Any) -> Sink:
    """The strategy for ``dest``: a buffer, a path (in place when it is a device, a FIFO or
    a named descriptor), a file object."""
    if isinstance(dest, (bytearray, memoryview)):
        return BufferSink(dest)
    if isinstance(dest, (str, os.PathLike)):
        path = os.fspath(dest)
        if written_in_place(path):
            return InOrderSink(path=path)
        return FileSink(path, ctx.writer if ctx.config.expert.write_thread else None, ctx.batcher, ctx.memory)
    if hasattr(dest, "write"):
        return InOrderSink(dest)
    return BufferSink(dest)


async def download(ctx: TransferContext, bucket: str, key: str, dest: Any, *, version_id: str | None = None,
                   on_part: Callable[[PartEvent], None] | None = None,
                   on_progress: Callable[[int], None] | None = None) -> TransferResult:
    tally = Tally()
    token = TALLY.set(tally)  # every request of this download counts in its result
    try:
        t0 = time.monotonic()
        sink = open_sink(ctx, dest)
        if sink.in_order:
            return await download_in_order(ctx, sink, bucket, key, version_id, on_part,  # type: ignore[arg-type]
                                           on_progress, tally, t0)
        job = DownloadJob(ctx, bucket, key, None, on_part, on_progress, tally)
        job.pin_version = version_id
        # The first GET runs in this coroutine: a small object is one request, with no task, event
        # or wait set up around it (a measurable share of the CPU per small object). For a
        # large object the other ranges start in a task as soon as the first answer's headers give
        # the size, while its body is still arriving.
        rest = Rest(ctx, job, sink)
        try:
            await first_get(ctx, job, sink, version_id, rest.start)
            if rest.task is not None:
                await rest.task
            pending = sink.finish()
            if pending is not None:
                await pending
            check = job.check
            assert check is not None
            verified = check.verify() or (check.composite is not None
                                          and await check.verify_composite(ctx, sink.range_crc))
            pending = sink.commit()
            if pending is not None:
                await pending
        except PreconditionFailed as exc:
            await rest.settle()
            sink.discard()
            raise object_changed(exc, bucket, key) from None
        except BaseException:
            await rest.settle()
            sink.discard()
            raise
        return job.result(t0, 1 + rest.count, verified)
    finally:
        TALLY.reset(token)


class Rest:
    """The ranges after the first GET's: started from the first answer's headers, awaited
    after its body. A range that fails surfaces once the first range is done (at most
    ``part_size`` bytes, under the same timeouts); the other ranges stop at once."""

    __slots__ = ("ctx", "job", "sink", "task", "count", "select")

    def __init__(self, ctx: TransferContext, job: DownloadJob, sink: Sink,
                 select: Callable[[tuple[Part, ...]], tuple[Part, ...]] | None = None) -> None:
        self.ctx = ctx
        self.job = job
        self.sink = sink
        self.task: asyncio.Task[None] | None = None
        self.count = 0
        #: the planned ranges -> the ones to fetch (default: those past the first GET's)
        self.select = select

    def start(self) -> None:
        job = self.job
        if job.first_end < job.info.size:
            self.task = asyncio.ensure_future(self.run())

    async def run(self) -> None:
        ctx, job = self.ctx, self.job
        planned = await plan_download(ctx.transport, job.info, ctx.config.part_size)
        rest = after(planned, job.first_end) if self.select is None else self.select(planned)
        self.count = len(rest)
        job.hedge = HedgePolicy(ctx.config.expert.hedge, len(rest), ctx.transport.ip_is_slow)
        await run_bounded(rest, lambda p: job.fetch_range(p, self.sink), ctx.task_window)

    async def settle(self) -> None:
        """Stop the ranges (the download is failing) and let the writer thread finish with
        the file before it is closed."""
        task = self.task
        if task is not None:
            if not task.done():
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self.sink.settle()


async def first_get(ctx: TransferContext, job: DownloadJob, sink: Sink, version_id: str | None,
                    sized: Callable[[], None]) -> Part:
    """One plain GET (no HEAD first): its headers give size, ETag and checksum, and its body
    the first range. A small object is done in this one request; for a large one the first
    ``part_size`` bytes are kept and the connection is dropped (the rest comes in ranges)."""
    first = _First(ctx, job, sink, version_id, sized)
    await ctx.transport.call(first.make, first.consume)
    part = first.part
    assert part is not None
    job._finish_range(part, sink, first.st)
    return part


class _First:
    """The first GET's request (a function of the attempt) and body reader, as bound methods.

    Not closures: compiled, a coroutine's locals live in one scope object, and a closure
    defined in it holds that scope while the scope holds the closure, a reference cycle per
    object for the garbage collector (17 objects a download, measured with ``gc.collect``).
    """

    __slots__ = ("ctx", "job", "sink", "version_id", "sized", "st", "part", "query", "headers")

    def __init__(self, ctx: TransferContext, job: DownloadJob, sink: Sink, version_id: str | None,
                 sized: Callable[[], None]) -> None:
        self.ctx = ctx
        self.job = job
        self.sink = sink
        self.version_id = version_id
        self.sized = sized
        self.st = RangeState()
        #: the first range, known from the first answer's headers
        self.part: Part | None = None
        self.query = object_query(version_id)
        self.headers = CHECKSUM_MODE if ctx.config.validate_checksum else {}

    def make(self, attempt: int) -> Request:
        job = self.job
        if self.part is None:
            return Request("GET", job.bucket, job.key, query=self.query, headers=dict(self.headers), expect=(200,))
        return job._request(self.part, self.st.received)

    async def consume(self, conn: Connection, head: ResponseHead) -> None:
        job = self.job
        sink = self.sink
        part = self.part
        if part is None:
            cfg = self.ctx.config
            info = info_from(head, job.bucket, job.key, self.version_id)
            job.set_info(info)
            single = info.size <= cfg.multipart_threshold
            if single:
                sink.open_single(info.size, whole=conn.stashed >= info.size)
            else:
                sink.open(info.size, sparse=True)
            size = info.size if single else min(cfg.part_size, info.size)
            part = self.part = Part(1, 0, size)
            job.first_end = size
            self.sized()
        else:
            job._check_range(head, part, self.st.received)
        await job._read(conn, part, sink, self.st)
