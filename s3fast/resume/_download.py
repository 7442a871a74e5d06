"""Resumable downloads (``resumable=True``, ``s3fast cp --resumable``).

The bytes go into a partial file beside the destination (``_partial``), and a journal
(``_log``, one per bucket, key, version and destination) records the plan and each range
once its bytes are in that file. A rerun of the same download:

* HEADs the object and compares it with the plan: a different size, ETag, version or
  stored checksum is a fresh start ("source changed since the interrupted run: starting
  over"), never a file mixing two versions;
* re-reads each journaled range from the partial file and checks it against the journaled
  checksum (a local read is cheap next to the network, and it catches a partial file that
  was edited, truncated or lost bytes to a power cut in between); a range that fails is
  fetched again;
* fetches only the rest, each range pinned to the ETag with If-Match; a 412 meanwhile
  means the object changed under the rerun: it starts over once, from nothing.

The full-object checksum is then checked as for any download: the journaled ranges'
checksums (verified above) combined with the new ranges' (no second read of the file);
a COMPOSITE one is checked from the landed file. Only then is the partial file renamed
onto the destination (atomically) and the journal removed.

On failure or interruption the partial file and the journal stay (the file synced, then
the journal), and one line says how to resume. Not kept: a checksum mismatch (the bytes
are wrong) and an object that changed during a fresh run (its bytes are useless); nor
anything when the failure came before the first range's plan was journaled.

What is journaled when: the plan is synced (fsync) before any range is written; a range
record is appended (one ``write``) after its bytes are in the partial file, so it
survives ``kill -9``; records not yet synced may be lost to a power cut, which only costs
fetching those ranges again.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _checksum
from .._errors import ChecksumMismatch, ConfigError, PreconditionFailed
from .._events import BytesMoved, Emitter, Notice, TransferFailed, TransferFinished, TransferStarted
from .._results import ObjectHead, PartEvent, TransferResult
from .._transport import TALLY, Tally
from ..transfer._download import _Rest
from ..transfer._meta import head_object
from ..transfer._ranges import DownloadJob, first_get, object_changed
from ..transfer._special import written_in_place
from ._download_plan import DownloadPlan, Journaled, Span, missing, range_crc_name, read_journal
from ._log import JournalError, RecordLog, journal_path
from ._partial import PartialFileSink, partial_path

if TYPE_CHECKING:
    from ..transfer._context import TransferContext

logger = logging.getLogger("s3fast.resume")

#: said once when a rerun finds the object (or its partial file) no longer what the journal describes
STARTING_OVER = "source changed since the interrupted run: starting over"


def download_identity(bucket: str, key: str, version_id: str | None, dest: str) -> str:
    """What names one resumable download's journal: the object and where it goes."""
    return json.dumps(["download", bucket, key, version_id or "", os.path.realpath(dest)])


async def download_resumable(ctx: TransferContext, bucket: str, key: str, dest: Any, *, state_dir: str | os.PathLike[str],
                             version_id: str | None = None, events: Emitter | None = None) -> TransferResult:
    """Download to the path ``dest`` through a partial file and a journal (see the module).

    ``events`` get :class:`TransferStarted` (``resumed``, ``skipped_bytes``), a
    :class:`PartDone` per range fetched and :class:`BytesMoved`; the journal is one more,
    critical, subscriber of the same events (a range it cannot record fails the download).
    Why a run starts over or refetches a range is a :class:`Notice` (and an INFO line on the
    ``s3fast.resume`` logger); the end is :class:`TransferFinished`, or
    :class:`TransferFailed` with ``resumable=True`` when the partial file and the journal
    were kept for the same download to continue."""
    if not isinstance(dest, (str, os.PathLike)):
        raise ConfigError("resumable downloads need a file path destination, not a buffer or a file object")
    path = os.path.abspath(os.fspath(dest))
    if written_in_place(path):
        raise ConfigError(f"resumable downloads need a regular file destination: {path} is written in place "
                          "(a device, a FIFO or a descriptor), so there is no partial file to resume")
    jpath = journal_path(Path(state_dir), "download", download_identity(bucket, key, version_id, path))
    log, replay = RecordLog.open(jpath)
    tally = Tally()
    token = TALLY.set(tally)  # every request of this download counts in its result
    run = _Run(ctx, bucket, key, path, version_id, events, tally, log)
    try:
        result = await _download(run, replay.records, replay.dropped_bytes)
    except BaseException as exc:
        if events is not None:
            events.emit(TransferFailed("download", bucket, key, exc, resumable=run.kept))
        raise
    finally:
        TALLY.reset(token)
        run.log.close()  # nothing to do once discarded or kept
    if events is not None:
        events.emit(TransferFinished(result))
    return result


