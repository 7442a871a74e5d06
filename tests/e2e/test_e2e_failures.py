"""Failures end cleanly: the documented error, no partial file, no multipart upload left behind."""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from e2e_helpers import MiB, QUICK_RETRY, SMALL, cli, client_for, run
from support.faultrules import Rule, corrupt, respond

import s3fast


def test_object_overwritten_mid_download(moto_cluster, bucket: str, tmp_path: Path) -> None:
    url = f"s3://{bucket}/changing"
    s3 = moto_cluster.boto3_client()
    s3.put_object(Bucket=bucket, Key="changing", Body=os.urandom(12 * MiB))
    dst = tmp_path / "out.bin"

    def overwrite_once(event: s3fast.PartEvent) -> None:
        if event.number == 1:
            s3.put_object(Bucket=bucket, Key="changing", Body=b"new version")

    async def go() -> None:
        # One range at a time, so the overwrite lands between ranges 1 and 2.
        async with client_for(moto_cluster, SMALL.replace(max_concurrency=1)) as c:
            with pytest.raises(s3fast.PreconditionFailed, match="changed during the download"):
                await c.download(url, dst, on_part=overwrite_once)

    run(go())
    assert list(tmp_path.iterdir()) == []  # no partial destination, no temporary file


def test_corrupted_byte_is_caught(fault_cluster, tmp_path: Path) -> None:
    bucket = fault_cluster.moto.make_bucket()
    data = os.urandom(9 * MiB)
    fault_cluster.moto.boto3_client().put_object(Bucket=bucket, Key="obj", Body=data, ChecksumAlgorithm="CRC64NVME")
    rule = fault_cluster.add_rule(Rule(corrupt(12345), method="GET", path=r"/obj", nth=1))
    dst = tmp_path / "obj.bin"

    async def go() -> None:
        async with client_for(fault_cluster) as c:
            with pytest.raises(s3fast.ChecksumMismatch) as info:
                await c.download(f"s3://{bucket}/obj", dst)
            assert info.value.algorithm == "crc64nvme"

    run(go())
    assert rule.fired == 1
    assert list(tmp_path.iterdir()) == []


def test_failed_upload_is_aborted(fault_cluster, tmp_path: Path) -> None:
    bucket = fault_cluster.moto.make_bucket()
    # Every UploadPart fails with a non-retryable error: the upload must be aborted.
    fault_cluster.add_rule(Rule(respond(403, "AccessDenied", "no parts for you"), method="PUT", path=r"partNumber="))

    async def go() -> None:
        async with client_for(fault_cluster, SMALL.replace(retry=QUICK_RETRY)) as c:
            with pytest.raises(s3fast.AccessDenied, match="no parts for you"):
                await c.put_bytes(f"s3://{bucket}/doomed", os.urandom(12 * MiB))

    run(go())
    assert fault_cluster.moto.list_multipart_uploads(bucket) == []
    assert any(r.method == "DELETE" and "uploadId=" in r.target for r in fault_cluster.requests)


def test_cancelled_upload_is_aborted(moto_cluster, bucket: str) -> None:
    async def go() -> None:
        first_part = asyncio.Event()

        def on_part(event: s3fast.PartEvent) -> None:
            first_part.set()

        async def slow_source():  # type: ignore[no-untyped-def]
            for _ in range(3):
                yield os.urandom(5 * MiB)
            await asyncio.Event().wait()  # never ends: only cancellation stops it
            yield b""

        async with client_for(moto_cluster) as c:
            task = asyncio.create_task(c.upload(slow_source(), f"s3://{bucket}/cancelled", on_part=on_part))
            await first_part.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    run(go())
    assert moto_cluster.list_multipart_uploads(bucket) == []


