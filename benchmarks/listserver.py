"""A fast synthetic S3 on loopback for many-key memory measurements (benchmark-side only).

moto answers a few hundred requests per second, far too slow to list a million keys. This
server holds no objects: bucket ``bench`` has ``count`` synthetic keys
``<base><i // 1000 :05d>/<i:09d>`` (i = 0 .. count-1, listed in key order), each of ``size``
bytes with one fixed ETag. It answers just what ``s3fast ls -r``, ``rm -r`` and ``cp -r``
(server-side, S3 -> S3) of that prefix send:

- ``GET /bench?list-type=2``: ListObjectsV2 pages of 1,000 keys (the token is the next index);
- ``POST /bench?delete``: DeleteObjects, every key "deleted" (quiet mode: an empty result);
- ``PUT /bench/<key>`` with ``x-amz-copy-source``: CopyObject, a fixed result;
- ``HEAD``/``GET`` of a key: its size and ETag (a GET returns ``size`` zero bytes).

Signatures are not checked. It serves one loopback address only, and every connection is
closed when the process ends: ``python -m benchmarks.listserver --count N`` prints its port.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from urllib.parse import parse_qsl, urlsplit

BUCKET = "bench"
ETAG = '"0f343b0931126a20f133d67c2b018a3b"'
MODIFIED = "2026-01-01T00:00:00.000Z"
PAGE = 1000
#: a request head larger than this is refused (a loopback benchmark never sends one)
MAX_HEAD = 64 << 10


def key_of(base: str, i: int) -> str:
    return f"{base}{i // 1000:05d}/{i:09d}"


def index_after(base: str, key: str) -> int:
    """The index of the first synthetic key after ``key`` (a StartAfter or token)."""
    rest = key[len(base):] if key.startswith(base) else ""
    try:
        return int(rest.rsplit("/", 1)[-1]) + 1
    except ValueError:
        return 0


def list_page(base: str, count: int, size: int, prefix: str, token: str | None) -> bytes:
    if not base.startswith(prefix):
        start, end = 0, 0
    else:
        start = int(token) if token else 0
        end = min(count, start + PAGE)
    truncated = end < count and end > start
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
             f"<Name>{BUCKET}</Name><Prefix>{prefix}</Prefix><KeyCount>{end - start}</KeyCount>",
             f"<MaxKeys>{PAGE}</MaxKeys><EncodingType>url</EncodingType>",
             f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"]
    if truncated:
        parts.append(f"<NextContinuationToken>{end}</NextContinuationToken>")
    item = (f"</Key><LastModified>{MODIFIED}</LastModified><ETag>&quot;0f343b0931126a20f133d67c2b018a3b&quot;"
            f"</ETag><Size>{size}</Size><StorageClass>STANDARD</StorageClass></Contents>")
    parts.extend(f"<Contents><Key>{key_of(base, i)}{item}" for i in range(start, end))
    parts.append("</ListBucketResult>")
    return "".join(parts).encode()


COPY_RESULT = (f'<?xml version="1.0" encoding="UTF-8"?>\n<CopyObjectResult><LastModified>{MODIFIED}</LastModified>'
               f"<ETag>&quot;0f343b0931126a20f133d67c2b018a3b&quot;</ETag></CopyObjectResult>").encode()
DELETE_RESULT = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
                 b'<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></DeleteResult>')


class Counters:
    def __init__(self) -> None:
        self.requests: dict[str, int] = {}

    def bump(self, what: str) -> None:
        self.requests[what] = self.requests.get(what, 0) + 1


class _Conn(asyncio.Protocol):
    def __init__(self, base: str, count: int, size: int, counters: Counters) -> None:
        self.base, self.count, self.size, self.counters = base, count, size, counters
        self.buf = bytearray()
        self.transport: asyncio.WriteTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport is one

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEAD and self.transport is not None:
                    self.transport.close()
                return
            head = bytes(self.buf[:end]).decode("latin-1")
            lines = head.split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or "0")
            if len(self.buf) < end + 4 + length:
                return
            del self.buf[:end + 4 + length]
            method, target, _ = lines[0].split(" ", 2)
            self.answer(method, target, headers)

    def answer(self, method: str, target: str, headers: dict[str, str]) -> None:
        assert self.transport is not None
        url = urlsplit(target)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        path = url.path.lstrip("/")
        status, body, extra = 200, b"", ""
        if method == "GET" and path == BUCKET and query.get("list-type") == "2":
            self.counters.bump("list")
            body = list_page(self.base, self.count, self.size, query.get("prefix", ""),
                             query.get("continuation-token"))
            extra = "Content-Type: application/xml\r\n"
        elif method == "POST" and path == BUCKET and "delete" in query:
            self.counters.bump("delete")
            body = DELETE_RESULT
        elif method == "PUT" and "x-amz-copy-source" in headers:
            self.counters.bump("copy")
            body = COPY_RESULT
        elif method in ("HEAD", "GET") and path.startswith(BUCKET + "/"):
            self.counters.bump(method.lower())
            extra = f"ETag: {ETAG}\r\nLast-Modified: Thu, 01 Jan 2026 00:00:00 GMT\r\n"
            if method == "GET":
                body = bytes(self.size)
            else:
                extra += f"Content-Length: {self.size}\r\n"
        else:
            status, body = 501, b"<Error><Code>NotImplemented</Code><Message>synthetic server</Message></Error>"
        length = "" if method == "HEAD" else f"Content-Length: {len(body)}\r\n"
        self.transport.write(f"HTTP/1.1 {status} X\r\n{length}{extra}\r\n".encode()
                             + (b"" if method == "HEAD" else body))


async def serve(host: str, port: int, base: str, count: int, size: int,
                ready: asyncio.Future[int] | None = None, counters: Counters | None = None) -> None:
    """Serve until cancelled; ``ready`` gets the bound port (else it is printed)."""
    counters = counters if counters is not None else Counters()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Conn(base, count, size, counters), host, port)
    bound = server.sockets[0].getsockname()[1]
    if ready is not None:
        ready.set_result(bound)
    else:
        print(bound, flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.listserver", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--count", type=int, required=True, help="synthetic keys in the bucket")
    p.add_argument("--size", type=int, default=1024, help="size of each key, bytes")
    p.add_argument("--base", default="run/", help="the prefix every key starts with")
    args = p.parse_args(argv)
    if not args.host.startswith("127."):
        p.error("loopback only")
    try:
        import uvloop
        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    try:
        runner(serve(args.host, args.port, args.base, args.count, args.size))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
