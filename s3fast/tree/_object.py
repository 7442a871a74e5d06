"""One tree operation's work on one object: transfer it, compare it (sync), delete extras.

``_Tree`` holds what is fixed for the whole operation (the client, both sides, the flags);
:meth:`_Tree.work` is what the engine runs per item, in this process or in a worker
process (``_workers``), so both run exactly the same code. Every failure of one object is
that object's :class:`TreeResult` (named, with the error): the others go on.
"""
from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import _checksum
from .._errors import ConfigError, NoSuchKey, PreconditionFailed, S3Error
from .._results import ObjectHead, TransferResult, quick_init
from .._url import parse_s3_url
from ..resume._tree import DONE_BEFORE
from ._decide import (
    NEEDS_CHECKSUM,
    SKIP_SAME,
    TRANSFER_MISSING,
    TRANSFER_NO_CHECKSUM,
    TRANSFER_SIZE,
    Entry,
    checksum_verdict,
    decide,
    is_transfer,
)
from ._paths import Unsafe, local_path
from ._places import Place
from ._prefixes import prefix_of

if TYPE_CHECKING:
    from ..resume._tree import TreeJournal
    from .._client import Client


@quick_init
@dataclass(frozen=True)
class TreeResult:
    """What happened to one object of a tree operation."""

    operation: str  # "upload" | "download" | "copy" | "delete"
    source: str  # a local path or s3:// URL ("" for a delete)
    destination: str  # a local path or s3:// URL
    bytes: int = 0
    #: "done" | "skipped" | "failed" | "dryrun"
    status: str = "done"
    #: why it was transferred or skipped ("missing", "size differs", "exists", "unsafe key: ...")
    reason: str = ""
    error: str | None = None
    #: resumable: payload moved by this run (None: all of ``bytes``), parts found done, resumed
    bytes_sent: int | None = None
    parts_skipped: int = 0
    resumed: bool = False

    @property
    def failed(self) -> bool:
        return self.status == "failed"


@dataclass(frozen=True)
class Extra:
    """Destination entries the source does not have (``sync --delete``), one bulk delete."""

    entries: tuple[Entry, ...]


#: one unit of sync work: a source entry and its destination counterpart, or deletions
SyncItem = tuple[Entry, Entry | None] | Extra


#: what a sync found at the destination that makes a resume journal's "done" out of date
SYNC_DIFFERS = (TRANSFER_MISSING, TRANSFER_SIZE)

#: local files up to this size are checksummed on the loop (sync --checksum): reading and
#: hashing one costs less than handing it to a thread and back
_CRC_INLINE = 256 * 1024
#: sync --checksum: files up to this size are compared by MD5 against the listed ETag first
_MD5_FIRST = 256 * 1024

_HEX = frozenset("0123456789abcdef")
_MD5_CHUNK = 1 << 20

#: directories :meth:`_Tree._prepare_parent` remembers (bounded: memory stays flat)
_PARENTS_KEPT = 256


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, (S3Error, OSError)) else f"{type(exc).__name__}: {text}"


def _inside(root: str, path: str) -> bool:
    base = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def _prepare_parent(root: str, path: str) -> str | None:
    """Create ``path``'s directory under ``root``; the reason when that would leave ``root``
    (a symlinked directory at the destination pointing elsewhere) or cannot be done."""
    parent = os.path.dirname(path)
    try:
        os.makedirs(root, exist_ok=True)
    except OSError as exc:
        return f"cannot create directory {root}: {exc.strerror}"
    probe = parent
    while probe and not os.path.lexists(probe):
        probe = os.path.dirname(probe)
    if probe and not _inside(root, probe):
        return "destination directory leads outside the destination (symlink)"
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        # e.g. key "a" is a file and key "a/b" needs "a" as a directory
        return f"cannot create directory {parent}: {exc.strerror}"
    if not _inside(root, parent):
        return "destination directory leads outside the destination (symlink)"
    return None


