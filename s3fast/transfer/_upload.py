"""Uploads: one PUT below the threshold, a multipart upload above it.

Every upload carries a full-object checksum (CRC64NVME by default): each part is
checksummed (and S3 checks each part), the part checksums are combined in order, and
CompleteMultipartUpload sends the result as a FULL_OBJECT checksum that S3 verifies
against what it assembled. Any failure or cancellation aborts the multipart upload,
so no billed orphan parts are left behind.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from collections.abc import AsyncGenerator, Callable, Coroutine
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from .. import _checksum
from .._errors import ChecksumMismatch, NetworkError, S3Error
from .._events import BytesMoved, Emitter, TransferFailed, TransferFinished, TransferStarted
from .._results import PartEvent, TransferResult
from .._s3xml import complete_body, parse_complete
from .._transport import TALLY, Request, Tally
from .._awschunked import TrailerBody
from ..net._body import FileSlice
from ._meta import head_object
from ._planner import Part, plan_upload, stream_part_size
from ._sources import SMALL_FILE, BufferSource, FileSource, Source, StreamSource, open_source
from ._hedge import Attempt, HedgePolicy, run_hedged
from ._multipart import abort_multipart, create_multipart
from ._tasks import run_bounded

if TYPE_CHECKING:
    from .._config import TransferConfig
    from ._context import TransferContext


class _Upload:
    """State of one upload (shared by its part tasks)."""

    def __init__(self, ctx: TransferContext, bucket: str, key: str, *, headers: dict[str, str],
                 events: Emitter | None) -> None:
        self.ctx = ctx
        self.transport = ctx.transport
        self.bucket = bucket
        self.key = key
        self.headers = headers
        self.algo = _checksum.get(ctx.config.checksum)
        self.combiner = _checksum.Combiner(self.algo) if self.algo else None
        #: checksums of large bodies go in an aws-chunked trailer, computed as they are sent
        self.trailer = (self.algo is not None and ctx.config.checksum_trailer
                        and ctx.transport.endpoint.tls)
        #: progress, part and journal subscribers; None when nobody listens
        self.events = events
        self.upload_id: str | None = None
        #: resumable uploads: which failures keep the multipart upload for a later run
        #: (None: every failure aborts it)
        self.keep: Callable[[BaseException], bool] | None = None
        #: the multipart upload was kept on failure (its journal says how to resume)
        self.kept = False
        #: a resumed upload: parts found done in S3, their bytes, and the bytes sent this run
        self.skipped = 0
        self.skipped_bytes = 0
        self.resumed = False
        self.hedge: HedgePolicy | None = None
        self.done: dict[int, tuple[str, str | None]] = {}  # number -> (etag, b64 checksum)
        #: this upload's requests and retries (installed in TALLY while it runs)
        self.tally = Tally()

    def wants_crc(self, size: int) -> bool:
        """Whether a body of ``size`` needs its checksum computed before it is sent (a
        header); no when it will be computed on the way out (a trailer)."""
        return self.algo is not None and not (self.trailer and size > SMALL_FILE)

    def _checksum_headers(self, size: int, crc: int | None, headers: dict[str, str]) -> str | None:
        """Put the checksum headers of a body of ``size`` in ``headers``: the value when
        ``crc`` is known (returned, base64), else the aws-chunked trailer's announcement."""
        algo = self.algo
        if algo is None:
            return None
        headers["x-amz-sdk-checksum-algorithm"] = algo.s3_name
        if crc is not None:
            b64 = headers[algo.header] = algo.encode(crc)
            return b64
        encoding = next((k for k in headers if k.lower() == "content-encoding"), None)
        if encoding is not None:
            headers[encoding] = f"aws-chunked,{headers[encoding]}"
        else:
            headers["content-encoding"] = "aws-chunked"
        headers["x-amz-decoded-content-length"] = str(size)
        headers["x-amz-trailer"] = algo.header
        return None

    def _sendable(self, body: Any, crc: int | None) -> Any:
        """What to send: ``body``, or a :class:`TrailerBody` of it when its checksum is
        still to be computed (one per attempt: each computes its own)."""
        if self.algo is None or crc is not None:
            return body
        return TrailerBody(body if isinstance(body, FileSlice) else memoryview(body).cast("B"), self.algo)

    def _progress(self, n: int) -> None:
        if self.ctx.meter is not None:
            self.ctx.meter.add_bytes(n)
        if self.events is not None:
            self.events.emit(BytesMoved(n))

    def started(self, size: int | None, part_size: int, parts: int) -> None:
        if self.events is not None:
            self.events.emit(TransferStarted("upload", self.bucket, self.key, size, part_size, parts,
                                             upload_id=self.upload_id, resumed=self.resumed,
                                             skipped_bytes=self.skipped_bytes))

    def result(self, size: int, t0: float, parts: int, etag: str | None, checksum: str | None,
               verified: bool, multipart: bool, version_id: str | None) -> TransferResult:
        return TransferResult(
            operation="upload", bucket=self.bucket, key=self.key, bytes=size,
            seconds=time.monotonic() - t0, parts=parts, etag=etag,
            checksum=(self.algo.name, checksum) if self.algo and checksum else None,
            checksum_verified=verified, multipart=multipart,
            requests=self.tally.requests, retries=self.tally.retries,
            version_id=version_id, upload_id=self.upload_id,
        )

    # -- single PUT ----------------------------------------------------------------------------
    async def put(self, body: Any, size: int, crc: int | None, t0: float) -> TransferResult:
        """One PUT; ``crc`` None with a checksum algorithm: computed as it is sent (trailer)."""
        headers = dict(self.headers)
        b64 = self._checksum_headers(size, crc, headers)
        sent = self._sendable(body, crc)
        if self.events is not None:
            self.started(size, size, 1)
        if self.ctx.tuner.bucket is not None:
            await self.ctx.tuner.pace(size)
        head, _ = await self.transport.call(Request("PUT", self.bucket, self.key, headers=headers, body=sent))
        if isinstance(sent, TrailerBody) and sent.crc is not None and self.algo is not None:
            b64 = self.algo.encode(sent.crc)
        self._progress(size)
        returned = head.headers.get(self.algo.header) if self.algo else None
        if returned and b64 and returned != b64:
            raise ChecksumMismatch(
                f"S3 stored {self.algo.name}={returned} for s3://{self.bucket}/{self.key}, we sent {b64}",  # type: ignore[union-attr]
                algorithm=self.algo.name, expected=b64, actual=returned,  # type: ignore[union-attr]
            )
        return self.result(size, t0, 1, head.headers.get("etag"), b64, bool(returned), False,
                           head.headers.get("x-amz-version-id"))

    # -- multipart -----------------------------------------------------------------------------
    async def create(self) -> str:
        headers = dict(self.headers)
        if self.algo is not None:
            headers["x-amz-checksum-algorithm"] = self.algo.s3_name
            headers["x-amz-checksum-type"] = "FULL_OBJECT"
        self.upload_id = await create_multipart(self.transport, self.bucket, self.key, headers)
        return self.upload_id

    async def part(self, part: Part, body: Any, crc: int | None) -> None:
        """Upload one part; ``crc`` None with a checksum algorithm: computed as it is sent."""
        assert self.upload_id is not None
        headers: dict[str, str] = {}
        self._checksum_headers(part.size, crc, headers)
        query = f"partNumber={part.number}&uploadId={quote(self.upload_id, safe='')}"
        # max_gbps: a part is paid for before it is sent (sendfile sends it in one go).
        await self.ctx.tuner.pace(part.size)

        async def start(exclude: tuple[str, ...], attempt: Attempt) -> Any:
            sent = self._sendable(body, crc)
            req = Request("PUT", self.bucket, self.key, query=query, headers=headers, body=sent,
                          on_ip=attempt.on_ip)
            # Two PUTs of one part number carry the same bytes: whichever lands last, S3
            # keeps the same part (same ETag).
            head, _ = await self.transport.call(req, exclude=exclude, on_retry=attempt.on_retry)
            return head, sent

        head, sent = await run_hedged(self.hedge, start, self.transport.stats)
        if isinstance(sent, TrailerBody):
            crc = sent.crc
        b64 = self.algo.encode(crc) if self.algo is not None and crc is not None else None
        etag = head.headers.get("etag")
        if not etag:
            raise NetworkError(f"UploadPart {part.number} of s3://{self.bucket}/{self.key} answered without an ETag",
                               kind="protocol")
        if self.combiner is not None and crc is not None:
            self.combiner.add(part.offset, crc, part.size)
        self.done[part.number] = (etag, b64)
        self._progress(part.size)
        if self.events is not None:
            self.events.emit(PartEvent("upload", self.bucket, self.key, part.number, part.offset, part.size,
                                   etag=etag, checksum=b64, upload_id=self.upload_id))

    async def complete(self, size: int) -> tuple[str | None, str | None, bool, str | None]:
        assert self.upload_id is not None
        parts = [(n, etag, cs) for n, (etag, cs) in sorted(self.done.items())]
        headers: dict[str, str] = {"content-type": "application/xml"}
        full_b64 = None
        if self.algo is not None and self.combiner is not None:
            full_b64 = self.algo.encode(self.combiner.result(size))
            headers[self.algo.header] = full_b64
            headers["x-amz-checksum-type"] = "FULL_OBJECT"
        body = complete_body(parts, self.algo.name if self.algo else None)
        query = f"uploadId={quote(self.upload_id, safe='')}"
        attempts = 0

        def make(attempt: int) -> Request:
            nonlocal attempts
            attempts = attempt
            return Request("POST", self.bucket, self.key, query=query, headers=headers, body=body,
                           error_in_200=True)

        try:
            head, answer = await self.transport.call(make)
        except S3Error as exc:
            # An earlier attempt may have completed the upload and lost only the answer.
            if exc.code == "NoSuchUpload" and attempts > 1:
                info = await head_object(self.transport, self.bucket, self.key)
                if info.checksum and full_b64 and info.checksum[1] == full_b64 and info.size == size:
                    self.upload_id = None
                    return info.etag, full_b64, True, info.version_id
            raise
        doc = parse_complete(answer)
        returned = doc.get(f"Checksum{self.algo.s3_name}") if self.algo else None
        if returned and full_b64 and returned != full_b64:
            raise ChecksumMismatch(
                f"S3 assembled s3://{self.bucket}/{self.key} with {self.algo.name}={returned}, we computed {full_b64}",  # type: ignore[union-attr]
                algorithm=self.algo.name, expected=full_b64, actual=returned,  # type: ignore[union-attr]
            )
        etag = doc.get("ETag") or head.headers.get("etag")
        return etag, full_b64, bool(returned), head.headers.get("x-amz-version-id")

    async def abort(self) -> None:
        if self.upload_id is not None:
            await abort_multipart(self.transport, self.bucket, self.key, self.upload_id)
            self.upload_id = None


