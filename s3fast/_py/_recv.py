"""The per-chunk receive path of a connection, pure Python (twin of ``native/_recv.pyx``).

``Receiver`` is the base of the connection protocol (an ``asyncio.BufferedProtocol``):
the event loop asks it for a buffer, receives straight into it, and reports how many
bytes landed. While a response head is awaited the buffer is a small scratch area;
once the body starts, it is a window of the caller's destination (a part buffer, a
slice of the user's bytearray, or a receive chunk bound for ``os.pwrite``), so body
bytes are never copied into an intermediate ``bytes`` object.

In file mode (``begin_file``) the body goes to a file instead: every receive lands in a
small reusable buffer and is written at once with ``os.pwrite`` from inside the event
loop's callback, while it is still in the CPU cache. No coroutine wakes up per chunk and
reading never pauses until the range is complete: this is the cheapest way to a file on
a small machine (one thread doing receive-then-write beats handing chunks to writer
threads, whose wake-ups and cache misses cost more than the parallelism gains).

Subclasses implement the hooks ``_head_done(end)``, ``_view_done()``, ``_file_done()``,
``_stash_done()`` and ``_unexpected_data()``; ``_head_invalid(exc)`` (a head over
``MAX_HEAD_SIZE``) falls back to ``_unexpected_data()`` unless overridden.

Nothing here allocates from a length the server sent: heads and stashed bodies live in
the fixed head buffer (``stash_until`` refuses a target beyond it), and every other body
lands in a buffer the caller sized and handed over.
"""
from __future__ import annotations

import os
from typing import Any, Callable

from ._common import (FILE_PROGRESS_STEP, HEAD_BUFFER_SIZE, MAX_CONTENT_LENGTH, MODE_BODY, MODE_FILE, MODE_HEAD,
                      MODE_HELD, MODE_IDLE, MODE_STASH, HeadError)
from ._http import find_head_end

