"""Pure parts of s3fast.fsspec: the read-ahead policy, storage options, error mapping."""
from __future__ import annotations

import concurrent.futures
import errno
import os

import pytest

from s3fast import MiB, TransferConfig
from s3fast._errors import AccessDenied, NoSuchBucket, NoSuchKey, PreconditionFailed, S3Error
from s3fast.fsspec._options import client_kwargs, split_path, translate
from s3fast.fsspec._readahead import AdaptiveReadAhead, ReadAheadConfig, ReadState, plan_ahead, plan_fetch

CFG = ReadAheadConfig(initial_window=4 * MiB, max_window=16 * MiB, min_fetch=64 * 1024)
SIZE = 100 * MiB


def test_sequential_reads_grow_the_window_up_to_its_cap() -> None:
    state = ReadState()
    start = 0
    spans = []
    for _ in range(5):
        s, e, state = plan_fetch(CFG, state, start, start + 1000, SIZE)
        spans.append(e - s)
        start += 1000
    assert spans == [4 * MiB, 8 * MiB, 16 * MiB, 16 * MiB, 16 * MiB]


def test_random_reads_fetch_only_what_was_asked_with_a_small_floor() -> None:
    state = ReadState(last_end=5000, window=8 * MiB)
    s, e, state = plan_fetch(CFG, state, 50 * MiB, 50 * MiB + 16 * 1024, SIZE)
    assert (s, e) == (50 * MiB, 50 * MiB + 64 * 1024) and state.window == 0
    s, e, _ = plan_fetch(CFG, state, 60 * MiB, 61 * MiB, SIZE)
    assert (s, e) == (60 * MiB, 61 * MiB)  # a large random read is not cut short either


def test_fetch_never_passes_the_end_of_the_object() -> None:
    s, e, _ = plan_fetch(CFG, ReadState(), SIZE - 8, SIZE, SIZE)
    assert (s, e) == (SIZE - 8, SIZE)
    s, e, _ = plan_fetch(CFG, ReadState(), 0, 10, 100)
    assert (s, e) == (0, 100)


def test_cache_serves_from_its_buffer_and_fetches_footers_small() -> None:
    data = bytes(range(256)) * (80 * 1024)  # 20 MiB
    calls: list[tuple[int, int]] = []

    def fetch(start: int, end: int) -> bytes:
        calls.append((start, end))
        return data[start:end]

    footer = AdaptiveReadAhead(16 * MiB, fetch, len(data), config=CFG)
    assert footer._fetch(len(data) - 8, len(data)) == data[-8:]  # a Parquet footer's length
    assert footer._fetch(len(data) - 40_000, len(data) - 8) == data[-40_000:-8]  # its metadata
    assert calls == [(len(data) - 8, len(data)), (len(data) - 40_000, len(data))]
    calls.clear()
    seq = AdaptiveReadAhead(16 * MiB, fetch, len(data), config=CFG)
    assert seq._fetch(0, 100) == data[:100]
    assert seq._fetch(100, 5000) == data[100:5000]  # inside the first fetch: no request
    assert calls == [(0, 4 * MiB)]
    assert seq._fetch(4 * MiB - 10, 4 * MiB + 10) == data[4 * MiB - 10:4 * MiB + 10]
    assert calls[1] == (4 * MiB, 4 * MiB + 8 * MiB)  # continued: the rest only, window doubled