async def upload(
    ctx: TransferContext,
    source: Any,
    bucket: str,
    key: str,
    *,
    headers: dict[str, str],
    events: Emitter | None = None,
) -> TransferResult:
    # At most this many uploads hold a source open at once: a gather of 100,000 small files
    # must not run out of file descriptors (or read them all into memory) up front.
    sources = ctx.open_sources
    if not sources.try_acquire():
        await sources.acquire()
    src = None
    token = None
    try:
        t0 = time.monotonic()
        src = open_source(source)
        up = _Upload(ctx, bucket, key, headers=headers, events=events)
        token = TALLY.set(up.tally)
        if events is None:
            return await _send(up, src, ctx.config, t0)
        try:
            result = await _send(up, src, ctx.config, t0)
        except BaseException as exc:
            events.emit(TransferFailed("upload", bucket, key, exc, resumable=up.kept))
            raise
        events.emit(TransferFinished(result))
        return result
    finally:
        if token is not None:
            TALLY.reset(token)
        if src is not None:
            src.close()
        sources.release()


def _send(up: _Upload, src: Source, cfg: TransferConfig, t0: float) -> Coroutine[Any, Any, TransferResult]:
    """The coroutine that uploads ``src``: picked by a plain function, so a small upload
    runs in one coroutine less."""
    if src.size is None:
        return _upload_stream(up, src, t0)  # only a stream has no size
    plan = plan_upload(src.size, cfg.part_size, cfg.multipart_threshold)
    if not plan.multipart:
        part = plan.parts[0]
        if src.read_whole(part):  # only a file reads a small part whole
            return _put_small_file(up, cast(FileSource, src), part, t0)
        src.probe()
        # wants_crc() is true only when there is an algorithm
        crc = src.checksum(cast(_checksum.Algorithm, up.algo), part) if up.wants_crc(part.size) else None
        if src.may_change:  # only a file may change under us
            return _put_file(up, cast(FileSource, src), part, crc, t0)
        return up.put(src.body(part), part.size, crc, t0)
    src.probe()
    return _upload_parts(up, src, plan.parts, src.size, t0)


