"""boto3's CRT transfer path: s3transfer's ``CRTTransferManager`` on an awscrt ``S3Client``.

boto3 itself only switches to CRT on "optimised" instances and never with a custom endpoint
(its request serializer is built with ``endpoint_url=None``), so the manager is assembled
from s3transfer's public pieces the way boto3 and the AWS CLI do. Default mode: s3transfer's
``create_s3_crt_client`` defaults (8 MiB parts, CRT's default target). Matched mode: the
harness's part size and a throughput target of ``concurrency x 0.4 Gbps``, which CRT turns
into that many connections (its 0.4 Gbps-per-connection rule; this API has no connection
count knob).
"""
from __future__ import annotations

import io
from typing import Any

from ..dataset import crc64_buffer
from .base import DoneSubscriber, Job, ObjectClock, RunnerOutput, TimedRegion, load_sources

_GBPS_PER_CONNECTION = 0.4


def version() -> str:
    import awscrt
    import s3transfer

    return f"s3transfer {s3transfer.__version__} (crt), awscrt {awscrt.__version__}"


def available() -> str | None:
    try:
        import s3transfer.crt  # noqa: F401
    except ImportError as exc:
        return f"s3transfer.crt not importable: {exc}"
    return None


def make_manager(job: Job) -> Any:
    import botocore.config
    import botocore.session
    from awscrt.auth import AwsCredentialsProvider
    from s3transfer.crt import BotocoreCRTRequestSerializer, CRTTransferManager, create_s3_crt_client

    ep = job.endpoint
    session = botocore.session.get_session()
    client_kwargs: dict[str, Any] = {
        "region_name": ep.region,
        "endpoint_url": ep.endpoint_url,
        "config": botocore.config.Config(
            s3={"addressing_style": "path" if ep.endpoint_url else "auto"}
        ),
    }
    crt_kwargs: dict[str, Any] = {
        "region": ep.region,
        "use_ssl": ep.is_https,
        "verify": ep.ca_bundle if ep.ca_bundle else None,
    }
    if ep.access_key:
        crt_kwargs["crt_credentials_provider"] = AwsCredentialsProvider.new_static(
            ep.access_key, ep.secret_key or "", ep.session_token
        )
    else:
        crt_kwargs["crt_credentials_provider"] = AwsCredentialsProvider.new_default_chain()
    if job.part_size is not None:
        crt_kwargs["part_size"] = job.part_size
    if job.concurrency is not None:
        gbps = job.concurrency * _GBPS_PER_CONNECTION
        crt_kwargs["target_throughput"] = int(gbps * 1e9 / 8)  # bytes per second
    serializer = BotocoreCRTRequestSerializer(session, client_kwargs)
    return CRTTransferManager(create_s3_crt_client(**crt_kwargs), serializer)


def run(job: Job) -> RunnerOutput:
    manager = make_manager(job)
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
        extra={"client": "s3transfer.crt.CRTTransferManager"},
    )
