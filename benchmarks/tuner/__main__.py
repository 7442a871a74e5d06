"""How fast and how stably the auto-tuner finds the concurrency a target needs.

On loopback: nginx serves a 1 GiB object; an HTTP-aware proxy (tests/support/faultproxy,
in its own process) caps every connection at a fixed rate, so a target of T needs about
T / rate connections. For each scenario (per-connection rate, target):

1. static sweep: fixed concurrency at N/2, N and 2N (N = target / rate); the best of them,
   capped at the target rate, is the reference;
2. tuned run: s3fast from its default start, auto-tuned toward the target;
3. reports convergence time (first window at >= 90% of the best static rate), overshoot
   (highest concurrency above N), stability (std of concurrency and rate after convergence),
   and plots rate and concurrency over time (one PNG per scenario).

    .venv/bin/python -m benchmarks.tuner [--seconds 8] [--out benchmarks/out/tuner]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MiB = 1 << 20
SCENARIOS = [  # (per-connection MiB/s, connections the target needs)
    (4, 4),
    (4, 12),
    (16, 6),
]

PROXY = """
import sys, time, signal
sys.path.insert(0, {tests!r})
from support.faultproxy import FaultProxy
p = FaultProxy("127.0.0.1", 0, upstream=("127.0.0.1", {port}), per_connection_bps={bps}).start()
print(p.port, flush=True)
signal.signal(signal.SIGTERM, lambda *a: (p.stop(), sys.exit(0)))
time.sleep(3600)
"""


def start_proxy(upstream_port: int, bps: float) -> tuple[subprocess.Popen[str], int]:
    code = PROXY.format(tests=str(ROOT / "tests"), port=upstream_port, bps=bps)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


async def run_once(endpoint: str, seconds: float, *, target_gbps: float, concurrency: int | None) -> dict:
    import s3fast

    cfg = s3fast.TransferConfig(target_gbps=target_gbps, max_concurrency=concurrency,
                                part_size=8 * MiB, memory_limit=512 * MiB)
    trace: list[tuple[float, float, int]] = []
    async with s3fast.Client(endpoint_url=endpoint, aws_access_key_id="a", aws_secret_access_key="b",
                             config=cfg) as c:
        t0 = time.monotonic()
        buf = bytearray(1 << 30)
        task = asyncio.ensure_future(c.download("s3://bench/big/o1g", buf))
        last = c.meter.total_bytes
        while not task.done() and time.monotonic() - t0 < seconds:
            await asyncio.sleep(0.25)
            total = c.meter.total_bytes
            trace.append((time.monotonic() - t0, (total - last) / 0.25, c.limiter.limit))
            last = total
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        history = [(h.t, h.rate_bps, h.concurrency, h.reason) for h in c.tuner.history]
    steady = [r for t, r, _ in trace if t > seconds / 2]
    return {"trace": trace, "history": history, "rate": statistics.median(steady) if steady else 0.0}


def analyse(trace: list, best: float, needed: int) -> dict:
    conv = next((t for t, r, _ in trace if r >= 0.9 * best), None)
    after = [(r, n) for t, r, n in trace if conv is not None and t >= conv]
    levels = [n for _, _, n in trace]
    return {
        "convergence_s": conv,
        "overshoot": max(0, max(levels) - needed) if levels else None,
        "max_concurrency": max(levels) if levels else None,
        "concurrency_std_after": statistics.pstdev([n for _, n in after]) if len(after) > 1 else 0.0,
        "rate_cv_after": (statistics.pstdev([r for r, _ in after]) / statistics.mean([r for r, _ in after]))
        if len(after) > 1 and statistics.mean([r for r, _ in after]) > 0 else None,
    }


def plot(path: Path, title: str, trace: list, best: float, needed: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax1 = plt.subplots(figsize=(7, 3.5))
    t = [p[0] for p in trace]
    ax1.plot(t, [p[1] / MiB for p in trace], color="tab:blue", label="goodput MiB/s")
    ax1.axhline(best / MiB, color="tab:blue", linestyle=":", label="best static")
    ax1.axhline(0.9 * best / MiB, color="tab:gray", linestyle=":", label="90% of best static")
    ax1.set_xlabel("seconds")
    ax1.set_ylabel("MiB/s")
    ax2 = ax1.twinx()
    ax2.step(t, [p[2] for p in trace], color="tab:red", where="post", label="concurrency")
    ax2.axhline(needed, color="tab:red", linestyle=":", label="needed")
    ax2.set_ylabel("requests in flight (limit)")
    ax1.set_title(title)
    fig.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=8.0, help="length of each run (default 8)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "tuner"))
    args = ap.parse_args()
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    from benchmarks.targets.nginx import NginxTarget

    data = Path(tempfile.mkdtemp(prefix="s3fast-tuner-"))
    (data / "bench" / "big").mkdir(parents=True)
    with open(data / "bench" / "big" / "o1g", "wb") as f:
        f.truncate(1 << 30)  # sparse: nginx serves zeros from the page cache
    nginx = NginxTarget(data, https=False, bucket="bench")
    ep = nginx.start()
    upstream = int(ep.endpoint_url.rsplit(":", 1)[1])
    import s3fast

    rows = []
    try:
        for rate_mib, needed in SCENARIOS:
            bps = rate_mib * MiB
            target_gbps = needed * bps * 8 / 1e9
            proxy, port = start_proxy(upstream, bps)
            endpoint = f"http://127.0.0.1:{port}"
            try:
                statics = {}
                for n in sorted({max(1, needed // 2), needed, needed * 2}):
                    res = s3fast.run(run_once(endpoint, args.seconds, target_gbps=target_gbps, concurrency=n))
                    statics[n] = res["rate"]
                # The reference: the best static rate, but no more than the target asks for
                # (the tuner aims at the target, not at the link's maximum).
                best = min(max(statics.values()), target_gbps * 1e9 / 8)
                tuned = s3fast.run(run_once(endpoint, args.seconds, target_gbps=target_gbps, concurrency=None))
            finally:
                proxy.terminate()
                proxy.wait()
            stats = analyse(tuned["trace"], best, needed)
            name = f"rate{rate_mib}MiBps-n{needed}"
            plot(out / f"tuner-{name}.png",
                 f"{rate_mib} MiB/s per connection, target {target_gbps:.2f} Gbps (needs {needed})",
                 tuned["trace"], best, needed)
            row = {"scenario": name, "per_connection_mib_s": rate_mib, "needed": needed,
                   "target_gbps": round(target_gbps, 3), "static_rates_mib_s": {k: round(v / MiB, 1) for k, v in statics.items()},
                   "best_static_mib_s": round(best / MiB, 1), "tuned_steady_mib_s": round(tuned["rate"] / MiB, 1),
                   **stats, "history": tuned["history"]}
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "history"}), flush=True)
    finally:
        nginx.stop()
        import shutil

        shutil.rmtree(data, ignore_errors=True)
    (out / "tuner.json").write_text(json.dumps(rows, indent=1))
    lines = ["| scenario | needed | best static MiB/s | tuned steady MiB/s | convergence to 90% (s) | max concurrency | overshoot | concurrency std after | rate CV after |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        conv = "never" if r["convergence_s"] is None else f"{r['convergence_s']:.2f}"
        cv = "–" if r["rate_cv_after"] is None else f"{r['rate_cv_after']:.2f}"
        lines.append(f"| {r['scenario']} | {r['needed']} | {r['best_static_mib_s']} | {r['tuned_steady_mib_s']} | {conv} | "
                     f"{r['max_concurrency']} | {r['overshoot']} | {r['concurrency_std_after']:.2f} | {cv} |")
    (out / "tuner.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