async def _put_small_file(up: _Upload, src: FileSource, part: Part, t0: float) -> TransferResult:
    # A few KiB: one read (paid for in the memory budget) beats mmap + sendfile.
    memory = up.ctx.memory
    if not memory.try_acquire(part.size):
        await memory.acquire(part.size)
    try:
        data = src.read(part)
        crc = up.algo.of(data) if up.algo else None
        return await up.put(data, part.size, crc, t0)
    finally:
        memory.release(part.size)


async def _put_file(up: _Upload, src: FileSource, part: Part, crc: int | None, t0: float) -> TransferResult:
    src.check_size()
    result = await up.put(src.body(part), part.size, crc, t0)
    # A file that grew while being sent: S3 holds its first ``size`` bytes. Say so rather
    # than report a copy of a file that no longer looks like that.
    src.check_size()
    return result


async def _finish(up: _Upload, size: int, nparts: int, t0: float) -> TransferResult:
    etag, b64, verified, version = await up.complete(size)
    upload_id = up.upload_id
    up.upload_id = None  # completed: nothing to abort
    result = up.result(size, t0, nparts, etag, b64, verified, True, version)
    if upload_id is None and not up.resumed:
        return result
    import dataclasses

    return dataclasses.replace(result, upload_id=upload_id or result.upload_id, resumed=up.resumed,
                               parts_skipped=up.skipped, bytes_sent=size - up.skipped_bytes)


