# cython: language_level=3
"""HTTP/1.1 response-head parsing in C (twin of ``s3fast/_py/_http.py``).

Runs once per response; for many small objects (thousands of requests a second)
the pure version's split/partition/decode chain shows in profiles.
"""
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_DecodeLatin1
from libc.string cimport memchr, memcmp

from s3fast._py._common import HeadError, MAX_HEAD_SIZE, MAX_HEADERS, parse_content_length

# The shared limits, as C variables for the loops below (one definition, in _common).
cdef Py_ssize_t _MAX_HEAD = MAX_HEAD_SIZE
cdef Py_ssize_t _MAX_LINES = MAX_HEADERS

cdef extern from "Python.h":
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void* PyUnicode_DATA(object o)


cdef inline str _lower_ascii(const unsigned char* p, Py_ssize_t n):
    """A header name as a lower-case str, built in place (no bytes, decode, lower())."""
    cdef Py_ssize_t i
    cdef unsigned char c
    for i in range(n):
        if p[i] >= 128:
            return PyUnicode_DecodeLatin1(<const char*>p, n, NULL).lower()
    cdef object out = PyUnicode_New(n, 127)
    cdef unsigned char* d = <unsigned char*>PyUnicode_DATA(out)
    for i in range(n):
        c = p[i]
        d[i] = c + 32 if 65 <= c <= 90 else c
    return <str>out


def find_head_end(buf, Py_ssize_t start, Py_ssize_t end):
    """Offset just past the ``\\r\\n\\r\\n`` that ends the head in ``buf[:end]``, or -1."""
    cdef Py_buffer view
    cdef const unsigned char* p
    cdef const unsigned char* hit
    cdef Py_ssize_t i = start - 3
    cdef Py_ssize_t hi
    PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE)
    p = <const unsigned char*>view.buf
    if i < 0:
        i = 0
    if end > view.len:
        end = view.len
    hi = end if end < _MAX_HEAD else _MAX_HEAD
    try:
        while i + 3 < hi:
            hit = <const unsigned char*>memchr(p + i, 13, hi - 3 - i)
            if hit == NULL:
                break
            i = hit - p
            if p[i + 1] == 10 and p[i + 2] == 13 and p[i + 3] == 10:
                return i + 4
            i += 1
    finally:
        PyBuffer_Release(&view)
    if end >= _MAX_HEAD:
        raise HeadError(f"response head larger than {MAX_HEAD_SIZE} bytes")
    return -1


cdef inline bint _is_space(unsigned char c):
    return c == 32 or c == 9


cdef inline bint _is_content_length(const unsigned char* p) noexcept:
    """Whether the 14 bytes at ``p`` spell Content-Length, in any case."""
    cdef const char* want = b"content-length"
    cdef int k
    cdef unsigned char c
    for k in range(14):
        c = p[k]
        if 65 <= c <= 90:
            c += 32
        if c != <unsigned char>want[k]:
            return False
    return True


cdef inline bint _plain_length(const unsigned char* p, Py_ssize_t n) noexcept:
    """``parse_content_length``'s rule on bytes: 1 to 19 ASCII digits, at most 2^63-1."""
    cdef Py_ssize_t k
    if n < 1 or n > 19:
        return False
    for k in range(n):
        if not (48 <= p[k] <= 57):
            return False
    return n < 19 or memcmp(p, b"9223372036854775807", 19) <= 0


def parse_head(head):
    """``HTTP/1.1 206 Partial Content\\r\\nA: b\\r\\n...`` -> (206, "Partial Content", {"a": "b"})."""
    cdef Py_buffer view
    PyObject_GetBuffer(head, &view, PyBUF_SIMPLE)
    try:
        if view.len > _MAX_HEAD:
            raise HeadError(f"response head larger than {MAX_HEAD_SIZE} bytes")
        return _parse(<const unsigned char*>view.buf, view.len, head)
    finally:
        PyBuffer_Release(&view)


cdef tuple _parse(const unsigned char* p, Py_ssize_t n, head):
    cdef Py_ssize_t i = 0
    cdef Py_ssize_t line_end, colon, vs, ve, count = 0
    cdef bint cl_seen = False, cl_bad = False
    cdef int status
    cdef dict headers = {}
    cdef str key, value
    cdef object prev
    if n == 0:
        raise HeadError("bad status line: b''")
    # status line
    line_end = 0
    while line_end < n and not (p[line_end] == 13 and line_end + 1 < n and p[line_end + 1] == 10):
        line_end += 1
    if line_end < 12 or memcmp(p, b"HTTP/1.", 7) != 0 or not (48 <= p[7] <= 57) or p[8] != 32:
        raise HeadError(f"bad status line: {bytes(head[:min(line_end, 80)])!r}")
    if not (48 <= p[9] <= 57 and 48 <= p[10] <= 57 and 48 <= p[11] <= 57):
        raise HeadError(f"bad status line: {bytes(head[:min(line_end, 80)])!r}")
    if line_end > 12 and p[12] != 32:
        raise HeadError(f"bad status line: {bytes(head[:min(line_end, 80)])!r}")
    status = (p[9] - 48) * 100 + (p[10] - 48) * 10 + (p[11] - 48)
    reason = PyUnicode_DecodeLatin1(<const char*>p + 13, line_end - 13, NULL) if line_end > 13 else ""
    i = line_end + 2
    while i < n:
        line_end = i
        while line_end < n and not (p[line_end] == 13 and line_end + 1 < n and p[line_end + 1] == 10):
            line_end += 1
        if line_end == i:
            i += 2
            continue
        count += 1
        if count > _MAX_LINES:
            raise HeadError(f"more than {MAX_HEADERS} header lines")
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
        if colon - i == 14 and _is_content_length(p + i):
            # Checked on the bytes (the shared rule: parse_content_length), and a second
            # one is refused as the joined value would be.
            cl_bad = cl_bad or cl_seen or not _plain_length(p + vs, ve - vs)
            cl_seen = True
        key = _lower_ascii(p + i, colon - i)
        value = PyUnicode_DecodeLatin1(<const char*>p + vs, ve - vs, NULL)
        prev = headers.get(key)
        headers[key] = value if prev is None else prev + ", " + value
        i = line_end + 2
    if cl_bad:
        parse_content_length(headers["content-length"])  # raises, with the pure twin's message
        raise HeadError("bad Content-Length")
    return status, reason, headers
