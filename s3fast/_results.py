"""What a transfer reports back: frozen records, cheap to log and to compare."""
from __future__ import annotations

from dataclasses import dataclass, field


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
    #: (algorithm name, base64 value, "FULL_OBJECT" | "COMPOSITE") when S3 returned one
    checksum: tuple[str, str, str] | None = None
    metadata: dict[str, str] = field(default_factory=dict)


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
    #: e.g. ("crc64nvme", "base64value")
    checksum: tuple[str, str] | None
    #: True when the checksum was verified against what S3 stored / computed
    checksum_verified: bool
    multipart: bool
    requests: int = 0
    retries: int = 0
    version_id: str | None = None
    upload_id: str | None = None

    @property
    def mb_per_s(self) -> float:
        return self.bytes / self.seconds / 1e6 if self.seconds > 0 else 0.0

    @property
    def gbps(self) -> float:
        return self.bytes * 8 / self.seconds / 1e9 if self.seconds > 0 else 0.0
