"""Minimal HTTP/1.1 message framing for the fault proxy.

Only what a relay needs: split a byte stream into request/response heads and bodies
(Content-Length, chunked, read-until-close, and the no-body cases) so that faults can be
applied per request on keep-alive connections. Header values are kept as raw lines so a
pass-through relay is byte-exact.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import AsyncIterator, Literal

CRLF = b"\r\n"
HEAD_END = b"\r\n\r\n"
#: Heads larger than this are treated as a protocol error (S3 heads are a few KiB).
MAX_HEAD_BYTES = 256 * 1024
#: A chunk-size or trailer line longer than this is a protocol error.
MAX_LINE_BYTES = 8 * 1024
#: Relay granularity: how much body is read from a socket at a time.
READ_CHUNK = 256 * 1024

FramingKind = Literal["none", "length", "chunked", "until_close"]


class ProtocolError(Exception):
    """The peer sent something that is not HTTP/1.1 as this relay understands it."""


class BufferedStream:
    """An ``asyncio.StreamReader`` with our own buffer, so bytes read ahead (for example
    while watching for a client disconnect) can be handed back to the next parse."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self._buf = bytearray()

    def __repr__(self) -> str:
        return f"BufferedStream(buffered={len(self._buf)}, eof={self._reader.at_eof()})"

    @property
    def buffered(self) -> int:
        return len(self._buf)

    async def _fill(self, n: int = READ_CHUNK) -> bool:
        """Read more bytes into the buffer; False on EOF."""
        data = await self._reader.read(n)
        if not data:
            return False
        self._buf += data
        return True

    async def read_head(self) -> bytes | None:
        """Bytes up to and including the blank line; None on a clean EOF before any byte."""
        start = 0
        while True:
            idx = self._buf.find(HEAD_END, start)
            if idx >= 0:
                end = idx + len(HEAD_END)
                head = bytes(self._buf[:end])
                del self._buf[:end]
                return head
            if len(self._buf) > MAX_HEAD_BYTES:
                raise ProtocolError("message head too large")
            start = max(0, len(self._buf) - 3)
            if not await self._fill():
                if not self._buf:
                    return None
                raise asyncio.IncompleteReadError(bytes(self._buf), None)

    async def read_line(self) -> bytes:
        """One CRLF-terminated line, CRLF included."""
        start = 0
        while True:
            idx = self._buf.find(CRLF, start)
            if idx >= 0:
                end = idx + 2
                line = bytes(self._buf[:end])
                del self._buf[:end]
                return line
            if len(self._buf) > MAX_LINE_BYTES:
                raise ProtocolError("line too long")
            start = max(0, len(self._buf) - 1)
            if not await self._fill():
                raise asyncio.IncompleteReadError(bytes(self._buf), None)

    async def read_some(self, limit: int) -> bytes:
        """Up to ``limit`` bytes (at least one); b"" on EOF."""
        if not self._buf and not await self._fill(min(limit, READ_CHUNK)):
            return b""
        piece = bytes(self._buf[:limit])
        del self._buf[:limit]
        return piece

    async def read_exactly(self, n: int) -> bytes:
        while len(self._buf) < n:
            if not await self._fill(max(n - len(self._buf), 1)):
                raise asyncio.IncompleteReadError(bytes(self._buf), n)
        piece = bytes(self._buf[:n])
        del self._buf[:n]
        return piece

    async def wait_eof(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the peer to close; data that arrives meanwhile is
        kept for later reads. True when the peer closed (or reset) the connection."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                more = await asyncio.wait_for(self._fill(), remaining)
            except asyncio.TimeoutError:
                return False
            except (ConnectionError, OSError):
                return True
            if not more:
                return True


@dataclass(frozen=True)
class Framing:
    """How a message body is delimited on the wire."""

    kind: FramingKind
    length: int = 0


NO_BODY = Framing("none")


def _parse_header_lines(lines: list[bytes]) -> tuple[tuple[str, str], ...]:
    headers: list[tuple[str, str]] = []
    for line in lines:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise ProtocolError(f"bad header line {line[:80]!r}")
        headers.append((name.decode("latin-1"), value.strip().decode("latin-1")))
    return tuple(headers)


def _split_head(raw: bytes) -> tuple[bytes, list[bytes]]:
    if not raw.endswith(HEAD_END):
        raise ProtocolError("head does not end with a blank line")
    lines = raw[: -len(HEAD_END)].split(CRLF)
    return lines[0], lines[1:]


class _Head:
    """Shared header access for request and response heads."""

    first_line: bytes
    header_lines: tuple[bytes, ...]
    headers: tuple[tuple[str, str], ...]
    version: str

    def header(self, name: str) -> str | None:
        """The last value of header ``name`` (case-insensitive), or None."""
        lname = name.lower()
        found: str | None = None
        for key, value in self.headers:
            if key.lower() == lname:
                found = value
        return found

    def _tokens(self, name: str) -> set[str]:
        lname = name.lower()
        tokens: set[str] = set()
        for key, value in self.headers:
            if key.lower() == lname:
                tokens.update(t.strip().lower() for t in value.split(",") if t.strip())
        return tokens

    @property
    def is_chunked(self) -> bool:
        return "chunked" in self._tokens("transfer-encoding")

    @property
    def content_length(self) -> int | None:
        value = self.header("content-length")
        if value is None:
            return None
        if not value.isdigit():
            raise ProtocolError(f"bad Content-Length {value!r}")
        return int(value)

    @property
    def wants_close(self) -> bool:
        """True when this message ends the connection (HTTP/1.0 without keep-alive, or
        ``Connection: close``)."""
        tokens = self._tokens("connection")
        if "close" in tokens:
            return True
        return self.version == "HTTP/1.0" and "keep-alive" not in tokens

    def rebuild(self, *, drop: frozenset[str] = frozenset(), add: tuple[str, ...] = ()) -> bytes:
        """The head re-serialised from its raw lines, without headers named in ``drop``
        (lower case) and with ``add`` lines ("Name: value") appended."""
        kept = [
            line
            for line in self.header_lines
            if line.partition(b":")[0].decode("latin-1").lower() not in drop
        ]
        kept.extend(a.encode("latin-1") for a in add)
        return CRLF.join([self.first_line, *kept]) + HEAD_END


@dataclass(frozen=True)
class RequestHead(_Head):
    raw: bytes
    method: str
    target: str
    version: str
    first_line: bytes
    header_lines: tuple[bytes, ...]
    headers: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, raw: bytes) -> RequestHead:
        first, lines = _split_head(raw)
        parts = first.decode("latin-1").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise ProtocolError(f"bad request line {first[:80]!r}")
        return cls(raw, parts[0].upper(), parts[1], parts[2], first, tuple(lines),
                   _parse_header_lines(lines))

    @property
    def expects_continue(self) -> bool:
        return (self.header("expect") or "").strip().lower() == "100-continue"

    def body_framing(self) -> Framing:
        if self.is_chunked:
            return Framing("chunked")
        length = self.content_length
        if length:
            return Framing("length", length)
        return NO_BODY


