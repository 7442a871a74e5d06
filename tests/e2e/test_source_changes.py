"""An upload source file that changes size while it is read is a failed upload: no object
made of two versions, no multipart upload left behind."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from e2e_helpers import MiB, SMALL, client_for, run

import s3fast
from s3fast.transfer._planner import Part
from s3fast.transfer._sources import open_source


def _missing(cluster, bucket: str, key: str) -> bool:  # type: ignore[no-untyped-def]
    listing = cluster.boto3_client().list_objects_v2(Bucket=bucket, Prefix=key)
    return listing.get("KeyCount", 0) == 0


@pytest.mark.parametrize("change", ["grow", "shrink"])
def test_multipart_source_changing_size_is_aborted(moto_cluster, bucket: str, tmp_path: Path, change: str) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(12 * MiB))

    def on_part(event: s3fast.PartEvent) -> None:
        if event.number == 1:
            if change == "grow":
                with open(src, "ab") as f:
                    f.write(b"appended while uploading")
            else:
                os.truncate(src, 11 * MiB)

    async def go() -> None:
        async with client_for(moto_cluster, SMALL) as c:
            with pytest.raises(s3fast.S3FastError, match="(changed size|shrank)"):
                await c.upload(src, f"s3://{bucket}/changing", on_part=on_part)

    run(go())
    assert moto_cluster.list_multipart_uploads(bucket) == []
    assert _missing(moto_cluster, bucket, "changing")


def test_single_put_of_a_file_that_grew_fails(moto_cluster, bucket: str, tmp_path: Path) -> None:
    """Sent with one PUT (sendfile): the growth is seen once S3 has answered, and reported."""
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(1 * MiB))

    def on_progress(n: int) -> None:
        with open(src, "ab") as f:
            f.write(b"more")

    async def go() -> None:
        async with client_for(moto_cluster, SMALL) as c:
            with pytest.raises(s3fast.TransferError, match="changed size while being uploaded"):
                await c.upload(src, f"s3://{bucket}/grew", on_progress=on_progress)

    run(go())


def test_small_file_read_sees_growth(tmp_path: Path) -> None:
    """A small file is read whole in one go: the same read notices it grew."""
    path = tmp_path / "small"
    path.write_bytes(b"x" * 1000)
    src = open_source(path)
    try:
        assert src.read(Part(1, 0, 1000)) == b"x" * 1000
        with open(path, "ab") as f:
            f.write(b"y")
        with pytest.raises(s3fast.TransferError, match=r"1000 bytes when opened, at least 1001 now"):
            src.read(Part(1, 0, 1000))
        os.truncate(path, 10)
        with pytest.raises(s3fast.TransferError, match=r"1000 bytes when opened, 10 now"):
            src.read(Part(1, 0, 1000))
    finally:
        src.close()
