"""A distributed.LocalCluster for the Dask tests: 2 worker processes x 2 threads, loopback only."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def local_cluster_client(*, silence_logs: int) -> Iterator[Any]:
    """A client of a fresh 2-worker LocalCluster on 127.0.0.1, both closed at the end."""
    import distributed

    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True, host="127.0.0.1",
                                       dashboard_address="127.0.0.1:0", silence_logs=silence_logs)
    client = distributed.Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
