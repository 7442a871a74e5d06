"""Resumable uploads: a journal beside a multipart upload, and continuing it on the next run.

One run, with ``resumable=True``::

    open + lock the journal (identity: source realpath, bucket, key) and replay it
      -> read_journal (pure): resume the upload it names, or start over (and say why)
      -> resume: ListParts (S3 is the truth) -> reconcile (pure) -> send only the rest
      -> fresh: CreateMultipartUpload; the journal's subscriber records the plan (fsync:
         an upload id must never be lost) and then each acknowledged part (one write each,
         no fsync: the page cache outlives a killed process, and a part the journal lost
         is found again by ListParts)
    success: the journal is removed; failure or interrupt: the multipart upload and the
    journal are kept (fsync) when the failure is one a later run can get past (a cancel,
    network trouble, a server error); any other failure aborts and removes both.

The full-object checksum of a resumed upload is combined from the part checksums (those
of the skipped parts from the journal or ListParts): the file is not read again, except
the parts S3 holds that the journal missed, each read once to compare its checksum.
A file at or below the multipart threshold is one PUT: nothing to resume, it is sent again.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _checksum
from .._errors import ConfigError, NetworkError, RequestTimeout, S3Error
from .._events import Emitter, Event, PartDone, TransferFailed, TransferFinished, TransferStarted
from .._results import Checksum, TransferResult
from .._transport import TALLY
from ..transfer import _upload
from ..transfer._meta import head_object
from ..transfer._mpu_list import abort_upload, list_uploads
from ..transfer._multipart import abort_multipart, list_parts
from ..transfer._planner import Part, plan_upload
from ..transfer._sources import FileSource, Source, open_source
from . import _salvage
from ._log import RecordLog, Replay, journal_path
from ._plan import (
    UNREADABLE,
    UPLOAD_GONE,
    JournalVerdict,
    ListedPart,
    Prior,
    SourceStamp,
    part_record,
    plan_record,
    read_journal,
    reconcile,
)

if TYPE_CHECKING:
    from ..transfer._context import TransferContext

logger = logging.getLogger("s3fast.resume")


def upload_identity(source: str, bucket: str, key: str) -> str:
    """What names an upload's journal: the same command finds the same journal."""
    return json.dumps(["upload", source, bucket, key])


def keep_on(exc: BaseException) -> bool:
    """Whether a failure leaves the multipart upload worth resuming: an interrupt, the
    network, a timeout or a server error; not bad input, a changed source or a refusal."""
    if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt, NetworkError, RequestTimeout)):
        return True
    return isinstance(exc, S3Error) and (exc.status or 0) >= 500


class UploadJournal:
    """The journal's subscriber (critical: a failure to record fails the upload)."""

    def __init__(self, log: RecordLog, plan: Callable[[str], dict[str, Any]], *, resumed: bool) -> None:
        self.log = log
        self._plan = plan
        self._resumed = resumed

    def __repr__(self) -> str:
        return f"<UploadJournal {self.log!r} resumed={self._resumed}>"

    def __call__(self, event: Event) -> None:
        if type(event) is PartDone:
            assert event.etag is not None
            self.log.append(part_record(event.number, event.offset, event.size, event.etag, event.checksum))
        elif type(event) is TransferStarted and not self._resumed and event.upload_id is not None:
            self.log.append(self._plan(event.upload_id))
            self.log.sync()


