"""A loopback HTTP/1.1 server (its own thread) that records every request head it reads and
answers each with one canned response: for checking what reaches the wire (header injection)
and what a client shows of a hostile answer (escape sequences in an error body).

    with Recorder(status=403, body=b"<Error>...") as rec:
        ... point a client or the CLI at rec.endpoint_url ...
        assert rec.heads == []
"""
from __future__ import annotations

import socket
import threading
from typing import Any


class Recorder:
    def __init__(self, *, status: int = 200, reason: str = "OK", headers: tuple[tuple[str, str], ...] = (),
                 body: bytes = b"", host: str = "127.0.0.1") -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self._sock = socket.create_server((host, 0))
        self._sock.settimeout(0.2)
        self.host, self.port = self._sock.getsockname()[:2]
        self._lock = threading.Lock()
        self._heads: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="recorder")

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def heads(self) -> list[bytes]:
        """Every request head received so far (raw bytes, up to and including CRLFCRLF)."""
        with self._lock:
            return list(self._heads)

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(10)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    self._one(conn)
                except OSError:
                    pass

    def _one(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
            if len(data) > 1 << 20:
                return
        head, _, rest = data.partition(b"\r\n\r\n")
        with self._lock:
            self._heads.append(head + b"\r\n\r\n")
        # Read the declared body (uploads) so the client sees an answer, not a reset.
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip() or 0)
        remaining = length - len(rest)
        while remaining > 0:
            chunk = conn.recv(min(remaining, 1 << 20))
            if not chunk:
                return
            remaining -= len(chunk)
        lines = [f"HTTP/1.1 {self.status} {self.reason}", f"Content-Length: {len(self.body)}",
                 "Connection: close", *(f"{k}: {v}" for k, v in self.headers)]
        answer = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        method = head.split(b" ", 1)[0]
        conn.sendall(answer if method == b"HEAD" else answer + self.body)
