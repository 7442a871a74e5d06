"""A resumable upload's journal whose plan record is damaged: which incomplete upload in S3
was the interrupted run's (pure: damaged bytes and listings in, a verdict out).

The plan record holds the upload id; when it fails its checksum, replay keeps nothing
(every later record depends on it). The journal's name still says which upload it was
(its identity is the source, the bucket and the key), so the upload is looked for among
the key's incomplete uploads (ListMultipartUploads). An upload is aborted only on
evidence that it is this journal's, never because it is the only one there (another
writer's upload of the same key would look the same):

* the damaged plan still shows ``"upload_id":"..."`` and that upload is listed, or
* the intact part records after the damaged plan (their own checksums pass) name parts
  (number, size, ETag) that exactly one candidate upload holds: an ETag is the part's
  content hash, so a stranger's upload does not hold them.

Candidates are the key's uploads initiated before the journal was last written (with
:data:`CLOCK_SLACK` for the server's clock); an upload started later is not this run's.
Otherwise the user is told what to run (``s3fast mpu abort``) and nothing is aborted.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ._log import decode
from ._plan import ListedPart

#: the server's clock and this machine's may differ: an upload initiated up to this many
#: seconds after the journal's last write is still a candidate (evidence decides anyway)
CLOCK_SLACK = 300.0
#: candidates whose parts are listed to look for the journal's parts (ListParts each)
MAX_PROBED = 16

_UPLOAD_ID = re.compile(rb'"upload_id":"([A-Za-z0-9+/=._~-]{1,1024})"')


@dataclass(frozen=True)
class Salvage:
    """What the damaged bytes still tell."""

    #: upload ids readable in the damaged text (usually one)
    upload_ids: tuple[str, ...] = ()
    #: intact part records after the damage: part number -> (size, ETag without quotes)
    parts: dict[int, tuple[int, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidate:
    upload_id: str
    #: epoch seconds; None when S3's text could not be read (then it stays a candidate)
    initiated: float | None


@dataclass(frozen=True)
class Verdict:
    """``upload_id`` is the journal's (``why``: the evidence): abort it."""

    upload_id: str
    why: str = ""


def salvage(damaged: bytes) -> Salvage:
    ids = tuple(dict.fromkeys(m.decode("ascii") for m in _UPLOAD_ID.findall(damaged)))
    parts: dict[int, tuple[int, str]] = {}
    for line in damaged.split(b"\n")[1:]:
        records, _ = decode(line + b"\n")
        if not records:
            continue
        rec: dict[str, Any] = records[0]
        n, size, etag = rec.get("n"), rec.get("size"), rec.get("etag")
        if rec.get("t") == "part" and type(n) is int and type(size) is int and isinstance(etag, str) and etag:
            parts[n] = (size, etag.strip('"'))
    return Salvage(ids, parts)


def initiated_at(text: str) -> float | None:
    """S3's ``2024-05-01T12:00:00.000Z`` as epoch seconds (None when unreadable)."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def candidates(uploads: Sequence[tuple[str, str, str]], key: str, written: float) -> list[Candidate]:
    """The uploads (key, upload id, initiated) of ``key`` the journal last written at
    ``written`` may have started."""
    out = []
    for k, upload_id, initiated in uploads:
        if k != key or not upload_id:
            continue
        t = initiated_at(initiated)
        if t is None or t <= written + CLOCK_SLACK:
            out.append(Candidate(upload_id, t))
    return out


def by_id(found: Salvage, cands: Sequence[Candidate]) -> Verdict | None:
    """The candidate the damaged plan names, if one."""
    named = [c.upload_id for c in cands if c.upload_id in found.upload_ids]
    if len(named) == 1:
        return Verdict(named[0], "the damaged journal names it")
    return None


def by_parts(found: Salvage, listed: Mapping[str, Mapping[int, ListedPart]]) -> Verdict | None:
    """The one candidate (``listed``: upload id -> its parts) holding the journal's parts."""
    if not found.parts:
        return None
    holders = []
    for upload_id, parts in listed.items():
        if all(n in parts and parts[n].size == size and parts[n].etag.strip('"') == etag
               for n, (size, etag) in found.parts.items()):
            holders.append(upload_id)
    if len(holders) == 1:
        return Verdict(holders[0], f"it holds the {len(found.parts)} part(s) the journal recorded")
    return None


__all__ = ["CLOCK_SLACK", "Candidate", "MAX_PROBED", "Salvage", "Verdict", "by_id", "by_parts", "candidates",
           "initiated_at", "salvage"]
