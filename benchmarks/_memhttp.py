"""The in-memory S3's HTTP/1.1 side (``benchmarks/memserver``): request heads, and bodies in
every framing the clients send (Content-Length, chunked, aws-chunked with trailers,
``Expect: 100-continue``), bounded as they arrive; answers written under the transport's
flow control. What a request means is :class:`benchmarks.memserver.S3Server`'s.
"""
from __future__ import annotations

import asyncio
import collections
from typing import TYPE_CHECKING, Callable
from urllib.parse import parse_qsl, unquote

if TYPE_CHECKING:
    from .memserver import S3Server

#: a request head larger than this is refused (a loopback client never sends one)
MAX_HEAD = 64 << 10
#: the largest object (S3's single-PUT limit) and the largest XML request body
MAX_OBJECT = 5 << 30
MAX_XML = 32 << 20
#: a chunk-size or trailer line longer than this is malformed
MAX_LINE = 8 << 10
#: bodies larger than this are written in slices of it, following the transport's flow control
WRITE_SLICE = 1 << 20
#: a body up to this size goes out in one write with its head (one send instead of two)
COALESCE = 256 << 10
XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
REASONS = {100: "Continue", 200: "OK", 204: "No Content", 206: "Partial Content", 304: "Not Modified",
           400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
           412: "Precondition Failed", 413: "Payload Too Large", 416: "Range Not Satisfiable",
           500: "Internal Server Error", 501: "Not Implemented"}


class S3Error(Exception):
    def __init__(self, status: int, code: str, message: str = "", close: bool = False) -> None:
        super().__init__(code)
        self.status, self.code, self.message, self.close = status, code, message or code, close


def esc(text: str) -> str:
    if "&" in text or "<" in text or ">" in text:
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text


class Request:
    __slots__ = ("method", "path", "query", "headers", "parts", "size", "aws", "trailers")

    def __init__(self, method: str, path: str, query: dict[str, str], headers: dict[str, str]) -> None:
        self.method, self.path, self.query, self.headers = method, path, query, headers
        self.parts: list[bytes] = []
        self.size = 0
        self.aws: Chunked | None = None
        self.trailers: dict[str, str] = {}

    def body(self) -> bytes:
        return self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)


class Chunked:
    """Incremental decoder of the chunked framing HTTP/1.1 and aws-chunked share:
    ``hex[;ext]\\r\\n data \\r\\n`` ... ``0[;ext]\\r\\n`` trailer lines, a blank line."""

    SIZE, DATA, CRLF, TRAILER = range(4)

    def __init__(self, out: Callable[[bytes], None]) -> None:
        self.out = out
        self.state = self.SIZE
        self.left = 0
        self.line = bytearray()
        self.trailers: dict[str, str] = {}
        self.done = False

    def feed(self, data: bytes) -> int:
        """Decode from ``data``; returns how many bytes were consumed (all, until the end)."""
        pos, n = 0, len(data)
        while pos < n and not self.done:
            if self.state == self.DATA:
                take = min(self.left, n - pos)
                self.out(data if take == n else data[pos:pos + take])
                pos += take
                self.left -= take
                if self.left == 0:
                    self.state = self.CRLF
                continue
            nl = data.find(b"\n", pos)
            if nl < 0:
                self.line += data[pos:]
                if len(self.line) > MAX_LINE:
                    raise S3Error(400, "IncompleteBody", "chunk line too long", close=True)
                return n
            self.line += data[pos:nl]
            pos = nl + 1
            line = bytes(self.line).rstrip(b"\r")
            self.line.clear()
            if self.state == self.SIZE:
                try:
                    size = int(line.split(b";", 1)[0], 16)
                except ValueError:
                    raise S3Error(400, "IncompleteBody", "bad chunk size", close=True) from None
                if size == 0:
                    self.state = self.TRAILER
                else:
                    self.left, self.state = size, self.DATA
            elif self.state == self.CRLF:
                if line:
                    raise S3Error(400, "IncompleteBody", "chunk not followed by CRLF", close=True)
                self.state = self.SIZE
            elif line:
                name, _, value = line.decode("latin-1").partition(":")
                self.trailers[name.strip().lower()] = value.strip()
            else:
                self.done = True
        return pos


