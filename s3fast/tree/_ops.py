"""Tree operations: copy a tree, sync two trees, delete many keys, move.

Each is an async iterator of :class:`TreeResult`, one per object in the order they finish;
an object's failure is its result (named, with the error) and the others go on. Memory is
bounded by the engine's window (``_engine.run``), except that ``sync`` holds the
destination's listing as a table of (name, size, mtime) to look each source up in, whatever
order either side lists in.
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import _checksum
from .._errors import ConfigError, NoSuchKey, PreconditionFailed, S3Error
from .._results import ObjectHead, TransferResult, quick_init
from .._url import S3Url, is_s3_url, parse_s3_url
from ._decide import (
    COMPARES,
    NEEDS_CHECKSUM,
    SKIP_SAME,
    Entry,
    checksum_verdict,
    decide,
    is_transfer,
)
from ._delete import MAX_BATCH
from ._engine import batched, run
from ._list import list_s3, walk_local
from ._match import Filters, SourcePattern, source_pattern
from ._paths import Unsafe, is_dir_marker, local_path

if TYPE_CHECKING:
    from ..resume._tree import TreeJournal
    from .._client import Client

#: objects in flight at once (requests are bounded by the client's limiter, not by this)
DEFAULT_WINDOW = 128


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
        #: resumable uploads: the files an interrupted run finished (s3fast.resume._tree)
        self.resume: TreeJournal | None = None

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
                r = await self.client.download(source, dest, on_progress=self.on_progress)
            elif op == "upload" and self.no_clobber and e.size <= self.client.config.multipart_threshold:
                put = await self._put_if_absent(source, dest)
                if put is None:
                    return TreeResult(op, source, dest, 0, "skipped", "exists")
                r = put
            elif self.no_clobber and await self._exists(dest):
                return TreeResult(op, source, dest, 0, "skipped", "exists")
            elif op == "upload" and self.resume is not None:
                stamp = self.resume.stamp(source)
                if self.resume.finished(source, stamp):
                    return TreeResult(op, source, dest, 0, "skipped", "done in the interrupted run")
                r = await self.client.upload(source, dest, on_progress=self.on_progress, resumable=True)
                self.resume.record(source, stamp)
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
        return TreeResult(op, source, dest, r.bytes, "done", reason)

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
        """A single PUT with ``If-None-Match: *``: S3 itself refuses to overwrite (412), so a
        writer racing us is never clobbered. None when the key exists."""
        try:
            return await self.client.upload(path, url, if_none_match=True, on_progress=self.on_progress)
        except PreconditionFailed:
            return None

    async def _exists(self, url: str) -> bool:
        # A HEAD, then the write: another writer between the two is not detected. Used for
        # copies and multipart uploads (whose conditional header belongs on
        # CompleteMultipartUpload, which the upload path does not take).
        try:
            await self.client.head(url, checksum_mode=False)
        except NoSuchKey:
            return False
        return True

    # -- sync ------------------------------------------------------------------------------------
    async def _checksum_of(self, place: Place, e: Entry, algo: str | None) -> tuple[str, str] | None:
        if place.is_s3:
            head = await self.client.head(f"s3://{place.bucket}/{e.location}", checksum_mode=True)
            if head.checksum is None or head.checksum[2] != "FULL_OBJECT":
                return None
            return head.checksum[0], head.checksum[1]
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
                    workers: int = 1, client_kwargs: dict[str, Any] | None = None,
                    resumable: bool = False) -> AsyncIterator[TreeResult]:
    """Copy every object under ``src`` (a prefix, a directory, or a wildcard) to ``dst``.

    ``resumable`` (uploads, one process): files an interrupted run finished are skipped, and
    large files resume their multipart uploads (see :mod:`s3fast.resume._tree`).

    ``workers`` > 1 shards the objects over that many processes, each with its own client
    built from ``client_kwargs`` (the :class:`~s3fast.Client` keywords, without ``config``)
    and a 1/N share of this client's target, cap and memory limit."""
    s, d = source_place(src, raw=raw), dest_place(dst)
    tree = _Tree(client, s, d, no_clobber=no_clobber, dryrun=dryrun, on_progress=on_progress)
    if resumable:
        if tree.operation != "upload" or workers > 1 or dryrun or s.root is None:
            raise ConfigError("a resumable tree copy uploads a local directory in one process "
                              "(no --workers, no --dryrun)")
        from ..resume._tree import TreeJournal

        tree.resume = TreeJournal.open(client.state_path(), s.root, dst)
    items = entries(client, s, _filters(filters), follow_symlinks=follow_symlinks, on_listed=on_listed)
    if tree.resume is not None:
        complete = False
        try:
            async for r in run(items, tree.transfer, window=window):
                if r.status == "failed":
                    tree.resume.incomplete = True
                yield r
            complete = True
        finally:
            tree.resume.close(complete)
        return
    if workers > 1:
        from ._workers import Job, sharded

        job = Job(_worker_kwargs(client_kwargs), client.config, s, d, no_clobber, dryrun, None, window)
        async for r in sharded(items, job, workers):
            if on_progress is not None:
                on_progress(r.bytes)
            yield r
        return
    async for r in run(items, tree.transfer, window=window):
        yield r


