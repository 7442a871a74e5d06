"""The tuner, closed-loop, on loopback: each connection is capped by the proxy, so reaching
the target takes N connections; from a small start the tuner must grow to about N.

Asserts on the controller's decisions and on byte accounting, never on wall-clock speed.
"""
from __future__ import annotations

import asyncio
import os

from e2e_helpers import MiB, SMALL, client_for, run

import s3fast
from s3fast.tuning import TunerConfig

PER_CONNECTION = 2 * MiB  # bytes/s each proxy connection may carry
N = 6  # connections the target needs
OBJECTS = 64
SIZE = 512 * 1024


def test_tuner_grows_to_the_connections_the_target_needs(fault_cluster) -> None:
    bucket = fault_cluster.moto.make_bucket()
    s3 = fault_cluster.moto.boto3_client()
    blobs = [os.urandom(SIZE) for _ in range(OBJECTS)]
    for i, blob in enumerate(blobs):
        s3.put_object(Bucket=bucket, Key=f"o{i}", Body=blob)
    fault_cluster.set_per_connection_bps(PER_CONNECTION)
    target_gbps = N * PER_CONNECTION * 8 / 1e9
    cfg = SMALL.replace(
        target_gbps=target_gbps,
        # Start from one request (the CRT-style model would start at ceil(target/0.4 Gbps) = 1
        # anyway); short windows keep the test short.
        tuner=TunerConfig(window_seconds=0.1, max_initial_concurrency=1),
    )

    async def go() -> None:
        async with client_for(fault_cluster, cfg) as c:
            assert c.limiter.limit == 1
            bufs = [bytearray(SIZE) for _ in range(OBJECTS)]
            peak = 0

            async def one(i: int) -> None:
                nonlocal peak
                await c.download(f"s3://{bucket}/o{i}", bufs[i])
                peak = max(peak, c.limiter.in_flight)

            await asyncio.gather(*(one(i) for i in range(OBJECTS)))
            assert bufs == blobs
            history = c.tuner.history
            levels = [h.concurrency for h in history]
            # The controller grew from 1 to (at least) N - 1 requests in flight...
            assert levels[0] == 1 and max(levels) >= N - 1, levels
            assert peak >= N - 1  # requests really were in flight at once
            # ...and stayed within what the memory limit allows.
            assert max(levels) <= cfg.memory_limit // cfg.part_size
            # Byte accounting: the meter saw every body byte exactly once.
            assert c.meter.total_bytes == OBJECTS * SIZE
            reasons = [h.reason for h in history]
            # It ramped, then held once the measured rate reached the target.
            assert "ramp" in reasons and "target-reached" in reasons, reasons
            assert reasons.index("ramp") < reasons.index("target-reached")

    run(go())
