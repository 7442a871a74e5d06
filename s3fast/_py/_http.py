"""HTTP/1.1 response-head parsing, pure Python (twin of ``native/_http.pyx``).

Keep the two in step: the test suite runs every test against both.
"""
from __future__ import annotations


class HeadError(ValueError):
    """The bytes are not a valid HTTP/1.1 response head."""


def find_head_end(buf: bytes | bytearray | memoryview, start: int, end: int) -> int:
    """Offset just past the ``\\r\\n\\r\\n`` that ends the head in ``buf[:end]``, or -1.

    ``start`` is where new bytes began: the search backs up 3 bytes so a terminator
    split across two receives is still found.
    """
    i = bytes(buf[max(0, start - 3):end]).find(b"\r\n\r\n")
    return -1 if i < 0 else max(0, start - 3) + i + 4


def parse_head(head: bytes | bytearray | memoryview) -> tuple[int, str, dict[str, str]]:
    """``HTTP/1.1 206 Partial Content\\r\\nA: b\\r\\n...`` -> (206, "Partial Content", {"a": "b"}).

    Header names are lower-cased; repeated headers are joined with ", " as RFC 9110 allows.
    """
    text = bytes(head).decode("latin-1")
    lines = text.split("\r\n")
    status_line = lines[0]
    if not status_line.startswith("HTTP/1."):
        raise HeadError(f"bad status line: {status_line[:80]!r}")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or len(parts[1]) != 3 or not parts[1].isdigit():
        raise HeadError(f"bad status line: {status_line[:80]!r}")
    status = int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HeadError(f"bad header line: {line[:80]!r}")
        key = name.lower()
        value = value.strip(" \t")
        if key in headers:
            headers[key] = headers[key] + ", " + value
        else:
            headers[key] = value
    return status, reason, headers
