"""The per-chunk receive path of a connection, pure Python (twin of ``native/_recv.pyx``).

``Receiver`` is the base of the connection protocol (an ``asyncio.BufferedProtocol``):
the event loop asks it for a buffer, receives straight into it, and reports how many
bytes landed. While a response head is awaited the buffer is a small scratch area;
once the body starts, it is a window of the caller's destination (a part buffer, a
slice of the user's bytearray, or a receive chunk bound for ``os.pwrite``), so body
bytes are never copied into an intermediate ``bytes`` object.

Subclasses implement the hooks ``_head_done(end)``, ``_view_done()`` and
``_unexpected_data()``.
"""
from __future__ import annotations

from typing import Callable

from ._http import find_head_end

MODE_IDLE = 0
MODE_HEAD = 1
MODE_HELD = 2
MODE_BODY = 3

HEAD_BUFFER_SIZE = 64 * 1024


class Receiver:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._headbuf = bytearray(HEAD_BUFFER_SIZE)
        self._headview = memoryview(self._headbuf)
        self._hlen = 0
        self._mode = MODE_IDLE
        self._view: memoryview | None = None
        self._vpos = 0
        self._vlen = 0
        self._remaining = -1  # body bytes still expected; -1 = until EOF
        self._partial = False  # wake the reader after any bytes (chunked / close-delimited)
        self.rx_bytes = 0  # body bytes received for the current response
        self.last_rx = 0.0
        self._clock = clock

    # -- called by the event loop -------------------------------------------------
    def get_buffer(self, sizehint: int) -> memoryview:
        if self._mode == MODE_BODY:
            n = self._vlen - self._vpos
            if 0 <= self._remaining < n:
                n = self._remaining
            return self._view[self._vpos:self._vpos + n]  # type: ignore[index]
        if self._hlen >= HEAD_BUFFER_SIZE:
            # Head too large (or unexpected data piling up): hand out a throwaway
            # buffer; buffer_updated reports the problem.
            return memoryview(bytearray(4096))
        return self._headview[self._hlen:]

    def buffer_updated(self, nbytes: int) -> None:
        self.last_rx = self._clock()
        mode = self._mode
        if mode == MODE_BODY:
            self._vpos += nbytes
            self.rx_bytes += nbytes
            if self._remaining > 0:
                self._remaining -= nbytes
            if self._vpos == self._vlen or self._remaining == 0 or self._partial:
                self._view_done()
        elif mode == MODE_HEAD:
            old = self._hlen
            if old >= HEAD_BUFFER_SIZE:
                self._unexpected_data()
                return
            self._hlen = old + nbytes
            end = find_head_end(self._headbuf, old, self._hlen)
            if end >= 0:
                self._head_done(end)
            elif self._hlen >= HEAD_BUFFER_SIZE:
                self._unexpected_data()
        else:
            self._hlen += nbytes
            self._unexpected_data()

    # -- called by the connection --------------------------------------------------
    def _set_view(self, view: memoryview, partial: bool = False) -> None:
        self._partial = partial
        self._view = view
        self._vpos = 0
        self._vlen = len(view)
        self._mode = MODE_BODY

    def _view_filled(self) -> int:
        """Bytes written into the current view so far."""
        return self._vpos

    # -- hooks ---------------------------------------------------------------------
    def _head_done(self, end: int) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _view_done(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _unexpected_data(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError
