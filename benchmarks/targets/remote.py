"""A real bucket (EC2 mode), or any S3-compatible endpoint given with ``--endpoint-url``.

Nothing is started. Download objects are seeded once and reused by later benchmark runs:
an object already there with the right size and the dataset's CRC64 in its metadata is kept.
Upload runs write under ``up/<run id>/``; what they stored is listed, checked and deleted.
Credentials come from the environment (``AWS_ACCESS_KEY_ID``...), or, only with
``allow_instance_credentials``, from the SDKs' default chain (which may ask IMDS on EC2).
"""
from __future__ import annotations

import os
from typing import Any, Mapping

from ..dataset import Dataset
from .base import Endpoint, UploadCheck
from .s3admin import CRC_METADATA, S3Admin, common_prefix


class RemoteTarget:
    def __init__(
        self,
        *,
        bucket: str,
        region: str,
        endpoint_url: str | None = None,
        ca_bundle: str | None = None,
        name: str = "ec2",
        env: Mapping[str, str] | None = None,
        allow_instance_credentials: bool = False,
    ) -> None:
        self.name = name
        self.bucket = bucket
        self.region = region
        self.endpoint_url = endpoint_url
        self.ca_bundle = ca_bundle
        self._env = os.environ if env is None else env
        self.allow_instance_credentials = allow_instance_credentials
        self._endpoint: Endpoint | None = None
        self._admin: S3Admin | None = None
        self.seeded: dict[str, str] = {}  # dataset id -> "kept" | "uploaded"

    def __repr__(self) -> str:
        where = self.endpoint_url or f"aws:{self.region}"
        return f"<RemoteTarget {self.name} {where} bucket={self.bucket} seeded={len(self.seeded)}>"

    @property
    def admin(self) -> S3Admin:
        if self._admin is None:
            raise RuntimeError("remote target is not started")
        return self._admin

    def start(self) -> Endpoint:
        if self._endpoint is not None:
            return self._endpoint
        access_key = self._env.get("AWS_ACCESS_KEY_ID") or None
        secret_key = self._env.get("AWS_SECRET_ACCESS_KEY") or None
        if not (access_key and secret_key) and not self.allow_instance_credentials:
            raise RuntimeError(
                "EC2 mode needs AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the environment, "
                "or --allow-instance-credentials to let the SDKs use the instance role"
            )
        self._endpoint = Endpoint(
            target=self.name,
            endpoint_url=self.endpoint_url,
            region=self.region,
            bucket=self.bucket,
            ca_bundle=self.ca_bundle,
            access_key=access_key if access_key and secret_key else None,
            secret_key=secret_key if access_key and secret_key else None,
            session_token=(self._env.get("AWS_SESSION_TOKEN") or None) if access_key else None,
            addressing="path" if self.endpoint_url else "virtual",
        )
        self._admin = S3Admin(self._endpoint)
        self._admin.ensure_bucket()
        return self._endpoint

    def stop(self) -> None:
        self._endpoint = None
        self._admin = None

    def prepare_download(self, dataset: Dataset) -> bool:
        self.start()
        if dataset.dataset_id in self.seeded:
            return False
        uploaded = False
        for i, path in enumerate(dataset.paths()):
            info = self.admin.object_info(dataset.key(i))
            want = str(dataset.checksums[i])
            if info is not None and info[0] == dataset.object_size and info[1].get(CRC_METADATA) == want:
                continue
            self.admin.put_file(dataset.key(i), path, dataset.checksums[i])
            uploaded = True
        self.seeded[dataset.dataset_id] = "uploaded" if uploaded else "kept"
        return uploaded

    def check_upload(self, keys: list[str], size: int) -> UploadCheck:
        stored = self.admin.list_sizes(common_prefix(keys))
        missing = tuple(k for k in keys if k not in stored)
        wrong = [k for k in keys if k in stored and stored[k] != size]
        self.admin.delete_keys(list(stored))
        if missing or wrong:
            return UploadCheck(False, f"{len(missing)} missing, {len(wrong)} of wrong size", missing)
        return UploadCheck(True, f"{len(keys)} objects of {size} B listed")

    def facts(self) -> dict[str, Any]:
        return {
            "server": "Amazon S3" if self.endpoint_url is None else f"S3-compatible {self.endpoint_url}",
            "region": self.region,
            "bucket": self.bucket,
            "tls": self.endpoint_url is None or self.endpoint_url.startswith("https://"),
        }