async def _download(run: _Run, records: list[dict[str, Any]], dropped_bytes: int) -> TransferResult:
    journaled = read_journal(records)
    if journaled.plan is not None and journaled.plan.partial == run.partial:
        result = await run.resume(journaled)
        if result is not None:
            return result
    elif records or dropped_bytes:
        run.notify(f"the resume journal {run.log.path} holds no usable plan: starting over")
    return await run.fresh()


class _JournaledJob(DownloadJob):
    """A download job that journals its plan (a fresh run: before the first byte lands) and
    counts the payload bytes this run received; its ranges reach the journal as
    :class:`PartDone` events (``_Run.record``)."""

    def __init__(self, run: _Run, info: ObjectHead | None, plan: DownloadPlan | None) -> None:
        self.run = run
        self.plan = plan
        self.received = 0
        super().__init__(run.ctx, run.bucket, run.key, None, run.parts.emit, run.on_progress, run.tally)
        self.pin_version = run.version_id
        if info is not None:
            self.set_info(info)

    def set_info(self, info: ObjectHead) -> None:
        super().set_info(info)
        if self.plan is None:  # a fresh run: the plan is durable before any byte lands
            self.plan = DownloadPlan.of(info, self.ctx.config.part_size, self.run.partial,
                                        validate=self.ctx.config.validate_checksum)
            # Where from and where to, for `s3fast resume ls` (a rerun compares the plan only)
            self.run.log.append({**self.plan.record(), "bucket": self.bucket, "key": self.key,
                                 "destination": self.run.path})
            self.run.log.sync()
            self.run.started(info, resumed=False, skipped=0)
        if self.algo is None:  # no full-object check: ranges still get a checksum for the journal
            self.algo = _checksum.ALGORITHMS[self.plan.crc]
        self.run.crc = self.algo

    def _progress(self, n: int) -> None:
        self.received += n
        super()._progress(n)


