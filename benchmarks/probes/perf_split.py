"""Split a ``perf record -g`` profile of s3fast into cost buckets by kernel/native stack.

    perf record -F 1999 -g [-k CLOCK_MONOTONIC] -o p.data -- COMMAND
    perf script -i p.data > p.txt
    python perf_split.py p.txt [MARKS N]

Without MARKS: the share of every bucket over the whole process (samples before the first
``connect`` count as start-up). With MARKS (``splice_size.py``'s ``PROBE_MARKS`` file, the
profile recorded with ``-k CLOCK_MONOTONIC``): CPU µs per object of every bucket, per batch
label (size and mode), ``N`` objects a batch. Python frames are not visible to perf (3.11):
the interpreter's own time is one bucket. Buckets are matched on the whole stack, first rule
first, so a CRC called from Python counts as the CRC.
"""
from __future__ import annotations

import collections
import re
import sys

RULES: list[tuple[str, tuple[str, ...]]] = [
    ("crc", ("crc64nvme", "crc32c", "aws_checksums")),
    ("file create", ("__ext4_new_inode", "ext4_tmpfile", "vfs_tmpfile", "ext4_mkdir", "do_mkdirat")),
    ("file name", ("do_linkat", "do_renameat2", "vfs_link")),
    ("file close", ("__fput", "ext4_release_file", "filp_close", "do_unlinkat")),
    ("recv socket->pipe", ("skb_splice_bits", "tcp_splice_read", "tcp_read_sock")),
    ("pipe->file", ("iter_file_splice_write", "do_splice_from", "splice_write")),
    ("recv to buffer", ("tcp_recvmsg", "sock_recvmsg", "__sys_recvfrom", "sock_read_iter")),
    ("pwrite to file", ("ksys_pwrite64", "__x64_sys_pwrite64", "ext4_buffered_write_iter", "generic_perform_write")),
    ("mmap/munmap", ("do_mmap", "__vm_munmap", "vm_mmap_pgoff", "filemap_map_pages", "__x64_sys_munmap")),
    ("send", ("tcp_sendmsg", "sock_sendmsg", "__sys_sendto", "sock_write_iter")),
    ("epoll/futex", ("ep_poll", "do_epoll_wait", "ep_insert", "ep_remove", "do_epoll_ctl", "futex")),
    ("other syscalls", ("do_syscall_64",)),
    ("page faults", ("exc_page_fault",)),
    ("dynamic loader", ("_dl_", "dl_main")),
    ("python + libs (user space)", ("",)),
]


def samples(path: str) -> list[tuple[float, list[str]]]:
    out: list[tuple[float, list[str]]] = []
    cur: tuple[float, list[str]] | None = None
    for line in open(path, errors="replace"):
        if not line.strip():
            if cur is not None:
                out.append(cur)
            cur = None
        elif line[0] not in "\t ":
            m = re.match(r"\S+\s+\d+\s+([\d.]+):", line)
            cur = (float(m.group(1)), []) if m else None
        elif cur is not None:
            cur[1].append(line.strip())
    if cur is not None:
        out.append(cur)
    return out


def bucket(stack: list[str]) -> str:
    joined = " | ".join(stack)
    for name, keys in RULES:
        if any(k in joined for k in keys):
            return name
    return "?"


def main() -> None:
    got = samples(sys.argv[1])
    if len(sys.argv) < 3:
        t0 = min(t for t, _ in got)
        first = min((t for t, s in got if any("__sys_connect" in f for f in s)), default=t0)
        c = collections.Counter("start-up (before the first connect)" if t < first else bucket(s) for t, s in got)
        print(f"{len(got)} samples; first connect at {first - t0:.3f} s")
        for k, v in c.most_common():
            print(f"{100 * v / len(got):5.1f}%  {v:6d}  {k}")
        return
    n = int(sys.argv[3])
    spans = [(float(a), float(b), f"{int(size) // 1024} KiB {mode}")
             for a, b, size, mode in (line.split() for line in open(sys.argv[2]))]
    # the sampling period from the profile itself: samples are 1/F s of CPU apart
    period_us = 1e6 / 1999
    per: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    batches = collections.Counter(label for _, _, label in spans)
    for t, s in got:
        for a, b, label in spans:
            if a <= t < b:
                per[label][bucket(s)] += 1
                break
    names = [name for name, _ in RULES]
    labels = sorted(per, key=lambda x: (int(x.split()[0]), x))
    print("| bucket | " + " | ".join(labels) + " |")
    print("|---|" + "---:|" * len(labels))
    for name in names + ["all but file create", "all"]:
        row = []
        for label in labels:
            c = per[label]
            v = (sum(c.values()) - c["file create"] if name == "all but file create"
                 else sum(c.values()) if name == "all" else c[name])
            row.append(f"{v * period_us / (n * batches[label]):.0f}")
        print(f"| {name} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
