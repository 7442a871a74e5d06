"""What a request is and what counts it: the types the transport's request pipeline
(``s3fast/_py/_call.py``, compiled or pure) and its callers share, in a module of their own
so the pipeline can import them without importing the transport that binds it."""
from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass, field

from ._awschunked import TrailerBody
from .net._body import FileSlice


class Tally:
    """Requests sent and retries made on behalf of one transfer (its ``TransferResult``).

    A transfer makes one and installs it in ``TALLY`` for as long as it runs; every
    request it causes counts there, whatever task sends it (range tasks, hedges, HEADs of
    a checksum check, the Abort of a failed upload), because tasks inherit the context
    they are created in. Concurrent transfers on one client each count only their own.
    """

    __slots__ = ("requests", "retries")

    def __init__(self) -> None:
        self.requests = 0
        self.retries = 0

    def __repr__(self) -> str:
        return f"<Tally requests={self.requests} retries={self.retries}>"


#: the running transfer's Tally, None outside a transfer (metadata calls, listing)
TALLY: contextvars.ContextVar[Tally | None] = contextvars.ContextVar("s3fast_tally", default=None)


class Throttles:
    """503 SlowDown (throttle) answers met by the requests of one unit of work, retried or
    not: the tree engine installs one per object in ``THROTTLES`` to slow that object's
    prefix only (``tree/_prefixes``), since S3 throttles per prefix."""

    __slots__ = ("count", "listener")

    def __init__(self, listener: Callable[[], None] | None = None) -> None:
        self.count = 0
        #: told at once (from the retry loop), so the prefix slows while the object still runs
        self.listener = listener

    def bump(self) -> None:
        self.count += 1
        if self.listener is not None:
            self.listener()


THROTTLES: contextvars.ContextVar[Throttles | None] = contextvars.ContextVar("s3fast_throttles", default=None)


@dataclass
class Request:
    method: str
    bucket: str | None
    key: str | None = None
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | bytearray | memoryview | FileSlice | TrailerBody | None = None
    #: statuses that are success
    expect: tuple[int, ...] = (200,)
    #: S3 may answer 200 with an <Error> body (CompleteMultipartUpload, copies)
    error_in_200: bool = False
    #: told the IP each attempt goes to (hedging sends its duplicate elsewhere)
    on_ip: Callable[[str], None] | None = None

    @property
    def body_length(self) -> int:
        if self.body is None:
            return 0
        if isinstance(self.body, FileSlice):
            return self.body.size
        if isinstance(self.body, TrailerBody):
            return self.body.length  # as encoded on the wire
        return memoryview(self.body).nbytes

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.key}" if self.key else f"s3://{self.bucket or ''}"
        return f"{self.method} {where}" + (f"?{self.query}" if self.query else "")


@dataclass
class Stats:
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    hedges: int = 0
    hedge_wins: int = 0
    #: hedges that replaced a request on a slow IP, keeping the bytes it had received
    moves: int = 0
