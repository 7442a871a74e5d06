"""The driver of a Dask tree copy: list, cut into batches, submit, gather, retry.

    driver: lister (key ranges    -> Batcher -> client.submit(run_batch)   (at most max_pending
            listed in parallel)                                            batches in flight)
    workers: run_batch -> BatchResult (counts + failures)  -> driver: Summary.add

What the scheduler and the driver hold is bounded by ``max_pending`` batches of at most
``batch_objects`` keys each, whatever the tree's size: the listing runs at most a bounded
queue ahead of the workers (``_listing``), and results carry counts and the failed keys
only, never the keys done.

A batch's task that raises (its worker died, the client could not be made) is submitted
again, as attempt 2, 3...; a retry skips the objects its lost attempt had already written
(see ``_worker``). Dask's own task retries are not used: they would re-run the batch
without knowing that it is a retry.

Cancelling the copy (Ctrl-C in the CLI, ``KeyboardInterrupt`` under ``copy_tree``) stops
it on the cluster, not only here: cancelling a Dask future does not stop a task already
running on a worker thread. So the driver asks every worker to stop this copy's batches
(``_worker.stop_copy``: running transfers cancelled, their multipart uploads aborted and
unnamed files dropped), takes in the counts the stopped batches return, cancels the futures
left, and re-raises the cancellation. A ``summary`` passed in holds what completed.

Each of those waits, and the close of the workers' clients that ends every copy, has its
own timeout (the constants below): a worker whose cleanup waits on a server that does not
answer, a worker or a distributed client whose event loop is blocked, cannot keep the copy
(or the signalled CLI) from ending. What a timeout leaves unconfirmed is one warning in the
summary.
"""
from __future__ import annotations

import asyncio
import functools
import itertools
import time
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .._config import TransferConfig
from .._errors import ConfigError, printable
from ..tree._match import Filters
from ..tree._ops import DEFAULT_WINDOW, _filters, dest_place, entries, source_place
from ..tree._places import inner_prefix
from ..tree._workers import share
from ._listing import LIST_WIDTH, list_s3_parallel
from ._plan import DEFAULT_BATCH_BYTES, DEFAULT_BATCH_OBJECTS, BatchResult, Batcher, Item, NameOf, Summary
from ._worker import CopySpec, close_clients, run_batch, stop_copy

if TYPE_CHECKING:
    from .._client import Client

#: attempts of one batch after its first (a worker lost mid-batch, a task error)
DEFAULT_RETRIES = 2
# Every wait of a copy that is ending is bounded: an interrupted copy must end (the CLI exits
# 128+N with its summary) even when a worker, its s3fast loop or the scheduler does not
# answer. Past a bound the copy goes on ending and says what it did not get, in one warning
# of the summary. Worst case from the interruption to the CLI's exit: the sum of these.
#: how long the workers may take to stop an interrupted copy's running batches: their
#: transfers' cleanup (a multipart upload aborted, an unnamed file dropped), on their loops
STOP_TIMEOUT = 15.0
#: after the workers stopped an interrupted copy, how long its batches' results may take to
#: come back (they are ready then; this only bounds a scheduler or worker that stopped answering)
STOP_GATHER_TIMEOUT = 20.0
#: how long the workers may take to close their s3fast clients when a copy ends
CLOSE_CLIENTS_TIMEOUT = 10.0
#: what a wait on the workers allows beyond its own timeout for the scheduler's round trip
#: (so a worker that timed out says so itself before the driver stops listening)
ROUND_TRIP_TIMEOUT = 5.0
#: handing the cancellation of the futures left to the distributed client's loop
CANCEL_TIMEOUT = 5.0
#: the CLI's distributed.Client closing its connection to the scheduler
DISCONNECT_TIMEOUT = 10.0


def _workers_and_threads(dask_client: Any) -> tuple[int, int]:
    info = dask_client.scheduler_info()
    workers = info.get("workers", {})
    if not workers:
        raise ConfigError("the Dask cluster has no workers")
    return len(workers), sum(int(w.get("nthreads", 1)) for w in workers.values())


