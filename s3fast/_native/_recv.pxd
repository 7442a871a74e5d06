# The compiled Receiver's C-level layout: what another Cython module may cimport, and
# what the connection (a Python subclass) may touch. ``public`` fields are readable and
# writable from Python under the names the pure twin (s3fast/_py/_recv.py) uses.
from cpython.buffer cimport Py_buffer


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
    cdef public Py_ssize_t _stash_target
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
