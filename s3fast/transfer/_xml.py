"""The XML of server-side copies, bulk deletes and ListBuckets (pure).

Answers come from the server we talk to, which may be hostile: a document is refused when
it is larger than S3 ever sends for these calls or declares a DTD (entity expansion), and
ElementTree never fetches anything.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

#: a DeleteObjects answer for 1,000 keys with long keys and messages stays far below this
MAX_ANSWER = 8 << 20


class BadAnswer(ValueError):
    """The server's answer is not the document the call returns."""


def _escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("\r", "&#13;"))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _root(body: bytes, what: str) -> ET.Element:
    if len(body) > MAX_ANSWER:
        raise BadAnswer(f"{what} answer of {len(body)} bytes is larger than S3 sends")
    if b"<!DOCTYPE" in body[:4096].upper() or b"<!ENTITY" in body.upper():
        raise BadAnswer(f"{what} answer declares a DTD")
    try:
        return ET.fromstring(body.strip())
    except ET.ParseError as exc:
        raise BadAnswer(f"{what} answer is not XML: {exc}") from None


def _fields(elem: ET.Element) -> dict[str, str]:
    return {_local(c.tag): (c.text or "") for c in elem}


def delete_body(keys: Sequence[str]) -> bytes:
    """DeleteObjects request body in quiet mode (only failures are listed in the answer)."""
    parts = ['<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>']
    parts.extend(f"<Object><Key>{_escape(k)}</Key></Object>" for k in keys)
    parts.append("</Delete>")
    return "".join(parts).encode()


@dataclass(frozen=True)
class DeleteError:
    key: str
    code: str
    message: str


def parse_delete(body: bytes) -> tuple[list[str], list[DeleteError]]:
    """(deleted keys, per-key errors) of a DeleteObjects answer."""
    root = _root(body, "DeleteObjects")
    if _local(root.tag) != "DeleteResult":
        raise BadAnswer(f"DeleteObjects answered <{_local(root.tag)}>, not <DeleteResult>")
    deleted: list[str] = []
    errors: list[DeleteError] = []
    for child in root:
        tag = _local(child.tag)
        f = _fields(child)
        if tag == "Deleted":
            deleted.append(f.get("Key", ""))
        elif tag == "Error":
            errors.append(DeleteError(f.get("Key", ""), f.get("Code", ""), f.get("Message", "")))
    return deleted, errors


def parse_copy_result(body: bytes, what: str) -> dict[str, str]:
    """CopyObjectResult / CopyPartResult fields (ETag, ChecksumCRC64NVME...). A 200 answer
    whose body is an <Error> is a failed copy (S3 sends the status before the copy ends)."""
    root = _root(body, what)
    tag = _local(root.tag)
    if tag not in ("CopyObjectResult", "CopyPartResult"):
        f = _fields(root)
        raise BadAnswer(f"{what} failed: {f.get('Code', tag)}: {f.get('Message', '')}".rstrip(": "))
    return _fields(root)


def parse_buckets(body: bytes) -> list[tuple[str, str]]:
    """ListBuckets: (name, creation date) of each bucket."""
    root = _root(body, "ListBuckets")
    out: list[tuple[str, str]] = []
    for child in root:
        if _local(child.tag) == "Buckets":
            for b in child:
                f = _fields(b)
                out.append((f.get("Name", ""), f.get("CreationDate", "")))
    return out


__all__ = ["BadAnswer", "parse_buckets", "DeleteError", "delete_body", "parse_copy_result", "parse_delete"]
