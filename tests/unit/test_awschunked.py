"""aws-chunked bodies with a checksum trailer, as encoded for the wire, and how each kind
of body is sent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from s3fast import _checksum
from s3fast._awschunked import TrailerBody, trailer_length
from s3fast._errors import NetworkError
from s3fast.net._body import FileSlice
from s3fast.net._chunked import ChunkedDecoder
from s3fast.net._senders import send_buffer, send_encoded, send_file, send_head_only, sender_for

CRC = _checksum.ALGORITHMS["crc64nvme"]
DATA = os.urandom(3 * 1000 + 17)


def wire(body: TrailerBody) -> tuple[bytes, int]:
    out = bytearray()
    payload = 0
    for buffers, n in body.pieces():
        for b in buffers:
            out += b
        payload += n
    return bytes(out), payload


@pytest.mark.parametrize("size", [0, 1, 999, 1000, 1001, len(DATA)])
def test_encoding_is_chunked_framing_with_the_checksum_trailer(size: int, tmp_path: Path) -> None:
    path = tmp_path / "src"
    path.write_bytes(b"x" * 5 + DATA)
    fd = os.open(path, os.O_RDONLY)
    try:
        for source in (memoryview(DATA[:size]), FileSlice(fd, 5, size)):
            body = TrailerBody(source, CRC, chunk=1000)
            encoded, payload = wire(body)
            assert len(encoded) == body.length == trailer_length(size, CRC, 1000)
            assert payload == size
            dec = ChunkedDecoder(1 << 20)
            assert dec.feed(encoded) == len(encoded) and dec.done
            assert dec.body == DATA[:size]
            assert body.crc == CRC.of(DATA[:size])
            assert encoded.endswith(f"{CRC.header}:{CRC.encode(body.crc)}\r\n\r\n".encode())
    finally:
        os.close(fd)


def test_a_file_that_shrank_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "src"
    path.write_bytes(DATA[:1500])
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(NetworkError, match="shrank") as info:
            wire(TrailerBody(FileSlice(fd, 0, 3000), CRC, chunk=1000))
        assert info.value.kind == "source"
    finally:
        os.close(fd)


def test_each_kind_of_body_has_its_sender() -> None:
    assert sender_for(None) is send_head_only
    for body in (b"", bytearray(3), memoryview(b"abc")):
        assert sender_for(body) is send_buffer
    assert sender_for(FileSlice(0, 0, 1)) is send_file
    assert sender_for(TrailerBody(memoryview(b"abc"), CRC)) is send_encoded