@dataclass(frozen=True)
class Resume:
    """A multipart upload to continue: its id, the parts S3 holds (number -> etag, base64
    checksum) and the parts still to send."""

    upload_id: str
    done: dict[int, tuple[str, str | None]]
    todo: tuple[Part, ...]


async def _upload_parts(up: _Upload, src: FileSource | BufferSource, parts: tuple[Part, ...], size: int,
                        t0: float, resume: Resume | None = None) -> TransferResult:
    up.hedge = HedgePolicy(up.ctx.config.hedge, len(parts), up.transport.ip_is_slow)
    todo = parts
    if resume is None:
        await up.create()
    else:
        up.upload_id, todo = resume.upload_id, resume.todo
        _preload(up, parts, resume.done)
    try:
        up.started(size, parts[0].size, len(parts))

        async def one(part: Part) -> None:
            crc = src.checksum(up.algo, part) if up.wants_crc(part.size) else None  # type: ignore[arg-type]
            await up.part(part, src.body(part), crc)

        await run_bounded(todo, one, up.ctx.task_window)
        src.check_size()
        return await _finish(up, size, len(parts), t0)
    except BaseException as exc:
        if up.keep is not None and up.upload_id is not None and up.keep(exc):
            up.kept = True  # resumable: the parts S3 holds are the next run's head start
        else:
            await asyncio.shield(up.abort())
        raise


def _preload(up: _Upload, parts: tuple[Part, ...], done: dict[int, tuple[str, str | None]]) -> None:
    """Count the parts an interrupted run left in S3 as done: their ETags for Complete, their
    checksums for the full-object one (combined, so the file is not read again)."""
    up.resumed = True
    for part in parts:
        have = done.get(part.number)
        if have is None:
            continue
        etag, b64 = have
        if up.combiner is not None:
            assert up.algo is not None and b64 is not None
            up.combiner.add(part.offset, up.algo.decode(b64), part.size)
        up.done[part.number] = (etag, b64)
        up.skipped += 1
        up.skipped_bytes += part.size


async def _upload_stream(up: _Upload, src: StreamSource, t0: float) -> TransferResult:
    ctx = up.ctx
    budget = ctx.memory
    base = ctx.config.part_size
    first_size = stream_part_size(1, base)
    await budget.acquire(first_size)
    first = bytearray(first_size)
    try:
        n = await src.fill(first)
    except BaseException:
        budget.release(first_size)
        raise
    if n < first_size:
        # The whole stream fits in one part: a single PUT.
        try:
            view = memoryview(first)[:n]
            crc = up.algo.of(view) if up.algo and up.wants_crc(n) else None
            return await up.put(view, n, crc, t0)
        finally:
            budget.release(first_size)

    total = 0

    async def parts() -> AsyncGenerator[tuple[Part, bytearray, int], None]:
        nonlocal total
        number, buf, filled, cap = 1, first, n, first_size
        while True:
            yield Part(number, total, filled), buf, cap
            total += filled
            if filled < cap:
                return
            number += 1
            cap = stream_part_size(number, base)
            await budget.acquire(cap)
            buf = bytearray(cap)
            try:
                filled = await src.fill(buf)
            except BaseException:
                budget.release(cap)
                raise
            if filled == 0:
                budget.release(cap)
                return

    try:
        await up.create()
    except BaseException:
        budget.release(first_size)
        raise
    count = 0

    async def send(item: tuple[Part, bytearray, int]) -> None:
        part, buf, cap = item
        try:
            view = memoryview(buf)[:part.size]
            crc = up.algo.of(view) if up.algo and up.wants_crc(part.size) else None
            await up.part(part, view, crc)
        finally:
            budget.release(cap)  # the part is acknowledged (or failed): drop its buffer

    def unsent(item: tuple[Part, bytearray, int]) -> None:
        budget.release(item[2])

    async def counted() -> AsyncGenerator[tuple[Part, bytearray, int], None]:
        nonlocal count
        async with contextlib.aclosing(parts()) as produced:
            async for item in produced:
                count += 1
                yield item

    try:
        up.started(None, base, 0)
        # Parts are read ahead of the requests: bounded by the memory budget (each holds
        # its buffer) and by the task window.
        async with contextlib.aclosing(counted()) as items:
            await run_bounded(items, send, ctx.task_window, discard=unsent)
        return await _finish(up, total, count, t0)
    except BaseException:
        await asyncio.shield(up.abort())
        raise
