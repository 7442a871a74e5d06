"""Transfer events and subscribers (the public face of :mod:`s3fast._events`).

::

    def show(event: s3fast.events.Event) -> None:
        if isinstance(event, s3fast.events.PartDone):
            print("part", event.number, "done")

    await client.upload("big.bin", "s3://bucket/big.bin", subscribers=[show])
"""
from __future__ import annotations

from ._events import (
    BytesMoved,
    Emitter,
    Event,
    Notice,
    PartDone,
    Subscriber,
    TransferFailed,
    TransferFinished,
    TransferStarted,
    TunerUpdate,
)

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
]
