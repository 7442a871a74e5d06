"""Object metadata: HEAD, the stored parts' sizes, and the query strings that name an object.

Every query that names a version goes through ``object_query``, which percent-encodes
``versionId`` (S3 version ids may hold characters that are not URL-safe; a raw one
signs one string and sends another).
"""
from __future__ import annotations

from urllib.parse import quote

from .._errors import NoSuchBucket, NoSuchKey, S3Error, S3FastError, TransferError
from .._results import ObjectHead
from .._transport import Request, Transport
from ._planner import Part, etag_part_count, plan_aligned_ranges, plan_ranges

#: asks S3 to return the object's stored checksum
CHECKSUM_MODE = {"x-amz-checksum-mode": "ENABLED"}


def object_query(version_id: str | None = None, part_number: int | None = None) -> str:
    """``partNumber=N&versionId=...`` (the parts present, sorted as SigV4 wants)."""
    parts = []
    if part_number is not None:
        parts.append(f"partNumber={part_number}")
    if version_id:
        parts.append(f"versionId={quote(version_id, safe='')}")
    return "&".join(parts)


async def head_object(transport: Transport, bucket: str, key: str, *, version_id: str | None = None,
                      checksum_mode: bool = True) -> ObjectHead:
    """HEAD the object; a 404 says whether the key or the bucket is missing."""
    try:
        head, _ = await transport.call(Request("HEAD", bucket, key, query=object_query(version_id),
                                               headers=dict(CHECKSUM_MODE) if checksum_mode else {}))
    except S3Error as exc:
        if exc.status == 404:
            # HEAD has no body: tell a missing key from a missing bucket.
            await _raise_missing(transport, bucket, key, exc)
        raise
    try:
        size = int(head.headers.get("content-length", ""))
    except ValueError:
        # The server's fault, not the caller's: exit 1 like any failed transfer, not 2.
        raise TransferError(f"HEAD s3://{bucket}/{key} returned no Content-Length") from None
    return ObjectHead.from_headers(bucket, key, size, head.headers, checksums=checksum_mode)


async def _raise_missing(transport: Transport, bucket: str, key: str, exc: S3Error) -> None:
    try:
        await transport.call(Request("HEAD", bucket, None))
    except S3Error as bucket_exc:
        if bucket_exc.status == 404:
            raise NoSuchBucket(404, "NoSuchBucket", f"bucket {bucket!r} does not exist",
                               request_id=bucket_exc.request_id, resource=f"s3://{bucket}") from None
        raise
    raise NoSuchKey(404, "NoSuchKey", f"no such key: s3://{bucket}/{key}", request_id=exc.request_id,
                    resource=f"s3://{bucket}/{key}") from None


async def stored_part_size(transport: Transport, info: ObjectHead, number: int) -> int:
    """The size of stored part ``number`` (HEAD ?partNumber=N: its Content-Length); -1
    when the store does not say. No If-Match: a part's ETag is not the object's."""
    head, _ = await transport.call(Request("HEAD", info.bucket, info.key,
                                           query=object_query(info.version_id, number), expect=(200, 206)))
    try:
        return int(head.headers.get("content-length", "-1"))
    except ValueError:
        return -1


async def plan_download(transport: Transport, info: ObjectHead, part_size: int) -> tuple[Part, ...]:
    """Ranges of ``part_size``; aligned to the stored parts when the ETag says ``-N``."""
    n = etag_part_count(info.etag)
    if n is None or n < 2 or info.size <= part_size:
        return plan_ranges(info.size, part_size)
    # Servers that ignore partNumber answer with the whole object: then the estimate is
    # unusable and plain ranges are planned.
    try:
        stored = await stored_part_size(transport, info, 1)
    except S3FastError:
        stored = 0
    if 0 < stored < info.size and (n - 1) * stored < info.size <= n * stored:
        return plan_aligned_ranges(info.size, stored, part_size)
    return plan_ranges(info.size, part_size)
