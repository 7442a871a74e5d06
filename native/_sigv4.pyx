# cython: language_level=3
"""SigV4 request heads in C (twin of ``s3fast/_py/_sigv4.py``; see it for the rules).

The canonical request, the string to sign and the head are assembled in C buffers from
the strings' own bytes; hashing stays with ``hashlib`` (OpenSSL) and the caller's cached
HMAC key. Only plain ASCII requests with distinct header names take this path; anything
else (a non-ASCII value, a repeated header name, more than 32 headers or query
parameters) goes to the pure twin, which handles every case. So does anything that
could break the head's framing (CR, LF or NUL in any piece, a space in the method or
target): one pass over the bytes already in hand, and the pure twin raises the error.
"""
import hashlib

from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdlib cimport malloc, free
from libc.string cimport memchr, memcpy, memcmp

from s3fast._py import _sigv4 as _pure

ALGORITHM = _pure.ALGORITHM
canonical_query = _pure.canonical_query
trim = _pure.trim
sign_headers = _pure.sign_headers
plain_head = _pure.plain_head

cdef object _sha256 = hashlib.sha256

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object s, Py_ssize_t* size) except NULL
    bint PyUnicode_IS_ASCII(object s)

DEF MAXN = 40  # headers (32 given + 3 added) or query parameters


cdef struct Span:
    const char* p
    Py_ssize_t n


cdef struct Pair:
    Span k
    Span v


cdef inline bint _ascii(object s, Span* out):
    if not isinstance(s, str) or not PyUnicode_IS_ASCII(s):
        return False
    out.p = PyUnicode_AsUTF8AndSize(s, &out.n)
    return True


cdef inline Py_ssize_t _count(const char* p, Py_ssize_t n, int c) noexcept:
    """How many bytes ``c`` the ``n`` bytes at ``p`` hold (memchr: vectorised)."""
    cdef const char* end = p + n
    cdef Py_ssize_t k = 0
    while p < end:
        p = <const char*>memchr(p, c, end - p)
        if p == NULL:
            break
        k += 1
        p += 1
    return k


cdef inline int _cmp(Span a, Span b) noexcept:
    cdef Py_ssize_t n = a.n if a.n < b.n else b.n
    cdef int c = memcmp(a.p, b.p, n)
    if c:
        return c
    return (a.n > b.n) - (a.n < b.n)


cdef void _sort(Pair* a, int n) noexcept:
    """Insertion sort by (name, value): Python's order of the same tuples, for ASCII."""
    cdef int i, j
    cdef Pair x
    cdef int c
    for i in range(1, n):
        x = a[i]
        j = i - 1
        while j >= 0:
            c = _cmp(a[j].k, x.k)
            if c < 0 or (c == 0 and _cmp(a[j].v, x.v) <= 0):
                break
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = x


cdef inline bint _ws(char c) noexcept:
    # str.isspace() over ASCII
    return c == 32 or (9 <= c <= 13) or (28 <= c <= 31)


cdef class _Buf:
    cdef char* p
    cdef Py_ssize_t n, cap

    def __cinit__(self, Py_ssize_t cap):
        self.p = <char*>malloc(cap)
        if self.p == NULL:
            raise MemoryError()
        self.n = 0
        self.cap = cap

    def __dealloc__(self):
        free(self.p)

    cdef inline void put(self, const char* s, Py_ssize_t k) noexcept:
        memcpy(self.p + self.n, s, k)
        self.n += k

    cdef inline void span(self, Span s) noexcept:
        memcpy(self.p + self.n, s.p, s.n)
        self.n += s.n

    cdef inline void ch(self, char c) noexcept:
        self.p[self.n] = c
        self.n += 1

    cdef void trimmed(self, Span s) noexcept:
        """The value as SigV4 canonicalises it (``_pure.trim`` semantics): ends stripped;
        runs of whitespace collapsed to one space only when the stripped value holds two
        spaces in a row."""
        cdef Py_ssize_t a = 0, b = s.n, i
        cdef bint collapse = False, in_ws = False
        while a < b and _ws(s.p[a]):
            a += 1
        while b > a and _ws(s.p[b - 1]):
            b -= 1
        for i in range(a, b - 1):
            if s.p[i] == 32 and s.p[i + 1] == 32:
                collapse = True
                break
        if not collapse:
            self.put(s.p + a, b - a)
            return
        for i in range(a, b):
            if _ws(s.p[i]):
                if not in_ws:
                    self.ch(32)
                in_ws = True
            else:
                self.ch(s.p[i])
                in_ws = False


