"""In-process ``s3fast.tree.sync`` of an unchanged tree, N times in one client: wall and CPU
of each, and the minimum (the listing and the decisions, no start-up).

    python benchmarks/probes/sync_unchanged.py ENDPOINT_URL LOCAL_DIR s3://bucket/prefix/ [N]

Sync the tree once first (``s3fast sync LOCAL_DIR s3://bucket/prefix/``), so every run
finds it unchanged. Keys from the environment (memserver accepts any).
"""
from __future__ import annotations

import sys
import time

import s3fast
from s3fast.tree import sync


async def _runs(endpoint: str, src: str, dst: str, n: int) -> list[tuple[float, float, int]]:
    out = []
    async with s3fast.Client(endpoint_url=endpoint) as client:
        for _ in range(n):
            t, c, count = time.perf_counter(), time.process_time(), 0
            async for r in sync(client, src, dst):
                count += r.status == "skipped"
            out.append((time.perf_counter() - t, time.process_time() - c, count))
    return out


def main() -> None:
    endpoint, src, dst = sys.argv[1:4]
    runs = s3fast.run(_runs(endpoint, src, dst, int(sys.argv[4]) if len(sys.argv) > 4 else 7))
    print(f"skipped {runs[0][2]}; min wall {min(r[0] for r in runs):.3f} s, min CPU {min(r[1] for r in runs):.3f} s;",
          " ".join(f"{w:.3f}" for w, _, _ in runs))


if __name__ == "__main__":
    main()
