"""The async client: owns the connection lanes, the tuner, the memory budget, and the transfers."""
from __future__ import annotations

import asyncio
import builtins
import dataclasses
import logging
import os
from pathlib import Path
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Sequence
from typing import Any
from urllib.parse import quote

from . import _impl, _ranges
from ._config import TransferConfig
from ._errors import ConfigError, RequestTimeout, S3Error
from ._events import BytesMoved, Emitter, Notice, Subscriber, TransferFailed, TransferFinished, TunerUpdate, \
    emitter, part_adapter, progress_adapter
from ._headers import user_headers
from ._py._common import check_path
from ._results import ObjectHead, PartEvent, TransferResult
from ._s3xml import ObjectInfo, parse_list_v2
from ._transport import Request, Transport
from ._url import check_bucket, parse_s3_url, resolve_endpoint
from .auth import CredentialSource
from .config import EndpointConfig
from .net._resolver import Resolver, StaticResolver, SystemResolver
from .transfer._buffers import ChunkPool, MemoryBudget
from .transfer._context import TransferContext
from .transfer._localfs import proc_fd
from .transfer._meta import head_object
from .transfer._sinks import OwnedBuffer
from .transfer._writer import FileBatcher, FileWriter
from .tuning import ConcurrencyLimiter, Goal, Tuner, default_target_gbps, memory_cap_concurrency

DEFAULT_REGION = "us-east-1"

logger = logging.getLogger("s3fast.resume")


def _with_endpoint(config: TransferConfig, endpoint_config: EndpointConfig | None) -> TransferConfig:
    """``Client(endpoint_config=...)`` is kept for existing callers; it lands in ``config.expert``."""
    if endpoint_config is None or endpoint_config == config.expert.endpoint:
        return config
    if config.expert.endpoint != EndpointConfig():
        raise ConfigError("endpoint settings given twice (endpoint_config= and config.expert.endpoint): "
                          "give them once, in config.expert.endpoint")
    return dataclasses.replace(config, expert=dataclasses.replace(config.expert, endpoint=endpoint_config))


