"""cat_ranges of random 16 KiB ranges, as benchmarks.fsspec_read's ranges16k, timed in-process.

    python benchmarks/probes/cat_ranges.py --endpoint http://127.0.0.1:PORT [--size 1GiB] [--files 8]

Against benchmarks.memserver (any key): writes ``--files`` objects of random bytes (once: an
existing object of the right size is kept), then, in a fresh child process each, reads 512
random 16 KiB ranges (seed 11) with one ``cat_ranges`` call and prints its wall and CPU
time: the first call (connections opened, buffers new: what a short pipeline pays) and the
best of 5 more (steady state). Also how many GETs the ranges merged into, and their bytes.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time

BUCKET = "probe-ranges"


def child(endpoint: str, paths: list[str], starts: list[int]) -> None:
    from s3fast.fsspec import S3FastFileSystem
    from s3fast.fsspec._coalesce import DEFAULT_GAP, coalesce
    from s3fast.fsspec._core import RANGE_PIECE

    ends = [s + 16384 for s in starts]
    groups, _ = coalesce(list(zip(paths, starts, ends)), gap=DEFAULT_GAP, max_size=RANGE_PIECE)
    fs = S3FastFileSystem(endpoint_url=endpoint, key="probe", secret="probe", skip_instance_cache=True)
    times = []
    for _ in range(6):
        t, c = time.perf_counter(), time.process_time()
        fs.cat_ranges(paths, starts, ends)
        times.append((time.perf_counter() - t, time.process_time() - c))
    steady = min(times[1:])
    print(json.dumps({"first_ms": round(times[0][0] * 1e3, 1), "first_cpu_ms": round(times[0][1] * 1e3, 1),
                      "steady_ms": round(steady[0] * 1e3, 1), "steady_cpu_ms": round(steady[1] * 1e3, 1),
                      "gets": len(groups), "get_mb": round(sum(g.end - g.start for g in groups) / 1e6, 1)}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--size", default="1GiB")
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        spec = json.loads(args.child)
        child(args.endpoint, spec["paths"], spec["starts"])
        return 0
    from s3fast import parse_size
    from s3fast.fsspec import S3FastFileSystem

    size = parse_size(args.size) // args.files
    fs = S3FastFileSystem(endpoint_url=args.endpoint, key="probe", secret="probe", skip_instance_cache=True)
    if not fs.exists(BUCKET):
        fs.mkdir(BUCKET)
    names = [f"{BUCKET}/obj-{i}" for i in range(args.files)]
    for name in names:
        if not fs.exists(name) or fs.size(name) != size:
            fs.pipe_file(name, os.urandom(size))
    rnd = random.Random(11)
    paths = [rnd.choice(names) for _ in range(512)]
    starts = [rnd.randrange(0, size - 16384) for _ in paths]
    spec = json.dumps({"paths": paths, "starts": starts})
    for _ in range(args.runs):
        out = subprocess.run([sys.executable, __file__, "--endpoint", args.endpoint, "--child", spec],
                             capture_output=True, text=True, check=True)
        print(out.stdout.strip(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
