"""Creating and aborting a multipart upload: shared by uploads and server-side copies.

Both ends of a multipart upload's life are where an orphan is made: an upload S3 created
but nobody aborts stays billed until a lifecycle rule removes it.
"""
from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING
from urllib.parse import quote

from .._errors import TransferError
from .._s3xml import parse_initiate, parse_xml
from .._transport import Request, Transport

if TYPE_CHECKING:
    from ..resume._plan import ListedPart

#: ListParts pages read at most: 10,000 parts at 1,000 a page, and a margin
MAX_LIST_PAGES = 12


async def create_multipart(transport: Transport, bucket: str, key: str, headers: dict[str, str]) -> str:
    """CreateMultipartUpload; its upload id. A cancel while the request is on the wire still
    learns the id (the request runs on, bounded by its own timeouts) and aborts the upload:
    S3 may have made it already, and an id never read is an upload nobody can abort."""
    task = asyncio.ensure_future(_create(transport, bucket, key, headers))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):  # a second cancel cuts this short
            await abort_multipart(transport, bucket, key, await task)
        raise


async def _create(transport: Transport, bucket: str, key: str, headers: dict[str, str]) -> str:
    _, body = await transport.call(Request("POST", bucket, key, query="uploads", headers=headers,
                                           error_in_200=True))
    upload_id = parse_initiate(body)
    if not upload_id:
        raise TransferError(f"CreateMultipartUpload for s3://{bucket}/{key} returned no UploadId")
    return upload_id


async def abort_multipart(transport: Transport, bucket: str, key: str, upload_id: str) -> None:
    """AbortMultipartUpload, best effort: the error that led here matters more, and the
    bucket's lifecycle rule (AbortIncompleteMultipartUpload) is the backstop."""
    query = f"uploadId={quote(upload_id, safe='')}"
    with contextlib.suppress(Exception):
        await transport.call(Request("DELETE", bucket, key, query=query, expect=(204, 200, 404)))


async def list_parts(transport: Transport, bucket: str, key: str, upload_id: str,
                     *, checksum_field: str | None) -> dict[int, ListedPart]:
    """Every part S3 holds for ``upload_id`` (ListParts, all pages, bounded): what a resumed
    upload trusts over its journal. ``checksum_field``: e.g. ``ChecksumCRC64NVME``.
    S3Error ``NoSuchUpload`` when the upload is gone."""
    parts: dict[int, ListedPart] = {}
    marker = 0
    for _ in range(MAX_LIST_PAGES):
        params = [("max-parts", "1000"), ("part-number-marker", str(marker)), ("uploadId", upload_id)]
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in sorted(params))
        _, body = await transport.call(Request("GET", bucket, key, query=query))
        page, truncated, next_marker = _parse_list_parts(body, checksum_field)
        for part in page:
            parts[part.number] = part
        if not truncated:
            return parts
        if next_marker <= marker:
            break  # a marker that does not advance would loop forever
        marker = next_marker
    raise TransferError(f"ListParts of s3://{bucket}/{key} did not end within {MAX_LIST_PAGES} pages")


def _parse_list_parts(body: bytes, checksum_field: str | None) -> tuple[list[ListedPart], bool, int]:
    from ..resume._plan import ListedPart  # resuming is what lists parts; a plain transfer never loads it

    root = parse_xml(body)
    if root is None:
        raise TransferError("ListParts answered with a body that is not XML")
    parts: list[ListedPart] = []
    truncated = False
    next_marker = 0
    for child in root:
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "IsTruncated":
            truncated = (child.text or "").strip().lower() == "true"
        elif tag == "NextPartNumberMarker":
            next_marker = _number(child.text)
        elif tag == "Part":
            fields = {c.tag.rsplit("}", 1)[-1]: (c.text or "").strip() for c in child}
            number, size = _number(fields.get("PartNumber")), _number(fields.get("Size"), -1)
            etag = fields.get("ETag", "")
            if 1 <= number <= 10_000 and size >= 0 and etag:
                cs = fields.get(checksum_field) if checksum_field else None
                parts.append(ListedPart(number, size, etag, cs or None))
    return parts, truncated, next_marker


def _number(text: str | None, default: int = 0) -> int:
    text = (text or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else default


__all__ = ["abort_multipart", "create_multipart", "list_parts"]
