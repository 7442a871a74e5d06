"""``s3fast cp SRC DST``: the conventions of ``aws s3 cp`` and s5cmd.

Exit status: 0 success, 1 the transfer failed (S3 or network error, checksum
mismatch), 2 a usage error or bad input (bad URL, missing file, bad option),
130 interrupted (Ctrl-C; a multipart upload in progress is aborted first).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .. import _impl
from .._config import CHECKSUM_ALGORITHMS, TransferConfig
from .._errors import (
    AccessDenied,
    ConfigError,
    CredentialsError,
    LocalIOError,
    NoSuchBucket,
    NoSuchKey,
    S3Error,
    S3FastError,
)
from .._units import format_size, parse_size
from .._url import is_s3_url, parse_s3_url
from .._version import __version__
from ..net._resolver import parse_resolve_option
from ._progress import Progress


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"s3fast: error: {message}\n")
        raise SystemExit(2)


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="s3fast", description="High-throughput S3 transfers.")
    parser.add_argument("--version", action="version",
                        version=f"s3fast {__version__} ({_impl.MODE} core)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    cp = sub.add_parser("cp", help="copy a file to or from S3",
                        description="Copy SRC to DST; one of them is s3://bucket/key, the other a local path "
                                    "('-' for stdin/stdout).")
    cp.add_argument("src")
    cp.add_argument("dst")
    g = cp.add_argument_group("endpoint and credentials")
    g.add_argument("--endpoint-url", help="S3-compatible endpoint (default: AWS_ENDPOINT_URL_S3, "
                                          "AWS_ENDPOINT_URL, else AWS S3)")
    g.add_argument("--region", help="region (default: AWS_REGION / profile / us-east-1)")
    g.add_argument("--profile", help="shared-config profile for credentials")
    g.add_argument("--no-sign-request", action="store_true", help="anonymous requests (public buckets)")
    g.add_argument("--addressing-style", choices=("auto", "path", "virtual"), default="auto",
                   help="bucket in the path or in the host name (default: auto)")
    g.add_argument("--ca-bundle", help="CA file to trust for HTTPS (default: AWS_CA_BUNDLE)")
    g.add_argument("--no-verify-ssl", action="store_true", help="do not verify TLS certificates")
    g.add_argument("--resolve", action="append", default=[], metavar="HOST:IP[,IP...]",
                   help="pin HOST to these IPs, as curl does (repeatable)")
    t = cp.add_argument_group("transfer")
    d = TransferConfig()
    t.add_argument("--part-size", type=_size, default=d.part_size,
                   help=f"part / range size (default: {format_size(d.part_size)})")
    t.add_argument("--checksum", choices=CHECKSUM_ALGORITHMS, default=d.checksum,
                   help=f"full-object checksum for uploads (default: {d.checksum})")
    t.add_argument("--concurrency", type=int, default=None,
                   help="fixed number of requests in flight (default: auto-tuned to --target-gbps)")
    t.add_argument("--target-gbps", type=float, default=None,
                   help="throughput the tuner aims at (default: EC2's recommended value, else 10)")
    t.add_argument("--max-gbps", type=float, default=None, help="never exceed this rate (default: no cap)")
    t.add_argument("--memory-limit", type=_size, default=d.memory_limit,
                   help=f"hard bound on buffer memory (default: {format_size(d.memory_limit)})")
    t.add_argument("--content-type", help="Content-Type of an upload")
    o = cp.add_argument_group("output")
    o.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    o.add_argument("--stats", action="store_true", help="print per-IP counters on stderr")
    o.add_argument("--progress", choices=("auto", "bar", "log", "off"), default="auto",
                   help="progress on stderr: a bar on a terminal, none otherwise (default: auto)")
    o.add_argument("--quiet", "-q", action="store_true", help="no summary line, no progress")
    from ._tree import add_commands

    add_commands(sub, cp)  # cp -r, sync, mv, rm, ls, cat (s3fast/cli/_tree.py, _ls.py)
    return parser


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"s3fast: error: {message}\n")
    return code


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from ._tree import run_command, wants_tree

        return run_command(args) if wants_tree(args) else _run_cp(args)
    except KeyboardInterrupt:
        sys.stderr.write("s3fast: interrupted\n")
        return 130


def _run_cp(args: argparse.Namespace) -> int:
    src, dst = args.src, args.dst
    if is_s3_url(src) == is_s3_url(dst):
        if is_s3_url(src):
            return _fail("S3-to-S3 copy is not supported yet; one side must be a local path", 2)
        return _fail(f"one of SRC and DST must be an S3 URL (s3://bucket/key), got {src!r} and {dst!r}", 2)
    try:
        url = parse_s3_url(dst if is_s3_url(dst) else src)
        resolve = parse_resolve_option(args.resolve) if args.resolve else None
        config = TransferConfig(
            part_size=args.part_size, checksum=args.checksum, max_concurrency=args.concurrency,
            target_gbps=args.target_gbps, max_gbps=args.max_gbps, memory_limit=args.memory_limit,
        )
    except (ConfigError, ValueError) as exc:
        return _fail(str(exc), 2)
    upload = is_s3_url(dst)
    if upload and dst.endswith("/"):
        dst = dst + os.path.basename(src.rstrip("/"))
        url = parse_s3_url(dst)
    if not upload and (dst.endswith("/") or os.path.isdir(dst)):
        dst = os.path.join(dst, url.key.rsplit("/", 1)[-1])
    if upload and src != "-" and not os.path.exists(src):
        return _fail(f"no such file: {src}", 2)
    from .. import run

    try:
        return run(_cp(args, config, resolve, src, dst, upload))
    except LocalIOError as exc:
        return _fail(str(exc), 2)
    except CredentialsError as exc:
        return _fail(str(exc), 2)
    except ConfigError as exc:
        return _fail(str(exc), 2)
    except NoSuchBucket:
        return _fail(f"bucket does not exist: {url.bucket}", 1)
    except NoSuchKey:
        return _fail(f"no such key: s3://{url.bucket}/{url.key}", 1)
    except AccessDenied as exc:
        return _fail(f"access denied: {exc}", 1)
    except S3Error as exc:
        return _fail(str(exc), 1)
    except S3FastError as exc:
        return _fail(str(exc), 1)


#: destinations that are this process's stdout, written like "-"
_STDOUT_NAMES = ("/dev/stdout", "/dev/fd/1", "/proc/self/fd/1")


async def _cp(args: argparse.Namespace, config: TransferConfig, resolve: dict[str, list[str]] | None,
              src: str, dst: str, upload: bool) -> int:
    from .._client import Client

    client = Client(
        endpoint_url=args.endpoint_url, region=args.region, profile=args.profile,
        anonymous=args.no_sign_request, addressing_style=args.addressing_style,
        ca_bundle=args.ca_bundle, verify=not args.no_verify_ssl, resolve=resolve, config=config,
    )
    data_on_stdout = not upload and (dst == "-" or dst in _STDOUT_NAMES)
    async with client:
        total = None
        if upload and src != "-":
            total = os.path.getsize(src)
        progress = Progress(total, client, mode="off" if args.quiet else args.progress)
        progress.start()
        ok = False
        try:
            if upload:
                source: Any = sys.stdin.buffer if src == "-" else src
                result = await client.upload(source, dst, content_type=args.content_type, on_progress=progress.add)
            else:
                if data_on_stdout:
                    result = await client.download(src, sys.stdout.buffer, on_progress=progress.add)
                    sys.stdout.buffer.flush()
                else:
                    result = await client.download(src, dst, on_progress=progress.add)
            ok = True
        finally:
            await progress.stop(ok)
        ip_stats = client.ip_stats()
        stats = client.stats
    if args.stats:
        for ip, st in sorted(ip_stats.items()):
            sys.stderr.write(f"  {ip:<16} {st.state:<11} requests={st.requests:<6} bytes={st.bytes:<12} "
                             f"errors={st.errors} quarantines={st.quarantines}\n")
    if args.json:
        summary = {
            "operation": result.operation,
            "source": src,
            "destination": dst,
            "bytes": result.bytes,
            "seconds": round(result.seconds, 6),
            "mb_per_s": round(result.mb_per_s, 3),
            "gbps": round(result.gbps, 4),
            "parts": result.parts,
            "requests": stats.requests,
            "retries": stats.retries,
            "hedges": stats.hedges,
            "throttled": stats.throttled,
            "etag": result.etag,
            "checksum": {"algorithm": result.checksum[0], "value": result.checksum[1],
                         "verified": result.checksum_verified} if result.checksum else None,
            "per_ip": {ip: {"requests": st.requests, "bytes": st.bytes, "errors": st.errors,
                            "quarantines": st.quarantines, "state": st.state} for ip, st in ip_stats.items()},
            "native": _impl.NATIVE,
            "version": __version__,
        }
        # On stderr when stdout carries the object, like the summary line.
        (sys.stderr if data_on_stdout else sys.stdout).write(json.dumps(summary) + "\n")
    elif not args.quiet:
        arrow = f"{src} -> {dst}"
        # The summary goes to stdout, as aws s3 cp does, unless stdout carries the object.
        out = sys.stderr if data_on_stdout else sys.stdout
        out.write(
            f"{result.operation}: {arrow}  {format_size(result.bytes)} in {result.seconds:.2f} s "
            f"({result.mb_per_s:.1f} MB/s, {result.gbps:.2f} Gbps)\n"
        )
    return 0
