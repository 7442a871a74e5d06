"""``s3fast cp SRC DST``: one object to or from S3, as ``aws s3 cp`` does it. With
``--recursive``, a wildcard in SRC, two S3 URLs (a server-side copy), ``--dryrun`` or
``--no-clobber``, the handler hands the command to :mod:`._tree` instead.

Names follow ``aws s3 cp``: an upload to ``s3://bucket``, ``s3://bucket/`` or
``s3://bucket/dir/`` takes the source file's name as the last part of the key; a download
into a directory (``./dir`` or ``./dir/``) takes the key's last part as the file name.
Mistakes found before the transfer starts (a missing source, no such directory, a key
that names a "directory") are exit 2; a failure once data moves, local writes included
(ENOSPC, EACCES), is exit 1.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from .._errors import AccessDenied, ConfigError, NoSuchBucket, NoSuchKey, printable
from .._units import format_size
from .._url import S3Url, check_key, is_s3_url, parse_s3_url
from .._version import __version__
from . import _tree
from ._fds import STD_NAMES as _STD_NAMES, check_stdin_source, descriptor_named, was_closed
from ._options import (add_common_options, add_dask_options, add_resume_options, add_transfer_options,
                       make_client, transfer_config)
from ._runner import EXIT_FAILED, EXIT_OK, EXIT_USAGE, error, run_async

if TYPE_CHECKING:
    from ._progress import Progress

# What only a transfer needs (the event loop, the client, the progress display) is
# imported inside the functions that transfer: ``cp --help`` and a usage error load none of it.

#: destinations that are this process's stdout, written like "-"
_STDOUT_NAMES = ("/dev/stdout", "/dev/fd/1", "/proc/self/fd/1")


def register(sub: Any) -> None:
    cp = sub.add_parser("cp",
                        description="Copy SRC to DST: a local path ('-' for stdin/stdout) and s3://bucket/key, "
                                    "or two S3 URLs (a server-side copy); --recursive or a wildcard in SRC "
                                    "copies many objects.")
    cp.add_argument("src")
    cp.add_argument("dst")
    _tree.add_cp_tree_options(cp)
    add_common_options(cp)
    add_transfer_options(cp)
    add_dask_options(cp)
    add_resume_options(cp)
    cp.set_defaults(handler=main)


@dataclass(frozen=True)
class Plan:
    """What the command line asks for, names resolved (pure: see :func:`plan`)."""

    upload: bool
    src: str
    dst: str
    url: S3Url


def plan(src: str, dst: str, *, isdir: Any = os.path.isdir) -> Plan:
    """Resolve SRC and DST as ``aws s3 cp`` does; ConfigError for what cannot work."""
    if is_s3_url(src) == is_s3_url(dst):
        if is_s3_url(src):
            raise ConfigError("S3-to-S3 copy is not supported yet; one side must be a local path")
        raise ConfigError(f"one of SRC and DST must be an S3 URL (s3://bucket/key), got {src!r} and {dst!r}")
    if is_s3_url(dst):
        url = parse_s3_url(dst, require_key=False)
        if not url.key or url.key.endswith("/"):
            if src == "-":
                raise ConfigError(f"an upload from stdin needs a key: {dst!r} names none")
            name = os.path.basename(src.rstrip("/"))
            if not name:
                raise ConfigError(f"cannot name the object after {src!r}")
            url = S3Url(url.bucket, check_key(url.key + name))
        return Plan(True, src, str(url), url)
    url = parse_s3_url(src)
    name = url.key.rsplit("/", 1)[-1]
    if dst != "-" and dst not in _STDOUT_NAMES and (dst.endswith("/") or isdir(dst)):
        if not name:
            raise ConfigError(f"{src!r} ends with '/': name the destination file")
        if name in (".", ".."):
            # os.path.join(dir, "..") is the parent directory, not a file in dir.
            raise ConfigError(f"{src!r} ends with {name!r}, which names no file in {dst!r}: name the destination file")
        dst = os.path.join(dst, name)
    return Plan(False, src, dst, url)


def _check_local(p: Plan) -> None:
    """Bad input that is cheaper to name now than after connecting."""
    if p.upload:
        if p.src == "-":
            check_stdin_source()
            return
        fd = descriptor_named(p.src)
        if fd is not None and was_closed(fd):
            raise ConfigError(f"{p.src} names {_STD_NAMES[fd]}, which is closed")
        if not os.path.exists(p.src):
            raise ConfigError(f"no such file: {p.src}")
        if os.path.isdir(p.src):
            raise ConfigError(f"{p.src} is a directory (cp copies one file)")
        return
    if p.dst == "-":
        if was_closed(1):
            raise ConfigError("'-' writes to stdout, but stdout is closed")
        return
    fd = descriptor_named(p.dst)
    if fd is not None:
        # Only the command line knows a standard stream was closed (/dev/null stands in
        # for it); every other descriptor check is the download's own (transfer/_special).
        if was_closed(fd):
            raise ConfigError(f"{p.dst} names {_STD_NAMES[fd]}, which is closed")
        return
    parent = os.path.dirname(p.dst) or "."
    if not os.path.isdir(parent):
        raise ConfigError(f"no such directory: {parent}")


def main(args: argparse.Namespace) -> int:
    if args.dask_scheduler is not None or args.dask_batch_size is not None:
        if args.resumable:
            return error("--resumable is not taken with --dask-scheduler: a Dask copy's batches are "
                         "retried by the cluster, not resumed from a journal", EXIT_USAGE)
        from . import _dask

        return _dask.main(args)
    if _tree.wants_tree(args):
        return _tree.main(args)  # its usage checks include --resumable's
    try:
        p = plan(args.src, args.dst)
        if args.resumable and not p.upload and (p.dst == "-" or p.dst in _STDOUT_NAMES):
            raise ConfigError("--resumable needs a file destination: stdout has no partial file to resume")
        _check_local(p)
        if args.resumable and p.src == "-":
            raise ConfigError("--resumable needs a file to upload, not stdin: a stream cannot be read again")
        config = transfer_config(args)
    except ConfigError as exc:
        return error(str(exc), EXIT_USAGE)
    try:
        return run_async(lambda: _cp(args, config, p))
    except NoSuchBucket:
        return error(f"bucket does not exist: {p.url.bucket}", EXIT_FAILED)
    except NoSuchKey:
        return error(f"no such key: {p.url}", EXIT_FAILED)
    except AccessDenied as exc:
        return error(f"access denied: {exc}", EXIT_FAILED)


async def _resumable_upload(client: Any, source: str, dst: str, args: argparse.Namespace,
                            progress: Progress) -> Any:
    """An upload that a failure or interrupt leaves resumable: the reasons a run starts over
    are printed, and a kept upload is named with how to continue it."""
    from .._events import Notice, TransferFailed

    kept: list[bool] = []

    def on_event(event: object) -> None:
        if type(event) is Notice:
            _write_line(f"s3fast: {event.message}")
        elif type(event) is TransferFailed:
            kept.append(event.resumable)

    try:
        return await client.upload(source, dst, content_type=args.content_type, resumable=True,
                                   subscribers=[*progress.subscribers(), on_event])
    except BaseException:
        if kept and kept[0]:
            _write_line("s3fast: the upload is kept; run the same command again to resume it")
        raise


async def _resumable_download(client: Any, src: str, dst: str, progress: Progress) -> Any:
    """A download that a failure or interrupt leaves resumable: why a run starts over is
    printed, and a kept partial file is named with how to continue."""
    from .._events import Notice, TransferFailed
    from ..resume._partial import partial_path

    kept: list[bool] = []

    def on_event(event: object) -> None:
        if type(event) is Notice:
            _write_line(f"s3fast: {event.message}")
        elif type(event) is TransferFailed:
            kept.append(event.resumable)

    try:
        return await client.download(src, dst, resumable=True, subscribers=[*progress.subscribers(), on_event])
    except BaseException:
        if kept and kept[0]:
            _write_line(f"s3fast: the partial download is kept in {partial_path(dst)}; "
                        "run the same command again to resume it")
        raise


async def _size_of(client: Any, url: str) -> int | None:
    """The object's size for the progress display; None if the HEAD fails (the download
    itself then reports whatever is wrong)."""
    from .._errors import S3FastError

    try:
        size: int = (await client.head(url, checksum_mode=False)).size
    except (S3FastError, OSError):
        return None
    return size


def _write_line(text: str) -> None:
    try:
        sys.stderr.write(printable(text, 2048) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # stderr closed


async def _cp(args: argparse.Namespace, config: Any, p: Plan) -> int:
    from .. import _impl
    from ._progress import Progress

    src, dst, upload = p.src, p.dst, p.upload
    client = make_client(args, config)
    data_on_stdout = not upload and (dst == "-" or dst in _STDOUT_NAMES)
    async with client:
        total = None
        if upload and src != "-":
            total = os.path.getsize(src)
        progress = Progress(total, client, mode="off" if args.quiet else args.progress)
        if not upload and progress.mode == "bar":
            # The bar's total, percent and ETA need the size before the first byte: one HEAD,
            # made only for a terminal's bar (a person watching pays a millisecond; a log's
            # periodic lines show bytes and rate without it).
            progress.total = await _size_of(client, src)
        progress.start()
        ok = False
        try:
            if upload:
                # stdin's raw file: a read abandoned on Ctrl-C then holds no buffer lock at exit.
                source: Any = cast(io.BufferedReader, sys.stdin.buffer).raw if src == "-" else src
                if args.resumable:
                    result = await _resumable_upload(client, source, dst, args, progress)
                else:
                    result = await client.upload(source, dst, content_type=args.content_type,
                                                 subscribers=progress.subscribers())
            elif args.resumable:
                result = await _resumable_download(client, src, dst, progress)
            else:
                if data_on_stdout:
                    result = await client.download(src, sys.stdout.buffer, subscribers=progress.subscribers())
                    sys.stdout.buffer.flush()
                else:
                    result = await client.download(src, dst, subscribers=progress.subscribers())
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
            "bytes_sent": result.bytes if result.bytes_sent is None else result.bytes_sent,
            "parts_skipped": result.parts_skipped,
            "resumed": result.resumed,
            "checksum": {"algorithm": result.checksum.algorithm, "value": result.checksum.value,
                         "verified": result.checksum_verified} if result.checksum else None,
            "per_ip": {ip: {"requests": st.requests, "bytes": st.bytes, "errors": st.errors,
                            "quarantines": st.quarantines, "state": st.state} for ip, st in ip_stats.items()},
            "native": _impl.NATIVE,
            "version": __version__,
        }
        # On stderr when stdout carries the object, like the summary line.
        (sys.stderr if data_on_stdout else sys.stdout).write(json.dumps(summary) + "\n")
    elif not args.quiet:
        arrow = printable(f"{src} -> {dst}", 4096)
        # The summary goes to stdout, as aws s3 cp does, unless stdout carries the object.
        out = sys.stderr if data_on_stdout else sys.stdout
        out.write(
            f"{result.operation}: {arrow}  {format_size(result.bytes)} in {result.seconds:.2f} s "
            f"({result.mb_per_s:.1f} MB/s, {result.gbps:.2f} Gbps)  checksum: {result.checksum_summary}\n"
        )
    return EXIT_OK