def signed_head(method, target, headers, user_agent, payload, amz_date, scope, access_key, token, key):
    """See ``_pure.signed_head``; the same bytes."""
    cdef Pair hs[MAXN]
    cdef Pair srt[MAXN]
    cdef Pair qs[MAXN]
    cdef int nh = 0, nq = 0, i
    cdef Span sm, st, sua, spl, sdate, sscope, sak, stok, path, query, s
    cdef Py_ssize_t size, qpos, j, start
    cdef bint has_token = token is not None and len(token) > 0
    if not (_ascii(method, &sm) and _ascii(target, &st) and _ascii(user_agent, &sua) and _ascii(payload, &spl)
            and _ascii(amz_date, &sdate) and _ascii(scope, &sscope) and _ascii(access_key, &sak)):
        return _pure.signed_head(method, target, headers, user_agent, payload, amz_date, scope, access_key, token, key)
    if has_token and not _ascii(token, &stok):
        return _pure.signed_head(method, target, headers, user_agent, payload, amz_date, scope, access_key, token, key)
    if memchr(sm.p, 32, sm.n) != NULL or memchr(st.p, 32, st.n) != NULL:  # would split the request line
        return _pure.signed_head(method, target, headers, user_agent, payload, amz_date, scope, access_key, token, key)
    if len(headers) > MAXN - 3:
        return _pure.signed_head(method, target, headers, user_agent, payload, amz_date, scope, access_key, token, key)
    size = sm.n + st.n + sua.n + spl.n + sdate.n + sscope.n + sak.n + 64
    for name, value in headers:
        if not (_ascii(name, &hs[nh].k) and _ascii(value, &hs[nh].v)):
            return _pure.signed_head(method, target, headers, user_agent, payload, amz_date, scope, access_key, token, key)
        size += hs[nh].k.n + hs[nh].v.n
        nh += 1
    hs[nh].k.p = b"x-amz-content-sha256"; hs[nh].k.n = 20; hs[nh].v = spl; nh += 1
    hs[nh].k.p = b"x-amz-date"; hs[nh].k.n = 10; hs[nh].v = sdate; nh += 1
    if has_token:
        hs[nh].k.p = b"x-amz-security-token"; hs[nh].k.n = 20; hs[nh].v = stok; nh += 1
        size += stok.n
    for i in range(nh):
        srt[i] = hs[i]
    _sort(srt, nh)
    for i in range(1, nh):
        if _cmp(srt[i - 1].k, srt[i].k) == 0:  # a repeated name: values are joined
            return _pure.signed_head(method, target, headers, user_agent, payload, amz_date, scope, access_key, token, key)
    # path and query
    path.p = st.p
    path.n = st.n
    query.p = st.p
    query.n = 0
    for j in range(st.n):
        if st.p[j] == 63:  # '?'
            path.n = j
            query.p = st.p + j + 1
            query.n = st.n - j - 1
            break
    if query.n:
        start = 0
        for j in range(query.n + 1):
            if j == query.n or query.p[j] == 38:  # '&'
                if nq == MAXN:
                    return _pure.signed_head(method, target, headers, user_agent, payload, amz_date, scope,
                                             access_key, token, key)
                s.p = query.p + start
                s.n = j - start
                qs[nq].k = s
                qs[nq].v.p = s.p + s.n
                qs[nq].v.n = 0
                for qpos in range(s.n):
                    if s.p[qpos] == 61:  # '='
                        qs[nq].k.n = qpos
                        qs[nq].v.p = s.p + qpos + 1
                        qs[nq].v.n = s.n - qpos - 1
                        break
                nq += 1
                start = j + 1
        _sort(qs, nq)
    # canonical request: names and values at most once each, plus separators
    cdef _Buf canon = _Buf(2 * size + 4 * (nh + nq) + 64)
    canon.span(sm); canon.ch(10)
    canon.span(path); canon.ch(10)
    for i in range(nq):
        if i:
            canon.ch(38)
        canon.span(qs[i].k); canon.ch(61); canon.span(qs[i].v)
    canon.ch(10)
    for i in range(nh):
        canon.span(srt[i].k); canon.ch(58); canon.trimmed(srt[i].v); canon.ch(10)
    canon.ch(10)
    cdef Py_ssize_t names_at = canon.n
    for i in range(nh):
        if i:
            canon.ch(59)
        canon.span(srt[i].k)
    cdef Py_ssize_t names_end = canon.n
    canon.ch(10)
    canon.span(spl)
    digest = _sha256(PyBytes_FromStringAndSize(canon.p, canon.n)).hexdigest()
    cdef Span sdig
    _ascii(digest, &sdig)
    # string to sign
    cdef _Buf sts = _Buf(sdate.n + sscope.n + sdig.n + 32)
    sts.put(b"AWS4-HMAC-SHA256\n", 17); sts.span(sdate); sts.ch(10); sts.span(sscope); sts.ch(10); sts.span(sdig)
    signature = key.hexdigest(PyBytes_FromStringAndSize(sts.p, sts.n))
    cdef Span ssig
    if not _ascii(signature, &ssig):
        raise ValueError("signature is not ASCII")
    # the head: the given headers in order, then the added ones, then Authorization
    cdef _Buf head = _Buf(size + (names_end - names_at) + ssig.n + 6 * nh + 256)
    head.span(sm); head.ch(32); head.span(st); head.put(b" HTTP/1.1\r\nUser-Agent: ", 23); head.span(sua)
    head.put(b"\r\n", 2)
    for i in range(nh):
        head.span(hs[i].k); head.put(b": ", 2); head.span(hs[i].v); head.put(b"\r\n", 2)
    head.put(b"authorization: AWS4-HMAC-SHA256 Credential=", 43)
    head.span(sak); head.ch(47); head.span(sscope)
    head.put(b", SignedHeaders=", 16)
    head.put(canon.p + names_at, names_end - names_at)
    head.put(b", Signature=", 12)
    head.span(ssig)
    head.put(b"\r\n\r\n", 4)
    # Every piece is in the head: one line per header, the request line, User-Agent,
    # Authorization and the empty line. Any other CR or LF (or a NUL) came from a piece:
    # the pure twin names it and raises.
    if (_count(head.p, head.n, 13) != nh + 4 or _count(head.p, head.n, 10) != nh + 4
            or memchr(head.p, 0, head.n) != NULL):
        return _pure.signed_head(method, target, headers, user_agent, payload, amz_date, scope, access_key, token, key)
    return PyBytes_FromStringAndSize(head.p, head.n)
