"""boto3 with the classic (thread pool) s3transfer ``TransferManager``.

Default mode: boto3's ``TransferConfig()`` (10 threads, 8 MiB parts and threshold, botocore's
10-connection pool), forced to the classic client so that CRT auto-detection on an optimised
instance does not change what this row measures. Matched mode: ``max_concurrency``, part
size and threshold from the harness, with a connection pool as large as the thread pool.
All objects are submitted to one manager, which bounds the work itself.
"""
from __future__ import annotations

import io
from typing import Any

from ..dataset import crc64_buffer
from .base import DoneSubscriber, Job, ObjectClock, RunnerOutput, TimedRegion, load_sources


def version() -> str:
    import boto3
    import s3transfer

    return f"boto3 {boto3.__version__}, s3transfer {s3transfer.__version__}"


def available() -> str | None:
    try:
        import boto3  # noqa: F401
    except ImportError as exc:
        return f"boto3 not importable: {exc}"
    return None


def make_client(job: Job, max_pool: int | None) -> Any:
    import boto3
    import botocore.config

    ep = job.endpoint
    cfg_kwargs: dict[str, Any] = {"s3": {"addressing_style": "path" if ep.endpoint_url else "auto"}}
    if max_pool is not None:
        cfg_kwargs["max_pool_connections"] = max_pool
    return boto3.session.Session().client(
        "s3",
        endpoint_url=ep.endpoint_url,
        region_name=ep.region,
        aws_access_key_id=ep.access_key,
        aws_secret_access_key=ep.secret_key,
        aws_session_token=ep.session_token,
        verify=ep.ca_bundle if ep.ca_bundle else True,
        config=botocore.config.Config(**cfg_kwargs),
    )


def run(job: Job) -> RunnerOutput:
    from boto3.s3.transfer import TransferConfig, create_transfer_manager

    if job.mode == "matched":
        assert job.concurrency is not None and job.part_size is not None
        config = TransferConfig(
            max_concurrency=job.concurrency,
            multipart_chunksize=job.part_size,
            multipart_threshold=job.part_size,
            preferred_transfer_client="classic",
        )
        client = make_client(job, max_pool=job.concurrency)
    else:
        config = TransferConfig(preferred_transfer_client="classic")
        client = make_client(job, max_pool=None)
    manager = create_transfer_manager(client, config)
    bucket = job.endpoint.bucket
    sources = load_sources(job) if job.direction == "upload" and job.storage == "memory" else None
    sinks = (
        [io.BytesIO() for _ in job.keys]
        if job.direction == "download" and job.storage == "memory"
        else None
    )
    clock = ObjectClock()
    with manager, TimedRegion() as region:
        futures = []
        for i, key in enumerate(job.keys):
            clock.submit(i)
            subs = [DoneSubscriber(clock, i)]
            if job.direction == "upload":
                src: Any = io.BytesIO(sources[i]) if sources is not None else job.paths[i]
                futures.append(manager.upload(src, bucket, key, subscribers=subs))
            else:
                dst: Any = sinks[i] if sinks is not None else job.paths[i]
                futures.append(manager.download(bucket, key, dst, subscribers=subs))
        for f in futures:
            f.result()
    checksums = [crc64_buffer(s.getbuffer()) for s in sinks] if sinks is not None else None
    return RunnerOutput(
        seconds=region.seconds,
        bytes=job.total_bytes,
        cpu_s_timed=region.cpu_s,
        checksums=checksums,
        latency_ms=clock.latency_ms(),
        extra={"client": "s3transfer.manager.TransferManager"},
    )
