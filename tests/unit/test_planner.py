"""Part planning, range math, URLs and sizes: the pure parts, at their edges."""
from __future__ import annotations

import pytest

from s3fast import ConfigError, GiB, MiB
from s3fast._config import MAX_OBJECT_SIZE, TransferConfig
from s3fast._units import parse_size
from s3fast._url import parse_s3_url, resolve_endpoint
from s3fast.transfer._planner import (
    etag_part_count,
    parse_content_range,
    plan_aligned_ranges,
    plan_ranges,
    plan_upload,
    stream_part_size,
    upload_part_size,
)

T = 8 * MiB  # threshold
P = 8 * MiB  # part size


def test_zero_bytes_is_one_empty_put() -> None:
    plan = plan_upload(0, P, T)
    assert not plan.multipart and plan.parts[0].size == 0


def test_one_byte() -> None:
    plan = plan_upload(1, P, T)
    assert not plan.multipart and plan.parts[0].size == 1


def test_just_below_threshold_is_single_put() -> None:
    assert not plan_upload(T - 1, P, T).multipart


def test_threshold_exactly_is_multipart() -> None:
    plan = plan_upload(T, P, T)
    assert plan.multipart and [p.size for p in plan.parts] == [T]


def test_min_part_minus_one_with_low_threshold() -> None:
    plan = plan_upload(5 * MiB - 1, 5 * MiB, 1)
    assert plan.multipart and plan.parts[0].size == 5 * MiB - 1  # the last part may be small


def test_parts_cover_the_object_exactly() -> None:
    size = 40 * MiB + 3
    plan = plan_upload(size, 5 * MiB, 5 * MiB)
    assert [p.number for p in plan.parts] == list(range(1, 10))
    assert sum(p.size for p in plan.parts) == size
    assert all(a.end == b.offset for a, b in zip(plan.parts, plan.parts[1:]))
    assert plan.parts[-1].size == 3


def test_more_than_10000_default_parts_raises_part_size() -> None:
    size = 10_000 * P + 1
    plan = plan_upload(size, P, T)
    assert plan.part_count <= 10_000
    assert plan.part_size > P and plan.part_size % MiB == 0
    assert sum(p.size for p in plan.parts) == size


def test_maximum_object_size() -> None:
    ps = upload_part_size(MAX_OBJECT_SIZE, P)
    assert ps == 5 * GiB
    assert -(-MAX_OBJECT_SIZE // ps) == 10_000


def test_over_maximum_is_refused() -> None:
    with pytest.raises(ConfigError, match="exceeds S3's maximum"):
        upload_part_size(MAX_OBJECT_SIZE + 1, P)


def test_stream_parts_grow_and_stay_within_limits() -> None:
    assert stream_part_size(1, P) == P
    assert stream_part_size(1000, P) == P
    assert stream_part_size(1001, P) == 2 * P
    assert stream_part_size(10_000, P) <= 5 * GiB
    with pytest.raises(ConfigError):
        stream_part_size(10_001, P)


def test_ranges() -> None:
    assert plan_ranges(0, 5) == ()
    r = plan_ranges(11, 5)
    assert [(p.offset, p.size) for p in r] == [(0, 5), (5, 5), (10, 1)]
    assert r[2].range_header == "bytes=10-10"


def test_content_range_and_etag() -> None:
    assert parse_content_range("bytes 0-99/1000") == (0, 99, 1000)
    assert parse_content_range("bytes */1000") is None
    assert parse_content_range(None) is None
    assert etag_part_count('"d41d8cd98f00b204e9800998ecf8427e-12"') == 12
    assert etag_part_count('"d41d8cd98f00b204e9800998ecf8427e"') is None


@pytest.mark.parametrize("url,bucket,key", [
    ("s3://b/k", "b", "k"),
    ("s3://my.bucket/a/b/c.bin", "my.bucket", "a/b/c.bin"),
    ("s3://b/with space/ü", "b", "with space/ü"),
])
def test_parse_s3_url(url: str, bucket: str, key: str) -> None:
    u = parse_s3_url(url)
    assert (u.bucket, u.key) == (bucket, key)


@pytest.mark.parametrize("bad", ["b/k", "s3://", "s3:///k", "s3://b", "s3://b/", "http://b/k", "s3://b!x/k"])
def test_bad_s3_urls(bad: str) -> None:
    with pytest.raises(ConfigError):
        parse_s3_url(bad)


def test_endpoint_addressing() -> None:
    ep = resolve_endpoint("http://127.0.0.1:9000", "us-east-1")
    assert ep.addressing_style == "path" and ep.target("b", "a b/c") == "/b/a%20b/c"
    assert ep.host_header("b") == "127.0.0.1:9000"
    aws = resolve_endpoint(None, "eu-west-1", bucket_hint="bucket")
    assert aws.host_for("bucket") == "bucket.s3.eu-west-1.amazonaws.com"
    assert aws.target("bucket", "k") == "/k" and aws.host_header("bucket") == "bucket.s3.eu-west-1.amazonaws.com"
    with pytest.raises(ConfigError):
        resolve_endpoint("ftp://x", "us-east-1")


def test_sizes_and_config_validation() -> None:
    assert parse_size("8MiB") == 8 * MiB and parse_size("1GB") == 10**9 and parse_size("123") == 123
    with pytest.raises(ConfigError):
        parse_size("lots")
    with pytest.raises(ConfigError, match="between 5 MiB and 5 GiB"):
        TransferConfig(part_size=MiB)
    with pytest.raises(ConfigError, match="checksum"):
        TransferConfig(checksum="md5")
    with pytest.raises(ConfigError, match="memory_limit"):
        TransferConfig(part_size=64 * MiB, memory_limit=32 * MiB)


def test_aligned_ranges_never_cross_stored_parts() -> None:
    stored = 12 * MiB
    size = 3 * stored + 5
    ranges = plan_aligned_ranges(size, stored, 5 * MiB)
    assert sum(r.size for r in ranges) == size
    assert all(a.end == b.offset for a, b in zip(ranges, ranges[1:]))
    boundaries = {stored, 2 * stored, 3 * stored}
    for r in ranges:
        assert not any(r.offset < b < r.end for b in boundaries)
    assert max(r.size for r in ranges) == 4 * MiB  # 12 MiB split in 3, not 5+5+2
