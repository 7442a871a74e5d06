"""S3FastFileSystem against the loopback moto cluster: metadata, ranges, files, errors."""
from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import fsspec
import pytest

from fsspec_helpers import make_fs, storage_options
from s3fast._units import KiB, MiB
from s3fast.fsspec import S3FastFileSystem


@pytest.fixture
def fs(moto_cluster: Any) -> Iterator[Any]:
    fs = make_fs(moto_cluster)
    yield fs
    fs.close()


def test_core_import_pulls_no_dataframe_stack() -> None:
    code = ("import sys, s3fast, s3fast.cli; "
            "bad = [m for m in ('fsspec', 'pandas', 'pyarrow', 'dask') if m in sys.modules]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == ""


def test_protocol_entry_point_and_s3_registration(moto_cluster: Any, bucket: str) -> None:
    assert fsspec.get_filesystem_class("s3fast") is S3FastFileSystem  # the fsspec.specs entry point
    opts = storage_options(moto_cluster)
    with fsspec.open(f"s3fast://{bucket}/hello.txt", "wb", **opts) as f:
        f.write(b"hello")
    assert moto_cluster.boto3_client().get_object(Bucket=bucket, Key="hello.txt")["Body"].read() == b"hello"
    fsspec.register_implementation("s3", S3FastFileSystem, clobber=True)
    try:
        with fsspec.open(f"s3://{bucket}/hello.txt", "rb", **opts) as f:
            assert f.read() == b"hello"
    finally:
        sys.modules["fsspec.registry"]._registry.pop("s3", None)


def test_unknown_storage_option_is_an_error(moto_cluster: Any) -> None:
    with pytest.raises(TypeError, match="endpoint"):
        S3FastFileSystem(skip_instance_cache=True, endpoint="http://127.0.0.1:1")


@pytest.mark.parametrize("bad", [{"addressing_style": "sideways"},
                                 {"endpoint_url": "http://127.0.0.1:9/ with space"}])
def test_bad_option_values_fail_at_construction(bad: dict[str, Any], moto_cluster: Any) -> None:
    from s3fast import S3FastError

    opts = {**storage_options(moto_cluster), **bad}
    with pytest.raises(S3FastError):
        S3FastFileSystem(skip_instance_cache=True, **opts)


def test_the_client_made_to_check_the_options_is_the_one_used(fs: Any, bucket: str) -> None:
    fs.pipe(f"{bucket}/one", b"1")
    assert len(fs._clients._clients) == 1 and fs._clients._spare is None


def test_info_ls_find_exists(fs: Any, bucket: str) -> None:
    fs.pipe({f"{bucket}/a.txt": b"A", f"{bucket}/d/b.txt": b"BB", f"{bucket}/d/e/c.txt": b"CCC"})
    info = fs.info(f"{bucket}/d/b.txt")
    assert (info["type"], info["size"]) == ("file", 2) and info["ETag"]
    assert fs.info(f"{bucket}/d")["type"] == "directory"
    assert fs.isdir(bucket) and fs.isdir(f"{bucket}/d/e") and not fs.isfile(f"{bucket}/d")
    assert fs.ls(bucket, detail=False) == [f"{bucket}/a.txt", f"{bucket}/d"]
    listing = {e["name"]: e for e in fs.ls(f"{bucket}/d", detail=True)}
    assert listing[f"{bucket}/d/e"]["type"] == "directory"
    assert listing[f"{bucket}/d/b.txt"]["size"] == 2
    assert fs.find(bucket) == [f"{bucket}/a.txt", f"{bucket}/d/b.txt", f"{bucket}/d/e/c.txt"]
    assert fs.find(bucket, maxdepth=1) == [f"{bucket}/a.txt"]
    assert fs.find(f"{bucket}/d", withdirs=True) == [f"{bucket}/d", f"{bucket}/d/b.txt", f"{bucket}/d/e",
                                                     f"{bucket}/d/e/c.txt"]
    assert fs.find(f"{bucket}/a.txt") == [f"{bucket}/a.txt"]
    assert fs.exists(f"{bucket}/d/e/c.txt") and not fs.exists(f"{bucket}/nope")
    assert not fs.exists("s3fast-no-such-bucket-h9/x")
    with pytest.raises(FileNotFoundError):
        fs.info(f"{bucket}/nope")
    with pytest.raises(FileNotFoundError):
        fs.ls(f"{bucket}/nope")
    with pytest.raises(FileNotFoundError):
        fs.cat(f"{bucket}/nope")


def test_find_withdirs_includes_the_root_and_prefix_filters(fs: Any, bucket: str) -> None:
    fs.pipe({f"{bucket}/a.txt": b"A", f"{bucket}/d/b.txt": b"B", f"{bucket}/d/e/c.txt": b"C",
             f"{bucket}/dd.txt": b"D", f"{bucket}/d2/x": b"X", f"{bucket}/e/y": b"Y"})
    d = f"{bucket}/d"
    # as fsspec's own find (and so glob "d/**") does, with or without maxdepth
    assert fs.find(d, withdirs=True) == fs.find(d, withdirs=True, maxdepth=9) == [
        d, f"{d}/b.txt", f"{d}/e", f"{d}/e/c.txt"]
    assert fs.glob(f"{d}/**") == [d, f"{d}/b.txt", f"{d}/e", f"{d}/e/c.txt"]
    assert fs.find(bucket, withdirs=True)[0] == bucket
    # prefix: only what lies under "{path}/{prefix}" (s3fs's find)
    assert fs.find(bucket, prefix="d") == [f"{d}/b.txt", f"{d}/e/c.txt", f"{bucket}/d2/x", f"{bucket}/dd.txt"]
    assert fs.find(bucket, prefix="d", maxdepth=1) == [f"{bucket}/dd.txt"]
    assert fs.find(bucket, prefix="d", maxdepth=2, withdirs=True) == [
        d, f"{d}/b.txt", f"{d}/e", f"{bucket}/d2", f"{bucket}/d2/x", f"{bucket}/dd.txt"]
    assert fs.find(d, prefix="e/") == [f"{d}/e/c.txt"]
    assert fs.find(bucket, prefix="zz") == []
    assert fs.find(bucket, prefix="a.txt") == [f"{bucket}/a.txt"]
    # a prefixed listing is partial: it must not stand in for the bucket's listing
    assert fs.ls(bucket, detail=False) == [f"{bucket}/a.txt", d, f"{bucket}/d2", f"{bucket}/dd.txt", f"{bucket}/e"]
    assert fs.exists(f"{bucket}/e/y")


def test_last_modified_is_one_datetime_whether_listed_or_headed(fs: Any, bucket: str) -> None:
    import datetime

    fs.pipe(f"{bucket}/m/t", b"1")
    headed = fs.info(f"{bucket}/m/t")["LastModified"]  # HEAD: an HTTP date
    fs.ls(f"{bucket}/m")
    listed = fs.info(f"{bucket}/m/t")["LastModified"]  # from the listing: ISO 8601
    assert isinstance(headed, datetime.datetime) and headed.tzinfo is not None
    assert headed == listed.replace(microsecond=0)
    assert fs.modified(f"{bucket}/m/t") == listed
    assert abs((datetime.datetime.now(datetime.timezone.utc) - headed).total_seconds()) < 600


def test_listing_cache_is_invalidated_by_writes(fs: Any, bucket: str) -> None:
    fs.pipe(f"{bucket}/d/x", b"1")
    assert fs.ls(f"{bucket}/d", detail=False) == [f"{bucket}/d/x"]
    fs.pipe(f"{bucket}/d/y", b"2")
    assert fs.ls(f"{bucket}/d", detail=False) == [f"{bucket}/d/x", f"{bucket}/d/y"]
    fs.rm(f"{bucket}/d/x")
    assert fs.ls(f"{bucket}/d", detail=False) == [f"{bucket}/d/y"]


def test_refresh_bypasses_the_listings_cache(fs: Any, bucket: str, moto_cluster: Any) -> None:
    fs.pipe(f"{bucket}/r/a", b"1")
    fs.ls(f"{bucket}/r")  # cached: r holds a only
    moto_cluster.boto3_client().put_object(Bucket=bucket, Key="r/b", Body=b"22")  # another writer
    assert not fs.exists(f"{bucket}/r/b")  # the cache answers, as s3fs's does
    assert fs.exists(f"{bucket}/r/b", refresh=True)
    assert fs.info(f"{bucket}/r/b", refresh=True)["size"] == 2
    moto_cluster.boto3_client().put_object(Bucket=bucket, Key="r/a", Body=b"333")
    assert fs.info(f"{bucket}/r/a")["size"] == 1 and fs.info(f"{bucket}/r/a", refresh=True)["size"] == 3


def test_cat_file_ranges(fs: Any, bucket: str) -> None:
    data = bytes(range(256)) * 4
    fs.pipe(f"{bucket}/r", data)
    p = f"{bucket}/r"
    assert fs.cat_file(p) == data
    assert fs.cat_file(p, start=10, end=20) == data[10:20]
    assert fs.cat_file(p, start=-16) == data[-16:]
    assert fs.cat_file(p, start=1000, end=5000) == data[1000:]
    assert fs.cat_file(p, start=2000, end=3000) == b""
    assert fs.cat_file(p, start=5, end=-5) == data[5:-5]
    assert fs.cat_ranges([p, p, p], [0, 100, -8], [4, 110, None]) == [data[:4], data[100:110], data[-8:]]


def test_large_range_is_split_and_reassembled(fs: Any, bucket: str) -> None:
    from s3fast.fsspec import _core

    data = os.urandom(2 * _core.RANGE_PIECE + 12345)
    fs.pipe(f"{bucket}/big", data)
    ((_, client),) = fs._clients._clients.values()
    before = client.stats.requests
    assert fs.cat_file(f"{bucket}/big", start=3, end=len(data) - 7) == data[3:-7]
    assert client.stats.requests - before >= 3  # three ranged GETs, not one


def test_open_read_sequential_and_random(fs: Any, bucket: str) -> None:
    data = os.urandom(3 * MiB + 17)
    fs.pipe(f"{bucket}/f", data)
    with fs.open(f"{bucket}/f", "rb", block_size=1 * MiB) as f:
        assert f.read(100) == data[:100]
        assert f.read(2 * MiB) == data[100:100 + 2 * MiB]
        f.seek(-10, 2)
        assert f.read() == data[-10:]
        f.seek(12345)
        assert f.read(16 * KiB) == data[12345:12345 + 16 * KiB]
        assert f.cache.name == "s3fast"


def test_opening_a_directory_for_reading_fails(fs: Any, bucket: str) -> None:
    fs.pipe(f"{bucket}/dir/x", b"1")
    for _ in range(2):  # asked of S3, then answered by the listing cache
        with pytest.raises(IsADirectoryError):
            fs.open(f"{bucket}/dir", "rb")
        fs.ls(bucket)


def test_max_gbps_paces_file_reads_and_ranges(moto_cluster: Any, bucket: str) -> None:
    """Every byte read through open(), cat_file ranges and cat_ranges is paid for in the
    max_gbps token bucket, as the client's downloads are."""
    fs = make_fs(moto_cluster, max_gbps=50.0)
    try:
        data, p = os.urandom(3 * MiB), f"{bucket}/paced"
        fs.pipe(p, data)
        ((_, client),) = fs._clients._clients.values()
        before = client.tuner.bucket.consumed
        with fs.open(p, "rb") as f:
            assert f.read() == data
        assert fs.cat_file(p, start=10, end=1010) == data[10:1010]
        assert fs.cat_ranges([p], [0], [100]) == [data[:100]]
        assert client.tuner.bucket.consumed - before >= len(data) + 1000 + 100
    finally:
        fs.close()


def test_read_of_an_object_replaced_under_an_open_file_fails(fs: Any, bucket: str) -> None:
    fs.pipe(f"{bucket}/v", b"a" * 300_000)
    with fs.open(f"{bucket}/v", "rb") as f:
        f.seek(-10, 2)
        f.read()
        fs.pipe(f"{bucket}/v", b"b" * 300_000)
        f.seek(0)
        with pytest.raises(OSError):
            f.read(10)


def test_write_small_is_one_object(fs: Any, bucket: str, moto_cluster: Any) -> None:
    with fs.open(f"{bucket}/s", "wb") as f:
        f.write(b"x" * 1000)
    assert fs.cat(f"{bucket}/s") == b"x" * 1000
    fs.touch(f"{bucket}/empty")
    assert fs.cat(f"{bucket}/empty") == b"" and fs.info(f"{bucket}/empty")["size"] == 0


def test_open_for_writing_keeps_content_type_and_metadata(fs: Any, bucket: str, moto_cluster: Any) -> None:
    s3 = moto_cluster.boto3_client()
    for name, size in (("small.csv", 10), ("big.csv", 6 * MiB)):
        with fs.open(f"{bucket}/{name}", "wb", block_size=5 * MiB, ContentType="text/csv",
                     Metadata={"origin": "h42"}) as f:
            f.write(b"x" * size)
        head = s3.head_object(Bucket=bucket, Key=name)
        assert (head["ContentType"], head["Metadata"]) == ("text/csv", {"origin": "h42"}), name


def test_write_large_is_multipart(fs: Any, bucket: str, moto_cluster: Any) -> None:
    data = os.urandom(11 * MiB + 5)
    with fs.open(f"{bucket}/m", "wb", block_size=5 * MiB) as f:
        for i in range(0, len(data), 777 * KiB):
            f.write(data[i:i + 777 * KiB])
    head = moto_cluster.boto3_client().head_object(Bucket=bucket, Key="m")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-3")  # 5 + 5 + 1 MiB parts
    assert fs.cat(f"{bucket}/m") == data
    assert moto_cluster.list_multipart_uploads(bucket) == []


def test_write_aborted_by_exception_or_discard_leaves_nothing(fs: Any, bucket: str, moto_cluster: Any) -> None:
    with pytest.raises(RuntimeError):
        with fs.open(f"{bucket}/boom", "wb", block_size=5 * MiB) as f:
            f.write(os.urandom(11 * MiB))  # two parts on their way
            raise RuntimeError("pipeline failed")
    f = fs.open(f"{bucket}/gone", "wb", block_size=5 * MiB)
    f.write(os.urandom(6 * MiB))
    f.discard()
    assert not fs.exists(f"{bucket}/boom", refresh=True) and not fs.exists(f"{bucket}/gone")
    assert moto_cluster.list_multipart_uploads(bucket) == []
    assert moto_cluster.boto3_client().list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_exclusive_writes_never_clobber_another_writer(fs: Any, bucket: str, moto_cluster: Any) -> None:
    s3 = moto_cluster.boto3_client()
    fs.pipe_file(f"{bucket}/c", b"first", mode="create")
    with pytest.raises(FileExistsError):
        fs.pipe_file(f"{bucket}/c", b"second", mode="create")
    assert fs.cat(f"{bucket}/c") == b"first"
    # "xb" checks at open, and S3 checks again when the object is written: a writer that
    # got there in between keeps its object (one PUT, and a multipart upload).
    for name, size in (("x", 1000), ("y", 11 * MiB)):
        f = fs.open(f"{bucket}/{name}", "xb", block_size=5 * MiB)
        f.write(os.urandom(size))
        s3.put_object(Bucket=bucket, Key=name, Body=b"theirs")
        with pytest.raises(FileExistsError):
            f.close()
        assert fs.cat(f"{bucket}/{name}") == b"theirs"
    assert moto_cluster.list_multipart_uploads(bucket) == []


def test_append_mode_adds_to_the_object(fs: Any, bucket: str, moto_cluster: Any) -> None:
    with fs.open(f"{bucket}/log", "ab") as f:  # nothing there yet: a new object
        f.write(b"one\n")
    with fs.open(f"{bucket}/log", "a") as t:
        t.write("two\n")
    with fs.open(f"{bucket}/log", "ab") as f:
        assert f.tell() == 8
    assert fs.cat(f"{bucket}/log") == b"one\ntwo\n"
    big, more = os.urandom(7 * MiB), os.urandom(6 * MiB)
    fs.pipe(f"{bucket}/big", big)
    with fs.open(f"{bucket}/big", "ab", block_size=5 * MiB) as f:  # multipart: the old bytes first
        f.write(more)
    assert fs.cat(f"{bucket}/big") == big + more
    # the object replaced after open, before its bytes were read: the append fails (one PUT
    # or multipart) and leaves the other writer's object alone
    for size in (10, 6 * MiB):
        fs.pipe(f"{bucket}/big", big)
        f = fs.open(f"{bucket}/big", "ab", block_size=5 * MiB)
        moto_cluster.boto3_client().put_object(Bucket=bucket, Key="big", Body=b"theirs")
        with pytest.raises(OSError):
            f.write(more[:size])
            f.close()
        assert fs.cat(f"{bucket}/big") == b"theirs"
    assert moto_cluster.list_multipart_uploads(bucket) == []
    n = len(fs.cat(f"{bucket}/log"))
    etag = fs.info(f"{bucket}/log")["ETag"]
    with fs.open(f"{bucket}/log", "ab"):
        pass  # nothing appended: the object is not written again
    assert fs.info(f"{bucket}/log", refresh=True)["ETag"] == etag and len(fs.cat(f"{bucket}/log")) == n


def test_get_put_cp_rm(fs: Any, bucket: str, tmp_path: Any) -> None:
    src = tmp_path / "in.bin"
    src.write_bytes(os.urandom(6 * MiB))
    fs.put_file(str(src), f"{bucket}/p/in.bin")
    fs.cp_file(f"{bucket}/p/in.bin", f"{bucket}/q/copy.bin")
    fs.get_file(f"{bucket}/q/copy.bin", str(tmp_path / "out.bin"))
    assert (tmp_path / "out.bin").read_bytes() == src.read_bytes()
    fs.pipe(f"{bucket}/p/small", b"s")
    fs.rm(f"{bucket}/p", recursive=True)
    assert fs.find(bucket) == [f"{bucket}/q/copy.bin"]


def test_get_and_put_report_progress_to_fsspec_callbacks(fs: Any, bucket: str, tmp_path: Any) -> None:
    """``put``/``get`` with ``callback=`` (a progress bar, e.g. fsspec's TqdmCallback): its
    size, then every byte, for one PUT and for a multipart upload and a parallel download."""
    from fsspec.callbacks import Callback

    class Seen(Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.sizes: list[int] = []

        def set_size(self, size: int) -> None:
            self.sizes.append(size)
            super().set_size(size)

    for n in (1234, 11 * MiB + 5):
        src = tmp_path / f"in-{n}"
        src.write_bytes(os.urandom(n))
        up, down = Seen(), Seen()
        fs.put_file(str(src), f"{bucket}/cb/{n}", callback=up)
        fs.get_file(f"{bucket}/cb/{n}", str(tmp_path / f"out-{n}"), callback=down)
        assert (tmp_path / f"out-{n}").read_bytes() == src.read_bytes()
        assert (up.sizes, up.value) == ([n], n), (up.sizes, up.value)
        assert (down.sizes, down.value) == ([n], n), (down.sizes, down.value)


def test_put_file_create_mode_never_clobbers(fs: Any, bucket: str, tmp_path: Any) -> None:
    src = tmp_path / "in"
    src.write_bytes(b"first")
    fs.put_file(str(src), f"{bucket}/x/once", mode="create")
    src.write_bytes(b"second")
    with pytest.raises(FileExistsError):
        fs.put_file(str(src), f"{bucket}/x/once", mode="create")
    assert fs.cat_file(f"{bucket}/x/once") == b"first"
    with pytest.raises(ValueError, match="mode"):
        fs.put_file(str(src), f"{bucket}/x/once", mode="append")


def test_whole_buckets_copy_and_upload(fs: Any, moto_cluster: Any, tmp_path: Any) -> None:
    a, b = moto_cluster.make_bucket(), moto_cluster.make_bucket()
    fs.pipe({f"{a}/x": b"1", f"{a}/d/y": b"2"})
    fs.copy(f"{a}/", f"{b}/", recursive=True)  # the bucket itself is a directory: nothing to copy
    assert fs.find(b) == [f"{b}/d/y", f"{b}/x"] and fs.cat(f"{b}/d/y") == b"2"
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "f").write_bytes(b"3")
    with pytest.raises(FileNotFoundError, match="no-such-bucket-h42"):  # the missing one is named
        fs.cp_file(f"{a}/x", "s3fast-no-such-bucket-h42/x")
    fs.put_file(str(tmp_path / "sub"), b)  # a directory onto an existing bucket: nothing to do
    fs.put(str(tmp_path / "sub") + "/", f"{b}/", recursive=True)
    assert fs.cat(f"{b}/f") == b"3"


def test_ls_of_the_root_lists_the_buckets(fs: Any, moto_cluster: Any) -> None:
    name = moto_cluster.make_bucket()
    listing = {e["name"]: e for e in fs.ls("", detail=True)}
    assert listing[name]["type"] == "directory" and listing[name]["size"] == 0
    assert name in fs.ls("s3fast://", detail=False)
    other = moto_cluster.make_bucket()
    fs.mkdir(f"{other}-x")  # a bucket made here is listed at once
    assert f"{other}-x" in fs.ls("", detail=False)


def test_mkdir_creates_a_bucket_and_no_objects(fs: Any, moto_cluster: Any) -> None:
    import uuid

    name = f"s3fast-mk-{uuid.uuid4().hex[:12]}"
    fs.mkdir(name)
    assert name in [b["Name"] for b in moto_cluster.boto3_client().list_buckets()["Buckets"]]
    with pytest.raises(FileExistsError):
        fs.makedirs(name)
    fs.makedirs(name, exist_ok=True)
    fs.makedirs(f"{name}/a/b", exist_ok=True)
    assert moto_cluster.boto3_client().list_objects_v2(Bucket=name).get("KeyCount") == 0


def test_ukey_and_checksum_follow_content(fs: Any, bucket: str) -> None:
    fs.pipe(f"{bucket}/u", b"one")
    k1, c1 = fs.ukey(f"{bucket}/u"), fs.checksum(f"{bucket}/u")
    fs.pipe(f"{bucket}/u", b"two")
    fs.invalidate_cache()
    assert fs.ukey(f"{bucket}/u") != k1 and fs.checksum(f"{bucket}/u") != c1


def _child_reads(fs: Any, path: str, conn: Any) -> None:
    try:
        data = fs.cat(path)
        client = fs._clients._clients  # the child's own table, rebuilt after fork
        conn.send((data, len(client)))
    except BaseException as exc:  # report, do not hang the parent
        conn.send(repr(exc))


def test_forked_child_gets_its_own_client(fs: Any, bucket: str) -> None:
    fs.pipe(f"{bucket}/fork", b"forked")
    assert fs.cat(f"{bucket}/fork") == b"forked"  # the parent's client and connections exist
    parent_clients = dict(fs._clients._clients)
    assert parent_clients
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_reads, args=(fs, f"{bucket}/fork", send))
    proc.start()
    try:
        assert recv.poll(60), "the child did not answer"
        result = recv.recv()
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()
            proc.join(10)
    assert result == (b"forked", 1)
    assert fs.cat(f"{bucket}/fork") == b"forked"  # the parent's client still works
    assert dict(fs._clients._clients) == parent_clients


def test_directory_markers_are_directories_and_rm_removes_them(fs: Any, bucket: str, moto_cluster: Any) -> None:
    s3 = moto_cluster.boto3_client()
    for key in ("t/", "t/empty/", "t/full/", "t/full/f"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"" if key.endswith("/") else b"x")
    assert fs.isdir(f"{bucket}/t/empty") and fs.isdir(f"{bucket}/t/full")
    assert fs.ls(f"{bucket}/t", detail=False) == [f"{bucket}/t/empty", f"{bucket}/t/full"]
    assert fs.find(f"{bucket}/t", withdirs=True) == [f"{bucket}/t", f"{bucket}/t/empty", f"{bucket}/t/full",
                                                     f"{bucket}/t/full/f"]
    fs.rm(f"{bucket}/t", recursive=True)
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert not fs.exists(f"{bucket}/t")
