"""Destinations that name a descriptor (/dev/fd/N, /proc/self/fd/N, /dev/stdout): only a
descriptor the caller can have meant is written; s3fast's own never are."""
from __future__ import annotations

import json
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


_LIBRARY_PROGRAM = r"""
import asyncio, json, os, sys
import s3fast  # as a program does, before its event loop exists

bucket, loop_kind = sys.argv[1], sys.argv[2]
at_import = set(int(n) for n in os.listdir("/proc/self/fd"))

async def main():
    out = {}
    async with s3fast.Client(endpoint_url=os.environ["AWS_ENDPOINT_URL"], resolve=json.loads(sys.argv[3])) as c:
        await c.download(f"s3://{bucket}/small", os.devnull)  # connections, pipes, threads: all open now
        for fd in sorted(set(int(n) for n in os.listdir("/proc/self/fd")) - at_import):
            try:
                await c.download(f"s3://{bucket}/small", f"/dev/fd/{fd}")
                out[fd] = "written"
            except s3fast.ConfigError as exc:
                out[fd] = "refused" if f"names descriptor {fd}" in str(exc) else str(exc)
            except Exception as exc:  # what the guard exists to prevent: a write that reached it
                out[fd] = f"{type(exc).__name__}: {exc}"
        out["works"] = (await c.get_bytes(f"s3://{bucket}/small")) == b"x" * 1000
    print(json.dumps(out))

(asyncio.run if loop_kind == "asyncio" else __import__("uvloop").run)(main())
"""


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_a_program_never_writes_into_its_loops_descriptors(moto_cluster, bucket: str, loop_kind: str) -> None:
    """The usual program: ``import s3fast``, then ``asyncio.run(main())`` (or uvloop's) with
    the client made inside the loop. Every descriptor opened after the import (the loop's
    self-pipe or libuv's pipes, epoll, eventfd, connections) is refused by name."""
    moto_cluster.boto3_client().put_object(Bucket=bucket, Key="small", Body=b"x" * 1000)
    proc = subprocess.run([sys.executable, "-c", _LIBRARY_PROGRAM, bucket, loop_kind,
                           json.dumps(moto_cluster.resolver_map)], env=_env(moto_cluster),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out.pop("works") is True
    assert out, "the program opened no descriptor: nothing was tested"
    assert set(out.values()) == {"refused"}, out
