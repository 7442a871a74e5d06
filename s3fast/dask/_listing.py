"""The driver's listing of an S3 source: key ranges listed in parallel, merged as they come.

One ListObjectsV2 stream delivers about 1,000 keys a round trip, one round trip at a time;
workers copy faster than that once objects are small. So the driver first lists one level
with a delimiter: its first page's common prefixes cut the key space into ranges
``(p[i], p[i+1]]``, which are listed flat and side by side (``start-after`` the lower bound,
stopping past the upper one), at most ``width`` at once. Ranges rather than one listing per
prefix: a tree of many tiny prefixes costs a few more requests than one stream, not one per
prefix. Each key lies in exactly one range (the bounds compare as S3 orders keys: code
points, i.e. UTF-8 bytes). Order is not kept, a copy needs none; the queue between the
range listers and the batcher bounds what is held.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ..tree._decide import Entry, parse_s3_time

if TYPE_CHECKING:
    from .._client import Client

#: range listings in flight at once
LIST_WIDTH = 8
#: listed entries waiting for the batcher
QUEUE_ENTRIES = 4096


def split_points(prefixes: list[str], width: int) -> list[str]:
    """At most ``width - 1`` bounds, evenly spread over the sorted ``prefixes`` (pure)."""
    prefixes = sorted(prefixes)
    if width < 2 or not prefixes:
        return []
    if len(prefixes) < width:
        return prefixes
    step = len(prefixes) / (width - 1)
    return sorted({prefixes[int(i * step)] for i in range(width - 1)})


async def list_s3_parallel(client: Client, bucket: str, base: str, *,
                           width: int = LIST_WIDTH) -> AsyncIterator[Entry]:
    """Every object whose key starts with ``base`` (as :func:`s3fast.tree._list.list_s3`,
    in no particular order)."""
    n = len(base)

    def entry(obj: Any) -> Entry:
        return Entry(obj.key[n:], obj.size, parse_s3_time(obj.last_modified), obj.key, obj.etag)

    first = None
    async for page in client.list_pages(bucket, base, delimiter="/"):
        first = page
        break
    bounds = split_points(first.prefixes if first is not None else [], width)
    if not bounds:  # one level, no prefixes: the delimited page was the whole listing's start
        async for page in client.list_pages(bucket, base):
            for obj in page.objects:
                yield entry(obj)
        return
    queue: asyncio.Queue[Entry | BaseException | None] = asyncio.Queue(QUEUE_ENTRIES)

    async def one_range(lo: str | None, hi: str | None) -> None:
        async for page in client.list_pages(bucket, base, start_after=lo):
            for obj in page.objects:
                if hi is not None and obj.key > hi:
                    return  # the next range's
                await queue.put(entry(obj))

    los: list[str | None] = [None, *bounds]
    his: list[str | None] = [*bounds, None]
    ranges = [asyncio.ensure_future(one_range(lo, hi)) for lo, hi in zip(los, his)]

    async def watch() -> None:
        try:
            await asyncio.gather(*ranges)
        except Exception as exc:  # noqa: BLE001 - handed to the reader, which raises it
            await queue.put(exc)
            return
        await queue.put(None)

    tasks = [*ranges, asyncio.ensure_future(watch())]
    try:
        while True:
            item = await queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        # the reader stopped (done, failed, or closed early): no range lister outlives it
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


__all__ = ["LIST_WIDTH", "list_s3_parallel", "split_points"]
