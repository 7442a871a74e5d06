"""``s3fast ls``: buckets, or the prefixes and objects under a prefix.

Keys and bucket names come from the server: a text line shows them through ``printable``
(a key holding ESC cannot rewrite the terminal); ``--json`` lines carry them exactly.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from .._errors import ConfigError, printable
from .._units import format_size
from .._url import parse_s3_url
from ..tree._decide import parse_s3_time
from ..transfer._xml import BadAnswer
from ._options import add_common_options, make_client
from ._runner import EXIT_FAILED, EXIT_OK, EXIT_USAGE, error, run_async


def register(sub: Any) -> None:
    ls = sub.add_parser("ls")
    ls.add_argument("url", nargs="?", metavar="s3://BUCKET[/PREFIX]")
    ls.add_argument("--recursive", "-r", action="store_true", help="every object under the prefix, not one level")
    ls.add_argument("--human-readable", "-H", action="store_true", help="sizes as KiB, MiB...")
    ls.add_argument("--summarize", action="store_true", help="end with the object count and total size")
    add_common_options(ls)
    ls.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    try:
        if args.url is not None:
            parse_s3_url(args.url, require_key=False)
    except ConfigError as exc:
        return error(str(exc), EXIT_USAGE)
    try:
        return run_async(lambda: _ls(args))
    except BadAnswer as exc:
        return error(str(exc), EXIT_FAILED)


def _when(text: str) -> str:
    t = parse_s3_time(text)
    if t is None:
        return printable(text, 64)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


async def _ls(args: argparse.Namespace) -> int:
    out = sys.stdout
    size = format_size if args.human_readable else str
    async with make_client(args) as client:
        if args.url is None:
            for name, created in await client.list_buckets():
                out.write(json.dumps({"bucket": name, "created": created}) + "\n" if args.json
                          else f"{_when(created)} {printable(name, 4096)}\n")
            return EXIT_OK
        u = parse_s3_url(args.url, require_key=False)
        # Names are shown relative to the "directory" of the prefix, as the aws CLI does.
        cut = 0 if args.recursive else u.key.rfind("/") + 1
        count = total = 0
        async for page in client.list_pages(u.bucket, u.key, delimiter=None if args.recursive else "/"):
            for p in page.prefixes:
                out.write(json.dumps({"prefix": p}) + "\n" if args.json
                          else f"{'PRE':>30} {printable(p[cut:], 4096)}\n")
            for o in page.objects:
                count += 1
                total += o.size
                if args.json:
                    out.write(json.dumps({"key": o.key, "size": o.size, "last_modified": o.last_modified,
                                          "etag": o.etag}) + "\n")
                else:
                    out.write(f"{_when(o.last_modified)} {size(o.size):>10} {printable(o.key[cut:], 4096)}\n")
        if args.summarize:
            if args.json:
                out.write(json.dumps({"total_objects": count, "total_size": total}) + "\n")
            else:
                out.write(f"\nTotal Objects: {count}\n   Total Size: {size(total)}\n")
        out.flush()
    return EXIT_OK
