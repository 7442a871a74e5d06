"""Flat memory for many keys, at small scale: against a synthetic ListObjectsV2 server on
loopback (``benchmarks/listserver``), the lister is paused while the consumers are slow (no
further page is asked for), and what the engine holds stays within its window.
``benchmarks/manykeys.py`` measures the same at 1,000,000 keys (peak RSS)."""
from __future__ import annotations

import asyncio
from typing import Any

import s3fast
from benchmarks.listserver import PAGE, Counters, serve
from e2e_helpers import run
from s3fast.tree import Entry, Filters
from s3fast.tree._engine import run as run_engine
from s3fast.tree._ops import entries, source_place

KEYS = 20 * PAGE
WINDOW = 50


async def _with_server(body: Any) -> Any:
    counters = Counters()
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(serve("127.0.0.1", 0, "run/", KEYS, 16, ready=ready, counters=counters))
    try:
        port = await ready
        async with s3fast.Client(endpoint_url=f"http://127.0.0.1:{port}", region="us-east-1") as client:
            return await body(client, counters)
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)


def test_the_lister_waits_for_slow_consumers_and_the_engine_holds_its_window(
        monkeypatch: Any) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")

    async def body(client: s3fast.Client, counters: Counters) -> None:
        gate = asyncio.Event()
        window_full = asyncio.Event()
        next_pulled = asyncio.Event()
        started = listed = consumed = peak_held = 0

        def on_listed(e: Entry | None) -> None:
            nonlocal listed, peak_held
            if e is None:
                return
            listed += 1
            peak_held = max(peak_held, listed - consumed)
            if listed == WINDOW + 1:
                next_pulled.set()

        async def work(e: Entry) -> str:
            nonlocal started
            started += 1
            if started == WINDOW:
                window_full.set()
            await gate.wait()  # a consumer far slower than the listing
            return e.relative

        items = entries(client, source_place("s3://bench/run/"), Filters(), on_listed=on_listed)
        results = run_engine(items, work, window=WINDOW)
        first = asyncio.ensure_future(anext(results))
        async with asyncio.timeout(30):
            await window_full.wait()
            await next_pulled.wait()
            # The producer now holds one item and waits for a slot: no task beyond the window,
            # and the listing stopped on its first page though 19 more remain.
            assert started == WINDOW
            assert counters.requests.get("list") == 1
            # A full request round trip later (the loop ran I/O meanwhile), still paused.
            await client.head("s3://bench/run/00000/000000000", checksum_mode=False)
            assert counters.requests.get("list") == 1 and started == WINDOW and listed == WINDOW + 1
            gate.set()
            names = [await first]
            consumed += 1
            async for name in results:
                consumed += 1
                names.append(name)
        assert len(names) == KEYS and len(set(names)) == KEYS
        assert counters.requests["list"] == KEYS // PAGE
        assert peak_held <= WINDOW + 1

    run(_with_server(body))
