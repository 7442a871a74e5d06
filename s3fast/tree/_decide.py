"""What sync does with each object (pure: entries in, verdicts out, no I/O).

A verdict never depends on listing order: the destination is looked up by relative key
(S3 Express directory buckets list out of order; a local walk is in directory order).

    compare="size-mtime" (the aws CLI's default): transfer when the destination is missing,
        the sizes differ, or the source is newer than the destination.
    compare="size": transfer when missing or the sizes differ.
    compare="checksum": transfer when missing or the sizes differ; equal sizes need the two
        full-object checksums (``NEEDS_CHECKSUM``), and :func:`checksum_verdict` decides.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass

from .._results import quick_init

COMPARES = ("size-mtime", "size", "checksum")

TRANSFER_MISSING = "missing"
TRANSFER_SIZE = "size differs"
TRANSFER_NEWER = "newer"
TRANSFER_CHECKSUM = "checksum differs"
TRANSFER_NO_CHECKSUM = "no comparable checksum"
SKIP_SAME = "unchanged"
NEEDS_CHECKSUM = "needs checksum"


@quick_init
@dataclass(frozen=True)
class Entry:
    """One object or file as listed: its key relative to the tree's root, size, mtime (epoch s)."""

    relative: str
    size: int
    mtime: float | None = None
    #: where it is: a local path, or the full key in its bucket
    location: str = ""
    etag: str = ""


def decide(src: Entry, dst: Entry | None, compare: str) -> str:
    """A TRANSFER_* reason, SKIP_SAME, or NEEDS_CHECKSUM."""
    if dst is None:
        return TRANSFER_MISSING
    if src.size != dst.size:
        return TRANSFER_SIZE
    if compare == "size":
        return SKIP_SAME
    if compare == "checksum":
        return NEEDS_CHECKSUM
    # Whole seconds: S3's LastModified has no fraction, and a file written at 10.7 s and
    # uploaded at 10.9 s is listed at 10 s.
    if src.mtime is not None and dst.mtime is not None and int(src.mtime) > int(dst.mtime):
        return TRANSFER_NEWER
    return SKIP_SAME


def checksum_verdict(src: tuple[str, str] | None, dst: tuple[str, str] | None) -> str:
    """Full-object checksums ``(algorithm, value)``; an object that has none (or a composite
    one, or another algorithm than the other side's) cannot be proven equal: transfer it."""
    if src is None or dst is None or src[0] != dst[0]:
        return TRANSFER_NO_CHECKSUM
    return SKIP_SAME if src[1] == dst[1] else TRANSFER_CHECKSUM


def is_transfer(verdict: str) -> bool:
    return verdict not in (SKIP_SAME, NEEDS_CHECKSUM)


_UTC = datetime.timezone.utc


def parse_s3_time(text: str) -> float | None:
    """ListObjectsV2's ``2024-05-01T12:00:00.000Z`` -> epoch seconds (None if unparsable).

    This runs once per listed key: the layout is checked by hand (a date, ``T``, a time, in
    ASCII) and the rest left to ``datetime.fromisoformat``, in C; a time without an offset
    is UTC, as S3 means it."""
    if len(text) < 19 or text[10] not in "Tt" or text[4] != "-" or not text.isascii():
        return None
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_UTC)
    return when.timestamp()


__all__ = ["COMPARES", "Entry", "checksum_verdict", "decide", "is_transfer", "parse_s3_time"]