__all__ = ["FILE_PROGRESS_STEP", "HEAD_BUFFER_SIZE", "MODE_BODY", "MODE_FILE", "MODE_HEAD", "MODE_HELD",
           "MODE_IDLE", "MODE_STASH", "Receiver"]


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
        self._stash_target = 0  # MODE_STASH: the head buffer is complete at this length
        self.last_rx = 0.0
        self._clock = clock
        # file mode
        self._fd = -1
        self._foff = 0
        self._fleft = 0
        self._fbuf: memoryview | None = None
        self._fcrc_fn: Callable[[Any, int], int] | None = None
        self._fon_progress: Callable[[], None] | None = None
        self._funreported = 0
        self.file_written = 0  # bytes of the current file-mode read already in the file
        self.file_crc = 0  # running checksum of those bytes (when a checksum function was given)
        self.file_error: OSError | None = None

    # -- called by the event loop -------------------------------------------------
    def get_buffer(self, sizehint: int) -> memoryview:
        if self._mode == MODE_FILE:
            n = len(self._fbuf)  # type: ignore[arg-type]
            if self._fleft < n:
                n = self._fleft
            return self._fbuf[:n]  # type: ignore[index]
        if self._mode == MODE_BODY:
            n = self._vlen - self._vpos
            if 0 <= self._remaining < n:
                n = self._remaining
            return self._view[self._vpos:self._vpos + n]  # type: ignore[index]
        if self._mode == MODE_STASH:
            return self._headview[self._hlen:self._stash_target]
        if self._hlen >= HEAD_BUFFER_SIZE:
            # Head too large (or unexpected data piling up): hand out a throwaway
            # buffer; buffer_updated reports the problem.
            return memoryview(bytearray(4096))
        return self._headview[self._hlen:]

    def buffer_updated(self, nbytes: int) -> None:
        self.last_rx = self._clock()
        mode = self._mode
        if mode == MODE_FILE:
            self.rx_bytes += nbytes
            if self._remaining > 0:
                self._remaining -= nbytes
            chunk = self._fbuf[:nbytes]  # type: ignore[index]
            try:
                off = self._foff
                view = chunk
                while view:
                    n = os.pwrite(self._fd, view, off)
                    view = view[n:]
                    off += n
            except OSError as exc:
                self.file_error = exc
                self._file_done()
                return
            if self._fcrc_fn is not None:
                self.file_crc = self._fcrc_fn(chunk, self.file_crc)
            self._foff += nbytes
            self._fleft -= nbytes
            self.file_written += nbytes
            if self._fleft == 0:
                self._file_done()
            elif self._fon_progress is not None:
                self._funreported += nbytes
                if self._funreported >= FILE_PROGRESS_STEP:
                    self._funreported = 0
                    self._fon_progress()
        elif mode == MODE_BODY:
            self._vpos += nbytes
            self.rx_bytes += nbytes
            if self._remaining > 0:
                self._remaining -= nbytes
            if self._vpos == self._vlen or self._remaining == 0 or self._partial:
                self._view_done()
        elif mode == MODE_STASH:
            self._hlen += nbytes
            self.rx_bytes += nbytes
            if self._hlen >= self._stash_target:
                self._stash_done()
        elif mode == MODE_HEAD:
            old = self._hlen
            if old >= HEAD_BUFFER_SIZE:
                self._unexpected_data()
                return
            self._hlen = old + nbytes
            try:
                end = find_head_end(self._headbuf, old, self._hlen)
            except HeadError as exc:
                self._head_invalid(exc)
                return
            if end >= 0:
                self._head_done(end)
            elif self._hlen >= HEAD_BUFFER_SIZE:
                self._unexpected_data()
        else:
            self._hlen += nbytes
            self._unexpected_data()

    # -- called by the connection --------------------------------------------------
    # State changes the connection makes, as methods, so it need not write the fields
    # (the compiled twin's are C integers: a bad value fails here, not deep in a callback).
    def expect_head(self) -> None:
        """A request went out: receive its response head from the first byte."""
        self._hlen = 0
        self._remaining = -1
        self._mode = MODE_HEAD

    def hold(self) -> None:
        """Stop landing bytes anywhere until the reader asks (anything arriving is unexpected)."""
        self._mode = MODE_HELD

    def set_idle(self) -> None:
        """The response is complete: the connection is idle and its head buffer free."""
        self._mode = MODE_IDLE
        self._hlen = 0

    def set_remaining(self, n: int) -> None:
        """``n`` body bytes still expected (-1: until the server closes)."""
        if not -1 <= n <= MAX_CONTENT_LENGTH:
            raise ValueError(f"body length {n} out of range")
        self._remaining = n

    def take(self, n: int) -> None:
        """``n`` body bytes of the response were consumed outside the receive path (from
        the head buffer, or spliced): count them against the bytes still expected."""
        if self._remaining > 0:
            self._remaining -= n

    def external_received(self, n: int) -> None:
        """``n`` body bytes arrived by another path (splice): count them as received."""
        self.rx_bytes += n
        if self._remaining > 0:
            self._remaining -= n

    def begin_external(self) -> None:
        """The body is being moved by another path (splice): a body is in progress, for the
        watchdog and for a close, but nothing lands here."""
        self._mode = MODE_FILE

    # Read-only views of the state, for the connection and its watchdog.
    @property
    def mode(self) -> int:
        return self._mode

    @property
    def remaining(self) -> int:
        """Body bytes still expected; -1 until the server closes."""
        return self._remaining

    @property
    def head_length(self) -> int:
        """Bytes in the head buffer: the head, and any body bytes that came with it."""
        return self._hlen

    @property
    def head_view(self) -> memoryview:
        return self._headview

    @property
    def stash_target(self) -> int:
        return self._stash_target

    def receive_into(self, view: memoryview, partial: bool = False) -> None:
        """Land the next body bytes in ``view`` (``partial``: done at the first receive),
        then call ``_view_done``; ``view_filled()`` says how many landed."""
        self._partial = partial
        self._view = view
        self._vpos = 0
        self._vlen = len(view)
        self._mode = MODE_BODY

    def stash_until(self, target: int) -> None:
        """Keep receiving the body into the head buffer until it holds ``target`` bytes
        (head + whole body), then call ``_stash_done``."""
        if not self._hlen <= target <= HEAD_BUFFER_SIZE:
            raise ValueError(f"stash target {target} outside {self._hlen}..{HEAD_BUFFER_SIZE}")
        self._stash_target = target
        self._mode = MODE_STASH

    def view_filled(self) -> int:
        """Bytes written into the current view so far."""
        return self._vpos

    def begin_file(self, fd: int, offset: int, nbytes: int, buf: memoryview,
                   crc_fn: Callable[[Any, int], int] | None, crc: int,
                   on_progress: Callable[[], None] | None) -> None:
        """Receive the next ``nbytes`` body bytes into file ``fd`` at ``offset`` (via
        ``buf``), then call ``_file_done``; ``file_written``/``file_crc`` track progress."""
        self._fd = fd
        self._foff = offset
        self._fleft = nbytes
        self._fbuf = buf
        self._fcrc_fn = crc_fn
        self._fon_progress = on_progress
        self._funreported = 0
        self.file_written = 0
        self.file_crc = crc
        self.file_error = None
        self._mode = MODE_FILE

    def end_file(self) -> None:
        self._fbuf = None
        self._fcrc_fn = None
        self._fon_progress = None
        self._fd = -1

    # -- hooks ---------------------------------------------------------------------
    def _head_done(self, end: int) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _view_done(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _file_done(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _stash_done(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _unexpected_data(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _head_invalid(self, exc: HeadError) -> None:
        """The head broke a limit (``exc`` says which) before it was complete."""
        self._unexpected_data()