def test_api_errors_name_the_problem(moto_cluster, bucket: str, tmp_path: Path) -> None:
    async def go() -> None:
        async with client_for(moto_cluster) as c:
            with pytest.raises(s3fast.LocalIOError, match="no such file"):
                await c.upload(tmp_path / "missing.bin", f"s3://{bucket}/x")
            with pytest.raises(s3fast.LocalIOError, match="directory"):
                await c.upload(tmp_path, f"s3://{bucket}/x")
            with pytest.raises(s3fast.NoSuchBucket):
                await c.download("s3://no-such-bucket-here/x", tmp_path / "x")
            with pytest.raises(s3fast.NoSuchKey):
                await c.download(f"s3://{bucket}/missing", tmp_path / "x")
            with pytest.raises(s3fast.ConfigError, match="not an S3 URL"):
                await c.download("http://x/y", tmp_path / "x")
            with pytest.raises(s3fast.LocalIOError, match="does not exist"):
                await c.put_bytes(f"s3://{bucket}/k", b"x")
                await c.download(f"s3://{bucket}/k", tmp_path / "nodir" / "x")
            # A directory in the way: one-request objects find out at the end, ranged ones
            # before fetching anything; either way nothing is left behind.
            (tmp_path / "adir").mkdir()
            await c.put_bytes(f"s3://{bucket}/big", os.urandom(12 * MiB))
            for key in ("k", "big"):
                with pytest.raises(s3fast.LocalIOError, match="destination is a directory"):
                    await c.download(f"s3://{bucket}/{key}", tmp_path / "adir")
            assert list((tmp_path / "adir").iterdir()) == []
            (tmp_path / "adir").rmdir()

    run(go())
    assert list(tmp_path.iterdir()) == []


def test_throttled_then_ok(fault_cluster) -> None:
    bucket = fault_cluster.moto.make_bucket()
    rule = fault_cluster.add_rule(Rule(respond(503, "SlowDown", "Please reduce your request rate."),
                                       method="PUT", times=2))

    async def go() -> s3fast.TransferResult:
        # The default timeouts: the retry count below must answer the two 503s only, never
        # a PUT that a loaded machine made slower than a short first-byte timeout.
        async with client_for(fault_cluster, SMALL.replace(retry=QUICK_RETRY)) as c:
            res = await c.put_bytes(f"s3://{bucket}/k", b"payload")
            assert c.stats.throttled == 2
            assert await c.get_bytes(f"s3://{bucket}/k") == b"payload"
            return res

    res = run(go())
    assert rule.fired == 2 and res.retries == 2


# -- the CLI ------------------------------------------------------------------------------------

def _env(cluster) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"AWS_ENDPOINT_URL": cluster.endpoint_url}


def _resolve(cluster) -> list[str]:  # type: ignore[no-untyped-def]
    return ["--resolve", f"{cluster.host}:{','.join(cluster.ips)}"]


def test_cli_round_trip_and_json(moto_cluster, bucket: str, tmp_path: Path) -> None:
    import json

    src = tmp_path / "a.bin"
    src.write_bytes(os.urandom(6 * MiB + 1))
    up = cli("cp", str(src), f"s3://{bucket}/a.bin", "--part-size", "5MiB", *_resolve(moto_cluster),
             env=_env(moto_cluster))
    assert up.returncode == 0, up.stderr
    assert b"upload:" in up.stdout and b"MB/s" in up.stdout
    down = cli("cp", f"s3://{bucket}/a.bin", str(tmp_path / "b.bin"), "--json", *_resolve(moto_cluster),
               env=_env(moto_cluster))
    assert down.returncode == 0, down.stderr
    summary = json.loads(down.stdout)
    assert summary["bytes"] == 6 * MiB + 1 and summary["checksum"]["verified"] is True
    assert set(summary["per_ip"]) <= set(moto_cluster.ips)
    assert (tmp_path / "b.bin").read_bytes() == src.read_bytes()


