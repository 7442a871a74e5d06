"""Whole-process cost of short commands, two checkouts alternated in the same run.

    python benchmarks/probes/startup.py HTTP_URL HTTPS_URL CA [ROUNDS] OLD_CHECKOUT [NEW_CHECKOUT]

Each round runs every command once from each checkout (order alternating per round) in a
fresh interpreter and records its wall time and CPU (user+system of the child, from
``getrusage``); prints min / median / max per command and checkout, and the load average.
A checkout is a source tree with its core compiled in place (for an older one:
``git archive main | tar -x -C DIR`` and copy or build its ``s3fast/_native/*.so``); it is
put first on ``PYTHONPATH``, so the editable install's finder never answers. NEW_CHECKOUT
defaults to this tree. The servers are ``probes/serve.py``'s nginx (HTTP and HTTPS, CA
file); the object ``bench/one`` (1 byte) is created in ``$PROBE_DIR/data`` if missing.
"""
from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROBE = os.environ.get("PROBE_DIR", "/tmp/s3fast-probe")
HERE = Path(__file__).resolve().parents[2]


def commands(http: str, https: str, ca: str, out: str) -> dict[str, list[str]]:
    one = Path(PROBE) / "data" / "bench" / "one"
    if not one.exists():
        one.write_bytes(b"x")
    return {
        # also checks that the checkout asked for is the one imported
        "import s3fast": ["-c", "import s3fast, sys; assert s3fast.__file__.startswith(sys.argv[1]), s3fast.__file__",
                          "{checkout}"],
        "--version": ["-m", "s3fast.cli", "--version"],
        "--help": ["-m", "s3fast.cli", "--help"],
        "cp --help": ["-m", "s3fast.cli", "cp", "--help"],
        "cp 1 B down http": ["-m", "s3fast.cli", "cp", "s3://bench/one", out, "--endpoint-url", http, "-q"],
        "cp 1 B down https": ["-m", "s3fast.cli", "cp", "s3://bench/one", out, "--endpoint-url", https,
                              "--ca-bundle", ca, "-q"],
        "cp 1 B up http": ["-m", "s3fast.cli", "cp", str(one), "s3://bench/up-one", "--endpoint-url", http, "-q"],
    }


def run_once(checkout: str, argv: list[str]) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": checkout, "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # cwd outside both trees: ``-m`` and ``-c`` put the working directory ahead of PYTHONPATH.
    argv = [checkout if a == "{checkout}" else a for a in argv]
    proc = subprocess.run([sys.executable, *argv], env=env, capture_output=True, timeout=60, check=False,
                          cwd=PROBE)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{checkout}: {argv}: exit {proc.returncode}: {proc.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    http, https, ca = sys.argv[1:4]
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 8
    old = sys.argv[5]
    new = sys.argv[6] if len(sys.argv) > 6 else str(HERE)
    cmds = commands(http, https, ca, os.path.join(PROBE, "startup-out"))
    sides = {"old": old, "new": new}
    got: dict[tuple[str, str], list[tuple[float, float]]] = {}
    print(f"load before: {os.getloadavg()}")
    for r in range(rounds):
        order = ["old", "new"] if r % 2 == 0 else ["new", "old"]
        for name, argv in cmds.items():
            for side in order:
                got.setdefault((name, side), []).append(run_once(sides[side], argv))
    print(f"load after: {os.getloadavg()}")
    print(f"{'command':<20} {'side':<4} {'wall ms min/med/max':<24} {'CPU ms min/med/max'}")
    for name in cmds:
        for side in sides:
            walls = [w * 1000 for w, _ in got[(name, side)]]
            cpus = [c * 1000 for _, c in got[(name, side)]]
            print(f"{name:<20} {side:<4} {min(walls):6.0f} {statistics.median(walls):6.0f} {max(walls):6.0f}"
                  f"     {min(cpus):6.0f} {statistics.median(cpus):6.0f} {max(cpus):6.0f}")


if __name__ == "__main__":
    main()
