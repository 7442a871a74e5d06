"""Scale-out on Dask: the same bulk copy on a LocalCluster of 1 and of 2 worker processes.

    .venv/bin/python -m benchmarks.dask_scale [--objects 2000] [--size 256KiB] [--rounds 3]
                                              [--directions download,copy] [--threads 2]

A private SeaweedFS on loopback (``--server mem``: the in-memory S3, benchmarks/memserver) holds ``--objects`` objects of ``--size`` random bytes under
``src/``. Each measurement runs ``s3fast.dask.copy_tree`` from this process (the driver:
listing and batches) on a ``distributed.LocalCluster`` already started (its start-up is not
timed) with 1 or 2 worker processes of ``--threads`` task threads each:

  download  ``s3://bucket/src/`` -> an empty local directory (bytes through the workers)
  copy      ``s3://bucket/src/`` -> ``s3://bucket/dst-N/`` (server-side CopyObject: the
            workers only send requests; the server moves the bytes)

The 1- and 2-worker clusters alternate within each round and rounds rotate their order, so
a change in machine load hits both alike. Every run is checked (the destination holds every
object at its size). Reported per run: wall seconds of ``copy_tree``, objects/s, the CPU
seconds the workers spent (``process_time`` read on each worker before and after) and the
CPU the server spent (``/proc/PID/stat``) and the CPU of this process, the driver (listing,
batches, the Dask client), so the table says where the cores went: on a 2-core machine with
the server and the driver on the same cores, a second worker can only help as far as they
and the first worker leave a core idle; the machine's idle share (``/proc/stat``, the
kernel's threads included) says whether any was left.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .machine import KEEP_HELP, PageReportingPause
from .procs import idle_share, machine_jiffies, precompile, process_cpu_s
from .targets.memserver import MemTarget
from .targets.seaweedfs import SeaweedTarget

BUCKET = "daskscale"


def _worker_cpu() -> float:
    return time.process_time()


def seed(ep: dict[str, str], objects: int, size: int, work: Path) -> None:
    import s3fast
    from s3fast.tree import copy_tree

    src = work / "seed"
    for i in range(objects):
        p = src / f"d{i // 100:03d}" / f"f{i:06d}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(os.urandom(size))

    async def go() -> None:
        async with s3fast.Client(**client_kwargs(ep)) as c:
            failed = [r async for r in copy_tree(c, str(src), f"s3://{BUCKET}/src/") if r.failed]
            if failed:
                raise SystemExit(f"seeding failed: {failed[:3]}")

    s3fast.run(go())
    shutil.rmtree(src)


def client_kwargs(ep: dict[str, str]) -> dict[str, Any]:
    return {"endpoint_url": ep["url"], "aws_access_key_id": ep["key"], "aws_secret_access_key": ep["secret"],
            "region": ep["region"]}


def listed(ep: dict[str, str], prefix: str) -> dict[str, int]:
    import s3fast

    async def go() -> dict[str, int]:
        async with s3fast.Client(**client_kwargs(ep)) as c:
            return {o.key: o.size async for o in c.list(f"s3://{BUCKET}/{prefix}")}

    return s3fast.run(go())


def remove(ep: dict[str, str], prefix: str) -> None:
    import s3fast
    from s3fast.tree import delete_tree

    async def go() -> None:
        async with s3fast.Client(**client_kwargs(ep)) as c:
            failed = [r async for r in delete_tree(c, f"s3://{BUCKET}/{prefix}") if r.failed]
            if failed:
                raise SystemExit(f"clean-up failed: {failed[:3]}")

    s3fast.run(go())


def measure(dask_client: Any, ep: dict[str, str], direction: str, dst: str, weed_pid: int,
            batch_objects: int) -> tuple[float, float, float, float, float, int]:
    """(wall s, workers' CPU s, server CPU s, driver CPU s, machine idle share, objects copied)
    of one copy."""
    from s3fast.dask import copy_tree

    before = dask_client.run(_worker_cpu)
    server0 = process_cpu_s(weed_pid)
    driver0 = time.process_time()
    machine0 = machine_jiffies()
    start = time.monotonic()
    summary = copy_tree(f"s3://{BUCKET}/src/", dst, dask_client=dask_client, client_kwargs=client_kwargs(ep),
                        batch_objects=batch_objects)
    wall = time.monotonic() - start
    idle = idle_share(machine0, machine_jiffies())
    driver = time.process_time() - driver0
    server = process_cpu_s(weed_pid) - server0
    after = dask_client.run(_worker_cpu)
    if summary.failed:
        raise SystemExit(f"{direction}: {len(summary.failed)} objects failed, first: {summary.failed[0]}")
    workers = sum(after[w] - before[w] for w in after if w in before)
    return wall, workers, server, driver, idle, summary.objects


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.dask_scale", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=2000)
    ap.add_argument("--size", default="256KiB")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--directions", default="download,copy")
    ap.add_argument("--server", choices=("seaweedfs", "mem"), default="seaweedfs",
                    help="seaweedfs, or mem (benchmarks/memserver: a tenth of its CPU per request, so the "
                         "workers, not the server, are what two cores are shared by)")
    ap.add_argument("--threads", type=int, default=2, help="task threads per worker process (default 2)")
    ap.add_argument("--batch-objects", type=int, default=100,
                    help="objects per batch (default 100: 20 batches for 2,000 objects, so both workers get work)")
    ap.add_argument("--keep-page-reporting", action="store_true", help=KEEP_HELP)
    args = ap.parse_args(argv)
    precompile()  # the cluster's processes import s3fast from bytecode, as installed
    import distributed

    from s3fast import parse_size

    size = parse_size(args.size)
    directions = [d for d in args.directions.split(",") if d]
    target = MemTarget(bucket=BUCKET) if args.server == "mem" else SeaweedTarget(bucket=BUCKET)
    endpoint = target.start()
    weed_pid = target.pid
    ep = {"url": endpoint.endpoint_url or "", "key": endpoint.access_key or "", "secret": endpoint.secret_key or "",
          "region": endpoint.region}
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    work = Path(tempfile.mkdtemp(prefix="s3fast-daskscale-"))
    clusters: dict[int, tuple[Any, Any]] = {}
    runs: list[dict[str, Any]] = []
    pause = PageReportingPause(keep=args.keep_page_reporting).__enter__()
    print(f"free page reporting: {pause.state}", file=sys.stderr, flush=True)
    try:
        seed(ep, args.objects, size, work)
        for n in (1, 2):
            cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=args.threads, processes=True,
                                               host="127.0.0.1", dashboard_address="127.0.0.1:0", silence_logs=40)
            clusters[n] = (cluster, distributed.Client(cluster, set_as_default=False))
        for rnd in range(args.rounds):
            order = (1, 2) if rnd % 2 == 0 else (2, 1)
            for direction in directions:
                for n in order:
                    dask_client = clusters[n][1]
                    if direction == "download":
                        out = work / f"dst-{n}"
                        shutil.rmtree(out, ignore_errors=True)
                        dst = str(out)
                    else:
                        dst = f"s3://{BUCKET}/dst-{n}/"
                    wall, wcpu, scpu, dcpu, idle, done = measure(dask_client, ep, direction, dst, weed_pid, args.batch_objects)
                    if direction == "download":
                        got = sum(1 for p in (work / f"dst-{n}").rglob("*") if p.is_file() and p.stat().st_size == size)
                        shutil.rmtree(work / f"dst-{n}", ignore_errors=True)
                    else:
                        got = sum(1 for s in listed(ep, f"dst-{n}/").values() if s == size)
                        remove(ep, f"dst-{n}/")
                    if done != args.objects or got != args.objects:
                        raise SystemExit(f"{direction} on {n} workers: {done} copied, {got} found of {args.objects}")
                    runs.append({"direction": direction, "workers": n, "round": rnd, "wall": wall,
                                 "wcpu": wcpu, "scpu": scpu, "dcpu": dcpu, "idle": idle})
                    print(f"round {rnd + 1} {direction:8} {n} worker(s): {wall:6.2f} s {args.objects / wall:7.0f} obj/s"
                          f"  workers {wcpu:5.2f} CPU-s  server {scpu:5.2f} CPU-s  driver {dcpu:5.2f} CPU-s  idle {idle:4.0%}  load {os.getloadavg()[0]:.1f}",
                          file=sys.stderr, flush=True)
    finally:
        for cluster, client in clusters.values():
            client.close()
            cluster.close()
        pause.__exit__()
        target.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(report(runs, args, directions))
    return 0


def report(runs: list[dict[str, Any]], args: argparse.Namespace, directions: list[str]) -> str:
    lines = [f"Dask tree copy, {args.objects} x {args.size}, {args.server} on loopback, LocalCluster of 1 or 2 worker "
             f"processes x {args.threads} threads, {args.rounds} alternating rounds",
             "",
             "| direction | workers | objects/s median (min-max) | wall s median | workers CPU-s | server CPU-s "
             "| driver CPU-s | machine idle | 2 vs 1 (median obj/s) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for d in directions:
        med: dict[int, float] = {}
        for n in (1, 2):
            mine = [r for r in runs if r["direction"] == d and r["workers"] == n]
            if not mine:
                continue
            rates = [args.objects / r["wall"] for r in mine]
            med[n] = statistics.median(rates)
            ratio = f"{med[2] / med[1]:.2f}x" if n == 2 and 1 in med else ""
            lines.append(f"| {d} | {n} | {med[n]:.0f} ({min(rates):.0f}-{max(rates):.0f}) | "
                         f"{statistics.median(r['wall'] for r in mine):.2f} | "
                         f"{statistics.median(r['wcpu'] for r in mine):.2f} | "
                         f"{statistics.median(r['scpu'] for r in mine):.2f} | "
                         f"{statistics.median(r['dcpu'] for r in mine):.2f} | "
                         f"{statistics.median(r['idle'] for r in mine):.0%} | {ratio} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
