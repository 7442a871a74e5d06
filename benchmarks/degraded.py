"""What one slow or dead IP out of four costs a large download.

On loopback: nginx serves a sparse object; four fault proxies (tests/support/faultproxy, each
in its own process) listen on 127.0.0.12..15 on one port, each capping every connection at
``--cap`` MiB/s, and a fake host name resolves to all four. Scenarios, interleaved round by
round so a change in the machine's load hits each of them alike:

- ``healthy``: all four IPs at the cap;
- ``slow``: one IP caps its connections at ``--slow`` MiB/s (a path gone bad);
- ``dead``: one IP's proxy is killed (SIGKILL: its listener and every connection on it go)
  ``--kill-after`` seconds into the download, and restarted for the next run;
- ``stalled`` (only with ``--scenarios``): the same IP's proxy is frozen (SIGSTOP) instead:
  the kernel still completes connects to it, but nothing is answered (a black hole).

Each run downloads the object into memory with s3fast's defaults and reports MB/s; the table
gives min / median / max per scenario, its median against the healthy median, the ratio of
each run to the healthy run of the same round (median and worst), and what the client saw
on the bad IP (its state at the end, hedges).

    .venv/bin/python -m benchmarks.degraded [--runs 5] [--size-mib 768] [--json out.json]

Bounded: ``--runs`` rounds, each download cancelled after ``--run-timeout`` seconds.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MiB = 1 << 20
IPS = ("127.0.0.12", "127.0.0.13", "127.0.0.14", "127.0.0.15")
HOST = "s3.degraded.test"
BUCKET = "bench"
KEY = "big/object"
SCENARIOS = ("healthy", "slow", "dead", "stalled")

# One proxy per process, so four of them do not share one interpreter's GIL. It prints its
# port once listening and takes "bps N" (0: unlimited) on stdin.
PROXY = """
import sys
sys.path.insert(0, {tests!r})
from support.faultproxy import FaultProxy
p = FaultProxy({ip!r}, {port}, upstream=("127.0.0.1", {upstream}), per_connection_bps={bps}).start()
print(p.port, flush=True)
for line in sys.stdin:
    cmd, _, arg = line.partition(" ")
    if cmd == "bps":
        p.per_connection_bps = float(arg) or None
