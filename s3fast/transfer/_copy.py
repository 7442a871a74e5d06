"""Server-side copies: the bytes never leave S3.

One CopyObject up to the multipart threshold (and S3's 5 GiB copy limit), else a multipart
upload whose parts are UploadPartCopy ranges sent in parallel. Every request is pinned to the
source's ETag (``x-amz-copy-source-if-match``), so an object replaced mid-copy fails the copy
instead of mixing two versions. Metadata and content type are kept. When the source has a
full-object checksum, the copy is asked for the same algorithm and the value S3 reports for
the copy must match; a multipart copy hands that value to CompleteMultipartUpload so S3
itself checks what it assembled. Tags: CopyObject keeps them itself; a multipart copy reads
them (GetObjectTagging) and sets them on the new upload (untagged when either is refused). A copy S3 answers with 200 and an
``<Error>`` body is a failure; a failed or cancelled multipart copy is aborted.
"""
from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from .. import _checksum
from .._errors import ChecksumMismatch, S3Error, TransferError
from .._results import Checksum, ObjectHead, TransferResult
from .._s3xml import complete_body, parse_complete, parse_tagging
from .._transport import TALLY, Request, Tally
from .._url import S3Url
from ._xml import BadAnswer, parse_copy_result
from ._meta import head_object
from ._multipart import abort_multipart, create_multipart
from ._planner import Part, plan_upload
from ._tasks import run_bounded

if TYPE_CHECKING:
    from ._context import TransferContext

#: S3 refuses CopyObject above this size
MAX_COPY_OBJECT = 5 << 30
#: answers to GetObjectTagging that mean "no tags to copy here", not a failed copy: no
#: permission to read tags (403), a store without tagging (405, 501)
_NO_TAGS = (403, 405, 501)


def _source_header(src: S3Url) -> str:
    return quote(f"{src.bucket}/{src.key}", safe="/~")


async def _source_tags(ctx: TransferContext, src: S3Url) -> str | None:
    """The source's tags as an ``x-amz-tagging`` value, None when it has none (or they may
    not be read: the copy goes on without them, as CopyObject would keep none it cannot see)."""
    try:
        _, body = await ctx.transport.call(Request("GET", src.bucket, src.key, query="tagging"))
    except S3Error as exc:
        if exc.status in _NO_TAGS:
            return None
        raise
    tags = parse_tagging(body)
    return urlencode(tags, quote_via=quote) if tags else None


def _full_checksum(head: ObjectHead) -> tuple[str, str] | None:
    if head.checksum is None or head.checksum.type != "FULL_OBJECT":
        return None
    return head.checksum.algorithm, head.checksum.value


def _check(dst: S3Url, want: tuple[str, str] | None, got: str | None) -> bool:
    """Whether S3 confirmed the copy's checksum; raises on a different value."""
    if want is None or not got:
        return False
    if got != want[1]:
        raise ChecksumMismatch(f"S3 stored {want[0]}={got} for the copy {dst}, the source has {want[1]}",
                               algorithm=want[0], expected=want[1], actual=got)
    return True


async def copy(ctx: TransferContext, src: S3Url, dst: S3Url, *, head: ObjectHead | None = None,
               headers: dict[str, str] | None = None) -> TransferResult:
    """Copy ``src`` to ``dst`` inside S3 (across buckets too); ``head`` saves a HEAD when the
    caller already has it; ``headers`` are added to the write (e.g. ``if-none-match``)."""
    tally = Tally()
    token = TALLY.set(tally)
    try:
        t0 = time.monotonic()
        # Whether the head says which checksum the source has: ours does; a caller's (a
        # listing's size and ETag) may not.
        knows_checksum = head is None or head.checksum is not None
        if head is None:
            head = await head_object(ctx.transport, src.bucket, src.key, checksum_mode=True)
        want = _full_checksum(head)
        cfg = ctx.config
        algo = _checksum.get(want[0] if want else cfg.checksum)
        if head.size <= min(cfg.multipart_threshold, MAX_COPY_OBJECT):
            # Not knowing, CopyObject names no algorithm: S3 then keeps the source's (a
            # CRC32C or SHA-256 object stays one) rather than replacing it by the default.
            etag, verified = await _copy_object(ctx, src, dst, head, algo if knows_checksum else None, want,
                                                headers or {})
            parts = 1
        else:
            etag, verified, parts = await _copy_multipart(ctx, src, dst, head, algo, want, headers or {})
        return TransferResult(
            operation="copy", bucket=dst.bucket, key=dst.key, bytes=head.size,
            seconds=time.monotonic() - t0, parts=parts, etag=etag,
            checksum=Checksum(*want) if want and verified else None, checksum_verified=verified, multipart=parts > 1,
            requests=tally.requests, retries=tally.retries,
        )
    finally:
        TALLY.reset(token)


