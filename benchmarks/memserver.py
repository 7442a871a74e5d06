"""An in-memory S3 on loopback, cheap enough that the client, not the server, is measured.

SeaweedFS spends ~2 ms of CPU per PUT; on a 2-core box that is the limit of every runner in
benchmarks/trees.py. This server keeps objects as ``bytes`` in one Python process (asyncio,
uvloop when importable) and answers what s3fast, s5cmd, rclone, awscrt and boto3 send:

- buckets: PUT (create), HEAD, DELETE (when empty), GET ``?location``, GET / (ListBuckets);
- listings: ListObjectsV2 (``list-type=2``: prefix, delimiter, continuation-token,
  start-after, max-keys, encoding-type=url, fetch-owner) and ListObjects v1 (marker), keys in
  code-point order (= S3's UTF-8 byte order) from a sorted key list re-sorted only when dirty;
- objects: PUT, HEAD/GET (``Range: bytes=a-b | a- | -n`` -> 206), DELETE, POST ``?delete``,
  CopyObject (any bucket, ``x-amz-metadata-directive``), multipart (create, UploadPart,
  UploadPartCopy, complete, abort, ListParts, ListMultipartUploads); If-Match/If-None-Match.
- bodies: Content-Length, ``Transfer-Encoding: chunked`` and ``aws-chunked`` (signed or not,
  with trailers), ``Expect: 100-continue``. A head over 64 KiB or an object over 5 GiB is refused.

Choices that keep a request cheap:

- Signatures are not checked and no hash of the body is computed. The ETag is ``"<a serial
  number of the write, 8 hex>-1"`` (a multipart object: crc32 of its parts' ETags,
  ``-<parts>``): unique per write, as S3's are for SSE-KMS objects. The ``-N``
  suffix marks it as "not an MD5" to clients (rclone compares a plain 32-hex ETag with the MD5
  it computed and would report every object as corrupt).
- Checksums (``x-amz-checksum-{crc64nvme,crc32c,crc32,sha1,sha256}`` given as headers or
  trailers, and ``x-amz-checksum-type``) are stored as given, never verified, and returned
  on a whole-object HEAD/GET when the request carries ``x-amz-checksum-mode: ENABLED``; a
  multipart object gets the full-object checksum its completion request sent, else a
  composite one (``-N``) from its parts' checksums when the algorithm is in the stdlib.

``python -m benchmarks.memserver [--host 127.0.0.1] [--port 0] [--bucket NAME ...]`` prints
its port and serves until SIGTERM or SIGINT. Benchmark-side only: nothing in s3fast imports it.

This module holds the S3 semantics (:class:`S3Server`); the HTTP framing is ``_memhttp``'s,
the buckets and objects ``_memstore``'s.
"""
from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import signal
import sys
import time
import zlib
from email.utils import formatdate
from typing import Callable
from urllib.parse import quote, unquote

from ._memhttp import XML_HEAD, Connection, Request, S3Error, esc
from ._memstore import (ALG_XML, Bucket, Obj, Part, Store, Upload, byte_range, checksum_type_of, checksums_of,
                        child_text, composite, etag_of, iso, kept_headers, local_name, parse_xml)

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
#: sub-resources this server does not implement: 501 rather than a wrong answer
UNSUPPORTED = frozenset(("acl", "tagging", "retention", "legal-hold", "torrent", "restore", "select",
                         "attributes", "cors", "policy", "lifecycle", "versioning", "versions", "website",
                         "logging", "notification", "replication", "encryption", "object-lock",
                         "ownershipControls", "publicAccessBlock", "accelerate", "requestPayment"))
V1_PARAMS = frozenset(("prefix", "delimiter", "marker", "max-keys", "encoding-type", "x-id"))
OWNER = "<Owner><ID>memserver</ID><DisplayName>memserver</DisplayName></Owner>"


