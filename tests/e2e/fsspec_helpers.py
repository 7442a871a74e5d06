"""Helpers for the fsspec tests: a filesystem on the loopback moto cluster."""
from __future__ import annotations

from typing import Any

from e2e_helpers import SMALL


def storage_options(cluster: Any, **extra: Any) -> dict[str, Any]:
    """What a pipeline passes as ``storage_options`` to reach the test cluster."""
    return {"endpoint_url": cluster.endpoint_url, "resolve": cluster.resolver_map, "config": SMALL, **extra}


def make_fs(cluster: Any, **extra: Any) -> Any:
    from s3fast.fsspec import S3FastFileSystem

    return S3FastFileSystem(skip_instance_cache=True, **storage_options(cluster, **extra))
