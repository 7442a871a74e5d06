"""Items cross to tree workers in batches (``tree._workers.batched``): full batches when the
lister has items ready, a partial one as soon as it has none, a large object alone, and the
lister's error after what it listed.

A batch that waited to fill would hold back the first objects of a slow listing; one
unbounded by bytes would leave a worker with all of a tree's large objects at the end.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from collections.abc import AsyncIterator

import pytest

from s3fast.tree import Entry
from s3fast.tree._workers import BATCH_BYTES, BATCH_ITEMS, batched, item_bytes


async def _numbers(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


def _collect(source: AsyncIterator[int], **kw: object) -> list[list[int]]:
    async def go() -> list[list[int]]:
        return [b async for b in batched(source, **kw)]  # type: ignore[arg-type]

    return asyncio.run(asyncio.wait_for(go(), 30))


def test_ready_items_go_in_full_batches_and_none_is_lost() -> None:
    batches = _collect(_numbers(10), max_items=4, size_of=lambda _: 0)
    assert [x for b in batches for x in b] == list(range(10))
    assert all(len(b) <= 4 for b in batches)
    # A source that never waits fills batches: no per-item messages.
    assert len(batches) <= 4


def test_a_partial_batch_goes_as_soon_as_the_source_has_nothing_ready() -> None:
    async def go() -> list[list[int]]:
        got: list[list[int]] = []
        gate = asyncio.Event()

        async def slow() -> AsyncIterator[int]:
            for i in range(3):
                yield i
            await gate.wait()  # the rest only after the first three have gone as a batch
            for i in range(3, 5):
                yield i

        async for b in batched(slow(), max_items=64, size_of=lambda _: 0):
            got.append(b)
            gate.set()
        return got

    # A batcher that waited for 64 items would never yield: the bound turns that into a failure.
    got = asyncio.run(asyncio.wait_for(go(), 30))
    assert got[0] == [0, 1, 2]
    assert [x for b in got for x in b] == [0, 1, 2, 3, 4]


def test_bytes_bound_a_batch_and_a_large_item_goes_alone() -> None:
    sizes = {0: 10, 1: 10, 2: 100, 3: 10, 4: 10, 5: 10}
    batches = _collect(_numbers(6), max_items=64, max_bytes=25, size_of=sizes.__getitem__)
    assert batches == [[0, 1], [2], [3, 4], [5]]


def test_the_listers_error_comes_after_what_it_listed() -> None:
    async def failing() -> AsyncIterator[int]:
        yield 1
        yield 2
        raise OSError("listing broke")

    async def go() -> list[int]:
        seen: list[int] = []
        with pytest.raises(OSError, match="listing broke"):
            async for b in batched(failing(), size_of=lambda _: 0):
                seen.extend(b)
        return seen

    assert asyncio.run(asyncio.wait_for(go(), 30)) == [1, 2]


def test_item_bytes_counts_entries_sync_pairs_and_deletes() -> None:
    from s3fast.tree._object import Extra

    e = Entry("a", 123, 0.0)
    assert item_bytes(e) == 123
    assert item_bytes((e, None)) == 123
    assert item_bytes(Extra((e,))) == 0
    assert BATCH_ITEMS >= 16 and BATCH_BYTES >= 1 << 20


class _Clock:
    """The two things ResultBatcher asks of its loop, with time moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0
        self.timers: list[tuple[float, object]] = []

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: object) -> object:
        clock = self

        class Handle:
            def cancel(self) -> None:
                clock.timers = [t for t in clock.timers if t[1] is not callback]

        self.timers.append((self.now + delay, callback))
        return Handle()

    def run_due(self) -> None:
        due = [t for t in self.timers if t[0] <= self.now]
        self.timers = [t for t in self.timers if t[0] > self.now]
        for _, cb in due:
            cb()  # type: ignore[operator]


def test_results_go_at_once_after_a_quiet_spell_and_gathered_when_busy() -> None:
    from s3fast.tree._workers import ResultBatcher

    sent: list[list[int]] = []
    clock = _Clock()
    rb = ResultBatcher(sent.append, clock, delay=0.01)  # type: ignore[arg-type]
    rb.add([1])
    assert sent == [[1]]  # the first result of a run is not held back: the journal has it
    clock.now += 0.002
    rb.add([2])
    rb.add([3])
    assert sent == [[1]] and len(clock.timers) == 1  # gathered, one timer for them
    clock.now += 0.007
    clock.run_due()
    assert sent == [[1]]  # not before the delay is up
    clock.now += 0.002
    clock.run_due()
    assert sent == [[1], [2, 3]]
    clock.now += 0.001
    rb.add(list(range(BATCH_ITEMS)))  # a full batch goes without waiting
    assert sent[-1] == list(range(BATCH_ITEMS)) and not clock.timers
    rb.add([7])
    rb.flush()  # a stopping worker sends what it has
    assert sent[-1] == [7] and not clock.timers
    rb.flush()
    assert len(sent) == 4 and rb.messages == 4


def test_no_worker_process_starts_for_a_stream_with_no_item(tmp_path: Path) -> None:
    """A sync whose objects the parent found unchanged hands the workers nothing: no process
    starts. A job no worker could run (a Client keyword that does not exist) shows it: a
    started worker would report its error."""
    from s3fast import TransferConfig
    from s3fast.tree._places import dest_place, source_place
    from s3fast.tree._workers import Job, sharded

    job = Job({"no_such_keyword": 1}, TransferConfig(), source_place(str(tmp_path)), dest_place("s3://b/p/"))

    async def nothing() -> AsyncIterator[Entry]:
        return
        yield

    async def go() -> list[object]:
        return [r async for r in sharded(nothing(), job, 2)]

    assert asyncio.run(go()) == []
    with pytest.raises(RuntimeError, match="worker failed: TypeError"):
        asyncio.run(_one_item(job))


async def _one_item(job: object) -> list[object]:
    from s3fast.tree._workers import sharded

    async def one() -> AsyncIterator[Entry]:
        yield Entry("k", 1, None, "/nonexistent/k")

    return [r async for r in sharded(one(), job, 2)]  # type: ignore[arg-type]
