"""``S3FastFileSystem``: fsspec's async filesystem interface over the public s3fast client.

Paths are ``bucket/key`` (``s3fast://``, ``s3://`` and ``s3a://`` prefixes are stripped);
"directories" are key prefixes ending in "/", as S3 consoles and s3fs show them.
"""
from __future__ import annotations

import asyncio
import datetime
import errno
import hashlib
import os
from collections.abc import Awaitable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, TypeVar

from fsspec.asyn import AsyncFileSystem, get_loop

from .._errors import NoSuchBucket, PreconditionFailed, S3Error, S3FastError, printable
from .._s3xml import ObjectInfo
from ._clients import ClientTable
from ._coalesce import DEFAULT_GAP, Group, coalesce
from ._options import (check_write_mode, client_kwargs, progress_to, s3_url, split_path, translate, upload_kwargs,
                       wants_progress, when)

if TYPE_CHECKING:
    from ._file import S3FastFile

T = TypeVar("T")

#: A ranged read larger than this is split into parallel GETs of this size.
RANGE_PIECE = 8 * 1024 * 1024
#: Keys per DeleteObjects request (S3's maximum) and such requests in flight at once.
DELETE_BATCH = 1000
DELETE_WINDOW = 4


def _file_info(bucket: str, obj: ObjectInfo) -> dict[str, Any]:
    return {"name": f"{bucket}/{obj.key}", "size": obj.size, "type": "file", "ETag": obj.etag,
            "LastModified": when(obj.last_modified)}


def _dir_info(name: str) -> dict[str, Any]:
    return {"name": name, "size": 0, "type": "directory"}


