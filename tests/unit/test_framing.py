"""Where a response body ends, from its head: strict Content-Length, chunked, no-body statuses."""
from __future__ import annotations

import pytest

from s3fast.net._framing import FramingError, body_length, content_length
from s3fast.net._limits import MAX_CONTENT_LENGTH


@pytest.mark.parametrize("value, n", [("0", 0), ("5", 5), ("007", 7), ("5, 5", 5), ("5,5,5", 5),
                                      (str(MAX_CONTENT_LENGTH), MAX_CONTENT_LENGTH),
                                      ("0" * 30 + "9", 9)])
def test_good_content_lengths(value: str, n: int) -> None:
    assert content_length(value) == n


# int() accepts most of these: a sign, surrounding or inner whitespace, underscores,
# other scripts' digits; a value past 2^63-1 overflows a 64-bit counter.
@pytest.mark.parametrize("value", ["", "+5", "-1", " 5", "5 ", "5 5", "1_000", "0x10", "5.0", "1e3",
                                   "\u0663", "\uff15", "\u00b2", str(MAX_CONTENT_LENGTH + 1),
                                   str(1 << 64), "9" * 400])
def test_bad_content_lengths_are_refused(value: str) -> None:
    with pytest.raises(FramingError, match="Content-Length"):
        content_length(value)


@pytest.mark.parametrize("value", ["5, 6", "5,", "0, 1"])
def test_differing_repeated_content_lengths_are_refused(value: str) -> None:
    with pytest.raises(FramingError, match="conflicting"):
        content_length(value)


def test_repeated_equal_content_length_is_rewritten_as_one_value() -> None:
    headers = {"content-length": "12, 12"}
    assert body_length(200, headers, False) == (12, False)
    assert headers["content-length"] == "12"


def test_lengths() -> None:
    assert body_length(200, {"content-length": "12"}, False) == (12, False)
    assert body_length(200, {"transfer-encoding": "Chunked"}, False) == (-1, True)
    assert body_length(200, {}, False) == (-1, False)  # delimited by close
    for status in (100, 204, 304):
        assert body_length(status, {}, False) == (0, False)
    assert body_length(200, {"content-length": "99"}, True) == (0, False)


def test_a_head_answer_is_checked_too() -> None:
    # No body follows, but the value is what the caller reports as the object's size.
    with pytest.raises(FramingError):
        body_length(200, {"content-length": "-1"}, True)


@pytest.mark.parametrize("te", ["gzip, chunked", "chunked, gzip", "identity", "chunkedx"])
def test_other_transfer_codings_are_refused(te: str) -> None:
    with pytest.raises(FramingError, match="unsupported Transfer-Encoding"):
        body_length(200, {"transfer-encoding": te}, False)


def test_chunked_with_content_length_is_refused() -> None:
    with pytest.raises(FramingError, match="both"):
        body_length(200, {"transfer-encoding": "chunked", "content-length": "5"}, False)
