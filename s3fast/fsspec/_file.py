"""``S3FastFile``: fsspec's buffered file over the s3fast client.

Reads go through the adaptive read-ahead cache (``_readahead``): large sequential fetches
split into parallel ranged GETs, exact small fetches for random access, every range pinned
to the ETag seen at open (a changed object raises ``FileExpired`` instead of mixing
versions).

Writes stream the buffered blocks into one ``Client.upload`` of an async iterator: the
client regroups them into parts (>= 5 MiB), uploads parts in parallel and aborts the
multipart upload when the upload is cancelled. A file that never outgrows one block is a
single PUT at close. Append (``"ab"``) writes the object anew, its current bytes then the
new ones (S3 has no append): those bytes are read pinned to the ETag seen at open, so an
object replaced before they were read fails the append instead of being mixed into it;
one replaced after that is overwritten, as by any PUT. Leaving a ``with`` block by an exception, or ``discard()``, aborts:
nothing half-written becomes an object.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import errno
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fsspec.asyn import sync
from fsspec.caching import caches, register_cache
from fsspec.spec import AbstractBufferedFile

from .._errors import PreconditionFailed, S3FastError
from ._options import s3_url, split_path, translate, upload_kwargs
from ._readahead import AdaptiveReadAhead

if TYPE_CHECKING:
    from ._core import S3FastFileSystem

if AdaptiveReadAhead.name not in caches:
    register_cache(AdaptiveReadAhead)

#: blocks handed to the upload but not yet taken into a part: bounds a writer's memory
_QUEUED_BLOCKS = 2
#: an appended-to object is read into the new one in GETs of this size
_APPEND_PIECE = 8 * 1024 * 1024


class S3FastFile(AbstractBufferedFile):  # type: ignore[misc]  # fsspec ships no types: the base is Any
    fs: S3FastFileSystem
    # Set by fsspec's AbstractBufferedFile: the write buffer (a BytesIO; None once discarded or
    # closed) and the closed flag.
    buffer: Any
    closed: bool

    def __init__(self, fs: S3FastFileSystem, path: str, mode: str = "rb", *, block_size: int,
                 autocommit: bool = True, cache_type: str = "s3fast",
                 cache_options: dict[str, Any] | None = None, create: bool = False, **kwargs: Any) -> None:
        """``create``: the write fails with ``FileExistsError`` if the key exists when the
        object is written (``If-None-Match: *``; mode ``"xb"``)."""
        if not autocommit:
            raise NotImplementedError("s3fast filesystem: transactions (autocommit=False) are not supported")
        self._bucket, self._key = split_path(fs._strip_protocol(path))
        if not self._key:
            raise IsADirectoryError(errno.EISDIR, "Is a bucket, not a file", path)
        self._url = s3_url(self._bucket, self._key)
        self._queue: asyncio.Queue[bytes | BaseException | None] | None = None
        self._task: asyncio.Future[Any] | None = None
        self._etag: str | None = None
        self._create = create
        #: append mode: the size of the object being added to (0: none yet)
        self._prior = 0
        if cache_type == AdaptiveReadAhead.name and "prefetcher" not in (cache_options or {}):
            cache_options = {**(cache_options or {}), "prefetcher": self._prefetch_range}
        super().__init__(fs, path, mode, block_size=block_size, autocommit=autocommit,
                         cache_type=cache_type, cache_options=cache_options, **kwargs)
        if self.mode == "ab":
            try:
                info = fs.info(path)
            except FileNotFoundError:
                info = None
            if info is not None and info["type"] == "file" and info["size"]:
                self._prior, self._etag = info["size"], info.get("ETag") or None
                self.loc = self._prior  # tell() counts from the object's end, as s3fs's
        if self.readable():
            if self.details.get("type") == "directory":
                # a prefix has no bytes: reading it would return b"" as if an empty object
                raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
            self._etag = self.details.get("ETag") or None

    # -- reading -----------------------------------------------------------------------------------
    def _fetch_range(self, start: int, end: int) -> bytearray:
        return sync(self.fs.loop, self.fs._read_range, self.path, self._url, start, end,  # type: ignore[no-any-return]
                    self._etag)

    def read_buffer(self, length: int = -1) -> memoryview:
        """``read`` without the copy into ``bytes``: a read-only view of the read-ahead's
        buffer. pyarrow's ``PythonFile`` calls this instead of ``read`` when a file has it,
        so Parquet column chunks reach Arrow as the very bytes the sockets received."""
        cache = self.cache
        if not isinstance(cache, AdaptiveReadAhead) or self.mode != "rb" or self.closed:
            return memoryview(self.read(length))  # read() raises what applies
        length = self.size - self.loc if length is None or length < 0 else min(int(length), self.size - self.loc)
        if length <= 0:
            return memoryview(b"")
        out = cache.fetch_view(self.loc, self.loc + length).toreadonly()
        self.loc += len(out)
        return out

    def _prefetch_range(self, start: int, end: int) -> concurrent.futures.Future[bytearray] | None:
        """Start fetching ``[start, end)`` on the filesystem's loop and return at once (the
        read-ahead's background fetch); None when called on that loop itself, where waiting
        for it later would block the loop that has to run it."""
        loop = self.fs.loop
        try:
            if asyncio.get_running_loop() is loop:
                return None
        except RuntimeError:
            pass
        coro = self.fs._read_range(self.path, self._url, start, end, self._etag)
        return asyncio.run_coroutine_threadsafe(coro, loop)

    # -- writing -----------------------------------------------------------------------------------
    def _initiate_upload(self) -> None:
        """Nothing yet: a file that fits one block becomes a single PUT at close."""

    def _upload_chunk(self, final: bool = False) -> bool:
        data = self.buffer.getvalue()
        if self._task is None:
            if final and self._prior and not data:
                return True  # an append of nothing: the object stays as it is
            if final and (not self._prior or self._prior + len(data) <= self.blocksize):
                if self._prior:  # a small append: the old bytes and the new in one PUT
                    prior = sync(self.fs.loop, self.fs._read_range, self.path, self._url, 0, self._prior,
                                 self._etag)
                    data = bytes(prior) + data
                sync(self.fs.loop, self.fs._pipe_file, self.path, data, "create" if self._create else "overwrite",
                     **self.kwargs)
                return True
            sync(self.fs.loop, self._start)
        sync(self.fs.loop, self._push, data)
        if final:
            sync(self.fs.loop, self._finish)
        return True

    async def _start(self) -> None:
        self._queue = asyncio.Queue(_QUEUED_BLOCKS)
        client = self.fs._clients.get()
        source: AsyncIterator[bytes | bytearray] = _drain(self._queue)
        if self._prior:
            source = _chain(self._prior_bytes(), source)
        self._task = asyncio.ensure_future(client.upload(source, self._url, if_none_match=self._create,
                                                         **upload_kwargs(self.kwargs)))

    async def _prior_bytes(self) -> AsyncIterator[bytes | bytearray]:
        """The appended-to object's bytes, as of open (a changed object fails the read)."""
        for start in range(0, self._prior, _APPEND_PIECE):
            yield await self.fs._read_range(self.path, self._url, start, min(start + _APPEND_PIECE, self._prior),
                                            self._etag)

    async def _push(self, data: bytes | BaseException | None) -> None:
        assert self._queue is not None and self._task is not None
        put = asyncio.ensure_future(self._queue.put(data))
        # The upload may fail while the queue is full: wait for whichever comes first.
        await asyncio.wait({put, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()
            await asyncio.gather(put, return_exceptions=True)
        if self._task.done() and not isinstance(data, _Discarded):
            await self._result()

    async def _finish(self) -> None:
        await self._push(None)
        await self._result()
        self.fs.invalidate_cache(self.path)

    async def _result(self) -> None:
        assert self._task is not None
        try:
            await self._task
        except PreconditionFailed as exc:
            if not self._create:
                raise translate(exc, self.path) from exc
            self.fs.invalidate_cache(self.path)
            raise FileExistsError(errno.EEXIST, "File exists", self.path) from exc
        except S3FastError as exc:
            raise translate(exc, self.path) from exc

    async def _abort(self) -> None:
        if self._task is None:
            return
        # Fail the upload's source rather than cancel the upload: the client then aborts the
        # multipart upload itself. A cancellation could land while CreateMultipartUpload is
        # on the wire, and the upload it creates would be orphaned (its id never read).
        if not self._task.done():
            await self._push(_Discarded())
        await asyncio.gather(self._task, return_exceptions=True)

    def discard(self) -> None:
        """Throw the written data away: no object is created, a started upload is aborted."""
        if self.writable() and not self.closed:
            sync(self.fs.loop, self._abort)
            self.buffer = None
            self.closed = True

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if exc_type is not None and self.writable() and not self.closed:
            self.discard()
            return
        self.close()


class _Discarded(Exception):
    """Ends a discarded file's upload stream with a failure (so the upload aborts)."""


async def _chain(*sources: AsyncIterator[bytes | bytearray]) -> AsyncIterator[bytes | bytearray]:
    for source in sources:
        async for block in source:
            yield block


async def _drain(queue: asyncio.Queue[bytes | BaseException | None]) -> AsyncIterator[bytes]:
    while True:
        block = await queue.get()
        if block is None:
            return
        if isinstance(block, BaseException):
            raise block
        yield block
