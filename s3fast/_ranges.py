"""Ranged GETs whose bytes land straight in the caller's buffers (the fsspec filesystem's reads).

``read_into``: one range into one buffer. ``read_spans``: one GET of a range of which only
some spans are wanted (``cat_ranges`` merges nearby ranges into one GET, see
``fsspec._coalesce``): the wanted bytes land in buffers of their own size, the bytes between
them in one small scratch buffer that is overwritten. A merged GET may carry ten times the
bytes its spans need; receiving all of them into one buffer of the GET's size would zero and
fault in that much fresh memory for nothing.
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

from ._errors import NetworkError, S3Error
from ._transport import Request, Transport
from ._url import parse_s3_url
from .transfer._planner import parse_content_range

#: spans closer than this share one buffer (the gap lands in it too): a receive per span
#: costs more than copying a few KiB
MERGE_GAP = 16 * 1024
#: the size of the scratch buffer the unwanted bytes are received into
SCRATCH = 256 * 1024
_scratch: memoryview | None = None


def _discard() -> memoryview:
    """The process's scratch buffer, made on first use: every GET in flight receives its
    unwanted bytes into it at once, as nobody reads them (one event loop thread writes)."""
    global _scratch
    if _scratch is None:
        _scratch = memoryview(bytearray(SCRATCH))
    return _scratch


def regions(spans: Sequence[tuple[int, int]], start: int, end: int, merge_gap: int = MERGE_GAP) -> list[tuple[int, int]]:
    """The buffers a GET of ``[start, end)`` fills for ``spans`` (each ``[s, e)``, clipped to
    the GET): sorted, disjoint, spans that overlap or lie within ``merge_gap`` of each other
    in one. Empty spans need no buffer."""
    out: list[tuple[int, int]] = []
    for s, e in sorted((max(s, start), min(e, end)) for s, e in spans):
        if e <= s:
            continue
        if out and s - out[-1][1] <= merge_gap:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def _partial_length(head: Any, url: str, start: int, most: int) -> int:
    """The body length of a 206 for ``start`` of at most ``most`` bytes; anything else is a
    protocol error (only such an answer may land in the caller's buffers)."""
    cr = parse_content_range(head.headers.get("content-range"))
    n = int(head.content_length)
    if cr is None or cr[0] != start or not 0 <= n <= most or cr[1] - cr[0] + 1 != n:
        raise NetworkError(f"unexpected answer to a ranged GET of {url}: {head.status} "
                           f"(Content-Range {head.headers.get('content-range')!r})", kind="protocol")
    return n


def _request(url: str, start: int, end: int, if_match: str | None) -> Request:
    u = parse_s3_url(url)
    headers = {"range": f"bytes={start}-{end - 1}"}
    if if_match:
        headers["if-match"] = if_match
    return Request("GET", u.bucket, u.key, headers=headers, expect=(206, 200))


async def read_into(transport: Transport, url: str, start: int, view: memoryview, if_match: str | None) -> int:
    """Bytes ``start`` to ``start + len(view)`` into ``view``: how many landed (fewer when
    the object ends first, 0 when it ends before ``start``), -1 when the server ignored the
    Range (its 200 left unread; the caller falls back to a whole read)."""

    async def into(conn: Any, head: Any) -> int:
        if head.status == 200:
            return -1  # the whole object stays unread (the connection is dropped)
        n = _partial_length(head, url, start, len(view))
        got = await conn.read_into(view[:n]) if n else 0
        if got != n:
            raise NetworkError(f"range of {url} ended early", kind="short-read")
        return int(got)

    try:
        return int(await transport.call(_request(url, start, start + len(view), if_match), into))  # type: ignore[arg-type]
    except S3Error as exc:
        if exc.status == 416:
            return 0  # InvalidRange: the object ends before start
        raise


async def read_spans(transport: Transport, url: str, start: int, end: int, spans: Sequence[tuple[int, int]],
                     if_match: str | None) -> list[bytes] | None:
    """The bytes of each span of ``[start, end)``, read with one GET of that range; a span
    comes back short (or empty) where the object ends first. None when the server ignored
    the Range (the caller falls back)."""
    bufs = [(s, bytearray(e - s)) for s, e in regions(spans, start, end)]

    async def into(conn: Any, head: Any) -> int:
        if head.status == 200:
            return -1
        n = _partial_length(head, url, start, end - start)
        scratch = _discard()
        at, stop = start, start + n  # the body covers [start, stop)
        for s, buf in bufs:  # a retry starts over: every buffer is written again
            if s >= stop:
                break
            while at < s:  # the bytes before this buffer are not wanted
                k = min(s - at, len(scratch))
                if await conn.read_into(scratch[:k]) != k:
                    raise NetworkError(f"range of {url} ended early", kind="short-read")
                at += k
            k = min(len(buf), stop - s)
            if await conn.read_into(memoryview(buf)[:k]) != k:
                raise NetworkError(f"range of {url} ended early", kind="short-read")
            at += k
        while at < stop:  # the rest of the body, so the connection can be reused
            k = min(stop - at, len(scratch))
            if await conn.read_into(scratch[:k]) != k:
                raise NetworkError(f"range of {url} ended early", kind="short-read")
            at += k
        return n

    try:
        n = int(await transport.call(_request(url, start, end, if_match), into))  # type: ignore[arg-type]
    except S3Error as exc:
        if exc.status != 416:
            raise
        n = 0  # InvalidRange: the object ends before start
    if n < 0:
        return None
    stop = start + n
    firsts = [s for s, _ in bufs]
    out: list[bytes] = []
    for s, e in spans:
        s, e = max(s, start), min(e, stop)
        if e <= s:
            out.append(b"")
            continue
        rs, buf = bufs[bisect_right(firsts, s) - 1]  # the region holding [s, e)
        out.append(bytes(memoryview(buf)[s - rs:e - rs]))
    return out


__all__ = ["MERGE_GAP", "SCRATCH", "read_into", "read_spans", "regions"]
