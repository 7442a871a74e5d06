"""Bytes handed on in order (stream(), a writer, stdout) are checked against the checksum
S3 stored, like a file or a buffer: a corrupt body ends in ChecksumMismatch, not success."""
from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from e2e_helpers import MiB, SMALL, client_for, run
from support.faultrules import Rule, corrupt

import s3fast


class _Writer:
    """Not one of io's own writers: it keeps nothing, but s3fast cannot know that."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, b: memoryview) -> int:
        self.data += b
        return len(b)


def _corrupt_object(fault_cluster, size: int) -> tuple[str, Rule]:  # type: ignore[no-untyped-def]
    bucket = fault_cluster.moto.make_bucket()
    fault_cluster.moto.boto3_client().put_object(Bucket=bucket, Key="obj", Body=os.urandom(size),
                                                 ChecksumAlgorithm="CRC64NVME")
    # Every GET of the object (whole or ranged) has one byte flipped; HEADs are untouched.
    return bucket, fault_cluster.add_rule(Rule(corrupt(777), method="GET", path=r"/obj$"))


@pytest.mark.parametrize("size", [1000, 12 * MiB + 5], ids=["one-range", "ranges"])
@pytest.mark.parametrize("how", ["stream", "bytesio", "writer"])
def test_in_order_downloads_check_the_stored_checksum(fault_cluster, size: int, how: str) -> None:
    bucket, rule = _corrupt_object(fault_cluster, size)

    async def go() -> None:
        async with client_for(fault_cluster, SMALL) as c:
            with pytest.raises(s3fast.ChecksumMismatch) as info:
                if how == "stream":
                    async for _ in c.stream(f"s3://{bucket}/obj"):
                        pass
                else:
                    await c.download(f"s3://{bucket}/obj", io.BytesIO() if how == "bytesio" else _Writer())
            assert info.value.algorithm == "crc64nvme"

    run(go())
    assert rule.fired >= 1


def test_cli_download_to_stdout_checks_the_stored_checksum(fault_cluster) -> None:
    bucket, rule = _corrupt_object(fault_cluster, 6 * MiB + 1)
    out = subprocess.run(
        [sys.executable, "-m", "s3fast.cli", "cp", f"s3://{bucket}/obj", "-", "--part-size", "5MiB",
         "--resolve", f"{fault_cluster.host}:{','.join(fault_cluster.ips)}"],
        capture_output=True, env={**os.environ, "AWS_ENDPOINT_URL": fault_cluster.endpoint_url},
        timeout=120, check=False)
    assert out.returncode == 1, out.stderr
    assert b"crc64nvme" in out.stderr and b"Traceback" not in out.stderr
    assert rule.fired >= 1
