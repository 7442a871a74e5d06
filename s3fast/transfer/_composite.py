"""Checking a download against a COMPOSITE checksum ("<checksum of the parts' checksums>-N").

Objects from other clients' multipart uploads with CRC32 or CRC32C part checksums (the AWS
CLI and SDKs among them) carry no checksum of their bytes, only this checksum of checksums.
To check one, the bytes are split at the stored parts' boundaries, each part is
checksummed, and the part checksums (big-endian, concatenated) are checksummed again.

The boundaries come from ``HEAD ?partNumber=k`` (a part's Content-Length). Uploaders cut
equal parts but the last, so the first part's size is tried first (one request); only if
that does not match are all N sizes asked for, so an object with unequal parts is checked
on its true boundaries. A mismatch on the true boundaries is a corrupt download, unless the
object changed meanwhile, or the value lacks its "-N" and was only inferred composite (it
may be a full-object checksum a store did not label): then nothing can be said, and the
result is "unverified".

The part checksums are taken from the destination after every byte landed (a second read,
from the page cache for a file), only for COMPOSITE objects. A stream's or file object's
bytes are gone by then: there each range is checksummed as it arrives, and the ranges are
combined per part, which works when they tile the parts (ranges are planned on the stored
parts' boundaries when the object is larger than a range); otherwise "unverified".
"""
from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .._checksum import Algorithm
from .._errors import ChecksumMismatch, S3FastError
from .._transport import Request
from ._meta import stored_part_size
from ._planner import etag_part_count
from ._tasks import run_bounded

if TYPE_CHECKING:
    from ._context import TransferContext
    from .._results import ObjectHead

#: (offset, size) -> the checksum of those bytes of the destination (raises Unaligned when
#: only the checksums of other spans are known: a stream's ranges)
RangeChecksum = Callable[[int, int], int]


class Unaligned(Exception):
    """The bytes are gone and the known range checksums do not tile the asked span."""


def split_value(value: str, etag: str) -> tuple[str, int, bool] | None:
    """``"aF9fdg==-3"`` -> ("aF9fdg==", 3, True). A value without the suffix (moto's HEAD,
    stores that do not type their checksums) takes the part count from the multipart ETag,
    and is flagged as not surely composite (False); None when nothing gives the count."""
    digest, dash, count = value.rpartition("-")
    if dash and count.isdigit():
        return digest, int(count), True
    n = etag_part_count(etag)
    return (value, n, False) if n else None


def equal_parts(size: int, count: int, first: int) -> list[int] | None:
    """Part sizes when all parts but the last are ``first`` bytes; None if that cannot be."""
    if count < 1 or first <= 0:
        return None
    last = size - (count - 1) * first
    if not 0 < last <= first:
        return None
    return [first] * (count - 1) + [last]


def composite(algo: Algorithm, sizes: Sequence[int], range_crc: RangeChecksum) -> str:
    """The composite checksum (without "-N") of the destination cut into ``sizes``."""
    joined = bytearray()
    offset = 0
    for size in sizes:
        joined += range_crc(offset, size).to_bytes(algo.width, "big")
        offset += size
    return base64.b64encode(algo.of(joined).to_bytes(algo.width, "big")).decode()


async def verify(ctx: TransferContext, info: ObjectHead, algo: Algorithm, value: str,
                 range_crc: RangeChecksum) -> bool:
    """True when the downloaded bytes match the COMPOSITE ``value``; False when it cannot be
    told (no part count, a store that ignores ``partNumber``, a HEAD that fails, the object
    changed); raises ChecksumMismatch when the bytes are wrong."""
    split = split_value(value, info.etag)
    if split is None:
        return False
    expected, count, surely_composite = split
    try:
        if not surely_composite and algo.encode(range_crc(0, info.size)) == expected:
            return True  # an unlabelled full-object checksum (s3fast's own multipart uploads)
    except Unaligned:
        pass

    async def part_size(number: int) -> int:
        return await stored_part_size(ctx.transport, info, number)

    try:
        guess = [info.size] if count == 1 else equal_parts(info.size, count, await part_size(1))
        actual = composite(algo, guess, range_crc) if guess is not None else None
        if actual == expected:
            return True
        if count > 1:
            found: dict[int, int] = {}

            async def one(number: int) -> None:
                found[number] = await part_size(number)

            await run_bounded(range(1, count + 1), one, ctx.task_window)
            sizes = [found[n] for n in range(1, count + 1)]
            if min(sizes) < 0 or sum(sizes) != info.size:
                return False  # the store does not serve parts (it answered with the object)
            if sizes != guess:  # the parts are not equal: their true boundaries
                actual = composite(algo, sizes, range_crc)
                if actual == expected:
                    return True
        if not surely_composite:
            # Only inferred composite: it may be a full-object checksum of a store that does
            # not say so. A mismatch then proves nothing, and must not fail a download.
            return False
        # Still the object we downloaded? (Part sizes of a newer one say nothing of ours.)
        await ctx.transport.call(Request("HEAD", info.bucket, info.key, headers={"if-match": info.etag},
                                             expect=(200,)))
    except (S3FastError, Unaligned):
        return False  # a HEAD refused or failed (412: the object changed), or a stream's ranges
    raise ChecksumMismatch(
        f"s3://{info.bucket}/{info.key}: received bytes have {algo.name}={actual}-{count} (composite of "
        f"{count} parts), S3 stored {expected}-{count}; the download was discarded",
        algorithm=algo.name, expected=f"{expected}-{count}", actual=f"{actual}-{count}",
    )
