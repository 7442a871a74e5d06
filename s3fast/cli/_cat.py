"""``s3fast cat s3://bucket/key``: an object to stdout, streamed in order."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from .._errors import ConfigError
from .._url import parse_s3_url
from ._options import add_common_options, make_client
from ._runner import EXIT_OK, EXIT_USAGE, error, run_async


def register(sub: Any) -> None:
    cat = sub.add_parser("cat")
    cat.add_argument("url", metavar="s3://BUCKET/KEY")
    add_common_options(cat, output=False)  # stdout is the object
    cat.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    try:
        parse_s3_url(args.url)
    except ConfigError as exc:
        return error(str(exc), EXIT_USAGE)
    return run_async(lambda: _cat(args))


async def _cat(args: argparse.Namespace) -> int:
    out = sys.stdout.buffer
    async with make_client(args) as client:
        async for chunk in client.stream(args.url):
            out.write(chunk)
        out.flush()
    return EXIT_OK
