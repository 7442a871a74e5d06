"""Peak RSS of ``s3fast ls -r``, ``rm -r`` and ``cp -r`` (S3 -> S3) against the number of keys.

Issue 16 asks for memory bounded by what is in flight, never by the number of keys. Each
command runs as its own process (start-up included) against :mod:`benchmarks.listserver`,
a synthetic S3 on loopback that lists ``--counts`` keys per run; the table gives the peak
RSS (``ru_maxrss`` from ``wait4``), wall time and keys/s of each, and the growth of peak
RSS from the smallest count to each larger one.

    .venv/bin/python -m benchmarks.manykeys [--counts 10000,100000,1000000] [--commands ls,rm,cp]

Bounded: each command is killed after ``--run-timeout`` seconds; the server is stopped at
the end (or on Ctrl-C).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from .procs import Measured, run_measured

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("ls", "rm", "cp")


def _argv(command: str, endpoint: str, extra: list[str]) -> list[str]:
    s3fast = [sys.executable, "-m", "s3fast.cli"]
    common = ["--endpoint-url", endpoint, "--region", "us-east-1", *extra]
    if command == "ls":
        return [*s3fast, "ls", "-r", "s3://bench/run/", *common]
    if command == "rm":
        return [*s3fast, "rm", "-r", "s3://bench/run/", "--json", *common]
    return [*s3fast, "cp", "-r", "s3://bench/run/", "s3://bench/copy/", "--json", *common]


def _start_server(count: int) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.listserver", "--count", str(count)],
                            cwd=ROOT, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.strip().isdigit():
        proc.kill()
        raise RuntimeError("the list server did not start")
    return proc, int(line)


def measure(command: str, count: int, *, extra: list[str], timeout: float) -> Measured:
    server, port = _start_server(count)
    try:
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
               "AWS_EC2_METADATA_DISABLED": "true"}
        # ls writes one line per key: to /dev/null, so the pipe is not what is measured.
        argv = _argv(command, f"http://127.0.0.1:{port}", extra)
        if command == "ls":
            argv = ["sh", "-c", 'exec "$@" > /dev/null', "ls", *argv]
        return run_measured(argv, env=env, timeout=timeout)
    finally:
        server.terminate()
        server.wait(10)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.manykeys", description=__doc__.split("\n")[0])
    p.add_argument("--counts", default="10000,100000,1000000")
    p.add_argument("--commands", default=",".join(COMMANDS))
    p.add_argument("--run-timeout", type=float, default=1800.0)
    p.add_argument("--extra", default="", help="more s3fast options, space-separated (e.g. '--workers 1')")
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args(argv)
    counts = [int(c) for c in args.counts.split(",")]
    commands = [c for c in args.commands.split(",") if c]
    for c in commands:
        if c not in COMMANDS:
            p.error(f"unknown command {c!r}")
    rows = []
    print("| command | keys | peak RSS MiB | growth from first MiB | wall s | keys/s | exit |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for command in commands:
        first = None
        for count in counts:
            m = measure(command, count, extra=args.extra.split(), timeout=args.run_timeout)
            # VmHWM of the command itself: ru_maxrss after exec keeps the forking parent's peak
            rss = (m.hwm_kib or m.maxrss_kib) / 1024
            first = rss if first is None else first
            rows.append({"command": command, "keys": count, "rss_mib": round(rss, 1), "wall_s": round(m.wall_s, 2),
                         "exit": m.returncode, "stderr": m.stderr[-300:]})
            print(f"| {command} | {count:,} | {rss:.1f} | {rss - first:+.1f} | {m.wall_s:.1f} | "
                  f"{count / m.wall_s:,.0f} | {m.returncode} |", flush=True)
            if m.returncode != 0:
                print(f"  stderr: {m.stderr[-300:]!r}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
