"""The in-memory S3's state (``benchmarks/memserver``): buckets, objects and multipart
uploads, and the helpers that need no request (ranges, checksums, XML bodies, ETags).
"""
from __future__ import annotations

import base64
import hashlib
import itertools
import time
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass, field

from ._memhttp import S3Error

CHECKSUMS = ("crc64nvme", "crc32c", "crc32", "sha1", "sha256")
CHECKSUM_HEADERS = tuple(f"x-amz-checksum-{a}" for a in CHECKSUMS)
#: system headers stored with an object and returned as given
KEPT_HEADERS = ("content-type", "content-disposition", "content-language", "cache-control", "expires")


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


_WRITES = itertools.count(1)


def etag_of(body: bytes, parts: int = 1) -> str:
    """A new ETag per write: the server's own serial number, not a hash of ``body`` (a CRC32
    of each MiB cost a fifth of the server's CPU per PUT, and nothing compares ETags
    across writes of the same bytes)."""
    return f'"{next(_WRITES):08x}-{parts}"'


@dataclass
class Obj:
    body: bytes
    etag: str
    mtime: float
    headers: list[tuple[str, str]]  # kept system headers and x-amz-meta-*, as received
    checksums: dict[str, str]  # header name -> value
    checksum_type: str | None = None
    part_sizes: tuple[int, ...] = ()  # a multipart object's parts (GET/HEAD ?partNumber)


@dataclass
class Bucket:
    created: float
    objects: dict[str, Obj] = field(default_factory=dict)
    _keys: list[str] = field(default_factory=list)
    _dirty: bool = False

    def put(self, key: str, obj: Obj) -> None:
        if key not in self.objects:
            self._dirty = True
        self.objects[key] = obj

    def delete(self, key: str) -> None:
        if self.objects.pop(key, None) is not None:
            self._dirty = True

    def keys(self) -> list[str]:
        if self._dirty:
            self._keys = sorted(self.objects)
            self._dirty = False
        return self._keys


@dataclass
class Part:
    body: bytes
    etag: str
    mtime: float
    checksums: dict[str, str]


@dataclass
class Upload:
    bucket: str
    key: str
    created: float
    headers: list[tuple[str, str]]
    algorithm: str | None  # x-amz-checksum-algorithm, lower case
    checksum_type: str | None
    parts: dict[int, Part] = field(default_factory=dict)


class Store:
    def __init__(self, buckets: list[str] | None = None) -> None:
        self.buckets: dict[str, Bucket] = {b: Bucket(time.time()) for b in buckets or ()}
        self.uploads: dict[str, Upload] = {}
        self._next_upload = 0

    def bucket(self, name: str) -> Bucket:
        b = self.buckets.get(name)
        if b is None:
            raise S3Error(404, "NoSuchBucket", "The specified bucket does not exist")
        return b

    def new_upload_id(self) -> str:
        self._next_upload += 1
        return f"u{self._next_upload:08d}{int(time.time() * 1000) % 100000:05d}"


ALG_XML = {"crc64nvme": "CRC64NVME", "crc32c": "CRC32C", "crc32": "CRC32", "sha1": "SHA1", "sha256": "SHA256"}


def byte_range(spec: str, size: int) -> tuple[int, int]:
    """``bytes=a-b`` / ``a-`` / ``-n`` -> (first, last) inclusive, clipped; 416 if unsatisfiable."""
    unit, _, r = spec.partition("=")
    a, dash, b = r.strip().partition("-")
    try:
        if unit.strip() != "bytes" or not dash or "," in r:
            raise ValueError
        if not a:
            n = int(b)
            first, last = max(0, size - n), size - 1
            if n <= 0:
                raise S3Error(416, "InvalidRange")
        else:
            first = int(a)
            last = min(int(b), size - 1) if b else size - 1
    except ValueError:
        raise S3Error(416, "InvalidRange", spec) from None
    if first >= size or last < first:
        raise S3Error(416, "InvalidRange", f"{spec} of {size} bytes")
    return first, last


def checksums_of(headers: dict[str, str], trailers: dict[str, str]) -> dict[str, str]:
    sums = {}
    for name in CHECKSUM_HEADERS:
        v = trailers.get(name) or headers.get(name)
        if v:
            sums[name] = v
    return sums


def checksum_type_of(headers: dict[str, str], sums: dict[str, str]) -> str | None:
    if not sums:
        return None
    return headers.get("x-amz-checksum-type", "").upper() or "FULL_OBJECT"


def composite(alg: str, parts: list[Part]) -> tuple[dict[str, str], str | None]:
    """S3's COMPOSITE checksum: the checksum of the parts' binary checksums, ``-<parts>``."""
    name = f"x-amz-checksum-{alg}"
    try:
        joined = b"".join(base64.b64decode(p.checksums[name]) for p in parts)
    except (KeyError, ValueError):
        return {}, None
    if alg == "crc32":
        digest = zlib.crc32(joined).to_bytes(4, "big")
    elif alg in ("sha1", "sha256"):
        digest = hashlib.new(alg, joined).digest()
    else:
        return {}, None  # crc32c and crc64nvme need code the stdlib lacks
    return {name: f"{base64.b64encode(digest).decode()}-{len(parts)}"}, "COMPOSITE"


def kept_headers(headers: dict[str, str]) -> list[tuple[str, str]]:
    kept = [(n, v) for n, v in headers.items() if n.startswith("x-amz-meta-")]
    kept.extend((n, headers[n]) for n in KEPT_HEADERS if n in headers)
    enc = headers.get("content-encoding")
    if enc:
        enc = ",".join(e for e in (x.strip() for x in enc.split(",")) if e and e != "aws-chunked")
        if enc:
            kept.append(("content-encoding", enc))
    return kept


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def child_text(el: ET.Element, name: str) -> str | None:
    for child in el:
        if local_name(child.tag) == name:
            return child.text
    return None


def parse_xml(body: bytes) -> ET.Element:
    try:
        return ET.fromstring(body)
    except ET.ParseError:
        raise S3Error(400, "MalformedXML") from None
