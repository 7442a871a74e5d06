"""What a resumable download's journal says, and what a rerun does with it: pure
decisions, no I/O.

A download journal is a plan record followed by one record per range written::

    {"t": "plan", "v": 1, "size": ..., "etag": ..., "version": ..., "part_size": ...,
     "checksum": [algorithm, value, type] | null, "crc": "crc64nvme", "partial": path}
    {"t": "range", "off": ..., "len": ..., "crc": ...}

A range is journaled only once its bytes are in the partial file; its ``crc`` (in the
plan's ``crc`` algorithm) is of the bytes as received, so a rerun can check the partial
file against it before trusting it. A plan that no longer describes the object (size,
ETag, version or stored checksum differ) means a fresh start: bytes of two versions of
an object are never mixed.
"""
from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._results import Checksum, ObjectHead
from ..transfer._planner import Part

#: the journal format; a record of another version is not understood (a fresh start)
PLAN_VERSION = 1
#: range checksums when S3 stored no full-object checksum to check them against
FALLBACK_CRC = "crc32c"
_CRC_NAMES = ("crc64nvme", "crc32c", "crc32")


@dataclass(frozen=True)
class DownloadPlan:
    """What the first run saw of the object, and where its bytes go."""

    size: int
    etag: str
    version_id: str | None
    part_size: int
    #: (algorithm, base64 value, "FULL_OBJECT" | "COMPOSITE") as S3 stored it
    checksum: Checksum | None
    #: the algorithm of the journaled ranges' checksums
    crc: str
    #: the partial file's absolute path
    partial: str

    @classmethod
    def of(cls, info: ObjectHead, part_size: int, partial: str, *, validate: bool = True) -> DownloadPlan:
        return cls(size=info.size, etag=info.etag, version_id=info.version_id, part_size=part_size,
                   checksum=info.checksum, crc=range_crc_name(info, validate=validate), partial=partial)

    def record(self) -> dict[str, Any]:
        return {"t": "plan", "v": PLAN_VERSION, "size": self.size, "etag": self.etag,
                "version": self.version_id, "part_size": self.part_size,
                "checksum": ([self.checksum.algorithm, self.checksum.value, self.checksum.type]
                             if self.checksum is not None else None),
                "crc": self.crc, "partial": self.partial}

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> DownloadPlan | None:
        """The plan a record holds; None when it is not a well-formed plan of this version."""
        if rec.get("t") != "plan" or rec.get("v") != PLAN_VERSION:
            return None
        size, etag, version = _count(rec.get("size")), rec.get("etag"), rec.get("version")
        part_size, checksum = _count(rec.get("part_size")), rec.get("checksum")
        crc, partial = rec.get("crc"), rec.get("partial")
        if not (size is not None and part_size and isinstance(etag, str)
                and (version is None or isinstance(version, str)) and crc in _CRC_NAMES
                and isinstance(partial, str) and partial):
            return None
        if checksum is not None:
            if not (isinstance(checksum, list) and len(checksum) == 3 and all(isinstance(c, str) for c in checksum)
                    and checksum[2] in ("FULL_OBJECT", "COMPOSITE")):
                return None
            checksum = Checksum(checksum[0], checksum[1], "COMPOSITE" if checksum[2] == "COMPOSITE" else "FULL_OBJECT")
        return cls(size, etag, version, part_size, checksum, crc, partial)

    def change(self, info: ObjectHead) -> str | None:
        """What differs between the object now and the object this plan was made for
        (None: the same object). The stored checksum is compared only when both runs were
        told one (a store may leave it out of one kind of answer)."""
        if info.size != self.size:
            return f"size {self.size} -> {info.size}"
        if info.etag != self.etag:
            return f"ETag {self.etag} -> {info.etag}"
        if (info.version_id or None) != (self.version_id or None):
            return f"version {self.version_id} -> {info.version_id}"
        if info.checksum is not None and self.checksum is not None and \
                _checksum_key(info.checksum) != _checksum_key(self.checksum):
            return "stored checksum differs"
        return None


@dataclass(frozen=True, slots=True)
class Span:
    """``size`` bytes at ``offset`` that a run wrote into the partial file, with their checksum."""

    offset: int
    size: int
    crc: int

    @property
    def end(self) -> int:
        return self.offset + self.size

    def record(self) -> dict[str, Any]:
        return {"t": "range", "off": self.offset, "len": self.size, "crc": self.crc}


@dataclass(frozen=True)
class Journaled:
    """A replayed journal: its plan (None: nothing usable), the ranges it vouches for, and
    how many range records were not usable (malformed, out of bounds, overlapping)."""

    plan: DownloadPlan | None
    spans: tuple[Span, ...]
    rejected: int = 0


def read_journal(records: Sequence[Mapping[str, Any]]) -> Journaled:
    """The plan (the first record) and the ranges after it. A range record that does not
    fit the plan (out of the object, overlapping one already taken) is left out: its
    bytes are fetched again, which is always safe."""
    if not records:
        return Journaled(None, ())
    plan = DownloadPlan.from_record(records[0])
    if plan is None:
        return Journaled(None, (), len(records))
    found: list[Span] = []
    rejected = 0
    for rec in records[1:]:
        span = _span(rec, plan.size)
        if span is None:
            rejected += 1
        else:
            found.append(span)
    spans: list[Span] = []
    end = 0
    for span in sorted(found, key=lambda s: s.offset):
        if span.offset < end:  # overlaps one already taken
            rejected += 1
            continue
        spans.append(span)
        end = span.end
    return Journaled(plan, tuple(spans), rejected)


def missing(parts: Iterable[Part], spans: Iterable[Span], first_number: int = 1) -> tuple[Part, ...]:
    """The pieces of ``parts`` that no span covers, numbered from ``first_number``
    (``spans`` do not overlap: ``read_journal`` sees to it)."""
    done = sorted((s.offset, s.end) for s in spans if s.size > 0)
    ends = [end for _, end in done]
    out: list[Part] = []
    for part in parts:
        pos = part.offset
        i = bisect.bisect_right(ends, pos)  # the first span ending past pos
        while i < len(done) and done[i][0] < part.end:
            start, end = done[i]
            if start > pos:
                out.append(Part(first_number + len(out), pos, start - pos))
            pos = max(pos, end)
            i += 1
        if pos < part.end:
            out.append(Part(first_number + len(out), pos, part.end - pos))
    return tuple(out)


def range_crc_name(info: ObjectHead, *, validate: bool = True) -> str:
    """Ranges are checksummed in the full-object algorithm S3 stored (their checksums then
    also make the full-object one, at no extra cost); otherwise in CRC32C."""
    cs = info.checksum
    if validate and cs is not None and cs.type == "FULL_OBJECT" and cs.algorithm in _CRC_NAMES:
        return cs.algorithm
    return FALLBACK_CRC


def _checksum_key(checksum: Checksum) -> tuple[str, str]:
    """(algorithm, value) without a COMPOSITE value's "-N" suffix, which a store may give in
    one kind of answer and not another (moto: GET yes, HEAD no)."""
    value = checksum.value
    digest, dash, count = value.rpartition("-")
    return checksum.algorithm, digest if dash and count.isdigit() else value


def _count(value: object) -> int | None:
    """``value`` when it is a non-negative int (not a bool, a float or a string), else None."""
    return value if type(value) is int and value >= 0 else None


def _span(rec: Mapping[str, Any], size: int) -> Span | None:
    off, length, crc = _count(rec.get("off")), _count(rec.get("len")), _count(rec.get("crc"))
    if rec.get("t") != "range" or off is None or not length or crc is None or off + length > size:
        return None
    return Span(off, length, crc)
