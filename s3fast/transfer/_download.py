"""Downloads: one GET first, then the other ranges in parallel, each pinned to the first
answer's ETag with If-Match.

The first GET needs no HEAD before it: its headers give size, ETag and checksum, and its
body the first range (a small object is done in this one request). Bytes land in place:
a file destination gets positional writes into a file named only when every byte arrived
and the checksum matched (``_localfs``); a buffer receives straight into the caller's
memory; file objects, devices and streams get bytes in order (``_ordered``).
"""
from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._errors import PreconditionFailed
from .._results import PartEvent, TransferResult
from .._transport import TALLY, Tally
from ._hedge import HedgePolicy
from ._localfs import FileSink, proc_fd
from ._meta import plan_download
from ._ordered import InOrderSink, download_in_order, stream
from ._planner import Part
from ._ranges import DownloadJob, after, first_get, object_changed
from ._sinks import BufferSink, Sink
from ._special import written_in_place
from ._tasks import run_bounded

if TYPE_CHECKING:
    from ._context import TransferContext


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
        rest = _Rest(ctx, job, sink)
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


class _Rest:
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


# proc_fd: named here too for code that imported it from this module before the split
__all__ = ["download", "open_sink", "proc_fd", "stream"]