async def copy_tree_async(
    src: str, dst: str, *, dask_client: Any, client_kwargs: dict[str, Any] | None = None,
    config: TransferConfig | None = None, filters: Iterable[tuple[str, str]] | Filters | None = None,
    no_clobber: bool = False, dryrun: bool = False, raw: bool = False, follow_symlinks: bool = True,
    batch_bytes: int = DEFAULT_BATCH_BYTES, batch_objects: int = DEFAULT_BATCH_OBJECTS,
    max_pending: int | None = None, retries: int = DEFAULT_RETRIES, window: int = DEFAULT_WINDOW,
    on_batch: Callable[[BatchResult], None] | None = None,
    batch_runner: Callable[..., BatchResult] = run_batch, lister: Client | None = None,
    summary: Summary | None = None, list_width: int = LIST_WIDTH,
) -> Summary:
    """Copy the tree ``src`` to ``dst`` (a prefix, directory or wildcard, as
    :func:`s3fast.tree.copy_tree`) on the workers of ``dask_client`` (a synchronous
    :class:`distributed.Client`).

    ``client_kwargs``: the :class:`s3fast.Client` keywords each worker process builds its
    client from (endpoint, region, credentials...; not ``config``). ``config``: the
    cluster-wide :class:`~s3fast.TransferConfig`; each worker process gets 1/N of its target,
    cap (``max_gbps``) and memory limit, N the number of workers. Local paths must name the
    same files on every worker (a shared filesystem). ``lister``: an open client to list
    the source with (default: one made from ``client_kwargs`` for the listing).
    ``batch_runner``: the task function (default :func:`s3fast.dask._worker.run_batch`).
    ``list_width``: key ranges of an S3 source listed at once (see ``_listing``).
    ``summary``: the :class:`Summary` to fill in (default a new one); pass one to read what
    completed when the copy is cancelled (it then says ``interrupted``).
    """
    if retries < 0:
        raise ConfigError(f"retries must be >= 0, got {retries}")
    kwargs = dict(client_kwargs or {})
    if "config" in kwargs:
        raise ConfigError("pass config= separately: each worker gets its share of it")
    config = config or TransferConfig()
    nworkers, nthreads = _workers_and_threads(dask_client)
    s, d = source_place(src, raw=raw), dest_place(dst)
    if not s.is_s3 and not d.is_s3:
        raise ConfigError("one of source and destination must be an S3 URL")
    started = time.time()
    run_id = uuid.uuid4().hex[:8]
    spec = CopySpec(kwargs, share(config, nworkers), s, d, no_clobber, dryrun, window, started, run_id)
    pending_limit = max_pending or 2 * nthreads
    name = NameOf(s.bucket)
    summary = summary if summary is not None else Summary()
    batcher = Batcher(batch_bytes, batch_objects)
    #: future -> (index, attempt, items)
    pending: dict[Any, tuple[int, int, list[Item]]] = {}
    counter = itertools.count()

    loop = asyncio.get_running_loop()
    finished: asyncio.Queue[Any] = asyncio.Queue()

    def submit(index: int, attempt: int, items: list[Item]) -> None:
        fut = dask_client.submit(batch_runner, spec, index, items, attempt, pure=False,
                                 key=f"s3fast-copy-{run_id}-{index}-{attempt}")
        pending[fut] = (index, attempt, items)
        # Dask calls this on its own thread when the task ends.
        fut.add_done_callback(lambda f: loop.call_soon_threadsafe(finished.put_nowait, f))

    stopping = False
    #: futures of stopped batches whose result did not come back in time (cancelled at the end)
    unanswered: list[Any] = []

    async def take(fut: Any, timeout: float | None = None) -> None:
        index, attempt, items = pending[fut]
        error: Exception | None = None
        try:
            r: BatchResult = await asyncio.to_thread(fut.result, timeout)
        except Exception as exc:  # noqa: BLE001 - a lost worker, a task error: retry the batch
            error = exc
        # Dropped only once its outcome is in hand: a batch whose wait the cancellation cut
        # is still pending, and is taken in again when the copy stops.
        del pending[fut]
        if error is not None:
            if stopping:
                summary.stop_batch()  # interrupted: nothing is retried
                if not fut.done():
                    unanswered.append(fut)
            elif attempt <= retries:
                summary.retried += 1
                submit(index, attempt + 1, items)
            else:
                why = printable(f"batch failed after {attempt} attempts: {type(error).__name__}: {error}", 1024)
                summary.fail_batch(items, why, name)
            return
        summary.add(r)
        if on_batch is not None:
            on_batch(r)

    async def settle(wait_all: bool) -> None:
        """Take in finished batches: at least one (all, with ``wait_all``)."""
        while pending:
            await take(await finished.get())
            while not finished.empty():
                await take(finished.get_nowait())
            if not wait_all:
                return

    own = lister is None
    listing_client = lister
    if listing_client is None:
        from .._client import Client

        listing_client = Client(**kwargs, config=config)
    try:
        if own:
            await listing_client.__aenter__()
        # an S3 source is listed by key ranges in parallel (see _listing)
        listing = (list_s3_parallel(listing_client, s.bucket, s.base, width=list_width)
                   if s.is_s3 and s.bucket is not None else None)
        async for e in entries(listing_client, s, _filters(filters), follow_symlinks=follow_symlinks,
                               leave_out=inner_prefix(s, d), listing=listing):
            full = batcher.add(e)
            if full is not None:
                submit(next(counter), 1, full)
                while len(pending) >= pending_limit:
                    await settle(False)
        last = batcher.flush()
        if last is not None:
            submit(next(counter), 1, last)
        await settle(True)
    except asyncio.CancelledError:
        summary.interrupted = stopping = True
        await _on_workers(dask_client, summary, "stopping the copy", STOP_TIMEOUT, stop_copy, run_id)
        # Every batch of this copy has ended on the workers, or will do nothing when it
        # starts (unless a worker did not answer in time): take in the counts of those
        # that ran. Once the time is up, only results already back are taken.
        deadline = loop.time() + STOP_GATHER_TIMEOUT
        for fut in list(pending):
            left = deadline - loop.time()
            if left > 0 or fut.done():
                await take(fut, max(0.01, left))
        for _ in pending:
            summary.stop_batch()
        late = len(unanswered) + len(pending)
        if late:
            summary.warnings.append(f"{late} stopped batches did not report back within {STOP_GATHER_TIMEOUT:g} s: "
                                    "what they completed is not counted")
        raise
    finally:
        summary.seconds = time.time() - started
        if pending or unanswered:
            await _cancel(dask_client, summary, [*pending, *unanswered])
        if own:
            await listing_client.aclose()
        # The workers' clients hold connections to the endpoint: close them with the copy.
        await _on_workers(dask_client, summary, "closing the workers' clients", CLOSE_CLIENTS_TIMEOUT,
                          close_clients)
    return summary


