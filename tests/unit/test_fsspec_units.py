"""Pure parts of s3fast.fsspec: the read-ahead policy, storage options, error mapping."""
from __future__ import annotations

import errno

import pytest

from s3fast import MiB, TransferConfig
from s3fast._errors import AccessDenied, NoSuchBucket, NoSuchKey, PreconditionFailed, S3Error
from s3fast.fsspec._options import client_kwargs, split_path, translate
from s3fast.fsspec._readahead import AdaptiveReadAhead, ReadAheadConfig, ReadState, plan_fetch

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
