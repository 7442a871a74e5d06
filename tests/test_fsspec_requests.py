"""What the fsspec filesystem sends, counted at the fault proxy: a copy is server-side (no
data GET or PUT), a recursive rm is DeleteObjects of up to 1,000 keys each."""
from __future__ import annotations

import os
from typing import Any

import pytest

from fsspec_helpers import make_fs
from s3fast._units import MiB


def mark(cluster: Any) -> set[tuple[str, int, int]]:
    return {(r.proxy, r.conn_id, r.seq) for r in cluster.requests}


def since(cluster: Any, before: set[tuple[str, int, int]]) -> list[Any]:
    return [r for r in cluster.requests if (r.proxy, r.conn_id, r.seq) not in before]


def test_cp_file_is_server_side_small_and_multipart(fault_cluster: Any) -> None:
    bucket = fault_cluster.moto.make_bucket()
    fs = make_fs(fault_cluster)
    big = os.urandom(12 * MiB + 5)
    try:
        fs.pipe({f"{bucket}/src/small": b"hello" * 10, f"{bucket}/src/big": big})
        n = mark(fault_cluster)
        fs.copy(f"{bucket}/src/small", f"{bucket}/dst/small")
        fs.copy(f"{bucket}/src/big", f"{bucket}/dst/big")
        sent = since(fault_cluster, n)
        # No object bytes through the client: no GET of a source, no PUT carrying a body.
        assert [r.target for r in sent if r.method == "GET" and "/src/" in r.target] == []
        puts = [r for r in sent if r.method == "PUT"]
        assert puts and all(r.bytes_up < 64 * 1024 for r in puts), [(r.target, r.bytes_up) for r in puts]
        assert sum(r.bytes_up for r in sent) < 1 * MiB
        assert any("partNumber=" in r.target for r in puts)  # the big one: UploadPartCopy
        assert fs.cat(f"{bucket}/dst/small") == b"hello" * 10
        assert fs.cat(f"{bucket}/dst/big") == big
        assert fault_cluster.moto.list_multipart_uploads(bucket) == []
    finally:
        fs.close()


def test_rm_recursive_is_one_delete_objects_per_thousand_keys(fault_cluster: Any) -> None:
    bucket = fault_cluster.moto.make_bucket()
    keep = fault_cluster.moto.make_bucket()
    fs = make_fs(fault_cluster)
    try:
        fs.pipe({f"{bucket}/d/{i // 100}/k{i}": b"x" for i in range(1234)})
        fs.pipe({f"{bucket}/other": b"y", f"{keep}/d/k0": b"z"})
        n = mark(fault_cluster)
        fs.rm(f"{bucket}/d", recursive=True)
        sent = since(fault_cluster, n)
        posts = [r for r in sent if r.method == "POST"]
        assert len(posts) == 2 and all(r.target.endswith("?delete") for r in posts)
        assert [r for r in sent if r.method == "DELETE"] == []
        assert fs.find(bucket) == [f"{bucket}/other"] and fs.find(keep) == [f"{keep}/d/k0"]
    finally:
        fs.close()


def test_rm_reports_keys_the_server_refused(fault_cluster: Any) -> None:
    from support.faultrules import Rule, respond

    bucket = fault_cluster.moto.make_bucket()
    fs = make_fs(fault_cluster)
    try:
        fs.pipe({f"{bucket}/a": b"1", f"{bucket}/b": b"2"})
        fault_cluster.add_rule(Rule(respond(403, "AccessDenied", "no deleting here"), method="POST"))
        with pytest.raises(OSError, match="2 of 2 objects not deleted.*AccessDenied"):
            fs.rm([f"{bucket}/a", f"{bucket}/b"])
        fault_cluster.clear_rules()
        assert sorted(fs.find(bucket, refresh=True)) == [f"{bucket}/a", f"{bucket}/b"]
    finally:
        fs.close()
