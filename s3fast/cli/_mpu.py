"""``s3fast mpu ls`` and ``s3fast mpu abort``: find and clean incomplete multipart uploads.

An upload that was never completed or aborted (a killed client, a ``--resumable`` transfer
left to resume) keeps its parts stored and billed. ``mpu ls s3://b/prefix`` lists them
(key, upload id, initiated, age); ``mpu abort s3://b/key --upload-id ID`` aborts one;
``mpu abort s3://b/prefix --older-than 7d`` aborts every one initiated more than that
long ago (``--dryrun`` says which, aborts none). The listing is read a page (1,000
uploads) at a time, each page's aborts done before the next page is asked for.

Exit status: 0 done, 1 a listing or an abort failed (each failure named), 2 usage.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from typing import Any

from .._errors import ConfigError, S3Error, printable
from .._url import parse_s3_url
from ..tree._decide import parse_s3_time
from ._options import add_common_options, make_client
from ._runner import EXIT_FAILED, EXIT_OK, EXIT_USAGE, error, run_async

#: aborts in flight at once
ABORT_WINDOW = 16

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGE_RE = re.compile(r"([0-9]{1,9})([smhdw])", re.ASCII)


def parse_age(text: str) -> int:
    """``90s``, ``30m``, ``12h``, ``7d``, ``2w`` or a sum such as ``1d12h`` -> seconds (pure)."""
    t = text.strip().lower()
    pos = 0
    total = 0
    for m in _AGE_RE.finditer(t):
        if m.start() != pos:
            break
        total += int(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not t or pos != len(t):
        raise argparse.ArgumentTypeError(
            f"not an age: {text[:40]!r} (a number and a unit s, m, h, d or w, e.g. 7d or 1d12h)")
    return total


def format_age(seconds: float | None) -> str:
    """``3d04h``, ``5h12m``, ``42s``; ``?`` when unknown (pure)."""
    if seconds is None:
        return "?"
    s = max(0, int(seconds))
    if s >= 86400:
        return f"{s // 86400}d{(s % 86400) // 3600:02d}h"
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def age_of(initiated: str, now: float) -> float | None:
    """Seconds since ``initiated`` (S3's ``2024-05-01T12:00:00.000Z``); None if unparsable."""
    t = parse_s3_time(initiated)
    return None if t is None else now - t


def should_abort(age: float | None, older_than: int) -> bool:
    """An upload of unknown age is never aborted by age: its owner may be writing it now."""
    return age is not None and age > older_than


def register(sub: Any) -> None:
    mpu = sub.add_parser("mpu",
                         description="Incomplete multipart uploads: 'mpu ls' lists them, 'mpu abort' removes them.")
    msub = mpu.add_subparsers(dest="mpu_command", required=True, parser_class=type(mpu))
    ls = msub.add_parser("ls", help="list incomplete uploads under a prefix (key, upload id, initiated, age)")
    ls.add_argument("url", metavar="s3://BUCKET[/PREFIX]")
    add_common_options(ls)
    ls.set_defaults(handler=main)
    ab = msub.add_parser("abort", help="abort one upload (--upload-id) or all older than an age (--older-than)")
    ab.add_argument("url", metavar="s3://BUCKET/KEY-or-PREFIX")
    which = ab.add_mutually_exclusive_group(required=True)
    which.add_argument("--upload-id", metavar="ID", help="abort this upload of the key URL")
    which.add_argument("--older-than", type=parse_age, metavar="AGE",
                       help="abort every upload under the prefix initiated more than AGE ago (e.g. 7d, 12h)")
    ab.add_argument("--dryrun", action="store_true", help="say what would be aborted, abort nothing")
    add_common_options(ab)
    ab.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    try:
        u = parse_s3_url(args.url, require_key=False)
        if args.mpu_command == "abort" and args.upload_id is not None:
            if not u.key or u.key.endswith("/"):
                return error(f"--upload-id needs the upload's key: {args.url} names none", EXIT_USAGE)
            if not args.upload_id.strip() or not args.upload_id.isprintable():
                return error("--upload-id is empty or holds control characters", EXIT_USAGE)
    except ConfigError as exc:
        return error(str(exc), EXIT_USAGE)
    if args.mpu_command == "ls":
        return run_async(lambda: _ls(args, time.time))
    return run_async(lambda: _abort(args, time.time))


def _line(key: str, upload_id: str, initiated: str, age: float | None) -> str:
    when = parse_s3_time(initiated)
    shown = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(when)) if when is not None else printable(initiated, 64)
    return f"{shown} {format_age(age):>7}  {printable(upload_id, 512)}  {printable(key, 4096)}"