async def upload_resumable(ctx: TransferContext, source: Any, bucket: str, key: str, *, headers: dict[str, str],
                           events: Emitter | None, base: Path,
                           notify: Callable[[str], None]) -> TransferResult:
    """Upload the file ``source`` (a path) resumably; ``notify`` gets the one-line reasons
    for starting over (a changed source, a vanished upload, an unreadable journal)."""
    if not isinstance(source, (str, os.PathLike)):
        raise ConfigError("a resumable upload needs a file path as its source")
    real = os.path.realpath(source)
    cfg = ctx.config
    src: Source | None = open_source(os.fspath(source))
    try:
        if not isinstance(src, FileSource):
            raise ConfigError(f"{source}: a resumable upload needs a regular file")
        stamp = SourceStamp.of(os.fstat(src.fd))
        plan = plan_upload(src.size, cfg.part_size, cfg.multipart_threshold)
        path = journal_path(base, "upload", upload_identity(real, bucket, key))
        if not plan.multipart:
            # One PUT: nothing to resume. An older journal for this destination (a larger
            # file then) is stale: its upload is aborted and the journal removed.
            if path.exists():
                await _drop_stale(ctx, path, bucket, key)
            src.close()
            src = None
            return await _upload.upload(ctx, source, bucket, key, headers=headers, events=events)
        algo = _checksum.get(cfg.checksum)
        part_size = plan.parts[0].size
        log, replay = RecordLog.open(path)
        up: _upload._Upload | None = None
        try:
            if replay.dropped_bytes and replay.records:
                notify(f"the resume journal had a damaged tail ({replay.dropped_bytes} bytes): "
                       "resuming from the records before it")
            verdict = read_journal(replay.records, stamp, part_size, algo.name if algo else None, real, bucket, key)
            if (replay.dropped_bytes and not replay.records) or (verdict.reason == UNREADABLE
                                                                 and not verdict.stale_upload_id):
                # The plan (and its upload id) is lost: find the upload it named, never a stranger's.
                await _settle_orphan(ctx, bucket, key, replay, notify)
                verdict = JournalVerdict()
            resume: _upload.Resume | None = None
            if verdict.prior is not None:
                resume = await _reconcile(ctx, src, bucket, key, plan.parts, verdict.prior, algo)
                if resume is None:
                    finished = await _already_complete(ctx, bucket, key, plan.parts, verdict.prior, algo, src.size)
                    if finished is not None:
                        # Killed after S3 completed the upload but before the answer came back.
                        notify("the interrupted upload had completed: nothing left to send")
                        log.discard()
                        if events is not None:
                            events.emit(TransferFinished(finished))
                        return finished
                    notify(UPLOAD_GONE)
            elif verdict.reason is not None:
                notify(verdict.reason)
                if verdict.stale_upload_id:
                    await abort_multipart(ctx.transport, bucket, key, verdict.stale_upload_id)
            if resume is None and replay.records:
                log.close()
                log, _ = RecordLog.open(path, fresh=True)
            journal = UploadJournal(
                log, lambda upload_id: plan_record(real, bucket, key, stamp, part_size,
                                                   algo.name if algo else None, upload_id),
                resumed=resume is not None)
            emitter = events.with_critical(journal) if events is not None else Emitter((), (journal,))
            up = _upload._Upload(ctx, bucket, key, headers=headers, events=emitter)
            up.keep = keep_on
            result = await _send(up, src, plan.parts, resume)
        except BaseException as exc:
            # Kept: an upload the run left for the next one, or, when the run failed before
            # starting its upload (ListParts cut short, a cancel), the journal it found.
            if (up.kept if up is not None else bool(replay.records) and keep_on(exc)):
                _flush(log)
            else:
                log.discard()
            raise
        log.discard()
        return result
    finally:
        if src is not None:
            src.close()


async def _send(up: _upload._Upload, src: FileSource, parts: tuple[Part, ...],
                resume: _upload.Resume | None) -> TransferResult:
    """The multipart upload itself, on the transfer floor's machinery (events, abort or keep)."""
    assert up.events is not None and src.size is not None
    t0 = time.monotonic()
    token = TALLY.set(up.tally)
    try:
        src.probe()
        result = await _upload._upload_parts(up, src, parts, src.size, t0, resume)
    except BaseException as exc:
        up.events.emit(TransferFailed("upload", up.bucket, up.key, exc, resumable=up.kept))
        raise
    finally:
        TALLY.reset(token)
    up.events.emit(TransferFinished(result))
    return result


async def _already_complete(ctx: TransferContext, bucket: str, key: str, parts: tuple[Part, ...], prior: Prior,
                            algo: _checksum.Algorithm | None, size: int) -> TransferResult | None:
    """The object, when the interrupted run's CompleteMultipartUpload took effect: it has
    this file's size and the full-object checksum combined from every part the journal
    recorded. None when that cannot be shown (a part missing from the journal, no checksum)."""
    if algo is None:
        return None
    combiner = _checksum.Combiner(algo)
    for part in parts:
        mine = prior.parts.get(part.number)
        if mine is None or mine.checksum is None or mine.offset != part.offset or mine.size != part.size:
            return None
        combiner.add(part.offset, algo.decode(mine.checksum), part.size)
    full = algo.encode(combiner.result(size))
    try:
        head = await head_object(ctx.transport, bucket, key)
    except S3Error:
        return None
    if head.size != size or head.checksum is None or head.checksum.algorithm != algo.name or head.checksum.value != full:
        return None
    return TransferResult(
        operation="upload", bucket=bucket, key=key, bytes=size, seconds=0.0, parts=len(parts), etag=head.etag,
        checksum=Checksum(algo.name, full), checksum_verified=True, multipart=True, requests=0, retries=0,
        version_id=head.version_id, upload_id=prior.upload_id, bytes_sent=0, parts_skipped=len(parts),
        resumed=True)


