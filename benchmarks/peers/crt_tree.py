"""A tree copied with awscrt's ``S3Client`` (the AWS Common Runtime's C S3 engine), one process.

    python -m benchmarks.peers.crt_tree upload DIR s3://bucket/prefix/ --endpoint-url URL
    python -m benchmarks.peers.crt_tree download s3://bucket/prefix/ DIR --endpoint-url URL

What a user of the CRT would write for a recursive copy: the directory walked (or the prefix
listed with ListObjectsV2, one page at a time on a lister thread, so the first objects move
while later pages are fetched) and every object handed to the CRT as one meta-request, at most
``--concurrency`` (default 256, s5cmd's worker count) outstanding; the CRT schedules their
requests over its own connections with its shipped defaults (part size, throughput target).
Path-style requests, plain HTTP or HTTPS as the endpoint says; keys from the environment
(``AWS_ACCESS_KEY_ID``...), else the CRT's default chain. Exit 1 when any object failed.
"""
from __future__ import annotations

import argparse
import os
import queue
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_END = object()


def _split_s3(url: str) -> tuple[str, str]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return bucket, prefix


class Crt:
    """One CRT S3Client and the bookkeeping of the meta-requests in flight."""

    def __init__(self, endpoint_url: str, region: str, concurrency: int) -> None:
        from awscrt.auth import AwsCredentialsProvider
        from awscrt.io import ClientBootstrap, DefaultHostResolver, EventLoopGroup
        from awscrt.s3 import S3Client, S3RequestTlsMode, create_default_s3_signing_config

        u = urlsplit(endpoint_url)
        self.host = u.netloc
        elg = EventLoopGroup()
        bootstrap = ClientBootstrap(elg, DefaultHostResolver(elg))
        key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
        creds = (AwsCredentialsProvider.new_static(key, secret, os.environ.get("AWS_SESSION_TOKEN"))
                 if key and secret else AwsCredentialsProvider.new_default_chain(bootstrap))
        tls = S3RequestTlsMode.ENABLED if u.scheme == "https" else S3RequestTlsMode.DISABLED
        self.client = S3Client(bootstrap=bootstrap, region=region, tls_mode=tls,
                               signing_config=create_default_s3_signing_config(region=region,
                                                                               credential_provider=creds))
        self.slots = threading.BoundedSemaphore(concurrency)
        self.lock = threading.Lock()
        self.failures: list[str] = []
        self.pending: set[Any] = set()  # referenced until done: a collected request can truncate a file

    def headers(self, *extra: tuple[str, str]) -> Any:
        from awscrt.http import HttpHeaders

        return HttpHeaders([("Host", self.host), *extra])

    def submit(self, kind: Any, method: str, path: str, name: str, headers: Any, **kwargs: Any) -> None:
        from awscrt.http import HttpRequest

        self.slots.acquire()

        def on_done(error: BaseException | None = None, status_code: int | None = None, **_kw: Any) -> None:
            if error is not None or (status_code is not None and status_code >= 300):
                with self.lock:
                    self.failures.append(f"{name}: {error or status_code}")
            self.slots.release()

        request = self.client.make_request(type=kind, request=HttpRequest(method, path, headers),
                                           on_done=on_done, **kwargs)
        with self.lock:
            self.pending.add(request)
        request.finished_future.add_done_callback(lambda _f: self._forget(request))

    def _forget(self, request: Any) -> None:
        with self.lock:
            self.pending.discard(request)

    def wait(self, timeout: float) -> None:
        while True:
            with self.lock:
                left = list(self.pending)
            if not left:
                return
            for r in left:
                r.finished_future.result(timeout)

    def list_pages(self, bucket: str, prefix: str) -> Iterator[list[str]]:
        """The keys under ``prefix``, a ListObjectsV2 page at a time."""
        from awscrt.http import HttpRequest
        from awscrt.s3 import S3RequestType

        token = ""
        while True:
            params = {"list-type": "2", "prefix": prefix}
            if token:
                params["continuation-token"] = token
            query = "&".join(f"{k}={quote(v, safe='')}" for k, v in sorted(params.items()))
            body = bytearray()
            status: list[int] = []

            def on_body(chunk: bytes, **_kw: Any) -> None:
                body.extend(chunk)

            def on_done(status_code: int | None = None, **_kw: Any) -> None:
                status.append(status_code or 0)

            req = self.client.make_request(type=S3RequestType.DEFAULT, operation_name="ListObjectsV2",
                                           request=HttpRequest("GET", f"/{bucket}?{query}", self.headers()),
                                           on_body=on_body, on_done=on_done)
            req.finished_future.result(60)
            if not status or status[0] != 200:
                raise RuntimeError(f"ListObjectsV2 answered {status}: {bytes(body[:300])!r}")
            doc = ET.fromstring(bytes(body))
            yield [c.findtext(f"{_NS}Key") or "" for c in doc.iter(f"{_NS}Contents")]
            token = doc.findtext(f"{_NS}NextContinuationToken") or ""
            if doc.findtext(f"{_NS}IsTruncated") != "true" or not token:
                return


