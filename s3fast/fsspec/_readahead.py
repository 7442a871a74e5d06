"""Read-ahead for S3FastFile: a pure policy (what to fetch for a read) and the fsspec
cache that applies it.

Sequential readers (pandas CSV, a whole-file ``read()``) want large fetches, split into
parallel ranged GETs, growing as the pattern holds. Random readers (Parquet footers and
column chunks, 16 KiB probes) want exactly what they asked for: a fixed read-ahead block
would multiply their bytes by the block size. The policy tells the two apart by whether a
read starts where the previous one ended.
"""
from __future__ import annotations

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


class AdaptiveReadAhead(BaseCache):  # type: ignore[misc]  # fsspec ships no types: BaseCache is Any
    """One buffered span; reads inside it are served from memory, others fetch per
    :func:`plan_fetch`. Registered as fsspec cache type ``"s3fast"``."""

    name = "s3fast"

    def __init__(self, blocksize: int, fetcher: Callable[[int, int], bytes], size: int,
                 config: ReadAheadConfig | None = None) -> None:
        super().__init__(blocksize, fetcher, size)
        self.config = config or ReadAheadConfig(max_window=max(blocksize, ReadAheadConfig.initial_window))
        self.state = ReadState()
        self.start = 0
        self.data = b""

    def _fetch(self, start: int | None, end: int | None) -> bytes:
        start = 0 if start is None else start
        end = self.size if end is None else min(end, self.size)
        if start >= end:
            return b""
        buf_end = self.start + len(self.data)
        if self.start <= start and end <= buf_end:
            self.hit_count += 1
            self.state = ReadState(last_end=end, window=self.state.window)
            return self.data[start - self.start:end - self.start]
        self.miss_count += 1
        # Keep what the buffer already holds of this read; fetch only the rest.
        head = b""
        if self.start <= start < buf_end:
            head = self.data[start - self.start:]
        fetch_from = start + len(head)
        prior = self.state
        if head:  # continuing past the buffer's end is sequential even if it began inside it
            prior = ReadState(last_end=fetch_from, window=prior.window)
        _, fetch_end, self.state = plan_fetch(self.config, prior, fetch_from, end, self.size)
        new = self.fetcher(fetch_from, fetch_end)
        self.total_requested_bytes += fetch_end - fetch_from
        self.start, self.data = start, head + new
        return self.data[:end - start]
