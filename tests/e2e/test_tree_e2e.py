"""Tree operations end to end against moto (directly, or through the fault proxy to count
and fail requests): copy_tree, sync, delete_tree, server-side copy, hostile keys."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

import s3fast
from e2e_helpers import SMALL, client_for, run
from support.faultrules import Rule, respond
from s3fast.tree import TreeResult


def make_tree(root: Path, n: int = 200) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for i in range(n):
        rel = f"d{i % 5}/s{i % 3}/f{i}.{'txt' if i % 2 else 'bin'}"
        if i == 3:
            rel = "d3/s0/f3 sp+a%20ce.txt"  # listed URL-encoded: must come back as itself
        data = os.urandom(i % 97) + f"{i}".encode()
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        files[rel] = data
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


async def collect(it: Any) -> list[TreeResult]:
    return [r async for r in it]


def mark(cluster: Any) -> set[tuple[str, int, int]]:
    return {(r.proxy, r.conn_id, r.seq) for r in cluster.requests}


def since(cluster: Any, before: set[tuple[str, int, int]]) -> list[Any]:
    """Requests recorded after ``mark`` (records are grouped by proxy, not in time order)."""
    return [r for r in cluster.requests if (r.proxy, r.conn_id, r.seq) not in before]


def transfers(records: list[Any], *methods: str) -> list[Any]:
    """Requests that move object data (not listings: a GET with ?list-type)."""
    return [r for r in records if r.method in methods and "list-type" not in r.target]


def test_nested_tree_up_and_down_intact(moto_cluster: Any, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    files = make_tree(src, 200)

    async def go() -> tuple[list[TreeResult], list[TreeResult]]:
        async with client_for(moto_cluster) as c:
            up = await collect(c.copy_tree(str(src), f"s3://{bucket}/run"))
            down = await collect(c.copy_tree(f"s3://{bucket}/run", str(tmp_path / "dst")))
            return up, down

    up, down = run(go())
    assert len(up) == len(down) == 200
    assert [r for r in up + down if r.status != "done"] == []
    assert {r.operation for r in up} == {"upload"} and {r.operation for r in down} == {"download"}
    assert read_tree(tmp_path / "dst") == files
    assert sum(r.bytes for r in down) == sum(len(v) for v in files.values())


def test_wildcards_and_filters_pick_keys(moto_cluster: Any, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    files = make_tree(src, 60)

    async def go() -> tuple[set[str], set[str], set[str]]:
        async with client_for(moto_cluster) as c:
            await collect(c.copy_tree(str(src), f"s3://{bucket}/p/"))
            star = {r.destination for r in await collect(
                c.copy_tree(f"s3://{bucket}/p/d1/*/*.txt", str(tmp_path / "w"), dryrun=True))}
            filt = {r.source for r in await collect(c.copy_tree(
                f"s3://{bucket}/p", str(tmp_path / "f"), dryrun=True,
                filters=[("exclude", "*"), ("include", "d2/*"), ("exclude", "*.bin")]))}
            local = {r.destination for r in await collect(
                c.copy_tree(str(src / "d3") + "/**.bin", f"s3://{bucket}/l/", dryrun=True))}
            return star, filt, local

    star, filt, local = run(go())
    assert star == {str(tmp_path / "w" / rel[3:]) for rel in files if rel.startswith("d1/") and rel.endswith(".txt")}
    assert filt == {f"s3://{bucket}/p/{rel}" for rel in files if rel.startswith("d2/") and rel.endswith(".txt")}
    assert local == {f"s3://{bucket}/l/{rel[3:]}" for rel in files if rel.startswith("d3/") and rel.endswith(".bin")}
    assert not (tmp_path / "w").exists()  # dryrun wrote nothing


def test_server_side_copy_of_multipart_object_keeps_bytes_checksum_metadata(moto_cluster: Any, bucket: str) -> None:
    data = os.urandom(12 * s3fast.MiB + 1234)
    other = moto_cluster.make_bucket()
    b3 = moto_cluster.boto3_client()
    # UploadPartCopy carries no tags: the copy sets them on its upload (CopyObject keeps them)
    tags = [{"Key": "team", "Value": "x y=1+z:@/"}, {"Key": "k.2", "Value": "a_b-c"}]

    async def go() -> tuple[Any, Any, Any, bytes]:
        async with client_for(moto_cluster) as c:
            await c.upload(memoryview(data), f"s3://{bucket}/big", metadata={"team": "x"},
                           content_type="application/x-test")
            b3.put_object_tagging(Bucket=bucket, Key="big", Tagging={"TagSet": tags})
            src_head = await c.head(f"s3://{bucket}/big")
            r = await c.copy(f"s3://{bucket}/big", f"s3://{other}/copy")
            dst_head = await c.head(f"s3://{other}/copy")
            return r, src_head, dst_head, await c.get_bytes(f"s3://{other}/copy")

    r, src_head, dst_head, got = run(go())
    assert got == data
    assert r.multipart and r.parts == 3 and r.operation == "copy"
    assert src_head.checksum is not None and src_head.checksum.type == "FULL_OBJECT"
    assert dst_head.checksum is not None and dst_head.checksum == src_head.checksum
    assert r.checksum_verified
    assert dst_head.metadata == {"team": "x"} and dst_head.content_type == "application/x-test"
    assert b3.get_object_tagging(Bucket=other, Key="copy")["TagSet"] == tags
    assert moto_cluster.list_multipart_uploads(other) == []


def _copy_tagged_object_refused(fault_cluster: Any, refusal: Rule) -> None:
    """Copy a tagged 11 MiB object (a multipart copy) with ``refusal`` in the proxy: the
    object is copied, untagged, and ``refusal`` fired once."""
    bucket = fault_cluster.moto.make_bucket()
    b3 = fault_cluster.moto.boto3_client()
    data = os.urandom(11 * s3fast.MiB)
    b3.put_object(Bucket=bucket, Key="big", Body=data, Tagging="team=x")
    fault_cluster.add_rule(refusal)

    async def go() -> Any:
        async with client_for(fault_cluster) as c:
            return await c.copy(f"s3://{bucket}/big", f"s3://{bucket}/copy")

    try:
        r = run(go())
    finally:
        fault_cluster.clear_rules()
    assert refusal.fired == 1 and r.multipart
    assert b3.get_object(Bucket=bucket, Key="copy")["Body"].read() == data
    assert b3.get_object_tagging(Bucket=bucket, Key="copy")["TagSet"] == []


def test_a_multipart_copy_without_leave_to_read_tags_copies_the_object_untagged(fault_cluster: Any) -> None:
    """No s3:GetObjectTagging (403 to GetObjectTagging): the object is still copied, as
    CopyObject would copy it, without the tags it may not read."""
    _copy_tagged_object_refused(fault_cluster, Rule(respond(403, "AccessDenied", "no tags for you"), method="GET",
                                                    path=r"/big\?tagging"))


def test_a_multipart_copy_without_leave_to_tag_copies_the_object_untagged(fault_cluster: Any) -> None:
    """No s3:PutObjectTagging at the destination (403 to the CreateMultipartUpload carrying
    the tags, the first one): the object is copied without them, not refused."""
    _copy_tagged_object_refused(fault_cluster, Rule(respond(403, "AccessDenied", "no tagging for you"),
                                                    method="POST", path=r"/copy\?uploads", nth=1))


def test_small_server_side_copy_keeps_checksum(moto_cluster: Any, bucket: str) -> None:
    async def go() -> tuple[Any, Any]:
        async with client_for(moto_cluster) as c:
            await c.put_bytes(f"s3://{bucket}/s", b"hello" * 100, metadata={"a": "1"})
            r = await c.copy(f"s3://{bucket}/s", f"s3://{bucket}/t")
            return r, await c.head(f"s3://{bucket}/t")

    r, head = run(go())
    assert not r.multipart and r.checksum_verified and head.metadata == {"a": "1"}
    assert r.checksum is not None and head.checksum is not None and head.checksum.value == r.checksum.value


def test_sync_twice_moves_nothing_the_second_time_and_delete(fault_cluster: Any, tmp_path: Path) -> None:
    bucket = fault_cluster.moto.make_bucket()
    src = tmp_path / "src"
    make_tree(src, 80)
    url = f"s3://{bucket}/s/"

    async def go() -> tuple[list[TreeResult], list[TreeResult], list[TreeResult]]:
        async with client_for(fault_cluster) as c:
            first = await collect(c.sync(str(src), url))
            n = mark(fault_cluster)
            second = await collect(c.sync(str(src), url))
            assert transfers(since(fault_cluster, n), "PUT", "GET", "POST") == []
            (src / "d0" / "s0" / "f0.bin").unlink()
            (src / "d1" / "s1" / "f1.txt").write_bytes(b"changed, longer than before")
            third = await collect(c.sync(str(src), url, delete=True))
            return first, second, third

    first, second, third = run(go())
    assert [r.status for r in first].count("done") == 80
    assert all(r.status == "skipped" for r in second) and len(second) == 80
    done = {(r.operation, r.destination or r.source) for r in third if r.status == "done"}
    assert done == {("upload", f"{url}d1/s1/f1.txt"), ("delete", f"{url}d0/s0/f0.bin")}


def test_sync_checksum_of_touched_tree_sends_no_get_or_put(fault_cluster: Any, tmp_path: Path) -> None:
    bucket = fault_cluster.moto.make_bucket()
    src = tmp_path / "src"
    make_tree(src, 40)
    url = f"s3://{bucket}/c/"
    dst = tmp_path / "dst"

    async def go() -> tuple[list[TreeResult], list[TreeResult], list[TreeResult]]:
        async with client_for(fault_cluster) as c:
            await collect(c.sync(str(src), url))
            await collect(c.sync(url, str(dst)))
            for p in list(src.rglob("*")) + list(dst.rglob("*")):
                if p.is_file():
                    os.utime(p, (4e9, 4e9))  # newer than anything S3 holds
            # One file really changed, same size: only the checksum can tell.
            changed = src / "d2" / "s2" / "f2.bin"
            changed.write_bytes(bytes(b ^ 1 for b in changed.read_bytes()))
            os.utime(changed, (4e9, 4e9))
            n = mark(fault_cluster)
            up = await collect(c.sync(str(src), url, compare="checksum"))
            down = await collect(c.sync(url, str(dst), compare="checksum"))
            after = since(fault_cluster, n)
            moved = transfers(after, "PUT", "GET")
            assert [r.target for r in moved if r.method == "PUT"] == [f"/{bucket}/c/d2/s2/f2.bin"]
            assert [r.target for r in moved if r.method == "GET"] == [f"/{bucket}/c/d2/s2/f2.bin"]
            # Unchanged files match their single-part ETag (MD5): no HEAD; the changed one is
            # HEADed once each way for its stored CRC, which decides.
            heads = [r.target for r in after if r.method == "HEAD"]
            assert heads == [f"/{bucket}/c/d2/s2/f2.bin"] * 2, heads
            return up, down, await collect(c.sync(str(src), url, compare="size-mtime", dryrun=True))

    up, down, mtime = run(go())
    assert [r.reason for r in up if r.status == "done"] == ["checksum differs"]
    assert [r.reason for r in down if r.status == "done"] == ["checksum differs"]
    assert len([r for r in mtime if r.status == "dryrun"]) == 40  # mtime alone would move everything


def test_sync_checksum_of_large_files_asks_the_stored_crc_and_falls_back_to_md5(fault_cluster: Any,
                                                                               tmp_path: Path) -> None:
    """Above 256 KiB the stored CRC decides (one HEAD, a fast hash) instead of an MD5 of the
    whole file; an object stored without a CRC is still proven equal by its MD5 ETag, not
    sent again. Small files keep the MD5 shortcut (no HEAD)."""
    bucket = fault_cluster.moto.make_bucket()
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.txt", "b.txt"):
        (src / name).write_bytes(os.urandom(1000))
    for name in ("with_crc.bin", "without_crc.bin"):
        (src / name).write_bytes(os.urandom(400 * 1024))
    url = f"s3://{bucket}/l/"

    async def go() -> list[Any]:
        async with client_for(fault_cluster) as c:
            await collect(c.sync(str(src), url))
        async with client_for(fault_cluster, SMALL.replace(checksum="none")) as plain:
            await plain.upload(str(src / "without_crc.bin"), url + "without_crc.bin")
        for p in src.iterdir():
            os.utime(p, (4e9, 4e9))  # newer than S3's copies: only the checksum can tell
        async with client_for(fault_cluster) as c:
            n = mark(fault_cluster)
            results = await collect(c.sync(str(src), url, compare="checksum"))
            after = since(fault_cluster, n)
        assert transfers(after, "PUT", "GET") == [], [r.target for r in transfers(after, "PUT", "GET")]
        heads = sorted(r.target for r in after if r.method == "HEAD")
        assert heads == [f"/{bucket}/l/with_crc.bin", f"/{bucket}/l/without_crc.bin"], heads
        return results

    results = run(go())
    assert len(results) == 4 and all(r.status == "skipped" for r in results), results


def test_failed_keys_are_named_and_the_rest_go_on(fault_cluster: Any, tmp_path: Path) -> None:
    bucket = fault_cluster.moto.make_bucket()
    src = tmp_path / "src"
    make_tree(src, 30)
    fault_cluster.add_rule(Rule(respond(403, "AccessDenied", "nope"), method="PUT", path=r"/f(7|13)\.txt"))

    async def go() -> list[TreeResult]:
        async with client_for(fault_cluster) as c:
            return await collect(c.copy_tree(str(src), f"s3://{bucket}/x"))

    results = run(go())
    failed = sorted(r.destination.rsplit("/", 1)[-1] for r in results if r.failed)
    assert failed == ["f13.txt", "f7.txt"]
    assert all("AccessDenied" in (r.error or "") or "denied" in (r.error or "").lower()
               for r in results if r.failed)
    assert len([r for r in results if r.status == "done"]) == 28


def test_hostile_keys_never_escape_the_destination(moto_cluster: Any, bucket: str, tmp_path: Path) -> None:
    b3 = moto_cluster.boto3_client()
    hostile = ["h/../../escape1", "h/a/../../../escape2", "h/..", "h/x\\..\\..\\escape3", "h//etc/x",
               "h/n\x00ul", "h/sp ace+plus/.."]
    for key in hostile + ["h/ok/file", "h/a", "h/a/b"]:
        b3.put_object(Bucket=bucket, Key=key, Body=b"x")
    dst = tmp_path / "deep" / "dst"
    dst.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (dst / "link").symlink_to(outside)
    b3.put_object(Bucket=bucket, Key="h/link/pwned", Body=b"x")

    async def go() -> list[TreeResult]:
        async with client_for(moto_cluster) as c:
            return await collect(c.copy_tree(f"s3://{bucket}/h/", str(dst)))

    results = run(go())
    before = {p for p in tmp_path.rglob("*")}
    assert all(str(p).startswith(str(dst)) or p in (tmp_path / "deep", outside) for p in before)
    assert list(outside.iterdir()) == []
    assert (dst / "ok" / "file").read_bytes() == b"x"
    unsafe = [r for r in results if r.reason.startswith("unsafe key")]
    assert len(unsafe) == len(hostile) and all(r.status == "skipped" for r in unsafe)
    # "a" and "a/b": one of them cannot exist beside the other; reported, not a crash.
    ab = [r for r in results if r.source in (f"s3://{bucket}/h/a", f"s3://{bucket}/h/a/b")]
    assert len(ab) == 2 and sorted(r.status for r in ab) == ["done", "failed"]
    link = [r for r in results if r.source.endswith("/link/pwned")]
    assert link[0].status == "failed" and "outside" in (link[0].error or "")


def test_delete_tree_batches_and_no_clobber(fault_cluster: Any, tmp_path: Path) -> None:
    bucket = fault_cluster.moto.make_bucket()
    src = tmp_path / "src"
    make_tree(src, 25)

    async def go() -> tuple[list[TreeResult], list[TreeResult], list[Any]]:
        async with client_for(fault_cluster) as c:
            await collect(c.copy_tree(str(src), f"s3://{bucket}/k"))
            n = mark(fault_cluster)
            again = await collect(c.copy_tree(str(src), f"s3://{bucket}/k", no_clobber=True))
            # S3 refuses each overwrite itself (If-None-Match: *): one PUT answered 412, no HEAD.
            assert sorted({(r.method, r.status) for r in since(fault_cluster, n)}) == [("PUT", 412)]
            n = mark(fault_cluster)
            gone = await collect(c.delete_tree(f"s3://{bucket}/k/", filters=[("exclude", "d0/*")]))
            left = [o.key async for o in c.list(f"s3://{bucket}/k/")]
            return again, gone, [since(fault_cluster, n), left]

    again, gone, (reqs, left) = run(go())
    assert all(r.status == "skipped" and r.reason == "exists" for r in again)
    assert len(gone) == 20 and all(r.status == "done" for r in gone)
    assert [r.method for r in reqs if "delete" in r.target] == ["POST"], [(r.method, r.target) for r in reqs]
    assert sorted(left) == sorted(f"k/{rel}" for rel in read_tree(src) if rel.startswith("d0/"))


def test_lister_error_is_raised(moto_cluster: Any) -> None:
    async def go() -> None:
        async with client_for(moto_cluster) as c:
            await collect(c.copy_tree("s3://no-such-bucket-h8/x/", "/tmp/never-h8"))

    with pytest.raises(s3fast.S3Error):
        run(go())
    assert not os.path.exists("/tmp/never-h8")


pytestmark = pytest.mark.timeout(120)
_ = SMALL


def test_requests_counted_by_object_stay_within_the_memory_limit(moto_cluster: Any, bucket: str,
                                                                 tmp_path: Path) -> None:
    """``expert.request_memory``: a tree's requests are counted at what a small object holds, so
    more of them run than ``memory_limit // part_size``; the bytes held still never pass the
    limit (small uploads pay for their bytes before they start, and wait for room), and
    multipart objects in the same tree still go through."""
    src = tmp_path / "src"
    files: dict[str, bytes] = {}
    for i in range(48):
        files[f"s/{i % 4}/f{i}"] = os.urandom(300 * 1024 + i)
    for i in range(2):
        files[f"big/b{i}"] = os.urandom(11 * 1024 * 1024 + i)  # three parts of 5 MiB
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    limit = 2 * SMALL.part_size
    config = dataclasses.replace(SMALL, memory_limit=limit, max_concurrency=64,
                                 expert=s3fast.DataPathConfig(request_memory=64 * 1024))
    peak = 0

    async def go() -> tuple[int, list[TreeResult], list[TreeResult]]:
        async with client_for(moto_cluster, config) as c:
            def seen(_n: int) -> None:
                nonlocal peak
                peak = max(peak, c.memory.held)
            up = await collect(c.copy_tree(str(src), f"s3://{bucket}/mem", on_progress=seen))
            down = await collect(c.copy_tree(f"s3://{bucket}/mem", str(tmp_path / "dst"), on_progress=seen))
            return int(c.limiter.limit), up, down

    allowed, up, down = run(go())
    assert allowed == 64 > limit // SMALL.part_size  # the cap counts 64 KiB requests, not 5 MiB parts
    assert [r for r in up + down if r.failed] == []
    assert read_tree(tmp_path / "dst") == files
    assert 0 < peak <= limit
