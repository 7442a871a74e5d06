"""Many-object commands: ``cp -r``/wildcards and S3 -> S3 ``cp``, ``sync``, ``mv``, ``rm``
(each registered by its own module; ``ls`` and ``cat`` are in ``_ls`` and ``_cat``). Their
options come from :mod:`._options`, like every subcommand's; each runs through
:func:`._runner.run_async` (signals, exit statuses, one-line errors).

Exit status: 0 every object done (or skipped on purpose), 1 some object failed (each named
on stderr and in the JSON summary) or the listing failed, 2 a usage error or bad input.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from .._config import TransferConfig
from .._errors import ConfigError, CredentialsError, PreconditionFailed, S3FastError, printable
from .._units import format_size
from .._url import is_s3_url, parse_s3_url
from ..tree._cpus import MAX_DEFAULT_WORKERS, SHARD_ABOVE, available_cpus, default_workers
from ..tree._match import has_wildcard
from ._options import make_client, transfer_config
from ._runner import EXIT_FAILED, EXIT_OK, EXIT_USAGE, error, exit_code_for, run_async

if TYPE_CHECKING:
    from ..tree import TreeResult
    from ._tree_progress import TreeProgress

# The tree engine, the resolver and the progress display are imported by the functions
# that run a command: registering the parsers (``--help``) loads none of them.


class _Filter(argparse.Action):
    """Repeatable --include/--exclude kept in command-line order (the aws CLI's semantics)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        rules = list(getattr(namespace, "filters", None) or [])
        rules.append(((option_string or "--include").lstrip("-"), str(values)))
        namespace.filters = rules


def _workers(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= 256:
        raise argparse.ArgumentTypeError(f"--workers takes a number from 1 to 256, got {text!r}")
    return n


def add_filter_options(p: argparse.ArgumentParser, *, symlinks: bool = True, raw: bool = True) -> None:
    g = p.add_argument_group("selection")
    g.add_argument("--include", action=_Filter, dest="filters", metavar="PATTERN",
                   help="take keys matching PATTERN ('*' and '?'; later filters win; repeatable)")
    g.add_argument("--exclude", action=_Filter, dest="filters", metavar="PATTERN",
                   help="leave out keys matching PATTERN (repeatable)")
    g.add_argument("--dryrun", action="store_true", help="say what would be done, do nothing")
    if raw:
        g.add_argument("--raw", action="store_true", help="'*' and '?' in the source are literal characters")
    if symlinks:
        auto = default_workers(available_cpus())
        g.add_argument("--workers", type=_workers, default=None, metavar="N",
                       help="shard the objects over N processes sharing the rate target, cap and memory "
                            f"limit (default: one per CPU this process may use but one, at most {MAX_DEFAULT_WORKERS}: "
                            f"{auto} here; a tree of up to {SHARD_ABOVE:,} objects stays in one process)")
        links = g.add_mutually_exclusive_group()  # one policy: both named is a usage error
        links.add_argument("--follow-symlinks", dest="follow_symlinks", action="store_true", default=True,
                           help="upload what symlinks point to (default)")
        links.add_argument("--no-follow-symlinks", dest="follow_symlinks", action="store_false",
                           help="skip symlinks in local sources")


def add_cp_tree_options(cp: argparse.ArgumentParser) -> None:
    """The many-object flags of ``cp`` (its handler sends such a copy to :func:`main`)."""
    cp.add_argument("--recursive", "-r", action="store_true", help="copy every object under a prefix or directory")
    cp.add_argument("--no-clobber", "-n", action="store_true", help="never overwrite an existing object or file")
    add_filter_options(cp)


def wants_tree(args: argparse.Namespace) -> bool:
    """Whether ``cp`` is a many-object (or server-side) copy rather than one local<->S3 transfer."""
    raw = getattr(args, "raw", False)
    # --dryrun and --no-clobber are honoured by the tree path only (one object included).
    return bool(args.recursive or args.dryrun or args.no_clobber
                or (not raw and args.src != "-" and has_wildcard(args.src))
                or (is_s3_url(args.src) and is_s3_url(args.dst)))


def client_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The Client keywords of the common options, picklable: worker processes build their
    own client from them (the values were checked when the parent's client was made)."""
    from ..net._resolver import parse_resolve_option

    resolve = parse_resolve_option(args.resolve) if args.resolve else None
    return {"endpoint_url": args.endpoint_url, "region": args.region, "profile": args.profile,
            "anonymous": args.no_sign_request, "addressing_style": args.addressing_style,
            "ca_bundle": args.ca_bundle, "verify": not args.no_verify_ssl, "resolve": resolve,
            "state_dir": getattr(args, "state_dir", None)}


def main(args: argparse.Namespace) -> int:
    """The handler of ``sync``, ``mv``, ``rm`` and of a many-object ``cp``."""
    from ..transfer._xml import BadAnswer

    try:
        usage = _check_usage(args)
        config = tree_config(transfer_config(args)) if hasattr(args, "part_size") else None
    except ConfigError as exc:
        return error(str(exc), EXIT_USAGE)
    if usage:
        return error(usage, EXIT_USAGE)
    try:
        return run_async(lambda: _main(args, config))
    except BadAnswer as exc:  # a listing S3 answered with something that is not one
        return error(str(exc), EXIT_FAILED)


#: what one request of a many-object command counts for against ``--memory-limit`` (a small
#: object's request holds that object at most, never a whole part): the default 256 MiB then
#: allows the tuner's whole ceiling of requests instead of 32, which an upload of small files
#: waits on (a larger object's buffers are still paid for in the memory budget, and wait for it)
TREE_REQUEST_MEMORY = 1 << 20


def tree_config(config: TransferConfig) -> TransferConfig:
    """A many-object command's settings (pure): requests counted at
    :data:`TREE_REQUEST_MEMORY` against the memory limit, and the tuner starting at the most
    requests that allows rather than ramping up from a few. Each request moves one object,
    most runs last seconds, and the ramp (x1.5 every few windows) spent most of such a run
    with requests queued behind its limit (``benchmarks/probes/tree_trace.py`` shows it).
    What the user or caller set is kept."""
    expert = config.expert
    if expert.request_memory is None:
        expert = dataclasses.replace(expert, request_memory=TREE_REQUEST_MEMORY)
    tuner = expert.tuner
    if tuner.initial_concurrency is None:
        expert = dataclasses.replace(expert, tuner=dataclasses.replace(
            tuner, initial_concurrency=tuner.concurrency_ceiling))
    return dataclasses.replace(config, expert=expert)


def _check_usage(args: argparse.Namespace) -> str | None:
    if getattr(args, "content_type", None) is not None:
        return "--content-type is taken by a one-object cp upload only"
    if args.command == "rm":
        for u in args.urls:
            parse_s3_url(u, require_key=False)
            if not args.recursive and not (has_wildcard(u) and not args.raw) and u.endswith("/"):
                return f"{u} is a prefix: use --recursive to delete what it holds"
        return None
    src, dst = args.src, args.dst
    if not is_s3_url(src) and not is_s3_url(dst):
        return f"one of SRC and DST must be an S3 URL (s3://bucket/key), got {src!r} and {dst!r}"
    for text in (src, dst):
        if is_s3_url(text):
            parse_s3_url(text, require_key=False)
    if src == "-" or dst == "-":
        return "'-' (stdin/stdout) takes one object: not with --recursive, wildcards, sync or mv"
    recursive = args.command == "sync" or getattr(args, "recursive", False)
    wild = not getattr(args, "raw", False) and has_wildcard(src)
    if not is_s3_url(src) and recursive and not os.path.isdir(src):
        return f"not a directory: {src}"
    if not is_s3_url(src) and not recursive and not wild and not os.path.isfile(src):
        return f"no such file: {src}"
    if not recursive and not wild and is_s3_url(src) and src.endswith("/"):
        return f"{src} is a prefix: use --recursive"
    if (recursive or wild) and not is_s3_url(dst) and os.path.exists(dst) and not os.path.isdir(dst):
        return f"not a directory: {dst} (many objects go into a directory)"
    return resumable_usage(args) if getattr(args, "resumable", False) else None


def resumable_usage(args: argparse.Namespace) -> str | None:
    """What ``--resumable`` cannot do with this many-object command (None: it can)."""
    if is_s3_url(args.src) and is_s3_url(args.dst):
        return "--resumable: an S3 -> S3 copy is done inside S3, there is nothing to resume; run it without --resumable"
    if args.dryrun:
        return "--resumable and --dryrun: a dry run moves nothing, there is nothing to resume"
    return None


async def _results(client: Any, args: argparse.Namespace, progress: TreeProgress) -> AsyncIterator[TreeResult]:
    filters = getattr(args, "filters", None) or []
    common: dict[str, Any] = {"filters": filters, "dryrun": args.dryrun}
    if args.command == "rm":
        keys = [u for u in args.urls if not args.recursive and not (has_wildcard(u) and not args.raw)]
        if keys:
            async for r in client.delete_many(keys, dryrun=args.dryrun):
                yield r
        for u in args.urls:
            if u not in keys:
                async for r in client.delete_tree(u, raw=args.raw, on_listed=progress.on_listed, **common):
                    yield r
        return
    # Bytes as they cross feed the bar only: without one, no object carries a progress
    # callback (each would cost a transfer its event plumbing).
    hooks = {"on_listed": progress.on_listed, "on_progress": progress.on_bytes if progress.mode != "off" else None,
             "follow_symlinks": args.follow_symlinks, "governor": progress.governor}
    # A resumable tree stays in one process unless --workers N asks for more.
    resumable = bool(getattr(args, "resumable", False))
    workers = args.workers or (1 if resumable else default_workers(available_cpus()))
    if workers > 1:
        # --workers N is obeyed; the default shards only a tree big enough to repay the workers.
        hooks.update(workers=workers, client_kwargs=client_kwargs(args),
                     shard_above=0 if args.workers else SHARD_ABOVE, on_workers=progress.on_workers)
    else:
        progress.on_workers(1)
    if resumable:
        hooks["resumable"] = True
    if args.command == "sync":
        compare = "checksum" if args.compare_checksum else "size" if args.size_only else "size-mtime"
        async for r in client.sync(args.src, args.dst, compare=compare, delete=args.delete, **common, **hooks):
            yield r
        return
    recursive = args.recursive or (not args.raw and has_wildcard(args.src))
    if not recursive:
        async for r in _single(client, args, progress):
            yield r
        return
    kw = {**common, **hooks, "raw": args.raw}
    if args.command == "mv":
        async for r in client.move_tree(args.src, args.dst, **kw):
            yield r
    else:
        async for r in client.copy_tree(args.src, args.dst, no_clobber=args.no_clobber, **kw):
            yield r


async def _single(client: Any, args: argparse.Namespace, progress: TreeProgress) -> AsyncIterator[TreeResult]:
    """One object: an S3 -> S3 copy (``cp``), or any one-object ``mv``."""
    from ..tree import TreeResult

    src, dst = args.src, args.dst
    if is_s3_url(dst) and (dst.endswith("/") or not parse_s3_url(dst, require_key=False).key):
        # a "directory" or a bare bucket: the object keeps the source's name
        dst = dst.rstrip("/") + "/" + os.path.basename(src.rstrip("/"))
    elif not is_s3_url(dst) and (dst.endswith("/") or os.path.isdir(dst)):
        dst = os.path.join(dst, parse_s3_url(src).key.rsplit("/", 1)[-1])
    op = "copy" if is_s3_url(src) and is_s3_url(dst) else "upload" if is_s3_url(dst) else "download"
    progress.listed, progress.listing_done = 1, True
    if args.dryrun:
        yield TreeResult(op, src, dst, 0, "dryrun")
        if args.command == "mv":
            yield TreeResult("delete", "", src, 0, "dryrun")
        return
    resumable = bool(getattr(args, "resumable", False))
    try:
        no_clobber = bool(getattr(args, "no_clobber", False))
        # An upload asks S3 itself (If-None-Match), so a racing writer is never clobbered.
        if no_clobber and op != "upload" and await _exists(client, dst):
            yield TreeResult(op, src, dst, 0, "skipped", "exists")
            return
        if op == "copy":
            r = await client.copy(src, dst)
        elif op == "upload":
            try:
                r = await client.upload(src, dst, on_progress=progress.on_bytes, if_none_match=no_clobber,
                                        resumable=resumable)
            except PreconditionFailed:
                yield TreeResult(op, src, dst, 0, "skipped", "exists")
                return
        else:
            r = await client.download(src, dst, on_progress=progress.on_bytes, resumable=resumable)
    except Exception as exc:  # noqa: BLE001 - reported like a tree's failed object
        yield TreeResult(op, src, dst, 0, "failed", "", str(exc) or type(exc).__name__)
        return
    yield TreeResult(op, src, dst, r.bytes, "done", "", None, r.bytes_sent, r.parts_skipped, r.resumed)
    if args.command == "mv":  # (the source goes only once its copy is complete)
        try:
            if is_s3_url(src):
                await client.delete(src)
            else:
                os.unlink(src)
        except (S3FastError, OSError) as exc:
            yield TreeResult("delete", "", src, 0, "failed", "", str(exc))
            return
        yield TreeResult("delete", "", src, 0, "done")


async def _exists(client: Any, url: str) -> bool:
    if not is_s3_url(url):
        return os.path.lexists(url)
    from .._errors import NoSuchKey

    try:
        await client.head(url, checksum_mode=False)
    except NoSuchKey:
        return False
    return True


async def _main(args: argparse.Namespace, config: Any) -> int:
    from ..transfer._xml import BadAnswer
    from ..tree._merge import OutOfOrder
    from ._tree_progress import TreeProgress

    client = make_client(args, config)
    progress = TreeProgress(args.command, mode="off" if args.quiet else args.progress)
    source = " ".join(args.urls) if args.command == "rm" else args.src
    destination = "" if args.command == "rm" else args.dst
    resumable = bool(getattr(args, "resumable", False))
    #: what ended the run early (a listing refused: no such bucket, access denied...)
    ended: Exception | None = None
    async with client:
        progress.start()
        try:
            async for r in _results(client, args, progress):
                progress.add(r)
                _report(r, args)
        except (S3FastError, OSError, BadAnswer, OutOfOrder) as exc:
            # --json promises one summary whatever happens: the failure goes in it. Bad
            # input (exit 2) and a closed stdout are raised as ever.
            if not args.json or isinstance(exc, (ConfigError, CredentialsError, BrokenPipeError)):
                if resumable:
                    _kept()
                raise
            ended = exc
        except BaseException:
            if resumable:
                _kept()
            raise
        finally:
            progress.listing_done = True
            await progress.stop()
    summary = progress.summary(source, destination)
    if ended is not None:
        code, message = exit_code_for(ended)
        if not isinstance(ended, (S3FastError, OSError)):
            message = str(ended)  # a broken listing, or one out of order: its own words
        error(message, code)
        # Named by the S3 side (a listing failed): the source, unless only the destination is in S3.
        where = destination if is_s3_url(destination) and not is_s3_url(source) else source
        summary["failed"].append({"key": where, "error": message})
    if resumable and summary["failed"]:
        _kept()
    if args.json:
        sys.stdout.write(json.dumps(summary) + "\n")
    elif not args.quiet:
        parts = [f"{summary['objects']} objects", format_size(summary["bytes"])]
        for k in ("skipped", "deleted", "dryrun"):
            if summary[k]:
                parts.append(f"{summary[k]} {k}")
        if summary["failed"]:
            parts.append(f"{len(summary['failed'])} FAILED")
        sys.stdout.write(f"{args.command}: {', '.join(parts)} in {summary['seconds']:.2f} s "
                         f"({summary['mb_per_s']:.1f} MB/s)\n")
    if args.stats and not args.json:
        st = client.stats
        sys.stderr.write(f"  requests={st.requests} retries={st.retries} throttled={st.throttled}\n")
        for row in summary.get("throttled_prefixes", []):
            sys.stderr.write(printable(f"  throttled prefix {row['prefix']}: {row['slowdowns']} SlowDown, "
                                       f"concurrency down to {row['lowest_limit']}", 4096) + "\n")
    return EXIT_FAILED if summary["failed"] else EXIT_OK


def _kept() -> None:
    try:
        sys.stderr.write("s3fast: what was done is journaled; run the same command again to resume\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # stderr closed


def _report(r: TreeResult, args: argparse.Namespace) -> None:
    """Failures and warnings on stderr as they happen; dry-run plans on stdout. Keys come
    from the server (or from file names): each line passes through ``printable``."""
    name = r.source or r.destination
    if r.status == "failed":
        sys.stderr.write(printable(f"s3fast: failed: {r.operation} {name}: {r.error}", 4096) + "\n")
    elif r.status == "skipped" and r.reason.startswith("unsafe key"):
        sys.stderr.write(printable(f"s3fast: warning: skipped {name!r}: {r.reason}", 4096) + "\n")
    elif r.status == "dryrun" and not args.json:
        arrow = f"{r.source} -> {r.destination}" if r.source else r.destination
        sys.stdout.write(printable(f"(dryrun) {r.operation}: {arrow}", 4096) + "\n")