class _Run:
    """One resumable download: the journal, the partial file, and the two ways in."""

    def __init__(self, ctx: TransferContext, bucket: str, key: str, path: str, version_id: str | None,
                 events: Emitter | None, tally: Tally, log: RecordLog) -> None:
        self.ctx = ctx
        self.bucket = bucket
        self.key = key
        self.path = path
        self.partial = partial_path(path)
        self.version_id = version_id
        self.events = events
        #: ranges done go to the journal (critical: a range it cannot record fails the
        #: download) and then to the caller's subscribers
        self.parts = events.with_critical(self.record) if events is not None else Emitter(critical=(self.record,))
        self.on_progress: Callable[[int], None] | None = None
        if events is not None:
            emit = events.emit
            self.on_progress = lambda n: emit(BytesMoved(n))
        self.tally = tally
        self.log = log
        #: the partial file and the journal were kept for a later run
        self.kept = False
        self.t0 = time.monotonic()
        #: payload bytes received by earlier attempts of this run (a restart after a 412)
        self.earlier = 0
        #: the algorithm of the ranges' checksums (the plan's ``crc``), once known
        self.crc: _checksum.Algorithm | None = None

    def __repr__(self) -> str:
        return f"<resumable download s3://{self.bucket}/{self.key} -> {self.partial}>"

    def notify(self, message: str) -> None:
        """A line for the user: why this run starts over or fetches a range again."""
        logger.info("s3://%s/%s: %s", self.bucket, self.key, message)
        if self.events is not None:
            self.events.emit(Notice("download", self.bucket, self.key, message))

    def record(self, event: object) -> None:
        """The journal's subscriber: a range is in the partial file (its checksum as received)."""
        if type(event) is PartEvent:
            assert event.checksum is not None and self.crc is not None  # the job always checksums
            self.log.append(Span(event.offset, event.size, self.crc.decode(event.checksum)).record())

    def started(self, info: ObjectHead, *, resumed: bool, skipped: int) -> None:
        if self.events is not None:
            part_size = self.ctx.config.part_size
            parts = 1 if info.size <= self.ctx.config.multipart_threshold else -(-info.size // part_size)
            self.events.emit(TransferStarted("download", self.bucket, self.key, info.size, part_size, parts,
                                             resumed=resumed, skipped_bytes=skipped))

    # -- a rerun --------------------------------------------------------------------------------
    async def resume(self, journaled: Journaled) -> TransferResult | None:
        """Continue from the journal; None when it cannot be used (then: a fresh start)."""
        plan = journaled.plan
        assert plan is not None
        cfg = self.ctx.config
        try:
            info = await head_object(self.ctx.transport, self.bucket, self.key, version_id=self.version_id,
                                     checksum_mode=cfg.validate_checksum)
        except BaseException:
            self.kept = True  # nothing was touched: the next run can still resume
            raise
        reason = plan.change(info)
        if reason is None and range_crc_name(info, validate=cfg.validate_checksum) != plan.crc:
            reason = "checksum settings differ"
        if reason is not None:
            self.notify(f"{STARTING_OVER} ({reason})")
            return None
        if plan.checksum is not None:
            # The same checksum, as the first run's GET gave it: a HEAD may drop a COMPOSITE
            # value's "-N" and its type (moto does), a GET keeps them.
            info = dataclasses.replace(info, checksum=plan.checksum)
        sink = PartialFileSink(self.path)
        problem = sink.reopen(plan.size)
        if problem is not None:
            self.notify(f"{problem}: starting over")
            return None
        try:
            spans = await asyncio.to_thread(_intact, sink.fd, plan.crc, journaled.spans)
        except BaseException:
            sink.keep()
            self.kept = True
            raise
        if len(spans) < len(journaled.spans) or journaled.rejected:
            bad = len(journaled.spans) - len(spans) + journaled.rejected
            self.notify(f"{bad} journaled range(s) do not match the partial file {self.partial}: "
                        "fetching them again")
        job = _JournaledJob(self, info, plan)
        if job.combiner is not None:
            for span in spans:
                job.combiner.add(span.offset, span.crc, span.size)
        skipped = sum(s.size for s in spans)
        self.started(info, resumed=True, skipped=skipped)
        rest = _Rest(self.ctx, job, sink, select=lambda planned: missing(planned, spans, len(spans) + 1))
        try:
            await rest.run()
            verified = await self._finish(job, sink)
        except PreconditionFailed:
            await rest.settle()
            sink.remove()
            self.earlier += job.received
            if self.events is not None and job.received:
                # The bytes counted so far are thrown away with the partial file: the fresh
                # run counts the whole object again (its TransferStarted has no skipped bytes).
                self.events.emit(BytesMoved(-job.received))
            self.notify(STARTING_OVER + " (the object changed during the resumed download)")
            return None
        except BaseException as exc:
            await rest.settle()
            self._failed(exc, job, sink)
            raise
        return self._result(job, len(spans) + rest.count, verified, skipped=len(spans), resumed=True)

    # -- a first run (or a start over) ------------------------------------------------------------
    async def fresh(self) -> TransferResult:
        if self.log.records_written or os.path.getsize(self.log.path):
            path = self.log.path
            self.log.close()
            self.log, _ = RecordLog.open(path, fresh=True)
        sink = PartialFileSink(self.path)
        job = _JournaledJob(self, None, None)
        rest = _Rest(self.ctx, job, sink)
        try:
            await first_get(self.ctx, job, sink, self.version_id, rest.start)
            if rest.task is not None:
                await rest.task
            verified = await self._finish(job, sink)
        except PreconditionFailed as exc:
            await rest.settle()
            sink.remove()
            self.log.discard()
            raise object_changed(exc, self.bucket, self.key) from None
        except BaseException as exc:
            await rest.settle()
            self._failed(exc, job, sink)
            raise
        return self._result(job, 1 + rest.count, verified, skipped=0, resumed=False)

    # -- shared ends --------------------------------------------------------------------------------
    async def _finish(self, job: _JournaledJob, sink: PartialFileSink) -> bool:
        """Check the whole file against the stored checksum, then name it."""
        pending = sink.finish()
        if pending is not None:
            await pending
        check = job.check
        assert check is not None
        verified = check.verify() or (check.composite is not None
                                      and await check.verify_composite(self.ctx, sink.range_crc))
        sink.commit()
        self.log.discard()
        return verified

    def _failed(self, exc: BaseException, job: _JournaledJob, sink: PartialFileSink) -> None:
        """Keep what a rerun can use; remove what it cannot."""
        if isinstance(exc, ChecksumMismatch) or job.plan is None or sink.fd < 0:
            # Wrong bytes, or nothing journaled (or no partial file) to resume from.
            sink.remove()
            self.log.discard()
            return
        sink.keep(sync=True)
        try:
            self.log.sync()
        except JournalError:
            pass  # every range record is in the page cache already: it survives the process
        self.log.close()
        self.kept = True
        logger.info("s3://%s/%s: partial download kept in %s", self.bucket, self.key, self.partial)

    def _result(self, job: _JournaledJob, parts: int, verified: bool, *, skipped: int,
                resumed: bool) -> TransferResult:
        return dataclasses.replace(job.result(self.t0, parts, verified), bytes_sent=self.earlier + job.received,
                                   parts_skipped=skipped, resumed=resumed)


def _intact(fd: int, crc_name: str, spans: tuple[Span, ...]) -> list[Span]:
    """The spans whose bytes in the partial file still have their journaled checksum."""
    algo = _checksum.ALGORITHMS[crc_name]
    return [s for s in spans if _checksum.file_range_crc(algo, fd, s.offset, s.size) == s.crc]
