"""Per-object CPU of downloads to files by object size: splice(2) against recv + pwrite.

    AWS_* env set; splice_size.py URL BUCKET [SIZES] [N] [ROUNDS]

Seeds ``N`` objects of each size (default 160KiB,256KiB,384KiB,512KiB,1MiB; 200 each) under
``splice-size/``, then, round by round, downloads each size's objects to files (``CONC`` at
once, default 32; one Client per mode, connections warm) with splice forced on (the
connection's ``SPLICE_MIN`` lowered to 0) and off (``splice=False``), alternating which goes
first. Printed per size and mode: process CPU (``getrusage``, every thread) per object in
microseconds, median (min-max) over the rounds, and the difference. The files go to new
directories under ``PROBE_DIR`` and are kept until the end, or with ``PROBE_DELETE=1``
deleted after each batch, as a tree benchmark deletes its downloads. On a root filesystem of
ext4 without a journal, every file created within minutes of a delete pays for skipping the
freed inodes (``inode_create.py``), so run it under ``perf record -k CLOCK_MONOTONIC`` with
``PROBE_MARKS=FILE`` and split the profile per batch with ``perf_split.py``, which leaves the
file creation out.
"""
from __future__ import annotations

import asyncio
import dataclasses
import os
import resource
import shutil
import statistics
import sys
import time

import s3fast
from s3fast.net import _connection

PROBE = os.environ.get("PROBE_DIR", "/tmp/s3fast-probe")
KiB = 1024


def parse_size(text: str) -> int:
    text = text.strip()
    for suffix, mult in (("KiB", KiB), ("MiB", KiB * KiB)):
        if text.endswith(suffix):
            return int(text[: -len(suffix)]) * mult
    return int(text)


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def batch(client: s3fast.Client, bucket: str, size: int, n: int, out: str) -> tuple[float, float]:
    os.makedirs(out)
    sem = asyncio.Semaphore(int(os.environ.get("CONC", "32")))

    async def one(i: int) -> None:
        async with sem:
            await client.download(f"s3://{bucket}/splice-size/{size}/f{i:04d}", f"{out}/f{i:04d}")

    c0, t0 = cpu(), time.monotonic()
    await asyncio.gather(*(one(i) for i in range(n)))
    t1 = time.monotonic()
    return (cpu() - c0) / n * 1e6, t1 - t0, t0, t1


async def main() -> None:
    url, bucket = sys.argv[1], sys.argv[2]
    sizes = [parse_size(s) for s in (sys.argv[3] if len(sys.argv) > 3 else
                                     "160KiB,256KiB,384KiB,512KiB,1MiB").split(",")]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 4
    work = os.path.join(PROBE, f"splice-size-{os.getpid()}")
    # splice: every body splices (the connection's SPLICE_MIN, 256 KiB, lowered to 0 for
    # this process); recv: splice off, every body received into io_chunk_size buffers
    _connection.SPLICE_MIN = 0  # type: ignore[misc]
    base = s3fast.TransferConfig()
    modes = {"splice": base, "recv": base.replace(expert=dataclasses.replace(base.expert, splice=False))}
    results: dict[tuple[int, str], list[float]] = {}
    # PROBE_MARKS=FILE: each batch's CLOCK_MONOTONIC span, to split a `perf record -k
    # CLOCK_MONOTONIC` profile by batch (``perf_split.py``)
    marks = open(os.environ["PROBE_MARKS"], "w") if os.environ.get("PROBE_MARKS") else None
    clients = {mode: s3fast.Client(endpoint_url=url, region="us-east-1", config=cfg) for mode, cfg in modes.items()}
    async with clients["splice"] as client, clients["recv"]:
        for size in sizes:
            data = os.urandom(size)

            async def put(i: int, size: int = size, data: bytes = data) -> None:
                await client.upload(data, f"s3://{bucket}/splice-size/{size}/f{i:04d}")
            await asyncio.gather(*(put(i) for i in range(n)))
        try:
            for r in range(rounds):
                order = list(modes) if r % 2 == 0 else list(reversed(modes))
                for size in sizes:
                    for mode in order:
                        us, _, t0, t1 = await batch(clients[mode], bucket, size, n, os.path.join(work, f"{r}-{size}-{mode}"))
                        results.setdefault((size, mode), []).append(us)
                        if os.environ.get("PROBE_DELETE"):
                            shutil.rmtree(os.path.join(work, f"{r}-{size}-{mode}"))
                        if marks is not None:
                            marks.write(f"{t0:.6f} {t1:.6f} {size} {mode}\n")
        finally:
            shutil.rmtree(work, ignore_errors=True)
            if marks is not None:
                marks.close()
    print(f"{n} objects per batch, {rounds} rounds, load {open('/proc/loadavg').read().split()[:3]}")
    print("| size | splice CPU µs/object | recv + pwrite CPU µs/object | recv - splice (median) |")
    print("|---:|---:|---:|---:|")
    for size in sizes:
        s, r_ = results[(size, "splice")], results[(size, "recv")]
        fmt = lambda v: f"{statistics.median(v):.0f} ({min(v):.0f}-{max(v):.0f})"  # noqa: E731
        print(f"| {size // KiB} KiB | {fmt(s)} | {fmt(r_)} | {statistics.median(r_) - statistics.median(s):+.0f} |")


if __name__ == "__main__":
    asyncio.run(main())
