"""Set-up and check-up calls against a real S3 API (SeaweedFS or a bucket), done with boto3.

This runs in the harness process, never inside a timed run: it creates the bucket, seeds the
objects download workloads read, and after an upload run lists what was stored (sizes) and
deletes it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import Endpoint

CRC_METADATA = "bench-crc64"


class S3Admin:
    """A boto3 client bound to one :class:`Endpoint` (path-style for custom endpoints)."""

    def __init__(self, endpoint: Endpoint) -> None:
        import boto3
        import botocore.config

        self.endpoint = endpoint
        cfg = botocore.config.Config(
            s3={"addressing_style": "path" if endpoint.endpoint_url else "auto"},
            retries={"max_attempts": 5, "mode": "standard"},
            max_pool_connections=32,
            connect_timeout=10,
            read_timeout=120,
        )
        self.client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint.endpoint_url,
            region_name=endpoint.region,
            aws_access_key_id=endpoint.access_key,
            aws_secret_access_key=endpoint.secret_key,
            aws_session_token=endpoint.session_token,
            verify=endpoint.ca_bundle if endpoint.ca_bundle else True,
            config=cfg,
        )

    def __repr__(self) -> str:
        return f"<S3Admin {self.endpoint!r}>"

    def ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.endpoint.bucket)
            return
        except ClientError:
            pass
        kwargs: dict[str, Any] = {"Bucket": self.endpoint.bucket}
        if self.endpoint.endpoint_url is None and self.endpoint.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.endpoint.region}
        try:
            self.client.create_bucket(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in (
                "BucketAlreadyOwnedByYou",
                "BucketAlreadyExists",
            ):
                raise

    def object_info(self, key: str) -> tuple[int, dict[str, str]] | None:
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.endpoint.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return int(head["ContentLength"]), dict(head.get("Metadata", {}))

    def put_file(self, key: str, path: Path, crc64: int) -> None:
        from boto3.s3.transfer import TransferConfig

        self.client.upload_file(
            str(path),
            self.endpoint.bucket,
            key,
            ExtraArgs={"Metadata": {CRC_METADATA: str(crc64)}},
            Config=TransferConfig(max_concurrency=8, multipart_chunksize=16 << 20),
        )

    def list_sizes(self, prefix: str) -> dict[str, int]:
        sizes: dict[str, int] = {}
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.endpoint.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                sizes[item["Key"]] = int(item["Size"])
        return sizes

    def delete_keys(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            self.client.delete_objects(
                Bucket=self.endpoint.bucket,
                Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
            )


def common_prefix(keys: list[str]) -> str:
    """Longest shared ``/``-terminated prefix of ``keys`` (what to list after an upload run)."""
    if not keys:
        return ""
    first, last = min(keys), max(keys)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    shared = first[:n]
    return shared[: shared.rfind("/") + 1] if "/" in shared else ""
