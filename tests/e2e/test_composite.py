"""Downloads checked against a COMPOSITE checksum (a checksum of the parts' checksums, "-N").

Objects are made the way other clients make them: a boto3 multipart upload with CRC32 part
checksums, straight to moto, whose GET then carries ``x-amz-checksum-crc32: <b64>-N`` and
``x-amz-checksum-type: COMPOSITE``. (moto's composite CRC32C is not S3's, so CRC32 here.)
"""
from __future__ import annotations

import base64
import io
import os
import zlib
from pathlib import Path

import pytest
from e2e_helpers import MiB, SMALL, client_for, run
from support.faultcluster import FaultCluster
from support.faultrules import Rule, corrupt

import s3fast
from s3fast._checksum import ALGORITHMS, Combiner
from s3fast.transfer._composite import composite, equal_parts, split_value, verify

CRC32 = ALGORITHMS["crc32"]


def _b64(crc: int) -> str:
    return base64.b64encode(crc.to_bytes(4, "big")).decode()


def put_multipart(moto_cluster, bucket: str, key: str, parts: list[bytes]) -> str:
    """Upload ``parts`` as another client would; return S3's composite value."""
    s3 = moto_cluster.boto3_client()
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="CRC32")["UploadId"]
    done = []
    for n, body in enumerate(parts, 1):
        crc = _b64(zlib.crc32(body))
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=body,
                              ChecksumCRC32=crc)["ETag"]
        done.append({"PartNumber": n, "ETag": etag, "ChecksumCRC32": crc})
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": done})
    joined = b"".join(zlib.crc32(p).to_bytes(4, "big") for p in parts)
    return f"{_b64(zlib.crc32(joined))}-{len(parts)}"


# -- the pure pieces ---------------------------------------------------------------------------

def test_split_value_takes_the_count_from_the_suffix_or_the_etag() -> None:
    assert split_value("aF9fdg==-3", '"abc-7"') == ("aF9fdg==", 3, True)
    # suffix dropped (moto's HEAD) or never there (an unlabelled full-object value)
    assert split_value("aF9fdg==", '"abc-7"') == ("aF9fdg==", 7, False)
    assert split_value("aF9fdg==", '"abc"') is None  # nothing says how many parts


def test_a_value_only_inferred_composite_is_tried_as_full_object_and_never_fails() -> None:
    """A multipart CRC32C without "-N" or type may be a store's unlabelled full-object
    checksum (s3fast's own multipart uploads carry those): it verifies as one, and any other
    mismatch leaves the download unverified instead of failing it. (With "-N" a mismatch
    fails: see the fault test below.)"""
    data = os.urandom(3000)
    info = s3fast.ObjectHead(bucket="b", key="k", size=len(data), etag='"abc-1"')

    async def check(value: str) -> bool:
        return await verify(None, info, CRC32, value,  # type: ignore[arg-type]
                            lambda off, n: CRC32.of(data[off:off + n]))

    assert run(check(_b64(zlib.crc32(data)))) is True
    assert run(check(_b64(zlib.crc32(data) ^ 1))) is False


def test_equal_parts_fit_the_size_or_are_refused() -> None:
    assert equal_parts(12, 3, 5) == [5, 5, 2]
    assert equal_parts(15, 3, 5) == [5, 5, 5]
    assert equal_parts(16, 3, 5) is None  # a last part larger than the others
    assert equal_parts(10, 3, 5) is None  # no bytes left for the last part
    assert equal_parts(10, 2, -1) is None  # the store gave no size


def test_composite_is_the_checksum_of_the_part_checksums() -> None:
    parts = [os.urandom(1000), os.urandom(700), os.urandom(3)]
    data = b"".join(parts)
    expected = _b64(zlib.crc32(b"".join(zlib.crc32(p).to_bytes(4, "big") for p in parts)))
    assert composite(CRC32, [1000, 700, 3], lambda off, n: CRC32.of(data[off:off + n])) == expected
    assert composite(CRC32, [1700, 3], lambda off, n: CRC32.of(data[off:off + n])) != expected


def test_pieces_combine_over_the_spans_they_tile_exactly() -> None:
    data = os.urandom(1000)
    pieces = Combiner(CRC32)
    for off, n in ((0, 300), (300, 200), (500, 500)):
        pieces.add(off, CRC32.of(data[off:off + n]), n)
    assert pieces.span(0, 500) == CRC32.of(data[:500])
    assert pieces.span(300, 700) == CRC32.of(data[300:])
    assert pieces.span(0, 1000) == CRC32.of(data)
    assert pieces.span(0, 400) is None  # ends inside a piece
    assert pieces.span(100, 400) is None  # starts inside one


# -- against moto --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("sizes", "config", "stream_verified"),
    [
        # equal parts: one HEAD ?partNumber=1; a stream's ranges are the parts
        ([5 * MiB, 5 * MiB, 123], SMALL, True),
        # unequal: every part's size asked for; ranges straddle parts (a stream cannot tell)
        ([6 * MiB, 5 * MiB + 7, 4 * MiB], SMALL, False),
        # one GET for the whole object (a stream's one range spans both parts)
        ([5 * MiB, 123], s3fast.TransferConfig(), False),
    ],
    ids=["equal", "unequal", "single-get"],
)
def test_composite_download_is_verified(moto_cluster, bucket: str, tmp_path: Path, sizes: list[int],
                                        config: s3fast.TransferConfig, stream_verified: bool) -> None:
    parts = [os.urandom(n) for n in sizes]
    data = b"".join(parts)
    stored = put_multipart(moto_cluster, bucket, "composite", parts)
    dst = tmp_path / "composite.bin"

    async def go() -> None:
        async with client_for(moto_cluster, config) as c:
            to_file = await c.download(f"s3://{bucket}/composite", dst)
            assert to_file.checksum_verified and to_file.checksum == s3fast.Checksum("crc32", stored, "COMPOSITE")
            buf = bytearray()
            in_memory = await c.download(f"s3://{bucket}/composite", buf)
            assert in_memory.checksum_verified and bytes(buf) == data
            # A file object's bytes are gone when the last part lands: its ranges' checksums
            # are combined per part when they tile the parts, else it is unverified (and never
            # failed: its HEAD, from moto, drops the "-N" and the type).
            out = io.BytesIO()
            to_fileobj = await c.download(f"s3://{bucket}/composite", out)
            assert to_fileobj.checksum_verified == stream_verified and out.getvalue() == data
            assert b"".join([chunk async for chunk in c.stream(f"s3://{bucket}/composite")]) == data

    run(go())
    assert dst.read_bytes() == data


def test_composite_mismatch_fails_and_leaves_nothing(moto_cluster, fault_cluster: FaultCluster,
                                                    tmp_path: Path) -> None:
    bucket = fault_cluster.make_bucket()
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(99)]
    stored = put_multipart(moto_cluster, bucket, "obj", parts)
    rule = fault_cluster.add_rule(Rule(corrupt(4321), method="GET", path=r"/obj", nth=1))
    dst = tmp_path / "obj.bin"

    async def go() -> s3fast.ChecksumMismatch:
        async with client_for(fault_cluster, SMALL) as c:
            with pytest.raises(s3fast.ChecksumMismatch) as info:
                await c.download(f"s3://{bucket}/obj", dst)
            return info.value

    err = run(go())
    assert rule.fired == 1
    assert err.algorithm == "crc32" and err.expected == stored and err.actual != stored
    assert "composite of 3 parts" in str(err) and "discarded" in str(err)
    assert list(tmp_path.iterdir()) == []  # no destination and no temporary file
