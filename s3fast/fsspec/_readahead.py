"""Read-ahead for S3FastFile: a pure policy (what to fetch for a read) and the fsspec
cache that applies it.

Sequential readers (pandas CSV, a whole-file ``read()``) want large fetches, split into
parallel ranged GETs, growing as the pattern holds. Random readers (Parquet footers and
column chunks, 16 KiB probes) want exactly what they asked for: a fixed read-ahead block
would multiply their bytes by the block size. The policy tells the two apart by whether a
read starts where the previous one ended.

Growing one synchronous fetch only makes the caller wait longer at once: a reader taking
small steps (CSV, JSON lines, ``read(n)`` loops) parses what it got while nothing is on the
wire, then waits for the next window. So while such a reader is sequential, the cache also
keeps one window *ahead* fetched in the background (``plan_ahead``): the next read finds it
landed or on the way. A read that jumps elsewhere drops it (cancelled if still on the wire).
A reader whose steps are larger than the window is reading in bulk already: pyarrow
coalesces a file's row groups into ranges of up to 32 MiB and issues them from its own I/O
threads, in no fixed order (traced: offsets 4, 32 Mi, 98 Mi, 65 Mi... of one file), so a
span fetched ahead of one of them is mostly not the next one asked, and costs CPU for
nothing; such a reader gets none.
"""
from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass

from fsspec.caching import BaseCache

from .._units import KiB, MiB


@dataclass(frozen=True)
class ReadAheadConfig:
    #: the first sequential read fetches at least this much past what was asked
    initial_window: int = 4 * MiB
    #: the window doubles on each sequential read up to this
    max_window: int = 64 * MiB
    #: random reads still fetch this much at least (tiny header/footer probes)
    min_fetch: int = 64 * KiB


@dataclass(frozen=True)
class ReadState:
    """What the previous read left: where it ended and the window it had grown to."""

    last_end: int = -1
    window: int = 0


def plan_fetch(cfg: ReadAheadConfig, state: ReadState, start: int, end: int,
               size: int) -> tuple[int, int, ReadState]:
    """The byte range ``[fetch_start, fetch_end)`` to fetch for a read of ``[start, end)``
    of an object of ``size`` bytes, and the state after it."""
    sequential = start == state.last_end or (start == 0 and state.last_end < 0)
    if sequential:
        window = cfg.initial_window if state.window == 0 else min(2 * state.window, cfg.max_window)
        fetch_end = max(end, start + window)
    else:
        window = 0
        fetch_end = max(end, start + cfg.min_fetch)
    return start, min(fetch_end, size), ReadState(last_end=end, window=window)


def plan_ahead(state: ReadState, held_end: int, read_len: int, size: int) -> tuple[int, int] | None:
    """The range to fetch in the background once a read of ``read_len`` bytes left ``state``
    and the buffer holds bytes up to ``held_end``: the next window, for a sequential reader
    taking steps no larger than its window; none for a random or bulk reader, or at the end
    of the object."""
    if state.window == 0 or read_len > state.window or held_end >= size:
        return None
    return held_end, min(size, held_end + state.window)


#: what a fetch returns: ``bytes``, or the ``bytearray`` the GETs landed in
Buffer = bytes | bytearray | memoryview
#: starts a background fetch of ``[start, end)``; None when it cannot (then reads stay synchronous)
Prefetcher = Callable[[int, int], "concurrent.futures.Future[Buffer] | None"]


