"""Part and range planning: pure functions over S3's limits, no I/O.

S3's multipart rules: parts of 5 MiB to 5 GiB (the last may be smaller), at most
10,000 of them, so objects up to 10,000 x 5 GiB (48.8 TiB).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .._config import MAX_OBJECT_SIZE, MAX_PART_SIZE, MAX_PARTS, MAX_SINGLE_PUT, MIN_PART_SIZE
from .._errors import ConfigError
from .._units import MiB

_ETAG_PARTS_RE = re.compile(r'^"?[0-9a-fA-F]+-(\d+)"?$')

#: An unknown-size stream doubles its part size every this many parts, so a stream
#: started at 8 MiB parts can still reach ~8 TiB within 10,000 parts.
STREAM_GROWTH_EVERY = 1000


@dataclass(frozen=True, slots=True)
class Part:
    """One upload part or one download range: ``size`` bytes at ``offset``."""

    number: int  # 1-based, as S3 numbers parts
    offset: int
    size: int

    @property
    def end(self) -> int:
        """Offset one past the last byte."""
        return self.offset + self.size

    @property
    def range_header(self) -> str:
        return f"bytes={self.offset}-{self.offset + self.size - 1}"


@dataclass(frozen=True)
class UploadPlan:
    multipart: bool
    part_size: int
    parts: tuple[Part, ...]  # empty for an unknown-size stream (parts come as data does)
    size: int | None

    @property
    def part_count(self) -> int:
        return len(self.parts)


def upload_part_size(size: int, part_size: int) -> int:
    """max(configured, ceil(size / 10,000)), rounded up to a whole MiB, within S3's limits."""
    if size > MAX_OBJECT_SIZE:
        raise ConfigError(
            f"object of {size} bytes exceeds S3's maximum of {MAX_OBJECT_SIZE} bytes (10,000 x 5 GiB)"
        )
    needed = -(-size // MAX_PARTS)
    if needed > part_size:
        # Whole MiB keeps parts aligned to pages and to the stored parts readers will range over.
        part_size = -(-needed // MiB) * MiB
    part_size = max(part_size, MIN_PART_SIZE)
    return min(part_size, MAX_PART_SIZE)


def plan_upload(size: int | None, part_size: int, threshold: int) -> UploadPlan:
    """Single PUT below ``threshold``, parts above; ``size=None`` is a stream of unknown size."""
    if size is None:
        return UploadPlan(True, max(part_size, MIN_PART_SIZE), (), None)
    if size < 0:
        raise ConfigError(f"size must be >= 0, got {size}")
    if size < threshold and size <= MAX_SINGLE_PUT:
        return UploadPlan(False, size, (Part(1, 0, size),), size)
    ps = upload_part_size(size, part_size)
    parts = tuple(Part(i + 1, off, min(ps, size - off)) for i, off in enumerate(range(0, size, ps)))
    if not parts:  # size 0 with threshold 0: one empty part is what S3 accepts
        parts = (Part(1, 0, 0),)
    return UploadPlan(True, ps, parts, size)


def stream_part_size(part_number: int, base: int) -> int:
    """Part size for part ``part_number`` of an unknown-size stream (grows, so 10,000 parts suffice)."""
    if part_number > MAX_PARTS:
        raise ConfigError(
            f"stream needs more than {MAX_PARTS} parts: raise part_size (now {base} bytes)"
        )
    size = max(base, MIN_PART_SIZE) << ((part_number - 1) // STREAM_GROWTH_EVERY)
    return min(size, MAX_PART_SIZE)


def plan_ranges(size: int, range_size: int, start: int = 0) -> tuple[Part, ...]:
    """Split ``[start, size)`` into consecutive ranges of ``range_size`` bytes."""
    if range_size <= 0:
        raise ConfigError(f"range_size must be > 0, got {range_size}")
    return tuple(
        Part(i + 1, off, min(range_size, size - off)) for i, off in enumerate(range(start, size, range_size))
    )


def etag_part_count(etag: str | None) -> int | None:
    """``"abc...-12"`` -> 12: the object was uploaded in 12 parts (a hint, not a promise)."""
    if not etag:
        return None
    m = _ETAG_PARTS_RE.match(etag)
    # S3 stores at most 10,000 parts: a larger (hostile) -N must not plan millions of ranges.
    return int(m.group(1)) if m and len(m.group(1)) <= 5 and 1 <= int(m.group(1)) <= MAX_PARTS else None


def parse_content_range(value: str | None) -> tuple[int, int, int] | None:
    """``bytes 0-99/1000`` -> (0, 99, 1000); None when absent or unparseable."""
    if not value or not value.startswith("bytes "):
        return None
    spec, _, total = value[6:].partition("/")
    first, _, last = spec.partition("-")
    try:
        return int(first), int(last), int(total)
    except ValueError:
        return None


def plan_aligned_ranges(size: int, stored_part: int, target: int) -> tuple[Part, ...]:
    """Ranges that never cross the boundaries of the object's stored parts (``stored_part``
    bytes each, the last one shorter): each part is split into equal sub-ranges of about
    ``target`` bytes. S3 serves part-aligned ranges from one stored part each."""
    if stored_part <= 0 or target <= 0:
        raise ConfigError("stored_part and target must be > 0")
    k = max(1, -(-stored_part // target))
    sub = -(-stored_part // k)
    out: list[Part] = []
    for part_start in range(0, size, stored_part):
        part_end = min(part_start + stored_part, size)
        for off in range(part_start, part_end, sub):
            out.append(Part(len(out) + 1, off, min(sub, part_end - off)))
    return tuple(out)
