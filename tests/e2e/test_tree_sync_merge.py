"""sync as a streaming merge of two sorted listings: the local walk yields S3's key order,
the merge holds one entry of each side (counted, not timed), an out-of-order listing stops
the sync before it acts on it, and tricky names (``/``, ``-``, ``.``, non-ASCII) sync right
against moto in both directions, with ``--delete``."""
from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from e2e_helpers import client_for, run
from s3fast.tree import Entry
from s3fast.tree._list import walk_local
from s3fast.tree._merge import OutOfOrder, index_join, lists_sorted, merge_sorted
from s3fast.tree._ops import dest_place, join_for, source_place

#: names whose order differs between "sort by path" and "sort by key": '-' (0x2d) and '.'
#: (0x2e) sort before '/' (0x2f), '0' after it; non-ASCII after all of ASCII
TRICKY = ["a-b", "a.b", "a/w", "a/x-y", "a/x.y", "a/x/z", "a/x0", "a0", "ab", "b c", "e", "é/f", "z",
          "日本/語", "ü-ü"]


def _mk(root: Path, names: list[str]) -> None:
    for n in names:
        p = root / n
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(n.encode())


async def _entries(names: list[str], pulled: list[int] | None = None) -> AsyncIterator[Entry]:
    for n in names:
        if pulled is not None:
            pulled[0] += 1
        yield Entry(n, len(n))


async def _collect(it: AsyncIterator[Any]) -> list[Any]:
    return [x async for x in it]


def test_local_walk_lists_in_s3_key_order(tmp_path: Path) -> None:
    _mk(tmp_path, TRICKY)
    got = [e.relative for e in asyncio.run(_collect(walk_local(str(tmp_path))))]
    assert got == sorted(TRICKY) == sorted(TRICKY, key=lambda k: k.encode())


def test_merge_pairs_by_key() -> None:
    src = ["a", "b", "d", "f"]
    dst = ["b", "c", "d", "e"]
    pairs = asyncio.run(_collect(merge_sorted(_entries(src), _entries(dst))))
    assert [(s.relative if s else None, d.relative if d else None) for s, d in pairs] == [
        ("a", None), ("b", "b"), (None, "c"), ("d", "d"), (None, "e"), ("f", None)]


def test_merge_holds_one_destination_entry_whatever_the_size() -> None:
    # 10,000 keys each side, interleaved: after each pair handed out, the destination side
    # has been read at most one entry further than the pairs that used it.
    src = [f"k{i:05d}" for i in range(0, 20000, 2)]
    dst = [f"k{i:05d}" for i in range(0, 20000, 3)]
    pulled = [0]
    worst = 0

    async def go() -> None:
        nonlocal worst
        used = 0
        async for _s, d in merge_sorted(_entries(src), _entries(dst, pulled)):
            used += d is not None
            worst = max(worst, pulled[0] - used)
    asyncio.run(go())
    assert worst <= 1


@pytest.mark.parametrize("side", ["source", "destination"])
def test_an_out_of_order_listing_stops_before_it_is_acted_on(side: str) -> None:
    good, bad = ["a", "c", "e"], ["a", "d", "b", "e"]
    src, dst = (bad, good) if side == "source" else (good, bad)
    seen: list[tuple[str | None, str | None]] = []

    async def go() -> None:
        async for s, d in merge_sorted(_entries(src), _entries(dst)):
            seen.append((s.relative if s else None, d.relative if d else None))
    with pytest.raises(OutOfOrder, match=side):
        asyncio.run(go())
    # "b" arrived after "d": nothing was decided about it, and no key the other side has
    # was paired as missing there ("c" vs "d" were both passed correctly).
    assert all("b" not in (s, d) for s, d in seen)


def test_directory_buckets_use_the_table_join() -> None:
    assert lists_sorted(None) and lists_sorted("bucket")
    assert not lists_sorted("data--usw2-az1--x-s3")
    # sync merges unless a side is a directory bucket
    assert join_for(source_place("./run", raw=True), dest_place("s3://b/run/")) is merge_sorted
    assert join_for(source_place("s3://b/run/", raw=True), dest_place("./run")) is merge_sorted
    assert join_for(source_place("./run", raw=True), dest_place("s3://d--usw2-az1--x-s3/run/")) is index_join
    assert join_for(source_place("s3://d--usw2-az1--x-s3/r/", raw=True), dest_place("s3://b/r/")) is index_join
    pairs = asyncio.run(_collect(index_join(_entries(["c", "a"]), _entries(["b", "a"]))))
    assert sorted((s.relative if s else "", d.relative if d else "") for s, d in pairs) == [
        ("", "b"), ("a", "a"), ("c", "")]


def _done(results: list[Any]) -> set[tuple[str, str]]:
    return {(r.operation, r.destination) for r in results if r.status == "done"}


def test_tricky_names_sync_up_and_down_with_delete(moto_cluster: Any, bucket: str, tmp_path: Path) -> None:
    src, back = tmp_path / "src", tmp_path / "back"
    _mk(src, TRICKY)
    url = f"s3://{bucket}/order/"

    async def go() -> None:
        async with client_for(moto_cluster) as c:
            first = await _collect(c.sync(str(src), url))
            assert {d for _, d in _done(first)} == {url + n for n in TRICKY}
            # Unchanged: an ordering mismatch would call keys missing and send them again.
            again = await _collect(c.sync(str(src), url, compare="size"))
            assert _done(again) == set() and all(r.status == "skipped" for r in again)
            # Keys only S3 has, between and around the local ones, go with --delete.
            for extra in ("a/x-z", "a/x/w", "a.a", "zz", "é/e"):
                await c.put_bytes(url + extra, b"extra")
            (src / "a" / "x.y").write_bytes(b"changed, longer")
            third = await _collect(c.sync(str(src), url, compare="size", delete=True))
            assert _done(third) == {("upload", url + "a/x.y")} | {
                ("delete", url + e) for e in ("a/x-z", "a/x/w", "a.a", "zz", "é/e")}
            # Down into a directory holding files the bucket lacks.
            _mk(back, ["a/x/old", "a-c", "日本/x"])
            down = await _collect(c.sync(url, str(back), compare="size", delete=True))
            assert _done(down) == {("download", str(back / n)) for n in TRICKY} | {
                ("delete", str(back / n)) for n in ("a/x/old", "a-c", "日本/x")}
            again = await _collect(c.sync(url, str(back), compare="size", delete=True))
            assert _done(again) == set()
    run(go())
    files = {str(p.relative_to(back)) for p in back.rglob("*") if p.is_file()}
    assert files == set(TRICKY)
    assert (back / "a" / "x.y").read_bytes() == b"changed, longer"
    assert not os.path.exists(back / "a-c")
