"""``await fs.open_async(path)``: a file read with ranged GETs on the caller's event loop.

Each ``read`` is one range (parallel 8 MiB pieces when large), pinned with ``If-Match`` to
the ETag seen at open: an object replaced under the file raises ``OSError(ESTALE)`` rather
than mixing two versions. No read-ahead (fsspec's async files have none): a reader that
wants it reads larger pieces, or uses the synchronous ``open``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fsspec.asyn import AbstractAsyncStreamedFile

from ._options import s3_url, split_path

if TYPE_CHECKING:
    from ._core import S3FastFileSystem


class S3FastAsyncFile(AbstractAsyncStreamedFile):  # type: ignore[misc]  # fsspec ships no types: the base is Any
    def __init__(self, fs: S3FastFileSystem, path: str, info: dict[str, Any]) -> None:
        # Not AbstractBufferedFile.__init__: it would ask the size synchronously; the
        # caller's ``_info`` gave it.
        self.fs = fs
        self.path = path
        self.mode = "rb"
        self.details = info
        self.size = int(info["size"])
        self.loc = 0
        self.closed = False
        self.cache = None
        self.autocommit = True
        self._etag: str | None = info.get("ETag") or None
        bucket, key = split_path(path)
        self._url = s3_url(bucket, key)

    def __repr__(self) -> str:
        return f"<S3FastAsyncFile {self.path} at {self.loc} of {self.size}{' closed' if self.closed else ''}>"

    async def read(self, length: int = -1) -> bytes:
        """Up to ``length`` bytes from the current position (all that is left for -1)."""
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        length = -1 if length is None else int(length)
        end = self.size if length < 0 else min(self.loc + length, self.size)
        if end <= self.loc:
            return b""
        data = await self.fs._read_range(self.path, self._url, self.loc, end, self._etag)
        self.loc += len(data)
        return bytes(data)

    async def close(self) -> None:
        self.closed = True


__all__ = ["S3FastAsyncFile"]
