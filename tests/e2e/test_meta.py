"""The transfer floor's seams: object metadata queries and the transfer context."""
from __future__ import annotations

import ast
from pathlib import Path

import s3fast
from s3fast._results import Checksum, ObjectHead
from s3fast.transfer._meta import object_query

TRANSFER = Path(s3fast.__file__).parent / "transfer"


def test_object_query_always_encodes_the_version() -> None:
    assert object_query() == ""
    assert object_query("3/L4kqtJl+cpXbu=") == "versionId=3%2FL4kqtJl%2BcpXbu%3D"
    assert object_query("v 1&x", 2) == "partNumber=2&versionId=v%201%26x"
    assert object_query(None, 1) == "partNumber=1"


def test_head_from_headers() -> None:
    headers = {"etag": '"e-2"', "x-amz-checksum-crc32c": "AAAAAA==-2", "x-amz-meta-a": "1",
               "content-type": "text/plain"}
    head = ObjectHead.from_headers("b", "k", 10, headers, version_id="v1")
    assert head.checksum == Checksum("crc32c", "AAAAAA==-2", "COMPOSITE")
    assert head.metadata == {"a": "1"} and head.version_id == "v1" and head.content_type == "text/plain"
    assert ObjectHead.from_headers("b", "k", 10, headers, checksums=False).checksum is None


def test_transfer_never_imports_the_client() -> None:
    """The client builds a TransferContext; nothing under transfer/ reaches back for it."""
    for path in TRANSFER.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.module != "_client" and not (node.module or "").endswith("._client"), path
            if isinstance(node, ast.Attribute):
                assert node.attr != "_transport", f"{path}:{node.lineno} reads a client's private transport"


def test_context_repr_shows_state(moto_cluster) -> None:
    from e2e_helpers import client_for

    c = client_for(moto_cluster, s3fast.TransferConfig(max_concurrency=3))
    try:
        assert repr(c._ctx).startswith("<TransferContext concurrency=3 in_flight=0 memory=0/")
        assert c.task_window() == 8
    finally:
        s3fast.run(c.aclose())