def _digest(src: FileSource, part: Part, algo: _checksum.Algorithm | None) -> tuple[int, str]:
    """The checksum and the MD5 (hex) of one part of the file, read once."""
    md5 = hashlib.md5(usedforsecurity=False)
    crc = 0
    pos, end = src.start + part.offset, src.start + part.offset + part.size
    while pos < end:
        chunk = os.pread(src.fd, min(end - pos, 1 << 20), pos)
        if not chunk:
            break  # the file shrank: the digest differs, the part is sent again (and fails there)
        md5.update(chunk)
        if algo is not None:
            crc = algo.update(chunk, crc)
        pos += len(chunk)
    return crc, md5.hexdigest()


def _flush(log: RecordLog) -> None:
    """Make the kept journal survive a power loss too, then let it go."""
    try:
        log.sync()
    finally:
        log.close()


async def _reconcile(ctx: TransferContext, src: FileSource, bucket: str, key: str, parts: tuple[Part, ...],
                     prior: Prior, algo: _checksum.Algorithm | None) -> _upload.Resume | None:
    """The parts to send, after asking S3 what it holds; None when the upload is gone."""
    try:
        listed = await list_parts(ctx.transport, bucket, key, prior.upload_id,
                                  checksum_field=f"Checksum{algo.s3_name}" if algo else None)
    except S3Error as exc:
        if exc.code == "NoSuchUpload" or exc.status == 404:
            return None
        raise
    rec = reconcile(parts, listed, prior.parts, checksums=algo is not None)
    done = dict(rec.done)
    todo = list(rec.todo)
    for part, have in rec.to_verify:
        # Read on a thread: a 5 GiB part must not stall the loop.
        crc, md5 = await asyncio.to_thread(_digest, src, part, algo)
        if have.checksum is not None and algo is not None:
            same = algo.encode(crc) == have.checksum
        else:
            same = md5 == have.etag.strip('"').lower()
        if same:
            done[part.number] = (have.etag, algo.encode(crc) if algo is not None else None)
        else:
            todo.append(part)
    todo.sort(key=lambda p: p.number)
    return _upload.Resume(prior.upload_id, done, tuple(todo))


async def _settle_orphan(ctx: TransferContext, bucket: str, key: str, replay: Replay,
                         notify: Callable[[str], None]) -> None:
    """The journal's plan is unreadable: abort the upload it started when the evidence shows
    which one it is (see :mod:`._salvage`), else say what to run. Either way: start over."""
    url = f"s3://{bucket}/{key}"
    found = _salvage.salvage(replay.damaged)
    try:
        listed = [(u.key, u.upload_id, u.initiated) async for u in list_uploads(ctx.transport, bucket, key)]
    except S3Error as exc:  # e.g. no s3:ListBucketMultipartUploads permission
        notify(f"{UNREADABLE}; the incomplete uploads of {url} cannot be listed ({exc.code or exc.status}): "
               f"see `s3fast mpu ls {url}`")
        return
    cands = _salvage.candidates(listed, key, replay.mtime)
    if not cands:
        notify(f"{UNREADABLE} (no incomplete upload of {url} is left in S3)")
        return
    verdict = _salvage.by_id(found, cands)
    if verdict is None and found.parts:
        parts: dict[str, dict[int, ListedPart]] = {}
        for c in cands[:_salvage.MAX_PROBED]:
            try:
                parts[c.upload_id] = await list_parts(ctx.transport, bucket, key, c.upload_id, checksum_field=None)
            except S3Error:
                continue  # gone meanwhile, or not ours to read: not the one
        verdict = _salvage.by_parts(found, parts)
    if verdict is None:
        ids = " / ".join(c.upload_id for c in cands)
        notify(f"{UNREADABLE}; its incomplete upload cannot be told from the other uploads of {url} with "
               f"certainty, so none is aborted: if it is not another writer's, run `s3fast mpu abort {url} "
               f"--upload-id ID` (with this command's endpoint options) for ID in: {ids}")
        return
    try:
        await abort_upload(ctx.transport, bucket, key, verdict.upload_id)
    except S3Error as exc:
        if exc.code != "NoSuchUpload" and exc.status != 404:
            raise
    notify(f"{UNREADABLE}; aborted the interrupted run's upload {verdict.upload_id} of {url} "
           f"({verdict.why})")


async def _drop_stale(ctx: TransferContext, path: Path, bucket: str, key: str) -> None:
    log, replay = RecordLog.open(path)
    try:
        plan = replay.records[0] if replay.records else {}
        upload_id = plan.get("upload_id")
        if isinstance(upload_id, str) and upload_id:
            await abort_multipart(ctx.transport, bucket, key, upload_id)
    finally:
        log.discard()


__all__ = ["UploadJournal", "keep_on", "upload_identity", "upload_resumable"]