@pytest.mark.parametrize("dst", ["-", "/dev/stdout", "/dev/fd/1"])
def test_cli_object_on_stdout_keeps_the_summary_off_it(moto_cluster, bucket: str, tmp_path: Path, dst: str) -> None:
    """With the object on stdout, the summary (line or --json) goes to stderr. stdout is a
    regular file here, as after ``> out.bin``: /dev/stdout must be written where it points,
    not replaced by a renamed temporary file (the symlink in /dev) or reopened at offset 0."""
    import json
    import subprocess
    import sys

    data = os.urandom(6 * MiB + 3)
    up = cli("cp", "-", f"s3://{bucket}/o.bin", *_resolve(moto_cluster), env=_env(moto_cluster), stdin=data)
    assert up.returncode == 0, up.stderr
    out = tmp_path / "out.bin"
    with open(out, "wb") as f:
        f.write(b"before|")  # earlier output on the same stdout: kept, written after
        f.flush()
        down = subprocess.run([sys.executable, "-m", "s3fast.cli", "cp", f"s3://{bucket}/o.bin", dst, "--json",
                               *_resolve(moto_cluster)], stdout=f, stderr=subprocess.PIPE,
                              env={**os.environ, **_env(moto_cluster)}, timeout=120, check=False)
    assert down.returncode == 0, down.stderr
    assert out.read_bytes() == b"before|" + data
    assert json.loads(down.stderr.splitlines()[-1])["bytes"] == len(data)
    assert os.path.islink("/dev/stdout")


@pytest.mark.parametrize("args,code,message", [
    (["cp", "{tmp}/missing.bin", "s3://{bucket}/x"], 2, b"no such file: "),
    (["cp", "s3://no-such-bucket-zz/x", "{tmp}/x"], 1, b"bucket does not exist: no-such-bucket-zz"),
    (["cp", "s3://{bucket}/missing", "{tmp}/x"], 1, b"no such key: s3://"),
    (["cp", "s3:/bad/url", "{tmp}/x"], 2, b"must be an S3 URL"),
    (["cp", "s3://{bucket}/x", "s3://{bucket}/y"], 1, b"no such key: s3://"),  # S3 -> S3: server-side
    (["cp", "{tmp}/f", "s3://{bucket}/x", "--part-size", "1MiB"], 2, b"between 5 MiB and 5 GiB"),
    (["cp", "{tmp}/f", "s3://{bucket}/x", "--resolve", "nohost"], 2, b"--resolve"),
])
def test_cli_user_mistakes(moto_cluster, bucket: str, tmp_path: Path, args: list[str], code: int,
                           message: bytes) -> None:
    (tmp_path / "f").write_bytes(b"data")
    argv = [a.format(tmp=tmp_path, bucket=bucket) for a in args]
    out = cli(*argv, *_resolve(moto_cluster), env=_env(moto_cluster))
    assert out.returncode == code, out.stderr
    assert message in out.stderr
    assert b"Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) <= 2  # usage + one line at most


def test_cli_no_credentials(moto_cluster, bucket: str, tmp_path: Path) -> None:
    env = {**_env(moto_cluster), "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_CONFIG_FILE": str(tmp_path / "none")}
    out = cli("cp", f"s3://{bucket}/x", str(tmp_path / "x"), *_resolve(moto_cluster), env=env)
    assert out.returncode == 2
    assert b"no AWS credentials found" in out.stderr and b"Traceback" not in out.stderr


def test_cli_version_names_the_core() -> None:
    out = cli("--version")
    assert out.returncode == 0
    expected = b"pure core" if os.environ.get("S3FAST_NO_EXTENSIONS") else b"native core"
    assert expected in out.stdout


def test_deadline_bounds_a_whole_transfer(fault_cluster, tmp_path: Path) -> None:
    from support.faultrules import latency

    bucket = fault_cluster.moto.make_bucket()
    fault_cluster.moto.boto3_client().put_object(Bucket=bucket, Key="k", Body=b"x" * 1000)
    # Every answer comes 5 s late; the whole download may take 0.5 s.
    fault_cluster.add_rule(Rule(latency(5.0), method="GET"))
    cfg = SMALL.replace(timeouts=s3fast.Timeouts(deadline=0.5))

    async def go() -> None:
        async with client_for(fault_cluster, cfg) as c:
            with pytest.raises(s3fast.RequestTimeout, match="deadline") as info:
                await c.download(f"s3://{bucket}/k", tmp_path / "k")
            assert info.value.stage == "deadline"

    run(go())
    assert list(tmp_path.iterdir()) == []
