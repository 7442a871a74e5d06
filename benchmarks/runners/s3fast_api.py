"""s3fast's asyncio API: one ``s3fast.Client``, every object ``gather``-ed on it.

The client bounds its own concurrency, so many-object workloads hand it all objects at once.
Default mode: ``TransferConfig()``; matched mode: ``part_size`` and ``max_concurrency`` from
the harness. The native/pure label comes from ``S3FAST_NO_EXTENSIONS`` in this process's
environment (set by the harness); the runner also reports what s3fast says it loaded.
"""
from __future__ import annotations

import asyncio
from typing import Any

from ..dataset import crc64_buffer
from .base import Job, ObjectClock, RunnerOutput, TimedRegion, load_sources
from .s3fast_common import available_api, native_flag, output_from_results
from .s3fast_common import version as _version


def version() -> str:
    return _version()


def available() -> str | None:
    return available_api()


async def _transfer(job: Job) -> tuple[RunnerOutput, list[bytearray] | None]:
    import s3fast

    ep = job.endpoint
    if job.mode == "matched":
        config = s3fast.TransferConfig(part_size=job.part_size, max_concurrency=job.concurrency)
    else:
        config = s3fast.TransferConfig()
    sources = load_sources(job) if job.direction == "upload" and job.storage == "memory" else None
    buffers = (
        [bytearray(job.object_size) for _ in job.keys]
        if job.direction == "download" and job.storage == "memory"
        else None
    )
    clock = ObjectClock()

    async def one(client: Any, i: int) -> Any:
        clock.submit(i)
        if job.direction == "upload":
            src: Any = sources[i] if sources is not None else job.paths[i]
            result = await client.upload(src, job.url(i))
        else:
            dst: Any = buffers[i] if buffers is not None else job.paths[i]
            result = await client.download(job.url(i), dst)
        clock.finish(i)
        return result

    client = s3fast.Client(
        endpoint_url=ep.endpoint_url, region=ep.region, ca_bundle=ep.ca_bundle, config=config
    )
    async with client as c:
        with TimedRegion() as region:
            results = await asyncio.gather(*(one(c, i) for i in range(len(job.keys))))
    out = output_from_results(list(results))
    out.seconds = region.seconds
    out.cpu_s_timed = region.cpu_s
    out.bytes = out.bytes if out.bytes is not None else job.total_bytes
    if out.latency_ms is None:
        out.latency_ms = clock.latency_ms()
    out.native = native_flag(s3fast)
    return out, buffers


def run(job: Job) -> RunnerOutput:
    import s3fast

    runner = getattr(s3fast, "run", None)
    if callable(runner):
        out, buffers = runner(_transfer(job))  # uvloop when present, as users would run it
    else:
        out, buffers = asyncio.run(_transfer(job))
    if buffers is not None:
        out.checksums = [crc64_buffer(b) for b in buffers]
    out.extra["client"] = "s3fast.Client"
    return out