class AdaptiveReadAhead(BaseCache):  # type: ignore[misc]  # fsspec ships no types: BaseCache is Any
    """One buffered span; reads inside it are served from memory, others fetch per
    :func:`plan_fetch`; with a ``prefetcher``, a sequential reader also has the next span
    fetched in the background (:func:`plan_ahead`). Registered as fsspec cache type
    ``"s3fast"``."""

    name = "s3fast"

    def __init__(self, blocksize: int, fetcher: Callable[[int, int], Buffer], size: int,
                 config: ReadAheadConfig | None = None, prefetcher: Prefetcher | None = None) -> None:
        super().__init__(blocksize, fetcher, size)
        self.config = config or ReadAheadConfig(max_window=max(blocksize, ReadAheadConfig.initial_window))
        self.prefetcher = prefetcher
        self.state = ReadState()
        self.start = 0
        #: the held span, never written once fetched (views of it may be out)
        self.data: Buffer = b""
        #: the background fetch: (start, end, future), or None
        self.ahead: tuple[int, int, concurrent.futures.Future[Buffer]] | None = None

    def __repr__(self) -> str:
        ahead = f" ahead={self.ahead[0]}-{self.ahead[1]}" if self.ahead else ""
        return (f"<AdaptiveReadAhead held={self.start}-{self.start + len(self.data)} "
                f"window={self.state.window}{ahead} hits={self.hit_count} misses={self.miss_count}>")

    def _fetch(self, start: int | None, end: int | None) -> bytes:
        """``[start, end)`` as ``bytes`` (what ``read()`` returns)."""
        view = self.fetch_view(start, end)
        obj = view.obj
        if isinstance(obj, bytes) and len(view) == len(obj):
            return obj  # the whole span, already bytes: no copy
        return bytes(view)

    def fetch_view(self, start: int | None, end: int | None) -> memoryview:
        """``[start, end)`` as a view of the buffered span: no copy (``read_buffer``). The
        span is never written once fetched, so the view stays valid after it is replaced."""
        start = 0 if start is None else start
        end = self.size if end is None else min(end, self.size)
        if start >= end:
            return memoryview(b"")
        buf_end = self.start + len(self.data)
        if self.start <= start and end <= buf_end:
            self.hit_count += 1
            self.state = ReadState(last_end=end, window=self.state.window)
            self._launch_ahead(end - start)
            return memoryview(self.data)[start - self.start:end - self.start]
        self.miss_count += 1
        # Keep what the buffer already holds of this read; fetch only the rest.
        head: Buffer = b""
        if self.start <= start < buf_end:
            head = memoryview(self.data)[start - self.start:]
        fetch_from = start + len(head)
        prior = self.state
        if head:  # continuing past the buffer's end is sequential even if it began inside it
            prior = ReadState(last_end=fetch_from, window=prior.window)
        _, fetch_end, self.state = plan_fetch(self.config, prior, fetch_from, end, self.size)
        span_start, parts = start, [head] if head else []
        taken_start, taken = self._take_ahead(fetch_from)
        if taken and head:  # the buffer already holds what the fetch ahead has before fetch_from
            taken, taken_start = memoryview(taken)[fetch_from - taken_start:], fetch_from
        elif taken:
            span_start = taken_start  # keep the whole landed span: no copy of it
        if taken:
            parts.append(taken)
        got_to = (taken_start + len(taken)) if taken else fetch_from
        if got_to < end:
            new = self.fetcher(got_to, max(fetch_end, end))
            self.total_requested_bytes += max(fetch_end, end) - got_to
            parts.append(new)
        self.start = span_start
        self.data = parts[0] if len(parts) == 1 else b"".join(parts)
        self._launch_ahead(end - start)
        return memoryview(self.data)[start - self.start:end - self.start]

    def _take_ahead(self, at: int) -> tuple[int, Buffer]:
        """The background fetch's bytes when a read continues at ``at`` inside its range
        ((its start, its bytes) trimmed to begin at or before ``at``); else drop it."""
        ahead, self.ahead = self.ahead, None
        if ahead is None:
            return at, b""
        a_start, a_end, fut = ahead
        if not a_start <= at < a_end:
            fut.cancel()  # the reader went elsewhere
            return at, b""
        data = fut.result()  # waits if still on the wire; its error is this read's error
        self.total_requested_bytes += a_end - a_start
        return a_start, data

    def _launch_ahead(self, read_len: int) -> None:
        if self.prefetcher is None or self.ahead is not None:
            return
        span = plan_ahead(self.state, self.start + len(self.data), read_len, self.size)
        if span is None:
            return
        fut = self.prefetcher(*span)
        if fut is not None:
            self.ahead = (span[0], span[1], fut)

    def close(self) -> None:
        """Cancel the background fetch (fsspec calls this when the file closes: nobody will
        read it)."""
        ahead, self.ahead = self.ahead, None
        if ahead is not None:
            ahead[2].cancel()
