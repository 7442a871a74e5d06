"""Which checksum an S3 answer carries, and whether it covers the object's bytes.

A composite checksum (a checksum of the parts' checksums) taken for a full-object one
fails a correct download, so where the store does not say, the guess must lean to
COMPOSITE (checked on the parts' boundaries, or reported unverified).
"""
from __future__ import annotations

import pytest

from s3fast._checksum import from_headers

SINGLE = '"9b2cf535f27731c974343645a3985328"'
MULTI = '"3cea9fef1ffe4930fa0c66eac60c74d9-3"'


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        # S3 states the type: believed whatever the value or ETag look like.
        ({"x-amz-checksum-crc32": "aF9fdg==-3", "x-amz-checksum-type": "COMPOSITE", "etag": MULTI}, "COMPOSITE"),
        ({"x-amz-checksum-crc32c": "yZRlqg==", "x-amz-checksum-type": "FULL_OBJECT", "etag": MULTI}, "FULL_OBJECT"),
        ({"x-amz-checksum-crc32": "aF9fdg==", "x-amz-checksum-type": "full_object", "etag": SINGLE}, "FULL_OBJECT"),
        # No type: a "-N" suffix is a composite of N parts.
        ({"x-amz-checksum-crc32": "aF9fdg==-3", "etag": MULTI}, "COMPOSITE"),
        # No type, no suffix: a single PUT's checksum covers the bytes ...
        ({"x-amz-checksum-crc32": "aF9fdg==", "etag": SINGLE}, "FULL_OBJECT"),
        ({"x-amz-checksum-crc64nvme": "AAAAAAAAAAA=", "etag": SINGLE}, "FULL_OBJECT"),
        # ... a multipart object's CRC64NVME too (S3 keeps no composite CRC64NVME) ...
        ({"x-amz-checksum-crc64nvme": "AAAAAAAAAAA=", "etag": MULTI}, "FULL_OBJECT"),
        # ... but a multipart CRC32/CRC32C without type or suffix (moto's HEAD) may be
        # composite: never checked as if it covered the bytes.
        ({"x-amz-checksum-crc32": "DvZA+g==", "etag": MULTI}, "COMPOSITE"),
        ({"x-amz-checksum-crc32c": "DvZA+g==", "etag": MULTI}, "COMPOSITE"),
    ],
)
def test_checksum_type_is_stated_or_inferred_on_the_safe_side(headers: dict[str, str], expected: str) -> None:
    found = from_headers(headers)
    assert found is not None
    algo, value, kind = found
    assert headers[algo.header] == value
    assert kind == expected


def test_no_checksum_header_is_none() -> None:
    assert from_headers({"etag": MULTI, "x-amz-checksum-type": "COMPOSITE"}) is None
