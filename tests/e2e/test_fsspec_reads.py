"""Large reads through the fsspec filesystem land once: the ranged GETs receive into one
buffer, and pyarrow (through ``read_buffer``) gets views of it instead of ``bytes`` copies.
Also what such a read does with a server that ignores Range or answers the wrong range."""
from __future__ import annotations

import io
import os
import tracemalloc
from typing import Any

import pytest

from fsspec_helpers import make_fs
from s3fast._units import MiB


def test_read_buffer_gives_views_of_the_read_ahead_span_in_order(fault_cluster: Any) -> None:
    bucket = fault_cluster.moto.make_bucket()
    fs = make_fs(fault_cluster)
    data = os.urandom(20 * MiB + 123)
    try:
        fs.pipe({f"{bucket}/obj": data})
        with fs.open(f"{bucket}/obj", "rb") as f:
            first = f.read_buffer(10 * MiB)  # more than one GET piece: parallel GETs into one buffer
            assert first.readonly and first.obj is f.cache.data  # a view of the span: no copy
            assert first == data[:10 * MiB] and f.tell() == 10 * MiB
            f.seek(5)
            assert f.read_buffer(100) == data[5:105]  # inside the held span
            assert f.read(50) == data[105:155]  # read() mixes in and still returns bytes
            f.seek(len(data) - 7)
            assert f.read_buffer(1000) == data[-7:]  # clipped at the end
            assert f.read_buffer(10) == b"" and f.tell() == len(data)
            f.seek(0)
            assert f.read_buffer() == data  # -1: everything left
    finally:
        fs.close()


def test_pyarrow_reads_parquet_through_read_buffer(fault_cluster: Any) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from s3fast.fsspec._file import S3FastFile

    bucket = fault_cluster.moto.make_bucket()
    fs = make_fs(fault_cluster)
    table = pa.table({"a": list(range(300_000)), "b": [float(i) / 3 for i in range(300_000)]})
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=50_000, compression="none")
    calls: list[int] = []
    real = S3FastFile.read_buffer

    def spy(self: Any, length: int = -1) -> memoryview:
        out = real(self, length)
        calls.append(len(out))
        return out

    try:
        fs.pipe({f"{bucket}/t.parquet": sink.getvalue()})
        S3FastFile.read_buffer = spy  # type: ignore[method-assign]
        with fs.open(f"{bucket}/t.parquet", "rb") as f:
            got = pq.read_table(pa.PythonFile(f, mode="r"))
        assert got.equals(table)
        assert sum(calls) >= len(sink.getvalue()) - 64 * 1024  # the column chunks came through read_buffer
    finally:
        S3FastFile.read_buffer = real  # type: ignore[method-assign]
        fs.close()


def test_large_ranges_end_where_the_object_ends(fault_cluster: Any) -> None:
    bucket = fault_cluster.moto.make_bucket()
    fs = make_fs(fault_cluster)
    data = os.urandom(19 * MiB + 5)
    try:
        fs.pipe({f"{bucket}/obj": data})
        # 3 MiB into the third 8 MiB piece; and a range far past the end (one buffer of its
        # size would not fit in memory: it is cut to the object first)
        assert fs.cat_file(f"{bucket}/obj", 1 * MiB, 24 * MiB + 3) == data[1 * MiB:]
        assert fs.cat_file(f"{bucket}/obj", 2, 1 << 50) == data[2:]
        assert fs.cat_file(f"{bucket}/obj", 20 * MiB, 30 * MiB) == b""
        assert fs.cat_ranges([f"{bucket}/obj"] * 2, [0, 18 * MiB], [9 * MiB, 21 * MiB]) == \
            [data[:9 * MiB], data[18 * MiB:]]
    finally:
        fs.close()


def test_a_server_ignoring_range_still_gives_the_asked_bytes(fault_cluster: Any) -> None:
    from support.faultrules import Rule, respond

    bucket = fault_cluster.moto.make_bucket()
    fs = make_fs(fault_cluster)
    data = os.urandom(3 * MiB)
    try:
        fs.pipe({f"{bucket}/obj": data})
        fault_cluster.add_rule(Rule(respond(200, "OK", headers={"Content-Type": "application/octet-stream"},
                                            body=data), method="GET", path=f"/{bucket}/obj"))
        assert fs.cat_file(f"{bucket}/obj", 1000, 2 * MiB) == data[1000:2 * MiB]
        # ranges merged into one GET, each cut out of the whole object the server sent
        assert fs.cat_ranges([f"{bucket}/obj"] * 3, [10, 900_000, 3 * MiB - 5], [20, 900_100, 3 * MiB + 5]) == \
            [data[10:20], data[900_000:900_100], data[-5:]]
    finally:
        fault_cluster.clear_rules()
        fs.close()


