"""``s3fast ls`` (buckets, prefixes and objects) and ``s3fast cat`` (an object to stdout)."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .._errors import ConfigError, CredentialsError, S3Error, S3FastError
from .._transport import Request
from .._units import format_size
from .._url import parse_s3_url
from ..tree._decide import parse_s3_time
from ..tree._list import list_pages
from ..tree._xml import BadAnswer, parse_buckets


def add_ls_commands(sub: Any, cp: argparse.ArgumentParser) -> None:
    from ._tree import share_options

    ls = sub.add_parser("ls", help="list buckets, or the prefixes and objects under a prefix")
    ls.add_argument("url", nargs="?", metavar="s3://BUCKET[/PREFIX]")
    ls.add_argument("--recursive", "-r", action="store_true", help="every object under the prefix, not one level")
    ls.add_argument("--human-readable", "-H", action="store_true", help="sizes as KiB, MiB...")
    ls.add_argument("--summarize", action="store_true", help="end with the object count and total size")
    share_options(cp, ls, titles=("endpoint and credentials", "output"))

    cat = sub.add_parser("cat", help="write an object to stdout")
    cat.add_argument("url", metavar="s3://BUCKET/KEY")
    share_options(cp, cat, titles=("endpoint and credentials",))


def run_ls_command(args: argparse.Namespace) -> int:
    from .. import run
    from ._tree import fail

    try:
        if args.command == "cat":
            parse_s3_url(args.url)
            return run(_cat(args))
        if args.url is not None:
            parse_s3_url(args.url, require_key=False)
        return run(_ls(args))
    except (ConfigError, CredentialsError, ValueError) as exc:
        return fail(str(exc), 2)
    except BrokenPipeError:
        return 0
    except (S3Error, BadAnswer, S3FastError) as exc:
        return fail(str(exc), 1)


def _when(text: str) -> str:
    t = parse_s3_time(text)
    if t is None:
        return text
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


async def _ls(args: argparse.Namespace) -> int:
    from ._tree import make_client

    out = sys.stdout
    size = format_size if args.human_readable else str
    async with make_client(args) as client:
        if args.url is None:
            _, body = await client._transport.call(Request("GET", None, None))
            for name, created in parse_buckets(body):
                out.write(json.dumps({"bucket": name, "created": created}) + "\n" if args.json
                          else f"{_when(created)} {name}\n")
            return 0
        u = parse_s3_url(args.url, require_key=False)
        # Names are shown relative to the "directory" of the prefix, as the aws CLI does.
        cut = 0 if args.recursive else u.key.rfind("/") + 1
        count = total = 0
        async for page in list_pages(client, u.bucket, u.key, delimiter=None if args.recursive else "/"):
            for p in page.prefixes:
                out.write(json.dumps({"prefix": p}) + "\n" if args.json else f"{'PRE':>30} {p[cut:]}\n")
            for o in page.objects:
                count += 1
                total += o.size
                if args.json:
                    out.write(json.dumps({"key": o.key, "size": o.size, "last_modified": o.last_modified,
                                          "etag": o.etag}) + "\n")
                else:
                    out.write(f"{_when(o.last_modified)} {size(o.size):>10} {o.key[cut:]}\n")
        if args.summarize:
            if args.json:
                out.write(json.dumps({"total_objects": count, "total_size": total}) + "\n")
            else:
                out.write(f"\nTotal Objects: {count}\n   Total Size: {size(total)}\n")
        out.flush()
    return 0


async def _cat(args: argparse.Namespace) -> int:
    from ._tree import make_client

    out = sys.stdout.buffer
    async with make_client(args) as client:
        async for chunk in client.stream(args.url):
            out.write(chunk)
        out.flush()
    return 0