async def _ls(args: argparse.Namespace, clock: Callable[[], float]) -> int:
    u = parse_s3_url(args.url, require_key=False)
    out = sys.stdout
    now = clock()
    count = 0
    async with make_client(args) as client:
        async for up in client.list_uploads(u.bucket, u.key):
            count += 1
            age = age_of(up.initiated, now)
            if args.json:
                out.write(json.dumps({"key": up.key, "upload_id": up.upload_id, "initiated": up.initiated,
                                      "age_seconds": None if age is None else round(age, 3)}) + "\n")
            else:
                out.write(_line(up.key, up.upload_id, up.initiated, age) + "\n")
    if not args.json and not args.quiet and count == 0:
        sys.stderr.write(printable(f"no incomplete uploads under {args.url}", 4096) + "\n")
    out.flush()
    return EXIT_OK


_Target = tuple[str, str, str, "float | None"]  # key, upload id, initiated, age


async def _abort(args: argparse.Namespace, clock: Callable[[], float]) -> int:
    u = parse_s3_url(args.url, require_key=False)
    targets: list[_Target]
    aborted: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    kept = 0
    async with make_client(args) as client:
        if args.upload_id is not None:
            targets = [(u.key, str(args.upload_id), "", None)]
            if args.dryrun:
                aborted.append(_record(*targets[0]))
            else:
                await _abort_all(client, u.bucket, targets, aborted, failed)
        else:
            now = clock()
            async for page in _pages(client.list_uploads(u.bucket, u.key)):
                targets = []
                for up in page:
                    age = age_of(up.initiated, now)
                    if should_abort(age, args.older_than):
                        targets.append((up.key, up.upload_id, up.initiated, age))
                    else:
                        kept += 1
                if args.dryrun:
                    aborted.extend(_record(*t) for t in targets)
                else:
                    await _abort_all(client, u.bucket, targets, aborted, failed)
    for f in failed:
        sys.stderr.write(printable(f"s3fast: failed: abort s3://{u.bucket}/{f['key']} "
                                   f"(upload {f['upload_id']}): {f['error']}", 4096) + "\n")
    if args.json:
        sys.stdout.write(json.dumps({"operation": "mpu-abort", "bucket": u.bucket, "prefix": u.key,
                                     "dryrun": bool(args.dryrun), "aborted": aborted, "kept": kept,
                                     "failed": failed}) + "\n")
    else:
        tag = "(dryrun) abort" if args.dryrun else "aborted"
        for a in aborted:
            sys.stdout.write(printable(f"{tag}: s3://{u.bucket}/{a['key']} upload {a['upload_id']}"
                                       + (f" (age {format_age(a['age_seconds'])})" if a["age_seconds"] is not None
                                          else ""), 4096) + "\n")
        if not args.quiet:
            verb = "would abort" if args.dryrun else "aborted"
            sys.stdout.write(f"mpu abort: {verb} {len(aborted)}, kept {kept}"
                             + (f", {len(failed)} FAILED" if failed else "") + "\n")
    return EXIT_FAILED if failed else EXIT_OK


def _record(key: str, upload_id: str, initiated: str, age: float | None) -> dict[str, Any]:
    return {"key": key, "upload_id": upload_id, "initiated": initiated,
            "age_seconds": None if age is None else round(age, 3)}


async def _pages(uploads: Any, size: int = 1000) -> Any:
    """The listing regrouped by (at most) ``size``: a page's aborts finish before more is read."""
    page: list[Any] = []
    async for up in uploads:
        page.append(up)
        if len(page) >= size:
            yield page
            page = []
    if page:
        yield page


async def _abort_all(client: Any, bucket: str, targets: list[_Target],
                     aborted: list[dict[str, Any]], failed: list[dict[str, Any]]) -> None:
    import asyncio  # here: registering the parser (``--help``) runs no loop

    sem = asyncio.Semaphore(ABORT_WINDOW)

    async def one(t: _Target) -> None:
        async with sem:
            try:
                await client.abort_upload(f"s3://{bucket}/{t[0]}", t[1])
            except S3Error as exc:
                failed.append({**_record(*t), "error": "no such upload (already completed or aborted)"
                               if exc.code == "NoSuchUpload" else str(exc)})
                return
        aborted.append(_record(*t))

    await asyncio.gather(*(one(t) for t in targets))


__all__ = ["age_of", "format_age", "main", "parse_age", "register", "should_abort"]
