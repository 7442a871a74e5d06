"""Many objects, whole process: ``s3fast cp -r`` against s5cmd and the aws CLI.

A private SeaweedFS on loopback (``targets/seaweedfs``, a real S3 server that lists); two
trees in nested directories (``--trees``, default 1,000 x 64 KiB and 200 x 1 MiB); each
tree uploaded (directory -> prefix) and downloaded (prefix -> empty directory) by every
runner, one process per run, start-up included (what a person at the terminal waits for).
Runs alternate between runners round by round, so a change in the machine's load hits each
alike; the table gives objects/s and wall seconds as min-max and median, CPU seconds, and
each runner's median objects/s against s5cmd's.

Runners (each with its shipped defaults): ``s3fast`` (``--workers`` default), ``s3fast-w1``
(``--workers 1``; ``-wN`` and ``-cN`` suffixes set ``--workers`` and ``--concurrency``), ``s5cmd`` (``cp 'dir/*' s3://b/p/``, ``--numworkers`` default 256), ``aws``
(``aws s3 cp --recursive``) when installed.

    .venv/bin/python -m benchmarks.trees [--rounds 4] [--runners s3fast,s3fast-w1,s5cmd,aws]

Every download is checked: the same relative paths and sizes as the source tree. Bounded:
``--rounds`` rounds, each run killed after ``--run-timeout`` seconds.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .procs import Measured, run_measured
from .runners import s5cmd_runner
from .targets.seaweedfs import SeaweedTarget

KiB, MiB = 1 << 10, 1 << 20
RUNNERS = ("s3fast", "s3fast-w1", "s5cmd", "aws")


@dataclass(frozen=True)
class Tree:
    count: int
    size: int

    @property
    def name(self) -> str:
        unit = f"{self.size // MiB}MiB" if self.size >= MiB else f"{self.size // KiB}KiB"
        return f"{self.count}x{unit}"


def parse_tree(text: str) -> Tree:
    count, _, size = text.partition("x")
    unit = size.lower()
    mult = MiB if unit.endswith("mib") else KiB
    return Tree(int(count), int(unit.rstrip("kmib")) * mult)


def make_tree(root: Path, tree: Tree) -> dict[str, int]:
    """``count`` files of ``size`` random bytes, 10 per directory, two levels deep."""
    files: dict[str, int] = {}
    for i in range(tree.count):
        rel = f"d{i // 100:03d}/s{(i // 10) % 10}/f{i:06d}.bin"
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(os.urandom(tree.size))
        files[rel] = tree.size
    return files


def read_sizes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def command(runner: str, direction: str, local: Path, url: str, endpoint: str) -> list[str]:
    if runner.startswith("s3fast"):
        argv = [str(Path(sys.executable).parent / "s3fast"), "cp", "-r", "--quiet", "--endpoint-url", endpoint]
        for flag in runner.split("-")[1:]:  # s3fast-w1-c64: --workers 1 --concurrency 64
            argv += ["--workers" if flag[0] == "w" else "--concurrency", flag[1:]]
        return argv + ([str(local), url] if direction == "upload" else [url, str(local)])
    if runner == "s5cmd":
        binary = s5cmd_runner.binary()
        assert binary is not None
        argv = [binary, "--log", "error", "--endpoint-url", endpoint, "cp"]
        return argv + ([f"{local}/*", url] if direction == "upload" else [f"{url}*", f"{local}/"])
    aws = shutil.which("aws")
    assert aws is not None
    argv = [aws, "s3", "cp", "--recursive", "--only-show-errors", "--endpoint-url", endpoint]
    return argv + ([str(local), url] if direction == "upload" else [url, str(local)])


def available(runner: str) -> bool:
    if runner == "s5cmd":
        return s5cmd_runner.binary() is not None
    if runner == "aws":
        return shutil.which("aws") is not None
    return (Path(sys.executable).parent / "s3fast").exists()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.trees", description=__doc__.split("\n")[0])
    p.add_argument("--trees", default="1000x64KiB,200x1MiB")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--runners", default=",".join(RUNNERS))
    p.add_argument("--directions", default="upload,download")
    p.add_argument("--run-timeout", type=float, default=600.0)
    p.add_argument("--json", help="also write every run here")
    args = p.parse_args(argv)
    trees = [parse_tree(t) for t in args.trees.split(",")]
    runners = [r for r in args.runners.split(",") if r and available(r)]
    directions = args.directions.split(",")
    target = SeaweedTarget(bucket="trees")
    ep = target.start()
    assert ep.endpoint_url is not None
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ep.access_key or "", "AWS_SECRET_ACCESS_KEY": ep.secret_key or "",
           "AWS_REGION": ep.region, "AWS_DEFAULT_REGION": ep.region, "AWS_EC2_METADATA_DISABLED": "true"}
    work = Path(tempfile.mkdtemp(prefix="s3fast-trees-"))
    runs: list[dict[str, object]] = []
    try:
        for tree in trees:
            src = work / f"src-{tree.name}"
            files = make_tree(src, tree)
            seed = run_measured(command("s3fast", "upload", src, f"s3://trees/{tree.name}/seed/", ep.endpoint_url),
                                env=env, timeout=args.run_timeout)
            if seed.returncode != 0:
                raise RuntimeError(f"seeding failed: {seed.stderr[-500:]}")
            for rnd in range(args.rounds):
                order = runners[rnd % len(runners):] + runners[:rnd % len(runners)]
                for direction in directions:
                    for runner in order:
                        local = src if direction == "upload" else work / f"dst-{runner}"
                        shutil.rmtree(work / f"dst-{runner}", ignore_errors=True)
                        url = (f"s3://trees/{tree.name}/{runner}/" if direction == "upload"
                               else f"s3://trees/{tree.name}/seed/")
                        m: Measured = run_measured(command(runner, direction, local, url, ep.endpoint_url),
                                                   env=env, timeout=args.run_timeout)
                        ok = m.returncode == 0
                        if ok and direction == "download":
                            ok = read_sizes(local) == files
                        if ok and direction == "upload":
                            ok = len(target.admin.list_sizes(f"{tree.name}/{runner}/")) == tree.count
                        # VmHWM of the command: ru_maxrss after exec keeps the forking parent's peak
                        rss = (m.hwm_kib or m.maxrss_kib) / 1024
                        runs.append({"tree": tree.name, "direction": direction, "runner": runner, "round": rnd,
                                     "wall_s": m.wall_s, "cpu_s": m.cpu_s, "rss_mib": rss,
                                     "ok": ok, "stderr": m.stderr[-300:]})
                        print(f"{tree.name} {direction:8} {runner:10} round {rnd}: {m.wall_s:6.2f} s "
                              f"{tree.count / m.wall_s:7.0f} obj/s cpu {m.cpu_s:5.2f} s {'ok' if ok else 'FAILED'}",
                              file=sys.stderr, flush=True)
        print(report(runs, trees, runners, directions))
    finally:
        target.stop()
        shutil.rmtree(work, ignore_errors=True)
        if args.json:
            Path(args.json).write_text(json.dumps(runs, indent=1))
    return 0


def report(runs: list[dict[str, object]], trees: list[Tree], runners: list[str], directions: list[str]) -> str:
    lines = ["| tree | direction | runner | objects/s median (min-max) | wall s median (min-max) | CPU s median "
             "| peak RSS MiB | vs s5cmd (median obj/s) | runs ok |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for tree in trees:
        for direction in directions:
            medians: dict[str, float] = {}
            rows = []
            for runner in runners:
                mine = [r for r in runs if r["tree"] == tree.name and r["direction"] == direction
                        and r["runner"] == runner]
                good = [r for r in mine if r["ok"]]
                if not good:
                    rows.append((runner, None, mine))
                    continue
                walls = sorted(float(r["wall_s"]) for r in good)  # type: ignore[arg-type]
                rates = [tree.count / w for w in walls]
                medians[runner] = statistics.median(rates)
                rows.append((runner, (walls, rates, good), mine))
            for runner, data, mine in rows:
                if data is None:
                    lines.append(f"| {tree.name} | {direction} | {runner} | failed | | | | | 0/{len(mine)} |")
                    continue
                walls, rates, good = data
                cpu = statistics.median(float(r["cpu_s"]) for r in good)  # type: ignore[arg-type]
                rss = max(float(r["rss_mib"]) for r in good)  # type: ignore[arg-type]
                ratio = f"{medians[runner] / medians['s5cmd']:.2f}x" if "s5cmd" in medians else ""
                lines.append(f"| {tree.name} | {direction} | {runner} | {medians[runner]:,.0f} "
                             f"({min(rates):,.0f}-{max(rates):,.0f}) | {statistics.median(walls):.2f} "
                             f"({walls[0]:.2f}-{walls[-1]:.2f}) | {cpu:.2f} | {rss:.0f} | {ratio} | "
                             f"{len(good)}/{len(mine)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
