"""What a transfer reports back: frozen records, cheap to log and to compare."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from . import _checksum

_C = TypeVar("_C", bound=type)


def quick_init(cls: _C) -> _C:
    """Give a frozen dataclass an ``__init__`` that fills the instance dict in one step.

    The generated one sets each field through ``object.__setattr__`` (frozen dataclasses
    must), several times slower than one dict assignment, and these records are made for
    every object transferred. Same signature, defaults and immutability; a ``default_factory``
    field defaults to a fresh value of its factory, as before. Not for ``slots=True``
    classes (they have no instance dict).
    """
    params: list[str] = []
    items: list[str] = []
    ns: dict[str, object] = {"_set": object.__setattr__, "_MISSING": dataclasses.MISSING}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            ns[f"_d_{f.name}"] = f.default
            params.append(f"{f.name}=_d_{f.name}")
            items.append(f"{f.name!r}: {f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            ns[f"_f_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_MISSING")
            items.append(f"{f.name!r}: _f_{f.name}() if {f.name} is _MISSING else {f.name}")
        else:
            params.append(f.name)
            items.append(f"{f.name!r}: {f.name}")
    src = (f"def __init__(self, {', '.join(params)}):\n"
           f"    _set(self, '__dict__', {{{', '.join(items)}}})\n")
    exec(src, ns)  # noqa: S102 -- built from the class's own field names, as dataclasses does
    init = ns["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"  # type: ignore[attr-defined]
    cls.__init__ = init  # type: ignore[misc]
    return cls


ChecksumType = Literal["FULL_OBJECT", "COMPOSITE"]


@quick_init
@dataclass(frozen=True)
class Checksum:
    """A checksum of an object's bytes, as S3 states it.

    - ``algorithm``: ``"crc64nvme"``, ``"crc32c"`` or ``"crc32"``.
    - ``value``: base64 of the big-endian CRC, as in S3's ``x-amz-checksum-*`` headers
      (a COMPOSITE value ends in ``-N``, N the part count).
    - ``type``: ``"FULL_OBJECT"``, a checksum of all the bytes (what s3fast uploads with), or
      ``"COMPOSITE"``, a checksum of the parts' checksums (other clients' multipart uploads).
    """

    algorithm: str
    value: str
    type: ChecksumType = "FULL_OBJECT"


#: stored with an object and returned by HEAD: what a copy of it keeps besides content-type
CONTENT_HEADERS = ("cache-control", "content-disposition", "content-encoding", "content-language", "expires")


@quick_init
@dataclass(frozen=True)
class ObjectHead:
    """What HEAD says about an object."""

    bucket: str
    key: str
    size: int
    etag: str
    last_modified: str | None = None
    version_id: str | None = None
    content_type: str | None = None
    #: the checksum S3 stored, when it returned one
    checksum: Checksum | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    #: the other standard headers the object was stored with (``cache-control``,
    #: ``content-disposition``, ``content-encoding``, ``content-language``, ``expires``), by
    #: their lower-case names: a multipart copy must restate them, CopyObject keeps them itself
    content_headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_headers(cls, bucket: str, key: str, size: int, headers: dict[str, str], *,
                     version_id: str | None = None, checksums: bool = True) -> ObjectHead:
        """What a HEAD's or a GET's response headers say (``checksums``: whether the
        request asked for them; a checksum header is ignored otherwise). ``version_id``
        stands in when the answer names none (an unversioned store)."""
        cs = _checksum.from_headers(headers) if checksums else None
        return cls(
            bucket=bucket, key=key, size=size, etag=headers.get("etag", ""),
            last_modified=headers.get("last-modified"),
            version_id=headers.get("x-amz-version-id") or version_id,
            content_type=headers.get("content-type"),
            checksum=Checksum(cs[0].name, cs[1], cs[2]) if cs else None,
            metadata={k[11:]: v for k, v in headers.items() if k.startswith("x-amz-meta-")},
            content_headers={k: headers[k] for k in CONTENT_HEADERS if k in headers},
        )


@quick_init
@dataclass(frozen=True)
class PartEvent:
    """One part (upload) or range (download) finished: what a checkpoint journal records."""

    operation: str  # "upload" | "download"
    bucket: str
    key: str
    number: int
    offset: int
    size: int
    etag: str | None = None
    checksum: str | None = None
    upload_id: str | None = None


@quick_init
@dataclass(frozen=True)
class TransferResult:
    """The outcome of one upload or download."""

    operation: str  # "upload" | "download"
    bucket: str
    key: str
    bytes: int
    seconds: float
    parts: int
    etag: str | None
    #: the object's checksum: the one uploaded with it, or the one S3 stored for a download or copy
    checksum: Checksum | None
    #: True when the checksum was verified against what S3 stored / computed
    checksum_verified: bool
    multipart: bool
    #: HTTP requests this transfer sent (hedged duplicates, HEADs and retries included);
    #: concurrent transfers on one client each count only their own
    requests: int = 0
    #: attempts repeated after a failure (503 SlowDown, reset, timeout...)
    retries: int = 0
    version_id: str | None = None
    upload_id: str | None = None
    #: payload bytes sent (upload) or received (download) by THIS run, each part counted once
    #: (a retried part is not counted twice); None: all of ``bytes`` (a transfer that did not resume)
    bytes_sent: int | None = None
    #: parts a resumed transfer found already done and did not move again
    parts_skipped: int = 0
    #: True when this run continued an interrupted transfer (False on a fresh start)
    resumed: bool = False

    @property
    def checksum_algorithm(self) -> str | None:
        """The algorithm of ``checksum``; None when there was none (an object S3 stored
        without a checksum, or an upload with ``checksum="none"``)."""
        return self.checksum.algorithm if self.checksum is not None else None

    @property
    def checksum_summary(self) -> str:
        """``"crc64nvme verified"``, ``"crc32c unverified"`` or ``"none"``, for a summary line."""
        if self.checksum is None:
            return "none"
        return f"{self.checksum.algorithm} {'verified' if self.checksum_verified else 'unverified'}"

    @property
    def mb_per_s(self) -> float:
        return self.bytes / self.seconds / 1e6 if self.seconds > 0 else 0.0

    @property
    def gbps(self) -> float:
        return self.bytes * 8 / self.seconds / 1e9 if self.seconds > 0 else 0.0