def _worker_kwargs(client_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    if client_kwargs is None:
        raise ConfigError("workers > 1 needs client_kwargs: the Client keywords each worker process "
                          "builds its own client with (without config)")
    return client_kwargs


async def sync(client: Client, src: str, dst: str, *, compare: str = "size-mtime", delete: bool = False,
               filters: Iterable[tuple[str, str]] | Filters | None = None, dryrun: bool = False,
               follow_symlinks: bool = True, window: int = DEFAULT_WINDOW,
               on_listed: Callable[[Entry | None], None] | None = None,
               on_progress: Callable[[int], None] | None = None,
               workers: int = 1, client_kwargs: dict[str, Any] | None = None) -> AsyncIterator[TreeResult]:
    """Make ``dst`` hold what ``src`` holds: transfer what is missing or different (see
    ``_decide``), and with ``delete`` remove from ``dst`` what ``src`` does not have."""
    if compare not in COMPARES:
        raise ConfigError(f"compare must be one of {', '.join(COMPARES)}, got {compare!r}")
    f = _filters(filters)
    s, d = source_place(src, raw=True), dest_place(dst)
    tree = _Tree(client, s, d, no_clobber=False, dryrun=dryrun, on_progress=on_progress)
    index: dict[str, Entry] = {}
    if d.is_s3 or (d.root is not None and os.path.isdir(d.root)):
        async for e in entries(client, d, f, follow_symlinks=False):
            index[e.relative] = e

    async def pairs() -> AsyncIterator[tuple[Entry, Entry | None]]:
        async for e in entries(client, s, f, follow_symlinks=follow_symlinks, on_listed=on_listed):
            yield e, index.pop(e.relative, None)

    async def one(pair: tuple[Entry, Entry | None]) -> TreeResult:
        return await tree.sync_one(pair[0], pair[1], compare)

    if workers > 1:
        from ._workers import Job, sharded

        job = Job(_worker_kwargs(client_kwargs), client.config, s, d, False, dryrun, compare, window)
        async for r in sharded(pairs(), job, workers):
            if on_progress is not None:
                on_progress(r.bytes)
            yield r
    else:
        async for r in run(pairs(), one, window=window):
            yield r
    if delete and index:
        extra = index.values()
        if d.is_s3:
            assert d.bucket is not None
            async for r in _delete_keys(client, d.bucket, (e.location for e in extra), dryrun=dryrun):
                yield r
        else:
            for e in list(extra):
                yield _unlink(e.location, dryrun)


def _unlink(path: str, dryrun: bool) -> TreeResult:
    if dryrun:
        return TreeResult("delete", "", path, 0, "dryrun", "not in source")
    try:
        os.unlink(path)
    except OSError as exc:
        return TreeResult("delete", "", path, 0, "failed", "not in source", _describe(exc))
    return TreeResult("delete", "", path, 0, "done", "not in source")


async def _aiter(keys: Iterable[str]) -> AsyncIterator[str]:
    for k in keys:
        yield k


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
        if r.status != ("dryrun" if dryrun else "done"):
            continue
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


__all__ = ["DEFAULT_WINDOW", "Place", "TreeResult", "copy_tree", "delete_many", "delete_tree", "dest_place",
           "entries", "move_tree", "source_place", "sync"]