class Store:
    """An object's bytes behind a synchronous fetcher and a background prefetcher (futures
    the test settles), recording every call."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.fetches: list[tuple[int, int]] = []
        self.aheads: list[tuple[int, int, concurrent.futures.Future[bytes]]] = []

    def fetch(self, start: int, end: int) -> bytes:
        self.fetches.append((start, end))
        return self.data[start:end]

    def prefetch(self, start: int, end: int) -> concurrent.futures.Future[bytes]:
        fut: concurrent.futures.Future[bytes] = concurrent.futures.Future()
        self.aheads.append((start, end, fut))
        return fut

    def land(self) -> None:
        for s, e, fut in self.aheads:
            if not fut.done():
                fut.set_result(self.data[s:e])


def test_plan_ahead_follows_small_step_sequential_readers_only() -> None:
    assert plan_ahead(ReadState(last_end=10, window=0), 4 * MiB, 1000, SIZE) is None  # random
    assert plan_ahead(ReadState(last_end=10, window=4 * MiB), SIZE, 1000, SIZE) is None  # at the end
    assert plan_ahead(ReadState(last_end=10, window=4 * MiB), 4 * MiB, 1000, SIZE) == (4 * MiB, 8 * MiB)
    assert plan_ahead(ReadState(last_end=10, window=16 * MiB), SIZE - 5, 1000, SIZE) == (SIZE - 5, SIZE)
    # pyarrow's coalesced 32 MiB ranges: a bulk reader plans its own reads, gets nothing ahead
    assert plan_ahead(ReadState(last_end=10, window=16 * MiB), 32 * MiB, 32 * MiB, SIZE) is None


def test_a_sequential_reader_finds_its_next_span_fetched_in_the_background() -> None:
    data = os.urandom(40 * MiB)
    store = Store(data)
    cache = AdaptiveReadAhead(16 * MiB, store.fetch, len(data), config=CFG, prefetcher=store.prefetch)
    assert cache._fetch(0, 100) == data[:100]
    assert store.fetches == [(0, 4 * MiB)] and [(s, e) for s, e, _ in store.aheads] == [(4 * MiB, 8 * MiB)]
    store.land()
    assert cache._fetch(100, 6 * MiB) == data[100:6 * MiB]  # buffer + the span fetched ahead
    assert store.fetches == [(0, 4 * MiB)]  # no synchronous fetch
    assert [(s, e) for s, e, _ in store.aheads][1] == (8 * MiB, 16 * MiB)  # the next, window doubled
    # a read beyond what is ahead takes the span still on the wire, then fetches the rest
    fut = store.aheads[1][2]
    assert not fut.done()
    store.land()
    assert cache._fetch(6 * MiB, 20 * MiB) == data[6 * MiB:20 * MiB]
    assert store.fetches[1] == (16 * MiB, 24 * MiB)  # to the end of the (doubled) window


def test_a_jump_drops_the_span_ahead_and_random_reads_never_prefetch() -> None:
    data = os.urandom(30 * MiB)
    store = Store(data)
    cache = AdaptiveReadAhead(16 * MiB, store.fetch, len(data), config=CFG, prefetcher=store.prefetch)
    cache._fetch(0, 100)
    ahead = store.aheads[0][2]
    assert cache._fetch(20 * MiB, 20 * MiB + 10) == data[20 * MiB:20 * MiB + 10]  # elsewhere
    assert ahead.cancelled() and len(store.aheads) == 1  # dropped; a random read starts none
    assert cache._fetch(len(data) - 8, len(data)) == data[-8:]
    assert cache._fetch(1000, 2000) == data[1000:2000]
    assert len(store.aheads) == 1
    cache._fetch(2000, 70 * 1024)  # past the buffer where the last read ended: sequential again
    assert len(store.aheads) == 2
    cache.close()
    assert store.aheads[1][2].cancelled()


def test_a_bulk_reader_gets_nothing_fetched_ahead() -> None:
    data = os.urandom(100 * MiB)
    store = Store(data)
    cache = AdaptiveReadAhead(16 * MiB, store.fetch, len(data), config=CFG, prefetcher=store.prefetch)
    for start in (4, 4 + 32 * MiB):  # pyarrow's coalesced row groups, in order for once
        assert cache._fetch(start, start + 32 * MiB) == data[start:start + 32 * MiB]
    assert store.aheads == [] and store.fetches == [(4, 4 + 32 * MiB), (4 + 32 * MiB, 4 + 64 * MiB)]


def test_the_span_ahead_fails_the_read_that_needs_it() -> None:
    data = os.urandom(10 * MiB)
    store = Store(data)
    cache = AdaptiveReadAhead(16 * MiB, store.fetch, len(data), config=CFG, prefetcher=store.prefetch)
    cache._fetch(0, 100)
    store.aheads[0][2].set_exception(FileNotFoundError("gone"))
    with pytest.raises(FileNotFoundError):
        cache._fetch(100, 5 * MiB)


def test_storage_options_map_to_client_arguments() -> None:
    kw = client_kwargs({"key": "AK", "secret": "SK", "anon": False, "endpoint_url": "http://127.0.0.1:9",
                        "memory_limit": "1GiB", "target_gbps": 5, "client_kwargs": {"region_name": "eu-west-1"}})
    assert kw["aws_access_key_id"] == "AK" and kw["aws_secret_access_key"] == "SK"
    assert kw["anonymous"] is False and kw["region"] == "eu-west-1"
    assert kw["config"].memory_limit == 1024 * MiB and kw["config"].target_gbps == 5
    base = TransferConfig(part_size=16 * MiB)
    assert client_kwargs({"config": base, "max_gbps": 2})["config"].part_size == 16 * MiB
    with pytest.raises(TypeError, match="endpont_url"):
        client_kwargs({"endpont_url": "http://127.0.0.1:9"})


def test_switch_options_read_strings_as_configs_write_them() -> None:
    # an env var or config file gives strings: "False" must not turn anonymous mode on
    assert client_kwargs({"anon": "False"})["anonymous"] is False
    assert client_kwargs({"anonymous": "true", "verify": "0"}) == {"anonymous": True, "verify": False}
    for bad in ({"anon": "maybe"}, {"verify": 2}, {"anonymous": []}):
        with pytest.raises(TypeError, match="anon|verify"):
            client_kwargs(bad)
    with pytest.raises(TypeError, match="resolve"):
        client_kwargs({"resolve": "s3.test=127.0.0.1"})


def test_paths_and_errors() -> None:
    assert split_path("b/a/c") == ("b", "a/c") and split_path("b") == ("b", "")
    assert isinstance(translate(NoSuchKey(404, "NoSuchKey", "x"), "b/k"), FileNotFoundError)
    assert isinstance(translate(NoSuchBucket(404, "NoSuchBucket", "x"), "b/k"), FileNotFoundError)
    assert isinstance(translate(AccessDenied(403, "AccessDenied", "x"), "b/k"), PermissionError)
    stale = translate(PreconditionFailed(412, "PreconditionFailed", "x"), "b/k")
    assert isinstance(stale, OSError) and stale.errno == errno.ESTALE
    other = translate(S3Error(500, "InternalError", "x"), "b/k")
    assert isinstance(other, OSError) and other.errno == errno.EIO
    plain = ValueError("not ours")
    assert translate(plain, "b/k") is plain
