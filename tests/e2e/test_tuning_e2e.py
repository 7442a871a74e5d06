"""The tuner, closed-loop, on loopback: each connection is capped by the proxy, so reaching
the target takes N connections; from a small start the tuner must grow to about N.

Asserts on the controller's decisions and on byte accounting, never on wall-clock speed.
"""
from __future__ import annotations

import asyncio
import os

from e2e_helpers import MiB, SMALL, client_for, run

from s3fast.tuning import TunerConfig

PER_CONNECTION = 2 * MiB  # bytes/s each proxy connection may carry
N = 6  # connections the target needs
OBJECTS = 64
SIZE = 256 * 1024
WORKERS = 24  # downloads kept queued, more than the tuner may ever admit here
#: The load lasts until the controller has decided (not a fixed number of objects, which a
#: fast machine finishes mid-ramp), bounded by count and time so a controller that never
#: decides fails the test instead of hanging it.
MAX_DOWNLOADS = 1500
MAX_SECONDS = 60.0


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
        # Start from one request. The meter reads bytes as they cross the sockets; when it
        # counted a memory download per slice (here: per object), every window from one
        # request held zero or one object, and that noise (>70%) kept the 1 -> 2 comparison
        # "too close to call" for as long as the test ran (seen in CI).
        tuner=TunerConfig(window_seconds=0.25, initial_per_connection_gbps=target_gbps),
    )

    async def go() -> None:
        async with client_for(fault_cluster, cfg) as c:
            assert c.limiter.limit == 1
            loop = asyncio.get_running_loop()
            deadline = loop.time() + MAX_SECONDS
            peak = 0
            started = 0

            def decided() -> bool:
                return any(h.reason == "target-reached" for h in c.tuner.history)

            async def worker(w: int) -> None:
                nonlocal peak, started
                buf = bytearray(SIZE)
                while started < MAX_DOWNLOADS and loop.time() < deadline and not decided():
                    i = started % OBJECTS
                    started += 1
                    await c.download(f"s3://{bucket}/o{i}", buf)
                    assert buf == blobs[i], i
                    peak = max(peak, c.limiter.in_flight)

            await asyncio.gather(*(worker(w) for w in range(WORKERS)))
            history = c.tuner.history
            levels = [h.concurrency for h in history]
            reasons = [h.reason for h in history]
            # It ramped, then held once the measured rate reached the target.
            assert "ramp" in reasons and "target-reached" in reasons, (started, history)
            assert reasons.index("ramp") < reasons.index("target-reached")
            # The controller grew from 1 to (at least) N - 1 requests in flight...
            assert levels[0] == 1 and max(levels) >= N - 1, levels
            assert peak >= N - 1  # requests really were in flight at once
            # ...and stayed within what the memory limit allows.
            assert max(levels) <= cfg.memory_limit // cfg.part_size
            # Byte accounting: the meter saw every body byte exactly once.
            assert c.meter.total_bytes == started * SIZE

    run(go())


def test_the_meter_sees_a_slow_download_in_every_window(fault_cluster) -> None:
    """One range trickling at 1 MiB/s into memory: the transfer reports it per 1 MiB slice,
    but the tuner's windows must see its bytes as they arrive, or most 0.25 s windows read
    zero and the rest four times the real rate (noise no controller can step through)."""
    bucket = fault_cluster.moto.make_bucket()
    size = 2 * MiB
    blob = os.urandom(size)
    fault_cluster.moto.boto3_client().put_object(Bucket=bucket, Key="slow", Body=blob)
    fault_cluster.set_per_connection_bps(1 * MiB)
    cfg = SMALL.replace(max_concurrency=1)  # no tuner task: the test closes the windows

    async def go() -> list[int]:
        async with client_for(fault_cluster, cfg) as c:
            buf = bytearray(size)
            task = asyncio.ensure_future(c.download(f"s3://{bucket}/slow", buf))
            windows: list[int] = []
            c.meter.take_sample()
            # Bounded: 2 MiB at 1 MiB/s is about 8 windows; 80 is 20 s.
            while not task.done() and len(windows) < 80:
                await asyncio.wait([task], timeout=0.25)
                windows.append(c.meter.take_sample().bytes)
            await task
            assert buf == blob
            assert c.meter.total_bytes == size  # every body byte once
            return windows

    windows = run(go())
    busy = windows[:-1]  # the last window holds only the tail
    assert len(busy) >= 4, windows
    # Per slice, about three of every four windows were empty; as bytes arrive, none is.
    assert sum(1 for b in busy if b == 0) <= 1, windows
    assert sum(windows) == size


def test_the_meter_counts_upload_bytes_as_they_are_sent(fault_cluster) -> None:
    bucket = fault_cluster.moto.make_bucket()
    size = 11 * MiB  # three parts of SMALL's 5 MiB
    blob = os.urandom(size)

    async def go() -> None:
        async with client_for(fault_cluster, SMALL.replace(max_concurrency=2)) as c:
            await c.upload(blob, f"s3://{bucket}/up")
            # Part bodies, plus the small bodies of the multipart calls (Complete's XML)
            # and answers; nothing counted twice.
            assert size <= c.meter.total_bytes < size + 64 * 1024
            assert c._transport.stats.bytes_received > 0

    run(go())
