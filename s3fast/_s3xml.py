"""The few S3 XML documents s3fast reads and writes (ElementTree; namespaces ignored).

What a server sends is parsed under hard limits, whoever the server is: at most
:data:`MAX_XML_BYTES` (checked before parsing; the connection bounds what it reads, this
bounds what the parser accepts), and no DTD at all (defusedxml: S3 never sends one, and a
DTD is how entity expansion, the "billion laughs", and external entities get in). A
document refused for either reason reads as "not XML": an error body then shows as text,
a listing fails with a protocol error.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from ._errors import NetworkError
# The largest XML answer accepted: the connection's bound on what it reads, one value for both.
from ._py._common import MAX_XML_BODY as MAX_XML_BYTES

# An object size in a listing: digits only, and no longer than S3's largest (48.8 TiB).
_SIZE_RE = re.compile(r"[0-9]{1,15}")


def escape(text: str) -> str:
    """XML-escape text (xml.sax.saxutils would pull in urllib.request at import: ~25 ms)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _strip_ns(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(root: ET.Element, name: str) -> str | None:
    for child in root:
        if _strip_ns(child.tag) == name:
            return child.text or ""
    return None


def parse_xml(body: bytes) -> ET.Element | None:
    """The root element; None when the body is empty, too large, carries a DTD or is not XML."""
    if len(body) > MAX_XML_BYTES:
        return None
    text = body.strip()
    if not text:
        return None
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        return fromstring(text, forbid_dtd=True)  # type: ignore[no-any-return]
    except (ET.ParseError, DefusedXmlException):
        return None


@dataclass(frozen=True)
class ErrorDoc:
    code: str | None
    message: str | None
    request_id: str | None
    resource: str | None


def parse_error(body: bytes) -> ErrorDoc | None:
    """``<Error><Code>..`` -> ErrorDoc; None when the body is not an S3 error document."""
    root = parse_xml(body)
    if root is None or _strip_ns(root.tag) != "Error":
        return None
    return ErrorDoc(_find(root, "Code"), _find(root, "Message"), _find(root, "RequestId"), _find(root, "Resource"))


def parse_initiate(body: bytes) -> str | None:
    root = parse_xml(body)
    return None if root is None else _find(root, "UploadId")


def complete_body(parts: list[tuple[int, str, str | None]], checksum_name: str | None) -> bytes:
    """CompleteMultipartUpload request body: (number, etag, part checksum or None)."""
    out = ['<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">']
    tag = None
    if checksum_name:
        tag = "Checksum" + checksum_name.upper().replace("NVME", "NVME")
    for number, etag, checksum in parts:
        out.append(f"<Part><PartNumber>{number}</PartNumber><ETag>{escape(etag)}</ETag>")
        if tag and checksum:
            out.append(f"<{tag}>{checksum}</{tag}>")
        out.append("</Part>")
    out.append("</CompleteMultipartUpload>")
    return "".join(out).encode()


def parse_complete(body: bytes) -> dict[str, str]:
    root = parse_xml(body)
    if root is None:
        return {}
    return {_strip_ns(c.tag): (c.text or "") for c in root}


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    last_modified: str


@dataclass(frozen=True)
class ListPage:
    objects: list[ObjectInfo]
    prefixes: list[str]
    next_token: str | None


def parse_list_v2(body: bytes) -> ListPage:
    root = parse_xml(body)
    if root is None:
        raise NetworkError(f"the ListObjectsV2 answer is not XML (or is over {MAX_XML_BYTES} bytes, or has a DTD)",
                           kind="protocol")
    objects: list[ObjectInfo] = []
    prefixes: list[str] = []
    token = None
    truncated = False
    for child in root:
        tag = _strip_ns(child.tag)
        if tag == "Contents":
            fields = {_strip_ns(c.tag): (c.text or "") for c in child}
            size = fields.get("Size", "0").strip() or "0"
            if not _SIZE_RE.fullmatch(size):
                raise NetworkError(f"the ListObjectsV2 answer has an invalid Size: {size[:40]!r}", kind="protocol")
            objects.append(
                ObjectInfo(fields.get("Key", ""), int(size), fields.get("ETag", ""), fields.get("LastModified", ""))
            )
        elif tag == "CommonPrefixes":
            p = _find(child, "Prefix")
            if p is not None:
                prefixes.append(p)
        elif tag == "NextContinuationToken":
            token = child.text
        elif tag == "IsTruncated":
            truncated = (child.text or "").lower() == "true"
    return ListPage(objects, prefixes, token if truncated else None)
