"""``Client.get_range``, the fsspec filesystem's small random reads, against moto on loopback:
its refusals and S3 errors are the library's own exceptions (they once named exception
classes the module had not imported, so each of these paths raised NameError)."""
from __future__ import annotations

import pytest
from e2e_helpers import client_for, run

import s3fast


def test_get_range_slices_and_refuses_bad_ranges(moto_cluster, bucket: str) -> None:
    url = f"s3://{bucket}/range-obj"

    async def main() -> None:
        async with client_for(moto_cluster) as c:
            await c.put_bytes(url, b"0123456789")
            assert await c.get_range(url, 2, 5) == b"234"
            assert await c.get_range(url, 4, 4) == b""
            # Past the end: S3 answers 416 InvalidRange, which reads as no bytes.
            assert await c.get_range(url, 20, 30) == b""
            with pytest.raises(s3fast.ConfigError, match="bad byte range"):
                await c.get_range(url, 5, 2)
            # Any other S3 error goes through the S3Error handler unchanged.
            with pytest.raises(s3fast.S3Error) as info:
                await c.get_range(f"s3://{bucket}/missing", 0, 4)
            assert info.value.status == 404

    run(main())
