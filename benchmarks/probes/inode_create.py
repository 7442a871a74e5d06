"""What creating a file costs here, and whether deleting files just before makes it dearer.

    inode_create.py DIR

Four rounds of: 1,000 files created in a new directory of ``DIR`` (O_TMPFILE + linkat +
close, as ``FileSink`` does), deleted, and 1,000 more created at once. Printed: CPU µs per
file of each batch. On ext4 without a journal the kernel skips every inode freed within the
last minute (five if its inode-table block is still dirty) when it allocates one
(``recently_deleted`` in ``fs/ext4/ialloc.c``), so the cost grows with the deletes of
the last minutes (every process's, in the same block group); ``perf record -g`` shows it.
"""
import os
import resource
import shutil
import sys

base = sys.argv[1]
PROC = os.open(f"/proc/{os.getpid()}/fd", os.O_RDONLY | os.O_DIRECTORY)


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def create(d: str, n: int = 1000) -> float:
    os.makedirs(d)
    c0 = cpu()
    for i in range(n):
        fd = os.open(d, os.O_RDWR | os.O_TMPFILE, 0o666)
        os.link(str(fd), f"{d}/f{i}", src_dir_fd=PROC)
        os.close(fd)
    return (cpu() - c0) / n * 1e6


for r in range(4):
    a = create(f"{base}/r{r}")
    shutil.rmtree(f"{base}/r{r}")
    b = create(f"{base}/r{r}b")
    shutil.rmtree(f"{base}/r{r}b")
    print(f"round {r}: CPU µs per file created {a:.0f}; again right after deleting those 1,000: {b:.0f}")
