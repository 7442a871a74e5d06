# Augmenting declarations for s3fast/_py/_sched.py, compiled as s3fast._native._sched: the
# same source typed C. ``public`` fields keep the pure twin's names, readable and writable
# by the Python subclasses in s3fast/tuning (the limiter's awaiting acquire, the meter's
# window closing).


cdef class SlotCore:
    cdef public Py_ssize_t _limit
    cdef public Py_ssize_t _in_flight
    cdef object _waiters
    cdef object _on_change

    cdef void _wake(self) except *
    cdef void _set_in_flight(self, Py_ssize_t n) except *


cdef class MeterCore:
    cdef public object _clock
    cdef public double _t0
    cdef public long long _bytes
    cdef public Py_ssize_t _requests
    cdef public double _latency_sum
    cdef public Py_ssize_t _latency_n
    cdef public double _ttfb_sum
    cdef public Py_ssize_t _ttfb_n
    cdef public Py_ssize_t _throttled
    cdef public Py_ssize_t _timeouts
    cdef public Py_ssize_t _errors
    cdef public Py_ssize_t _in_flight
    cdef public double _in_flight_area
    cdef public double _in_flight_since
    cdef public Py_ssize_t _peak
