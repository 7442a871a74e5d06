"""Resumable trees (``cp -r``, ``sync`` and ``mv`` with ``--resumable``): which objects are
done, and each object's own resume.

One journal per (direction, source, destination)::

    {"t": "tree", "v": 1, "source": ..., "destination": ...}
    {"t": "done", "path": local path, "size", "mtime_ns", "inode"[, "etag"]}   one per object

Uploads (``source`` the directory's realpath, ``destination`` the URL): ``path`` is the
file sent, stamped before its upload started. Downloads (``source`` the URL, ``destination``
the directory's realpath): ``path`` is the file written, stamped once it has its name, and
``etag`` the object's as listed. A rerun skips an object recorded done when its file still
has that stamp (and, downloading, the listing still gives that ETag). A download rerun also
skips a file present but not recorded (the run was killed between naming the file and
recording it) when its bytes are provably the object's: its MD5 is the object's plain
(MD5) ETag, or its CRC the full-object checksum S3 stored; anything else is fetched again.

Everything else is transferred; an object above the multipart threshold resumably (an
upload continues its multipart upload, a download its partial file: each has its own
journal). A smaller one is one request: nothing to resume, and a journal with its fsync
per small file would cost more than it could save.

A record is appended once the object is done (no fsync: it outlives a killed process; a
record lost to a power cut costs one object moved again). The journal is removed when a
run ends with every object done or skipped; otherwise it is kept (fsync) for the next run.

``--workers``: the parent process alone owns the tree journal (its skips before the
hand-off, its records as results come back); the workers resume each large object through
its own journal, which is keyed by the object and its local path, not by the worker, so a
rerun with another worker count finds the same journals.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import stat as stat_
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .. import _checksum
from .._errors import ConfigError
from ._log import RecordLog, journal_path
from ._partial import SUFFIX
from ._plan import SourceStamp, is_md5_etag

if TYPE_CHECKING:
    from .._client import Client
    from .._results import TransferResult
    from ..tree._object import TreeResult

R = TypeVar("R")
E = TypeVar("E")

VERSION = 1
#: the reason of an object skipped because an interrupted run finished it
DONE_BEFORE = "done in the interrupted run"


def tree_identity(source: str, destination: str, kind: str = "upload") -> str:
    return json.dumps([f"tree-{kind}", source, destination])


@dataclass(frozen=True)
class Done:
    """What the journal says of one finished object."""

    stamp: SourceStamp
    etag: str = ""


def done_files(records: list[dict[str, Any]], source: str, destination: str) -> dict[str, Done]:
    """The objects an earlier run finished (pure): local path -> its record. Nothing when
    the journal is for another tree or unreadable."""
    if not records:
        return {}
    head = records[0]
    if (head.get("t") != "tree" or head.get("v") != VERSION or head.get("source") != source
            or head.get("destination") != destination):
        return {}
    done: dict[str, Done] = {}
    for rec in records[1:]:
        path, size, mtime, inode = rec.get("path"), rec.get("size"), rec.get("mtime_ns"), rec.get("inode")
        etag = rec.get("etag", "")
        if (rec.get("t") == "done" and isinstance(path, str) and isinstance(size, int) and isinstance(mtime, int)
                and isinstance(inode, int) and isinstance(etag, str)):
            done[path] = Done(SourceStamp(size, mtime, inode), etag)
    return done


def stamp_of(path: str) -> SourceStamp | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return SourceStamp.of(st) if stat_.S_ISREG(st.st_mode) else None


class TreeJournal:
    """The open journal of one resumable tree (``log`` None: a worker process, which resumes
    each large object but leaves the tree's bookkeeping to the parent)."""

    def __init__(self, log: RecordLog | None, done: dict[str, Done], *, kind: str = "upload",
                 resumed: bool = False) -> None:
        self.log = log
        self._done = done
        self.kind = kind
        #: a journal of an interrupted run was found (present files are then checked)
        self.resumed = resumed
        #: an object failed: the run is not complete (the journal is kept)
        self.incomplete = False

    def __repr__(self) -> str:
        return f"<TreeJournal {self.kind} {self.log!r} done={len(self._done)}>"

    @classmethod
    def open(cls, base: Path, source: str, destination: str, *, kind: str = "upload") -> TreeJournal:
        """``source`` a directory and ``destination`` a URL (uploads), or the reverse."""
        if kind == "upload":
            source = os.path.realpath(source)
        else:
            destination = os.path.realpath(destination)
        log, replay = RecordLog.open(journal_path(base, kind, tree_identity(source, destination, kind)))
        done = done_files(replay.records, source, destination)
        ours = bool(replay.records) and replay.records[0].get("t") == "tree" and \
            replay.records[0].get("source") == source and replay.records[0].get("destination") == destination
        if not ours:
            log.close()
            log, _ = RecordLog.open(log.path, fresh=True)
            log.append({"t": "tree", "v": VERSION, "source": source, "destination": destination})
            log.sync()
        return cls(log, done, kind=kind, resumed=ours)

    @classmethod
    def per_object(cls, kind: str) -> TreeJournal:
        """A worker's: each large object resumable, no tree journal (the parent keeps it)."""
        return cls(None, {}, kind=kind)

    # -- the decisions ---------------------------------------------------------------------------
    def finished(self, path: str, stamp: SourceStamp | None, etag: str = "") -> bool:
        """Whether an earlier run moved ``path`` as it is now (and, downloading, the object
        as it is listed now)."""
        rec = self._done.get(path)
        return stamp is not None and rec is not None and rec.stamp == stamp and rec.etag == etag

    async def already_there(self, client: Client, url: str, path: str, size: int, etag: str) -> bool:
        """A download's file present but not recorded: whether its bytes are provably the
        object's (see the module). Only on a rerun: a first run overwrites as ``cp`` does."""
        if not self.resumed:
            return False
        stamp = stamp_of(path)
        if stamp is None or stamp.size != size:
            return False
        if is_md5_etag(etag):
            return await asyncio.to_thread(_md5_hex, path) == etag.strip('"').lower()
        head = await client.head(url, checksum_mode=True)
        cs = head.checksum
        if head.etag.strip('"') != etag.strip('"') or cs is None or cs.type != "FULL_OBJECT" or cs.algorithm not in _checksum.ALGORITHMS:
            return False
        algo = _checksum.ALGORITHMS[cs.algorithm]
        return algo.encode(await asyncio.to_thread(_crc, algo, path)) == cs.value

    # -- one object ------------------------------------------------------------------------------
    async def upload(self, client: Client, source: str, dest: str, on_progress: Any, *,
                     trust: bool = True) -> TransferResult | None:
        """Upload ``source`` (resumably when large); None: an earlier run did (skip it).
        ``trust``: False when the destination is known to lack it (a sync's listing, which
        outranks the journal)."""
        stamp = stamp_of(source)
        if trust and self.finished(source, stamp):
            return None
        r = await client.upload(source, dest, on_progress=on_progress, resumable=True)
        self.record(source, stamp)
        return r

    async def download(self, client: Client, url: str, dest: str, size: int, etag: str,
                       on_progress: Any, *, trust: bool = True) -> TransferResult | None:
        """Download ``url`` to ``dest`` (through a partial file when large); None: an
        earlier run did (skip it). ``trust``: as for :meth:`upload`."""
        if trust and (self.finished(dest, stamp_of(dest), etag)
                      or await self.already_there(client, url, dest, size, etag)):
            self.record(dest, stamp_of(dest), etag)  # (again: a later rerun skips it at once)
            return None
        large = size > client.config.multipart_threshold
        r = await client.download(url, dest, on_progress=on_progress, resumable=large)
        self.record(dest, stamp_of(dest), etag)
        return r

    # -- --workers: the parent's side -------------------------------------------------------------
    async def sharded(self, client: Client, items: AsyncIterator[Any], names: Callable[[Any], tuple[str, Any]],
                      run: Callable[[AsyncIterator[Any]], AsyncIterator[TreeResult]]) -> AsyncIterator[TreeResult]:
        """``run`` (the worker processes) over ``items`` less what an interrupted run finished
        (those come out as skipped results); each object a worker finished is recorded here.
        ``names(item)``: its source and destination (a destination that is not a str: an
        unsafe key, which the workers report). Items may be an Entry, a sync pair (its
        entry first) or anything else (passed on as it is)."""
        from ..tree._object import TreeResult

        upload = self.kind == "upload"
        out: asyncio.Queue[Any] = asyncio.Queue(maxsize=64)
        pending: dict[str, tuple[SourceStamp | None, str]] = {}
        end = object()

        async def feed() -> AsyncIterator[Any]:
            async for item in items:
                entry = item[0] if isinstance(item, tuple) else item
                source, dest = names(entry) if hasattr(entry, "relative") else ("", None)
                # A sync whose destination lacks it, or holds another size: its listing outranks the journal.
                trust = not isinstance(item, tuple) or (item[1] is not None and item[1].size == entry.size)
                if isinstance(dest, str):
                    local = source if upload else dest
                    stamp = stamp_of(local)
                    etag = "" if upload else entry.etag
                    if trust and (self.finished(local, stamp, etag) or (
                            not upload and await self.already_there(client, source, dest, entry.size, etag))):
                        if not upload:
                            self.record(dest, stamp_of(dest), etag)
                        await out.put(TreeResult(self.kind, source, dest, 0, "skipped", DONE_BEFORE))
                        continue
                    pending[local] = (stamp if upload else None, etag)
                yield item

        async def pump() -> None:
            try:
                async for r in run(feed()):
                    local = r.source if upload else r.destination
                    stamp, etag = pending.pop(local, (None, ""))
                    if r.status == "done" and r.operation == self.kind:
                        self.record(local, stamp if upload else stamp_of(local), etag)
                    await out.put(r)
            except BaseException as exc:  # noqa: BLE001 - raised to the consumer below
                await out.put(_Failed(exc))
            finally:
                await out.put(end)

        task = asyncio.create_task(pump())
        try:
            while (got := await out.get()) is not end:
                if isinstance(got, _Failed):
                    raise got.exc
                yield got
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def record(self, path: str, stamp: SourceStamp | None, etag: str = "") -> None:
        if stamp is not None and self.log is not None:
            rec: dict[str, Any] = {"t": "done", "path": path, "size": stamp.size, "mtime_ns": stamp.mtime_ns,
                                   "inode": stamp.inode}
            if etag:
                rec["etag"] = etag
            self.log.append(rec)

    def close(self, complete: bool) -> None:
        """``complete``: every object is done, the journal goes; else it is kept (fsync)."""
        if self.log is None:
            return
        if complete and not self.incomplete:
            self.log.discard()
            return
        try:
            self.log.sync()
        finally:
            self.log.close()


def shards(tree: Any, items: AsyncIterator[Any],
           run: Callable[[AsyncIterator[Any]], AsyncIterator[TreeResult]]) -> AsyncIterator[TreeResult]:
    """``tree``'s work (a ``tree._ops._Tree``) sharded by ``run``; resumable: the parent
    skips and records (:meth:`TreeJournal.sharded`)."""
    journal: TreeJournal | None = tree.resume
    if journal is None:
        return run(items)
    names = lambda e: (tree.source_name(e), tree.dest_name(e))  # noqa: E731
    return journaled(journal.sharded(tree.client, items, names, run), journal)


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def open_for(client: Client, operation: str, local_root: str | None, src: str, dst: str, *,
             dryrun: bool) -> TreeJournal:
    """The journal of a resumable tree ``operation`` ("upload" | "download" | "copy") from
    ``src`` to ``dst`` (``local_root``: the local side's directory); ConfigError for what
    cannot resume."""
    if operation == "copy" or local_root is None:
        raise ConfigError("--resumable: an S3 -> S3 copy is done inside S3, there is nothing to resume; "
                          "run it without --resumable")
    if dryrun:
        raise ConfigError("--resumable and --dryrun: a dry run moves nothing, there is nothing to resume")
    if operation == "upload":
        return TreeJournal.open(client.state_path(), local_root, dst)
    return TreeJournal.open(client.state_path(), src, local_root, kind="download")


async def journaled(results: AsyncIterator[R], journal: TreeJournal) -> AsyncIterator[R]:
    """``results`` (each one result or a list of them) as they come, the journal told of a
    failure; it is kept (for the next run) unless every result came and none failed."""
    complete = False
    try:
        async for r in results:
            if any(getattr(x, "status", "") == "failed" for x in (r if isinstance(r, list) else [r])):
                journal.incomplete = True
            yield r
        complete = True
    finally:
        journal.close(complete)


async def without_partials(listing: AsyncIterator[E]) -> AsyncIterator[E]:
    """A local destination's listing without the partial files of resumable downloads."""
    async for e in listing:
        if not getattr(e, "relative", "").endswith(SUFFIX):
            yield e


def _md5_hex(path: str) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _crc(algo: _checksum.Algorithm, path: str) -> int:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return _checksum.file_range_crc(algo, fd, 0, os.fstat(fd).st_size)
    finally:
        os.close(fd)


__all__ = ["DONE_BEFORE", "Done", "TreeJournal", "done_files", "journaled", "open_for", "shards", "stamp_of",
           "tree_identity", "without_partials"]
