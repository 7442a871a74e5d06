"""One event primitive: what a transfer (and the tuner) tells whoever listens.

Every observer of a transfer (a progress display, ``on_part``/``on_progress`` callers,
the checkpoint journal of a resumable transfer, the tuner's update listeners) is a
*subscriber*: a callable taking one event. The vocabulary is small and typed::

    TransferStarted   the plan is known (size, part size, part count, upload id)
    PartDone          one part (upload) or range (download) is acknowledged / landed
                      (the same class as :class:`s3fast.PartEvent`)
    BytesMoved        n more payload bytes delivered (progress)
    TransferFinished  the transfer succeeded: its :class:`TransferResult`
    TransferFailed    the transfer ended with an error or was cancelled
    Notice            a line for the user (why a resumable transfer starts over)
    TunerUpdate       the tuner closed a window (a :class:`~s3fast.tuning.TunerSnapshot`)

Two kinds of subscriber, told apart when they are registered, never guessed from the
exception:

- **observers** (the default): an exception from one is logged once and that subscriber
  is dropped for the rest of the transfer. A broken progress bar must not fail a 500 GB
  upload, nor flood the log once per chunk.
- **critical** subscribers (the resume journal): an exception propagates and fails the
  transfer. A journal that cannot record must stop a resumable transfer loudly; carrying
  on would silently lose the resumability the caller asked for.

Emission is free when nobody listens: :func:`emitter` returns None for no subscribers,
and the hot paths test ``if events is not None`` before building an event object.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

from ._results import PartEvent, TransferResult, quick_init

if TYPE_CHECKING:
    from .tuning import TunerSnapshot

logger = logging.getLogger("s3fast.events")

#: one part (upload) or range (download) done: what a checkpoint journal records
PartDone = PartEvent


@quick_init
@dataclass(frozen=True)
class TransferStarted:
    """The plan of one transfer is known. ``size`` None: a stream of unknown length;
    ``parts`` 0 then. ``upload_id``: the multipart upload (uploads above the threshold).
    ``resumed``: the transfer continues an interrupted one (parts already there are
    skipped, and their bytes are reported in ``skipped_bytes``, not as :class:`BytesMoved`)."""

    operation: str  # "upload" | "download"
    bucket: str
    key: str
    size: int | None
    part_size: int
    parts: int
    upload_id: str | None = None
    resumed: bool = False
    skipped_bytes: int = 0


@quick_init
@dataclass(frozen=True)
class BytesMoved:
    """``n`` more payload bytes delivered (a part acknowledged, a slice of a range landed).
    Negative when a transfer starts over and the bytes it had delivered no longer count (a
    resumed download whose object changed): the sum of ``n`` is always the progress made."""

    n: int


@quick_init
@dataclass(frozen=True)
class TransferFinished:
    result: TransferResult


@quick_init
@dataclass(frozen=True)
class TransferFailed:
    """The transfer ended without a result: ``error`` is what ended it (a
    :class:`asyncio.CancelledError` for a cancel or an interrupt). ``resumable``: what was
    done is kept (journal and multipart upload): the same transfer run again continues."""

    operation: str
    bucket: str
    key: str
    error: BaseException
    resumable: bool = False


@quick_init
@dataclass(frozen=True)
class Notice:
    """Something the user should hear about that does not stop the transfer, e.g. why a
    resumable transfer starts over ("source changed since the interrupted run: starting over")."""

    operation: str
    bucket: str
    key: str
    message: str


@quick_init
@dataclass(frozen=True)
class TunerUpdate:
    snapshot: TunerSnapshot


Event = Union[TransferStarted, PartEvent, BytesMoved, TransferFinished, TransferFailed, Notice, TunerUpdate]

#: a subscriber: called with each event, on the event loop's thread, synchronously
Subscriber = Callable[[Any], None]


class Emitter:
    """Delivers each event to its subscribers: critical ones first (their exception
    propagates), then observers (an exception is logged and the observer dropped)."""

    __slots__ = ("_critical", "_observers")

    def __init__(self, observers: Iterable[Subscriber] = (), critical: Iterable[Subscriber] = ()) -> None:
        self._critical = tuple(critical)
        self._observers = list(observers)

    def __repr__(self) -> str:
        return f"<Emitter critical={len(self._critical)} observers={len(self._observers)}>"

    def emit(self, event: Event) -> None:
        for fn in self._critical:
            fn(event)
        if not self._observers:
            return
        for fn in tuple(self._observers):
            try:
                fn(event)
            except Exception:
                logger.exception("event subscriber %r failed on %s; it gets no more events",
                                 fn, type(event).__name__)
                self._observers.remove(fn)

    def with_critical(self, fn: Subscriber) -> Emitter:
        """A new emitter with the same observers and ``fn`` as one more critical subscriber."""
        return Emitter(self._observers, (*self._critical, fn))


def emitter(observers: Iterable[Subscriber | None] = (), critical: Iterable[Subscriber] = ()) -> Emitter | None:
    """An :class:`Emitter` for these subscribers (None entries ignored), or None when there
    are none: callers then skip building events at all."""
    obs = [fn for fn in observers if fn is not None]
    crit = tuple(critical)
    if not obs and not crit:
        return None
    return Emitter(obs, crit)


def progress_adapter(on_progress: Callable[[int], None] | None) -> Subscriber | None:
    """A subscriber that calls ``on_progress(n)`` for each :class:`BytesMoved`: the
    ``on_progress=`` keyword of ``Client.upload``/``download``, kept for library users."""
    if on_progress is None:
        return None

    def subscriber(event: Event) -> None:
        if type(event) is BytesMoved:
            on_progress(event.n)

    subscriber.__qualname__ = f"on_progress({getattr(on_progress, '__qualname__', on_progress)!s})"
    return subscriber


def part_adapter(on_part: Callable[[PartEvent], None] | None) -> Subscriber | None:
    """A subscriber that calls ``on_part(event)`` for each :class:`PartDone`: the
    ``on_part=`` keyword, kept for library users."""
    if on_part is None:
        return None

    def subscriber(event: Event) -> None:
        if type(event) is PartEvent:
            on_part(event)

    subscriber.__qualname__ = f"on_part({getattr(on_part, '__qualname__', on_part)!s})"
    return subscriber


__all__ = [
    "BytesMoved",
    "Emitter",
    "Event",
    "Notice",
    "PartDone",
    "Subscriber",
    "TransferFailed",
    "TransferFinished",
    "TransferStarted",
    "TunerUpdate",
    "emitter",
    "part_adapter",
    "progress_adapter",
]
