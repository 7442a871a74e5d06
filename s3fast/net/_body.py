"""What a request body can be, as a connection sends it.

Bytes-like bodies and :class:`FileSlice` are sent as they are. Anything else is an
:class:`EncodedBody`: a body that frames itself piece by piece as it goes out, so a
layer above (S3's aws-chunked encoding with a checksum trailer) can compute over each
piece just before it is sent, without the connection knowing the encoding.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, Union


@dataclass(frozen=True, slots=True)
class FileSlice:
    """``size`` bytes of an open file at ``offset``: sent with ``os.sendfile`` when the
    connection is plain TCP (zero-copy), else read in chunks."""

    fd: int
    offset: int
    size: int


#: buffers to write (in one writev) and how many payload bytes they carry
Piece = tuple[tuple[Union[bytes, memoryview], ...], int]


class EncodedBody(Protocol):
    """``length`` is the encoded size on the wire (the Content-Length). ``pieces()`` yields
    the encoded body piece by piece; the connection asks for the next piece only once the
    socket has taken the previous one, so each is produced while it is hot in cache."""

    @property
    def length(self) -> int: ...

    def pieces(self) -> Iterator[Piece]: ...


Body = Union[bytes, bytearray, memoryview, FileSlice, EncodedBody, None]