async def _copy_object(ctx: TransferContext, src: S3Url, dst: S3Url, head: ObjectHead,
                       algo: _checksum.Algorithm | None, want: tuple[str, str] | None,
                       extra: dict[str, str]) -> tuple[str | None, bool]:
    headers = {"x-amz-copy-source": _source_header(src), "x-amz-metadata-directive": "COPY", **extra}
    if head.etag:
        headers["x-amz-copy-source-if-match"] = head.etag
    if algo is not None:
        headers["x-amz-checksum-algorithm"] = algo.s3_name
    _, body = await ctx.transport.call(Request("PUT", dst.bucket, dst.key, headers=headers,
                                                error_in_200=True))
    try:
        doc = parse_copy_result(body, f"CopyObject {src} -> {dst}")
    except BadAnswer as exc:
        raise TransferError(str(exc)) from None
    got = doc.get(f"Checksum{algo.s3_name}") if algo is not None else None
    return doc.get("ETag"), _check(dst, want, got)


async def _copy_multipart(ctx: TransferContext, src: S3Url, dst: S3Url, head: ObjectHead,
                          algo: _checksum.Algorithm | None, want: tuple[str, str] | None,
                          extra: dict[str, str]) -> tuple[str | None, bool, int]:
    transport = ctx.transport
    cfg = ctx.config
    plan = plan_upload(head.size, cfg.part_size, cfg.multipart_threshold)
    create_headers = {f"x-amz-meta-{k}": v for k, v in head.metadata.items()}
    if head.content_type:
        create_headers["content-type"] = head.content_type
    create_headers.update(head.content_headers)
    tagging = await _source_tags(ctx, src)
    if tagging is not None:
        create_headers["x-amz-tagging"] = tagging
    if algo is not None:
        create_headers["x-amz-checksum-algorithm"] = algo.s3_name
        if want is not None:
            create_headers["x-amz-checksum-type"] = "FULL_OBJECT"
    try:
        upload_id = await create_multipart(transport, dst.bucket, dst.key, create_headers)
    except S3Error as exc:
        if exc.status != 403 or "x-amz-tagging" not in create_headers:
            raise
        # Tagging the copy needs s3:PutObjectTagging as well: without it, copy the object
        # untagged (as without leave to read the tags) rather than not at all.
        del create_headers["x-amz-tagging"]
        upload_id = await create_multipart(transport, dst.bucket, dst.key, create_headers)
    uid = quote(upload_id, safe="")
    done: dict[int, tuple[str, str | None]] = {}
    source = _source_header(src)

    async def one(part: Part) -> None:
        headers = {"x-amz-copy-source": source,
                   "x-amz-copy-source-range": f"bytes={part.offset}-{part.offset + part.size - 1}"}
        if head.etag:
            headers["x-amz-copy-source-if-match"] = head.etag
        _, answer = await transport.call(Request(
            "PUT", dst.bucket, dst.key, query=f"partNumber={part.number}&uploadId={uid}",
            headers=headers, error_in_200=True))
        try:
            doc = parse_copy_result(answer, f"UploadPartCopy {part.number} of {src} -> {dst}")
        except BadAnswer as exc:
            raise TransferError(str(exc)) from None
        etag = doc.get("ETag")
        if not etag:
            raise TransferError(f"UploadPartCopy {part.number} of {dst} answered without an ETag")
        done[part.number] = (etag, doc.get(f"Checksum{algo.s3_name}") if algo is not None else None)

    try:
        await run_bounded(plan.parts, one, ctx.task_window)
        parts = [(n, etag, cs) for n, (etag, cs) in sorted(done.items())]
        # Part checksums are listed only when every part has one (a store that does not
        # return them would reject a partial list).
        with_cs = all(cs for _, _, cs in parts)
        complete_headers = {"content-type": "application/xml", **extra}
        if want is not None:
            complete_headers[f"x-amz-checksum-{want[0]}"] = want[1]
            complete_headers["x-amz-checksum-type"] = "FULL_OBJECT"
        xml = complete_body(parts if with_cs else [(n, e, None) for n, e, _ in parts],
                            algo.name if algo is not None and with_cs else None)
        _, answer = await transport.call(Request("POST", dst.bucket, dst.key, query=f"uploadId={uid}",
                                                 headers=complete_headers, body=xml, error_in_200=True))
    except BaseException:
        await asyncio.shield(abort_multipart(transport, dst.bucket, dst.key, upload_id))
        raise
    doc = parse_complete(answer)
    got = doc.get(f"Checksum{algo.s3_name}") if algo is not None else None
    verified = _check(dst, want, got)
    if want is not None and not verified:
        # The store did not echo a checksum: read what it holds for the copy.
        info = await head_object(transport, dst.bucket, dst.key, checksum_mode=True)
        verified = _check(dst, want, info.checksum.value if info.checksum else None)
    return doc.get("ETag"), verified, len(plan.parts)


__all__ = ["copy", "MAX_COPY_OBJECT"]
