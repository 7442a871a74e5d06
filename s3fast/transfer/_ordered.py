"""Bytes in order from ranges fetched ahead: ``stream()``, file objects, devices, FIFOs and
named descriptors (stdout). A bounded window of range buffers, paid for in the memory
budget; the ranges' checksums are combined for the final check, as the bytes are gone.
"""
from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from .._errors import LocalIOError, PreconditionFailed
from .._results import PartEvent, TransferResult
from .._transport import Tally
from ._meta import head_object, plan_download
from ._planner import Part
from ._ranges import DownloadJob, object_changed
from ._sinks import Sink
from ._special import open_in_place

if TYPE_CHECKING:
    from ._context import TransferContext


async def _download_to_writer(ctx: TransferContext, bucket: str, key: str, dest: Any, version_id: str | None,
                              on_part: Callable[[PartEvent], None] | None,
                              on_progress: Callable[[int], None] | None, tally: Tally, t0: float) -> TransferResult:
    """Into anything with ``write``: the ranges are fetched ahead and written in order."""
    info = await head_object(ctx.transport, bucket, key, version_id=version_id,
                             checksum_mode=ctx.config.validate_checksum)
    job = DownloadJob(ctx, bucket, key, info, on_part, on_progress, tally)
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
    assert job.check is not None
    verified = job.check.verify() or await job.check.verify_composite(ctx, None)
    return job.result(t0, len(parts), verified)


_COPYING_WRITERS = (io.FileIO, io.BufferedWriter, io.BufferedRandom, io.BytesIO)


class InOrderSink(Sink):
    """A file object (``dest``), or a path written in place (``path``: a device, a FIFO,
    a named descriptor; see ``_special``): the bytes are written once, in order."""

    in_order = True

    def __init__(self, dest: Any = None, path: str | bytes | None = None) -> None:
        self.dest = dest
        self.path = path

    def __repr__(self) -> str:
        return f"<InOrderSink {self.path!r}>" if self.path is not None else f"<InOrderSink {type(self.dest).__name__}>"


async def download_in_order(ctx: TransferContext, sink: InOrderSink, bucket: str, key: str, version_id: str | None,
                            on_part: Callable[[PartEvent], None] | None,
                            on_progress: Callable[[int], None] | None, tally: Tally, t0: float) -> TransferResult:
    if sink.path is None:
        return await _download_to_writer(ctx, bucket, key, sink.dest, version_id, on_part, on_progress, tally, t0)
    fd = await open_in_place(sink.path)
    with open(fd, "wb", buffering=0, closefd=True) as out:
        return await _download_to_writer(ctx, bucket, key, out, version_id, on_part, on_progress, tally, t0)


async def stream(ctx: TransferContext, bucket: str, key: str, *, version_id: str | None = None) -> AsyncIterator[bytes]:
    """The object's bytes in order; at most ``memory_limit`` held (ranges in flight + waiting)."""
    info = await head_object(ctx.transport, bucket, key, version_id=version_id,
                             checksum_mode=ctx.config.validate_checksum)
    job = DownloadJob(ctx, bucket, key, info, None, None)
    job.pin_version = version_id
    parts = await plan_download(ctx.transport, info, ctx.config.part_size)
    async with contextlib.aclosing(_ordered(ctx, job, parts, copy=True)) as chunks:
        async for chunk in chunks:
            yield chunk
    assert job.check is not None
    job.check.verify() or await job.check.verify_composite(ctx, None)


async def _ordered(ctx: TransferContext, job: DownloadJob, parts: tuple[Part, ...], *, copy: bool,
                   reuse: bool = False) -> AsyncGenerator[Any, None]:
    """Fetch ranges ahead in parallel, yield them in order; a bounded window of buffers.

    ``copy``: yield bytes the caller may keep; otherwise a memoryview of the range's
    buffer, valid until the next step (``_download_to_writer`` writes it out). A buffer is
    used again for a later range once its bytes were handed on: copied (``copy``), or
    written by a consumer that keeps nothing (``reuse``): fresh buffers would cost their
    page faults again, for every range. The budget pays for every buffer until the end.
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
                raise object_changed(exc, job.bucket, job.key) from None
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
