# cython: language_level=3
"""Whole small files created, written and named without the GIL (twin of
``s3fast/_py/_files.py``; see it for the contract, which the two share exactly).

The batch runs on the file thread with the GIL released from its first system call to
its last, so the loop thread keeps receiving on the other core meanwhile.
"""
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE
from libc.errno cimport errno, EINTR, EEXIST, EINVAL, EISDIR, EOPNOTSUPP
from libc.stdlib cimport malloc, free
from libc.stdio cimport snprintf
from posix.unistd cimport pwrite, close, unlink
from posix.stat cimport struct_stat, stat as c_stat, S_ISREG, S_ISDIR

cdef extern from "Python.h":
    bytes PyUnicode_EncodeFSDefault(object)
from libc.string cimport strlen

cdef extern from *:
    """
    #include <fcntl.h>
    #ifndef O_TMPFILE
    #define O_TMPFILE 0  /* no unnamed files here: open() of the directory fails, and
                            the named temporary file is used instead */
    #endif
    """

cdef extern from "<fcntl.h>" nogil:
    int O_TMPFILE
    int O_RDWR
    int O_CREAT
    int O_EXCL
    int O_CLOEXEC
    int AT_FDCWD
    int AT_SYMLINK_FOLLOW
    int c_open "open" (const char*, int, ...)
    int linkat(int, const char*, int, const char*, int)

cdef extern from "<stdio.h>" nogil:
    int c_rename "rename" (const char*, const char*)

from s3fast._py._common import NAME, OPEN, WRITE, check_path

# The stages (defined once, in _common) as C variables for the GIL-free code.
cdef int OPEN_ = OPEN
cdef int WRITE_ = WRITE
cdef int NAME_ = NAME

# ``Job`` and the C-level functions are declared in _files.pxd.


cdef int _write_all(int fd, const char* data, Py_ssize_t size) noexcept nogil:
    cdef Py_ssize_t off = 0, n
    while off < size:
        n = pwrite(fd, data + off, size - off, off)
        if n < 0:
            if errno == EINTR:
                continue
            return errno
        off += n
    return 0


cdef void _fail(Job* j, int stage, int err) noexcept nogil:
    j.stage = stage
    j.err = err


cdef void _run(Job* j, int proc_fd) noexcept nogil:
    cdef int fd = -1, err
    cdef char name[24]
    if proc_fd >= 0:
        fd = c_open(j.directory, O_RDWR | O_CLOEXEC | O_TMPFILE, 0o666)
        if fd < 0 and errno != EOPNOTSUPP and errno != EISDIR and errno != EINVAL:
            _fail(j, OPEN_, errno)
            return
    if fd >= 0:
        # Unnamed until complete: a failure leaves nothing under any name.
        err = _write_all(fd, j.data, j.size)
        if err:
            close(fd)
            _fail(j, WRITE_, err)
            return
        snprintf(name, sizeof(name), "%d", fd)
        if linkat(proc_fd, name, AT_FDCWD, j.path, AT_SYMLINK_FOLLOW) == 0:
            close(fd)
            return
        if errno != EEXIST:
            _fail(j, NAME_, errno)
            close(fd)
            return
        # Replacing a file: name ours beside it, then rename over it (atomic).
        if linkat(proc_fd, name, AT_FDCWD, j.tmp, AT_SYMLINK_FOLLOW) != 0:
            _fail(j, NAME_, errno)
            close(fd)
            return
        close(fd)
    else:
        # No O_TMPFILE here: a hidden temporary sibling, renamed when complete.
        fd = c_open(j.tmp, O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL, 0o666)
        if fd < 0:
            _fail(j, OPEN_, errno)
            return
        err = _write_all(fd, j.data, j.size)
        close(fd)
        if err:
            unlink(j.tmp)
            _fail(j, WRITE_, err)
            return
    if c_rename(j.tmp, j.path) != 0:
        err = errno
        unlink(j.tmp)
        _fail(j, NAME_, err)


def write_files(list jobs, int proc_fd):
    """Create, write and name each file of ``jobs``; see the pure twin."""
    cdef Py_ssize_t k, n = len(jobs), got = 0
    cdef Job* js = <Job*>malloc(n * sizeof(Job) + 1)
    cdef Py_buffer* bufs = <Py_buffer*>malloc(n * sizeof(Py_buffer) + 1)
    cdef list keep = []  # the bytes the C pointers point into, alive until the end
    if js == NULL or bufs == NULL:
        free(js)
        free(bufs)
        raise MemoryError()
    try:
        for k in range(n):
            directory, path, tmp, data = jobs[k]
            directory, path, tmp = bytes(directory), bytes(path), bytes(tmp)
            # Before any file is touched: C would cut a name at a NUL byte.
            check_path(directory)
            check_path(path)
            check_path(tmp)
            keep.append((directory, path, tmp))
            js[k].directory = <const char*>directory
            js[k].path = <const char*>path
            js[k].tmp = <const char*>tmp
            PyObject_GetBuffer(data, &bufs[k], PyBUF_SIMPLE)
            got += 1
            js[k].data = <const char*>bufs[k].buf
            js[k].size = bufs[k].len
            js[k].err = 0
            js[k].stage = 0
        with nogil:
            for k in range(n):
                _run(&js[k], proc_fd)
        return [(js[k].err, js[k].stage) for k in range(n)]
    finally:
        for k in range(got):
            PyBuffer_Release(&bufs[k])
        free(js)
        free(bufs)


def special(path):
    """Whether ``path`` names something other than a regular file or a directory; see the
    pure twin. A stat without an exception for a missing path: ~4 us less per download."""
    cdef bytes b = path if isinstance(path, bytes) else PyUnicode_EncodeFSDefault(path)
    cdef const char* c = b
    cdef struct_stat st
    if <Py_ssize_t>strlen(c) != len(b):
        check_path(path)  # an embedded NUL: refused, as the pure twin does
    if c_stat(c, &st) != 0:
        return False
    return not (S_ISREG(st.st_mode) or S_ISDIR(st.st_mode))