class S3FastFileSystem(AsyncFileSystem):  # type: ignore[misc]  # fsspec ships no types: the base is Any
    """fsspec filesystem on s3fast. Storage options mirror :class:`s3fast.Client`:
    ``endpoint_url``, ``region``, ``profile``, ``key``/``secret``/``token`` (or the
    ``aws_*`` names), ``anonymous`` (or ``anon``), ``target_gbps``, ``max_gbps``,
    ``memory_limit``, ``part_size``, ``ca_bundle``, ``verify``, ``resolve``,
    ``addressing_style``, ``config`` (a :class:`s3fast.TransferConfig`).

    Also ``default_block_size`` (write buffer / read-ahead ceiling, default 16 MiB) and
    ``default_cache_type`` (default ``"s3fast"``: adaptive read-ahead, see ``_readahead``).
    """

    protocol = ("s3fast",)
    root_marker = ""
    async_impl = True
    default_block_size = 16 * 1024 * 1024
    _pid: int  # the creating process, set by fsspec's caching metaclass

    def __init__(self, *, asynchronous: bool = False, loop: Any = None, batch_size: int | None = None,
                 default_block_size: int | None = None, default_cache_type: str = "s3fast",
                 skip_instance_cache: bool = False, use_listings_cache: bool = True,
                 listings_expiry_time: float | None = None, max_paths: int | None = None,
                 **options: Any) -> None:
        self._client_kwargs = client_kwargs(options)  # bad options fail here, not at first I/O
        super().__init__(asynchronous=asynchronous, loop=loop, batch_size=batch_size,
                         skip_instance_cache=skip_instance_cache, use_listings_cache=use_listings_cache,
                         listings_expiry_time=listings_expiry_time, max_paths=max_paths)
        if default_block_size is not None:
            self.default_block_size = default_block_size
        self.default_cache_type = default_cache_type
        self._clients = ClientTable(self._client_kwargs)

    def __repr__(self) -> str:
        ep = self._client_kwargs.get("endpoint_url", "AWS")
        return f"<S3FastFileSystem {ep} asynchronous={self.asynchronous} {self._clients!r}>"

    @property
    def loop(self) -> Any:
        # fsspec refuses an instance used across fork; a synchronous instance instead moves
        # to the child's own I/O loop (fsspec makes a new one after fork) and, through
        # ClientTable, to a new client.
        if self._pid != os.getpid() and not self.asynchronous:
            self._loop = get_loop()
            self._pid = os.getpid()
        return self._loop

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = str(path)
        for prefix in ("s3fast://", "s3://", "s3a://"):
            if path.startswith(prefix):
                path = path[len(prefix):]
                break
        return path.strip("/")

    def unstrip_protocol(self, name: str) -> str:
        return f"s3fast://{name}"

    # -- plumbing ------------------------------------------------------------------------------------
    async def _call(self, path: str, aw: Awaitable[T]) -> T:
        try:
            return await aw
        except S3FastError as exc:
            raise translate(exc, path) from exc

    async def aclose(self) -> None:
        """Close the client of the running loop (asynchronous use: call before the loop ends)."""
        client = self._clients.pop_running()
        if client is not None:
            await client.aclose()

    def close(self) -> None:
        """Close the client of this (synchronous) instance's I/O loop."""
        if not self.asynchronous:
            from fsspec.asyn import sync

            sync(self.loop, self.aclose)

    def invalidate_cache(self, path: str | None = None) -> None:
        if path is None:
            self.dircache.clear()
            return
        path = self._strip_protocol(path)
        self.dircache.pop(path, None)
        while path:
            path = self._parent(path)
            self.dircache.pop(path, None)

    # -- metadata --------------------------------------------------------------------------------------
    async def _info(self, path: str, refresh: bool = False, **kwargs: Any) -> dict[str, Any]:
        """``refresh``: ask S3, not the listings cache (as s3fs)."""
        path = self._strip_protocol(path)
        bucket, key = split_path(path)
        if not bucket:
            return _dir_info("")
        if not key:
            await self._bucket_listing_probe(bucket, path)
            return _dir_info(bucket)
        cached = None if refresh else self._info_from_cache(path)
        if cached is not None:
            return cached
        client = self._clients.get()
        try:
            head = await client.head(s3_url(bucket, key), checksum_mode=False)
        except S3Error as exc:
            if exc.status not in (403, 404) or isinstance(exc, NoSuchBucket):
                raise translate(exc, path) from exc
            # no object of that name: a directory if any key lies under it
            if await self._any_under(bucket, key.rstrip("/") + "/", path):
                return _dir_info(path)
            raise translate(exc, path) from exc
        except S3FastError as exc:
            raise translate(exc, path) from exc
        return {"name": path, "size": head.size, "type": "file", "ETag": head.etag,
                "LastModified": when(head.last_modified), "ContentType": head.content_type,
                "VersionId": head.version_id}

    def _info_from_cache(self, path: str) -> dict[str, Any] | None:
        """What a listing already said about ``path``; raises FileNotFoundError when its
        parent's complete listing lacks it."""
        parent = self._parent(path)
        if parent in self.dircache:
            for entry in self.dircache[parent]:
                if entry["name"] == path:
                    return dict(entry)
            if path not in self.dircache:
                raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        if path in self.dircache:
            return _dir_info(path)  # listed as a directory
        return None

    async def _any_under(self, bucket: str, prefix: str, path: str) -> bool:
        client = self._clients.get()
        try:
            async with aclosing(client.list(s3_url(bucket, prefix))) as it:
                async for _ in it:
                    return True
        except S3FastError as exc:
            raise translate(exc, path) from exc
        return False

    async def _bucket_listing_probe(self, bucket: str, path: str) -> None:
        """Raise FileNotFoundError unless the bucket exists (an empty one does)."""
        await self._any_under(bucket, "", path)

    async def _ls(self, path: str, detail: bool = True, refresh: bool = False,
                  **kwargs: Any) -> list[Any]:
        path = self._strip_protocol(path)
        if not refresh and path in self.dircache:
            cached = self.dircache[path]
            return list(cached) if detail else [e["name"] for e in cached]
        bucket, key = split_path(path)
        if not bucket:
            return await self._ls_buckets(detail)
        prefix = key + "/" if key else ""
        client = self._clients.get()
        objects, prefixes = await self._call(path, client.list_dir(s3_url(bucket, prefix)))
        entries = [_file_info(bucket, o) for o in objects if o.key != prefix]
        entries += [_dir_info(f"{bucket}/{p.rstrip('/')}") for p in prefixes]
        if not entries and key:
            # ls of a file lists the file; of nothing, fails
            info = await self._info(path)
            if info["type"] == "file":
                return [info] if detail else [path]
            if not objects:
                raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        entries.sort(key=lambda e: e["name"])
        self.dircache[path] = entries
        return entries if detail else [e["name"] for e in entries]

    async def _ls_buckets(self, detail: bool) -> list[Any]:
        """The root's listing: the buckets the credentials own (ListBuckets)."""
        buckets = await self._call("", self._clients.get().list_buckets())
        entries = [{**_dir_info(name), "CreationDate": when(created)} for name, created in sorted(buckets)]
        self.dircache[""] = entries
        return entries if detail else [e["name"] for e in entries]

    async def _find(self, path: str, maxdepth: int | None = None, withdirs: bool = False,
                    detail: bool = False, prefix: str = "", **kwargs: Any) -> Any:
        """fsspec's ``find``; ``prefix`` (as s3fs's) keeps only what lies under
        ``{path}/{prefix}``, filtered by S3 in the listing itself."""
        path = self._strip_protocol(path)
        bucket, key = split_path(path)
        if (maxdepth is not None and not prefix) or not bucket:
            return await super()._find(path, maxdepth=maxdepth, withdirs=withdirs, detail=detail, **kwargs)
        if maxdepth is not None and maxdepth < 1:
            raise ValueError("maxdepth must be at least 1")
        # One flat listing instead of a listing per directory level.
        base = key + "/" if key else ""
        client = self._clients.get()
        out: dict[str, dict[str, Any]] = {}
        markers: dict[str, dict[str, Any]] = {}  # "dir/" objects: empty directories

        def deep(name: str) -> bool:
            return maxdepth is not None and name[len(path) + 1:].count("/") >= maxdepth

        async def collect() -> None:
            async for obj in client.list(s3_url(bucket, base + prefix)):
                if obj.key.endswith("/"):
                    name = f"{bucket}/{obj.key.rstrip('/')}"
                    if name != path and not deep(name):
                        markers[name] = {**_dir_info(name), "marker": True}
                        if withdirs:
                            out.setdefault(name, markers[name])
                    continue
                info = _file_info(bucket, obj)
                if not deep(info["name"]):
                    out[info["name"]] = info
                if withdirs:
                    parent = self._parent(info["name"])
                    while len(parent) > len(path):
                        if parent in out:
                            break
                        if not deep(parent):
                            out[parent] = _dir_info(parent)
                        parent = self._parent(parent)

        await self._call(path, collect())
        if (out or markers) and not prefix and maxdepth is None:  # a complete listing only
            self._cache_tree(path, {**markers, **out})
        if key and not out and not prefix:
            try:
                info = await self._info(path)
            except FileNotFoundError:
                info = None
            if info is not None and info["type"] == "file":
                out[path] = info
        elif withdirs and (out or markers) and not prefix:
            out[path] = _dir_info(path)  # the root itself, as fsspec's find (and so glob) has it
        names = sorted(out)
        return {n: out[n] for n in names} if detail else names

    def _cache_tree(self, root: str, found: dict[str, dict[str, Any]]) -> None:
        """Fill the listings cache from one complete flat listing under ``root``: every
        directory it implies gets its listing, so the ``info``/``isdir``/``exists`` calls
        that follow a ``find`` (fsspec's copy, get and rm do many) cost no request."""
        listings: dict[str, dict[str, dict[str, Any]]] = {root: {}}
        for name, info in found.items():
            child, parent = name, self._parent(name)
            entry = info
            while len(child) > len(root):
                listings.setdefault(parent, {}).setdefault(child, entry)
                child, parent = parent, self._parent(parent)
                entry = _dir_info(child)
        for d, entries in listings.items():
            self.dircache[d] = [entries[n] for n in sorted(entries)]

    def modified(self, path: str) -> datetime.datetime:
        """When the object was last written (S3 keeps no creation time)."""
        info = self.info(path)
        if info["type"] != "file" or info.get("LastModified") is None:
            raise IsADirectoryError(errno.EISDIR, "No modification time: not an object", path)
        return info["LastModified"]  # type: ignore[no-any-return]

    def ukey(self, path: str) -> str:
        """The ETag: changes whenever the object's bytes do."""
        return str(self.info(path)["ETag"]).strip('"')

    def checksum(self, path: str) -> int:
        """Derived from the ETag, so equal for equal content uploaded the same way."""
        return int(hashlib.sha256(self.ukey(path).encode()).hexdigest()[:15], 16)

    # -- reading ------------------------------------------------------------------------------------
    async def _cat_file(self, path: str, start: int | None = None, end: int | None = None,
                        **kwargs: Any) -> bytes:
        path = self._strip_protocol(path)
        bucket, key = split_path(path)
        url = s3_url(bucket, key)
        client = self._clients.get()
        if start is None and end is None:
            return await self._call(path, client.get_bytes(url))
        if (start is not None and start < 0) or (end is not None and end < 0) or end is None:
            size = (await self._info(path))["size"]
            start = 0 if start is None else (max(0, size + start) if start < 0 else start)
            end = size if end is None else (max(0, size + end) if end < 0 else min(end, size))
        return bytes(await self._range_buffer(path, start or 0, end))

    async def _range_buffer(self, path: str, start: int, end: int) -> bytearray:
        """``[start, end)`` of ``path`` (plain bounds, ``end`` possibly past the object's end)."""
        if end - start > RANGE_PIECE:
            # One buffer is allocated for the whole range: a range far past the object's
            # end must not allocate for bytes that do not exist.
            end = min(end, (await self._info(path))["size"])
        bucket, key = split_path(path)
        return await self._read_range(path, s3_url(bucket, key), start, end, None)

    async def _read_range(self, path: str, url: str, start: int, end: int, etag: str | None) -> bytearray:
        """``[start, end)``, shorter when the object ends first: one buffer that the GETs
        (parallel ones of RANGE_PIECE when it is large) receive into, so the bytes are
        written once, by the socket's receive (no per-GET ``bytes`` joined afterwards)."""
        if end <= start:
            return bytearray()
        client = self._clients.get()
        buf = bytearray(end - start)
        view = memoryview(buf)
        bounds = [(s, min(s + RANGE_PIECE, end)) for s in range(start, end, RANGE_PIECE)]
        if len(bounds) == 1:
            got = [await self._call(path, client.get_range_into(url, start, view, if_match=etag))]
        else:
            got = await self._call(path, asyncio.gather(
                *(client.get_range_into(url, s, view[s - start:e - start], if_match=etag) for s, e in bounds)))
        # The object ends inside the first range that came back short (a read past its end:
        # rare enough that the copy does not matter; the slices' views forbid trimming in place).
        for (s, e), n in zip(bounds, got):
            if n < e - s:
                return buf[:s - start + n]
        return buf

    async def _cat_ranges(self, paths: list[str], starts: Any, ends: Any, max_gap: int | None = None,
                          batch_size: int | None = None, on_error: str = "return", **kwargs: Any) -> list[Any]:
        """fsspec's ``cat_ranges``, with the ranges of each object that lie within ``max_gap``
        bytes of each other (default 1 MiB) read as one GET (see ``_coalesce``)."""
        if not isinstance(paths, list):
            raise TypeError("paths must be a list")
        n = len(paths)
        starts = list(starts) if isinstance(starts, (list, tuple)) else [starts] * n
        ends = list(ends) if isinstance(ends, (list, tuple)) else [ends] * n
        if len(starts) != n or len(ends) != n:
            raise ValueError("paths, starts and ends must be of one length")
        paths = [self._strip_protocol(p) for p in paths]
        # A group up to RANGE_PIECE is one GET that keeps only its members' bytes; a larger
        # one is a single range, read in parallel pieces.
        groups, others = coalesce(list(zip(paths, starts, ends)),
                                  gap=DEFAULT_GAP if max_gap is None else max_gap, max_size=RANGE_PIECE)
        out: list[Any] = [None] * n
        sem = asyncio.Semaphore(batch_size or self.batch_size or 128)

        async def group(g: Group) -> None:
            async with sem:
                try:
                    if g.end - g.start > RANGE_PIECE:
                        got = [bytes(await self._range_buffer(g.path, g.start, g.end))]
                    else:
                        bucket, key = split_path(g.path)
                        got = await self._call(g.path, self._clients.get().get_spans(
                            s3_url(bucket, key), g.start, g.end, [(s, e) for _, s, e in g.members]))
                except Exception as exc:  # noqa: BLE001 - each range of the group gets it
                    for i, _, _ in g.members:
                        out[i] = exc
                    return
            for (i, _, _), data in zip(g.members, got):
                out[i] = data

        async def single(i: int) -> None:
            async with sem:
                try:
                    out[i] = await self._cat_file(paths[i], start=starts[i], end=ends[i], **kwargs)
                except Exception as exc:  # noqa: BLE001 - returned or raised below, as fsspec does
                    out[i] = exc

        await asyncio.gather(*(group(g) for g in groups), *(single(i) for i in others))
        if on_error == "raise":
            for r in out:
                if isinstance(r, BaseException):
                    raise r
        return out

    async def _get_file(self, rpath: str, lpath: str, callback: Any = None, **kwargs: Any) -> None:
        """``callback``: fsspec's progress callback (its size, then the bytes as they land)."""
        if os.path.isdir(lpath):
            return
        rpath = self._strip_protocol(rpath)
        bucket, key = split_path(rpath)
        client = self._clients.get()
        if wants_progress(callback):
            # A download states no size to its subscribers: the listing cache (or a HEAD) does.
            callback.set_size((await self._info(rpath))["size"])
        await self._call(rpath, client.download(s3_url(bucket, key), lpath, subscribers=progress_to(callback)))

    # -- writing --------------------------------------------------------------------------------------
    async def _pipe_file(self, path: str, data: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        """``mode="create"`` fails with ``FileExistsError`` when the key exists, checked by
        S3 itself (``If-None-Match: *``): a writer racing this one is never clobbered."""
        check_write_mode("pipe_file", mode)
        path = self._strip_protocol(path)
        bucket, key = split_path(path)
        client = self._clients.get()
        await self._written(path, mode, client.put_bytes(s3_url(bucket, key), data, if_none_match=mode == "create",
                                                         **upload_kwargs(kwargs)))

    async def _written(self, path: str, mode: str, aw: Awaitable[T]) -> T:
        """A write's result; under ``mode="create"``, S3's refusal (the key exists) as
        ``FileExistsError``."""
        try:
            return await self._call(path, aw)
        except OSError as exc:
            if mode == "create" and isinstance(exc.__cause__, PreconditionFailed):
                raise FileExistsError(errno.EEXIST, "File exists", path) from exc.__cause__
            raise
        finally:
            self.invalidate_cache(path)  # even refused: the key exists, whatever a listing said

    async def _put_file(self, lpath: str, rpath: str, callback: Any = None, mode: str = "overwrite",
                        **kwargs: Any) -> None:
        """``callback``: fsspec's progress callback; ``mode="create"`` fails with
        ``FileExistsError`` when the key exists (``If-None-Match: *``, as ``pipe_file``)."""
        check_write_mode("put_file", mode)
        rpath = self._strip_protocol(rpath)
        bucket, key = split_path(rpath)
        if os.path.isdir(lpath):
            if not key:
                await self._makedirs(bucket, exist_ok=True)
            return  # S3 has no directories: its files will make it appear
        client = self._clients.get()
        await self._written(rpath, mode, client.upload(lpath, s3_url(bucket, key), if_none_match=mode == "create",
                                                       subscribers=progress_to(callback), **upload_kwargs(kwargs)))

    async def _cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        path1, path2 = self._strip_protocol(path1), self._strip_protocol(path2)
        b1, k1 = split_path(path1)
        b2, k2 = split_path(path2)
        if not k1:
            # a bucket is a directory (a recursive copy lists it among its paths): its
            # objects are copied one by one, as the objects under any other prefix
            return
        if not k2:
            raise IsADirectoryError(errno.EISDIR, "Is a bucket, not a file", path2)
        client = self._clients.get()
        # Server-side (CopyObject, or UploadPartCopy in parallel for large objects): the
        # bytes never leave S3, and metadata, content type and checksum come along.
        try:
            await client.copy(s3_url(b1, k1), s3_url(b2, k2))
        except S3FastError as exc:
            # CopyObject is sent to the destination's bucket: when that one is missing, the
            # error names it, not the source
            dest_gone = isinstance(exc, NoSuchBucket) and b1 != b2 and not await self._exists(b2)
            raise translate(exc, path2 if dest_gone else path1) from exc
        self.invalidate_cache(path2)

    async def _rm_file(self, path: str, **kwargs: Any) -> None:
        path = self._strip_protocol(path)
        bucket, key = split_path(path)
        if not key:
            raise PermissionError(1, "s3fast filesystem: removing a bucket is not supported", path)
        client = self._clients.get()
        await self._call(path, client.delete(s3_url(bucket, key)))
        self.invalidate_cache(path)

    async def _rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None,
                  **kwargs: Any) -> None:
        paths = await self._expand_path(path, recursive=recursive, maxdepth=maxdepth)
        client = self._clients.get()
        # expand_path names directories too: delete only objects, i.e. files and the "dir/"
        # marker objects some tools create for empty directories (the listing cache filled
        # by the expansion says which is which).
        keys: list[str] = []
        roots = set(self._strip_protocol(path if isinstance(path, list) else [path]))
        for p in paths:
            bucket, key = split_path(p)
            if not key:
                continue
            try:
                info = self._info_from_cache(p)
            except FileNotFoundError:
                info = None
            if info is not None and info["type"] == "directory":
                if info.get("marker") or p in roots:  # a root's own marker is not in its listing
                    keys.append(p + "/")
                continue
            keys.append(p)
        by_bucket: dict[str, list[str]] = {}
        for p in keys:
            b, k = split_path(p)
            by_bucket.setdefault(b, []).append(k)
        # DeleteObjects, 1,000 keys a request (S3's limit), a few requests at once.
        sem = asyncio.Semaphore(DELETE_WINDOW)

        async def one(bucket: str, batch: list[str]) -> dict[str, str | None]:
            async with sem:
                return await self._call(bucket, client.delete_batch(bucket, batch))

        batches = _batches(by_bucket)
        outcomes = await asyncio.gather(*(one(b, ks) for b, ks in batches))
        for p in paths:
            self.invalidate_cache(p)
        failed = [(f"{b}/{k}", err) for out, (b, _) in zip(outcomes, batches) for k, err in out.items() if err]
        if failed:
            first, err = failed[0]
            if all((e or "").startswith("NoSuchBucket") for _, e in failed):
                raise FileNotFoundError(errno.ENOENT, f"no such bucket: {printable(err, 512)}", first)
            raise OSError(errno.EIO, f"{len(failed)} of {len(keys)} objects not deleted; "
                                     f"{printable(first, 512)}: {printable(err, 512)}", first)

    async def _mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        path = self._strip_protocol(path)
        bucket, key = split_path(path)
        if not bucket:
            raise ValueError("s3fast filesystem: mkdir needs a bucket name")
        self.invalidate_cache(path)
        if key:
            # S3 has no directories; only the bucket has to exist
            if not create_parents and not await self._exists(bucket):
                raise FileNotFoundError(errno.ENOENT, "No such bucket", bucket)
            if create_parents and not await self._exists(bucket):
                await self._make_bucket(bucket)
            return
        if await self._exists(bucket):
            # us-east-1 answers 200 to creating a bucket one already owns
            raise FileExistsError(errno.EEXIST, "bucket exists", bucket)
        await self._make_bucket(bucket)

    async def _make_bucket(self, bucket: str) -> None:
        client = self._clients.get()
        try:
            await client.create_bucket(bucket)
        except S3Error as exc:
            if exc.code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise FileExistsError(errno.EEXIST, "bucket exists", bucket) from exc
            raise translate(exc, bucket) from exc
        self.invalidate_cache("")

    async def _makedirs(self, path: str, exist_ok: bool = False) -> None:
        try:
            await self._mkdir(path, create_parents=True)
        except FileExistsError:
            if not exist_ok:
                raise

    # -- files --------------------------------------------------------------------------------------
    async def open_async(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        """A file read on the caller's loop (``await f.read(n)``; see ``_asyncfile``): reading
        only, as s3fs's; writes go through ``open`` or ``_pipe_file``."""
        if mode != "rb" or kwargs.get("compression"):
            raise ValueError(f"s3fast filesystem: open_async reads only ('rb', no compression), got {mode!r}")
        from ._asyncfile import S3FastAsyncFile

        path = self._strip_protocol(path)
        info = await self._info(path)
        if info["type"] != "file":
            raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
        return S3FastAsyncFile(self, path, info)

    def _open(self, path: str, mode: str = "rb", block_size: int | None = None, autocommit: bool = True,
              cache_type: str | None = None, cache_options: dict[str, Any] | None = None,
              **kwargs: Any) -> S3FastFile:
        if "x" in mode:
            if self.exists(path):
                raise FileExistsError(errno.EEXIST, "File exists", path)
            mode = mode.replace("x", "w")
            kwargs["create"] = True  # and S3 checks again when the object is written
        from ._file import S3FastFile  # with the first file: reading ranges needs none of it

        return S3FastFile(self, path, mode, block_size=block_size or self.default_block_size,
                          autocommit=autocommit, cache_type=cache_type or self.default_cache_type,
                          cache_options=cache_options, **kwargs)


def _batches(by_bucket: dict[str, list[str]]) -> list[tuple[str, list[str]]]:
    """The (bucket, keys) of each DeleteObjects request, in the order ``_rm`` sends them."""
    return [(b, ks[i:i + DELETE_BATCH]) for b, ks in by_bucket.items() for i in range(0, len(ks), DELETE_BATCH)]
