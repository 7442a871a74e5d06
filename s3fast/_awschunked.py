"""S3's ``aws-chunked`` upload encoding, with the body's checksum in a trailer.

Sent with ``x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER``, as the AWS SDKs
send them: the checksum is computed chunk by chunk as the bytes go out, so over TLS,
where every byte passes through user space anyway, the data is read once instead of
twice (checksum first, for a header, then send). To the connection this is an
:class:`~s3fast.net._body.EncodedBody`.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from . import _checksum
from ._errors import LocalIOError, NetworkError
from .net._body import FileSlice, Piece

#: Bytes of one aws-chunked chunk: each is read (a file's through pread), checksummed
#: and encrypted while it is hot in cache.
TRAILER_CHUNK = 256 * 1024


class TrailerBody:
    """``source`` as aws-chunked, ``chunk`` bytes a chunk, its checksum in the trailer.
    ``crc`` holds the checksum once a send has gone through; ``length`` is the encoded
    length (the Content-Length)."""

    __slots__ = ("source", "size", "algo", "chunk", "crc", "length", "_read")

    def __init__(self, source: FileSlice | memoryview, algo: _checksum.Algorithm,
                 chunk: int = TRAILER_CHUNK) -> None:
        self.source = source
        self._read: Callable[[int, int], bytes | memoryview]
        if isinstance(source, FileSlice):
            self.size = source.size
            self._read = _file_reader(source)
        else:
            self.size = source.nbytes
            self._read = _view_reader(source)
        self.algo = algo
        self.chunk = chunk
        self.crc: int | None = None
        self.length = trailer_length(self.size, algo, chunk)

    def __repr__(self) -> str:
        return f"<TrailerBody {self.algo.name} size={self.size} length={self.length} crc={self.crc}>"

    def trailer(self, crc: int) -> bytes:
        return f"0\r\n{self.algo.header}:{self.algo.encode(crc)}\r\n\r\n".encode()

    def pieces(self) -> Iterator[Piece]:
        update = self.algo.update
        read = self._read
        size, step = self.size, self.chunk
        crc = 0
        sent = 0
        framing = b"%x\r\n"  # a chunk's "\r\n" goes out with the next one's size line
        while sent < size:
            n = min(step, size - sent)
            data = read(sent, n)
            crc = update(data, crc)
            yield (framing % n, data), n
            framing = b"\r\n%x\r\n"
            sent += n
        yield ((b"\r\n" if size else b"") + self.trailer(crc),), 0
        self.crc = crc


def _file_reader(src: FileSlice) -> Callable[[int, int], bytes | memoryview]:
    fd, base = src.fd, src.offset

    def read(at: int, n: int) -> bytes:
        try:
            data = os.pread(fd, n, base + at)
        except OSError as exc:
            raise LocalIOError(f"cannot read the upload source: {exc.strerror}") from None
        if len(data) != n:
            raise NetworkError("source file shrank while uploading", kind="source")
        return data

    return read


def _view_reader(view: memoryview) -> Callable[[int, int], bytes | memoryview]:
    def read(at: int, n: int) -> memoryview:
        return view[at:at + n]

    return read


def trailer_length(size: int, algo: _checksum.Algorithm, chunk: int = TRAILER_CHUNK) -> int:
    """Encoded length of ``size`` bytes as aws-chunked, ``chunk`` bytes a chunk, plus the
    terminating chunk and the checksum trailer."""
    full, rest = divmod(size, chunk)
    n = full * (len(f"{chunk:x}") + 4 + chunk)
    if rest:
        n += len(f"{rest:x}") + 4 + rest
    return n + len(f"0\r\n{algo.header}:{algo.encode(0)}\r\n\r\n")
