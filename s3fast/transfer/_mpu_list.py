"""Incomplete multipart uploads: ListMultipartUploads pages, and the parse of one (pure).

An upload nobody completed or aborted keeps its parts, billed, until a lifecycle rule
removes it. ``s3fast mpu ls`` and ``mpu abort`` find them with this listing, one page
(at most 1,000 uploads) held at a time. Keys are asked URL-encoded, so a key holding a
character XML cannot carry still lists.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import quote, unquote_plus

from .._errors import NetworkError
from .._s3xml import _find, _strip_ns, parse_xml
from .._transport import Request, Transport


@dataclass(frozen=True)
class UploadInfo:
    """One incomplete multipart upload."""

    key: str
    upload_id: str
    #: as S3 sends it: ``2024-05-01T12:00:00.000Z``
    initiated: str


@dataclass(frozen=True)
class UploadsPage:
    uploads: list[UploadInfo]
    #: where the next page starts; both None on the last page
    next_key_marker: str | None
    next_upload_id_marker: str | None


def parse_uploads(body: bytes) -> UploadsPage:
    """A ListMultipartUploads answer; NetworkError(kind="protocol") when it is not one."""
    root = parse_xml(body)
    if root is None or _strip_ns(root.tag) != "ListMultipartUploadsResult":
        raise NetworkError("ListMultipartUploads answer is not a ListMultipartUploadsResult", kind="protocol")
    encoded = (_find(root, "EncodingType") or "").lower() == "url"

    def text(s: str | None) -> str:
        return unquote_plus(s) if encoded and s else (s or "")

    uploads: list[UploadInfo] = []
    for child in root:
        if _strip_ns(child.tag) != "Upload":
            continue
        uploads.append(UploadInfo(text(_find(child, "Key")), _find(child, "UploadId") or "",
                                  _find(child, "Initiated") or ""))
    truncated = (_find(root, "IsTruncated") or "").lower() == "true"
    if not truncated:
        return UploadsPage(uploads, None, None)
    key_marker = text(_find(root, "NextKeyMarker"))
    id_marker = _find(root, "NextUploadIdMarker") or ""
    if not key_marker and not id_marker:
        # A truncated page that says not where to go on would be asked again forever.
        raise NetworkError("ListMultipartUploads page is truncated but names no next marker", kind="protocol")
    return UploadsPage(uploads, key_marker, id_marker)


async def list_uploads(transport: Transport, bucket: str, prefix: str, *,
                       page_size: int | None = None) -> AsyncIterator[UploadInfo]:
    """Every incomplete upload whose key starts with ``prefix``, page by page (``page_size``:
    uploads per page, S3's default and maximum 1,000). Reached through
    :meth:`s3fast.Client.list_uploads`, which owns the transport."""
    key_marker: str | None = None
    id_marker: str | None = None
    seen: set[tuple[str, str]] = set()
    while True:
        params = [("encoding-type", "url"), ("uploads", "")]
        if prefix:
            params.append(("prefix", prefix))
        if page_size is not None:
            params.append(("max-uploads", str(page_size)))
        if key_marker:
            params.append(("key-marker", key_marker))
        if id_marker:
            params.append(("upload-id-marker", id_marker))
        query = "&".join(f"{k}={quote(v, safe='')}" if v else k for k, v in sorted(params))
        _, body = await transport.call(Request("GET", bucket, None, query=query))
        page = parse_uploads(body)
        for u in page.uploads:
            yield u
        if page.next_key_marker is None:
            return
        marker = (page.next_key_marker, page.next_upload_id_marker or "")
        if marker in seen:
            raise NetworkError("ListMultipartUploads returned the same next marker twice", kind="protocol")
        seen.add(marker)
        key_marker, id_marker = marker


async def abort_upload(transport: Transport, bucket: str, key: str, upload_id: str) -> None:
    """AbortMultipartUpload; raises what S3 answers (NoSuchUpload: already gone)."""
    query = f"uploadId={quote(upload_id, safe='')}"
    await transport.call(Request("DELETE", bucket, key, query=query, expect=(204, 200)))


__all__ = ["UploadInfo", "UploadsPage", "abort_upload", "list_uploads", "parse_uploads"]
