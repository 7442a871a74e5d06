"""pytest fixtures (loaded by tests/conftest.py via ``pytest_plugins``).

* ``moto_cluster`` (session): :class:`MotoCluster` on 127.0.0.2-5, one port, host s3.test.
* ``bucket`` (function): a fresh bucket name on that cluster.
* ``fault_cluster`` (function): a :class:`FaultCluster`, one FaultProxy per moto listener on
  127.0.0.12-15; rules are cleared and proxies stopped at teardown, which fails if a proxy
  hit an internal error.
"""
from __future__ import annotations

from typing import Iterator

import pytest

from .faultcluster import FaultCluster
from .motocluster import MotoCluster


@pytest.fixture(scope="session")
def moto_cluster() -> Iterator[MotoCluster]:
    cluster = MotoCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def bucket(moto_cluster: MotoCluster) -> str:
    return moto_cluster.make_bucket()


@pytest.fixture
def fault_cluster(moto_cluster: MotoCluster) -> Iterator[FaultCluster]:
    cluster = FaultCluster(moto_cluster).start()
    try:
        yield cluster
        errors = {ip: p.internal_errors for ip, p in cluster.proxies.items() if p.internal_errors}
    finally:
        cluster.stop()
    # A proxy bug must not pass as a client bug (or as a pass).
    assert not errors, f"fault proxy internal errors: {errors!r}"
