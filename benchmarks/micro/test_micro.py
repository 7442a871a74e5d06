"""Micro-benchmarks of the native core against its pure-Python twin (pytest-benchmark).

    .venv/bin/python -m pytest benchmarks/micro -q --benchmark-columns=median,ops
    .venv/bin/python -m benchmarks.micro            # runs them and prints the speed-ups

Each case runs the same inputs through ``s3fast._py`` and ``s3fast._native``.
"""
from __future__ import annotations

import importlib

import pytest

IMPLS = {"pure": "s3fast._py"}
try:
    importlib.import_module("s3fast._native._http")
    IMPLS["native"] = "s3fast._native"
except ImportError:  # pragma: no cover - a build without the compiled core
    pass

HEAD = (
    b"HTTP/1.1 206 Partial Content\r\nx-amz-id-2: Xb8Q7k0dYl0C3V9vPq0Qx1c\r\nx-amz-request-id: 4B3A9C6F1E2D\r\n"
    b"Date: Thu, 26 Nov 2026 22:00:00 GMT\r\nLast-Modified: Thu, 26 Nov 2026 21:00:00 GMT\r\n"
    b'ETag: "d41d8cd98f00b204e9800998ecf8427e-128"\r\nx-amz-checksum-crc64nvme: 9pfpmh08xV0=\r\n'
    b"x-amz-checksum-type: FULL_OBJECT\r\nAccept-Ranges: bytes\r\nContent-Range: bytes 0-8388607/1073741824\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Length: 8388608\r\nServer: AmazonS3"
)


@pytest.fixture(params=sorted(IMPLS), ids=str)
def impl(request: pytest.FixtureRequest) -> str:
    return IMPLS[request.param]


def test_parse_head(benchmark, impl: str) -> None:  # type: ignore[no-untyped-def]
    http = importlib.import_module(impl + "._http")
    status, _, headers = benchmark(http.parse_head, HEAD)
    assert status == 206 and headers["content-length"] == "8388608"


def test_find_head_end(benchmark, impl: str) -> None:  # type: ignore[no-untyped-def]
    http = importlib.import_module(impl + "._http")
    buf = bytearray(HEAD + b"\r\n\r\n" + b"x" * 60000)
    end = benchmark(http.find_head_end, buf, 0, len(buf))
    assert end == len(HEAD) + 4


def test_receive_path(benchmark, impl: str) -> None:  # type: ignore[no-untyped-def]
    """get_buffer + buffer_updated for 1 MiB arriving in 64 KiB receives (what the event
    loop calls per chunk)."""
    recv = importlib.import_module(impl + "._recv")

    class Conn(recv.Receiver):  # type: ignore[misc,name-defined]
        def _view_done(self) -> None:
            self.done = True

    conn = Conn(lambda: 0.0)
    target = memoryview(bytearray(1 << 20))

    def one_mib() -> int:
        conn.done = False
        conn._remaining = 1 << 20
        conn._set_view(target)
        n = 0
        while not conn.done:
            buf = conn.get_buffer(-1)
            k = min(65536, len(buf))
            conn.buffer_updated(k)
            n += k
        return n

    assert benchmark(one_mib) == 1 << 20
