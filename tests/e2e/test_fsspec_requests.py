"""What the fsspec filesystem sends, counted at the fault proxy: a copy is server-side (no
data GET or PUT), a recursive rm is DeleteObjects of up to 1,000 keys each."""
from __future__ import annotations

import os
from collections import Counter
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
        # No object bytes through the client: no GET of a source (but its tags, which the
        # multipart copy restates), no PUT carrying a body.
        assert [r.target for r in sent if r.method == "GET" and "/src/" in r.target] == [f"/{bucket}/src/big?tagging"]
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


def test_rm_in_a_missing_bucket_is_file_not_found(fault_cluster: Any) -> None:
    """As for every other path that does not exist: FileNotFoundError, not an I/O error."""
    fs = make_fs(fault_cluster)
    try:
        with pytest.raises(FileNotFoundError, match="no such bucket"):
            fs.rm("s3fast-no-such-bucket/key")
    finally:
        fs.close()


def test_coalesce_merges_near_ranges_per_object_within_bounds() -> None:
    from s3fast.fsspec._coalesce import coalesce

    groups, others = coalesce([("a", 100, 200), ("b", 0, 10), ("a", 0, 50), ("a", 5000, 5100), ("a", -10, None),
                               ("a", 150, 160), ("b", 30, 20), ("a", 250, 300)], gap=100, max_size=1000)
    assert others == [4, 6]  # a suffix range and an inverted one are read alone
    assert [(g.path, g.start, g.end, [m[0] for m in g.members]) for g in groups] == [
        ("a", 0, 300, [2, 0, 5, 7]), ("a", 5000, 5100, [3]), ("b", 0, 10, [1])]
    groups, _ = coalesce([("a", i * 100, i * 100 + 100) for i in range(30)], gap=0, max_size=1000)
    assert [(g.start, g.end) for g in groups] == [(0, 1000), (1000, 2000), (2000, 3000)]  # capped at max_size


def test_cat_ranges_reads_near_ranges_of_an_object_as_one_get(fault_cluster: Any) -> None:
    import random

    bucket = fault_cluster.moto.make_bucket()
    fs = make_fs(fault_cluster)
    a, b = os.urandom(6 * MiB), os.urandom(4 * MiB)
    rnd = random.Random(3)
    try:
        fs.pipe({f"{bucket}/a": a, f"{bucket}/b": b})
        ranges = [(f"{bucket}/a", s, s + 16384) for s in (rnd.randrange(0, 6 * MiB - 16384) for _ in range(300))]
        ranges += [(f"{bucket}/b", 0, 100), (f"{bucket}/b", 3 * MiB, 3 * MiB + 100),  # 3 MiB apart: two GETs
                   (f"{bucket}/b", 4 * MiB - 10, 4 * MiB + 50), (f"{bucket}/b", 5 * MiB, 5 * MiB + 1),
                   (f"{bucket}/a", -100, None)]
        n = mark(fault_cluster)
        got = fs.cat_ranges([p for p, _, _ in ranges], [s for _, s, _ in ranges], [e for _, _, e in ranges])
        sent = since(fault_cluster, n)
        want = [(a if p.endswith("/a") else b)[s:e] for p, s, e in ranges]
        assert got == want
        gets = Counter(r.target for r in sent if r.method == "GET")
        assert gets[f"/{bucket}/a"] == 2  # every 16 KiB range in one GET; the suffix range alone
        assert gets[f"/{bucket}/b"] == 2  # 0-100 and 3 MiB..end: one GET each (the last two merge in)
    finally:
        fs.close()


def test_a_sequential_reader_has_its_next_span_fetched_before_it_asks(fault_cluster: Any) -> None:
    """The server sees the GET for the bytes after the first read's window while the reader
    has not asked for them yet (it is blocked here on that GET's record): the read-ahead
    runs in the background (a random reader starts none: the unit tests of the policy)."""
    bucket = fault_cluster.moto.make_bucket()
    fs = make_fs(fault_cluster)
    data = os.urandom(24 * MiB)
    try:
        fs.pipe({f"{bucket}/seq": data})
        n = mark(fault_cluster)

        def object_gets(recs: list[Any]) -> list[Any]:
            return [r for r in recs if (r.proxy, r.conn_id, r.seq) not in n and r.method == "GET"
                    and r.target == f"/{bucket}/seq" and r.status == 206]

        with fs.open(f"{bucket}/seq", "rb") as f:
            assert f.read(MiB) == data[:MiB]  # fetches the first window (4 MiB) now
            got = fault_cluster.wait_for_requests(
                lambda recs: sum(r.bytes_down for r in object_gets(recs)) >= 8 * MiB, timeout=30)
            assert sum(r.bytes_down for r in object_gets(got)) < 9 * MiB  # the window and the span ahead
            assert f.read(5 * MiB) == data[MiB:6 * MiB]
            assert f.read() == data[6 * MiB:]
    finally:
        fs.close()
