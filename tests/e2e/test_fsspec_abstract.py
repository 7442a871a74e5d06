"""fsspec's own abstract copy/get/put suites (``fsspec.tests.abstract``) against
S3FastFileSystem on the loopback moto cluster: correctness judged by tests we did not write."""
from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import Any

import pytest

import fsspec.tests.abstract as abstract

from fsspec_helpers import make_fs


class S3FastFixtures(abstract.AbstractFixtures):  # type: ignore[misc]
    @pytest.fixture
    def fs(self, moto_cluster: Any) -> Iterator[Any]:
        fs = make_fs(moto_cluster)
        yield fs
        fs.close()

    @pytest.fixture
    def fs_join(self) -> Any:
        return posixpath.join

    @pytest.fixture
    def fs_path(self, moto_cluster: Any) -> str:
        return moto_cluster.make_bucket() + "/root"

    @pytest.fixture
    def supports_empty_directories(self) -> bool:
        return False  # S3 has key prefixes, not directories


class TestS3FastCopy(abstract.AbstractCopyTests, S3FastFixtures):  # type: ignore[misc]
    pass


class TestS3FastGet(abstract.AbstractGetTests, S3FastFixtures):  # type: ignore[misc]
    pass


class TestS3FastPut(abstract.AbstractPutTests, S3FastFixtures):  # type: ignore[misc]
    pass


class _NoTests:
    """Stands in for an abstract suite this fsspec does not ship."""


# fsspec ships these two (exclusive create: "xb", pipe_file(mode="create")) since late 2024;
# on an older fsspec the classes have no tests to collect.
class TestS3FastOpen(getattr(abstract, "AbstractOpenTests", _NoTests), S3FastFixtures):  # type: ignore[misc]
    pass


class TestS3FastPipe(getattr(abstract, "AbstractPipeTests", _NoTests), S3FastFixtures):  # type: ignore[misc]
    pass
