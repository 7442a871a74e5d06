"""A download into a kernel filesystem (/proc, /sys, ...) is refused up front, naming the
path and the filesystem: before, /proc/version got "destination directory is not a
directory: /proc" and /proc/self/status "permission denied writing to /proc/self"."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from e2e_helpers import client_for, run

import s3fast
from s3fast.transfer._special import kernel_fs

DESTS = [
    ("/proc/version", "proc"),            # an existing read-only kernel file
    ("/proc/self/status", "proc"),
    ("/proc/sys/kernel/hostname", "proc"),  # a kernel knob: never written with an object
    ("/proc/1/fd/0", "proc"),             # another process's descriptor
    ("/sys/kernel/new-file", "sysfs"),    # a name that does not exist there
]


def _cp(cluster, src: str, dst: str) -> subprocess.CompletedProcess[bytes]:  # type: ignore[no-untyped-def]
    return subprocess.run(
        [sys.executable, "-m", "s3fast.cli", "cp", src, dst, "--quiet",
         "--resolve", f"{cluster.host}:{','.join(cluster.ips)}"],
        capture_output=True, env={**os.environ, "AWS_ENDPOINT_URL": cluster.endpoint_url}, timeout=120, check=False)


@pytest.mark.parametrize(("dest", "fstype"), DESTS)
def test_cli_refuses_a_kernel_filesystem_destination(moto_cluster, bucket: str, dest: str, fstype: str) -> None:
    if kernel_fs(dest) != fstype:
        pytest.skip(f"{dest} is not on {fstype} here")  # a machine without that mount
    moto_cluster.boto3_client().put_object(Bucket=bucket, Key="small", Body=b"hello")
    proc = _cp(moto_cluster, f"s3://{bucket}/small", dest)
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"cannot write {dest}: it is on the kernel's {fstype} filesystem" in err


def test_cli_into_a_kernel_directory_names_the_file(moto_cluster, bucket: str) -> None:
    moto_cluster.boto3_client().put_object(Bucket=bucket, Key="dir/small", Body=b"hello")
    proc = _cp(moto_cluster, f"s3://{bucket}/dir/small", "/proc/self/fd/")
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert "cannot write /proc/self/fd/small: it is on the kernel's proc filesystem" in err


def test_library_refuses_before_any_request(moto_cluster, bucket: str) -> None:
    async def go() -> int:
        async with client_for(moto_cluster) as c:
            with pytest.raises(s3fast.ConfigError, match="kernel's proc filesystem"):
                await c.download(f"s3://{bucket}/never-asked-for", "/proc/version")
            return c.stats.requests

    assert run(go()) == 0  # refused before a request: the object does not even exist


def test_ordinary_paths_and_named_descriptors_are_not_kernel_destinations(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert kernel_fs(str(tmp_path / "x")) is None
    assert kernel_fs("relative/name") is None or os.getcwd().startswith(("/proc", "/sys"))
    assert kernel_fs("/procedure/x") is None  # a prefix of the name is not the mount point
