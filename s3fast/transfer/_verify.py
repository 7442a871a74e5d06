"""Checking a download against the checksum S3 stored.

A FULL_OBJECT checksum is checked from the ranges' checksums, combined in offset order
(each range is checksummed as it lands, or read back from memory). A COMPOSITE one (a
checksum of the stored parts' checksums) is checked on the parts' boundaries
(``_composite``): from the landed bytes when they are kept (a file, a buffer), else from
the ranges' checksums when the ranges tile the parts (a stream, a file object).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import _checksum
from .._errors import ChecksumMismatch
from .._results import Checksum, ObjectHead
from . import _composite

if TYPE_CHECKING:
    from ._context import TransferContext


class DownloadCheck:
    """What one download checks, and the ranges' checksums gathered for it."""

    __slots__ = ("info", "algo", "expected", "combiner", "composite", "pieces")

    def __init__(self, info: ObjectHead, validate: bool) -> None:
        self.info = info
        #: the FULL_OBJECT algorithm and value (None: no full-object check)
        self.algo: _checksum.Algorithm | None = None
        self.expected: str | None = None
        #: (algorithm, "<checksum of part checksums>-N") when S3 stored a COMPOSITE one
        self.composite: tuple[_checksum.Algorithm, str] | None = None
        #: ranges' checksums for a COMPOSITE check when the bytes are not kept
        self.pieces: _checksum.Combiner | None = None
        if validate and info.checksum:
            algo = _checksum.ALGORITHMS.get(info.checksum.algorithm)
            if info.checksum.type == "FULL_OBJECT":
                self.algo = algo
                self.expected = info.checksum.value
            elif algo is not None:
                self.composite = (algo, info.checksum.value)
                self.pieces = _checksum.Combiner(algo)
        self.combiner = _checksum.Combiner(self.algo) if self.algo else None

    def __repr__(self) -> str:
        kind = "full-object" if self.expected else "composite" if self.composite else "none"
        return f"<DownloadCheck {kind} s3://{self.info.bucket}/{self.info.key}>"

    @property
    def checksum(self) -> Checksum | None:
        """The stored checksum for the result; None when S3 stored none (or the check is off)."""
        if self.algo and self.expected:
            return Checksum(self.algo.name, self.expected, "FULL_OBJECT")
        if self.composite is not None:
            return Checksum(self.composite[0].name, self.composite[1], "COMPOSITE")
        return None

    def verify(self) -> bool:
        """Check the combined ranges against a FULL_OBJECT checksum: True when it matched,
        False when there is none to check; raises ChecksumMismatch."""
        if self.combiner is None or self.algo is None or self.expected is None:
            return False
        info = self.info
        actual = self.algo.encode(self.combiner.result(info.size))
        if actual != self.expected:
            raise ChecksumMismatch(
                f"s3://{info.bucket}/{info.key}: received bytes have {self.algo.name}={actual}, "
                f"S3 stored {self.expected}; the download was discarded",
                algorithm=self.algo.name, expected=self.expected, actual=actual,
            )
        return True

    async def verify_composite(self, ctx: TransferContext,
                               landed: Callable[[_checksum.Algorithm], Callable[[int, int], int]] | None) -> bool:
        """Check against a COMPOSITE checksum: the landed bytes (``landed(algo)`` gives their
        range checksums), or without them (None) the ranges' checksums."""
        if self.composite is None:
            return False
        algo, value = self.composite
        if landed is not None:
            range_crc = landed(algo)
        else:
            pieces = self.pieces
            assert pieces is not None

            def range_crc(offset: int, size: int) -> int:
                crc = pieces.span(offset, size)
                if crc is None:
                    raise _composite.Unaligned(f"no ranges tile bytes {offset}-{offset + size - 1}")
                return crc
        return await _composite.verify(ctx, self.info, algo, value, range_crc)