def test_a_206_for_other_bytes_is_an_error_not_data(fault_cluster: Any) -> None:
    from support.faultrules import Rule, respond

    bucket = fault_cluster.moto.make_bucket()
    fs = make_fs(fault_cluster)
    data = os.urandom(2 * MiB)
    try:
        fs.pipe({f"{bucket}/obj": data})
        # the right length, from the wrong offset
        fault_cluster.add_rule(Rule(respond(206, "Partial", body=data[:100], headers={
            "Content-Type": "application/octet-stream", "Content-Range": f"bytes 0-99/{len(data)}"}),
            method="GET", path=f"/{bucket}/obj"))
        with pytest.raises(OSError, match="unexpected answer to a ranged GET"):
            fs.cat_file(f"{bucket}/obj", 500, 600)
    finally:
        fault_cluster.clear_rules()
        fs.close()


def test_merged_ranges_hold_only_their_own_bytes() -> None:
    """``cat_ranges`` reads nearby ranges of an object with one GET, but keeps only the asked
    bytes: the 7.5 MiB between them never sit in memory (the GET's bytes between ranges land
    in one small scratch buffer). A real server in its own process (memserver), so that the
    memory traced is the client's alone."""
    from benchmarks.targets.memserver import MemTarget
    from e2e_helpers import run

    from s3fast.fsspec import S3FastFileSystem

    target = MemTarget(bucket="spans")
    ep = target.start()
    data = os.urandom(7 * MiB)
    path = "spans/obj"
    ranges = [(k * 800 * 1024, k * 800 * 1024 + 16384) for k in range(9)]
    ranges += [(100, 20_000), (10_000, 30_000),  # overlapping
               (7 * MiB - 100, 7 * MiB + 100),  # the object ends inside it
               (7 * MiB + 500 * 1024, 7 * MiB + 516 * 1024)]  # past the end, yet merged in

    async def go() -> tuple[list[bytes], int, int]:
        fs = S3FastFileSystem(endpoint_url=ep.endpoint_url, key="k", secret="s", asynchronous=True,
                              skip_instance_cache=True)
        try:
            await fs._pipe_file(path, data)
            await fs._cat_ranges([path] * 2, [0, 600_000], [10, 600_010])  # warm: connections, scratch
            client = fs._clients.get()
            before = client.stats.requests
            tracemalloc.start()
            try:
                got = await fs._cat_ranges([path] * len(ranges), [s for s, _ in ranges], [e for _, e in ranges])
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            return got, peak, client.stats.requests - before
        finally:
            await fs.aclose()

    try:
        got, peak, gets = run(go())
    finally:
        target.stop()
    assert got == [data[s:e] for s, e in ranges]
    assert gets == 1  # one merged GET of 7.5 MiB
    assert peak < 2 * MiB, peak  # the ranges' 0.5 MiB and the scratch, not the GET's 7.5 MiB


def test_open_async_reads_ranges_on_the_callers_loop_pinned_to_one_version(moto_cluster: Any) -> None:
    """``await fs.open_async(path)`` (async readers, as s3fs offers): reads and seeks as
    ranged GETs; an object replaced under the open file fails the next read (ESTALE)."""
    import errno

    from e2e_helpers import run
    from fsspec_helpers import storage_options

    from s3fast.fsspec import S3FastFileSystem

    bucket = moto_cluster.make_bucket()
    data = os.urandom(9 * MiB + 7)

    async def go() -> None:
        fs = S3FastFileSystem(asynchronous=True, skip_instance_cache=True, **storage_options(moto_cluster))
        try:
            await fs._pipe_file(f"{bucket}/d/obj", data)
            async with await fs.open_async(f"{bucket}/d/obj") as f:
                assert f.size == len(data)
                assert await f.read(10) == data[:10] and f.tell() == 10
                f.seek(4 * MiB)
                assert await f.read(5 * MiB) == data[4 * MiB:9 * MiB]
                assert await f.read() == data[9 * MiB:]
                assert await f.read(5) == b""
                f.seek(0)
                assert await f.read() == data  # parallel pieces into one buffer
                f.seek(1)
                await fs._pipe_file(f"{bucket}/d/obj", b"replaced")
                with pytest.raises(OSError) as info:
                    await f.read(3)
                assert info.value.errno == errno.ESTALE
            assert f.closed
            with pytest.raises(IsADirectoryError):
                await fs.open_async(f"{bucket}/d")
            with pytest.raises(FileNotFoundError):
                await fs.open_async(f"{bucket}/d/none")
            with pytest.raises(ValueError, match="reads only"):
                await fs.open_async(f"{bucket}/d/obj", "wb")
        finally:
            await fs.aclose()

    run(go())