class Connection(asyncio.Protocol):
    def __init__(self, server: S3Server) -> None:
        self.s3 = server
        self.buf = bytearray()
        self.transport: asyncio.WriteTransport | None = None
        self.req: Request | None = None  # a request whose body is being read
        self.left = 0  # Content-Length bytes still to read (when not chunked)
        self.tdec: Chunked | None = None  # Transfer-Encoding: chunked
        self.out: collections.deque[memoryview] = collections.deque()
        self.paused = False
        self.closing = False

    # --- transport events
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport is one

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.out.clear()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._pump()

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return  # an answer ended this connection; what follows is not read
        try:
            if self.req is not None:
                data = self._body(data)
                if not data:
                    return
            self.buf += data
            self._heads()
        except S3Error as exc:
            self._error(exc, "HEAD" if self.req is None else self.req.method)
            self._close_after_write()

    # --- request framing
    def _heads(self) -> None:
        while self.req is None and self.transport is not None and not self.closing:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEAD:
                    raise S3Error(400, "RequestHeaderSectionTooLarge", close=True)
                return
            if end > MAX_HEAD:
                raise S3Error(400, "RequestHeaderSectionTooLarge", close=True)
            lines = self.buf[:end].decode("latin-1").split("\r\n")
            del self.buf[:end + 4]
            try:
                method, target, _ = lines[0].split(" ", 2)
            except ValueError:
                raise S3Error(400, "BadRequest", "bad request line", close=True) from None
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                headers[name] = f"{headers[name]},{value.strip()}" if name in headers else value.strip()
            path, _, qs = target.partition("?")
            query = dict(parse_qsl(qs, keep_blank_values=True)) if qs else {}
            req = Request(method, unquote(path), query, headers)
            if not self._start_body(req):
                self._handle(req)
                continue
            rest = bytes(self.buf)
            self.buf.clear()
            rest = self._body(rest)
            if rest:
                self.buf += rest

    def _start_body(self, req: Request) -> bool:
        """Set up reading ``req``'s body; False when it has none."""
        h = req.headers
        chunked = "chunked" in h.get("transfer-encoding", "").lower()
        try:
            length = int(h.get("content-length", "0") or "0")
            declared = int(h.get("x-amz-decoded-content-length", "0") or "0") or length
        except ValueError:
            raise S3Error(400, "BadRequest", "bad Content-Length", close=True) from None
        if not chunked and length <= 0:
            return False
        limit = MAX_OBJECT if req.method == "PUT" else MAX_XML
        if declared > limit:
            raise S3Error(400, "EntityTooLarge", f"at most {limit} bytes", close=True)
        counts = self.s3.counts
        if "aws-chunked" in h.get("content-encoding", "") or h.get("x-amz-content-sha256", "").startswith("STREAMING-"):
            req.aws = Chunked(lambda piece: self._keep(req, piece))
            counts["aws-chunked"] = counts.get("aws-chunked", 0) + 1
        if chunked:
            counts["transfer-chunked"] = counts.get("transfer-chunked", 0) + 1
        self.req = req
        self.tdec = Chunked(self._sink) if chunked else None
        self.left = length
        if h.get("expect", "").lower() == "100-continue" and self.transport is not None:
            counts["100-continue"] = counts.get("100-continue", 0) + 1
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return True

    def _body(self, data: bytes) -> bytes:
        """Feed body bytes; returns what belongs to the next request."""
        if self.tdec is not None:
            used = self.tdec.feed(data)
            done = self.tdec.done
        else:
            used = min(self.left, len(data))
            self._sink(data if used == len(data) else data[:used])
            self.left -= used
            done = self.left == 0
        if done:
            req = self.req
            assert req is not None
            self.req, self.tdec = None, None
            if req.aws is not None:
                if not req.aws.done:
                    raise S3Error(400, "IncompleteBody", "aws-chunked body ended early", close=True)
                req.trailers = req.aws.trailers
            self._handle(req)
        return data[used:] if used < len(data) else b""

    def _sink(self, piece: bytes) -> None:
        req = self.req
        assert req is not None
        if req.aws is not None:
            req.aws.feed(piece)
        else:
            self._keep(req, piece)

    def _keep(self, req: Request, piece: bytes) -> None:
        req.size += len(piece)
        if req.size > (MAX_OBJECT if req.method == "PUT" else MAX_XML):
            raise S3Error(400, "EntityTooLarge", close=True)
        req.parts.append(piece)

    # --- answering
    def _handle(self, req: Request) -> None:
        try:
            status, headers, body = self.s3.answer(req)
        except S3Error as exc:
            self._error(exc, req.method, req.path)
            if exc.close:
                self._close_after_write()
            return
        except Exception as exc:  # noqa: BLE001 - a server bug answers 500, the connection lives on
            self._error(S3Error(500, "InternalError", repr(exc)), req.method, req.path)
            return
        self._send(status, headers, body, req.method == "HEAD")
        if req.headers.get("connection", "").lower() == "close":
            self._close_after_write()

    def _error(self, exc: S3Error, method: str, resource: str = "") -> None:
        body = (f"{XML_HEAD}<Error><Code>{exc.code}</Code><Message>{esc(exc.message)}</Message>"
                f"<Resource>{esc(resource)}</Resource><RequestId>{self.s3.request_id()}</RequestId></Error>").encode()
        self._send(exc.status, "Content-Type: application/xml\r\n", body, method == "HEAD")

    def _send(self, status: int, headers: str, body: bytes | memoryview, head_only: bool) -> None:
        """Answer; a HEAD gets the Content-Length the GET would have had, and no body."""
        if self.transport is None:
            return
        top = (f"HTTP/1.1 {status} {REASONS.get(status, 'X')}\r\nContent-Length: {len(body)}\r\n"
               f"x-amz-request-id: {self.s3.request_id()}\r\nDate: {self.s3.date()}\r\n{headers}\r\n").encode()
        if head_only or not body:
            self._write(top)
        elif len(body) <= COALESCE and isinstance(body, bytes):
            self._write(top + body)
        else:
            self._write(top)
            self._write(body)

    def _write(self, data: bytes | memoryview) -> None:
        if not self.out and not self.paused and len(data) <= WRITE_SLICE:
            assert self.transport is not None
            self.transport.write(data)
            return
        self.out.append(memoryview(data))
        self._pump()

    def _pump(self) -> None:
        while self.out and not self.paused and self.transport is not None:
            mv = self.out[0]
            if len(mv) > WRITE_SLICE:
                self.transport.write(mv[:WRITE_SLICE])
                self.out[0] = mv[WRITE_SLICE:]
            else:
                self.transport.write(mv)
                self.out.popleft()
        if not self.out and self.closing and self.transport is not None:
            self.transport.close()

    def _close_after_write(self) -> None:
        self.closing = True
        self._pump()
