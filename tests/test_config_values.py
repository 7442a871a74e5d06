"""Option values are checked where they enter: finite, positive, within documented ranges,
so a typo is a ConfigError naming the option, not an overflow deep inside."""
from __future__ import annotations

import pytest

import s3fast
from s3fast._config import MAX_CONCURRENCY, MAX_GBPS
from s3fast._errors import ConfigError
from s3fast._units import MAX_SIZE, parse_size


@pytest.mark.parametrize("text,expected", [
    ("8MiB", 8 * 1024 * 1024), ("1.5KiB", 1536), ("0", 0), ("5GB", 5 * 10**9), ("007", 7),
    ("0.5", 0), (" 64 kib ", 65536), (str(MAX_SIZE), MAX_SIZE), (4096, 4096),
])
def test_parse_size(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text,message", [
    ("1" * 310, "too large"), (str(MAX_SIZE + 1), "too large"), ("9" * 25 + "TiB", "too large"),
    ("-5", "negative"), (-5, "negative"), ("abc", "not a size"), ("5 parsecs", "not a size"),
    ("nan", "not a size"), ("inf", "not a size"), (True, "not a size"), (1.5, "not a size"),
])
def test_parse_size_refuses(text: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_size(text)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs,message", [
    ({"target_gbps": float("inf")}, "target_gbps"),
    ({"target_gbps": float("nan")}, "target_gbps"),
    ({"target_gbps": 1e308}, "target_gbps"),
    ({"max_gbps": MAX_GBPS * 2}, "max_gbps"),
    ({"max_gbps": 0}, "max_gbps"),
    ({"max_gbps": -1.0}, "max_gbps"),
    ({"target_gbps": True}, "target_gbps"),
    ({"max_concurrency": 0}, "max_concurrency"),
    ({"max_concurrency": MAX_CONCURRENCY + 1}, "max_concurrency"),
    ({"max_concurrency": 2.5}, "max_concurrency"),
    ({"part_size": "8MiB"}, "part_size"),
    ({"part_size": 10**400}, "part_size"),
    ({"memory_limit": 10**30}, "memory_limit"),
    ({"multipart_threshold": 0}, "multipart_threshold"),
    ({"io_chunk_size": 1024}, "io_chunk_size"),
])
def test_transfer_config_ranges(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        s3fast.TransferConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [
    {"connect": float("inf")}, {"idle": float("nan")}, {"first_byte": 1e308}, {"deadline": -1},
    {"low_speed_seconds": 0}, {"low_speed_bytes_per_s": float("nan")}, {"low_speed_bytes_per_s": -1},
])
def test_timeouts_ranges(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="timeouts"):
        s3fast.Timeouts(**kwargs)


def test_documented_upper_ends_are_accepted() -> None:
    cfg = s3fast.TransferConfig(target_gbps=MAX_GBPS, max_gbps=MAX_GBPS, max_concurrency=MAX_CONCURRENCY)
    assert cfg.target_gbps == MAX_GBPS
    assert s3fast.Timeouts(deadline=86400.0, low_speed_bytes_per_s=0).deadline == 86400.0
