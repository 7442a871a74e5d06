"""Pure parts of a Dask tree copy: cutting a listing into batches, and adding up results.

A batch is sized by bytes *and* by count: bytes keep a batch of large objects from holding
one worker for hours while the others idle, the count keeps a batch of tiny objects from
shipping hundreds of thousands of keys through the scheduler in one message.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..tree._decide import Entry
from ..tree._ops import TreeResult

#: a batch is closed when it reaches either bound
DEFAULT_BATCH_BYTES = 256 * 1024 * 1024
DEFAULT_BATCH_OBJECTS = 1000

#: what travels to a worker for one object: (relative, size, mtime, location, etag)
Item = tuple[str, int, "float | None", str, str]


def to_item(e: Entry) -> Item:
    return (e.relative, e.size, e.mtime, e.location, e.etag)


def to_entry(item: Item) -> Entry:
    return Entry(item[0], item[1], item[2], item[3], item[4])


class Batcher:
    """Feed entries with :meth:`add`; it returns a full batch when one closes, and
    :meth:`flush` returns the last, partial one (None when empty)."""

    def __init__(self, max_bytes: int = DEFAULT_BATCH_BYTES, max_objects: int = DEFAULT_BATCH_OBJECTS) -> None:
        if max_bytes < 1 or max_objects < 1:
            raise ValueError(f"batch bounds must be >= 1, got {max_bytes} bytes, {max_objects} objects")
        self.max_bytes = max_bytes
        self.max_objects = max_objects
        self._items: list[Item] = []
        self._bytes = 0

    def __repr__(self) -> str:
        return f"<Batcher {len(self._items)} objects {self._bytes} bytes open>"

    def add(self, e: Entry) -> list[Item] | None:
        self._items.append(to_item(e))
        self._bytes += e.size
        if self._bytes >= self.max_bytes or len(self._items) >= self.max_objects:
            return self.flush()
        return None

    def flush(self) -> list[Item] | None:
        items, self._items, self._bytes = self._items, [], 0
        return items or None


@dataclass(frozen=True)
class BatchResult:
    """What one batch did (a summary: the keys done are not sent back, only the failures)."""

    index: int
    attempt: int
    #: the worker that ran it (host:pid)
    worker: str
    objects: int = 0
    bytes: int = 0
    skipped: int = 0
    dryrun: int = 0
    #: objects skipped because an earlier attempt of this batch had already copied them
    already_done: int = 0
    failed: tuple[tuple[str, str], ...] = ()
    warnings: tuple[str, ...] = ()
    #: the copy was interrupted before this batch ended: the counts are what it had done
    stopped: bool = False


@dataclass
class Tally:
    """One batch's counts as its objects finish. Each object is counted by the task that
    moved it, the moment its transfer returns, so a batch stopped mid-way reports exactly
    the objects whose transfer had returned, not the fewer ones a result loop had read."""

    objects: int = 0
    bytes: int = 0
    skipped: int = 0
    dryrun: int = 0
    already_done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, r: TreeResult, *, already_done: bool = False) -> None:
        if already_done:
            self.already_done += 1
        elif r.status == "done":
            self.objects += 1
            self.bytes += r.bytes
        elif r.status == "failed":
            self.failed.append((r.source or r.destination, r.error or "failed"))
        elif r.status == "dryrun":
            self.dryrun += 1
        else:
            self.skipped += 1
            if r.reason.startswith("unsafe key"):
                self.warnings.append(f"skipped {r.source!r}: {r.reason}")

    def result(self, index: int, attempt: int, worker: str, *, stopped: bool = False) -> BatchResult:
        return BatchResult(index, attempt, worker, self.objects, self.bytes, self.skipped, self.dryrun,
                           self.already_done, tuple(self.failed), tuple(self.warnings), stopped)


@dataclass
class Summary:
    """A whole Dask copy, merged from its batches."""

    objects: int = 0
    bytes: int = 0
    skipped: int = 0
    dryrun: int = 0
    already_done: int = 0
    batches: int = 0
    #: batches that were run again after their task failed (a lost worker, an error)
    retried: int = 0
    #: the copy was interrupted (Ctrl-C, SIGTERM: its task cancelled) before it ended
    interrupted: bool = False
    #: batches the interruption stopped mid-way or before they started
    stopped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    workers: set[str] = field(default_factory=set)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def add(self, r: BatchResult) -> None:
        self.batches += 1
        self.stopped += r.stopped
        self.objects += r.objects
        self.bytes += r.bytes
        self.skipped += r.skipped
        self.dryrun += r.dryrun
        self.already_done += r.already_done
        self.failed.extend(r.failed)
        self.warnings.extend(r.warnings)
        self.workers.add(r.worker)

    def stop_batch(self) -> None:
        """A batch the interruption kept from starting, or whose task ended without a result."""
        self.batches += 1
        self.stopped += 1

    def fail_batch(self, items: Iterable[Item], error: str, name: "NameOf") -> None:
        """A batch whose every attempt failed: each of its objects is reported failed."""
        self.batches += 1
        self.failed.extend((name(i), error) for i in items)

    def as_dict(self) -> dict[str, object]:
        d = dataclasses.asdict(self)
        d["failed"] = [{"key": k, "error": e} for k, e in self.failed]
        d["workers"] = sorted(self.workers)
        return d


class NameOf:
    """How an object is named in a report: its S3 URL or local path on the source side."""

    def __init__(self, bucket: str | None) -> None:
        self.bucket = bucket

    def __call__(self, item: Item) -> str:
        return f"s3://{self.bucket}/{item[3]}" if self.bucket is not None else item[3]


__all__ = ["DEFAULT_BATCH_BYTES", "DEFAULT_BATCH_OBJECTS", "BatchResult", "Batcher", "Item", "NameOf", "Summary",
           "Tally", "to_entry", "to_item"]
