"""Where a tree copy waits: ``s3fast cp -r`` run in this process with a timeline recorded.

    AWS_* env set; tree_trace.py cp -r --quiet --endpoint-url URL SRC DST

The arguments are the CLI's (``s3fast`` is implied). Recorded, from the process's start (its
``/proc/self/stat`` start time, so the interpreter's own start-up is counted):

- the moment the imports are done and the command starts;
- each ListObjectsV2 page (or, for uploads, every 100th walked file) and the listing's end;
- each request's start and end (``Transport._attempt``, the one place every request passes);
- every 5 ms: the limiter's limit, requests in flight and waiting, objects started by the
  engine and finished, and the sampler's own lateness (the event loop busy elsewhere).

Printed: a per-100 ms table and a summary saying, for the time between the first request
and the last, what share of it had the limiter full with requests waiting (bounded by the
tuner or the memory cap), fewer requests in flight than the limit (bounded by the work
reaching the limiter: listing, the engine's window, file work on the loop), and the loop late.
This is a probe (it patches private methods): nothing in the package depends on it.
"""
from __future__ import annotations

import os
import sys
import time


def _process_start() -> float:
    """The process's start on the monotonic clock (CLOCK_MONOTONIC counts from boot, as
    /proc/self/stat's start time does)."""
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[19])  # field 22 overall; 20th after the command name's ')'
    return ticks / os.sysconf("SC_CLK_TCK")


T0 = _process_start()
BOOT_OFFSET = time.monotonic() - time.clock_gettime(time.CLOCK_BOOTTIME)


def now() -> float:
    """Seconds since the process started."""
    return time.clock_gettime(time.CLOCK_BOOTTIME) - T0


import asyncio  # noqa: E402
from typing import Any  # noqa: E402

from s3fast import _transport  # noqa: E402
from s3fast.cli import _main, _tree  # noqa: E402
from s3fast.tree import _ops  # noqa: E402

T_IMPORTED = now()
events: list[tuple[float, str]] = []
requests: list[tuple[float, float]] = []
samples: list[tuple[float, int, int, int, int, int, float]] = []
state = {"started": 0, "finished": 0}
clients: list[Any] = []

_attempt = _transport.Transport._attempt


async def _traced_attempt(self: Any, *args: Any, **kwargs: Any) -> Any:
    t = now()
    try:
        return await _attempt(self, *args, **kwargs)
    finally:
        requests.append((t, now()))


_transport.Transport._attempt = _traced_attempt  # type: ignore[method-assign]

_make_client = _tree.make_client


def _capturing_make_client(*args: Any, **kwargs: Any) -> Any:
    client = _make_client(*args, **kwargs)
    clients.append(client)
    events.append((now(), "client made"))
    asyncio.get_running_loop().create_task(_sample(client))
    return client


_tree.make_client = _capturing_make_client

_entries = _ops.entries


async def _traced_entries(*args: Any, **kwargs: Any) -> Any:
    n = 0
    events.append((now(), "listing starts"))
    async for e in _entries(*args, **kwargs):
        n += 1
        if n == 1 or n % 100 == 0:
            events.append((now(), f"listed {n}"))
        yield e
    events.append((now(), f"listing ends ({n})"))


_ops.entries = _traced_entries

_transfer = _ops._Tree.transfer


async def _traced_transfer(self: Any, *args: Any, **kwargs: Any) -> Any:
    state["started"] += 1
    try:
        return await _transfer(self, *args, **kwargs)
    finally:
        state["finished"] += 1


_ops._Tree.transfer = _traced_transfer  # type: ignore[method-assign]


async def _sample(client: Any) -> None:
    step = 0.005
    expected = now() + step
    while True:
        await asyncio.sleep(step)
        t = now()
        lim = client.limiter
        samples.append((t, lim.limit, lim.in_flight, lim.waiting, state["started"], state["finished"],
                        max(0.0, t - expected)))
        expected = t + step


def report(cpu: float) -> str:
    out = [f"imports done {T_IMPORTED:.3f} s after the process started"]
    out += [f"{t:8.3f}  {what}" for t, what in events if not what.startswith("listed ") or what == "listed 1"]
    if requests:
        first = min(s for s, _ in requests)
        last = max(e for _, e in requests)
        durs = sorted(e - s for s, e in requests)
        out.append(f"requests: {len(requests)}, first starts {first:.3f}, last ends {last:.3f}; "
                   f"latency p50 {durs[len(durs) // 2] * 1e3:.1f} ms p90 {durs[int(len(durs) * .9)] * 1e3:.1f} ms")
        busy = [s for s in samples if first <= s[0] <= last]
        if busy:
            full = sum(1 for s in busy if s[3] > 0)
            under = sum(1 for s in busy if s[3] == 0 and s[2] < s[1])
            late = sum(1 for s in busy if s[6] > 0.005)
            mean_inflight = sum(s[2] for s in busy) / len(busy)
            out.append(f"between them ({last - first:.2f} s, {len(busy)} samples): limiter full with waiters "
                       f"{full / len(busy):.0%}, under the limit {under / len(busy):.0%}, loop >5 ms late "
                       f"{late / len(busy):.0%}; mean in flight {mean_inflight:.1f}")
    out.append(f"process CPU {cpu:.2f} s, wall {now():.2f} s")
    out.append("    t   limit inflight waiting started finished  late_ms")
    mark = 0.0
    for s in samples:
        if s[0] >= mark:
            out.append(f"{s[0]:6.2f} {s[1]:6d} {s[2]:8d} {s[3]:7d} {s[4]:7d} {s[5]:8d} {s[6] * 1e3:8.1f}")
            mark = s[0] + 0.1
    return "\n".join(out)


if __name__ == "__main__":
    events.append((now(), "command starts"))
    code = _main.main(sys.argv[1:])
    ru = os.times()
    print(report(ru.user + ru.system), file=sys.stderr)
    sys.exit(code)
