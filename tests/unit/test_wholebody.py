"""Whole bodies read into memory, from any split of the bytes the socket hands over."""
from __future__ import annotations

import asyncio

import pytest

from s3fast._errors import NetworkError
from s3fast.net._wholebody import read_chunked, read_until_close

PAYLOAD = bytes(range(256)) * 40
WIRE = b"400\r\n" + PAYLOAD[:1024] + b"\r\n%x\r\n" % (len(PAYLOAD) - 1024) + PAYLOAD[1024:] + b"\r\n0\r\n\r\n"


def reader(data: bytes, step: int):  # type: ignore[no-untyped-def]
    """What a connection's partial read does: up to ``step`` bytes a receive, 0 at the end."""
    pos = 0

    async def read(view: memoryview) -> int:
        nonlocal pos
        n = min(step, len(view), len(data) - pos)
        view[:n] = data[pos:pos + n]
        pos += n
        return n

    return read


@pytest.mark.parametrize("step", [1, 2, 3, 7, 1000, 1 << 20])
def test_chunked_body_from_any_receive_size(step: int) -> None:
    assert asyncio.run(read_chunked(reader(WIRE, step), 1 << 20, "192.0.2.1")) == PAYLOAD


def test_chunked_body_cut_short_is_a_short_read() -> None:
    with pytest.raises(NetworkError, match="ended early") as info:
        asyncio.run(read_chunked(reader(WIRE[:-3], 4096), 1 << 20, "192.0.2.1"))
    assert info.value.kind == "short-read"


def test_bytes_after_a_chunked_body_are_refused() -> None:
    with pytest.raises(NetworkError, match="extra bytes") as info:
        asyncio.run(read_chunked(reader(WIRE + b"HTTP/1.1", 1 << 20), 1 << 20, "192.0.2.1"))
    assert info.value.kind == "protocol"


def test_chunked_over_the_limit_names_it() -> None:
    with pytest.raises(NetworkError, match=f"over its {len(PAYLOAD) - 1}-byte limit") as info:
        asyncio.run(read_chunked(reader(WIRE, 4096), len(PAYLOAD) - 1, "192.0.2.1"))
    assert info.value.kind == "protocol"


@pytest.mark.parametrize("step", [1, 1000, 1 << 20])
def test_until_close_reads_to_the_end_within_the_limit(step: int) -> None:
    assert asyncio.run(read_until_close(reader(PAYLOAD, step), len(PAYLOAD), "192.0.2.1")) == PAYLOAD
    with pytest.raises(NetworkError, match=f"larger than the {len(PAYLOAD) - 1}-byte limit"):
        asyncio.run(read_until_close(reader(PAYLOAD, step), len(PAYLOAD) - 1, "192.0.2.1"))
