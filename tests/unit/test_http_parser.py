"""The compiled response-head parser and receive path agree with their pure twins."""
from __future__ import annotations

import pytest

from s3fast import _impl
from s3fast._py import _http as pure_http

from support.twins import both, params


@pytest.fixture(params=params("_http"))
def http(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    return request.param


def test_active_impl_matches_mode() -> None:
    assert (_impl.http_impl.__name__.startswith("s3fast._native")) == _impl.NATIVE
    if _impl.NO_EXTENSIONS:
        assert _impl.MODE == "pure"


def test_parse_head(http) -> None:  # type: ignore[no-untyped-def]
    head = (b"HTTP/1.1 206 Partial Content\r\nContent-Length: 10\r\nETag: \"abc\"\r\n"
            b"x-amz-meta-a: 1\r\nX-Amz-Meta-A: 2\r\nEmpty:\r\n")
    status, reason, headers = http.parse_head(head)
    assert status == 206 and reason == "Partial Content"
    assert headers["content-length"] == "10" and headers["etag"] == '"abc"'
    assert headers["x-amz-meta-a"] == "1, 2" and headers["empty"] == ""


def test_status_without_reason(http) -> None:  # type: ignore[no-untyped-def]
    assert http.parse_head(b"HTTP/1.1 200\r\nA: b")[:2] == (200, "")


@pytest.mark.parametrize("bad", [b"", b"HTP/1.1 200 OK", b"HTTP/1.1 2x0 OK", b"HTTP/1.1 200 OK\r\nno-colon",
                                 b"HTTP/1.1 200 OK\r\n bad: x"])
def test_bad_heads(http, bad: bytes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        http.parse_head(bad)


def test_find_head_end_across_receives(http) -> None:  # type: ignore[no-untyped-def]
    data = bytearray(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nBODY")
    end = len(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n")
    # The terminator split at every position between two receives is still found.
    for split in range(1, len(data)):
        first = http.find_head_end(data, 0, split)
        if first >= 0:
            assert first == end
            continue
        assert http.find_head_end(data, split, len(data)) == end


def test_twins_agree_on_many_heads() -> None:
    _, native = both("_http")
    for i in range(200):
        head = f"HTTP/1.1 {200 + i % 300} R{i}\r\n" + "".join(f"H{j}: v{i * j} \r\n" for j in range(i % 7))
        assert native.parse_head(head.encode()) == pure_http.parse_head(head.encode())
