"""Full-object checksums (CRC64NVME, CRC32C, CRC32) with awscrt's C code (~24 GB/s here).

Parts are checksummed independently, in any order, and combined in order with
awscrt's ``combine_*`` (no second pass over the data): that is how a multipart upload
gets the FULL_OBJECT checksum S3 requires for CRC64NVME, and how a parallel ranged
download checks the object S3 stored.

Why awscrt and not a smaller library: it is the one well-kept package with all three
CRCs at memory speed *and* their combine; crc32c and google-crc32c have CRC32C only, the
crc64fast bindings only a hashlib-style object (no continuing from a stored value, no
combine). Its shared library is large to load, so it is loaded on the first checksum
actually needed (:data:`ALGORITHMS` is built then), not with s3fast: listing, deleting
or a download of an object stored without a checksum never load it.
"""
from __future__ import annotations

import base64
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal


@dataclass(frozen=True)
class Algorithm:
    name: str  # "crc64nvme"
    width: int  # bytes
    update: Callable[[object, int], int]
    combine: Callable[[int, int, int], int]
    #: "x-amz-checksum-crc64nvme"; "CRC64NVME" (derived, read on every request)
    header: str = field(init=False, repr=False, compare=False)
    s3_name: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "header", f"x-amz-checksum-{self.name}")
        object.__setattr__(self, "s3_name", self.name.upper())

    def encode(self, value: int) -> str:
        return base64.b64encode(value.to_bytes(self.width, "big")).decode()

    def decode(self, text: str) -> int:
        return int.from_bytes(base64.b64decode(text), "big")

    def of(self, data: object) -> int:
        return self.update(data, 0)


_NAMES = ("crc64nvme", "crc32c", "crc32")
_WIDTHS = {"crc64nvme": 8, "crc32c": 4, "crc32": 4}
_BY_HEADER = tuple((f"x-amz-checksum-{name}", name) for name in _NAMES)
_LOADED: dict[str, Algorithm] | None = None
if TYPE_CHECKING:
    ALGORITHMS: dict[str, Algorithm]


def _algorithms() -> dict[str, Algorithm]:
    global _LOADED
    table = _LOADED
    if table is None:
        from awscrt import checksums as crt

        # Built whole, then published in one assignment: a thread that races this one
        # never sees a half-filled table.
        table = {name: Algorithm(name, _WIDTHS[name], getattr(crt, name), getattr(crt, f"combine_{name}"))
                 for name in _NAMES}
        _LOADED = table
    return table


def __getattr__(name: str) -> object:
    # ALGORITHMS (name -> Algorithm) is built, and awscrt loaded, on first access.
    if name == "ALGORITHMS":
        return _algorithms()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get(name: str) -> Algorithm | None:
    return None if name == "none" else _algorithms()[name]


def from_headers(headers: dict[str, str]) -> tuple[Algorithm, str, Literal["FULL_OBJECT", "COMPOSITE"]] | None:
    """The checksum S3 returned: (algorithm, base64 value, type FULL_OBJECT/COMPOSITE).

    S3 states the type (``x-amz-checksum-type``) and suffixes a composite value with
    "-N". Where a store says neither (moto's HEAD answers, older S3-compatible servers)
    the type is inferred: a single-part object's checksum covers its bytes; a multipart
    object's is composite (a checksum of the parts' checksums) unless the algorithm is
    CRC64NVME, which S3 keeps only as a full-object checksum. In doubt COMPOSITE: a
    full-object guess would fail a correct download.
    """
    for header, name in _BY_HEADER:
        value = headers.get(header)
        if value:
            algo = _algorithms()[name]
            kind = headers.get("x-amz-checksum-type", "").upper()
            if not kind:
                multipart = "-" in headers.get("etag", "")
                composite = "-" in value or (multipart and algo.name != "crc64nvme")
                kind = "COMPOSITE" if composite else "FULL_OBJECT"
            return algo, value, "FULL_OBJECT" if kind == "FULL_OBJECT" else "COMPOSITE"  # in doubt COMPOSITE
    return None


class Combiner:
    """Checksums of consecutive pieces, in any order of arrival, combined in offset order."""

    __slots__ = ("algo", "_pieces")

    def __init__(self, algo: Algorithm) -> None:
        self.algo = algo
        self._pieces: dict[int, tuple[int, int]] = {}  # offset -> (crc, length)

    def add(self, offset: int, crc: int, length: int) -> None:
        self._pieces[offset] = (crc, length)

    def span(self, offset: int, size: int) -> int | None:
        """The checksum of ``size`` bytes at ``offset`` when whole pieces tile exactly that
        span (a stored part made of downloaded ranges); None when they do not."""
        crc = 0
        pos = offset
        end = offset + size
        while pos < end:
            piece = self._pieces.get(pos)
            if piece is None or pos + piece[1] > end:
                return None
            crc = self.algo.combine(crc, piece[0], piece[1]) if pos > offset else piece[0]
            pos += piece[1]
        return crc if size else None

    def result(self, total: int) -> int:
        crc = 0
        pos = 0
        for offset in sorted(self._pieces):
            if offset != pos:
                raise ValueError(f"checksum pieces do not cover the object: gap at {pos}")
            piece, length = self._pieces[offset]
            crc = self.algo.combine(crc, piece, length) if pos else piece
            pos += length
        if pos != total:
            raise ValueError(f"checksum pieces cover {pos} of {total} bytes")
        return crc


def file_range_crc(algo: Algorithm, fd: int, offset: int, size: int, chunk: int = 8 << 20) -> int:
    """Checksum ``size`` bytes of a file at ``offset`` (mmap: no copy into Python)."""
    return file_range_update(algo.update, fd, offset, size, 0, chunk)


def file_range_update(update: Callable[[object, int], int], fd: int, offset: int, size: int, crc: int,
                      chunk: int = 8 << 20) -> int:
    """Continue checksum ``crc`` over ``size`` bytes of a file at ``offset`` (mmap, read-only)."""
    import mmap

    if size == 0:
        return crc
    page = mmap.ALLOCATIONGRANULARITY
    start = offset - offset % page
    with mmap.mmap(fd, size + (offset - start), access=mmap.ACCESS_READ, offset=start) as mm:
        view = memoryview(mm)
        try:
            pos = offset - start
            end = pos + size
            while pos < end:
                n = min(chunk, end - pos)
                crc = update(view[pos:pos + n], crc)
                pos += n
            return crc
        finally:
            view.release()


def fd_size(fd: int) -> int:
    return os.fstat(fd).st_size
