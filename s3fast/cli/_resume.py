"""``s3fast resume ls`` and ``s3fast resume clean``: the journals resumable transfers left.

A journal outlives its transfer only when the transfer was interrupted or failed; running
the same command again continues it. Journals nobody will resume pile up (and so do their
multipart uploads, which S3 bills, and the partial files of downloads): ``ls`` says which
are stale and why, ``clean`` removes the stale ones, aborts their uploads and deletes their
partial files. A journal in use by a running transfer is left alone.

Stale: an upload whose source file is gone or changed, or whose upload S3 no longer knows;
a download whose partial file is gone, or whose object is gone or changed (its ETag, size or
version: a HEAD); a tree journal whose local directory is gone.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from .._errors import NoSuchKey, S3Error, printable
from .._results import ObjectHead
from ..resume._download_plan import DownloadPlan
from ..resume._log import JournalError, RecordLog, decode, list_journals, state_dir
from ..resume._plan import SourceStamp
from ._options import add_common_options, make_client
from ._runner import EXIT_FAILED, EXIT_OK, run_async


def register(sub: Any) -> None:
    p = sub.add_parser("resume",
                       description="List (ls) the journals that interrupted --resumable transfers left, "
                                   "or remove the stale ones and abort their uploads (clean).")
    p.add_argument("action", choices=("ls", "clean"))
    p.add_argument("--state-dir", metavar="DIR", default=None,
                   help="where journals are kept (default: S3FAST_STATE_DIR, else $XDG_STATE_HOME/s3fast, "
                        "else ~/.local/state/s3fast)")
    add_common_options(p)
    p.set_defaults(handler=main)


@dataclass(frozen=True)
class Entry:
    path: Path
    kind: str
    plan: dict[str, Any]
    parts: int
    age_s: float
    #: None: resumable; else why it is stale
    stale: str | None


def local_verdict(kind: str, plan: dict[str, Any], stat: os.stat_result | None) -> str | None:
    """Why a journal is stale from what the local disk says (pure); None: not from here.
    ``stat``: of an upload's source file, of a download's partial file (None: gone)."""
    if not plan:
        return "unreadable"
    if kind == "upload":
        if stat is None:
            return "source file gone"
        if SourceStamp.of(stat) != SourceStamp(plan.get("size", -1), plan.get("mtime_ns", -1), plan.get("inode", -1)):
            return "source file changed"
    elif stat is None:
        return "partial file gone"
    return None


def remote_verdict(plan: dict[str, Any], head: ObjectHead | None) -> str | None:
    """Why a download journal is stale from what S3 says of its object (pure; ``head``
    None: the object is gone)."""
    if head is None:
        return "object gone from S3"
    dp = DownloadPlan.from_record(plan)
    if dp is None:
        return "unreadable"
    change = dp.change(head)
    return None if change is None else f"object changed in S3 ({change})"


def _stat(path: object) -> os.stat_result | None:
    if not isinstance(path, str):
        return None
    try:
        return os.stat(path)
    except OSError:
        return None


def read_entries(base: Path, now: float) -> list[Entry]:
    entries = []
    for path in list_journals(base):
        kind = path.name.split("-", 1)[0]
        try:
            raw = path.read_bytes()
            age = now - path.stat().st_mtime
        except OSError:
            continue  # removed meanwhile
        records, _ = decode(raw)
        head = records[0] if records else {}
        plan = head if head.get("t") in ("plan", "tree") else {}
        if plan.get("t") == "tree":
            local = plan.get("source") if kind == "upload" else plan.get("destination")
            stale = None if os.path.isdir(str(local)) else \
                "source directory gone" if kind == "upload" else "destination directory gone"
        else:
            stale = local_verdict(kind, plan, _stat(plan.get("source" if kind == "upload" else "partial")))
        entries.append(Entry(path, kind, plan or (records[0] if records else {}), max(len(records) - 1, 0), age, stale))
    return entries


async def _object_now(client: Any, plan: dict[str, Any]) -> ObjectHead | None:
    """The download's object as S3 has it now (None: gone)."""
    bucket, key, version = plan["bucket"], plan["key"], plan.get("version")
    try:
        return cast(ObjectHead, await client.head(f"s3://{bucket}/{key}", checksum_mode=False,
                                                  version_id=version if isinstance(version, str) else None))
    except NoSuchKey:
        return None
    except S3Error as exc:
        if exc.status == 404:  # a HEAD has no body: a missing key or version is a bare 404
            return None
        raise


async def _remote_verdict(client: Any, e: Entry) -> str | None:
    if e.kind == "upload":
        return "upload gone from S3" if await _upload_gone(client, e.plan) else None
    if not (isinstance(e.plan.get("bucket"), str) and isinstance(e.plan.get("key"), str)):
        return "unreadable"  # a plan that names no object: nothing can resume it
    return remote_verdict(e.plan, await _object_now(client, e.plan))


