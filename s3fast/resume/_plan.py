"""Upload resume, the decisions: what a journal says, and which parts S3 already holds.

Pure functions over records and listings (no I/O), so every case is a unit test.

A resumable multipart upload's journal holds (see :mod:`._log` for the file format)::

    {"t": "plan", "v": 1, "source": realpath, "bucket", "key", "size", "mtime_ns", "inode",
     "part_size", "checksum": algorithm name or "none", "upload_id"}
    {"t": "part", "n", "offset", "size", "etag", "checksum": base64 or null}   one per part

The journal is a hint; S3 is the truth. A part is skipped only when ListParts shows it
with the planned size and the same ETag (and checksum) the journal recorded, or, for a
part S3 has that the journal missed (killed between S3's answer and the append), when the
local bytes match what S3 stored: its checksum when ListParts gives one, else its ETag
when that is the part's MD5 (32 hex digits: S3 without SSE-KMS, and most other stores).
Everything else is sent again.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..transfer._planner import Part

VERSION = 1

#: why a journal is not resumed (the first words of the message the user sees)
SOURCE_CHANGED = "source changed since the interrupted run: starting over"
SETTINGS_CHANGED = "part size or checksum differ from the interrupted run: starting over"
UNREADABLE = "the resume journal is unreadable: starting over"
UPLOAD_GONE = "the interrupted upload is no longer in S3 (completed elsewhere, aborted or expired): starting over"


@dataclass(frozen=True)
class SourceStamp:
    """What tells a changed source file from the one an interrupted run was sending."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, st: os.stat_result) -> SourceStamp:
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)


@dataclass(frozen=True)
class JournalPart:
    number: int
    offset: int
    size: int
    etag: str
    checksum: str | None


@dataclass(frozen=True)
class Prior:
    """An interrupted upload the journal describes, to be checked against ListParts."""

    upload_id: str
    parts: dict[int, JournalPart] = field(default_factory=dict)


@dataclass(frozen=True)
class JournalVerdict:
    """``prior``: resume it; else ``reason`` (None: no journal, a plain fresh start) and
    ``stale_upload_id``: an upload of the old plan to abort before starting over."""

    prior: Prior | None = None
    reason: str | None = None
    stale_upload_id: str | None = None


def plan_record(source: str, bucket: str, key: str, stamp: SourceStamp, part_size: int,
                checksum: str | None, upload_id: str) -> dict[str, Any]:
    return {"t": "plan", "v": VERSION, "source": source, "bucket": bucket, "key": key,
            "size": stamp.size, "mtime_ns": stamp.mtime_ns, "inode": stamp.inode,
            "part_size": part_size, "checksum": checksum or "none", "upload_id": upload_id}


def part_record(number: int, offset: int, size: int, etag: str, checksum: str | None) -> dict[str, Any]:
    return {"t": "part", "n": number, "offset": offset, "size": size, "etag": etag, "checksum": checksum}


def _int(record: Mapping[str, Any], name: str) -> int | None:
    value = record.get(name)
    return value if type(value) is int and value >= 0 else None


def read_journal(records: Sequence[Mapping[str, Any]], stamp: SourceStamp, part_size: int,
                 checksum: str | None, source: str, bucket: str, key: str) -> JournalVerdict:
    """What the replayed ``records`` allow for a run that would send ``stamp`` in parts of
    ``part_size`` with ``checksum``."""
    if not records:
        return JournalVerdict()
    plan = records[0]
    upload_id = plan.get("upload_id")
    if (plan.get("t") != "plan" or plan.get("v") != VERSION or not isinstance(upload_id, str) or not upload_id
            or plan.get("bucket") != bucket or plan.get("key") != key or plan.get("source") != source):
        return JournalVerdict(reason=UNREADABLE,
                              stale_upload_id=upload_id if isinstance(upload_id, str) and upload_id else None)
    then = SourceStamp(_int(plan, "size") or 0, _int(plan, "mtime_ns") or 0, _int(plan, "inode") or 0)
    if then != stamp:
        return JournalVerdict(reason=SOURCE_CHANGED, stale_upload_id=upload_id)
    if plan.get("part_size") != part_size or plan.get("checksum") != (checksum or "none"):
        return JournalVerdict(reason=SETTINGS_CHANGED, stale_upload_id=upload_id)
    parts: dict[int, JournalPart] = {}
    for rec in records[1:]:
        n, offset, size = _int(rec, "n"), _int(rec, "offset"), _int(rec, "size")
        etag, cs = rec.get("etag"), rec.get("checksum")
        if (rec.get("t") != "part" or n is None or offset is None or size is None or not isinstance(etag, str)
                or not (cs is None or isinstance(cs, str))):
            continue  # a record this version does not know: the part is simply sent again
        parts[n] = JournalPart(n, offset, size, etag, cs)
    return JournalVerdict(prior=Prior(upload_id, parts))


@dataclass(frozen=True)
class ListedPart:
    """One part as ListParts shows it."""

    number: int
    size: int
    etag: str
    checksum: str | None


@dataclass(frozen=True)
class Reconciled:
    #: part number -> (etag, base64 checksum): parts S3 holds that are this file's bytes
    done: dict[int, tuple[str, str | None]]
    #: parts S3 holds that the journal missed: skipped if their stored checksum is the
    #: local bytes' (the caller reads them to check)
    to_verify: list[tuple[Part, ListedPart]]
    #: parts to send
    todo: list[Part]


def is_md5_etag(etag: str) -> bool:
    """An ETag that is the MD5 of the part's bytes (S3 does this unless SSE-KMS/SSE-C)."""
    text = etag.strip('"')
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text.lower())


def _same_etag(a: str, b: str) -> bool:
    return a.strip('"') == b.strip('"')


def reconcile(parts: Sequence[Part], listed: Mapping[int, ListedPart], journal: Mapping[int, JournalPart],
              *, checksums: bool) -> Reconciled:
    """Split the planned ``parts`` by what S3 ``listed`` and the ``journal`` recorded.
    ``checksums``: the upload carries per-part checksums (the full-object one is combined
    from them, so a skipped part must have one)."""
    done: dict[int, tuple[str, str | None]] = {}
    to_verify: list[tuple[Part, ListedPart]] = []
    todo: list[Part] = []
    for part in parts:
        have = listed.get(part.number)
        if have is None or have.size != part.size:
            todo.append(part)
            continue
        mine = journal.get(part.number)
        if (mine is not None and mine.offset == part.offset and mine.size == part.size
                and _same_etag(mine.etag, have.etag)
                and (not checksums or (mine.checksum is not None
                                       and (have.checksum is None or have.checksum == mine.checksum)))):
            done[part.number] = (have.etag, mine.checksum if checksums else None)
        elif (checksums and have.checksum is not None) or is_md5_etag(have.etag):
            to_verify.append((part, have))
        else:
            todo.append(part)
    return Reconciled(done, to_verify, todo)


__all__ = [
    "JournalPart",
    "JournalVerdict",
    "ListedPart",
    "Prior",
    "Reconciled",
    "SETTINGS_CHANGED",
    "SOURCE_CHANGED",
    "SourceStamp",
    "UNREADABLE",
    "UPLOAD_GONE",
    "is_md5_etag",
    "part_record",
    "plan_record",
    "read_journal",
    "reconcile",
]
