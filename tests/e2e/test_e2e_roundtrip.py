"""Round trips against a real S3 server (moto, four listeners behind one hostname)."""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from e2e_helpers import MiB, SMALL, client_for, run

import s3fast

SIZES = [0, 1, 5 * MiB - 1, 5 * MiB, 5 * MiB + 1, 2 * 5 * MiB, 12 * MiB + 7]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s}B")
def test_bytes_round_trip(moto_cluster, bucket: str, size: int) -> None:
    data = os.urandom(size)

    async def go() -> None:
        async with client_for(moto_cluster) as c:
            up = await c.put_bytes(f"s3://{bucket}/obj", data)
            assert up.bytes == size
            assert up.multipart == (size >= 5 * MiB)
            assert up.parts == max(1, -(-size // (5 * MiB)))
            assert up.checksum is not None and up.checksum.algorithm == "crc64nvme"
            got = await c.get_bytes(f"s3://{bucket}/obj")
            assert got == data
            info = await c.head(f"s3://{bucket}/obj")
            assert info.size == size
            # The checksum S3 stored is the full-object one we computed (moto keeps
            # none for an empty body).
            if size:
                assert info.checksum is not None and info.checksum == up.checksum

    run(go())


def test_multipart_file_round_trip(moto_cluster, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    data = os.urandom(40 * MiB)
    src.write_bytes(data)
    dst = tmp_path / "dst.bin"
    parts: list[s3fast.PartEvent] = []

    async def go() -> None:
        async with client_for(moto_cluster) as c:
            up = await c.upload(src, f"s3://{bucket}/big", on_part=parts.append)
            assert up.multipart and up.parts == 8
            assert sorted(p.number for p in parts) == list(range(1, 9))
            assert all(p.upload_id == up.upload_id and p.etag for p in parts)
            down = await c.download(f"s3://{bucket}/big", dst)
            assert down.checksum_verified and down.parts == 8

    run(go())
    assert dst.read_bytes() == data
    # No temporary file left next to the destination.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dst.bin", "src.bin"]
    assert moto_cluster.list_multipart_uploads(bucket) == []


def test_crc32c_and_no_checksum(moto_cluster, bucket: str) -> None:
    from awscrt.checksums import crc32c

    from s3fast._checksum import ALGORITHMS

    big = os.urandom(11 * MiB)
    small = os.urandom(3 * MiB)

    async def go() -> None:
        async with client_for(moto_cluster, SMALL.replace(checksum="crc32c")) as c:
            up = await c.put_bytes(f"s3://{bucket}/c32-big", big)
            # Our full-object CRC32C of a multipart upload is the CRC32C of the whole object.
            assert up.checksum == s3fast.Checksum("crc32c", ALGORITHMS["crc32c"].encode(crc32c(big)), "FULL_OBJECT")
            # (moto stores a wrong full-object CRC32C for multipart uploads, so the
            # download check runs on a single-PUT object here.)
            await c.put_bytes(f"s3://{bucket}/c32", small)
            down = bytearray()
            res = await c.download(f"s3://{bucket}/c32", down)
            assert down == small and res.checksum_verified and res.checksum is not None and res.checksum.algorithm == "crc32c"
        async with client_for(moto_cluster, SMALL.replace(checksum="none")) as c:
            up = await c.put_bytes(f"s3://{bucket}/none", big)
            assert up.checksum is None
            assert await c.get_bytes(f"s3://{bucket}/none") == big

    run(go())


def test_unknown_size_stream_upload(moto_cluster, bucket: str) -> None:
    chunks = [os.urandom(700_000) for _ in range(23)]  # ~15.4 MiB in odd-sized chunks

    async def gen():  # type: ignore[no-untyped-def]
        for c in chunks:
            yield c

    async def go() -> s3fast.TransferResult:
        async with client_for(moto_cluster) as c:
            res = await c.upload(gen(), f"s3://{bucket}/stream")
            assert await c.get_bytes(f"s3://{bucket}/stream") == b"".join(chunks)
            # Buffers are paid for and given back.
            assert c.memory.peak <= c.config.memory_limit
            return res

    res = run(go())
    assert res.multipart and res.parts == 4 and res.bytes == sum(map(len, chunks))


def test_small_stream_is_single_put(moto_cluster, bucket: str) -> None:
    async def gen():  # type: ignore[no-untyped-def]
        yield b"abc"
        yield b"def"

    async def go() -> None:
        async with client_for(moto_cluster) as c:
            res = await c.upload(gen(), f"s3://{bucket}/tiny")
            assert not res.multipart
            assert await c.get_bytes(f"s3://{bucket}/tiny") == b"abcdef"

    run(go())


def test_in_order_stream_download_and_file_objects(moto_cluster, bucket: str, tmp_path: Path) -> None:
    data = os.urandom(23 * MiB + 5)

    async def go() -> None:
        async with client_for(moto_cluster) as c:
            with open(tmp_path / "in.bin", "wb") as f:
                f.write(data)
            with open(tmp_path / "in.bin", "rb") as f:
                await c.upload(f, f"s3://{bucket}/s")
            pieces = [bytes(p) async for p in c.stream(f"s3://{bucket}/s")]
            assert b"".join(pieces) == data
            assert len(pieces) == 5  # one per range, in order
            out = io.BytesIO()
            await c.download(f"s3://{bucket}/s", out)
            assert out.getvalue() == data
            buf = bytearray()
            await c.download(f"s3://{bucket}/s", buf)
            assert buf == data

    run(go())


class _Trickle:
    """A raw writer that takes at most 1,000 bytes a call, as a pipe may."""

    def __init__(self) -> None:
        self.got = bytearray()

    def write(self, b) -> int:
        n = min(len(b), 1000)
        self.got += b[:n]
        return n


def test_download_to_a_writer_that_takes_part_of_each_write(moto_cluster, bucket: str) -> None:
    data = os.urandom(11 * MiB + 3)

    async def go() -> None:
        async with client_for(moto_cluster) as c:
            await c.put_bytes(f"s3://{bucket}/t", data)
            out = _Trickle()
            result = await c.download(f"s3://{bucket}/t", out)
            assert bytes(out.got) == data and result.bytes == len(data)

    run(go())


class _Keeper:
    """A writer that keeps what it is given (outside io's contract, but not ours to break)."""

    def __init__(self) -> None:
        self.kept: list = []

    def write(self, b) -> None:
        self.kept.append(b)


def test_ordered_downloads_reuse_buffers_only_for_writers_that_copy(moto_cluster, bucket: str) -> None:
    """Range buffers are reused for io's writers (they copy before returning), never for a
    writer that might keep them, and the memory budget is paid back in full either way."""
    data = os.urandom(4 * 5 * MiB + 11)  # five ranges: more than the window when it is small

    async def go() -> None:
        async with client_for(moto_cluster, SMALL.replace(memory_limit=2 * 5 * MiB)) as c:
            await c.put_bytes(f"s3://{bucket}/k", data)
            keeper = _Keeper()
            await c.download(f"s3://{bucket}/k", keeper)
            assert b"".join(bytes(v) for v in keeper.kept) == data
            assert c.memory.held == 0
            out = io.BytesIO()
            await c.download(f"s3://{bucket}/k", out)
            assert out.getvalue() == data
            assert c.memory.held == 0
            pieces = [p async for p in c.stream(f"s3://{bucket}/k")]
            assert b"".join(pieces) == data
            assert c.memory.held == 0

    run(go())


def test_download_into_a_fifo_writes_through_it_and_keeps_it(moto_cluster, bucket: str, tmp_path: Path) -> None:
    """A FIFO (or a device, /dev/null) is written in place, in order: a temporary file renamed
    over it would replace it with a regular file. Opening it waits for the reader off the loop."""
    import stat
    import threading

    data = os.urandom(12 * MiB + 9)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = bytearray()

    def reader() -> None:
        with open(fifo, "rb") as f:
            while chunk := f.read(1 << 20):
                got.extend(chunk)

    async def go() -> None:
        async with client_for(moto_cluster) as c:
            await c.put_bytes(f"s3://{bucket}/p", data)
            t = threading.Thread(target=reader, daemon=True)  # a regression must not hang the suite
            t.start()
            try:
                result = await c.download(f"s3://{bucket}/p", fifo)
            finally:
                t.join(30)
            assert result.bytes == len(data) and result.checksum_verified

    run(go())
    assert bytes(got) == data
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_download_into_a_device_leaves_the_device(moto_cluster, bucket: str, tmp_path: Path) -> None:
    """``s3fast cp s3://b/k /dev/null``: the classic way to time a download. Here on a null
    device made in tmp_path, never the real /dev/null (a regression would replace it)."""
    import stat

    dev = tmp_path / "null"
    try:
        os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod needs CAP_MKNOD")
    data = os.urandom(7 * MiB)

    async def go() -> None:
        async with client_for(moto_cluster) as c:
            await c.put_bytes(f"s3://{bucket}/d", data)
            for dest in (dev, str(dev)):
                result = await c.download(f"s3://{bucket}/d", dest)
                assert result.bytes == len(data)

    run(go())
    st = dev.lstat()
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


@pytest.mark.parametrize("prefix", ["/dev/fd/", "/proc/self/fd/"])
def test_download_into_an_inherited_descriptor_writes_at_its_offset(moto_cluster, bucket: str, tmp_path: Path,
                                                                    prefix: str) -> None:
    """/dev/fd/N names descriptor N: the bytes go where it points, after what was written
    through it, and nothing is renamed (a regular file behind it, as after ``3> file``)."""
    data = os.urandom(6 * MiB + 1)
    target = tmp_path / "out.bin"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, b"before|")

        async def go() -> None:
            async with client_for(moto_cluster) as c:
                await c.put_bytes(f"s3://{bucket}/i", data)
                await c.download(f"s3://{bucket}/i", f"{prefix}{fd}")

        run(go())
        os.write(fd, b"|after")  # the shared offset moved past the object
    finally:
        os.close(fd)
    assert target.read_bytes() == b"before|" + data + b"|after"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_list_head_delete(moto_cluster, bucket: str) -> None:
    async def go() -> None:
        async with client_for(moto_cluster) as c:
            for i in range(3):
                await c.put_bytes(f"s3://{bucket}/dir/{i}", b"x" * i, metadata={"n": str(i)})
            keys = [o.key async for o in c.list(f"s3://{bucket}/dir/")]
            assert keys == ["dir/0", "dir/1", "dir/2"]
            info = await c.head(f"s3://{bucket}/dir/2")
            assert info.size == 2 and info.metadata == {"n": "2"}
            await c.delete(f"s3://{bucket}/dir/1")
            with pytest.raises(s3fast.NoSuchKey):
                await c.head(f"s3://{bucket}/dir/1")

    run(go())


def test_connections_spread_over_every_ip(moto_cluster, bucket: str) -> None:
    data = os.urandom(30 * MiB)

    async def go() -> dict[str, object]:
        cfg = SMALL.replace(max_concurrency=8)
        async with client_for(moto_cluster, cfg) as c:
            await c.put_bytes(f"s3://{bucket}/spread", data)
            assert await c.get_bytes(f"s3://{bucket}/spread") == data
            return c.ip_stats()

    stats = run(go())
    assert set(stats) == set(moto_cluster.ips)
    assert all(st.requests > 0 for st in stats.values())  # type: ignore[attr-defined]


def test_max_gbps_caps_the_bytes_paid_for(moto_cluster, bucket: str) -> None:
    """The token bucket is in the data path: every byte moved was paid for in it."""
    data = os.urandom(12 * MiB)

    async def go() -> None:
        cfg = SMALL.replace(max_gbps=50.0)
        async with client_for(moto_cluster, cfg) as c:
            bucket_ = c.tuner.bucket
            assert bucket_ is not None
            await c.put_bytes(f"s3://{bucket}/capped", data)
            assert await c.get_bytes(f"s3://{bucket}/capped") == data
            # Upload (3 parts) and download (3 ranges) both consumed tokens: 2 x 12 MiB.
            assert bucket_.consumed == 2 * len(data)

    run(go())


def test_ips_are_harvested_in_the_background(moto_cluster, bucket: str) -> None:
    """The resolver answers one IP at a time (as S3's DNS rotates its answers); the client
    keeps asking in the background and ends up using every IP it learnt."""
    import asyncio

    from s3fast.net import EndpointConfig

    class Rotating:
        def __init__(self) -> None:
            self.calls = 0
            self.reached = asyncio.Event()

        async def resolve(self, host: str, port: int) -> list[str]:
            ip = moto_cluster.ips[self.calls % len(moto_cluster.ips)]
            self.calls += 1
            if self.calls >= 2 * len(moto_cluster.ips):
                self.reached.set()
            return [ip]

    async def go() -> dict[str, object]:
        resolver = Rotating()
        fast = EndpointConfig(harvest_interval=0.01, min_refresh_interval=0.0)
        async with s3fast.Client(endpoint_url=moto_cluster.endpoint_url, resolver=resolver,
                                 endpoint_config=fast, config=SMALL.replace(max_concurrency=8)) as c:
            table = c._transport.pool_for(bucket).table
            # No request has been made: only the background harvester resolves.
            await asyncio.wait_for(resolver.reached.wait(), timeout=30)
            assert set(table.ips) == set(moto_cluster.ips)
            await c.put_bytes(f"s3://{bucket}/h", os.urandom(30 * MiB))
            return c.ip_stats()

    stats = run(go())
    assert sum(1 for st in stats.values() if st.requests) >= 3  # type: ignore[attr-defined]


def test_run_returns_big_results_without_formatting_them() -> None:
    """s3fast.run must not hand a huge result to asyncio as the main task's result: Python
    3.11's Runner formats that task's repr (result included) when it restores SIGINT. Run in a
    fresh interpreter, where SIGINT has its default handler (pytest replaces it)."""
    import subprocess
    import sys

    code = (
        "import s3fast\n"
        "class Huge:\n"
        "    def __repr__(self):\n"
        "        raise SystemExit('the result was formatted')\n"
        "async def make():\n"
        "    return Huge()\n"
        "assert type(s3fast.run(make())).__name__ == 'Huge'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr


def test_download_replaces_an_existing_file_and_shows_no_name_before_it_is_complete(
        moto_cluster, bucket: str, tmp_path: Path) -> None:
    data = os.urandom(3 * MiB)
    dst = tmp_path / "dst.bin"
    dst.write_bytes(b"old contents")
    seen: list[list[str]] = []

    async def go() -> None:
        async with client_for(moto_cluster, SMALL.replace(max_concurrency=1)) as c:
            await c.put_bytes(f"s3://{bucket}/obj", data)
            # While ranges are still arriving, the directory holds only the old file:
            # the new one has no name until it is complete.
            await c.download(f"s3://{bucket}/obj", dst,
                             on_part=lambda ev: seen.append(sorted(p.name for p in tmp_path.iterdir())))
            await c.download(f"s3://{bucket}/obj", tmp_path / "fresh.bin")

    run(go())
    assert seen and all(names == ["dst.bin"] for names in seen)
    assert dst.read_bytes() == data and (tmp_path / "fresh.bin").read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dst.bin", "fresh.bin"]
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "fresh.bin").stat().st_mode & 0o777 == 0o666 & ~umask


def test_run_tunes_the_process_once_and_can_be_told_not_to() -> None:
    import subprocess
    import sys

    code = (
        "import gc, s3fast\n"
        "async def f(): return 1\n"
        "s3fast.run(f(), tune=False)\n"
        "assert gc.get_freeze_count() == 0\n"
        "s3fast.run(f())\n"
        "frozen = gc.get_freeze_count()\n"
        "assert frozen > 1000, frozen\n"
        "junk = [[] for _ in range(5000)]\n"
        "s3fast.run(f())\n"
        "assert gc.get_freeze_count() == frozen  # frozen once, not again\n"
    )
    env = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
