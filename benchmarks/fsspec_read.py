"""Reads through fsspec: s3fast's filesystem against s3fs and obstore's adapter, whole process.

    python -m benchmarks.fsspec_read [--size 1GiB] [--files 8] [--runs 4] [--out results.md]

One SeaweedFS on loopback (``--server mem``: the in-memory S3) holds a Parquet dataset (``--files`` files, many row groups,
random floats so nothing compresses) and ``--small`` small objects. Each measurement is a
fresh Python process (imports, filesystem set-up and the read: what a pipeline pays), timed
by the parent (wall) and charged its CPU from ``wait4``; the server's CPU is not counted.
The filesystems alternate within every round, and rounds rotate their order, so a change in
machine load hits each alike. Every read is checked: row count and a column sum for
Parquet, a digest of the bytes for ``cat`` and the ranges.

Workloads:
  pandas      ``pd.read_parquet(dir, filesystem=fs)``: every byte, sequential per file
  dask        ``dask.dataframe.read_parquet(dir, filesystem=fs)``: the row count and a column sum,
              computed on Dask's threaded scheduler (the files read in parallel)
  columns     ``pyarrow.dataset(...).to_table(columns=[2 of 9])``: footers + column chunks
  cat         ``fs.cat([N small objects])``
  ranges16k   ``fs.cat_ranges`` of 512 random 16 KiB ranges across the Parquet files
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FILESYSTEMS = ("s3fast", "s3fs", "obstore")
#: not a peer: the same files read from the local disk (page cache), the floor the S3 filesystems approach
LOCAL = "local"
WORKLOADS = ("pandas", "dask", "columns", "cat", "ranges16k")
COLUMNS = [f"c{i}" for i in range(8)] + ["id"]
PICKED = ["c1", "c6"]
BUCKET = "fsspecbench"


# -- the child: one filesystem, one workload --------------------------------------------------------
def make_fs(name: str, ep: dict[str, str], local_root: str | None = None) -> Any:
    if name == LOCAL:
        from fsspec.implementations.dirfs import DirFileSystem
        from fsspec.implementations.local import LocalFileSystem

        assert local_root is not None
        return DirFileSystem(path=local_root, fs=LocalFileSystem())
    if name == "s3fast":
        from s3fast.fsspec import S3FastFileSystem

        return S3FastFileSystem(endpoint_url=ep["url"], key=ep["key"], secret=ep["secret"], region=ep["region"])
    if name == "s3fs":
        import s3fs

        return s3fs.S3FileSystem(key=ep["key"], secret=ep["secret"], endpoint_url=ep["url"],
                                 client_kwargs={"region_name": ep["region"]})
    if name == "obstore":
        from obstore.fsspec import FsspecStore

        return FsspecStore("s3", config={"endpoint": ep["url"], "access_key_id": ep["key"],
                                         "secret_access_key": ep["secret"], "region": ep["region"],
                                         "virtual_hosted_style_request": False},
                           client_options={"allow_http": True})
    raise SystemExit(f"unknown filesystem {name}")


def child(fs_name: str, workload: str, spec: dict[str, Any]) -> dict[str, Any]:
    fs = make_fs(fs_name, spec["endpoint"], spec.get("local_root"))
    if workload == "pandas":
        import pandas as pd

        df = pd.read_parquet(f"{BUCKET}/ds", filesystem=fs)
        return {"rows": len(df), "check": round(float(df["c3"].sum()), 3)}
    if workload == "dask":
        import dask
        import dask.dataframe as dd

        ddf = dd.read_parquet(f"{BUCKET}/ds", filesystem=fs)
        rows, total = dask.compute(ddf.map_partitions(len).sum(), ddf["c3"].sum(), scheduler="threads")
        return {"rows": int(rows), "check": round(float(total), 3)}
    if workload == "columns":
        import pyarrow.dataset as ds
        from pyarrow.fs import FSSpecHandler, PyFileSystem

        table = ds.dataset(f"{BUCKET}/ds", filesystem=PyFileSystem(FSSpecHandler(fs)), format="parquet") \
            .to_table(columns=PICKED)
        return {"rows": table.num_rows, "check": round(float(table.column(PICKED[0]).to_pandas().sum()), 3)}
    if workload == "cat":
        out = fs.cat(spec["small"])
        h = hashlib.sha256()
        for p in spec["small"]:
            h.update(out[p])
        return {"rows": len(out), "check": h.hexdigest()}
    if workload == "ranges16k":
        paths, starts, ends = spec["ranges"]
        pieces = fs.cat_ranges(paths, starts, ends)
        h = hashlib.sha256()
        for piece in pieces:
            h.update(piece)
        return {"rows": len(pieces), "check": h.hexdigest()}
    raise SystemExit(f"unknown workload {workload}")


# -- the parent -----------------------------------------------------------------------------------
def make_dataset(tmp: Path, size: int, files: int) -> tuple[list[Path], int, float]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = max(1, size // files // (8 * len(COLUMNS)))
    rng = np.random.default_rng(7)
    out: list[Path] = []
    total = 0
    check = 0.0
    for i in range(files):
        cols = {c: rng.random(rows) for c in COLUMNS[:-1]}
        cols["id"] = np.arange(i * rows, (i + 1) * rows, dtype=np.int64)
        table = pa.table(cols)
        check += float(table.column("c3").to_pandas().sum())
        p = tmp / f"part-{i:03d}.parquet"
        pq.write_table(table, p, row_group_size=max(1, rows // 16), compression="none")
        out.append(p)
        total += rows
    return out, total, check


def local_copy(root: Path, files: list[Path], small: dict[str, bytes]) -> Path:
    """The bucket's objects as files under ``root`` (the dataset hard-linked), at the paths
    the workloads name: ``root/BUCKET/ds/...``, ``root/BUCKET/small/...``."""
    (root / BUCKET / "ds").mkdir(parents=True)
    for p in files:
        os.link(p, root / BUCKET / "ds" / p.name)
    for k, v in small.items():
        (root / BUCKET / k).parent.mkdir(parents=True, exist_ok=True)
        (root / BUCKET / k).write_bytes(v)
    return root


def column_bytes(files: list[Path], columns: list[str]) -> int:
    import pyarrow.parquet as pq

    n = 0
    for p in files:
        md = pq.ParquetFile(p).metadata
        for rg in range(md.num_row_groups):
            for ci in range(md.num_columns):
                col = md.row_group(rg).column(ci)
                if col.path_in_schema in columns:
                    n += col.total_compressed_size
    return n


def upload(ep: dict[str, str], files: list[Path], small: dict[str, bytes]) -> None:
    import s3fast

    async def go() -> None:
        async with s3fast.Client(endpoint_url=ep["url"], aws_access_key_id=ep["key"],
                                 aws_secret_access_key=ep["secret"], region=ep["region"]) as c:
            for p in files:
                await c.upload(str(p), f"s3://{BUCKET}/ds/{p.name}")
            for k, v in small.items():
                await c.put_bytes(f"s3://{BUCKET}/{k}", v)

    s3fast.run(go())


def run_child(fs_name: str, workload: str, spec_path: str) -> tuple[float, float, dict[str, Any]]:
    """(wall s, CPU s, the child's answer); the CPU is the child's own, from ``wait4``."""
    with tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "benchmarks.fsspec_read", "--child", fs_name, workload,
                                 spec_path], stdout=subprocess.PIPE, stderr=err)
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stdout.close()
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{fs_name} {workload} failed: {err.read().decode(errors='replace')[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, json.loads(out)


def main() -> int:
    from .machine import KEEP_HELP  # not at the top: the timed children import this module

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", nargs=3, metavar=("FS", "WORKLOAD", "SPEC"), help=argparse.SUPPRESS)
    ap.add_argument("--size", default="1GiB", help="Parquet dataset size (default 1GiB)")
    ap.add_argument("--files", type=int, default=8, help="Parquet files (default 8)")
    ap.add_argument("--small", type=int, default=500, help="small objects for 'cat' (default 500)")
    ap.add_argument("--small-size", default="64KiB", help="size of each small object (default 64KiB)")
    ap.add_argument("--runs", type=int, default=4, help="rounds, each running every filesystem (default 4)")
    ap.add_argument("--warmup", type=int, default=1,
                    help="untimed runs of each workload before the rounds (default 1: the first pandas run "
                         "after the dataset is written costs about twice the CPU, whichever filesystem reads)")
    ap.add_argument("--fs", default=",".join(FILESYSTEMS),
                    help=f"filesystems (default: all three peers); add {LOCAL!r} for the floor: the same files read "
                         "from the local disk through fsspec's LocalFileSystem (from the page cache)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="workloads (default: all)")
    ap.add_argument("--server", choices=("seaweedfs", "mem"), default="seaweedfs",
                    help="seaweedfs, or mem (benchmarks/memserver: far less CPU per request, which leaves the "
                         "cores to the readers)")
    ap.add_argument("--out", help="also write the markdown table here")
    ap.add_argument("--keep-page-reporting", action="store_true", help=KEEP_HELP)
    args = ap.parse_args()
    if args.child:
        fs_name, workload, spec_path = args.child
        spec = json.loads(Path(spec_path).read_text())
        print(json.dumps(child(fs_name, workload, spec)))
        return 0

    from s3fast import parse_size

    from .machine import PageReportingPause
    from .procs import precompile
    from .targets.memserver import MemTarget
    from .targets.seaweedfs import SeaweedTarget

    precompile()  # each run is a fresh interpreter: imports from bytecode, as installed
    names = [n for n in args.fs.split(",") if n]
    workloads = [w for w in args.workloads.split(",") if w]
    target = MemTarget(bucket=BUCKET) if args.server == "mem" else SeaweedTarget(bucket=BUCKET)
    endpoint = target.start()
    pause = PageReportingPause(keep=args.keep_page_reporting).__enter__()
    print(f"free page reporting: {pause.state}", flush=True)
    try:
        ep = {"url": endpoint.endpoint_url or "", "key": endpoint.access_key or "",
              "secret": endpoint.secret_key or "", "region": endpoint.region}
        with tempfile.TemporaryDirectory(prefix="s3fast-fsspec-bench-") as d:
            tmp = Path(d)
            files, rows, check = make_dataset(tmp, parse_size(args.size), args.files)
            small_size = parse_size(args.small_size)
            small = {f"small/{i:05d}": os.urandom(small_size) for i in range(args.small)}
            upload(ep, files, small)
            sizes = {f"{BUCKET}/ds/{p.name}": p.stat().st_size for p in files}
            rnd = random.Random(11)
            paths = [rnd.choice(list(sizes)) for _ in range(512)]
            starts = [rnd.randrange(0, sizes[p] - 16384) for p in paths]
            spec = {"endpoint": ep, "small": [f"{BUCKET}/{k}" for k in small],
                    "ranges": [paths, starts, [s + 16384 for s in starts]]}
            if LOCAL in names:
                spec["local_root"] = str(local_copy(tmp / "local", files, small))
            spec_path = tmp / "spec.json"
            spec_path.write_text(json.dumps(spec))
            expect = {"pandas": (rows, round(check, 3)), "dask": (rows, round(check, 3)), "columns": (rows, None),
                      "cat": (args.small, hashlib.sha256(b"".join(small.values())).hexdigest()), "ranges16k": (512, None)}
            payload = {"pandas": sum(sizes.values()), "dask": sum(sizes.values()), "columns": column_bytes(files, PICKED),
                       "cat": small_size * args.small, "ranges16k": 512 * 16384}
            results: dict[tuple[str, str], list[tuple[float, float]]] = {}
            seen_checks: dict[str, set[Any]] = {}
            for _ in range(args.warmup):
                for w in workloads:
                    run_child(names[0], w, str(spec_path))
            for r in range(args.runs):
                order = names[r % len(names):] + names[:r % len(names)]
                for w in workloads:
                    for fs_name in order:
                        wall, cpu, res = run_child(fs_name, w, str(spec_path))
                        want_rows, want_check = expect[w]
                        if res["rows"] != want_rows or (want_check is not None and res["check"] != want_check):
                            raise SystemExit(f"{fs_name} {w}: wrong result {res} (want {expect[w]})")
                        seen_checks.setdefault(w, set()).add(res["check"])
                        results.setdefault((w, fs_name), []).append((wall, cpu))
                        print(f"round {r + 1} {w:9} {fs_name:8} {wall:7.2f} s  {cpu:6.2f} CPU-s  "
                              f"{payload[w] / 1e6 / wall:8.1f} MB/s", flush=True)
            bad = {w: c for w, c in seen_checks.items() if len(c) != 1}
            if bad:
                raise SystemExit(f"filesystems disagree on the data read: {bad}")
    finally:
        pause.__exit__()
        target.stop()
    table = report(results, names, workloads, payload, args)
    print(table)
    if args.out:
        Path(args.out).write_text(table)
    return 0


def report(results: dict[tuple[str, str], list[tuple[float, float]]], names: list[str], workloads: list[str],
           payload: dict[str, int], args: argparse.Namespace) -> str:
    lines = [f"fsspec reads, whole process, {args.runs} alternating rounds, {'SeaweedFS' if args.server == 'seaweedfs' else 'the in-memory S3'} on loopback "
             f"(dataset {args.size} in {args.files} Parquet files; {args.small} x {args.small_size} small objects)",
             "",
             "| workload | filesystem | MB/s median (min-max) | wall s median | CPU-s median (min-max) | "
             "s3fast MB/s ratio | s3fast CPU ratio |",
             "|---|---|---|---|---|---|---|"]
    for w in workloads:
        base = results.get((w, "s3fast"))
        for n in names:
            runs = results.get((w, n))
            if not runs:
                continue
            rates = [payload[w] / 1e6 / wall for wall, _ in runs]
            cpus = [cpu for _, cpu in runs]
            ratio = cpu_ratio = ""
            if base and n != "s3fast":
                b_rate = statistics.median(payload[w] / 1e6 / wall for wall, _ in base)
                ratio = f"{b_rate / statistics.median(rates):.2f}x"
                cpu_ratio = f"{statistics.median(c for _, c in base) / statistics.median(cpus):.2f}x"
            lines.append(f"| {w} | {n} | {statistics.median(rates):.1f} ({min(rates):.1f}-{max(rates):.1f}) | "
                         f"{statistics.median(wall for wall, _ in runs):.2f} | {statistics.median(cpus):.2f} "
                         f"({min(cpus):.2f}-{max(cpus):.2f}) | {ratio} | {cpu_ratio} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
