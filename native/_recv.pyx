# cython: language_level=3
"""The per-chunk receive path of a connection in C (twin of ``s3fast/_py/_recv.py``).

See the pure module for the design; the two must behave identically.
"""
from ._http import find_head_end

DEF HEAD_BUFFER_SIZE = 65536

MODE_IDLE = 0
MODE_HEAD = 1
MODE_HELD = 2
MODE_BODY = 3


cdef class Receiver:
    cdef public object _headbuf
    cdef public object _headview
    cdef public Py_ssize_t _hlen
    cdef public int _mode
    cdef public object _view
    cdef public Py_ssize_t _vpos
    cdef public Py_ssize_t _vlen
    cdef public long long _remaining
    cdef public bint _partial
    cdef public long long rx_bytes
    cdef public double last_rx
    cdef object _clock

    def __init__(self, clock):
        self._headbuf = bytearray(HEAD_BUFFER_SIZE)
        self._headview = memoryview(self._headbuf)
        self._hlen = 0
        self._mode = 0
        self._view = None
        self._vpos = 0
        self._vlen = 0
        self._remaining = -1
        self._partial = False
        self.rx_bytes = 0
        self.last_rx = 0.0
        self._clock = clock

    def get_buffer(self, sizehint):
        cdef Py_ssize_t n
        if self._mode == 3:
            n = self._vlen - self._vpos
            if 0 <= self._remaining < n:
                n = <Py_ssize_t>self._remaining
            return self._view[self._vpos:self._vpos + n]
        if self._hlen >= HEAD_BUFFER_SIZE:
            return memoryview(bytearray(4096))
        return self._headview[self._hlen:]

    def buffer_updated(self, Py_ssize_t nbytes):
        cdef Py_ssize_t old, end
        self.last_rx = self._clock()
        if self._mode == 3:
            self._vpos += nbytes
            self.rx_bytes += nbytes
            if self._remaining > 0:
                self._remaining -= nbytes
            if self._vpos == self._vlen or self._remaining == 0 or self._partial:
                self._view_done()
        elif self._mode == 1:
            old = self._hlen
            if old >= HEAD_BUFFER_SIZE:
                self._unexpected_data()
                return
            self._hlen = old + nbytes
            end = find_head_end(self._headbuf, old, self._hlen)
            if end >= 0:
                self._head_done(end)
            elif self._hlen >= HEAD_BUFFER_SIZE:
                self._unexpected_data()
        else:
            self._hlen += nbytes
            self._unexpected_data()

    def _set_view(self, view, bint partial=False):
        self._partial = partial
        self._view = view
        self._vpos = 0
        self._vlen = len(view)
        self._mode = 3

    def _view_filled(self):
        return self._vpos

    def _head_done(self, end):
        raise NotImplementedError

    def _view_done(self):
        raise NotImplementedError

    def _unexpected_data(self):
        raise NotImplementedError