p.stop()
"""


@dataclass
class Proxy:
    ip: str
    port: int
    upstream: int
    bps: float
    proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        code = PROXY.format(tests=str(ROOT / "tests"), ip=self.ip, port=self.port,
                            upstream=self.upstream, bps=self.bps)
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.strip():
            raise RuntimeError(f"proxy on {self.ip}:{self.port} did not start")

    def set_bps(self, bps: float | None) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(f"bps {bps or 0}\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def freeze(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGSTOP)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()


@dataclass
class Run:
    round: int
    scenario: str
    mb_per_s: float
    seconds: float
    hedges: int
    retries: int
    moves: int
    bad_ip_state: str
    bad_ip_requests: int
    states: dict[str, str] = field(default_factory=dict)


async def one_download(endpoint: str, buf: bytearray, scenario: str, bad: Proxy,
                       kill_after: float, timeout: float) -> Run:
    import s3fast

    async with s3fast.Client(endpoint_url=endpoint, resolve={HOST: list(IPS)},
                             aws_access_key_id="bench", aws_secret_access_key="bench") as c:
        t0 = time.monotonic()
        task = asyncio.ensure_future(c.download(f"s3://{BUCKET}/{KEY}", buf))
        if scenario in ("dead", "stalled"):
            done, _ = await asyncio.wait({task}, timeout=kill_after)
            if not done:
                await asyncio.get_running_loop().run_in_executor(
                    None, bad.kill if scenario == "dead" else bad.freeze)
        try:
            result = await asyncio.wait_for(task, timeout)
        finally:
            seconds = time.monotonic() - t0
        stats = c.ip_stats()
        return Run(0, scenario, result.bytes / seconds / 1e6, seconds, c.stats.hedges, c.stats.retries,
                   c.stats.moves,
                   stats[bad.ip].state if bad.ip in stats else "-",
                   stats[bad.ip].requests if bad.ip in stats else 0,
                   {ip: st.state for ip, st in stats.items()})


def summarise(runs: list[Run]) -> tuple[list[str], dict[str, Any]]:
    by: dict[str, list[float]] = {s: [r.mb_per_s for r in runs if r.scenario == s] for s in SCENARIOS}
    base = by["healthy"]
    healthy_of = {r.round: r.mb_per_s for r in runs if r.scenario == "healthy"}
    lines = ["| scenario | runs | min MB/s | median MB/s | max MB/s | median / healthy median"
             " | per-round ratio: median | per-round ratio: min | bad IP at the end (runs) | hedges (median)"
             " | of which moves (median) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    summary: dict[str, Any] = {}
    for s in SCENARIOS:
        v = by[s]
        if not v:
            continue
        med = statistics.median(v)
        ratio = med / statistics.median(base) if base else float("nan")
        per_round = [r.mb_per_s / healthy_of[r.round] for r in runs
                     if r.scenario == s and r.round in healthy_of]
        states: dict[str, int] = {}
        for r in runs:
            if r.scenario == s:
                states[r.bad_ip_state] = states.get(r.bad_ip_state, 0) + 1
        hedges = statistics.median([r.hedges for r in runs if r.scenario == s])
        moves = statistics.median([r.moves for r in runs if r.scenario == s])
        state_text = ", ".join(f"{k} {n}" for k, n in sorted(states.items())) if s != "healthy" else "-"
        lines.append(f"| {s} | {len(v)} | {min(v):.0f} | {med:.0f} | {max(v):.0f} | {ratio:.2f}"
                     f" | {statistics.median(per_round):.2f} | {min(per_round):.2f} | {state_text} | {hedges:g} | {moves:g} |")
        summary[s] = {"runs": v, "min": min(v), "median": med, "max": max(v), "median_ratio": ratio,
                      "per_round_ratios": per_round}
    return lines, summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="rounds of the three scenarios (default 5)")
    ap.add_argument("--size-mib", type=int, default=768, help="object size (default 768 MiB)")
    ap.add_argument("--cap", type=float, default=40.0, help="per-connection cap of every IP, MiB/s (40)")
    ap.add_argument("--slow", type=float, default=1.0, help="per-connection cap of the slow IP, MiB/s (1)")
    ap.add_argument("--kill-after", type=float, default=1.0, help="seconds into the download (1)")
    ap.add_argument("--run-timeout", type=float, default=120.0, help="a download still going is an error (120)")
    ap.add_argument("--scenarios", default="healthy,slow,dead",
                    help=f"comma-separated, from {','.join(SCENARIOS)} (default healthy,slow,dead)")
    ap.add_argument("--json", help="write every run and the summary here")
    args = ap.parse_args()
    scenarios = [s for s in args.scenarios.split(",") if s]
    if "healthy" not in scenarios or any(s not in SCENARIOS for s in scenarios):
        ap.error(f"--scenarios: healthy plus any of {', '.join(SCENARIOS[1:])}")
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "tests"))
    from benchmarks.targets.nginx import NginxTarget
    from support.ports import find_common_free_port

    import s3fast

    size = args.size_mib * MiB
    data = Path(tempfile.mkdtemp(prefix="s3fast-degraded-"))
    obj = data / BUCKET / KEY
    obj.parent.mkdir(parents=True)
    with open(obj, "wb") as f:
        f.truncate(size)  # sparse: nginx serves zeros from the page cache
    nginx = NginxTarget(data, https=False, bucket=BUCKET)
    upstream = int(nginx.start().endpoint_url.rsplit(":", 1)[1])
    port = find_common_free_port(IPS)
    cap = args.cap * MiB
    proxies = [Proxy(ip, port, upstream, cap) for ip in IPS]
    bad = proxies[1]
    endpoint = f"http://{HOST}:{port}"
    buf = bytearray(size)
    runs: list[Run] = []
    load0 = os.getloadavg()
    t_start = time.monotonic()
    try:
        for p in proxies:
            p.start()
        # One unreported run first: page cache, proxies' and nginx's first connections.
        s3fast.run(one_download(endpoint, buf, "healthy", bad, args.kill_after, args.run_timeout))
        for i in range(args.runs):
            for scenario in scenarios:
                if scenario == "slow":
                    bad.set_bps(args.slow * MiB)
                run = s3fast.run(one_download(endpoint, buf, scenario, bad, args.kill_after,
                                              args.run_timeout))
                if scenario == "slow":
                    bad.set_bps(cap)
                if scenario == "stalled":
                    bad.proc.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
                    bad.kill()
                if scenario in ("dead", "stalled"):
                    bad.start()  # the same IP and port, for the next round
                run.round = i + 1
                runs.append(run)
                print(f"round {i + 1} {scenario:8s} {run.mb_per_s:7.1f} MB/s {run.seconds:6.2f} s"
                      f"  hedges {run.hedges} (moves {run.moves}) retries {run.retries}  {bad.ip}: {run.bad_ip_state},"
                      f" {run.bad_ip_requests} requests", flush=True)
    finally:
        for p in proxies:
            p.stop()
        nginx.stop()
        import shutil

        shutil.rmtree(data, ignore_errors=True)
    lines, summary = summarise(runs)
    load1 = os.getloadavg()
    print(f"\n{args.size_mib} MiB download, 4 IPs capped at {args.cap:g} MiB/s per connection; slow IP at"
          f" {args.slow:g} MiB/s; dead IP killed {args.kill_after:g} s in. {args.runs} rounds in"
          f" {time.monotonic() - t_start:.0f} s; load average {load0[0]:.1f} before, {load1[0]:.1f} after;"
          f" {os.cpu_count()} CPUs.\n")
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "runs": [r.__dict__ for r in runs],
                                               "summary": summary, "load": [load0, load1]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
