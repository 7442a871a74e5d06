"""Tree operations: copy a tree, sync two trees, delete many keys, move.

Each is an async iterator of :class:`TreeResult`, one per object in the order they finish;
an object's failure is its result (named, with the error) and the others go on. Memory is
bounded by the engine's window (``_engine.run``): listings are streamed, and ``sync`` merges
its two sorted listings (``_merge``) rather than holding either.
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .. import _checksum
from .._errors import ConfigError, NoSuchKey, PreconditionFailed, S3Error
from .._results import ObjectHead, TransferResult, quick_init
from .._url import S3Url, is_s3_url, parse_s3_url
from ._decide import (
    COMPARES,
    NEEDS_CHECKSUM,
    SKIP_SAME,
    TRANSFER_MISSING,
    TRANSFER_SIZE,
    Entry,
    checksum_verdict,
    decide,
    is_transfer,
)
from ._delete import MAX_BATCH
from ._engine import batched, run
from ._list import list_s3, walk_local
from ._match import Filters, SourcePattern, source_pattern
from ._governed import run_governed
from ._merge import index_join, lists_sorted, merge_sorted
from ._prefixes import PrefixGovernor, prefix_of
from ._paths import Unsafe, is_dir_marker, local_path
from ..resume._tree import DONE_BEFORE, journaled, open_for, shards, without_partials

if TYPE_CHECKING:
    from ..resume._tree import TreeJournal
    from .._client import Client

T = TypeVar("T")

#: objects in flight at once (requests are bounded by the client's limiter, not by this)
DEFAULT_WINDOW = 128
#: what a sync found at the destination that makes a resume journal's "done" out of date
SYNC_DIFFERS = (TRANSFER_MISSING, TRANSFER_SIZE)


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
class Place:
    """One side of a tree operation: a local directory or an S3 prefix (``base``)."""

    root: str | None = None
    bucket: str | None = None
    base: str = ""
    pattern: SourcePattern | None = None

    @property
    def is_s3(self) -> bool:
        return self.bucket is not None

    def url(self, relative: str) -> str:
        return f"s3://{self.bucket}/{self.base}{relative}"


def _dir_base(key: str) -> str:
    return key if not key or key.endswith("/") else key + "/"


def source_place(text: str, *, raw: bool = False) -> Place:
    """A tree source: ``s3://b/prefix`` (the prefix as a directory), ``s3://b/a/*.gz``,
    a directory, or a local wildcard such as ``data/**.csv``."""
    if is_s3_url(text):
        u = parse_s3_url(text, require_key=False)
        pat = source_pattern(u.key, raw=raw)
        if pat is not None:
            return Place(bucket=u.bucket, base=pat.base, pattern=pat)
        return Place(bucket=u.bucket, base=_dir_base(u.key))
    pat = source_pattern(text, raw=raw)
    if pat is not None:
        return Place(root=pat.base or ".", pattern=pat)
    return Place(root=text)


def dest_place(text: str) -> Place:
    if is_s3_url(text):
        u = parse_s3_url(text, require_key=False)
        return Place(bucket=u.bucket, base=_dir_base(u.key))
    return Place(root=text)


async def entries(client: Client, place: Place, filters: Filters, *, follow_symlinks: bool = True,
                  on_listed: Callable[[Entry | None], None] | None = None) -> AsyncIterator[Entry]:
    """The objects or files of ``place`` that its pattern and ``filters`` take."""
    pat = place.pattern
    if place.is_s3:
        assert place.bucket is not None
        listing = list_s3(client, place.bucket, place.base)
    else:
        assert place.root is not None
        if not os.path.isdir(place.root):
            raise ConfigError(f"not a directory: {place.root}")
        listing = walk_local(place.root, follow_symlinks=follow_symlinks)
    async for e in listing:
        if place.is_s3 and is_dir_marker(e.relative, e.size):
            continue
        if pat is not None:
            full = e.location if place.is_s3 else pat.base + e.relative
            if not pat.matches(full):
                continue
        if not e.relative or not filters.accepts(e.relative):
            continue
        if on_listed is not None:
            on_listed(e)
        yield e
    if on_listed is not None:
        on_listed(None)  # the listing is complete: the total is final


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
        #: resumable uploads: the files an interrupted run finished (s3fast.resume._tree)
        self.resume: TreeJournal | None = None

    def prefix_key(self, item: Entry | SyncItem) -> str:
        if isinstance(item, Entry):
            return prefix_of(self.prefix_base, item.relative)
        if isinstance(item, Extra):
            return self.prefix_base  # one bulk delete: the tree's own prefix
        return prefix_of(self.prefix_base, item[0].relative)

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
                problem = _prepare_parent(self.dst.root, dest)
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
        return a.name, a.encode(await asyncio.to_thread(_file_crc, a, e.location))

    async def sync_one(self, e: Entry, other: Entry | None, compare: str) -> TreeResult:
        verdict = decide(e, other, compare)
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
        if not is_transfer(verdict):
            dest = self.dest_name(e)
            return TreeResult(self.operation, self.source_name(e), dest if isinstance(dest, str) else "",
                              0, "skipped", SKIP_SAME)
        return await self.transfer(e, verdict)

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


def _file_crc(algo: _checksum.Algorithm, path: str) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        return _checksum.file_range_crc(algo, fd, 0, os.fstat(fd).st_size)
    finally:
        os.close(fd)


def _filters(include: Iterable[tuple[str, str]] | Filters | None) -> Filters:
    if include is None:
        return Filters()
    if isinstance(include, Filters):
        return include
    return Filters.build(list(include))


async def copy_tree(client: Client, src: str, dst: str, *, filters: Iterable[tuple[str, str]] | Filters | None = None,
                    no_clobber: bool = False, dryrun: bool = False, follow_symlinks: bool = True,
                    raw: bool = False, window: int = DEFAULT_WINDOW,
                    on_listed: Callable[[Entry | None], None] | None = None,
                    on_progress: Callable[[int], None] | None = None,
                    workers: int = 1, client_kwargs: dict[str, Any] | None = None, shard_above: int = 0,
                    on_workers: Callable[[int], None] | None = None,
                    governor: PrefixGovernor | None = None, resumable: bool = False) -> AsyncIterator[TreeResult]:
    """Copy every object under ``src`` (a prefix, a directory, or a wildcard) to ``dst``.

    ``resumable`` (a directory to or from S3): objects an interrupted run finished are
    skipped, large ones continue their multipart upload or partial file (see
    :mod:`s3fast.resume._tree`; with ``workers``, ``client_kwargs`` should name the ``state_dir``).

    ``workers`` > 1 shards the objects over that many processes, each with its own client
    built from ``client_kwargs`` (the :class:`~s3fast.Client` keywords, without ``config``)
    and a 1/N share of this client's target, cap and memory limit; with ``shard_above``, only
    when the tree has more than that many objects (a small tree is done sooner in this
    process than the workers take to start). ``on_workers`` is told the number of processes
    the objects go to. A prefix whose requests meet 503 SlowDown gets fewer objects in
    flight, the others keep theirs (``governor``: pass one to read its report afterwards)."""
    s, d = source_place(src, raw=raw), dest_place(dst)
    tree = _Tree(client, s, d, no_clobber=no_clobber, dryrun=dryrun, on_progress=on_progress)
    if resumable:
        tree.resume = open_for(client, tree.operation, s.root or d.root, src, dst, dryrun=dryrun)
    items = entries(client, s, _filters(filters), follow_symlinks=follow_symlinks, on_listed=on_listed)
    workers, items = await _decide_workers(workers, shard_above, items)
    if on_workers is not None:
        on_workers(workers)
    if workers > 1:
        from ._workers import Job, sharded

        job = Job(_worker_kwargs(client_kwargs), client.config, s, d, no_clobber, dryrun, None, window,
                  tree.resume is not None)
        async for r in shards(tree, items, lambda it: sharded(it, job, workers, governor=governor)):
            if on_progress is not None:
                on_progress(r.bytes)
            yield r
        return
    results = run_governed(items, tree.transfer, window=window, governor=governor or PrefixGovernor(window),
                           key=tree.prefix_key)
    async for r in (results if tree.resume is None else journaled(results, tree.resume)):
        yield r


async def _decide_workers(workers: int, shard_above: int, items: AsyncIterator[T]) -> tuple[int, AsyncIterator[T]]:
    """``workers``, or 1 when the listing ends within ``shard_above`` items; the stream to
    use from now on (the items looked at are held, at most ``shard_above + 1``, and replayed)."""
    if workers <= 1 or shard_above <= 0:
        return workers, items
    head: list[T] = []
    async for item in items:
        head.append(item)
        if len(head) > shard_above:
            return workers, _chain(head, items)
    return 1, _chain(head, items)


async def _chain(head: list[T], rest: AsyncIterator[T]) -> AsyncIterator[T]:
    for item in head:
        yield item
    async for item in rest:
        yield item


def _worker_kwargs(client_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    if client_kwargs is None:
        raise ConfigError("workers > 1 needs client_kwargs: the Client keywords each worker process "
                          "builds its own client with (without config)")
    return client_kwargs


@dataclass(frozen=True)
class Extra:
    """Destination entries the source does not have (``sync --delete``), one bulk delete."""

    entries: tuple[Entry, ...]


#: one unit of sync work: a source entry and its destination counterpart, or deletions
SyncItem = tuple[Entry, Entry | None] | Extra


async def sync(client: Client, src: str, dst: str, *, compare: str = "size-mtime", delete: bool = False,
               filters: Iterable[tuple[str, str]] | Filters | None = None, dryrun: bool = False,
               follow_symlinks: bool = True, window: int = DEFAULT_WINDOW,
               on_listed: Callable[[Entry | None], None] | None = None,
               on_progress: Callable[[int], None] | None = None,
               workers: int = 1, client_kwargs: dict[str, Any] | None = None, shard_above: int = 0,
               on_workers: Callable[[int], None] | None = None,
               governor: PrefixGovernor | None = None, resumable: bool = False) -> AsyncIterator[TreeResult]:
    """Make ``dst`` hold what ``src`` holds: transfer what is missing or different (see
    ``_decide``), and with ``delete`` remove from ``dst`` what ``src`` does not have.
    ``resumable``: as :func:`copy_tree`'s.

    The two listings are merged in key order (``_merge``), so memory stays bounded by the
    engine's window whatever either side holds; a directory bucket (unordered listing) on
    either side makes the destination's listing a table instead."""
    if compare not in COMPARES:
        raise ConfigError(f"compare must be one of {', '.join(COMPARES)}, got {compare!r}")
    f = _filters(filters)
    s, d = source_place(src, raw=True), dest_place(dst)
    tree = _Tree(client, s, d, no_clobber=False, dryrun=dryrun, on_progress=on_progress)
    if resumable:
        tree.resume = open_for(client, tree.operation, s.root or d.root, src, dst, dryrun=dryrun)
    source = entries(client, s, f, follow_symlinks=follow_symlinks, on_listed=on_listed)
    if d.is_s3 or (d.root is not None and os.path.isdir(d.root)):
        dest = entries(client, d, f, follow_symlinks=False)
        if tree.resume is not None and not d.is_s3:
            dest = without_partials(dest)  # a download in progress, not an extra to delete
    else:
        dest = _aiter(())
    items = _sync_items(join_for(s, d)(source, dest), delete)
    workers, items = await _decide_workers(workers, shard_above, items)
    if on_workers is not None:
        on_workers(workers)
    if workers > 1:
        from ._workers import Job, sharded

        job = Job(_worker_kwargs(client_kwargs), client.config, s, d, False, dryrun, compare, window,
                  tree.resume is not None)
        async for r in shards(tree, items, lambda it: sharded(it, job, workers, governor=governor)):
            if on_progress is not None:
                on_progress(r.bytes)
            yield r
        return

    async def one(item: SyncItem) -> list[TreeResult]:
        return await tree.sync_item(item, compare)

    stream = run_governed(items, one, window=window, governor=governor or PrefixGovernor(window), key=tree.prefix_key)
    async for results in (stream if tree.resume is None else journaled(stream, tree.resume)):
        for r in results:
            yield r


def join_for(src: Place, dst: Place) -> Callable[[AsyncIterator[Entry], AsyncIterator[Entry]],
                                                  AsyncIterator[tuple[Entry | None, Entry | None]]]:
    """The merge of two sorted listings, or the table join when a side lists in no order."""
    return merge_sorted if lists_sorted(src.bucket) and lists_sorted(dst.bucket) else index_join


async def _sync_items(pairs: AsyncIterator[tuple[Entry | None, Entry | None]],
                      delete: bool) -> AsyncIterator[SyncItem]:
    """Work items of a sync: each source entry with its counterpart; the destination's extra
    entries gathered into bulk deletes (``delete``) or dropped."""
    extra: list[Entry] = []
    async for src_entry, dst_entry in pairs:
        if src_entry is not None:
            yield src_entry, dst_entry
        elif delete and dst_entry is not None:
            extra.append(dst_entry)
            if len(extra) >= MAX_BATCH:
                yield Extra(tuple(extra))
                extra = []
    if extra:
        yield Extra(tuple(extra))


def _unlink(path: str, dryrun: bool) -> TreeResult:
    if dryrun:
        return TreeResult("delete", "", path, 0, "dryrun", "not in source")
    try:
        os.unlink(path)
    except OSError as exc:
        return TreeResult("delete", "", path, 0, "failed", "not in source", _describe(exc))
    return TreeResult("delete", "", path, 0, "done", "not in source")


async def _aiter(items: Iterable[T]) -> AsyncIterator[T]:
    for item in items:
        yield item


async def _delete_keys(client: Client, bucket: str, keys: Iterable[str] | AsyncIterator[str], *,
                       dryrun: bool = False, window: int = 4) -> AsyncIterator[TreeResult]:
    stream: AsyncIterator[str] = keys if isinstance(keys, AsyncIterator) else _aiter(keys)

    async def one(batch: list[str]) -> list[TreeResult]:
        if dryrun:
            return [TreeResult("delete", "", f"s3://{bucket}/{k}", 0, "dryrun") for k in batch]
        outcome = await client.delete_batch(bucket, batch)
        return [TreeResult("delete", "", f"s3://{bucket}/{k}", 0, "failed" if err else "done", "", err)
                for k, err in outcome.items()]

    async for results in run(batched(stream, MAX_BATCH), one, window=window):
        for r in results:
            yield r


async def delete_tree(client: Client, url: str, *, filters: Iterable[tuple[str, str]] | Filters | None = None,
                      raw: bool = False, dryrun: bool = False,
                      on_listed: Callable[[Entry | None], None] | None = None) -> AsyncIterator[TreeResult]:
    """Delete every object under the prefix (or matching the wildcard) ``url``, 1,000 a request."""
    place = source_place(url, raw=raw)
    if not place.is_s3:
        raise ConfigError(f"not an S3 URL: {url!r}")
    assert place.bucket is not None
    keys = (e.location async for e in entries(client, place, _filters(filters), on_listed=on_listed))
    async for r in _delete_keys(client, place.bucket, keys, dryrun=dryrun):
        yield r


async def delete_many(client: Client, urls: Iterable[str], *, dryrun: bool = False) -> AsyncIterator[TreeResult]:
    """Delete these objects (``s3://bucket/key`` each), grouped by bucket, 1,000 a request."""
    by_bucket: dict[str, list[str]] = {}
    for text in urls:
        u: S3Url = parse_s3_url(text)
        by_bucket.setdefault(u.bucket, []).append(u.key)
    for bucket, keys in by_bucket.items():
        async for r in _delete_keys(client, bucket, keys, dryrun=dryrun):
            yield r


async def move_tree(client: Client, src: str, dst: str, **kwargs: object) -> AsyncIterator[TreeResult]:
    """``copy_tree``, then delete each source object that was copied (and only those)."""
    dryrun = bool(kwargs.get("dryrun", False))
    pending: dict[str, list[str]] = {}
    async for r in copy_tree(client, src, dst, **kwargs):  # type: ignore[arg-type]
        yield r
        if r.status != ("dryrun" if dryrun else "done") and r.reason != DONE_BEFORE:
            continue  # (an object a resumed interrupted run moved is at the destination: its source goes)
        if is_s3_url(r.source):
            u = parse_s3_url(r.source)
            batch = pending.setdefault(u.bucket, [])
            batch.append(u.key)
            if len(batch) >= MAX_BATCH:
                async for d in _delete_keys(client, u.bucket, pending.pop(u.bucket), dryrun=dryrun):
                    yield d
        else:
            yield _unlink(r.source, dryrun)
    for bucket, keys in pending.items():
        async for d in _delete_keys(client, bucket, keys, dryrun=dryrun):
            yield d


__all__ = ["DEFAULT_WINDOW", "Extra", "Place", "TreeResult", "copy_tree", "delete_many", "delete_tree", "dest_place",
           "entries", "move_tree", "source_place", "sync"]
