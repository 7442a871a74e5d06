"""The descriptors this process inherited: a snapshot taken when ``s3fast`` is imported.

A path such as ``/dev/fd/N`` may name a descriptor the program was started with (a shell's
``3>out.bin``, a process substitution's pipe) but never one s3fast or the event loop opened
(sockets, pipes, epoll, eventfd), whose numbers a caller can guess or mistype. So the set is
taken before anything of ours is open: on ``import s3fast``, which a program does before
it starts its loop. Taken later (when the transfer code loads, lazily, inside a running
loop), it would count the loop's own descriptors as inherited. Cheap: one directory
listing and an ``fstat`` per descriptor, no other import.
"""
from __future__ import annotations

import os


def open_descriptors() -> dict[int, tuple[int, int]]:
    """Descriptor -> (st_dev, st_ino) of every descriptor open now."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        names = [str(n) for n in range(256)]
    found: dict[int, tuple[int, int]] = {}
    for name in names:
        if not name.isdigit():
            continue
        try:
            st = os.fstat(int(name))
        except OSError:
            continue  # the listing's own directory descriptor, already closed
        found[int(name)] = (st.st_dev, st.st_ino)
    return found


INHERITED = open_descriptors()
