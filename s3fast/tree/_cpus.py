"""``--workers``'s default, apart from the worker machinery (``_workers``): the command line
prints it in ``--help``, which must not load multiprocessing and the tree engine."""
from __future__ import annotations

import os

#: the most worker processes the default starts: the parent (listing, feeding, merging the
#: results) is one process on one core, and past this many workers it, not they, sets the
#: pace; each worker is also a whole interpreter and client (tens of MiB of RSS)
MAX_DEFAULT_WORKERS = 8


#: the default ``--workers`` shards a tree only past this many objects. A worker is a whole
#: interpreter with its own client, and every object then crosses two process boundaries;
#: what a second core saves is a share of the client's CPU per object, which is small, so
#: only a tree of thousands of objects repays the workers (figures: benchmarks/README.md)
SHARD_ABOVE = 2000


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, e.g. a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_workers(cpus: int) -> int:
    """``--workers``'s default (pure): one event loop is one core, so one worker per CPU
    but one, at most :data:`MAX_DEFAULT_WORKERS`. The CPU left over is the parent's: it
    lists, feeds the queue and merges the results of every worker, which keeps a core busy
    once there are several. With two CPUs that is one process: the tree runs in the parent
    and pays no worker start-up (benchmarks/README.md has the figures)."""
    return max(1, min(cpus - 1, MAX_DEFAULT_WORKERS))


__all__ = ["MAX_DEFAULT_WORKERS", "SHARD_ABOVE", "available_cpus", "default_workers"]
