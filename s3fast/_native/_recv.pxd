# The compiled Receiver's C-level layout: what another Cython module may cimport. Its
# state is private: the connection (a Python subclass) goes through the methods and
# read-only properties the pure twin (s3fast/_py/_recv.py) has too. ``public`` fields are
# the counters others read (and the watchdog's ``last_rx``, which it refreshes).
from cpython.buffer cimport Py_buffer


cdef class Receiver:
    cdef object _headbuf
    cdef object _headview
    cdef Py_ssize_t _hlen
    cdef int _mode
    cdef object _view
    cdef Py_ssize_t _vpos
    cdef Py_ssize_t _vlen
    cdef long long _remaining
    cdef bint _partial
    cdef public long long rx_bytes
    cdef Py_ssize_t _stash_target
    cdef public double last_rx
    cdef object _clock
    # file mode
    cdef int _fd
    cdef long long _foff
    cdef long long _fleft
    cdef object _fbufobj
    cdef Py_buffer _fbuf
    cdef bint _fheld
    cdef object _fcrc_fn
    cdef object _fon_progress
    cdef long long _funreported
    cdef public long long file_written
    cdef public object file_crc
    cdef public object file_error

    cdef _file_received(self, Py_ssize_t nbytes)