class _Tree:
    """One tree operation's per-object work (source and destination fixed)."""

    def __init__(self, client: Client, src: Place, dst: Place, *, no_clobber: bool, dryrun: bool,
                 on_progress: Callable[[int], None] | None) -> None:
        if not src.is_s3 and not dst.is_s3:
            raise ConfigError("one of source and destination must be an S3 URL")
        self.client = client
        self.src = src
        self.dst = dst
        self.no_clobber = no_clobber
        self.dryrun = dryrun
        self.on_progress = on_progress
        self.operation = "copy" if src.is_s3 and dst.is_s3 else "upload" if dst.is_s3 else "download"
        # The prefix S3 throttles: where the writes go, or where a download reads from.
        self.prefix_base = dst.base if dst.is_s3 else src.base
        #: resumable trees: what an interrupted run finished (s3fast.resume._tree)
        self.resume: TreeJournal | None = None
        #: destination directories this run made or found inside the destination, the most
        #: recent few: checking a directory (its real path, component by component) costs a
        #: dozen system calls, and many objects of a tree share each directory
        self._parents: dict[str, None] = {}

    def prefix_key(self, item: Entry | SyncItem) -> str:
        if isinstance(item, Entry):
            return prefix_of(self.prefix_base, item.relative)
        if isinstance(item, Extra):
            return self.prefix_base  # one bulk delete: the tree's own prefix
        return prefix_of(self.prefix_base, item[0].relative)

    def _prepare_parent(self, root: str, path: str) -> str | None:
        parent = os.path.dirname(path)
        if parent in self._parents:
            return None
        problem = _prepare_parent(root, path)
        if problem is None:
            self._parents[parent] = None
            if len(self._parents) > _PARENTS_KEPT:
                del self._parents[next(iter(self._parents))]
        return problem

    def source_name(self, e: Entry) -> str:
        return f"s3://{self.src.bucket}/{e.location}" if self.src.is_s3 else e.location

    def dest_name(self, e: Entry) -> str | Unsafe:
        if self.dst.is_s3:
            return self.dst.url(e.relative)
        assert self.dst.root is not None
        return local_path(self.dst.root, e.relative)

    async def transfer(self, e: Entry, reason: str = "") -> TreeResult:
        source = self.source_name(e)
        dest = self.dest_name(e)
        op = self.operation
        r: TransferResult | None
        if isinstance(dest, Unsafe):
            return TreeResult(op, source, "", 0, "skipped", f"unsafe key: {dest.reason}")
        if self.dryrun:
            return TreeResult(op, source, dest, e.size, "dryrun", reason)
        try:
            if op == "download":
                assert self.dst.root is not None
                problem = self._prepare_parent(self.dst.root, dest)
                if problem is not None:
                    return TreeResult(op, source, dest, 0, "failed", reason, problem)
                if self.no_clobber and os.path.lexists(dest):
                    return TreeResult(op, source, dest, 0, "skipped", "exists")
                if self.resume is not None:
                    r = await self.resume.download(self.client, source, dest, e.size, e.etag, self.on_progress,
                                                   trust=reason not in SYNC_DIFFERS)
                else:
                    r = await self.client.download(source, dest, on_progress=self.on_progress)
            elif op == "upload" and self.no_clobber:
                put = await self._put_if_absent(source, dest)
                if put is None:
                    return TreeResult(op, source, dest, 0, "skipped", "exists")
                r = put
            elif self.no_clobber and await self._exists(dest):
                return TreeResult(op, source, dest, 0, "skipped", "exists")
            elif op == "upload" and self.resume is not None:
                r = await self.resume.upload(self.client, source, dest, self.on_progress,
                                             trust=reason not in SYNC_DIFFERS)
            elif op == "upload":
                r = await self.client.upload(source, dest, on_progress=self.on_progress)
            else:
                r = await self._copy(e, source, dest)
                if self.on_progress is not None:
                    self.on_progress(r.bytes)
        except PreconditionFailed as exc:
            return TreeResult(op, source, dest, 0, "failed", reason, f"source changed during the copy: {exc}")
        except Exception as exc:  # noqa: BLE001 - one object's failure is its result
            return TreeResult(op, source, dest, 0, "failed", reason, _describe(exc))
        if r is None:  # resumable: an interrupted run finished it
            return TreeResult(op, source, dest, 0, "skipped", DONE_BEFORE)
        return TreeResult(op, source, dest, r.bytes, "done", reason, None, r.bytes_sent, r.parts_skipped, r.resumed)

    async def _copy(self, e: Entry, source: str, dest: str) -> TransferResult:
        head = None
        if e.size <= self.client.config.multipart_threshold and e.etag:
            # The listing gave size and ETag: a CopyObject keeps the metadata by itself and
            # S3 checksums the copy, so the HEAD (half the requests of a small copy) is
            # skipped. A multipart copy still HEADs for metadata and the full checksum.
            src = parse_s3_url(source)
            head = ObjectHead(bucket=src.bucket, key=src.key, size=e.size, etag=e.etag)
        return await self.client.copy(source, dest, head=head)

    async def _put_if_absent(self, path: str, url: str) -> TransferResult | None:
        """An upload with ``If-None-Match: *`` (on the single PUT, or on the multipart
        upload's Complete, which is then aborted): S3 itself refuses to overwrite (412), so a
        writer racing us is never clobbered. None when the key exists."""
        try:
            return await self.client.upload(path, url, if_none_match=True, on_progress=self.on_progress)
        except PreconditionFailed:
            return None

    async def _exists(self, url: str) -> bool:
        # A HEAD, then the write: another writer between the two is not detected. Used for
        # copies only (uploads carry If-None-Match; CopyObject's support for it varies).
        try:
            await self.client.head(url, checksum_mode=False)
        except NoSuchKey:
            return False
        return True

    # -- sync ------------------------------------------------------------------------------------
    async def _checksum_of(self, place: Place, e: Entry, algo: str | None) -> tuple[str, str] | None:
        if place.is_s3:
            head = await self.client.head(f"s3://{place.bucket}/{e.location}", checksum_mode=True)
            if head.checksum is None or head.checksum.type != "FULL_OBJECT":
                return None
            return head.checksum.algorithm, head.checksum.value
        a = _checksum.get(algo) if algo else None
        if a is None:
            return None
        if e.size <= _CRC_INLINE:
            return a.name, a.encode(_file_crc(a, e.location))
        return a.name, a.encode(await asyncio.to_thread(_file_crc, a, e.location))

    async def _same_md5(self, e: Entry, other: Entry) -> bool:
        """Whether the local side's MD5 equals the S3 side's listed ETag (no request needed).

        A single-part object's ETag is its content's MD5 on AWS (SSE-S3 or no encryption) and
        most S3-compatible stores; rclone's ``--checksum`` relies on the same. Equal proves the
        contents equal (MD5 is no weaker a witness than the CRCs compared otherwise); any
        other outcome (a multipart ``-N`` ETag, SSE-KMS, a real difference) is decided by the
        stored full-object CRC as before, so only unchanged objects skip their HEAD."""
        if self.src.is_s3 == self.dst.is_s3:
            return False  # S3 -> S3 compares the stored CRCs
        remote, local = (other, e) if self.dst.is_s3 else (e, other)
        etag = remote.etag.strip('"').lower()
        if len(etag) != 32 or not all(c in _HEX for c in etag):
            return False
        try:
            if local.size <= _CRC_INLINE:
                digest = _file_md5(local.location)
            else:
                digest = await asyncio.to_thread(_file_md5, local.location)
        except (OSError, ValueError):  # unreadable here (the CRC path reports it), or no MD5 (FIPS)
            return False
        return digest == etag

    async def sync_one(self, e: Entry, other: Entry | None, compare: str) -> TreeResult:
        verdict = decide(e, other, compare)
        # Small files: their MD5 costs less than the HEAD it saves. Larger ones: the stored
        # CRC (a HEAD, and a hash many times faster than MD5) first, the MD5 only when the
        # object has no full-object CRC to compare.
        md5_first = e.size <= _MD5_FIRST
        if verdict == NEEDS_CHECKSUM and md5_first:
            assert other is not None
            if await self._same_md5(e, other):
                verdict = SKIP_SAME
        if verdict == NEEDS_CHECKSUM:
            assert other is not None
            try:
                # The S3 side first: it names the algorithm the local file is hashed with.
                if self.dst.is_s3:
                    d = await self._checksum_of(self.dst, other, None)
                    s = await self._checksum_of(self.src, e, d[0] if d else None)
                else:
                    s = await self._checksum_of(self.src, e, None)
                    d = await self._checksum_of(self.dst, other, s[0] if s else None)
            except Exception as exc:  # noqa: BLE001 - reported as this object's failure
                return TreeResult(self.operation, self.source_name(e), "", 0, "failed", "checksum",
                                  _describe(exc))
            verdict = checksum_verdict(s, d)
            if verdict == TRANSFER_NO_CHECKSUM and not md5_first and await self._same_md5(e, other):
                verdict = SKIP_SAME
        if not is_transfer(verdict):
            return self._unchanged(e)
        return await self.transfer(e, verdict)

    def _unchanged(self, e: Entry) -> TreeResult:
        dest = self.dest_name(e)
        return TreeResult(self.operation, self.source_name(e), dest if isinstance(dest, str) else "",
                          0, "skipped", SKIP_SAME)

    def settled(self, item: SyncItem, compare: str) -> list[TreeResult] | None:
        """A sync item's results when the listings alone decide it (unchanged by size and
        time, or by size with ``--size-only``): no request, no task. None: it needs work."""
        if isinstance(item, Extra):
            return None
        e, other = item
        return [self._unchanged(e)] if decide(e, other, compare) == SKIP_SAME else None

    async def work(self, item: Entry | SyncItem, compare: str | None) -> list[TreeResult]:
        """What the engine runs per item: copy an Entry (``compare`` None), else a sync item."""
        if compare is None:
            assert isinstance(item, Entry)
            return [await self.transfer(item)]
        assert not isinstance(item, Entry)
        return await self.sync_item(item, compare)

    async def sync_item(self, item: SyncItem, compare: str) -> list[TreeResult]:
        if isinstance(item, Extra):
            return await self.delete_extra(item.entries)
        return [await self.sync_one(item[0], item[1], compare)]

    async def delete_extra(self, extra: Iterable[Entry]) -> list[TreeResult]:
        """Delete destination entries the source lacks: one DeleteObjects for S3."""
        if not self.dst.is_s3:
            return [_unlink(e.location, self.dryrun) for e in extra]
        bucket = self.dst.bucket
        assert bucket is not None
        keys = [e.location for e in extra]
        if self.dryrun:
            return [TreeResult("delete", "", f"s3://{bucket}/{k}", 0, "dryrun", "not in source") for k in keys]
        try:
            outcome = await self.client.delete_batch(bucket, keys)
        except Exception as exc:  # noqa: BLE001 - each key's failure, reported
            outcome = {k: _describe(exc) for k in keys}
        return [TreeResult("delete", "", f"s3://{bucket}/{k}", 0, "failed" if err else "done", "not in source", err)
                for k, err in outcome.items()]


def _file_md5(path: str) -> str:
    md5 = hashlib.md5(usedforsecurity=False)
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(_MD5_CHUNK):
            md5.update(chunk)
    return md5.hexdigest()


def _file_crc(algo: _checksum.Algorithm, path: str) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        return _checksum.file_range_crc(algo, fd, 0, os.fstat(fd).st_size)
    finally:
        os.close(fd)



def _unlink(path: str, dryrun: bool) -> TreeResult:
    if dryrun:
        return TreeResult("delete", "", path, 0, "dryrun", "not in source")
    try:
        os.unlink(path)
    except OSError as exc:
        return TreeResult("delete", "", path, 0, "failed", "not in source", _describe(exc))
    return TreeResult("delete", "", path, 0, "done", "not in source")



__all__ = ["Extra", "SyncItem", "TreeResult"]
