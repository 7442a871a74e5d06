"""Destinations that name a descriptor (/dev/fd/N, /proc/self/fd/N, /dev/stdout): only a
descriptor the caller can have meant is written; s3fast's own never are."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_helpers import MiB, client_for, run

import s3fast


def _env(cluster) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {**os.environ, "AWS_ENDPOINT_URL": cluster.endpoint_url}


def _cp(cluster, src: str, dst: str, **kwargs) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
    return subprocess.Popen(
        [sys.executable, "-m", "s3fast.cli", "cp", src, dst, "--quiet",
         "--resolve", f"{cluster.host}:{','.join(cluster.ips)}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(cluster), **kwargs)


@pytest.mark.parametrize("fd", [3, 5, 8, 11])
def test_cli_refuses_a_descriptor_it_did_not_inherit(moto_cluster, bucket: str, fd: int) -> None:
    """Not inherited: whatever the number points at in s3fast (its event loop's epoll or
    self-pipe, a connection, a thread's eventfd) or nothing, it is refused up front."""
    moto_cluster.boto3_client().put_object(Bucket=bucket, Key="small", Body=b"x" * 1000)
    proc = _cp(moto_cluster, f"s3://{bucket}/small", f"/dev/fd/{fd}")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert f"/dev/fd/{fd} names descriptor {fd}".encode() in err
    assert b"Traceback" not in err and len(err.strip().splitlines()) == 1
    assert out == b""


def test_cli_refuses_a_descriptor_open_read_only(moto_cluster, bucket: str, tmp_path: Path) -> None:
    moto_cluster.boto3_client().put_object(Bucket=bucket, Key="small", Body=b"x" * 1000)
    src = tmp_path / "ro"
    src.write_bytes(b"keep")
    fd = os.open(src, os.O_RDONLY)
    try:
        proc = _cp(moto_cluster, f"s3://{bucket}/small", f"/proc/self/fd/{fd}", pass_fds=(fd,))
        _, err = proc.communicate(timeout=120)
    finally:
        os.close(fd)
    assert proc.returncode == 2, err
    assert b"not open for writing" in err and b"Traceback" not in err
    assert src.read_bytes() == b"keep"


@pytest.mark.parametrize("size", [1000, 6 * MiB + 5])
def test_cli_writes_into_an_inherited_pipe(moto_cluster, bucket: str, size: int) -> None:
    data = os.urandom(size)
    moto_cluster.boto3_client().put_object(Bucket=bucket, Key="obj", Body=data)
    r, w = os.pipe()
    try:
        proc = _cp(moto_cluster, f"s3://{bucket}/obj", f"/dev/fd/{w}", pass_fds=(w,))
        os.close(w)
        w = -1
        got = bytearray()
        while chunk := os.read(r, 1 << 20):  # EOF once the child exits
            got += chunk
        _, err = proc.communicate(timeout=120)
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
    assert proc.returncode == 0, err
    assert bytes(got) == data


def _descriptors() -> dict[int, int]:
    out = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            out[int(name)] = os.fstat(int(name)).st_mode
        except OSError:
            pass
    return out


def test_a_library_never_writes_into_its_own_descriptors(moto_cluster, bucket: str, tmp_path: Path) -> None:
    """In process: every descriptor the client opened (connections, pipes, epoll, the
    /proc directory) is refused by name, and the client goes on working."""
    data = os.urandom(6 * MiB + 1)
    before = _descriptors()

    async def go() -> None:
        async with client_for(moto_cluster) as c:
            await c.put_bytes(f"s3://{bucket}/o", data)
            await c.download(f"s3://{bucket}/o", tmp_path / "warm.bin")
            own = sorted(set(_descriptors()) - set(before))
            assert own, "the client opened no descriptor: nothing was tested"
            for fd in own:
                with pytest.raises(s3fast.ConfigError, match=f"names descriptor {fd}"):
                    await c.download(f"s3://{bucket}/o", f"/dev/fd/{fd}")
            assert await c.get_bytes(f"s3://{bucket}/o") == data

    run(go())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["warm.bin"]
