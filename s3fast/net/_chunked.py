"""An incremental, bounded decoder of HTTP/1.1 chunked bodies (RFC 9112 7.1).

Fed the body's bytes as they arrive, split anywhere. It holds the decoded body and at
most one unfinished line (a size line or a trailer line, never longer than
``max_line``), and looks at each input byte once: a search for the end of a line starts
where the previous one stopped, so a server that never sends CRLF costs at most
``max_line`` bytes and one pass over them, not a rescan of a growing buffer per receive.
A chunk whose declared size would take the body over ``max_body`` is refused when its
size line arrives, before any of its data is read.
"""
from __future__ import annotations

import re

from ._limits import MAX_CHUNK_LINE, MAX_TRAILER_BYTES

_SIZE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")


class ChunkedError(ValueError):
    """The bytes are not a chunked body within the decoder's limits."""


class ChunkedDecoder:
    """Decode with :meth:`feed` until :attr:`done`; the payload collects in :attr:`body`."""

    __slots__ = ("body", "max_body", "max_line", "max_trailer", "_state", "_line", "_left", "_trailer")

    def __init__(self, max_body: int, *, max_line: int = MAX_CHUNK_LINE,
                 max_trailer: int = MAX_TRAILER_BYTES) -> None:
        self.body = bytearray()
        self.max_body = max_body
        self.max_line = max_line
        self.max_trailer = max_trailer
        self._state = _SIZE
        self._line = bytearray()  # an unfinished line carried over from the last feed
        self._left = 0  # _DATA: chunk bytes still to come; _DATA_END: CRLF bytes still to come
        self._trailer = 0  # trailer bytes so far

    def __repr__(self) -> str:
        state = ("size", "data", "data-end", "trailer", "done")[self._state]
        return f"<ChunkedDecoder {state} body={len(self.body)} buffered={self.buffered}>"

    @property
    def done(self) -> bool:
        return self._state == _DONE

    @property
    def buffered(self) -> int:
        """Bytes held besides the decoded body (an unfinished line)."""
        return len(self._line)

    def feed(self, data: bytes | bytearray, start: int = 0, end: int | None = None) -> int:
        """Decode ``data[start:end]``; return how many of those bytes belonged to the body
        (all of them, unless the body ended before ``end``). Raises ChunkedError."""
        pos = start
        stop = len(data) if end is None else end
        while pos < stop:
            state = self._state
            if state == _DATA:
                take = min(self._left, stop - pos)
                self.body += memoryview(data)[pos:pos + take]
                pos += take
                self._left -= take
                if self._left == 0:
                    self._state = _DATA_END
                    self._left = 2
            elif state == _DATA_END:
                if data[pos] != (13 if self._left == 2 else 10):
                    raise ChunkedError("chunk data not followed by CRLF")
                pos += 1
                self._left -= 1
                if self._left == 0:
                    self._state = _SIZE
            elif state == _DONE:
                break
            else:
                pos = self._take_line(data, pos, stop)
        return pos - start

    def _take_line(self, data: bytes | bytearray, pos: int, stop: int) -> int:
        room = self.max_line - len(self._line)  # bytes this line may still take, LF included
        nl = data.find(b"\n", pos, min(stop, pos + room))
        if nl < 0:
            if stop - pos >= room:
                what = "chunk-size" if self._state == _SIZE else "trailer"
                raise ChunkedError(f"{what} line longer than {self.max_line} bytes")
            self._line += memoryview(data)[pos:stop]
            return stop
        if self._line:
            self._line += memoryview(data)[pos:nl + 1]
            line = bytes(self._line)
            self._line.clear()
        else:
            line = bytes(data[pos:nl + 1])
        if not line.endswith(b"\r\n"):
            raise ChunkedError("line not ended by CRLF")
        if self._state == _SIZE:
            self._size_line(line[:-2])
        else:
            self._trailer_line(line)
        return nl + 1

    def _size_line(self, line: bytes) -> None:
        digits, semi, _ext = line.partition(b";")
        if semi:
            digits = digits.rstrip(b" \t")  # whitespace may precede an extension
        if _HEX.fullmatch(digits) is None:
            raise ChunkedError(f"bad chunk size {line[:40]!r}")
        size = int(digits, 16)
        if size > self.max_body - len(self.body):
            raise ChunkedError(f"a chunk of {size} bytes takes the body over its {self.max_body}-byte limit")
        if size:
            self._state = _DATA
            self._left = size
        else:
            self._state = _TRAILER

    def _trailer_line(self, line: bytes) -> None:
        if line == b"\r\n":
            self._state = _DONE
            return
        self._trailer += len(line)
        if self._trailer > self.max_trailer:
            raise ChunkedError(f"trailers longer than {self.max_trailer} bytes")
        name, colon, _value = line.partition(b":")
        if not colon or not name or name != name.strip():
            raise ChunkedError(f"bad trailer line {line[:40]!r}")