def _checked_remotely(e: Entry) -> bool:
    """A journal whose verdict needs S3: one transfer's plan not already stale locally."""
    return e.stale is None and e.plan.get("t") == "plan"


async def _upload_gone(client: Any, plan: dict[str, Any]) -> bool:
    bucket, key, upload_id = plan.get("bucket"), plan.get("key"), plan.get("upload_id")
    if not (isinstance(bucket, str) and isinstance(key, str) and isinstance(upload_id, str)):
        return True
    try:
        await client.upload_parts(f"s3://{bucket}/{key}", upload_id)
    except S3Error as exc:
        if exc.code == "NoSuchUpload" or exc.status == 404:
            return True
        raise
    return False


def main(args: argparse.Namespace) -> int:
    return run_async(lambda: _main(args))


async def _main(args: argparse.Namespace) -> int:
    base = Path(args.state_dir) if args.state_dir else state_dir()
    entries = read_entries(base, time.time())
    # Uploads are checked against S3 and aborted through it: the same endpoint options as the
    # transfer that left the journal.
    client = make_client(args) if any(_checked_remotely(e) or (e.kind == "upload" and e.plan.get("t") == "plan")
                                      for e in entries) else None
    checked: list[Entry] = []
    failed = False
    if client is not None:
        async with client:
            for e in entries:
                if _checked_remotely(e):
                    try:
                        stale = await _remote_verdict(client, e)
                        if stale is not None:
                            e = Entry(e.path, e.kind, e.plan, e.parts, e.age_s, stale)
                    except Exception as exc:  # noqa: BLE001 -- one journal's check, reported
                        sys.stderr.write(f"s3fast: cannot check {printable(str(e.path))}: {printable(str(exc))}\n")
                        failed = True
                checked.append(e)
            if args.action == "clean":
                failed |= await _clean(client, checked)
    else:
        checked = entries
        if args.action == "clean":
            failed |= await _clean(None, checked)
    if args.action == "ls":
        _print(checked, args.json)
    return EXIT_FAILED if failed else EXIT_OK


async def _clean(client: Any, entries: list[Entry]) -> bool:
    from ..resume._partial import SUFFIX  # here: it loads the file machinery, which --help does not need

    failed = False
    for e in entries:
        if e.stale is None:
            continue
        try:
            log, _ = RecordLog.open(e.path)
        except JournalError as exc:
            sys.stderr.write(f"s3fast: {printable(str(exc))}\n")  # in use: a transfer is running
            failed = True
            continue
        try:
            upload_id, bucket, key = e.plan.get("upload_id"), e.plan.get("bucket"), e.plan.get("key")
            if (e.kind == "upload" and client is not None and e.stale != "upload gone from S3"
                    and isinstance(upload_id, str) and isinstance(bucket, str) and isinstance(key, str)):
                with contextlib.suppress(S3Error):  # already gone (completed or aborted): fine
                    await client.abort_upload(f"s3://{bucket}/{key}", upload_id)
            partial = e.plan.get("partial")
            if e.kind == "download" and e.plan.get("t") == "plan" and isinstance(partial, str) \
                    and partial.endswith(SUFFIX):
                # Only a file by the partial name this journal planned (never what a
                # damaged journal might name): nothing resumes into it any more.
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(partial)
        finally:
            log.discard()
        sys.stdout.write(f"removed {e.kind} journal {printable(_describe(e))} ({e.stale})\n")
    return failed


def _describe(e: Entry) -> str:
    plan = e.plan
    if plan.get("t") == "tree":
        return f"{plan.get('source')} -> {plan.get('destination')}"
    url = f"s3://{plan.get('bucket')}/{plan.get('key')}"
    return f"{plan.get('source')} -> {url}" if e.kind == "upload" else f"{url} -> {plan.get('destination', '?')}"


def _print(entries: list[Entry], as_json: bool) -> None:
    for e in entries:
        if as_json:
            sys.stdout.write(json.dumps({"journal": str(e.path), "kind": f"tree-{e.kind}" if e.plan.get("t") == "tree"
                                         else e.kind, "bucket": e.plan.get("bucket"),
                                         "key": e.plan.get("key"), "source": e.plan.get("source"),
                                         "destination": e.plan.get("destination"),
                                         "partial": e.plan.get("partial"),
                                         "upload_id": e.plan.get("upload_id"), "parts": e.parts,
                                         "age_seconds": round(e.age_s), "stale": e.stale}) + "\n")
        else:
            state = f"stale: {e.stale}" if e.stale else "resumable"
            sys.stdout.write(f"{e.kind:<8} {printable(_describe(e))}  parts={e.parts}  "
                             f"age={e.age_s / 3600:.1f}h  {state}\n")
