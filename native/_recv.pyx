# cython: language_level=3
"""The per-chunk receive path of a connection in C (twin of ``s3fast/_py/_recv.py``).

See the pure module for the design; the two must behave identically.
"""
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE, PyBUF_WRITABLE
from libc.errno cimport errno, EINTR
from posix.unistd cimport pwrite

import os

from ._http import find_head_end
from s3fast._py._common import (FILE_PROGRESS_STEP, HEAD_BUFFER_SIZE, MODE_BODY, MODE_FILE, MODE_HEAD, MODE_HELD,
                                MODE_IDLE, MODE_STASH, MAX_CONTENT_LENGTH, HeadError)

# The shared constants (defined once, in _common) as C variables for the hot paths.
cdef Py_ssize_t HEAD_SIZE_ = HEAD_BUFFER_SIZE
cdef long long FILE_PROGRESS_STEP_ = FILE_PROGRESS_STEP
cdef int M_IDLE = MODE_IDLE
cdef int M_HEAD = MODE_HEAD
cdef int M_HELD = MODE_HELD
cdef int M_BODY = MODE_BODY
cdef int M_FILE = MODE_FILE
cdef int M_STASH = MODE_STASH


cdef class Receiver:
    # Fields and C-level methods are declared in _recv.pxd.

    def __init__(self, clock):
        self._headbuf = bytearray(HEAD_SIZE_)
        self._headview = memoryview(self._headbuf)
        self._hlen = 0
        self._mode = M_IDLE
        self._view = None
        self._vpos = 0
        self._vlen = 0
        self._remaining = -1
        self._partial = False
        self.rx_bytes = 0
        self._stash_target = 0
        self.last_rx = 0.0
        self._clock = clock
        self._fd = -1
        self._fheld = False
        self.file_written = 0
        self.file_crc = 0
        self.file_error = None

    def __dealloc__(self):
        if self._fheld:
            PyBuffer_Release(&self._fbuf)
            self._fheld = False

    def get_buffer(self, sizehint):
        cdef Py_ssize_t n
        if self._mode == M_FILE:
            n = self._fbuf.len
            if self._fleft < n:
                n = <Py_ssize_t>self._fleft
            return self._fbufobj[:n]
        if self._mode == M_BODY:
            n = self._vlen - self._vpos
            if 0 <= self._remaining < n:
                n = <Py_ssize_t>self._remaining
            return self._view[self._vpos:self._vpos + n]
        if self._mode == M_STASH:
            return self._headview[self._hlen:self._stash_target]
        if self._hlen >= HEAD_SIZE_:
            return memoryview(bytearray(4096))
        return self._headview[self._hlen:]

    def buffer_updated(self, Py_ssize_t nbytes):
        cdef Py_ssize_t old, end
        self.last_rx = self._clock()
        if self._mode == M_FILE:
            self._file_received(nbytes)
        elif self._mode == M_BODY:
            self._vpos += nbytes
            self.rx_bytes += nbytes
            if self._remaining > 0:
                self._remaining -= nbytes
            if self._vpos == self._vlen or self._remaining == 0 or self._partial:
                self._view_done()
        elif self._mode == M_STASH:
            self._hlen += nbytes
            self.rx_bytes += nbytes
            if self._hlen >= self._stash_target:
                self._stash_done()
        elif self._mode == M_HEAD:
            old = self._hlen
            if old >= HEAD_SIZE_:
                self._unexpected_data()
                return
            self._hlen = old + nbytes
            try:
                end = find_head_end(self._headbuf, old, self._hlen)
            except HeadError as exc:
                self._head_invalid(exc)
                return
            if end >= 0:
                self._head_done(end)
            elif self._hlen >= HEAD_SIZE_:
                self._unexpected_data()
        else:
            self._hlen += nbytes
            self._unexpected_data()

    cdef _file_received(self, Py_ssize_t nbytes):
        cdef const char *p = <const char *>self._fbuf.buf
        cdef Py_ssize_t left = nbytes
        cdef long long off = self._foff
        cdef Py_ssize_t n = 0
        cdef int fd = self._fd
        cdef int err = 0
        self.rx_bytes += nbytes
        if self._remaining > 0:
            self._remaining -= nbytes
        with nogil:
            while left > 0:
                n = pwrite(fd, p, left, off)
                if n < 0:
                    if errno == EINTR:
                        continue
                    err = errno
                    break
                p += n
                left -= n
                off += n
        if err:
            self.file_error = OSError(err, os.strerror(err))
            self._file_done()
            return
        if self._fcrc_fn is not None:
            self.file_crc = self._fcrc_fn(self._fbufobj[:nbytes], self.file_crc)
        self._foff += nbytes
        self._fleft -= nbytes
        self.file_written += nbytes
        if self._fleft == 0:
            self._file_done()
        elif self._fon_progress is not None:
            self._funreported += nbytes
            if self._funreported >= FILE_PROGRESS_STEP_:
                self._funreported = 0
                self._fon_progress()

    def begin_file(self, int fd, long long offset, long long nbytes, buf, crc_fn, crc, on_progress):
        if self._fheld:
            PyBuffer_Release(&self._fbuf)
            self._fheld = False
        PyObject_GetBuffer(buf, &self._fbuf, PyBUF_SIMPLE | PyBUF_WRITABLE)
        self._fheld = True
        self._fbufobj = buf
        self._fd = fd
        self._foff = offset
        self._fleft = nbytes
        self._fcrc_fn = crc_fn
        self._fon_progress = on_progress
        self._funreported = 0
        self.file_written = 0
        self.file_crc = crc
        self.file_error = None
        self._mode = M_FILE

    def end_file(self):
        if self._fheld:
            PyBuffer_Release(&self._fbuf)
            self._fheld = False
        self._fbufobj = None
        self._fcrc_fn = None
        self._fon_progress = None
        self._fd = -1

    # State changes the connection makes (see the pure twin).
    def expect_head(self):
        self._hlen = 0
        self._remaining = -1
        self._mode = M_HEAD

    def hold(self):
        self._mode = M_HELD

    def set_idle(self):
        self._mode = M_IDLE
        self._hlen = 0

    def set_remaining(self, n):
        if not -1 <= n <= MAX_CONTENT_LENGTH:
            raise ValueError(f"body length {n} out of range")
        self._remaining = n

    def take(self, long long n):
        if self._remaining > 0:
            self._remaining -= n

    def external_received(self, long long n):
        self.rx_bytes += n
        if self._remaining > 0:
            self._remaining -= n

    def begin_external(self):
        self._mode = M_FILE

    @property
    def mode(self):
        return self._mode

    @property
    def remaining(self):
        return self._remaining

    @property
    def head_length(self):
        return self._hlen

    @property
    def head_view(self):
        return self._headview

    @property
    def stash_target(self):
        return self._stash_target

    def receive_into(self, view, bint partial=False):
        self._partial = partial
        self._view = view
        self._vpos = 0
        self._vlen = len(view)
        self._mode = M_BODY

    def stash_until(self, Py_ssize_t target):
        if not self._hlen <= target <= HEAD_SIZE_:
            raise ValueError(f"stash target {target} outside {self._hlen}..{HEAD_SIZE_}")
        self._stash_target = target
        self._mode = M_STASH

    def view_filled(self):
        return self._vpos

    def _head_done(self, end):
        raise NotImplementedError

    def _view_done(self):
        raise NotImplementedError

    def _file_done(self):
        raise NotImplementedError

    def _stash_done(self):
        raise NotImplementedError

    def _unexpected_data(self):
        raise NotImplementedError

    def _head_invalid(self, exc):
        self._unexpected_data()
