"""Creating and aborting a multipart upload: shared by uploads and server-side copies.

Both ends of a multipart upload's life are where an orphan is made: an upload S3 created
but nobody aborts stays billed until a lifecycle rule removes it.
"""
from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import quote

from .._errors import TransferError
from .._s3xml import parse_initiate
from .._transport import Request, Transport


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


__all__ = ["abort_multipart", "create_multipart"]
