# The compiled small-file writer's C-level API: one file's job and the GIL-free steps
# that create, write and name it (the Python-level contract is in s3fast/_py/_files.py).

cdef struct Job:
    const char* directory
    const char* path
    const char* tmp
    const char* data
    Py_ssize_t size
    int err      # errno of the failed step, 0 on success
    int stage    # OPEN, WRITE or NAME (s3fast._py._common), 0 on success

cdef int _write_all(int fd, const char* data, Py_ssize_t size) noexcept nogil
cdef void _fail(Job* j, int stage, int err) noexcept nogil
cdef void _run(Job* j, int proc_fd) noexcept nogil
