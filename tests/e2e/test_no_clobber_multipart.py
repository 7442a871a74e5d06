"""No-clobber for multipart uploads is S3's own check, not a HEAD before the write.

``If-None-Match: *`` goes on CompleteMultipartUpload, where S3 (and moto, and SeaweedFS)
checks it as the object would appear: a key that exists by then -- even one written after
the upload started -- is refused with 412, the upload is aborted, and the object is left
as it was.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from e2e_helpers import MiB, SMALL, cli, client_for, run

import s3fast

DATA = os.urandom(12 * MiB)  # three parts of SMALL's 5 MiB


def uploads_left(moto_cluster, bucket: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [u["Key"] for u in moto_cluster.boto3_client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def test_multipart_upload_onto_an_existing_key_is_refused_by_s3_and_aborted(moto_cluster, bucket: str) -> None:
    s3 = moto_cluster.boto3_client()
    s3.put_object(Bucket=bucket, Key="taken", Body=b"first writer")

    async def go() -> None:
        async with client_for(moto_cluster, SMALL) as c:
            with pytest.raises(s3fast.PreconditionFailed):
                await c.upload(DATA, f"s3://{bucket}/taken", if_none_match=True)

    run(go())
    assert s3.get_object(Bucket=bucket, Key="taken")["Body"].read() == b"first writer"
    assert uploads_left(moto_cluster, bucket) == []


def test_multipart_upload_onto_a_free_key_completes(moto_cluster, bucket: str) -> None:
    async def go() -> s3fast.TransferResult:
        async with client_for(moto_cluster, SMALL) as c:
            return await c.upload(DATA, f"s3://{bucket}/free", if_none_match=True)

    result = run(go())
    assert result.parts == 3
    assert moto_cluster.boto3_client().get_object(Bucket=bucket, Key="free")["Body"].read() == DATA


def test_cli_no_clobber_of_a_large_file_leaves_the_object(moto_cluster, bucket: str, tmp_path: Path) -> None:
    s3 = moto_cluster.boto3_client()
    s3.put_object(Bucket=bucket, Key="dir/big.bin", Body=b"first writer")
    src = tmp_path / "big.bin"
    src.write_bytes(DATA)
    env = {"AWS_ENDPOINT_URL": moto_cluster.endpoint_url}
    resolve = f"{moto_cluster.host}:{','.join(moto_cluster.ips)}"
    for args in (["cp", str(src), f"s3://{bucket}/dir/big.bin"], ["cp", "-r", str(tmp_path), f"s3://{bucket}/dir/"]):
        proc = cli(*args, "--no-clobber", "--part-size", "5MiB",  # 12 MiB: above the 8 MiB threshold
                   "--resolve", resolve, env=env)
        assert proc.returncode == 0, proc.stderr
        assert s3.get_object(Bucket=bucket, Key="dir/big.bin")["Body"].read() == b"first writer", args
    assert uploads_left(moto_cluster, bucket) == []
