"""The few S3 XML documents s3fast reads and writes (ElementTree; namespaces ignored).

What a server sends is parsed under hard limits, whoever the server is: at most
:data:`MAX_XML_BYTES` (checked before parsing; the connection bounds what it reads, this
bounds what the parser accepts), and no DTD at all (S3 never sends one, and a DTD is how
entity expansion, the "billion laughs", and external entities get in). A document refused
for either reason reads as "not XML": an error body then shows as text, a listing fails
with a protocol error.

The DTD is refused by looking for its declaration before parsing, then parsing with the
standard library's C parser. The document is read as UTF-8 whatever its XML declaration
says (S3 sends nothing else), so the declaration cannot hide in another encoding, and a
body with a NUL byte (UTF-16, UTF-32) is refused. defusedxml does the same refusal from
the parser's callbacks, but only through ElementTree's Python-level parser, which took
more than half of the time of listing a tree (benchmarks/probes/README.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._errors import NetworkError
# The largest XML answer accepted: the connection's bound on what it reads, one value for both.
from ._py._common import MAX_XML_BODY as MAX_XML_BYTES

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET



def escape(text: str) -> str:
    """XML-escape text (xml.sax.saxutils would pull in urllib.request at import: ~25 ms)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


#: namespaced tag -> local name; a listing repeats the same few tags thousands of times
_LOCAL: dict[str, str] = {}


def _strip_ns(tag: str) -> str:
    name = _LOCAL.get(tag)
    if name is None:
        name = tag.rsplit("}", 1)[-1]
        if len(_LOCAL) < 256:  # a hostile server's ever-new tags must not grow it
            _LOCAL[tag] = name
    return name


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
    if not text or b"<!DOCTYPE" in text or b"\x00" in text:
        return None
    import xml.etree.ElementTree as ET  # on the first document: a command that reads none skips it

    parser = ET.XMLParser(encoding="utf-8")
    try:
        parser.feed(text)
        return parser.close()
    except ET.ParseError:
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


def parse_tagging(body: bytes) -> list[tuple[str, str]]:
    """The ``(key, value)`` tags of a GetObjectTagging answer, in order."""
    root = parse_xml(body)
    if root is None:
        return []
    tags: list[tuple[str, str]] = []
    for el in root.iter():
        if _strip_ns(el.tag) == "Tag":
            key = _find(el, "Key")
            if key:
                tags.append((key, _find(el, "Value") or ""))
    return tags


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
    local = _LOCAL.get  # a C call per element: this loop runs for every key listed
    for child in root:
        tag = local(child.tag) or _strip_ns(child.tag)
        if tag == "Contents":
            fields = {local(c.tag) or _strip_ns(c.tag): c.text for c in child}
            size = (fields.get("Size") or "0").strip() or "0"
            # digits only, and no longer than S3's largest object (48.8 TiB)
            if not (len(size) <= 15 and size.isascii() and size.isdigit()):
                raise NetworkError(f"the ListObjectsV2 answer has an invalid Size: {size[:40]!r}", kind="protocol")
            objects.append(ObjectInfo(fields.get("Key") or "", int(size), fields.get("ETag") or "",
                                      fields.get("LastModified") or ""))
        elif tag == "CommonPrefixes":
            p = _find(child, "Prefix")
            if p is not None:
                prefixes.append(p)
        elif tag == "NextContinuationToken":
            token = child.text
        elif tag == "IsTruncated":
            truncated = (child.text or "").lower() == "true"
    return ListPage(objects, prefixes, token if truncated else None)
