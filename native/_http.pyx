# cython: language_level=3
"""HTTP/1.1 response-head parsing in C (twin of ``s3fast/_py/_http.py``).

Runs once per response; for many small objects (thousands of requests a second)
the pure version's split/partition/decode chain shows in profiles.
"""
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.string cimport memchr, memcmp


class HeadError(ValueError):
    """The bytes are not a valid HTTP/1.1 response head."""


def find_head_end(const unsigned char[:] buf, Py_ssize_t start, Py_ssize_t end):
    """Offset just past the ``\\r\\n\\r\\n`` that ends the head in ``buf[:end]``, or -1."""
    cdef Py_ssize_t i = start - 3
    if i < 0:
        i = 0
    if end > buf.shape[0]:
        end = buf.shape[0]
    while i + 3 < end:
        if buf[i] == 13 and buf[i + 1] == 10 and buf[i + 2] == 13 and buf[i + 3] == 10:
            return i + 4
        i += 1
    return -1


cdef inline bint _is_space(unsigned char c):
    return c == 32 or c == 9


def parse_head(head):
    """``HTTP/1.1 206 Partial Content\\r\\nA: b\\r\\n...`` -> (206, "Partial Content", {"a": "b"})."""
    cdef const unsigned char[:] buf = head
    cdef Py_ssize_t n = buf.shape[0]
    cdef Py_ssize_t i = 0, line_end, colon, vs, ve, ns
    cdef int status
    cdef dict headers = {}
    cdef str key, value
    cdef const unsigned char* p
    if n == 0:
        raise HeadError("bad status line: ''")
    p = &buf[0]
    # status line
    line_end = 0
    while line_end < n and not (p[line_end] == 13 and line_end + 1 < n and p[line_end + 1] == 10):
        line_end += 1
    if line_end < 12 or memcmp(p, b"HTTP/1.", 7) != 0 or p[8] != 32:
        raise HeadError(f"bad status line: {bytes(head[:min(line_end, 80)])!r}")
    if not (48 <= p[9] <= 57 and 48 <= p[10] <= 57 and 48 <= p[11] <= 57):
        raise HeadError(f"bad status line: {bytes(head[:min(line_end, 80)])!r}")
    if line_end > 12 and p[12] != 32:
        raise HeadError(f"bad status line: {bytes(head[:min(line_end, 80)])!r}")
    status = (p[9] - 48) * 100 + (p[10] - 48) * 10 + (p[11] - 48)
    reason = PyBytes_FromStringAndSize(<char*>p + 13, line_end - 13).decode("latin-1") if line_end > 13 else ""
    i = line_end + 2
    while i < n:
        line_end = i
        while line_end < n and not (p[line_end] == 13 and line_end + 1 < n and p[line_end + 1] == 10):
            line_end += 1
        if line_end == i:
            i += 2
            continue
        colon = i
        while colon < line_end and p[colon] != 58:
            colon += 1
        if colon == line_end or colon == i or _is_space(p[i]) or _is_space(p[colon - 1]):
            raise HeadError(f"bad header line: {PyBytes_FromStringAndSize(<char*>p + i, min(line_end - i, 80))!r}")
        vs = colon + 1
        ve = line_end
        while vs < ve and _is_space(p[vs]):
            vs += 1
        while ve > vs and _is_space(p[ve - 1]):
            ve -= 1
        key = PyBytes_FromStringAndSize(<char*>p + i, colon - i).decode("latin-1").lower()
        value = PyBytes_FromStringAndSize(<char*>p + vs, ve - vs).decode("latin-1")
        if key in headers:
            headers[key] = headers[key] + ", " + value
        else:
            headers[key] = value
        i = line_end + 2
    return status, reason, headers