def upload(crt: Crt, root: str, bucket: str, prefix: str) -> int:
    from awscrt.s3 import S3RequestType

    n = 0
    for here, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(here, name)
            key = prefix + os.path.relpath(path, root).replace(os.sep, "/")
            headers = crt.headers(("Content-Length", str(os.path.getsize(path))),
                                  ("Content-Type", "application/octet-stream"))
            crt.submit(S3RequestType.PUT_OBJECT, "PUT", f"/{bucket}/{quote(key)}", key, headers, send_filepath=path)
            n += 1
    return n


def download(crt: Crt, bucket: str, prefix: str, root: str) -> int:
    from awscrt.s3 import S3RequestType

    pages: queue.Queue[object] = queue.Queue(maxsize=2)
    failed: list[BaseException] = []

    def lister() -> None:
        try:
            for keys in crt.list_pages(bucket, prefix):
                pages.put(keys)
        except BaseException as exc:  # noqa: BLE001 - raised by the main thread
            failed.append(exc)
        finally:
            pages.put(_END)

    threading.Thread(target=lister, daemon=True).start()
    n = 0
    made: set[str] = set()
    while (keys := pages.get()) is not _END:
        for key in keys:  # type: ignore[attr-defined]
            rel = key[len(prefix):]
            if not rel or rel.endswith("/"):
                continue
            path = os.path.join(root, *rel.split("/"))
            parent = os.path.dirname(path)
            if parent not in made:
                os.makedirs(parent, exist_ok=True)
                made.add(parent)
            crt.submit(S3RequestType.GET_OBJECT, "GET", f"/{bucket}/{quote(key)}", key, crt.headers(),
                       recv_filepath=path)
            n += 1
    if failed:
        raise failed[0]
    return n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.peers.crt_tree", description=__doc__.split("\n")[0])
    p.add_argument("direction", choices=("upload", "download"))
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--endpoint-url", required=True)
    p.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
                   or "us-east-1")
    p.add_argument("--concurrency", type=int, default=256)
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for any one object")
    args = p.parse_args(argv)
    crt = Crt(args.endpoint_url, args.region, args.concurrency)
    if args.direction == "upload":
        bucket, prefix = _split_s3(args.dst)
        n = upload(crt, args.src, bucket, prefix)
    else:
        bucket, prefix = _split_s3(args.src)
        n = download(crt, bucket, prefix, args.dst)
    crt.wait(args.timeout)
    for line in crt.failures[:10]:
        print(f"crt_tree: failed: {line}", file=sys.stderr)
    print(f"crt_tree: {args.direction} {n} objects, {len(crt.failures)} failed", file=sys.stderr)
    return 1 if crt.failures else 0


if __name__ == "__main__":
    sys.exit(main())
