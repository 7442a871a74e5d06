"""A many-object command's client starts with as many requests in flight as its memory limit
allows (each request moves one object; a ramp from a few would spend the run queued)."""
from __future__ import annotations

import asyncio
import dataclasses

import s3fast
from s3fast.cli._tree import tree_config
from s3fast.tuning import memory_cap_concurrency


def _limit(config: s3fast.TransferConfig) -> int:
    client = s3fast.Client(endpoint_url="http://127.0.0.1:9", aws_access_key_id="k", aws_secret_access_key="s",
                           config=config)
    try:
        return int(client.limiter.limit)
    finally:
        asyncio.run(client.aclose())


def test_tree_commands_start_at_the_memory_cap() -> None:
    base = s3fast.TransferConfig()
    cap = memory_cap_concurrency(base.memory_limit, base.part_size)
    assert _limit(base) < cap  # one object: the tuner ramps from a few requests
    assert _limit(tree_config(base)) == cap
    small = dataclasses.replace(base, memory_limit=4 * base.part_size)
    assert _limit(tree_config(small)) == 4  # the memory limit still bounds the start


def test_a_start_chosen_by_the_caller_is_kept() -> None:
    base = s3fast.TransferConfig()
    mine = dataclasses.replace(base, expert=dataclasses.replace(
        base.expert, tuner=dataclasses.replace(base.expert.tuner, initial_concurrency=4)))
    assert tree_config(mine) == mine
