"""HTTP/1.1 response-head parsing, pure Python (twin of ``native/_http.pyx``).

Keep the two in step: the parity tests feed both the same bytes, and the test suite runs
every test against each. Limits and ``HeadError`` come from ``_common``, shared by both.
"""
from __future__ import annotations

from ._common import MAX_HEAD_SIZE, MAX_HEADERS, HeadError, parse_content_length

__all__ = ["HeadError", "MAX_HEAD_SIZE", "MAX_HEADERS", "find_head_end", "parse_content_length", "parse_head"]

_DIGITS = b"0123456789"


def find_head_end(buf: bytes | bytearray | memoryview, start: int, end: int) -> int:
    """Offset just past the ``\\r\\n\\r\\n`` that ends the head in ``buf[:end]``, or -1.

    ``start`` is where new bytes began: the search backs up 3 bytes so a terminator
    split across two receives is still found. A head (terminator included) longer than
    ``MAX_HEAD_SIZE`` raises ``HeadError`` as soon as that many bytes are in.
    """
    lo = max(0, start - 3)
    hi = min(end, MAX_HEAD_SIZE)
    if isinstance(buf, (bytes, bytearray)):
        i = buf.find(b"\r\n\r\n", lo, hi)  # searched in place: no copy of the buffer
    else:
        i = bytes(buf[lo:hi]).find(b"\r\n\r\n")
        i = i + lo if i >= 0 else -1
    if i >= 0:
        return i + 4
    if end >= MAX_HEAD_SIZE:
        raise HeadError(f"response head larger than {MAX_HEAD_SIZE} bytes")
    return -1


def _bad_status(line: bytes) -> HeadError:
    return HeadError(f"bad status line: {line[:80]!r}")


def parse_head(head: bytes | bytearray | memoryview) -> tuple[int, str, dict[str, str]]:
    """``HTTP/1.1 206 Partial Content\\r\\nA: b\\r\\n...`` -> (206, "Partial Content", {"a": "b"}).

    Header names are lower-cased; repeated headers are joined with ", " as RFC 9110 allows.
    A Content-Length must be a plain decimal number (``parse_content_length``).
    """
    raw = bytes(head)
    if len(raw) > MAX_HEAD_SIZE:
        raise HeadError(f"response head larger than {MAX_HEAD_SIZE} bytes")
    lines = raw.split(b"\r\n")
    status_line = lines[0]
    if (len(status_line) < 12 or not status_line.startswith(b"HTTP/1.") or status_line[7] not in _DIGITS
            or status_line[8] != 32 or not all(c in _DIGITS for c in status_line[9:12])
            or (len(status_line) > 12 and status_line[12] != 32)):
        raise _bad_status(status_line)
    status = int(status_line[9:12])
    reason = status_line[13:].decode("latin-1")
    headers: dict[str, str] = {}
    count = 0
    for line in lines[1:]:
        if not line:
            continue
        count += 1
        if count > MAX_HEADERS:
            raise HeadError(f"more than {MAX_HEADERS} header lines")
        name, sep, value = line.partition(b":")
        if not sep or not name or name[0] in b" \t" or name[-1] in b" \t":
            raise HeadError(f"bad header line: {line[:80]!r}")
        key = name.decode("latin-1").lower()
        text = value.strip(b" \t").decode("latin-1")
        prev = headers.get(key)
        headers[key] = text if prev is None else prev + ", " + text
    cl = headers.get("content-length")
    if cl is not None:
        parse_content_length(cl)
    return status, reason, headers