async def _on_workers(dask_client: Any, summary: Summary, what: str, timeout: float,
                      function: Callable[..., Any], *args: Any) -> None:
    """Run ``function(*args, timeout)`` on every worker (``distributed.Client.run``) and wait
    for the answers, at most ``timeout`` plus the round trip: a worker that timed out, or
    does not answer, is a warning in ``summary``, never a hang."""
    limit = timeout + ROUND_TRIP_TIMEOUT
    try:
        # callback_timeout: distributed's own bound, which also ends the thread's wait
        answers = await asyncio.to_thread(functools.partial(dask_client.run, function, *args, timeout,
                                                            on_error="return", callback_timeout=limit))
    except TimeoutError:
        summary.warnings.append(f"{what}: the Dask cluster did not answer within {limit:g} s")
        return
    except Exception:  # noqa: BLE001 - a cluster that went away has nothing left to stop or close
        return
    failed = [(worker, answer) for worker, answer in answers.items() if isinstance(answer, BaseException)]
    if failed:  # one line, whatever the number of workers
        worker, answer = failed[0]
        more = f" (and {len(failed) - 1} more workers)" if len(failed) > 1 else ""
        summary.warnings.append(printable(f"{what} on {worker}{more}: {type(answer).__name__}: {answer}", 1024))


async def _cancel(dask_client: Any, summary: Summary, futures: list[Any]) -> None:
    """Cancel ``futures`` (batches that will do nothing when they start, or that did not
    answer), waiting at most CANCEL_TIMEOUT for the distributed client's loop to take it:
    ``Client.cancel`` called here would block this loop on that one."""
    coro = None
    try:
        coro = dask_client.cancel(futures, asynchronous=True)  # a coroutine, for the client's loop
        done = asyncio.run_coroutine_threadsafe(coro, dask_client.loop.asyncio_loop)
    except Exception:  # noqa: BLE001 - its loop is closed: the client, and its futures, are gone
        if asyncio.iscoroutine(coro):
            coro.close()
        return
    try:
        await asyncio.wait_for(asyncio.wrap_future(done), CANCEL_TIMEOUT)
    except TimeoutError:
        summary.warnings.append(f"cancelling {len(futures)} batches: the Dask client did not answer "
                                f"within {CANCEL_TIMEOUT:g} s")
    except Exception:  # noqa: BLE001 - a client that went away has no futures left to cancel
        pass


def copy_tree(src: str, dst: str, *, dask_client: Any, **kwargs: Any) -> Summary:
    """:func:`copy_tree_async` for synchronous callers (a script, a notebook cell without
    a running loop): runs the listing on its own event loop."""
    from .. import run

    return run(copy_tree_async(src, dst, dask_client=dask_client, **kwargs), tune=False)


def summary_json(summary: Summary, src: str, dst: str, *, operation: str = "cp") -> dict[str, Any]:
    """The CLI's ``--json`` shape (that of the tree commands), with the Dask fields added."""
    d = summary.as_dict()
    out: dict[str, Any] = {"operation": operation, "source": src, "destination": dst, "objects": d["objects"],
                           "bytes": d["bytes"], "skipped": d["skipped"], "deleted": 0, "dryrun": d["dryrun"],
                           "failed": d["failed"], "warnings": d["warnings"], "seconds": round(summary.seconds, 6),
                           "mb_per_s": round(summary.bytes / 1e6 / summary.seconds, 3) if summary.seconds else 0.0}
    if summary.interrupted:
        out["interrupted"] = True
    out["dask"] = {k: d[k] for k in ("batches", "retried", "already_done", "workers", "stopped")}
    return out


__all__ = ["DEFAULT_RETRIES", "copy_tree", "copy_tree_async", "summary_json"]
