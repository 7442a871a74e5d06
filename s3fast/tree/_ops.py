"""Tree operations: copy a tree, sync two trees, delete many keys, move.

Each is an async iterator of :class:`TreeResult`, one per object in the order they finish;
an object's failure is its result (named, with the error) and the others go on. Memory is
bounded by the engine's window (``_engine.run``): listings are streamed, and ``sync`` merges
its two sorted listings (``_merge``) rather than holding either. The work on each object is
``_object._Tree``'s; :func:`_fan_out` runs it here or shards it over worker processes.
"""
from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from .._errors import ConfigError
from .._url import S3Url, is_s3_url, parse_s3_url
from ._decide import COMPARES, Entry
from ._delete import MAX_BATCH
from ._engine import DEFAULT_WINDOW, batched, chain, run, settled_aside
from ._match import Filters
from ._merge import index_join, lists_sorted, merge_sorted, probe_order
from ._object import Extra, SyncItem, TreeResult, _unlink
from ._object import _Tree as _Tree  # s3fast.dask runs the same per-object work
from ._places import Place, dest_place, entries, inner_prefix, source_place
from ._prefixes import PrefixGovernor
from ..resume._tree import DONE_BEFORE, journaled, open_for, shards, without_partials

if TYPE_CHECKING:
    from .._client import Client

T = TypeVar("T")



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
    the objects go to (1 when every object was settled here and no worker started). A prefix whose requests meet 503 SlowDown gets fewer objects in
    flight, the others keep theirs (``governor``: pass one to read its report afterwards)."""
    s, d = source_place(src, raw=raw), dest_place(dst)
    tree = _Tree(client, s, d, no_clobber=no_clobber, dryrun=dryrun, on_progress=on_progress)
    if resumable:
        tree.resume = open_for(client, tree.operation, s.root or d.root, src, dst, dryrun=dryrun)
    items = entries(client, s, _filters(filters), follow_symlinks=follow_symlinks, on_listed=on_listed,
                    leave_out=inner_prefix(s, d))
    async for r in _fan_out(tree, items, None, window=window, workers=workers, client_kwargs=client_kwargs,
                            shard_above=shard_above, on_workers=on_workers, governor=governor):
        yield r


async def _fan_out(tree: _Tree, items: AsyncIterator[Entry | SyncItem], compare: str | None, *,
                   window: int, workers: int, client_kwargs: dict[str, Any] | None = None, shard_above: int = 0,
                   on_workers: Callable[[int], None] | None = None,
                   governor: PrefixGovernor | None = None) -> AsyncIterator[TreeResult]:
    """Run ``tree.work`` over ``items`` here, or in ``workers`` processes when the tree is
    big enough (``shard_above``); the results as they finish. A resumable tree's journal
    (``tree.resume``) skips and records here, in the parent, whichever way the work runs."""
    def settled(item: Entry | SyncItem) -> list[TreeResult] | None:
        return None if compare is None or isinstance(item, Entry) else tree.settled(item, compare)

    workers, items = await _decide_workers(workers, shard_above, items)
    if workers > 1:
        from ._workers import Job, sharded

        job = Job(_worker_kwargs(client_kwargs), tree.client.config, tree.src, tree.dst, tree.no_clobber,
                  tree.dryrun, compare, window, tree.resume is not None)
        started: list[int] = []

        def on_start(n: int) -> None:
            started.append(n)
            if on_workers is not None:
                on_workers(n)

        def to_workers(rest: AsyncIterator[Entry | SyncItem]) -> AsyncIterator[TreeResult]:
            return shards(tree, rest, lambda it: sharded(it, job, workers, governor=governor, on_start=on_start))

        async for r in settled_aside(items, settled, to_workers, bound=window):
            if tree.on_progress is not None:
                tree.on_progress(r.bytes)
            yield r
        if not started and on_workers is not None:
            on_workers(1)  # every object was settled here: no process started
        return
    if on_workers is not None:
        on_workers(workers)

    async def one(item: Entry | SyncItem) -> list[TreeResult]:
        return await tree.work(item, compare)

    stream = run(items, one, window=window, governor=governor or PrefixGovernor(window), key=tree.prefix_key,
                 settled=settled)
    async for results in (stream if tree.resume is None else journaled(stream, tree.resume)):
        for r in results:
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
            return workers, chain(head, items)
    return 1, chain(head, items)


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
               workers: int = 1, client_kwargs: dict[str, Any] | None = None, shard_above: int = 0,
               on_workers: Callable[[int], None] | None = None,
               governor: PrefixGovernor | None = None, resumable: bool = False) -> AsyncIterator[TreeResult]:
    """Make ``dst`` hold what ``src`` holds: transfer what is missing or different (see
    ``_decide``), and with ``delete`` remove from ``dst`` what ``src`` does not have.
    ``resumable``: as :func:`copy_tree`'s.

    The two listings are merged in key order (``_merge``), so memory stays bounded by the
    engine's window whatever either side holds; a directory bucket, or an S3 side whose
    first listing page is out of order, on either side makes the destination's listing a
    table instead."""
    if compare not in COMPARES:
        raise ConfigError(f"compare must be one of {', '.join(COMPARES)}, got {compare!r}")
    f = _filters(filters)
    s, d = source_place(src, raw=True), dest_place(dst)
    tree = _Tree(client, s, d, no_clobber=False, dryrun=dryrun, on_progress=on_progress)
    if resumable:
        tree.resume = open_for(client, tree.operation, s.root or d.root, src, dst, dryrun=dryrun)
    source = entries(client, s, f, follow_symlinks=follow_symlinks, on_listed=on_listed,
                     leave_out=inner_prefix(s, d))
    if d.is_s3 or (d.root is not None and os.path.isdir(d.root)):
        dest = entries(client, d, f, follow_symlinks=False, leave_out=inner_prefix(d, s))
        if tree.resume is not None and not d.is_s3:
            dest = without_partials(dest)  # a download in progress, not an extra to delete
    else:
        dest = _aiter(())
    join = join_for(s, d)
    if join is merge_sorted:
        # A bucket's name does not promise a sorted listing: its first page is looked at.
        src_sorted = dst_sorted = True
        if s.is_s3:
            src_sorted, source = await probe_order(source)
        if d.is_s3 and src_sorted:
            dst_sorted, dest = await probe_order(dest)
        if not (src_sorted and dst_sorted):
            join = index_join
    items = _sync_items(join(source, dest), delete)
    async for r in _fan_out(tree, items, compare, window=window, workers=workers, client_kwargs=client_kwargs,
                            shard_above=shard_above, on_workers=on_workers, governor=governor):
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



__all__ = ["DEFAULT_WINDOW", "Extra", "Place", "SyncItem", "TreeResult", "copy_tree", "delete_many",
           "delete_tree", "dest_place", "entries", "move_tree", "source_place", "sync"]