@dataclass(frozen=True)
class ResponseHead(_Head):
    raw: bytes
    status: int
    reason: str
    version: str
    first_line: bytes
    header_lines: tuple[bytes, ...]
    headers: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, raw: bytes) -> ResponseHead:
        first, lines = _split_head(raw)
        version, _, rest = first.decode("latin-1").partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or not code.isdigit() or len(code) != 3:
            raise ProtocolError(f"bad status line {first[:80]!r}")
        return cls(raw, int(code), reason, version, first, tuple(lines),
                   _parse_header_lines(lines))

    @property
    def is_interim(self) -> bool:
        """1xx responses precede the final response (101 would switch protocols: not relayed
        as interim because nothing HTTP follows it)."""
        return 100 <= self.status < 200 and self.status != 101

    def body_framing(self, request_method: str) -> Framing:
        if request_method == "HEAD" or self.status in (204, 304) or 100 <= self.status < 200:
            return NO_BODY
        if self.is_chunked:
            return Framing("chunked")
        length = self.content_length
        if length is not None:
            return Framing("length", length) if length else NO_BODY
        return Framing("until_close")


BodyPart = tuple[bool, bytes]
"""(is_payload, data): payload bytes are the message body proper; framing bytes are chunk
size lines, chunk CRLFs and trailers, relayed untouched so faults see payload offsets."""


async def iter_body(stream: BufferedStream, framing: Framing,
                    chunk: int = READ_CHUNK) -> AsyncIterator[BodyPart]:
    """Yield the parts of one message body as they arrive, framing included."""
    if framing.kind == "none":
        return
    if framing.kind == "length":
        remaining = framing.length
        while remaining:
            data = await stream.read_some(min(remaining, chunk))
            if not data:
                raise asyncio.IncompleteReadError(b"", remaining)
            remaining -= len(data)
            yield True, data
        return
    if framing.kind == "until_close":
        while True:
            data = await stream.read_some(chunk)
            if not data:
                return
            yield True, data
    # chunked
    while True:
        line = await stream.read_line()
        size_text = line[:-2].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ProtocolError(f"bad chunk size line {line[:40]!r}") from None
        yield False, line
        if size == 0:
            while True:  # trailers, then the blank line
                trailer = await stream.read_line()
                yield False, trailer
                if trailer == CRLF:
                    return
        remaining = size
        while remaining:
            data = await stream.read_some(min(remaining, chunk))
            if not data:
                raise asyncio.IncompleteReadError(b"", remaining)
            remaining -= len(data)
            yield True, data
        end = await stream.read_exactly(2)
        if end != CRLF:
            raise ProtocolError("chunk not followed by CRLF")
        yield False, end
