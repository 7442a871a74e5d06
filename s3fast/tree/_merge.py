"""Pair a sync's source and destination entries by relative key, holding O(1) of either.

S3 lists a general-purpose bucket's keys in UTF-8 binary order, and the local walk
(``_list.walk_local``) yields the same order, so the two sides are merged like two sorted
files: one entry of each side is held at a time, whatever the number of keys.

    src:  a   b       d
    dst:      b   c   d   e
    out: (a,-) (b,b) (-,c) (d,d) (-,e)

Order is checked, not assumed: a side that goes backwards raises :class:`OutOfOrder` before
its entry is used. Up to that point every verdict was sound (a destination entry is only
called "not in the source" once the source has passed its key), so a stop there leaves the
destination with nothing wrongly deleted. S3 Express directory buckets list out of order by
design, and some S3-compatible stores list any bucket so (:func:`probe_order` sees it in the
first page): :func:`index_join` pairs their entries by looking the destination up in a table
(its memory grows with the destination, the price of an unordered listing).
"""
from __future__ import annotations

from collections.abc import AsyncIterator

from ._decide import Entry

#: S3 Express One Zone directory buckets ("name--azid--x-s3") list keys in no defined order
_DIRECTORY_BUCKET_SUFFIX = "--x-s3"


class OutOfOrder(RuntimeError):
    """A listing that should be sorted was not (the sync stops; nothing wrong was deleted)."""


def lists_sorted(bucket: str | None) -> bool:
    """Whether a side lists in key order: a local walk and general-purpose buckets do."""
    return bucket is None or not bucket.endswith(_DIRECTORY_BUCKET_SUFFIX)


async def _checked(entries: AsyncIterator[Entry], side: str) -> AsyncIterator[Entry]:
    last: str | None = None
    async for e in entries:
        if last is not None and e.relative <= last:
            raise OutOfOrder(f"the {side} listing is not in key order ({e.relative!r} after {last!r}): "
                             "sync stopped before acting on it")
        last = e.relative
        yield e


async def merge_sorted(src: AsyncIterator[Entry],
                       dst: AsyncIterator[Entry]) -> AsyncIterator[tuple[Entry | None, Entry | None]]:
    """``(source, destination)`` pairs by relative key, ``None`` for the side that lacks it."""
    s_it, d_it = _checked(src, "source"), _checked(dst, "destination")
    s = await anext(s_it, None)
    d = await anext(d_it, None)
    while s is not None or d is not None:
        if d is None or (s is not None and s.relative < d.relative):
            assert s is not None
            yield s, None
            s = await anext(s_it, None)
        elif s is None or d.relative < s.relative:
            yield None, d
            d = await anext(d_it, None)
        else:
            yield s, d
            s = await anext(s_it, None)
            d = await anext(d_it, None)


#: entries of an S3 side read before a sync chooses its join: one listing page
ORDER_PROBE = 1000


async def probe_order(entries: AsyncIterator[Entry], probe: int = ORDER_PROBE) -> tuple[bool, AsyncIterator[Entry]]:
    """Whether the first ``probe`` entries of a listing come in key order, and the listing
    again from its start (the entries read are held and replayed: at most ``probe``).

    A store may list a general-purpose bucket out of order too (not only S3 Express): one
    found so in its first page is joined through the table instead of stopping the sync. A
    listing that fits in the probe and is in order is merged, and that is sound; disorder
    further on still stops the merge (:class:`OutOfOrder`)."""
    head: list[Entry] = []
    in_order = True
    async for e in entries:
        if head and e.relative <= head[-1].relative:
            in_order = False
        head.append(e)
        if not in_order or len(head) >= probe:
            break
    return in_order, _replay(head, entries)


async def _replay(head: list[Entry], rest: AsyncIterator[Entry]) -> AsyncIterator[Entry]:
    for e in head:
        yield e
    head.clear()
    async for e in rest:
        yield e


async def index_join(src: AsyncIterator[Entry],
                     dst: AsyncIterator[Entry]) -> AsyncIterator[tuple[Entry | None, Entry | None]]:
    """The same pairs for listings in no order: the destination is read into a table first."""
    index: dict[str, Entry] = {}
    async for e in dst:
        index[e.relative] = e
    async for e in src:
        yield e, index.pop(e.relative, None)
    for d in index.values():
        yield None, d


__all__ = ["ORDER_PROBE", "OutOfOrder", "index_join", "lists_sorted", "merge_sorted", "probe_order"]