class Client:
    """An S3 client built for throughput.

    ::

        async with s3fast.Client(endpoint_url="http://127.0.0.1:8333") as client:
            await client.upload("big.bin", "s3://bucket/big.bin")
            await client.download("s3://bucket/big.bin", "copy.bin")

    Keyword arguments (all optional):
        endpoint_url: an S3-compatible endpoint; default ``AWS_ENDPOINT_URL_S3`` /
            ``AWS_ENDPOINT_URL``, else AWS S3 in ``region``.
        region: default from the environment/profile, else ``us-east-1``.
        profile: the shared-config profile for the credential chain.
        aws_access_key_id / aws_secret_access_key / aws_session_token: explicit keys.
        anonymous: send unsigned requests (public buckets).
        addressing_style: "auto" (default), "path" or "virtual".
        ca_bundle: a CA file to trust (default ``AWS_CA_BUNDLE``); verify: check certificates (default True).
        resolve: ``{"host": ["ip", ...]}`` pins a host to IPs (curl's --resolve).
        resolver: a custom :class:`~s3fast.net.Resolver` (default: the system resolver).
        config: a :class:`TransferConfig`.
        on_tuner_update: called with a :class:`~s3fast.tuning.TunerSnapshot` every window
            (an adapter: it is a subscriber of :class:`~s3fast.events.TunerUpdate` events).
        subscribers: callables given every event (:mod:`s3fast.events`) of every transfer of
            this client and every tuner update; an exception from one is logged and that
            subscriber dropped (it never fails a transfer). Default: none.
        state_dir: where resumable transfers keep their journals (default ``S3FAST_STATE_DIR``,
            else ``$XDG_STATE_HOME/s3fast``, else ``~/.local/state/s3fast``).
        endpoint_config: the per-host IP table's settings; the same as
            ``config.expert.endpoint`` (:class:`~s3fast.config.EndpointConfig`), which is
            where they live: giving both, different, is a ConfigError.
    """

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        anonymous: bool = False,
        addressing_style: str = "auto",
        ca_bundle: str | None = None,
        verify: bool = True,
        resolve: dict[str, list[str]] | None = None,
        resolver: Resolver | None = None,
        config: TransferConfig | None = None,
        on_tuner_update: Callable[[Any], None] | None = None,
        endpoint_config: EndpointConfig | None = None,
        subscribers: Iterable[Subscriber] = (),
        state_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.config = _with_endpoint(config or TransferConfig(), endpoint_config)
        #: client-wide subscribers: every transfer's events and the tuner's updates
        self._subscribers: tuple[Subscriber, ...] = tuple(subscribers)
        self.state_dir = os.fspath(state_dir) if state_dir is not None else None
        self.credentials = CredentialSource(
            profile=profile, access_key=aws_access_key_id, secret_key=aws_secret_access_key,
            token=aws_session_token, anonymous=anonymous,
        )
        self.region = region or self.credentials.region() or DEFAULT_REGION
        self.endpoint = resolve_endpoint(endpoint_url, self.region, addressing_style)
        base_resolver: Resolver = resolver or SystemResolver()
        if resolve:
            base_resolver = StaticResolver(resolve, fallback=base_resolver)
        cfg = self.config
        self.memory = MemoryBudget(cfg.memory_limit)
        self.chunks = ChunkPool(self.memory, cfg.expert.io_chunk_size)
        #: os.pwrite of file downloads runs on this thread, beside the event loop
        self.writer = FileWriter()
        #: small downloaded files are created, written and named on this thread, in batches
        #: without the GIL (compiled core only: the pure twin would hold the GIL throughout)
        self.batcher = (FileBatcher(proc_fd)
                        if cfg.expert.batch_small_files and _impl.NATIVE else None)
        #: uploads holding a source (an open file) at once; the rest wait their turn
        self.open_sources = ConcurrencyLimiter(256)
        target = cfg.target_gbps or default_target_gbps()
        # What the memory limit allows: each request in flight may hold one part buffer, or
        # (many small objects) what ``expert.request_memory`` says one request holds.
        per_request = min(cfg.part_size, cfg.expert.request_memory or cfg.part_size)
        cap = memory_cap_concurrency(cfg.memory_limit, per_request)
        tuner_events = emitter([*self._subscribers, _snapshot_adapter(on_tuner_update)])
        self.tuner = Tuner(cfg.expert.tuner, memory_cap_concurrency=cap,
                           on_update=None if tuner_events is None else _tuner_update(tuner_events),
                           goal=Goal(target_gbps=target, max_gbps=cfg.max_gbps))
        self.meter = self.tuner.meter
        self.limiter = self.tuner.limiter
        if cfg.max_concurrency is not None:
            # A fixed concurrency: the user's number, no tuning above it.
            self.limiter.set_limit(min(cfg.max_concurrency, cap))
        self._transport = Transport(
            self.endpoint, self.credentials, self.region, cfg, resolver=base_resolver,
            ca_bundle=ca_bundle or os.environ.get("AWS_CA_BUNDLE") or None, verify=verify, meter=self.meter,
            limiter=self.limiter, endpoint_config=cfg.expert.endpoint,
        )
        # The tuner's windows count bytes as they cross the sockets, not as transfers
        # report slices and parts: a slow connection still shows progress every window.
        self.meter.set_source(self._transport.moved_bytes)
        #: everything a transfer uses, handed to it instead of the client
        self._ctx = TransferContext(
            transport=self._transport, config=cfg, memory=self.memory, chunks=self.chunks, writer=self.writer,
            batcher=self.batcher, tuner=self.tuner, meter=self.meter, limiter=self.limiter,
            open_sources=self.open_sources,
        )
        self._tuner_task: asyncio.Task[None] | None = None
        self._closed = False

    def __repr__(self) -> str:
        ep = self.endpoint
        return (f"<Client {ep.scheme}://{ep.host}:{ep.port} region={self.region} "
                f"concurrency={self.limiter.limit} in_flight={self.limiter.in_flight}>")

    # -- lifecycle ---------------------------------------------------------------------------------
    async def __aenter__(self) -> Client:
        self._start_tuner()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _start_tuner(self) -> None:
        if self._tuner_task is None and self.config.max_concurrency is None:
            self._tuner_task = asyncio.create_task(self.tuner.run(), name="s3fast-tuner")

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.tuner.stop()
        if self._tuner_task is not None:
            await asyncio.gather(self._tuner_task, return_exceptions=True)
        self.chunks.clear()
        await self._transport.aclose()
        self.writer.close()
        if self.batcher is not None:
            self.batcher.close()

    # -- observability ------------------------------------------------------------------------------
    def snapshot(self) -> Any:
        """Rate, concurrency and in-flight bytes now (a :class:`~s3fast.tuning.TunerSnapshot`)."""
        self.meter.set_in_flight_bytes(self.memory.held)
        return self.tuner.snapshot()

    def ip_stats(self) -> dict[str, Any]:
        """Per-IP counters: requests, bytes, errors, quarantines, connections, state."""
        return self._transport.ip_stats()

    def task_window(self) -> int:
        """How many part/range tasks a transfer keeps alive (see ``TransferContext``)."""
        return self._ctx.task_window()

    @property
    def stats(self) -> Any:
        return self._transport.stats

    # -- transfers -----------------------------------------------------------------------------------
    async def upload(
        self,
        source: Any,
        url: str,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        on_part: Callable[[PartEvent], None] | None = None,
        on_progress: Callable[[int], None] | None = None,
        if_none_match: bool = False,
        subscribers: Iterable[Subscriber] = (),
        resumable: bool = False,
    ) -> TransferResult:
        """Upload ``source`` (a path, bytes-like, a binary file, or an async iterator of bytes).

        ``if_none_match``: S3 refuses to overwrite an existing key (412, PreconditionFailed), so
        a writer racing this one is never clobbered (a single PUT carries it; a multipart upload
        carries it on CompleteMultipartUpload and is aborted when refused).
        ``subscribers``: callables given this transfer's events (:mod:`s3fast.events`).
        ``on_progress(n)`` / ``on_part(event)``: the same, for :class:`~s3fast.events.BytesMoved`
        and :class:`~s3fast.events.PartDone` only. An exception from any of them is logged and
        that subscriber dropped: it never fails the transfer.
        ``resumable``: ``source`` must be a file path; a multipart upload keeps a journal in
        the state directory, a failure or cancel keeps the upload, and the same call again
        continues it (skipping the parts S3 holds). Why a run starts over instead (a changed
        file, an upload no longer in S3) reaches subscribers as a :class:`~s3fast.events.Notice`.
        """
        dst = parse_s3_url(url)
        if isinstance(source, (str, os.PathLike)):
            check_path(os.fspath(source))  # the same clear error as a download's path
        headers = user_headers(content_type, metadata)  # CR/LF, non-ASCII, S3's metadata rules
        if if_none_match:
            headers["if-none-match"] = "*"
        self._start_tuner()
        events = self._events(subscribers, on_part, on_progress)
        if resumable:
            coro = self._upload_resumable(source, dst.bucket, dst.key, headers, events)
        else:
            from .transfer import _upload

            coro = _upload.upload(self._ctx, source, dst.bucket, dst.key, headers=headers, events=events)
        if self.config.timeouts.deadline is None:
            return await coro
        return await self._bounded(coro, f"upload to {url}")

    async def download(
        self,
        url: str,
        dest: Any,
        *,
        version_id: str | None = None,
        on_part: Callable[[PartEvent], None] | None = None,
        on_progress: Callable[[int], None] | None = None,
        subscribers: Iterable[Subscriber] = (),
        resumable: bool = False,
    ) -> TransferResult:
        """Download to ``dest``: a path (written atomically), a writable buffer, or a binary file.

        ``subscribers``, ``on_part``, ``on_progress``: as for :meth:`upload`.

        A path naming a device, a FIFO or an inherited descriptor (/dev/null, a named pipe,
        /dev/stdout, /dev/fd/N) is written in place and in order, as a binary file is.

        ``resumable``: the bytes go into ``<dest>.s3fast-partial`` with a journal in the state
        directory; an interrupted download run again continues where it stopped (see
        :mod:`s3fast.resume._download`). Only for a path to a regular file (ConfigError
        otherwise). Why a run starts over (the object changed) reaches subscribers as a
        :class:`~s3fast.events.Notice`; a failure that kept the partial file for the next run
        ends with ``TransferFailed(resumable=True)``.
        """
        src = parse_s3_url(url)
        self._start_tuner()
        events = self._events(subscribers, on_part, on_progress)
        if resumable:
            from .resume._download import download_resumable

            coro = download_resumable(self._ctx, src.bucket, src.key, dest, state_dir=self.state_path(),
                                      version_id=version_id, events=events)
        else:
            from .transfer import _download

            if events is None:
                coro = _download.download(self._ctx, src.bucket, src.key, dest, version_id=version_id)
            else:
                coro = _reported(events, "download", src.bucket, src.key, _download.download(
                    self._ctx, src.bucket, src.key, dest, version_id=version_id, on_part=events.emit,
                    on_progress=lambda n: events.emit(BytesMoved(n))))
        if self.config.timeouts.deadline is None:
            return await coro  # no wrapper coroutine per object when there is no deadline
        return await self._bounded(coro, f"download of {url}")

    async def upload_parts(self, url: str, upload_id: str) -> dict[int, Any]:
        """The parts S3 holds for the multipart upload ``upload_id`` of ``s3://bucket/key``
        (ListParts, every page): part number -> :class:`~s3fast.resume._plan.ListedPart`.
        :class:`S3Error` ``NoSuchUpload`` when S3 no longer knows the upload."""
        from .transfer._multipart import list_parts

        u = parse_s3_url(url)
        algo = self.config.checksum
        return dict(await list_parts(self._transport, u.bucket, u.key, upload_id,
                                     checksum_field=None if algo == "none" else f"Checksum{algo.upper()}"))

    def state_path(self) -> Path:
        """The state directory (journals of resumable transfers)."""
        from .resume._log import state_dir  # the journal machinery: only resumable transfers load it

        return Path(self.state_dir) if self.state_dir is not None else state_dir()

    async def _upload_resumable(self, source: Any, bucket: str, key: str, headers: dict[str, str],
                                events: Emitter | None) -> TransferResult:
        from .resume._upload import upload_resumable

        def notify(message: str) -> None:
            logger.info("s3://%s/%s: %s", bucket, key, message)
            if events is not None:
                events.emit(Notice("upload", bucket, key, message))

        return await upload_resumable(self._ctx, source, bucket, key, headers=headers, events=events,
                                      base=self.state_path(), notify=notify)

    def _events(self, subscribers: Iterable[Subscriber], on_part: Callable[[PartEvent], None] | None,
                on_progress: Callable[[int], None] | None) -> Emitter | None:
        """One transfer's emitter (None when nobody listens: the transfer builds no events)."""
        if not subscribers and on_part is None and on_progress is None and not self._subscribers:
            return None  # the small-object path: no list, no adapters
        return emitter([*self._subscribers, *subscribers, part_adapter(on_part), progress_adapter(on_progress)])

    async def _bounded(self, coro: Any, what: str) -> TransferResult:
        """Apply ``timeouts.deadline`` to a whole transfer (cancellation cleans up as usual:
        a multipart upload is aborted, a partial file removed)."""
        deadline = self.config.timeouts.deadline
        if deadline is None:
            return await coro  # type: ignore[no-any-return]
        try:
            async with asyncio.timeout(deadline):
                return await coro  # type: ignore[no-any-return]
        except TimeoutError:
            raise RequestTimeout(f"{what} did not finish within the {deadline:g} s deadline",
                                 stage="deadline") from None

    def stream(self, url: str, *, version_id: str | None = None) -> AsyncIterator[bytes]:
        """The object's bytes in order, fetched ahead in parallel within the memory limit."""
        src = parse_s3_url(url)
        self._start_tuner()
        from .transfer import _download

        return _download.stream(self._ctx, src.bucket, src.key, version_id=version_id)

    async def get_bytes(self, url: str, *, version_id: str | None = None) -> bytes:
        """The whole object in memory; one larger than ``memory_limit`` is refused
        (ConfigError) before anything is allocated for it."""
        buf = OwnedBuffer()
        buf.limit = self.config.memory_limit
        await self.download(url, buf, version_id=version_id)
        return bytes(buf)

    async def put_bytes(self, url: str, data: bytes | bytearray | memoryview, **kwargs: Any) -> TransferResult:
        return await self.upload(memoryview(data), url, **kwargs)

    # -- metadata operations ---------------------------------------------------------------------------
    async def head(self, url: str, *, version_id: str | None = None, checksum_mode: bool = True) -> ObjectHead:
        u = parse_s3_url(url)
        return await head_object(self._transport, u.bucket, u.key, version_id=version_id,
                                 checksum_mode=checksum_mode)

    async def list(self, url: str, *, delimiter: str | None = None) -> AsyncGenerator[ObjectInfo, None]:
        """Every object under the prefix ``s3://bucket/prefix`` (ListObjectsV2, all pages)."""
        u = parse_s3_url(url, require_key=False)
        token: str | None = None
        while True:
            params = [("list-type", "2"), ("prefix", u.key)]
            if delimiter:
                params.append(("delimiter", delimiter))
            if token:
                params.append(("continuation-token", token))
            query = "&".join(f"{k}={quote(v, safe='')}" for k, v in sorted(params))
            _, body = await self._transport.call(Request("GET", u.bucket, None, query=query))
            page = parse_list_v2(body)
            for obj in page.objects:
                yield obj
            if not page.next_token:
                return
            token = page.next_token

    async def delete(self, url: str) -> None:
        u = parse_s3_url(url)
        await self._transport.call(Request("DELETE", u.bucket, u.key, expect=(204, 200)))

    async def create_bucket(self, bucket: str) -> None:
        check_bucket(bucket)  # it goes into the request line unquoted
        body = b""
        if self.region != "us-east-1" and not self.endpoint.custom:
            body = (f'<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                    f"<LocationConstraint>{self.region}</LocationConstraint></CreateBucketConfiguration>").encode()
        await self._transport.call(Request("PUT", bucket, None, body=body or None))

    # -- small requests for the fsspec filesystem (s3fast.fsspec) ---------------------------------
    async def get_range(self, url: str, start: int, end: int, *, version_id: str | None = None,
                        if_match: str | None = None) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive) of one object in one GET: the small random
        reads (Parquet footers, column chunks) that a whole-object download would overfetch.
        Fewer bytes when the object ends first; ``b""`` when it ends before ``start``.
        ``if_match``: an ETag the object must still have (else :class:`PreconditionFailed`)."""
        if start < 0 or end < start:
            raise ConfigError(f"bad byte range {start}-{end} of {url}")
        if end == start:
            return b""
        u = parse_s3_url(url)
        headers = {"range": f"bytes={start}-{end - 1}"}
        if if_match:
            headers["if-match"] = if_match
        query = f"versionId={quote(version_id, safe='')}" if version_id else ""
        await self.tuner.pace(end - start)  # max_gbps holds for these reads too
        try:
            head, body = await self._transport.call(
                Request("GET", u.bucket, u.key, query=query, headers=headers, expect=(200, 206)))
        except S3Error as exc:
            if exc.status == 416:
                return b""  # InvalidRange: the object ends before start
            raise
        # A 200 is the whole object (a server that ignores Range): cut the slice out.
        return body[start:end] if head.status == 200 else body

    async def get_range_into(self, url: str, start: int, view: memoryview, *, if_match: str | None = None) -> int:
        """Bytes ``start`` to ``start + len(view)`` of one object in one GET, received straight
        into ``view`` (no ``bytes`` made: a large read costs no copy beyond the socket's).
        Returns how many landed: fewer when the object ends first, 0 when it ends before
        ``start``. ``if_match`` as for :meth:`get_range`."""
        if start < 0:
            raise ConfigError(f"bad byte range start {start} of {url}")
        if not len(view):
            return 0
        await self.tuner.pace(len(view))  # max_gbps holds for these reads too
        got = await _ranges.read_into(self._transport, url, start, view, if_match)
        if got < 0:  # the server ignored the Range
            data = await self.get_range(url, start, start + len(view), if_match=if_match)
            view[:len(data)] = data
            got = len(data)
        return got

    async def get_spans(self, url: str, start: int, end: int, spans: Sequence[tuple[int, int]], *,
                        if_match: str | None = None) -> builtins.list[bytes]:
        """The bytes of each span ``(s, e)`` (within ``[start, end)``) of one object, all read
        with one GET of ``[start, end)``; the bytes between spans are received and dropped,
        never held. A span comes back short, or empty, where the object ends first.
        ``if_match`` as for :meth:`get_range`."""
        if start < 0 or end < start:
            raise ConfigError(f"bad byte range {start}-{end} of {url}")
        if end == start:
            return [b"" for _ in spans]
        await self.tuner.pace(end - start)
        got = await _ranges.read_spans(self._transport, url, start, end, spans, if_match)
        if got is None:  # the server ignored the Range
            data = await self.get_range(url, start, end, if_match=if_match)
            got = [data[max(s - start, 0):max(e - start, 0)] for s, e in spans]
        return got

    # builtins.list: in the class body ``list`` is the method above
    async def list_dir(self, url: str) -> tuple[builtins.list[ObjectInfo], builtins.list[str]]:
        """One level under ``s3://bucket/prefix/``: its objects and its common prefixes
        (the "directories", each ending in "/"), all pages of a "/"-delimited listing."""
        u = parse_s3_url(url, require_key=False)
        objects: list[ObjectInfo] = []
        prefixes: list[str] = []
        token: str | None = None
        while True:
            params = [("list-type", "2"), ("prefix", u.key), ("delimiter", "/")]
            if token:
                params.append(("continuation-token", token))
            query = "&".join(f"{k}={quote(v, safe='')}" for k, v in sorted(params))
            _, body = await self._transport.call(Request("GET", u.bucket, None, query=query))
            page = parse_list_v2(body)
            objects.extend(page.objects)
            prefixes.extend(page.prefixes)
            if not page.next_token:
                return objects, prefixes
            token = page.next_token

    # -- many objects (s3fast.tree) and server-side copies ------------------------------------------
    async def copy(self, src_url: str, dst_url: str, *, head: ObjectHead | None = None) -> TransferResult:
        """Copy an object inside S3 (across buckets too): CopyObject, or UploadPartCopy parts in
        parallel above the multipart threshold; pinned to the source's ETag, metadata kept.
        ``head``: the source's size and ETag when the caller already has them (saves a HEAD);
        without its checksum, a CopyObject names no algorithm, so S3 keeps the source's."""
        from .transfer import _copy

        self._start_tuner()
        return await _copy.copy(self._ctx, parse_s3_url(src_url), parse_s3_url(dst_url), head=head)

    def list_pages(self, bucket: str, prefix: str, *, delimiter: str | None = None,
                   start_after: str | None = None) -> AsyncIterator[Any]:
        """ListObjectsV2 pages under ``prefix`` as :class:`s3fast.tree._list.Page` (keys
        URL-encoded on the wire, so any key lists), one page held at a time; only keys
        after ``start_after`` when given."""
        from .tree._list import list_pages

        return list_pages(self._transport, bucket, prefix, delimiter=delimiter, start_after=start_after)

    async def list_buckets(self) -> builtins.list[tuple[str, str]]:
        """(name, creation date) of each bucket the credentials own (ListBuckets)."""
        from .transfer._xml import parse_buckets

        _, body = await self._transport.call(Request("GET", None, None))
        return parse_buckets(body)

    async def delete_batch(self, bucket: str, keys: Sequence[str]) -> dict[str, str | None]:
        """Delete up to 1,000 keys of ``bucket`` in one DeleteObjects: key -> None or its error."""
        from .tree._delete import delete_batch

        return await delete_batch(self._transport, bucket, keys)

    def list_uploads(self, bucket: str, prefix: str = "", *, page_size: int | None = None) -> AsyncIterator[Any]:
        """Incomplete multipart uploads under ``prefix`` (:class:`~s3fast.transfer._mpu_list.UploadInfo`),
        a ListMultipartUploads page (``page_size`` uploads, default 1,000) held at a time."""
        from .transfer._mpu_list import list_uploads

        return list_uploads(self._transport, bucket, prefix, page_size=page_size)

    async def abort_upload(self, url: str, upload_id: str) -> None:
        """AbortMultipartUpload of ``upload_id`` at ``s3://bucket/key``; S3's error is raised."""
        from .transfer._mpu_list import abort_upload

        u = parse_s3_url(url)
        await abort_upload(self._transport, u.bucket, u.key, upload_id)

    def copy_tree(self, src: str, dst: str, **kwargs: Any) -> AsyncIterator[Any]:
        """Copy every object under ``src`` to ``dst``, one :class:`~s3fast.tree.TreeResult` per
        object as it finishes (see :func:`s3fast.tree.copy_tree` for the keywords)."""
        from . import tree

        self._start_tuner()
        return tree.copy_tree(self, src, dst, **kwargs)

    def sync(self, src: str, dst: str, **kwargs: Any) -> AsyncIterator[Any]:
        """Transfer what ``dst`` lacks or holds differently (:func:`s3fast.tree.sync`)."""
        from . import tree

        self._start_tuner()
        return tree.sync(self, src, dst, **kwargs)

    def delete_tree(self, url: str, **kwargs: Any) -> AsyncIterator[Any]:
        """Delete every object under a prefix or matching a wildcard, 1,000 per request."""
        from . import tree

        return tree.delete_tree(self, url, **kwargs)

    def delete_many(self, urls: Any, **kwargs: Any) -> AsyncIterator[Any]:
        """Delete these ``s3://bucket/key`` objects, 1,000 per request, each key's error reported."""
        from . import tree

        return tree.delete_many(self, urls, **kwargs)

    def move_tree(self, src: str, dst: str, **kwargs: Any) -> AsyncIterator[Any]:
        """``copy_tree``, then delete each source object that was copied."""
        from . import tree

        self._start_tuner()
        return tree.move_tree(self, src, dst, **kwargs)


def _snapshot_adapter(on_update: Callable[[Any], None] | None) -> Subscriber | None:
    """``on_tuner_update(snapshot)`` as a subscriber of :class:`TunerUpdate` events."""
    if on_update is None:
        return None

    def subscriber(event: Any) -> None:
        if type(event) is TunerUpdate:
            on_update(event.snapshot)

    return subscriber


def _tuner_update(events: Emitter) -> Callable[[Any], None]:
    def on_update(snapshot: Any) -> None:
        events.emit(TunerUpdate(snapshot))

    return on_update


async def _reported(events: Emitter, operation: str, bucket: str, key: str, coro: Any) -> TransferResult:
    """Await a transfer, telling ``events`` how it ended."""
    try:
        result: TransferResult = await coro
    except BaseException as exc:
        events.emit(TransferFailed(operation, bucket, key, exc))
        raise
    events.emit(TransferFinished(result))
    return result
