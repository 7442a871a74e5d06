"""``s3fast cp -r SRC DST --dask-scheduler ADDRESS``: a tree copy run on a Dask cluster.

This process lists SRC and hands batches to the cluster's workers (:mod:`s3fast.dask`);
each worker process copies with its own client and a 1/N share of ``--target-gbps``,
``--max-gbps`` and ``--memory-limit``. The summary and exit statuses are those of every
tree command (0 all done, 1 some object failed, each named, 2 usage); ``--json`` adds a
``dask`` field (batches, retried batches, objects a retry found done, workers used).

Ctrl-C, SIGTERM or SIGHUP stop the copy on the cluster too (running batches cancelled on
their workers: multipart uploads aborted, no partial file named), print the summary of what
completed (``--json``: with ``"interrupted": true``), then exit 130/143/129.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from .._errors import ConfigError, printable
from .._units import format_size
from .._url import is_s3_url
from ..tree._match import has_wildcard
from ._options import make_client, transfer_config
from ._runner import EXIT_FAILED, EXIT_OK, EXIT_USAGE, error, run_async, warn

#: how long to wait for the scheduler to answer before giving up (seconds)
CONNECT_TIMEOUT = 30


def _usage(args: argparse.Namespace) -> str | None:
    from . import _tree

    if args.dask_scheduler is None:
        return "--dask-batch-size goes with --dask-scheduler"
    recursive = args.recursive or (not args.raw and has_wildcard(args.src))
    if not recursive:
        return "--dask-scheduler copies a tree: give --recursive (or a wildcard in SRC)"
    if args.workers not in (None, 1):  # None: not given (its default is the CPU count)
        return "--dask-scheduler and --workers do not mix: the Dask workers are the workers"
    if not is_s3_url(args.src) and not is_s3_url(args.dst):
        return f"one of SRC and DST must be an S3 URL (s3://bucket/key), got {args.src!r} and {args.dst!r}"
    return _tree._check_usage(args)


def main(args: argparse.Namespace) -> int:
    try:
        usage = _usage(args)
        config = transfer_config(args)
    except ConfigError as exc:
        return error(str(exc), EXIT_USAGE)
    if usage:
        return error(usage, EXIT_USAGE)
    try:
        import distributed
    except ImportError:
        return error("--dask-scheduler needs the dask extra: pip install 's3fast[dask]'", EXIT_USAGE)
    try:
        dask_client = distributed.Client(  # type: ignore[no-untyped-call]  # distributed is untyped here
            args.dask_scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (ValueError, TypeError) as exc:
        return error(f"--dask-scheduler {args.dask_scheduler!r}: {exc}", EXIT_USAGE)
    except (OSError, TimeoutError) as exc:
        return error(f"cannot reach the Dask scheduler at {args.dask_scheduler}: {exc}", EXIT_FAILED)
    try:
        return run_async(lambda: _run(args, config, dask_client))
    finally:
        _disconnect(dask_client)


def _disconnect(dask_client: Any) -> None:
    """Close the connection to the scheduler, for at most DISCONNECT_TIMEOUT: after a signal
    the process ends next, and a second signal cannot cut this short (the loop whose handlers
    take it is no longer running)."""
    from ..dask._driver import DISCONNECT_TIMEOUT

    try:
        dask_client.close(timeout=DISCONNECT_TIMEOUT)
    except TimeoutError:
        warn(f"the Dask client did not close its connection to the scheduler within {DISCONNECT_TIMEOUT:g} s")
    except Exception:  # noqa: BLE001 - a scheduler that went away: nothing left to close
        pass


async def _run(args: argparse.Namespace, config: Any, dask_client: Any) -> int:
    from ..dask import Summary, copy_tree_async
    from . import _tree

    def on_batch(r: Any) -> None:
        if args.progress == "log" and not args.quiet:
            sys.stderr.write(f"cp: batch {r.index} on {printable(r.worker, 256)}: {r.objects} objects, "
                             f"{format_size(r.bytes)}, {len(r.failed)} failed{' (stopped)' if r.stopped else ''}\n")

    extra: dict[str, Any] = {}
    if args.dask_batch_size is not None:
        extra["batch_bytes"] = args.dask_batch_size
    summary = Summary()
    try:
        async with make_client(args, config) as lister:
            await copy_tree_async(
                args.src, args.dst, dask_client=dask_client, client_kwargs=_tree.client_kwargs(args), config=config,
                filters=getattr(args, "filters", None) or [], no_clobber=args.no_clobber, dryrun=args.dryrun,
                raw=args.raw, follow_symlinks=args.follow_symlinks, on_batch=on_batch, lister=lister,
                summary=summary, **extra)
    except asyncio.CancelledError:
        if summary.interrupted:
            _report(args, summary)  # what completed before the workers stopped
        raise
    _report(args, summary)
    return EXIT_FAILED if summary.failed else EXIT_OK


def _report(args: argparse.Namespace, summary: Any) -> None:
    from ..dask import summary_json

    for key, err in summary.failed:
        sys.stderr.write(printable(f"s3fast: failed: {key}: {err}", 4096) + "\n")
    for w in summary.warnings:
        sys.stderr.write(printable(f"s3fast: warning: {w}", 4096) + "\n")
    out = summary_json(summary, args.src, args.dst)
    if args.json:
        sys.stdout.write(json.dumps(out) + "\n")
    elif not args.quiet:
        parts = [f"{out['objects']} objects", format_size(out["bytes"])]
        for k in ("skipped", "dryrun"):
            if out[k]:
                parts.append(f"{out[k]} {k}")
        if summary.failed:
            parts.append(f"{len(summary.failed)} FAILED")
        batches = f"{summary.batches} batches"
        if summary.interrupted:
            batches += f", {summary.stopped} stopped"
        head = "cp: interrupted after " if summary.interrupted else "cp: "
        sys.stdout.write(f"{head}{', '.join(parts)} in {out['seconds']:.2f} s ({out['mb_per_s']:.1f} MB/s) "
                         f"on {len(summary.workers)} Dask workers, {batches}\n")
    sys.stdout.flush()


__all__ = ["main"]