class S3Server:
    """The S3 semantics: one :class:`Store`, answers for parsed requests."""

    def __init__(self, store: Store, region: str = "us-east-1") -> None:
        self.store = store
        self.region = region
        self.requests = 0
        #: requests by method, and bodies by framing: printed to stderr when the server stops
        self.counts: dict[str, int] = {}
        self._date_at = -1
        self._date = ""

    def request_id(self) -> str:
        return f"{self.requests:016X}"

    def date(self) -> str:
        now = int(time.time())
        if now != self._date_at:
            self._date_at, self._date = now, formatdate(now, usegmt=True)
        return self._date

    def answer(self, req: Request) -> tuple[int, str, bytes | memoryview]:
        self.requests += 1
        self.counts[req.method] = self.counts.get(req.method, 0) + 1
        q = req.query
        if UNSUPPORTED.intersection(q):
            raise S3Error(501, "NotImplemented", f"{sorted(UNSUPPORTED.intersection(q))} is not implemented")
        bucket_name, _, key = req.path.lstrip("/").partition("/")
        m = req.method
        if not bucket_name:
            if m == "GET":
                return self.list_buckets()
            raise S3Error(501, "NotImplemented")
        if not key:
            return self.bucket_op(m, bucket_name, req)
        bucket = self.store.bucket(bucket_name)
        if m == "GET" or m == "HEAD":
            if "uploadId" in q and m == "GET":
                return self.list_parts(q["uploadId"])
            return self.get(bucket, key, req)
        if m == "PUT":
            if "uploadId" in q:
                return self.upload_part(req, q["uploadId"], q.get("partNumber", ""))
            if "x-amz-copy-source" in req.headers:
                return self.copy(bucket, key, req)
            return self.put(bucket, key, req)
        if m == "DELETE":
            if "uploadId" in q:
                if self.store.uploads.pop(q["uploadId"], None) is None:
                    raise S3Error(404, "NoSuchUpload")
                return 204, "", b""
            bucket.delete(key)
            return 204, "", b""
        if m == "POST":
            if "uploads" in q:
                return self.create_upload(bucket_name, key, req)
            if "uploadId" in q:
                return self.complete(bucket, key, req, q["uploadId"])
        raise S3Error(501, "NotImplemented", f"{m} {req.path}")

    # --- buckets
    def list_buckets(self) -> tuple[int, str, bytes]:
        items = "".join(f"<Bucket><Name>{esc(n)}</Name><CreationDate>{iso(b.created)}</CreationDate></Bucket>"
                        for n, b in sorted(self.store.buckets.items()))
        return 200, "Content-Type: application/xml\r\n", (
            f"{XML_HEAD}<ListAllMyBucketsResult {NS}>{OWNER}<Buckets>{items}</Buckets></ListAllMyBucketsResult>"
        ).encode()

    def bucket_op(self, m: str, name: str, req: Request) -> tuple[int, str, bytes]:
        q = req.query
        if m == "PUT" and not q:
            if name not in self.store.buckets:
                self.store.buckets[name] = Bucket(time.time())
            return 200, f"Location: /{name}\r\n", b""
        bucket = self.store.bucket(name)
        if m == "HEAD":
            return 200, f"x-amz-bucket-region: {self.region}\r\n", b""
        if m == "DELETE" and not q:
            if bucket.objects:
                raise S3Error(409, "BucketNotEmpty")
            del self.store.buckets[name]
            return 204, "", b""
        if m == "POST" and "delete" in q:
            return self.delete_many(bucket, req)
        if m == "GET":
            if "location" in q:
                where = "" if self.region == "us-east-1" else self.region
                return 200, "Content-Type: application/xml\r\n", (
                    f"{XML_HEAD}<LocationConstraint {NS}>{where}</LocationConstraint>").encode()
            if "uploads" in q:
                return self.list_uploads(name)
            if q.get("list-type") == "2":
                return self.list_objects(bucket, name, q, v2=True)
            if V1_PARAMS.issuperset(q):
                return self.list_objects(bucket, name, q, v2=False)
        raise S3Error(501, "NotImplemented", f"{m} /{name}?{'&'.join(q)}")

    def list_objects(self, bucket: Bucket, name: str, q: dict[str, str], v2: bool) -> tuple[int, str, bytes]:
        prefix = q.get("prefix", "")
        delim = q.get("delimiter", "")
        try:
            max_keys = max(0, min(1000, int(q.get("max-keys", "1000") or "1000")))
        except ValueError:
            raise S3Error(400, "InvalidArgument", "max-keys") from None
        url = q.get("encoding-type") == "url"
        enc: Callable[[str], str] = (lambda s: quote(s, safe="/~")) if url else esc
        keys = bucket.keys()
        token = q.get("continuation-token") if v2 else None
        after = q.get("start-after", "") if v2 else q.get("marker", "")
        if token:
            i = bisect.bisect_left(keys, token)  # the token is the next key to consider
        else:
            i = bisect.bisect_right(keys, after) if after else 0
            if not v2 and delim and after.endswith(delim) and after.startswith(prefix):
                # a v1 marker that is a common prefix: skip the keys it stands for
                i = bisect.bisect_left(keys, after[:-1] + chr(ord(after[-1]) + 1))
        if prefix:
            i = max(i, bisect.bisect_left(keys, prefix))
        objects = bucket.objects
        out: list[str] = []
        prefixes: list[str] = []
        count, n, plen, last = 0, len(keys), len(prefix), ""
        owner = OWNER if (not v2 or q.get("fetch-owner") == "true") else ""
        while i < n and count < max_keys:
            k = keys[i]
            if not k.startswith(prefix):
                i = n
                break
            if delim:
                d = k.find(delim, plen)
                if d >= 0:
                    cp = k[:d + len(delim)]
                    prefixes.append(f"<CommonPrefixes><Prefix>{enc(cp)}</Prefix></CommonPrefixes>")
                    count += 1
                    last = cp
                    i = bisect.bisect_left(keys, cp[:-1] + chr(ord(cp[-1]) + 1), i)
                    continue
            o = objects[k]
            out.append(f"<Contents><Key>{enc(k)}</Key><LastModified>{iso(o.mtime)}</LastModified>"
                       f"<ETag>&quot;{o.etag[1:-1]}&quot;</ETag><Size>{len(o.body)}</Size>{owner}"
                       f"<StorageClass>STANDARD</StorageClass></Contents>")
            count += 1
            last = k
            i += 1
        truncated = i < n and keys[i].startswith(prefix)
        head = [f"{XML_HEAD}<ListBucketResult {NS}><Name>{esc(name)}</Name><Prefix>{enc(prefix)}</Prefix>"]
        if v2:
            head.append(f"<KeyCount>{count}</KeyCount>")
            if token:
                head.append(f"<ContinuationToken>{esc(token)}</ContinuationToken>")
            if after:
                head.append(f"<StartAfter>{enc(after)}</StartAfter>")
            if truncated:
                head.append(f"<NextContinuationToken>{esc(keys[i])}</NextContinuationToken>")
        else:
            head.append(f"<Marker>{enc(after)}</Marker>")
            if truncated:
                head.append(f"<NextMarker>{enc(last)}</NextMarker>")
        head.append(f"<MaxKeys>{max_keys}</MaxKeys>")
        if delim:
            head.append(f"<Delimiter>{enc(delim)}</Delimiter>")
        if url:
            head.append("<EncodingType>url</EncodingType>")
        head.append(f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
        body = "".join(head) + "".join(out) + "".join(prefixes) + "</ListBucketResult>"
        return 200, "Content-Type: application/xml\r\n", body.encode()

    def delete_many(self, bucket: Bucket, req: Request) -> tuple[int, str, bytes]:
        root = parse_xml(req.body())
        quiet = (child_text(root, "Quiet") or "").lower() == "true"
        done = []
        for obj in root:
            if local_name(obj.tag) != "Object":
                continue
            key = child_text(obj, "Key") or ""
            bucket.delete(key)
            if not quiet:
                done.append(f"<Deleted><Key>{esc(key)}</Key></Deleted>")
        return 200, "Content-Type: application/xml\r\n", (
            f"{XML_HEAD}<DeleteResult {NS}>{''.join(done)}</DeleteResult>").encode()

    # --- objects
    def get(self, bucket: Bucket, key: str, req: Request) -> tuple[int, str, bytes | memoryview]:
        o = bucket.objects.get(key)
        if o is None:
            raise S3Error(404, "NoSuchKey", "The specified key does not exist.")
        h = req.headers
        if "if-match" in h and h["if-match"] not in ("*", o.etag) and h["if-match"].strip('"') != o.etag[1:-1]:
            raise S3Error(412, "PreconditionFailed", "If-Match")
        if "if-none-match" in h and (h["if-none-match"] == "*" or h["if-none-match"].strip('"') == o.etag[1:-1]):
            return 304, f"ETag: {o.etag}\r\n", b""
        size = len(o.body)
        lines = [f"ETag: {o.etag}\r\nLast-Modified: {formatdate(o.mtime, usegmt=True)}\r\nAccept-Ranges: bytes\r\n"]
        lines.extend(f"{n}: {v}\r\n" for n, v in o.headers)
        if not any(n == "content-type" for n, _ in o.headers):
            lines.append("Content-Type: binary/octet-stream\r\n")
        first, last = 0, size - 1
        whole = True
        part = req.query.get("partNumber")
        rng = h.get("range")
        if part:
            sizes = o.part_sizes or (size,)
            try:
                pn = int(part)
            except ValueError:
                raise S3Error(400, "InvalidArgument", "partNumber") from None
            if not 1 <= pn <= len(sizes):
                raise S3Error(416, "InvalidPartNumber")
            first = sum(sizes[:pn - 1])
            last = first + sizes[pn - 1] - 1
            lines.append(f"x-amz-mp-parts-count: {len(sizes)}\r\n")
            whole = len(sizes) == 1
        elif rng:
            first, last = byte_range(rng, size)
            whole = first == 0 and last == size - 1
        if whole and h.get("x-amz-checksum-mode", "").upper() == "ENABLED" and o.checksums:
            lines.extend(f"{n}: {v}\r\n" for n, v in o.checksums.items())
            if o.checksum_type:
                lines.append(f"x-amz-checksum-type: {o.checksum_type}\r\n")
        status = 200
        if part or rng:
            if not (part and whole):
                status = 206
                lines.append(f"Content-Range: bytes {first}-{last}/{size}\r\n")
        body: bytes | memoryview = o.body if (first == 0 and last == size - 1) else memoryview(o.body)[first:last + 1]
        return status, "".join(lines), body

    def put(self, bucket: Bucket, key: str, req: Request) -> tuple[int, str, bytes]:
        h = req.headers
        if h.get("if-none-match") == "*" and key in bucket.objects:
            raise S3Error(412, "PreconditionFailed", "If-None-Match")
        body = req.body()
        sums = checksums_of(h, req.trailers)
        ctype = checksum_type_of(h, sums)
        obj = Obj(body, etag_of(body), time.time(), kept_headers(h), sums, ctype)
        bucket.put(key, obj)
        echo = "".join(f"{n}: {v}\r\n" for n, v in sums.items())
        return 200, f"ETag: {obj.etag}\r\n{echo}", b""

    def _source(self, req: Request, header: str) -> Obj:
        src = unquote(req.headers[header].split("?", 1)[0]).lstrip("/")
        sb, _, sk = src.partition("/")
        o = self.store.bucket(sb).objects.get(sk)
        if o is None:
            raise S3Error(404, "NoSuchKey", f"copy source {src}")
        want = req.headers.get("x-amz-copy-source-if-match")
        if want and want.strip('"') != o.etag[1:-1]:
            raise S3Error(412, "PreconditionFailed", "x-amz-copy-source-if-match")
        return o

    def copy(self, bucket: Bucket, key: str, req: Request) -> tuple[int, str, bytes]:
        o = self._source(req, "x-amz-copy-source")
        h = req.headers
        replace = h.get("x-amz-metadata-directive", "COPY").upper() == "REPLACE"
        etag = o.etag if o.etag.endswith('-1"') else etag_of(o.body)
        ctype = o.checksum_type if o.checksum_type != "COMPOSITE" else None
        sums = {n: v for n, v in o.checksums.items() if "-" not in v}  # a composite one does not survive
        new = Obj(o.body, etag, time.time(), kept_headers(h) if replace else list(o.headers), sums, ctype)
        bucket.put(key, new)
        return 200, "Content-Type: application/xml\r\n", (
            f"{XML_HEAD}<CopyObjectResult {NS}><LastModified>{iso(new.mtime)}</LastModified>"
            f"<ETag>&quot;{etag[1:-1]}&quot;</ETag></CopyObjectResult>").encode()

    # --- multipart
    def create_upload(self, bucket: str, key: str, req: Request) -> tuple[int, str, bytes]:
        h = req.headers
        upload_id = self.store.new_upload_id()
        alg = h.get("x-amz-checksum-algorithm", "").lower() or None
        self.store.uploads[upload_id] = Upload(bucket, key, time.time(), kept_headers(h), alg,
                                               h.get("x-amz-checksum-type", "").upper() or None)
        extra = f"x-amz-checksum-algorithm: {alg.upper()}\r\n" if alg else ""
        return 200, f"Content-Type: application/xml\r\n{extra}", (
            f"{XML_HEAD}<InitiateMultipartUploadResult {NS}><Bucket>{esc(bucket)}</Bucket><Key>{esc(key)}</Key>"
            f"<UploadId>{upload_id}</UploadId></InitiateMultipartUploadResult>").encode()

    def _upload(self, upload_id: str) -> Upload:
        up = self.store.uploads.get(upload_id)
        if up is None:
            raise S3Error(404, "NoSuchUpload", "The specified upload does not exist.")
        return up

    def upload_part(self, req: Request, upload_id: str, number: str) -> tuple[int, str, bytes]:
        up = self._upload(upload_id)
        try:
            pn = int(number)
        except ValueError:
            raise S3Error(400, "InvalidArgument", "partNumber") from None
        if not 1 <= pn <= 10000:
            raise S3Error(400, "InvalidArgument", "partNumber")
        if "x-amz-copy-source" in req.headers:
            src = self._source(req, "x-amz-copy-source")
            rng = req.headers.get("x-amz-copy-source-range")
            first, last = byte_range(rng, len(src.body)) if rng else (0, len(src.body) - 1)
            body = src.body[first:last + 1]
            part = Part(body, etag_of(body), time.time(), {})
            up.parts[pn] = part
            return 200, "Content-Type: application/xml\r\n", (
                f"{XML_HEAD}<CopyPartResult {NS}><LastModified>{iso(part.mtime)}</LastModified>"
                f"<ETag>&quot;{part.etag[1:-1]}&quot;</ETag></CopyPartResult>").encode()
        body = req.body()
        sums = checksums_of(req.headers, req.trailers)
        part = Part(body, etag_of(body), time.time(), sums)
        up.parts[pn] = part
        echo = "".join(f"{n}: {v}\r\n" for n, v in sums.items())
        return 200, f"ETag: {part.etag}\r\n{echo}", b""

    def complete(self, bucket: Bucket, key: str, req: Request, upload_id: str) -> tuple[int, str, bytes]:
        up = self._upload(upload_id)
        root = parse_xml(req.body())
        chosen: list[Part] = []
        previous = 0
        for el in root:
            if local_name(el.tag) != "Part":
                continue
            try:
                pn = int(child_text(el, "PartNumber") or "")
            except ValueError:
                raise S3Error(400, "MalformedXML", "PartNumber") from None
            part = up.parts.get(pn)
            given = (child_text(el, "ETag") or "").strip().strip('"')
            if part is None or (given and given != part.etag[1:-1]):
                raise S3Error(400, "InvalidPart", f"part {pn}")
            if pn <= previous:
                raise S3Error(400, "InvalidPartOrder")
            previous = pn
            chosen.append(part)
        if not chosen:
            raise S3Error(400, "MalformedXML", "no parts")
        body = b"".join(p.body for p in chosen)
        etag = f'"{zlib.crc32("".join(p.etag for p in chosen).encode()):08x}-{len(chosen)}"'
        h = req.headers
        sums = checksums_of(h, {})
        ctype = h.get("x-amz-checksum-type", "").upper() or up.checksum_type
        if sums:
            ctype = ctype or "FULL_OBJECT"
        elif up.algorithm:
            sums, ctype = composite(up.algorithm, chosen)
        obj = Obj(body, etag, time.time(), up.headers, sums, ctype, tuple(len(p.body) for p in chosen))
        bucket.put(key, obj)
        del self.store.uploads[upload_id]
        xml_sums = "".join(f"<Checksum{ALG_XML[n[15:]]}>{v}</Checksum{ALG_XML[n[15:]]}>" for n, v in sums.items())
        if ctype and sums:
            xml_sums += f"<ChecksumType>{ctype}</ChecksumType>"
        return 200, "Content-Type: application/xml\r\n", (
            f"{XML_HEAD}<CompleteMultipartUploadResult {NS}><Location>/{esc(up.bucket)}/{esc(key)}</Location>"
            f"<Bucket>{esc(up.bucket)}</Bucket><Key>{esc(key)}</Key><ETag>&quot;{etag[1:-1]}&quot;</ETag>"
            f"{xml_sums}</CompleteMultipartUploadResult>").encode()

    def list_parts(self, upload_id: str) -> tuple[int, str, bytes]:
        up = self._upload(upload_id)
        parts = "".join(
            f"<Part><PartNumber>{n}</PartNumber><LastModified>{iso(p.mtime)}</LastModified>"
            f"<ETag>&quot;{p.etag[1:-1]}&quot;</ETag><Size>{len(p.body)}</Size></Part>"
            for n, p in sorted(up.parts.items()))
        return 200, "Content-Type: application/xml\r\n", (
            f"{XML_HEAD}<ListPartsResult {NS}><Bucket>{esc(up.bucket)}</Bucket><Key>{esc(up.key)}</Key>"
            f"<UploadId>{upload_id}</UploadId><MaxParts>10000</MaxParts><IsTruncated>false</IsTruncated>"
            f"{parts}</ListPartsResult>").encode()

    def list_uploads(self, bucket: str) -> tuple[int, str, bytes]:
        items = "".join(
            f"<Upload><Key>{esc(u.key)}</Key><UploadId>{uid}</UploadId><Initiated>{iso(u.created)}</Initiated></Upload>"
            for uid, u in sorted(self.store.uploads.items()) if u.bucket == bucket)
        return 200, "Content-Type: application/xml\r\n", (
            f"{XML_HEAD}<ListMultipartUploadsResult {NS}><Bucket>{esc(bucket)}</Bucket>"
            f"<IsTruncated>false</IsTruncated>{items}</ListMultipartUploadsResult>").encode()


async def serve(host: str, port: int, buckets: list[str], ready: asyncio.Future[int] | None = None,
                server: S3Server | None = None, report: bool = False) -> None:
    """Serve until cancelled or SIGTERM/SIGINT; ``ready`` gets the bound port (else it is
    printed); ``report``: print the request counts to stderr at a signalled stop."""
    s3 = server if server is not None else S3Server(Store(buckets))
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(lambda: Connection(s3), host, port)
    bound = listener.sockets[0].getsockname()[1]
    if ready is not None:
        ready.set_result(bound)
    else:
        print(bound, flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (RuntimeError, ValueError):  # not the main thread (a test serving in a thread)
            pass
    async with listener:
        waiter = asyncio.ensure_future(stop.wait())
        try:
            await waiter
        finally:
            waiter.cancel()
    if report:
        print(json.dumps({"requests": s3.requests, **s3.counts}), file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.memserver", description=(__doc__ or "").split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--bucket", action="append", default=[], help="a bucket to create at start (repeatable)")
    p.add_argument("--region", default="us-east-1")
    args = p.parse_args(argv)
    if not args.host.startswith("127."):
        p.error("loopback only: --host must start with 127.")
    coro = serve(args.host, args.port, args.bucket, server=S3Server(Store(args.bucket), args.region), report=True)
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)
    return 0


if __name__ == "__main__":
    sys.exit(main())
