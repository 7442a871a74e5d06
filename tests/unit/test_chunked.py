"""The chunked-body decoder: right at every split of its input, and bounded.

Pure: bytes in, body or a ChunkedError out. Each bound is checked at the byte where it is
crossed, with what the decoder holds at that moment (it must never hold more than one
bounded line besides the body).
"""
from __future__ import annotations

import pytest

from s3fast.net._chunked import ChunkedDecoder, ChunkedError
from s3fast.net._limits import MAX_CHUNK_LINE, MAX_TRAILER_BYTES

PAYLOAD = b"<ListBucketResult>" + bytes(range(256)) * 3 + b"</ListBucketResult>"
#: chunks of several sizes, upper- and lower-case hex, an extension, whitespace before
#: it, and two trailers
WIRE = (b"1A\r\n" + PAYLOAD[:26] + b"\r\n"
        + b"1;name=value\r\n" + PAYLOAD[26:27] + b"\r\n"
        + b"%x \t;ext\r\n" % (len(PAYLOAD) - 27 - 5) + PAYLOAD[27:-5] + b"\r\n"
        + b"5\r\n" + PAYLOAD[-5:] + b"\r\n"
        + b"0\r\nx-amz-checksum-crc64nvme: AAAAAAAAAAA=\r\nOther:\r\n\r\n")


def decode(*pieces: bytes, max_body: int = 1 << 20) -> ChunkedDecoder:
    dec = ChunkedDecoder(max_body)
    for piece in pieces:
        used = dec.feed(piece)
        assert used == len(piece)
    return dec


def test_whole_body_decodes() -> None:
    dec = decode(WIRE)
    assert dec.done and dec.body == PAYLOAD and dec.buffered == 0


def test_every_split_into_two_pieces_decodes_the_same() -> None:
    for cut in range(len(WIRE) + 1):
        dec = decode(WIRE[:cut], WIRE[cut:])
        assert dec.done and dec.body == PAYLOAD, cut


def test_byte_by_byte_decodes_the_same() -> None:
    dec = decode(*(WIRE[i:i + 1] for i in range(len(WIRE))))
    assert dec.done and dec.body == PAYLOAD


def test_feed_window_and_bytes_after_the_body() -> None:
    dec = ChunkedDecoder(1 << 20)
    data = b"junk" + WIRE + b"HTTP/1.1 200 OK\r\n"
    assert dec.feed(bytearray(data), 4, len(data)) == len(WIRE)  # stops where the body ends
    assert dec.done and dec.body == PAYLOAD


def test_empty_body() -> None:
    dec = decode(b"0\r\n\r\n")
    assert dec.done and dec.body == b""


def test_not_done_until_the_last_crlf() -> None:
    dec = decode(WIRE[:-1])
    assert not dec.done


# -- bounds --------------------------------------------------------------------------------

def test_size_line_without_crlf_is_refused_at_the_line_limit_holding_less() -> None:
    dec = ChunkedDecoder(1 << 20)
    fed = 0
    with pytest.raises(ChunkedError, match=f"chunk-size line longer than {MAX_CHUNK_LINE} bytes"):
        for _ in range(MAX_CHUNK_LINE * 4):
            dec.feed(b"1")
            fed += 1
            assert dec.buffered < MAX_CHUNK_LINE
    assert fed == MAX_CHUNK_LINE - 1  # the byte that made the line too long raised


def test_long_run_without_crlf_in_one_feed_is_refused_without_copying_it() -> None:
    dec = ChunkedDecoder(1 << 20)
    with pytest.raises(ChunkedError, match="line longer"):
        dec.feed(b"a" * (8 << 20))
    assert dec.buffered == 0


def test_long_extension_is_refused() -> None:
    with pytest.raises(ChunkedError, match="chunk-size line longer"):
        decode(b"5;" + b"e" * MAX_CHUNK_LINE + b"\r\nhello\r\n0\r\n\r\n")


def test_extension_within_the_line_limit_is_accepted() -> None:
    line = b"5;" + b"e" * (MAX_CHUNK_LINE - 4) + b"\r\n"
    assert len(line) == MAX_CHUNK_LINE
    assert decode(line + b"hello\r\n0\r\n\r\n").body == b"hello"


def test_declared_chunk_over_the_limit_is_refused_on_its_size_line() -> None:
    dec = ChunkedDecoder(1 << 20)
    with pytest.raises(ChunkedError, match="a chunk of 1073741824 bytes takes the body over its 1048576-byte limit"):
        dec.feed(b"40000000\r\n")  # no data sent yet: the size alone is refused
    assert len(dec.body) == 0


def test_chunks_adding_up_over_the_limit_are_refused() -> None:
    dec = ChunkedDecoder(10)
    dec.feed(b"6\r\nabcdef\r\n4\r\nghij\r\n")  # exactly at the limit
    assert dec.body == b"abcdefghij"
    with pytest.raises(ChunkedError, match="a chunk of 1 bytes"):
        dec.feed(b"1\r\n")


@pytest.mark.parametrize("line", [b"", b" 5", b"+5", b"-1", b"0x5", b"5 ", b"1g", b"5_0",
                                  b"\xd9\xa3", b"1" + b"0" * 16, b"5 5"])
def test_bad_size_lines_are_refused(line: bytes) -> None:
    with pytest.raises(ChunkedError, match="bad chunk size"):
        decode(line + b"\r\nhello\r\n0\r\n\r\n")


def test_sixteen_hex_digits_are_read_then_bounded() -> None:
    with pytest.raises(ChunkedError, match="a chunk of 18446744073709551615 bytes"):
        decode(b"ffffffffffffffff\r\n")


@pytest.mark.parametrize("wire", [b"5\r\nhelloX\r\n", b"5\r\nhello\rX", b"5\r\nhello\n\r"])
def test_chunk_data_must_end_in_crlf(wire: bytes) -> None:
    with pytest.raises(ChunkedError, match="not followed by CRLF"):
        decode(wire)


def test_bare_lf_lines_are_refused() -> None:
    with pytest.raises(ChunkedError, match="not ended by CRLF"):
        decode(b"5\nhello\r\n0\r\n\r\n")


def test_long_trailer_line_is_refused() -> None:
    with pytest.raises(ChunkedError, match="trailer line longer"):
        decode(b"0\r\nx: " + b"v" * MAX_CHUNK_LINE)


def test_trailer_section_is_bounded_in_total() -> None:
    line = b"x-a: " + b"v" * 1000 + b"\r\n"
    dec = ChunkedDecoder(1 << 20)
    dec.feed(b"0\r\n")
    fed = 0
    with pytest.raises(ChunkedError, match=f"trailers longer than {MAX_TRAILER_BYTES} bytes"):
        while True:
            dec.feed(line)
            fed += len(line)
    assert fed <= MAX_TRAILER_BYTES


@pytest.mark.parametrize("line", [b"novalue", b": x", b" x: y"])
def test_bad_trailer_lines_are_refused(line: bytes) -> None:
    with pytest.raises(ChunkedError, match="bad trailer line"):
        decode(b"0\r\n" + line + b"\r\n\r\n")
