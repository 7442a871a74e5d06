"""awscrt ``S3Client`` (the AWS Common Runtime's C S3 engine) driven directly from Python.

Default mode: CRT's shipped defaults (8 MiB parts, 10 Gbps throughput target unless it knows
the instance). Matched mode: ``part_size`` and ``max_active_connections_override`` set to the
harness's values. Lab notes: plain HTTP needs ``tls_mode=DISABLED``; a private CA needs
``override_default_trust_store_from_path``. Every object is one meta-request; all are
submitted at once and CRT schedules them. Per-object latency and time to first body byte
are recorded from the callbacks (CRT's Python API exposes no per-part metrics).
"""
from __future__ import annotations

import io
from typing import Any

from ..dataset import crc64_buffer
from .base import Job, ObjectClock, RunnerOutput, TimedRegion, load_sources


def version() -> str:
    import awscrt

    return str(awscrt.__version__)


def available() -> str | None:
    try:
        import awscrt.s3  # noqa: F401
    except ImportError as exc:
        return f"awscrt not importable: {exc}"
    return None


def make_client(job: Job) -> Any:
    from awscrt.auth import AwsCredentialsProvider
    from awscrt.io import ClientBootstrap, ClientTlsContext, DefaultHostResolver, EventLoopGroup
    from awscrt.io import TlsContextOptions
    from awscrt.s3 import S3Client, S3RequestTlsMode, create_default_s3_signing_config

    ep = job.endpoint
    elg = EventLoopGroup()
    bootstrap = ClientBootstrap(elg, DefaultHostResolver(elg))
    if ep.access_key:
        creds = AwsCredentialsProvider.new_static(ep.access_key, ep.secret_key or "", ep.session_token)
    else:
        creds = AwsCredentialsProvider.new_default_chain(bootstrap)
    kwargs: dict[str, Any] = {}
    if ep.is_https:
        kwargs["tls_mode"] = S3RequestTlsMode.ENABLED
        if ep.ca_bundle:
            opts = TlsContextOptions()
            opts.override_default_trust_store_from_path(None, ep.ca_bundle)
            kwargs["tls_connection_options"] = ClientTlsContext(opts).new_connection_options()
    else:
        kwargs["tls_mode"] = S3RequestTlsMode.DISABLED
    if job.part_size is not None:
        kwargs["part_size"] = job.part_size
        kwargs["multipart_upload_threshold"] = job.part_size
    if job.concurrency is not None:
        kwargs["max_active_connections_override"] = job.concurrency
    return S3Client(
        bootstrap=bootstrap,
        region=ep.region,
        signing_config=create_default_s3_signing_config(region=ep.region, credential_provider=creds),
        **kwargs,
    )


def run(job: Job) -> RunnerOutput:
    from awscrt.http import HttpHeaders, HttpRequest
    from awscrt.s3 import S3RequestType

    client = make_client(job)
    ep = job.endpoint
    sources = load_sources(job) if job.direction == "upload" and job.storage == "memory" else None
    buffers = (
        [bytearray(job.object_size) for _ in job.keys]
        if job.direction == "download" and job.storage == "memory"
        else None
    )
    clock = ObjectClock()
    requests: list[Any] = []

    def submit(i: int) -> Any:
        headers = HttpHeaders([("Host", ep.host_header())])
        kwargs: dict[str, Any] = {}
        if job.direction == "upload":
            headers.add("Content-Length", str(job.object_size))
            headers.add("Content-Type", "application/octet-stream")
            body = None
            if sources is not None:
                body = io.BytesIO(sources[i])
            else:
                kwargs["send_filepath"] = job.paths[i]
            req = HttpRequest("PUT", ep.object_path(job.keys[i]), headers, body)
            kind = S3RequestType.PUT_OBJECT
        else:
            req = HttpRequest("GET", ep.object_path(job.keys[i]), headers)
            kind = S3RequestType.GET_OBJECT
            if buffers is not None:
                buf = buffers[i]

                def on_body(chunk: bytes, offset: int, **_kw: Any) -> None:
                    clock.byte(i)
                    buf[offset : offset + len(chunk)] = chunk

                kwargs["on_body"] = on_body
            else:
                kwargs["recv_filepath"] = job.paths[i]
                kwargs["on_headers"] = lambda **_kw: clock.byte(i)

        def on_done(**_kw: Any) -> None:
            clock.finish(i)

        clock.submit(i)
        return client.make_request(type=kind, request=req, on_done=on_done, **kwargs)

    with TimedRegion() as region:
        # Keep every S3Request referenced until it finishes: a collected request can leave
        # a truncated file behind (aws-crt-python#506).
        requests = [submit(i) for i in range(len(job.keys))]
        for r in requests:
            r.finished_future.result(job.timeout_s)
    checksums = [crc64_buffer(b) for b in buffers] if buffers is not None else None
    return RunnerOutput(
        seconds=region.seconds,
        bytes=job.total_bytes,
        cpu_s_timed=region.cpu_s,
        checksums=checksums,
        latency_ms=clock.latency_ms(),
        ttfb_ms=clock.ttfb_ms() if job.direction == "download" else None,
        extra={"client": "awscrt.s3.S3Client"},
    )
